"""Cost per pixel of the trained detector's features: v1 dense, v2 dense, v2 at chosen pixels.

On a synthetic county's two dates (``onemap.synth.make_county``, 4 bands, uint16) read into
memory as one block, one thread:

* ``v1 block``: the feature set ``onemap-pixel-v1`` (separable float window sums, PanTex from
  float rectangle sums), imported from ``git show REV:onemap/change/features.py`` and its
  kernels copied to a temporary folder (``--v1-rev``, default ``main``; ``--no-v1`` to skip);
* ``v2 block``: :meth:`FeaturePlan.block` (fixed-point integral images);
* ``v2 at p %``: :meth:`FeaturePlan.at` on p % of the pixels drawn at random (p = 0 gives the
  dense part of ``at``: the window channels and their integral images); ``5% sq``: on 16 x 16
  squares drawn at random making up 5 % (clustered, as changed objects are).

Each timing is the best of ``--repeat`` rounds (every variant once per round). The script
also checks ``at == block`` on the
drawn pixels and reports how far v2's neighbourhood features are from v1's (the quantisation).

Usage::

    python benchmarks/bench_features.py [--size 1024] [--repeat 3] [--county DIR]
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numba  # noqa: E402

from onemap.change.features import FeaturePlan, _as_float  # noqa: E402
from onemap.ingest.raster import open_scene  # noqa: E402


def load_v1(rev: str, folder: Path):
    """The v1 features module from git revision *rev*, its relative imports made absolute and
    its kernels loaded from a copy in *folder* (never committed)."""
    root = HERE.parent
    for name in ("features", "_feature_kernels"):
        src = subprocess.run(
            ["git", "show", f"{rev}:onemap/change/{name}.py"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        src = src.replace("from . import _feature_kernels as FK", "import v1_feature_kernels as FK")
        src = src.replace("from ..", "from onemap.")
        src = re.sub(r"from \. import", "from onemap.change import", src)
        src = src.replace("from .", "from onemap.change.")
        (folder / f"v1_{name.lstrip('_')}.py").write_text(src)
    sys.path.insert(0, str(folder))
    return importlib.import_module("v1_features")


def best(fn, repeat: int) -> float:
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--county", type=Path, help="folder of a county make_county wrote (reused)")
    ap.add_argument("--v1-rev", default="main")
    ap.add_argument("--no-v1", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_features_"))
    if args.county and (args.county / "county.json").exists():
        from onemap.synth import open_county

        county = open_county(args.county)
    else:
        from onemap.synth import make_county

        county = make_county(args.county or tmp / "county", size=args.size, seed=0)
    before = open_scene(county.paths["before"]).load()
    after = open_scene(county.paths["after"]).load()
    v1 = None if args.no_v1 else load_v1(args.v1_rev, tmp)
    plan = FeaturePlan(before, after)
    b1 = _as_float(before.values, plan.nodata1)
    b2 = _as_float(after.values, plan.nodata2)
    h, w = b1.shape[1:]
    n = h * w
    print(f"scene {b1.shape[0]} bands x {h} x {w}, {len(plan.names)} features, one thread")

    rng = np.random.default_rng(0)
    small = (b1[:, :64, :64].copy(), b2[:, :64, :64].copy())  # compile first
    plan.block(*small)
    plan.at(*small, np.arange(5), np.arange(5))
    rows: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for share in (0.0, 0.01, 0.05, 0.2):
        flat = np.sort(rng.choice(n, int(share * n), replace=False))
        rows[share] = np.divmod(flat.astype(np.int64), w)
    # clustered: whole 16 x 16 squares (changed objects) making up 5 % of the block
    sq = np.zeros((h // 16, w // 16), bool)
    sq.flat[rng.choice(sq.size, int(0.05 * sq.size), replace=False)] = True
    clustered = np.nonzero(np.kron(sq, np.ones((16, 16), bool)))

    runs: dict[str, object] = {}
    if v1 is not None:
        p1 = v1.FeaturePlan(before, after)
        p1.block(*small)
        runs["v1 block"] = lambda: p1.block(b1, b2)
    runs["v2 block"] = lambda: plan.block(b1, b2)
    for share, (r, c) in rows.items():
        runs[f"v2 at {share:.0%}"] = lambda r=r, c=c: plan.at(b1, b2, r, c)
    runs["v2 at 5% sq"] = lambda: plan.at(b1, b2, *clustered)
    # rounds of all variants in turn: a burst of load from other jobs hits every variant
    res = {name: np.inf for name in runs}
    for _ in range(args.repeat):
        for name, fn in runs.items():
            res[name] = min(res[name], best(fn, 1))

    dense = plan.block(b1, b2)
    r, c = rows[0.2]
    assert np.array_equal(plan.at(b1, b2, r, c), dense[:, r, c].T, equal_nan=True)
    print("at == block on the 20 % sample: bit for bit")

    ref = res.get("v1 block", res["v2 block"])
    print(f"{'':16s} {'s':>8s} {'us/block px':>12s} {'us/feature px':>14s} {'v1 / this':>10s}")
    for name, t in res.items():
        share = float(name.split()[2].rstrip("%")) / 100 if " at " in name else 1.0
        per = f"{t / (share * n) * 1e6:14.3f}" if share > 0 else f"{'-':>14s}"
        print(f"{name:16s} {t:8.3f} {t / n * 1e6:12.3f} {per} {ref / t:10.1f}")

    if v1 is not None:
        old = p1.block(b1, b2)
        assert p1.names == plan.names
        point = [k for k, nm in enumerate(plan.names) if not nm.startswith(("mean", "std", "pan"))]
        same = np.array_equal(dense[point], old[point], equal_nan=True)
        print(f"point features ({len(point)}) bit-identical to v1: {same}")
        print("v2 - v1, max |difference| / std of v1 (neighbourhood features):")
        for k, name in enumerate(plan.names):
            if name.startswith(("mean", "std", "pantex")):
                d = np.nanmax(np.abs(dense[k] - old[k]))
                print(f"  {name:26s} {d:.2e} / {np.nanstd(old[k]):.2e}")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}"
    )


if __name__ == "__main__":
    main()
