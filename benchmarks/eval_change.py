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


def county_table(size: int = 2048, seed: int = 3) -> str:
    """Object-level check on a synthetic county (onemap.synth, made by another module): the share
    of planted objects of each kind that a patch touches (buildings should be found, distractors
    not), with ``min_area=100`` m² as a county survey at 2 m would use."""
    import tempfile

    import geopandas as gpd
    from onemap import open_scene
    from onemap.synth import make_county

    with tempfile.TemporaryDirectory() as tmp:
        county = make_county(tmp, size=size, seed=seed)
        before, after = open_scene(str(county.paths["before"])), open_scene(str(county.paths["after"]))
        truth = county.truth
        roof = truth["roof"].fillna("").astype(str)
        kind = truth["change_kind"].where(roof == "", truth["change_kind"] + " / " + roof)
        cols = {}
        stray = {}
        for label, kwargs in METHODS[:2]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                patches = detect_changes(before, after, min_area=100, **kwargs)
            t = truth.to_crs(patches.crs)
            cols[label] = t.geometry.apply(lambda g: bool(patches.intersects(g).any()) if len(patches) else False)
            j = gpd.sjoin(patches, t[["geometry"]], how="left", predicate="intersects")
            stray[label] = int(j.index_right.isna().groupby(level=0).all().sum())
    lines = [f"Synthetic county `make_county(size={size}, seed={seed})`, GF-2-like 2 m, with clouds and "
             "0.3 px misregistration; share of planted objects touched by a patch (`min_area=100`):", "",
             "| object | n | " + " | ".join(cols) + " |", "|---|---:|" + "---:|" * len(cols)]
    for k in sorted(kind.unique()):
        sel = kind == k
        lines.append(f"| {k} | {int(sel.sum())} | " + " | ".join(f"{cols[c][sel].mean():.2f}" for c in cols) + " |")
    lines.append("| patches touching no planted object | | " + " | ".join(str(stray[c]) for c in cols) + " |")
    return "\n".join(lines)


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
    county = county_table()
    import numba
    import onemap

    text = table(rows) + (f"\n\nonemap {onemap.__version__}, numpy {np.__version__}, numba {numba.__version__}, "
                          f"Python {platform.python_version()}; {seconds:.0f} s for all pairs and variants. "
                          "Changed px: share of the labelled pixels that changed.\n\n" + county)
    print(text)
    if args.write:
        write_readme(text)


if __name__ == "__main__":
    main()
