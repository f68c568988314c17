"""The learned pre-screen of the synthetic county model: its level, and what it keeps on a county.

Trains the county model as ``benchmarks/bench_scale.py`` ``county_model()`` does (default
parameters, seed 0, on the 2 048² county of seed 1; construction = ``change_kind`` building is
real change) and prints the model's ``header["screen"]`` (level chosen on its own out-of-fold
validation). With ``--test-county`` (e.g. bench_scale's 8 000² county, seed 0), on seeded random
windows of it: the share of pixels the screen keeps and the share within the patch ring of a
kept pixel (where the patch channels are needed), the share of the windows' area the full
features would be computed on after it (runs of 64-pixel sub-blocks near kept pixels, with
their halos, as :class:`onemap.change.predict._TileFn` does) and the screen's time per pixel.

Usage::

    python benchmarks/screen_county.py --train-county DIR [--model OUT.json]
        [--test-county DIR] [--window 1024] [--windows 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _scenes(county: Path):
    from onemap.ingest.raster import open_scene

    tifs = sorted((county / "imagery").glob("*.tif"))  # before, after (dates in the names)
    return [open_scene(str(p), masked=False) for p in tifs]


def train(county: Path, out: Path) -> Path:
    import geopandas as gpd

    from onemap.change import train_change_model

    before, after = (s.compute() for s in _scenes(county))
    truth = gpd.read_file(county / "truth" / "truth.gpkg")
    truth["real"] = truth["change_kind"] == "building"
    t0 = time.perf_counter()
    model = train_change_model([(before, after, truth)], seed=0)
    print(f"trained in {time.perf_counter() - t0:.0f} s", flush=True)
    return model.save(out)


def window_share(model_path: Path, county: Path, size: int, count: int, seed: int = 0) -> dict:
    """Pooled over *count* windows of *size*² at seeded random places (each read with the
    features' halo): pixels the screen keeps, the area the features would be computed on
    (runs of sub-blocks near kept pixels, halos included, as a share of the windows' area),
    windows where that exceeds 80 % (the tile then computes dense bands), screen time."""
    from scipy import ndimage

    from onemap.change import _patch_stage as P
    from onemap.change import predict as PR
    from onemap.change._screen import screen_block
    from onemap.change.features import HALO, FeaturePlan, _as_float
    from onemap.change.model import load_model

    model = load_model(model_path)
    before, after = _scenes(county)
    plan = FeaturePlan(before, after)
    h, w = plan.frame.shape
    fn = PR._TileFn(model, plan, None, 1)
    rng = np.random.default_rng(seed)
    kept_n = valid_n = area = total = dense = near_n = 0
    t_ch = t_screen = 0.0
    for _ in range(count):
        r0 = int(rng.integers(HALO, h - size - HALO))
        c0 = int(rng.integers(HALO, w - size - HALO))
        sl = (slice(None), slice(r0 - HALO, r0 + size + HALO), slice(c0 - HALO, c0 + size + HALO))
        b1 = _as_float(np.asarray(plan.before.data[sl]), plan.nodata1)
        b2 = _as_float(np.asarray(plan.after.data[sl]), plan.nodata2)
        t0 = time.perf_counter()
        screen_block(plan, b1, b2)
        t1 = time.perf_counter()
        valid, kept = fn._screen(b1, b2)
        t2 = time.perf_counter()
        t_ch += t1 - t0
        t_screen += t2 - t1
        core = (slice(HALO, -HALO), slice(HALO, -HALO))
        kept_n += int(kept[core][valid[core]].sum())
        valid_n += int(valid[core].sum())
        near = ndimage.maximum_filter(kept.view(np.uint8), size=2 * P.RING + 1)[core] > 0
        a = sum((a1 - a0 + 2 * HALO) * (d1 - d0 + 2 * HALO) for a0, a1, d0, d1 in PR._runs(near))
        area += a
        near_n += int(near.sum())
        total += kept.size
        dense += a > 0.8 * kept.size
    return {
        "windows": count,
        "size": size,
        "pixels_kept": round(kept_n / max(valid_n, 1), 4),
        "ring_share": round(near_n / max(valid_n, 1), 4),  # pixels that need channels
        "feature_area_share": round(area / total, 4),
        "windows_dense": int(dense),
        "screen_channels_us_per_px": round(1e6 * t_ch / total, 3),
        "screen_us_per_px": round(1e6 * t_screen / total, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-county", type=Path, required=True)
    ap.add_argument("--model", type=Path, default=Path("/tmp/screen_county_model.json"))
    ap.add_argument("--test-county", type=Path, default=None)
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--windows", type=int, default=8)
    args = ap.parse_args()
    if not args.model.is_file():
        train(args.train_county, args.model)
    from onemap.change.model import load_model

    sc = dict(load_model(args.model).screen or {})
    sc.pop("params", None)
    print("screen", json.dumps(sc), flush=True)
    if args.test_county:
        res = window_share(args.model, args.test_county, args.window, args.windows)
        print("windows", json.dumps(res))
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
