"""Overlay benchmarks: onemap against its peers, side by side, on the same data in one run.

Workloads (``--sizes``): Voronoi parcels (every 4th with a hole, edges densified to real-looking
10–30 vertices) over a float32 raster in CGCS2000 / 3-degree GK zone 39 at 2 m, with 1 % nodata:

* ``quick``:  1 000 parcels over 1 000²
* ``small``:  5 000 parcels over 4 000²
* ``large``: 100 000 parcels over 16 000² (a 1 GB raster; needs ~8 GB RAM and ~20–30 minutes)

Comparisons (each tool runs in its own subprocess, so peak memory is per tool):

* rasterise (centre and all-touched): ``onemap.rasterize`` vs ``rasterio.features.rasterize``
  (results checked identical);
* zonal statistics (count, sum, mean, min, max, std) from the GeoTIFF: onemap centre and fraction
  rules vs ``exactextract``, ``rasterstats`` and ``xarray-spatial`` (``zonal.stats`` on an id grid
  rasterised beforehand and values already in memory: its time excludes both);
* area by class: approvals (a coarser tessellation, half of its cells) x the parcels as a land-use
  layer with codes: ``onemap.area_by_class`` vs ``geopandas.overlay`` + area + pivot (totals checked),
  plus onemap on a rasterised land-use class raster.

Ratios are peer time / onemap time (> 1: onemap is faster). Times are medians of ``--repeats``
(peers slower than 60 s run once). Usage::

    python benchmarks/bench_overlay.py --quick
    python benchmarks/bench_overlay.py --sizes small,large --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {"quick": (1_000, 1_000), "small": (5_000, 4_000), "large": (100_000, 16_000)}
RES = 2.0
X0, Y0 = 39_500_000.0, 3_300_000.0
CRS = 4527
STATS = ["count", "sum", "mean", "min", "max", "std"]
RS_SUBSET = 10_000  # parcels rasterstats is timed on (then scaled to all; see _report)
CODES = np.array(["0101", "0102", "0103", "0201", "0301", "0702", "1001", "1101", "1107", "1202"])
TASKS = {
    "rasterize": ["rasterize_ours", "rasterize_gdal", "rasterize_ours_at", "rasterize_gdal_at"],
    "zonal": ["zonal_ours_centre", "zonal_ours_fraction", "zonal_exactextract", "zonal_rasterstats",
              "zonal_xrspatial"],
    "area": ["area_ours", "area_ours_raster", "area_geopandas"],
}


# --------------------------------------------------------------------------- data


def _paths(data_dir: Path, size: str) -> dict[str, Path]:
    d = data_dir / size
    return {"dir": d, "parcels": d / "parcels.pkl", "approvals": d / "approvals.pkl", "values": d / "values.tif",
            "classes": d / "classes.tif"}


def make_data(data_dir: Path, size: str) -> None:
    """Write the workload of one size (skipped when already there)."""
    import geopandas as gpd
    import rasterio
    import shapely
    from affine import Affine

    n, px = SIZES[size]
    p = _paths(data_dir, size)
    if all(p[k].exists() for k in ("parcels", "approvals", "values", "classes")):
        return
    p["dir"].mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240601)
    side = px * RES
    box = shapely.box(X0, Y0 - side, X0 + side, Y0)

    def tessellation(k, hole_every):
        pts = np.c_[rng.uniform(X0, X0 + side, k), rng.uniform(Y0 - side, Y0, k)]
        cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=box)), box)
        cells = shapely.segmentize(cells, 0.3 * np.sqrt(side * side / k))
        if hole_every:
            h = np.arange(len(cells)) % hole_every == 0
            r = 0.3 * np.sqrt(shapely.area(cells[h]) / np.pi)
            cells[h] = shapely.difference(cells[h], shapely.buffer(shapely.centroid(cells[h]), r, quad_segs=4))
        return cells

    parcels = gpd.GeoDataFrame({"landuse_code": CODES[rng.integers(0, len(CODES), n)]},
                               geometry=tessellation(n, 4), crs=CRS)
    parcels.index = [f"P{i:06d}" for i in range(len(parcels))]
    coarse = tessellation(max(n // 10, 10), 0)
    approvals = gpd.GeoDataFrame(geometry=coarse[rng.random(len(coarse)) < 0.5], crs=CRS)
    approvals.index = [f"A{i:05d}" for i in range(len(approvals))]
    parcels.to_pickle(p["parcels"])
    approvals.to_pickle(p["approvals"])

    transform = Affine(RES, 0, X0, 0, -RES, Y0)
    profile = dict(driver="GTiff", height=px, width=px, count=1, crs=f"EPSG:{CRS}", transform=transform,
                   tiled=True, blockxsize=512, blockysize=512)
    with rasterio.open(p["values"], "w", dtype="float32", nodata=-9999.0, **profile) as dst:
        for r0 in range(0, px, 1024):
            rows = np.arange(r0, min(px, r0 + 1024))[:, None]
            cols = np.arange(px)[None, :]
            block = (100 + 30 * np.sin(rows / 97.0) * np.cos(cols / 131.0)
                     + rng.normal(0, 5, (len(rows), px))).astype("float32")
            block[rng.random(block.shape) < 0.01] = -9999.0
            dst.write(block, 1, window=((r0, r0 + len(rows)), (0, px)))
    # the land-use layer as a class raster (codes as integers), for the raster path of area_by_class
    import onemap
    from onemap import Frame

    ids = onemap.rasterize(parcels, Frame(CRS, transform, (px, px))).values
    codes = parcels.landuse_code.astype(int).to_numpy().astype(np.int16)
    with rasterio.open(p["classes"], "w", dtype="int16", nodata=-1, **profile) as dst:
        dst.write(np.where(ids >= 0, codes[np.maximum(ids, 0)], -1).astype(np.int16), 1)


# --------------------------------------------------------------------------- workers


def _rss_mb() -> float:
    """Peak RSS since the last :func:`_reset_peak` (Linux VmHWM), else since the start."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_peak() -> None:
    """Reset the peak RSS to the current RSS, so it measures the timed runs only (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _digest(arr) -> str:
    import hashlib

    h = hashlib.sha1()
    for row in np.asarray(arr):  # row by row: no copy of the whole grid
        h.update(np.ascontiguousarray(row, dtype=np.int32).data)
    return h.hexdigest()[:16]


def run_worker(task: str, size: str, data_dir: Path, repeats: int, out_dir: Path) -> dict:
    """Load the data, run one task ``repeats`` times, return timings, memory and a check value."""
    import warnings

    import pandas as pd

    warnings.simplefilter("ignore")
    p = _paths(data_dir, size)
    parcels = pd.read_pickle(p["parcels"])
    n, px = SIZES[size]
    from affine import Affine

    from onemap import Frame

    frame = Frame(CRS, Affine(RES, 0, X0, 0, -RES, Y0), (px, px))
    fn, prepare = _task(task, parcels, frame, p)
    state = prepare()
    times, result = [], None
    warm = "ours" in task
    if warm:  # numba: load the compiled kernels (cache) on a small subset, outside the timing
        t = time.perf_counter()
        small_fn, _ = _task(task, parcels.iloc[:50], frame.subframe(slice(0, 256), slice(0, 256)), p, small=True)
        small_fn(None)
        warmup = time.perf_counter() - t
    import gc

    import psutil

    gc.collect()
    base = psutil.Process().memory_info().rss / 2**20  # data, imports and compiled kernels
    _reset_peak()
    for i in range(repeats):
        result = None  # free the previous result before the next run
        t = time.perf_counter()
        result = fn(state)
        times.append(time.perf_counter() - t)
        if times[-1] > 60 and not warm:
            break
    peak = _rss_mb()
    check = _check(task, result, out_dir, size)
    return {"task": task, "size": size, "times": times, "median": float(np.median(times)),
            "peak_rss_mb": peak, "data_rss_mb": base, "check": check,
            "warmup": warmup if warm else None}


def _task(task, parcels, frame, p, small=False):
    """(function of the prepared state, preparation) for one task (``small``: a warm-up version)."""
    import geopandas as gpd
    import pandas as pd

    import onemap

    if task.startswith("rasterize"):
        at = task.endswith("_at")
        if "ours" in task:
            return (lambda s: onemap.rasterize(parcels, frame, rule="all_touched" if at else "centre").values,
                    lambda: None)
        from rasterio import features

        return (lambda s: features.rasterize(((g, i) for i, g in enumerate(parcels.geometry)), out_shape=frame.shape,
                                             transform=frame.transform, fill=-1, dtype="int32", all_touched=at),
                lambda: None)
    if task.startswith("zonal"):
        import rioxarray

        if task == "zonal_ours_centre":
            return (lambda s: onemap.zonal_stats(rioxarray.open_rasterio(p["values"]), parcels, STATS,
                                                 weights="centre"), lambda: None)
        if task == "zonal_ours_fraction":
            return lambda s: onemap.zonal_stats(rioxarray.open_rasterio(p["values"]), parcels, STATS), lambda: None
        if task == "zonal_exactextract":
            from exactextract import exact_extract

            ops = ["count", "sum", "mean", "min", "max", "stdev"]
            geo = parcels.reset_index(drop=True)
            return lambda s: exact_extract(str(p["values"]), geo, ops, output="pandas"), lambda: None
        if task == "zonal_rasterstats":
            from rasterstats import zonal_stats

            # rasterstats' memory grows with the number of polygons (~0.7 MB each here): at 100 000
            # it is killed for lack of memory, so large workloads time its first RS_SUBSET parcels
            geoms = list(parcels.geometry[:RS_SUBSET])
            return (lambda s: pd.DataFrame(zonal_stats(geoms, str(p["values"]), stats=STATS, nodata=-9999.0)),
                    lambda: None)
        if task == "zonal_xrspatial":
            import xarray as xr
            from xrspatial.zonal import stats as xrs_stats

            def prepare():
                values = rioxarray.open_rasterio(p["values"]).squeeze("band", drop=True).load()
                values = values.where(values != -9999.0)
                ids = onemap.rasterize(parcels, frame).values
                zones = xr.DataArray(ids, dims=("y", "x"), coords=values.coords)
                return zones, values

            return (lambda s: xrs_stats(s[0], s[1], stats_funcs=["count", "sum", "mean", "min", "max", "std"],
                                        nodata_values=-1), prepare)
    if task.startswith("area"):
        approvals = pd.read_pickle(p["approvals"])
        if small:
            approvals = approvals.iloc[:5]
        if task == "area_ours":
            return lambda s: onemap.area_by_class(approvals, parcels), lambda: None
        if task == "area_ours_raster":
            return lambda s: onemap.area_by_class(approvals, rioxarray_open(p["classes"])), lambda: None
        if task == "area_geopandas":
            def overlay(s):
                ov = gpd.overlay(approvals.reset_index(names="approval"), parcels[["landuse_code", "geometry"]],
                                 how="intersection", keep_geom_type=True)
                return ov.assign(area=ov.area).pivot_table(index="approval", columns="landuse_code", values="area",
                                                           aggfunc="sum", fill_value=0.0)
            return overlay, lambda: None
    raise ValueError(f"unknown task {task}")


def rioxarray_open(path):
    import rioxarray

    return rioxarray.open_rasterio(path).squeeze("band", drop=True)


def _check(task, result, out_dir: Path, size: str):
    """A value to compare across tools: digests of grids, saved tables for zonal/area."""
    if result is None:
        return None
    if task.startswith("rasterize"):
        return _digest(np.asarray(result, dtype=np.int32))
    out = out_dir / f"{size}_{task}.npz"
    if task.startswith("zonal"):
        df = result
        if task == "zonal_exactextract":
            df = df.rename(columns={"stdev": "std"})
        if task == "zonal_xrspatial":
            df = df.set_index("zone").sort_index()
            df = df[df.index >= 0]
        np.savez(out, **{k: np.asarray(df[k], dtype=float) for k in STATS})
        return str(out)
    if task.startswith("area"):
        table = result.drop(columns=["unclassified"], errors="ignore")
        table.columns = [str(int(c)).zfill(4) if not isinstance(c, str) else c for c in table.columns]
        totals = table.sum(axis=0)
        np.savez(out, classes=np.asarray(totals.index, dtype=str), totals=totals.to_numpy(float))
        return str(out)
    return None


# --------------------------------------------------------------------------- driver


def machine_info() -> dict:
    import exactextract
    import geopandas
    import numba
    import pyproj
    import rasterio
    import rasterstats
    import shapely
    import xrspatial

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "numpy": np.__version__, "numba": numba.__version__, "numba_threads": numba.config.NUMBA_NUM_THREADS,
            "shapely": shapely.__version__, "geos": shapely.geos_version_string, "geopandas": geopandas.__version__,
            "rasterio": rasterio.__version__, "gdal": rasterio.__gdal_version__, "pyproj": pyproj.__version__,
            "exactextract": exactextract.__version__, "rasterstats": rasterstats.__version__,
            "xarray-spatial": xrspatial.__version__}


def _spawn(task, size, data_dir, repeats, out_dir, timeout, threads=None):
    env = dict(os.environ)
    if threads:
        env["NUMBA_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, __file__, "--worker", task, "--size", size, "--data-dir", str(data_dir),
           "--repeats", str(repeats), "--out-dir", str(out_dir)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"task": task, "size": size, "median": float("inf"), "timeout": timeout}
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return {"task": task, "size": size, "median": float("nan"), "error": why}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _compare(a: str, b: str, cols) -> float:
    """Largest relative difference of the saved tables a and b over cols (NaN-aware)."""
    x, y = np.load(a), np.load(b)
    worst = 0.0
    for c in cols:
        n = min(len(x[c]), len(y[c]))  # a tool timed on a subset compares on that subset
        u, v = x[c][:n], y[c][:n]
        ok = np.isfinite(u) & np.isfinite(v) & (v != 0)
        if ok.any():
            worst = max(worst, float(np.max(np.abs(u[ok] - v[ok]) / np.abs(v[ok]))))
    return worst


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the 1 000² workload only")
    ap.add_argument("--sizes", default="small", help="comma-separated: quick, small, large")
    ap.add_argument("--groups", default="rasterize,zonal,area", help="comma-separated: " + ", ".join(TASKS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per tool and size")
    ap.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "onemap_bench_overlay"))
    ap.add_argument("--out-dir", default=None)
    ap.add_argument("--single-thread", action="store_true", help="also time onemap with NUMBA_NUM_THREADS=1")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--size", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    data_dir = Path(args.data_dir)
    out_dir = Path(args.out_dir or data_dir / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.size, data_dir, args.repeats, out_dir)))
        return
    sizes = ["quick"] if args.quick else args.sizes.split(",")
    info = machine_info()
    print("# machine:", json.dumps(info))
    rows = []
    for size in sizes:
        t = time.perf_counter()
        make_data(data_dir, size)
        print(f"# data {size}: ready in {time.perf_counter() - t:.1f} s", flush=True)
        results = {}
        for group in args.groups.split(","):
            for task in TASKS[group]:
                results[task] = _spawn(task, size, data_dir, args.repeats, out_dir, args.timeout)
                r = results[task]
                print(f"  {size:6s} {task:22s} {r['median']:9.3f} s  peak {_mem(r)} MB"
                      f"{'  ' + str(r.get('error') or r.get('timeout') or '') if 'error' in r or 'timeout' in r else ''}",
                      flush=True)
                if args.single_thread and "ours" in task:
                    r1 = _spawn(task, size, data_dir, args.repeats, out_dir, args.timeout, threads=1)
                    results[task + "_1thread"] = r1
                    print(f"  {size:6s} {task + ' (1 thread)':22s} {r1['median']:9.3f} s", flush=True)
        rows.append(_report(size, results))
    print()
    for r in rows:
        print(r)
    (out_dir / "results.json").write_text(json.dumps({"machine": info}, indent=1))


def _mem(r: dict) -> str:
    """Peak RSS during the timed runs, and how much that is above the data, imports and compiled
    kernels loaded before them."""
    if "peak_rss_mb" not in r:
        return ""
    return f"{r['peak_rss_mb']:.0f} (+{r['peak_rss_mb'] - r['data_rss_mb']:.0f})"


def _report(size: str, res: dict) -> str:
    n, px = SIZES[size]
    lines = [f"### {n:,} parcels over {px:,}² float32 ({size})", "",
             "| comparison | onemap (s) | peer (s) | peer / onemap | onemap peak RSS (MB) | peer peak RSS (MB) | check |",
             "|---|---:|---:|---:|---:|---:|---|"]

    def row(label, ours, peer, check=""):
        a, b = res.get(ours), res.get(peer)
        if not a or not b:
            return
        peer_median = b["median"]
        peer_time = f"> {b['timeout']:.0f}" if "timeout" in b else f"{peer_median:.3f}"
        if peer == "zonal_rasterstats" and n > RS_SUBSET:
            peer_median *= n / RS_SUBSET
            peer_time = f"{peer_median:.1f} (first {RS_SUBSET:,} parcels: {b['median']:.1f}, scaled)"
        ratio = peer_median / a["median"] if a["median"] > 0 else float("nan")
        lines.append(f"| {label} | {a['median']:.3f} | {peer_time} | {ratio:.1f}x | {_mem(a)} | {_mem(b)} | {check} |")

    def same(a, b):
        ca, cb = res.get(a, {}).get("check"), res.get(b, {}).get("check")
        return "identical grids" if ca and ca == cb else ("DIFFERENT" if ca and cb else "")

    def rel(a, b, cols=STATS):
        ca, cb = res.get(a, {}).get("check"), res.get(b, {}).get("check")
        return f"max rel diff {_compare(ca, cb, cols):.1e}" if ca and cb else ""

    row("rasterize, centre vs rasterio", "rasterize_ours", "rasterize_gdal", same("rasterize_ours", "rasterize_gdal"))
    row("rasterize, all_touched vs rasterio", "rasterize_ours_at", "rasterize_gdal_at",
        same("rasterize_ours_at", "rasterize_gdal_at"))
    row("zonal, centre vs exactextract", "zonal_ours_centre", "zonal_exactextract")
    row("zonal, fraction vs exactextract", "zonal_ours_fraction", "zonal_exactextract",
        rel("zonal_ours_fraction", "zonal_exactextract"))
    row("zonal, centre vs rasterstats", "zonal_ours_centre", "zonal_rasterstats",
        rel("zonal_ours_centre", "zonal_rasterstats"))
    row("zonal, centre vs xarray-spatial (id grid given)", "zonal_ours_centre", "zonal_xrspatial",
        rel("zonal_ours_centre", "zonal_xrspatial"))
    if res.get("area_ours", {}).get("check") and res.get("area_geopandas", {}).get("check"):
        x, y = np.load(res["area_ours"]["check"]), np.load(res["area_geopandas"]["check"])
        tx = dict(zip(x["classes"], x["totals"]))
        diff = max(abs(tx.get(c, 0.0) - t) / t for c, t in zip(y["classes"], y["totals"]))
        check = f"class totals max rel diff {diff:.1e}"
    else:
        check = ""
    row("area by class vs geopandas.overlay + area", "area_ours", "area_geopandas", check)
    row("area by class (class raster) vs geopandas.overlay", "area_ours_raster", "area_geopandas")
    for k, v in res.items():
        if k.endswith("_1thread"):
            lines.append(f"| {k.replace('_1thread', '')} with 1 thread | {v['median']:.3f} | | | | | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
