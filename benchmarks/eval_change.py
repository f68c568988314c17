"""Change detection on the real two-date samples: onemap's methods next to a naive baseline.

For every dataset in ``../shared/data/change`` (OSCD 6 cities, Landsat Taizhou, SZTAKI Szada
1-7, LEVIR-CD 11 labelled crops; see ``tests/change/real_data.py`` for how each is read) and in
the same run, on the same pixels:

* **naive**: change-vector magnitude of the per-band standardised images, Otsu threshold, 3 x 3
  opening -- :func:`naive_change`, NumPy/scikit-image/SciPy only, no onemap code;
* **default**: ``onemap.detect_changes(before, after)`` with no options (``method="auto"``
  picks a score from the scene's bands and resolution, see :mod:`onemap.change.defaults`);
* **every onemap score** the scene's bands allow (``construction``, ``cva``, ``ndvi_diff``,
  ``ndbi_diff``, ``brightness_diff``) with the library's other defaults;
* **all changed**: every labelled pixel flagged, for scale -- a detector below it on F1 sends
  fewer true changes per false alarm than blanket flagging would.

Patches are rasterised back onto the grid (pixel centres) and compared with the truth on the
labelled pixels only (Taizhou labels only its changed and certainly-unchanged pixels). Precision,
recall and F1 of the change class are pooled over the pairs of a dataset (confusion counts
summed) and given per pair.

Usage::

    python benchmarks/eval_change.py            # print the tables
    python benchmarks/eval_change.py --write    # also put them into benchmarks/README.md

``--write`` replaces only the lines between the ``change-accuracy`` markers of the section
"Change detection on real data" in ``benchmarks/README.md``.
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
# onemap scores and the bands each needs (a score is run where the scene has them)
SCORES = (("construction", ()), ("cva", ()), ("ndvi_diff", ("nir",)), ("ndbi_diff", ("nir", "swir1")),
          ("brightness_diff", ()))


def naive_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """The ten-line baseline: ``(band, y, x)`` arrays -> boolean change mask.

    Each band of each date standardised to mean 0, standard deviation 1; the Euclidean length of
    the difference vector; Otsu's threshold; a 3 x 3 binary opening.
    """
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    z = [(x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True)
         for x in (before.astype(np.float64), after.astype(np.float64))]
    magnitude = np.sqrt(((z[1] - z[0]) ** 2).sum(axis=0))
    return ndimage.binary_opening(magnitude > threshold_otsu(magnitude), np.ones((3, 3), bool))


def _bands(pair: R.Pair) -> set[str]:
    return {str(b) for b in pair.before.band.values}


def predictions(pair: R.Pair) -> dict[str, tuple[np.ndarray | None, str]]:
    """Method label -> (predicted mask or None when the bands are missing, note)."""
    out: dict[str, tuple[np.ndarray | None, str]] = {}
    out["naive"] = (naive_change(pair.before.values, pair.after.values), "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = detect_changes(pair.before, pair.after)
    out["default"] = (R.predicted_mask(default, pair.frame), f"{default.attrs['method']}, "
                      f"smooth {default.attrs['smooth']}")
    for method, needs in SCORES:
        if not set(needs) <= _bands(pair):
            out[method] = (None, "bands missing")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            patches = detect_changes(pair.before, pair.after, method=method)
        out[method] = (R.predicted_mask(patches, pair.frame), "")
    out["all changed"] = (np.ones(pair.truth.shape, bool), "")
    return out


def evaluate(root: Path) -> tuple[dict, float]:
    """``{dataset: {"pairs": [(name, {label: counts}, {label: note})], "pooled": {label: counts}}}``."""
    t0 = time.perf_counter()
    result: dict = {}
    for dataset, pairs in R.all_pairs(root).items():
        rows, pooled = [], {}
        for pair in pairs:
            counts, notes = {}, {}
            for label, (mask, note) in predictions(pair).items():
                notes[label] = note
                if mask is None:
                    continue
                counts[label] = R.confusion(mask, pair)
                pooled[label] = pooled.get(label, 0) + counts[label]
            rows.append((pair.name, counts, notes))
        result[dataset] = {"pairs": rows, "pooled": pooled}
    return result, time.perf_counter() - t0


def _f(x: float) -> str:
    return "–" if np.isnan(x) else f"{x:.3f}"


def pooled_table(result: dict) -> str:
    labels = ["naive", "default"] + [m for m, _ in SCORES] + ["all changed"]
    lines = ["Pooled F1 of the change class (precision / recall below each dataset's row in the "
             "per-pair table):", "",
             "| dataset | pairs | changed px | default is | " + " | ".join(labels) + " |",
             "|---|---:|---:|---|" + "---:|" * len(labels)]
    for dataset, r in result.items():
        pooled = r["pooled"]
        total = pooled["naive"]
        changed = (total[0] + total[2]) / total.sum()
        chosen = sorted({notes["default"] for _, _, notes in r["pairs"]})
        cells = []
        for label in labels:
            if label not in pooled:
                cells.append("n/a")
                continue
            f1 = R.prf(pooled[label])[2]
            best = label == "default" and f1 >= R.prf(pooled["naive"])[2]
            cells.append(f"**{_f(f1)}**" if best else _f(f1))
        lines.append(f"| {dataset} | {len(r['pairs'])} | {100 * changed:.1f} % | {'; '.join(chosen)} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def pair_table(result: dict) -> str:
    labels = ["naive", "default"] + [m for m, _ in SCORES]
    lines = ["Per pair, precision / recall / F1 (pooled = confusion counts summed over the pairs):", "",
             "| pair | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]

    def cell(c: np.ndarray | None) -> str:
        if c is None:
            return "n/a"
        return " / ".join(_f(v) for v in R.prf(c))

    for dataset, r in result.items():
        for name, counts, _ in r["pairs"]:
            lines.append(f"| {name} | " + " | ".join(cell(counts.get(label)) for label in labels) + " |")
        lines.append(f"| **{dataset} pooled** | "
                     + " | ".join(cell(r["pooled"].get(label)) for label in labels) + " |")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    path = REPO / "benchmarks" / "README.md"
    content = path.read_text(encoding="utf-8")  # re-read right before writing: others edit it too
    if BEGIN not in content or END not in content:
        raise SystemExit(f"markers {BEGIN} / {END} not found in {path}")
    head, rest = content.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(head + BEGIN + "\n" + text + "\n" + END + tail, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--write", action="store_true", help="update the table in benchmarks/README.md")
    args = ap.parse_args()
    result, seconds = evaluate(args.data)
    import os

    import numba
    import scipy
    import skimage

    import onemap

    text = (pooled_table(result) + "\n\n" + pair_table(result) +
            f"\n\nonemap {onemap.__version__}, numpy {np.__version__}, numba {numba.__version__}, "
            f"scipy {scipy.__version__}, scikit-image {skimage.__version__}, Python "
            f"{platform.python_version()}, {platform.machine()} with {os.cpu_count()} cores (shared); "
            f"{seconds:.0f} s for all pairs and methods. Changed px: share of the labelled pixels "
            "that changed. **Bold**: the default at or above the naive baseline.")
    print(text)
    if args.write:
        write_readme(text)


if __name__ == "__main__":
    main()
