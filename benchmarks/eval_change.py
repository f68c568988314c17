"""Accuracy of onemap's classical change detectors on the real two-date samples.

Runs :func:`onemap.detect_changes` with its defaults (PIF normalisation, 3x3 smoothing, Otsu
threshold with a 2-sigma noise floor, no minimum area) for the ``construction`` and ``cva``
scores, and both again with plain Otsu (``noise_floor=None``), on every pair in ``../shared/data/change`` (see ``tests/change/real_data.py`` for how each
dataset is read), rasterises the returned patches back onto the grid and compares them with the
truth masks pixel by pixel. Precision/recall/F1 are computed from the confusion counts pooled
over all pairs of a dataset; ``mean F1`` is the mean over pairs.

Usage::

    python benchmarks/eval_change.py            # print the table
    python benchmarks/eval_change.py --write    # also put it into benchmarks/README.md

``--write`` replaces only the lines between the ``change-accuracy`` markers in the "Change
detection" section of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from onemap import detect_changes  # noqa: E402
from tests.change import real_data as R  # noqa: E402

BEGIN, END = "<!-- change-accuracy:begin -->", "<!-- change-accuracy:end -->"
# (label, detect_changes keyword arguments): the defaults, and Otsu without the noise floor
METHODS = (
    ("construction", {"method": "construction"}),
    ("cva", {"method": "cva"}),
    ("construction, no floor", {"method": "construction", "noise_floor": None}),
    ("cva, no floor", {"method": "cva", "noise_floor": None}),
)


def evaluate(root: Path, methods=METHODS) -> tuple[list[dict], float]:
    rows = []
    t0 = time.perf_counter()
    for dataset, pairs in R.all_pairs(root).items():
        for label, kwargs in methods:
            total = np.zeros(4, np.int64)
            f1s = []
            for pair in pairs:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    patches = detect_changes(pair.before, pair.after, **kwargs)
                counts = R.confusion(R.predicted_mask(patches, pair.frame), pair)
                total += counts
                f1s.append(R.prf(counts)[2])
            p, r, f = R.prf(total)
            rows.append({"dataset": dataset, "method": label, "pairs": len(pairs), "precision": p,
                         "recall": r, "f1": f, "mean_f1": float(np.nanmean(f1s)),
                         "changed": float(total[0] + total[2]) / float(total.sum())})
    return rows, time.perf_counter() - t0


def table(rows: list[dict]) -> str:
    lines = ["| dataset | method | pairs | changed px | precision | recall | F1 | mean F1 per pair |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['method']} | {r['pairs']} | {100 * r['changed']:.1f} % | "
                     f"{r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['mean_f1']:.3f} |")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    path = REPO / "benchmarks" / "README.md"
    content = path.read_text(encoding="utf-8")  # re-read right before writing: others edit it too
    if BEGIN not in content or END not in content:
        raise SystemExit(f"markers {BEGIN} / {END} not found in {path}; add them to the Change detection section")
    head, rest = content.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(head + BEGIN + "\n" + text + "\n" + END + tail, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--write", action="store_true", help="update the table in benchmarks/README.md")
    args = ap.parse_args()
    rows, seconds = evaluate(args.data)
    import numba
    import onemap

    text = table(rows) + (f"\n\nonemap {onemap.__version__}, numpy {np.__version__}, numba {numba.__version__}, "
                          f"Python {platform.python_version()}; {seconds:.0f} s for all pairs and variants. "
                          "Changed px: share of the labelled pixels that changed.")
    print(text)
    if args.write:
        write_readme(text)


if __name__ == "__main__":
    main()
