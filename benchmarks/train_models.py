"""Train one change model per shared dataset on all of its labelled pairs.

Usage::

    python benchmarks/train_models.py DATA_DIR OUT_DIR [--only oscd,levir]

``DATA_DIR`` is laid out like ``../shared/data`` (``change/oscd``, ``change/sztaki``,
``change/levir``, ``change/landsat``; read by ``tests/change/real_data.py``, whose
``discover`` finds every pair there, not only the shared ones). Writes ``OUT_DIR/oscd.json``
(Sentinel-2 B02 B03 B04 B08, every city), ``OUT_DIR/sztaki.json`` (every pair of every site,
e.g. Szada 1-7, RGB 1.5 m), ``OUT_DIR/levir.json`` (every labelled LEVIR-CD crop, RGB 0.5 m)
and ``OUT_DIR/landsat.json`` (every site laid out as Taizhou, 6 bands, evaluated pixels only);
a dataset with no pairs in DATA_DIR is skipped and said so. Each model has fixed defaults
(:func:`onemap.change.train_change_model`, seed 0), and prints each model's own out-of-fold
validation. Use a model with ``onemap.detect_changes(before, after, model="OUT_DIR/oscd.json")``.

The labels' licences (CC BY-NC-SA, "free for scientific use") forbid shipping these models: do
not commit them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from onemap.change.train import LabelledPair, train_change_model
from onemap.errors import OnemapError
from tests.change import real_data as R


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--only", default="oscd,sztaki,levir,landsat")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(
        "| model | pairs | out-of-fold pixel F1 | real leads | sites found | pixel threshold | "
        "patch threshold | train s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    failed: list[str] = []
    for name, loaders in R.discover(args.data).items():
        if name not in args.only.split(","):
            continue
        if not loaders:
            print(f"| {name}: no labelled pairs under {args.data / 'change' / name} | | | | | | |",
                  flush=True)
            continue
        pairs = [load() for load in loaders]
        labelled = [
            LabelledPair(
                p.before, p.after, p.truth, None if p.valid.all() else ~p.valid, name=p.name
            )
            for p in pairs
        ]
        t0 = time.perf_counter()
        try:
            model = train_change_model(labelled, seed=args.seed)
        except OnemapError as e:  # said, and the other datasets still trained
            failed.append(name)
            print(f"| {name}: not trained -- {e} | {len(pairs)} | | | | | | |", flush=True)
            continue
        seconds = time.perf_counter() - t0
        path = model.save(args.out / f"{name}.json")
        v = model.header["validation"]
        obj = v.get("objects") or {}
        print(
            f"| {path} | {len(pairs)} | {v.get('pixel_f1_after_patches') or v['pixel_f1']:.3f} | "
            f"{obj.get('lead_precision', float('nan')):.2f} | "
            f"{obj.get('site_recall', float('nan')):.2f} | "
            f"{model.threshold:.2f} | {model.patch_threshold:.2f} | {seconds:.0f} |",
            flush=True,
        )
    if failed:
        sys.exit(f"not trained: {', '.join(failed)}")


if __name__ == "__main__":
    main()
