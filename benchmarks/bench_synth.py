"""Time onemap.synth.make_county: vector layers, planting, rendering and writing of a sample county.

There is no peer that writes a county like this, so the figures are absolute: wall time per
phase and peak memory. Usage: ``python benchmarks/bench_synth.py [size ...] [--out DIR]``
(default 2048 4096; ``--out DIR`` keeps each county as ``DIR/county_SIZE``, where
``bench_scale.py --data DIR`` finds it, instead of a temporary folder).
"""

from __future__ import annotations

import argparse
import platform
import resource
import tempfile
import time
from pathlib import Path

import numba
import numpy as np


def run(size: int, out: Path | None = None) -> dict:
    import onemap.synth.build as build
    from onemap.synth import make_county

    spent = {}
    render = build.render_scenes

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        render(*args, **kwargs)
        spent["render"] = time.perf_counter() - t0

    build.render_scenes = timed
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) if out is None else out / f"county_{size}"
            t0 = time.perf_counter()
            county = make_county(root, size=size, seed=0)
            total = time.perf_counter() - t0
    finally:
        build.render_scenes = render
    return {"size": size, "total_s": total, "render_s": spent["render"], "vectors_s": total - spent["render"],
            "mpx_per_s": 2 * size * size / spent["render"] / 1e6, "objects": len(county.truth),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sizes", type=int, nargs="*", default=[2048, 4096])
    ap.add_argument("--out", type=Path, default=None, help="keep the counties in OUT/county_SIZE")
    args = ap.parse_args(argv)
    sizes = args.sizes
    run(256)  # compile / load the numba kernels first
    print(f"python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"{platform.machine()}, {numba.config.NUMBA_NUM_THREADS} threads")
    for size in sizes:
        r = run(size, args.out)
        print(f"{r['size']:>6}²: total {r['total_s']:7.1f} s  (vectors+planting+layers {r['vectors_s']:6.1f} s, "
              f"two scenes {r['render_s']:7.1f} s = {r['mpx_per_s']:.2f} Mpx/s)  "
              f"{r['objects']} truth objects, peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
