"""Enforcement at scale: flag_unapproved on a county-sized land-use layer, whole vs partitioned.

Synthetic county in CGCS2000 / 3-degree GK zone 39 with zone-prefixed eastings (EPSG:4527):

* land use: a jittered grid of quadrilaterals (``--landuse`` polygons, default 10⁶ on a
  1 000 × 1 000 grid of ~50 m cells, nodes shared so the layer tiles the county without gaps)
  with random valid 三调 codes (drawn from :mod:`onemap.codes`, weighted like a farming county);
* ``--patches`` change patches (default 10⁴): rotated rectangles of 15–120 m;
* ``--approvals`` approvals (default 3 000): half drawn around patches (covering them fully or in
  part), half elsewhere;
* 2 000 farmland polygons, 200 red-line polygons, 4 × 4 admin towns.

Variants, each in its own subprocess so peak RSS is per variant (and only one memory-heavy
variant runs at a time):

* ``whole``: ``flag_unapproved(...)`` in one call (``partition_size=None``);
* ``threaded``: ``flag_unapproved(..., partition_size=N)`` on dask's threaded scheduler;
* ``cluster``: the same on a ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``
  (RSS: the client process plus the peak of each worker);
* ``gpd_overlay``: the peer pipeline an analyst writes, ``geopandas.overlay(patches, landuse,
  how="intersection")`` and an area sum per patch and code (it answers only the land-use part of
  the question: no construction/approval logic, plane area);
* ``overlay_area``: onemap's answer to that same question, ``onemap.overlay_area(patches,
  landuse)`` and the same sum (tables checked equal to the peer's).

Before timing, a check run asserts that the partitioned result equals the whole one (a smaller
county, several partition sizes), and every timed variant's table is compared with the whole
one (verdicts and ids equal, areas to 1e-9 relative). Times are medians of ``--repeats`` runs;
peak RSS is sampled every 5 ms over the process and its children (the cluster's workers) during
the timed runs, reported as the peak and as the peak above the RSS once the data is in memory.
``--before REV`` adds ``whole_before``: flag_unapproved of git revision REV (the version before
the partitioning, which overlaid the whole layers). Usage::

    python benchmarks/bench_enforce_scale.py                 # 10⁶ land-use polygons, 10⁴ patches
    python benchmarks/bench_enforce_scale.py --quick         # 10⁵ / 2 000
    python benchmarks/bench_enforce_scale.py --before 78a5e82
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from typing import Self

import geopandas as gpd
import numpy as np
import shapely

CRS = 4527
X0, Y0 = 39_475_000.0, 3_300_000.0
# 三调 codes of a farming county, roughly weighted by how often they occur in DLTB layers
CODE_WEIGHTS = {"0101": 10, "0102": 6, "0103": 14, "0201": 3, "0301": 10, "0305": 3, "0307": 2, "0401": 1,
                "0404": 2, "0601": 1, "0602": 1, "0701": 2, "0702": 8, "1003": 1, "1004": 1, "1006": 3,
                "1101": 2, "1104": 2, "1107": 3, "1202": 1, "1206": 1, "0201K": 1}


def _quads(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray, angle: np.ndarray) -> np.ndarray:
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5]])
    dx = corners[None, :, 0] * w[:, None]
    dy = corners[None, :, 1] * h[:, None]
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    xy = np.stack([cx[:, None] + c * dx - s * dy, cy[:, None] + s * dx + c * dy], axis=-1)
    return shapely.polygons(xy)


def make_county(n_landuse: int = 1_000_000, n_patches: int = 10_000, n_approvals: int = 3_000,
                seed: int = 0) -> dict[str, gpd.GeoDataFrame]:
    """Synthetic layers for :func:`onemap.flag_unapproved` (deterministic for a seed)."""
    from onemap import codes

    rng = np.random.default_rng(seed)
    side = round(np.sqrt(n_landuse))
    cell = 50.0
    extent = side * cell
    # jittered grid nodes shared by neighbouring cells: a gap-free coverage of valid quadrilaterals
    gx, gy = np.meshgrid(np.arange(side + 1) * cell, np.arange(side + 1) * cell)
    jit = rng.uniform(-0.3 * cell, 0.3 * cell, (2, side + 1, side + 1))
    jit[:, :, [0, -1]] = 0.0
    jit[:, [0, -1], :] = 0.0
    nx, ny = X0 + gx + jit[0], Y0 + gy + jit[1]
    ring = [(0, 0), (0, 1), (1, 1), (1, 0), (0, 0)]  # (row, col) offsets, counter-clockwise
    xs = np.stack([nx[r:r + side, c:c + side] for r, c in ring], axis=-1).reshape(-1, 5)
    ys = np.stack([ny[r:r + side, c:c + side] for r, c in ring], axis=-1).reshape(-1, 5)
    lu_geoms = shapely.polygons(np.stack([xs, ys], axis=-1))
    names = list(CODE_WEIGHTS)
    assert all(codes.group(c) != "unknown" for c in names)
    p = np.array(list(CODE_WEIGHTS.values()), float)
    lu_codes = np.array(names, dtype=object)[rng.choice(len(names), size=len(lu_geoms), p=p / p.sum())]
    landuse = gpd.GeoDataFrame({"landuse_code": lu_codes, "BSM": np.arange(len(lu_geoms))},
                               geometry=lu_geoms, crs=CRS)

    def spots(n: int, lo: float, hi: float) -> tuple:
        return (X0 + rng.uniform(0.02, 0.98, n) * extent, Y0 + rng.uniform(0.02, 0.98, n) * extent,
                rng.uniform(lo, hi, n), rng.uniform(lo, hi, n), rng.uniform(0, np.pi / 2, n))

    cx, cy, w, h, a = spots(n_patches, 15, 120)
    patches = gpd.GeoDataFrame({"score": rng.uniform(0, 1, n_patches)},
                               geometry=_quads(cx, cy, w, h, a), crs=CRS)
    k = n_approvals // 2
    pick = rng.choice(n_patches, size=min(k, n_patches), replace=False)
    grow = rng.uniform(0.6, 1.4, len(pick))  # < 1: the patch sticks out of its approval
    near = _quads(cx[pick] + rng.normal(0, 5, len(pick)), cy[pick] + rng.normal(0, 5, len(pick)),
                  w[pick] * grow, h[pick] * grow, a[pick])
    far = _quads(*spots(n_approvals - len(pick), 30, 300))
    approvals = gpd.GeoDataFrame({"approval_id": [f"PZ{i:05d}" for i in range(n_approvals)]},
                                 geometry=np.concatenate([near, far]), crs=CRS)
    farmland = gpd.GeoDataFrame(geometry=_quads(*spots(2_000, 100, 800)), crs=CRS)
    redline = gpd.GeoDataFrame(geometry=_quads(*spots(200, 200, 1_500)), crs=CRS)
    towns = 4
    t = extent / towns
    admin = gpd.GeoDataFrame(
        {"admin_code": [f"3201{i:02d}" for i in range(towns * towns)],
         "admin_name": [f"镇{i}" for i in range(towns * towns)]},
        geometry=[shapely.box(X0 + i * t, Y0 + j * t, X0 + (i + 1) * t, Y0 + (j + 1) * t)
                  for j in range(towns) for i in range(towns)], crs=CRS)
    return {"patches": patches, "approvals": approvals, "landuse": landuse, "farmland": farmland, "redline": redline,
                "admin": admin}


# --------------------------------------------------------------------------- workers

COMPARED = ["area_m2", "existing_m2", "approved_m2", "unapproved_m2", "new_cultivated_m2",
            "unapproved_cultivated_m2", "unapproved_farmland_m2", "unapproved_redline_m2",
            "unapproved_unknown_m2"]
LABELS = ["verdict", "approval_ids", "admin_code", "unapproved_by_code"]


class PeakRSS:
    """Peak summed RSS of this process and its children (dask workers), sampled in a thread."""

    def __init__(self, interval: float = 0.005) -> None:
        import psutil

        self.proc, self.interval, self.peak, self._stop = psutil.Process(), interval, 0.0, None

    def now(self) -> float:
        import psutil

        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20

    def __enter__(self) -> Self:
        import threading

        self._stop = threading.Event()

        def poll() -> None:
            while not self._stop.is_set():
                self.peak = max(self.peak, self.now())
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def _load_before(rev: str):
    """flag_unapproved as it was at git revision *rev* (imported as onemap.enforce_before)."""
    import importlib.util
    import tempfile
    from pathlib import Path

    src = subprocess.run(["git", "show", f"{rev}:onemap/enforce.py"], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout
    path = Path(tempfile.mkdtemp()) / "enforce_before.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("onemap.enforce_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.flag_unapproved


def run_variant(variant: str, n_landuse: int, n_patches: int, n_approvals: int, partition_size: int,
                repeats: int, out: str, before: str | None) -> dict:
    """Build the county, run one variant ``repeats`` times; timings, memory, result table saved to *out*."""
    import gc
    import warnings

    import pandas as pd

    from onemap.enforce import flag_unapproved

    warnings.simplefilter("ignore")
    t = time.perf_counter()
    county = make_county(n_landuse, n_patches, n_approvals)
    make_s = time.perf_counter() - t
    cluster = client = None
    startup = None
    if variant == "whole":
        def fn():
            return flag_unapproved(**county)
    elif variant == "whole_before":
        old = _load_before(before)

        def fn():
            return old(**county)
    elif variant == "threaded":
        def fn():
            return flag_unapproved(**county, partition_size=partition_size)
    elif variant == "cluster":
        from distributed import Client, LocalCluster

        t = time.perf_counter()
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=40)
        client = Client(cluster)
        startup = time.perf_counter() - t

        def fn():
            return flag_unapproved(**county, partition_size=partition_size, client=client)
    elif variant == "gpd_overlay":
        patches, landuse = county["patches"], county["landuse"]

        def fn():
            pieces = gpd.overlay(patches.reset_index(names="patch"), landuse[["landuse_code", "geometry"]],
                                 how="intersection", keep_geom_type=True)
            pieces["area"] = pieces.geometry.area
            return pieces.groupby(["patch", "landuse_code"])["area"].sum().unstack(fill_value=0.0)
    elif variant == "overlay_area":  # onemap's answer to the same question as gpd_overlay
        from onemap.overlay.vector import overlay_area

        patches, landuse = county["patches"], county["landuse"]
        lu_codes = landuse["landuse_code"].to_numpy()

        def fn():
            pairs = overlay_area(patches, landuse)
            pairs["landuse_code"] = lu_codes[pairs["b"].to_numpy()]  # RangeIndex: label = position
            return pairs.rename(columns={"a": "patch"}).groupby(["patch", "landuse_code"])["area"].sum().unstack(
                fill_value=0.0)
    else:
        raise SystemExit(f"unknown variant {variant}")
    gc.collect()
    meter = PeakRSS()
    base = meter.now()
    times, result = [], None
    with meter:
        for _ in range(repeats):
            result = None  # free the previous result first
            t = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t)
    if variant in ("gpd_overlay", "overlay_area"):
        result.to_pickle(out)
        check = {"overlay_area": float(result.to_numpy().sum()), "patch_area": float(county["patches"].area.sum())}
    else:
        pd.DataFrame({c: result[c] for c in COMPARED + LABELS}).to_pickle(out)
        check = {"n": len(result), "verdicts": result["verdict"].value_counts().to_dict()}
    if client is not None:
        client.close()
        cluster.close()
    return {"variant": variant, "times": times, "median": float(np.median(times)), "peak_mb": meter.peak,
            "base_mb": base, "make_s": make_s, "startup_s": startup, "check": check}


# --------------------------------------------------------------------------- driver


def machine_info() -> dict:
    import dask
    import distributed
    import pandas
    import pyproj

    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(), "numpy": np.__version__,
            "pandas": pandas.__version__, "shapely": shapely.__version__, "geos": shapely.geos_version_string,
            "geopandas": gpd.__version__, "pyproj": pyproj.__version__, "dask": dask.__version__,
            "distributed": distributed.__version__, "loadavg": os.getloadavg()}


def _spawn(variant: str, args: argparse.Namespace, n: tuple, out: str) -> dict:
    cmd = [sys.executable, __file__, "--worker", variant, "--landuse", str(n[0]), "--patches", str(n[1]),
           "--approvals", str(n[2]), "--partition-size", str(args.partition_size),
           "--repeats", str(args.repeats), "--out", out] + (["--before", args.before] if args.before else [])
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_partitioned(n_landuse: int, n_patches: int, n_approvals: int, sizes: tuple[int, ...]) -> None:
    """Partitioned (threaded and by-size) results equal the whole call on a smaller county."""
    import warnings

    import pandas as pd

    from onemap.enforce import flag_unapproved

    warnings.simplefilter("ignore")
    county = make_county(n_landuse, n_patches, n_approvals, seed=1)
    ref = flag_unapproved(**county)
    for size in sizes:
        got = flag_unapproved(**county, partition_size=size)
        pd.testing.assert_frame_equal(got, ref, check_exact=False, rtol=1e-9, atol=0)
    print(f"check: partitioned == whole on {n_landuse:,} land-use polygons / {n_patches:,} patches, "
          f"partition sizes {sizes}", flush=True)


def _same(a: str, b: str) -> tuple[float, float]:
    """Largest area difference between two saved result tables, relative to the value and to the
    patch's area; labels (verdicts, ids, codes) must be equal."""
    import pandas as pd

    x, y = pd.read_pickle(a), pd.read_pickle(b)
    rel = of_patch = 0.0
    for c in LABELS:
        if x[c].tolist() == y[c].tolist():
            continue
        # areas by code (JSON text): the same codes, areas compared like the area columns (an
        # older revision may differ in the last digits, so the text differs)
        u, v = [[json.loads(t) if isinstance(t, str) else t for t in col] for col in (x[c], y[c])]
        assert all(isinstance(d, dict) for d in u + v), f"{c} differs between {a} and {b}"
        for du, dv, area in zip(u, v, y["area_m2"], strict=True):
            for k in du.keys() | dv.keys():  # a code missing on one side: a sliver of area 0 there
                d = abs(du.get(k, 0.0) - dv.get(k, 0.0))
                rel = max(rel, d / max(abs(du.get(k, 0.0)), abs(dv.get(k, 0.0)), 1e-300))
                of_patch = max(of_patch, d / area)
    for c in COMPARED:
        u, v = x[c].to_numpy(), y[c].to_numpy()
        rel = max(rel, float(np.max(np.abs(u - v) / np.maximum(np.abs(v), 1e-300))))
        of_patch = max(of_patch, float(np.max(np.abs(u - v) / y["area_m2"].to_numpy())))
    return rel, of_patch


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10⁵ land-use polygons, 2 000 patches, 600 approvals")
    ap.add_argument("--landuse", type=int, default=1_000_000)
    ap.add_argument("--patches", type=int, default=10_000)
    ap.add_argument("--approvals", type=int, default=3_000)
    ap.add_argument("--partition-size", type=int, default=1_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--variants", default="whole,threaded,cluster,gpd_overlay,overlay_area")
    ap.add_argument("--before", default=None, help="git revision of the pre-partitioning enforce.py to time too")
    ap.add_argument("--timeout", type=float, default=1200.0)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.landuse, args.patches, args.approvals = 100_000, 2_000, 600
    n = (args.landuse, args.patches, args.approvals)
    if args.worker:
        print(json.dumps(run_variant(args.worker, *n, args.partition_size, args.repeats, args.out, args.before),
                         default=str))
        return
    import tempfile

    info = machine_info()
    print(json.dumps(info, default=str), flush=True)
    check_partitioned(40_000, 1_000, 300, (50, 333, 1_000))
    variants = args.variants.split(",") + (["whole_before"] if args.before else [])
    tmp = tempfile.mkdtemp(prefix="onemap_bench_enforce_")
    rows = {}
    for v in variants:  # one at a time: only one memory-heavy process alive
        rows[v] = _spawn(v, args, n, os.path.join(tmp, f"{v}.pkl"))
        r = rows[v]
        print(f"  {v:13s} median {r['median']:8.2f} s  runs {[round(t, 2) for t in r['times']]}  "
              f"peak {r['peak_mb']:7.0f} MB (data {r['base_mb']:.0f} MB)  {r['check']}", flush=True)
    ref = os.path.join(tmp, "whole.pkl")
    for v in variants:
        if v in ("whole", "gpd_overlay", "overlay_area") or "whole" not in rows:
            continue
        rel, of_patch = _same(os.path.join(tmp, f"{v}.pkl"), ref)
        # partitioned: the same numbers; an older revision may differ in slivers: the one before
        # partitioning united the pieces in the STRtree's order, and before 40973ca land-use
        # pieces of a patch that overlap by a sliver were counted twice (~1e-8 of the patch)
        limit = 1e-6 if v == "whole_before" else 1e-9
        assert (of_patch if v == "whole_before" else rel) <= limit, f"{v} differs from whole: {rel:.1e}, {of_patch:.1e}"
        rows[v]["max_rel_diff"] = rel
    for v in ("gpd_overlay", "overlay_area"):
        if v in rows:
            c = rows[v]["check"]
            assert abs(c["overlay_area"] / c["patch_area"] - 1) < 1e-9, c  # the land-use layer covers every patch
    if "gpd_overlay" in rows and "overlay_area" in rows:
        import pandas as pd

        a, b = (pd.read_pickle(os.path.join(tmp, f"{v}.pkl")) for v in ("overlay_area", "gpd_overlay"))
        pd.testing.assert_frame_equal(a.sort_index(axis=1), b.sort_index(axis=1), check_exact=False, rtol=1e-9,
                                      atol=1e-6, check_names=False, check_index_type=False)
        rows["overlay_area"]["peer"] = rows["gpd_overlay"]["median"] / rows["overlay_area"]["median"]
    base = rows.get("whole")
    print(f"\n{args.landuse:,} land-use polygons, {args.patches:,} patches, {args.approvals:,} approvals; "
          f"partition_size={args.partition_size}; load average at the end {os.getloadavg()}")
    print("| variant | median s | runs s | peak RSS MB | peak above data MB | whole / variant (time) |"
          " max rel. area diff vs whole |")
    print("|---|---|---|---|---|---|---|")
    for v, r in rows.items():
        ratio = f"{base['median'] / r['median']:.2f}×" if base else "–"
        diff = f"{r['max_rel_diff']:.1e}" if "max_rel_diff" in r else "–"
        extra = f" (+{r['startup_s']:.1f} s cluster start)" if r.get("startup_s") else ""
        print(f"| {v} | {r['median']:.2f}{extra} | {', '.join(f'{t:.2f}' for t in r['times'])} | "
              f"{r['peak_mb']:.0f} | {r['peak_mb'] - r['base_mb']:.0f} | {ratio} | {diff} |")
    if "peer" in rows.get("overlay_area", {}):
        print(f"\nland-use area per patch and code: geopandas.overlay / onemap.overlay_area = "
              f"{rows['overlay_area']['peer']:.2f}× (tables equal)")


if __name__ == "__main__":
    main()
