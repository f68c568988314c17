"""County-scale benchmark (issue 7): the whole survey from 2 500² to 20 000² pixels.

Synthetic counties (``onemap.synth.make_county``: 4 bands x 2 dates, uint16, DEFLATE, 512²
blocks, 2 m pixels) are written to ``--data`` first when missing; writing them is not timed.
Every measured run is a fresh subprocess (its own peak RSS, a warm numba cache), one at a time:

* ``onemap``: :func:`onemap.run_survey` with the demo configuration, threaded scheduler;
* ``cluster``: the same survey on a ``dask.distributed.LocalCluster`` (2 worker processes, one
  thread each); its peak memory is that of the whole process tree (client + scheduler + workers);
* ``model`` (with ``--model``): the same survey with ``[detect] model`` (the trained detector,
  tiled and pre-screened, no classical score), the model trained once on another county;
* ``naive``: ``benchmarks/naive_pipeline.py`` (whole-image rasterio reads, NumPy arithmetic, skimage
  Otsu, scipy label, rasterio shapes, geopandas overlay), up to ``--naive-max`` pixels a side
  (at 20 000² it needs ~24 GiB).

Reported: wall time, per-stage times, peak RSS, CPU use (process CPU time / wall; 2.0 = both
cores), megapixels per second, the naive/onemap and cluster/threaded ratios, and the log-log slope
of onemap's time against the pixel count (1.0 = time per megapixel constant). The machine is shared
with other jobs: the load average before and after each run is printed next to it.

Usage: ``python benchmarks/bench_scale.py [--sizes 2500 5000 8000 20000] [--cluster 8000] [--model [PATH]]
[--no-naive] [--write]``
(``--write`` puts the report between the ``bench-scale`` markers of ``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MARK = ("<!-- bench-scale:start -->", "<!-- bench-scale:end -->")


def _tree_rss(proc) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except Exception:  # noqa: BLE001 - a process that just ended
            pass
    return total


def child(kind: str, root: str, out: str, tile: int) -> dict:
    """One measured run inside this process; returns the figures as a dict."""
    import psutil

    proc = psutil.Process()
    peak = [0]
    stop = threading.Event()

    # only a cluster has child processes: scanning for them costs a core's 5-10 % at 20 Hz
    rss = (lambda: _tree_rss(proc)) if kind == "cluster" else (lambda: proc.memory_info().rss)

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    cpu0, t0 = proc.cpu_times(), time.perf_counter()
    if kind == "naive":
        sys.path.insert(0, str(HERE))
        from naive_pipeline import run_naive

        res = run_naive(root)
        result = {"stages": res["seconds"], "patches": res["patches"]}
    else:
        from onemap.survey import demo_config, run_survey
        from onemap.synth import open_county

        cfg = demo_config(open_county(root), out)
        cfg["run"]["tile_size"] = tile
        if kind.startswith("model="):  # the survey with a trained model ([detect] model)
            cfg["detect"]["model"] = kind.split("=", 1)[1]
        client = None
        if kind == "cluster":
            from distributed import Client, LocalCluster

            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=40, memory_limit=0)
            client = Client(cluster)
            t0 = time.perf_counter()  # cluster start-up is not the survey's time
        r = run_survey(cfg, client=client, progress=False)
        result = {"stages": r.manifest["timings_s"], "patches": len(r.verdicts),
                  "verdict_table_sha256": r.manifest["verdict_table_sha256"]}
    wall = time.perf_counter() - t0
    cpu1 = proc.cpu_times()
    cpu = (cpu1.user + cpu1.system + cpu1.children_user + cpu1.children_system
           - cpu0.user - cpu0.system - cpu0.children_user - cpu0.children_system)
    if kind == "cluster":  # workers' CPU time: ask them
        cpu += sum(client.run(lambda: sum(psutil.Process().cpu_times()[:2])).values())
    stop.set()
    watcher.join()
    return {"wall_s": wall, "peak_rss_gib": peak[0] / 2**30, "cpu_cores": cpu / wall, **result}


def measure(kind: str, root: Path, out: Path, tile: int) -> dict:
    load0 = os.getloadavg()[0]
    cmd = [sys.executable, __file__, "--child", kind, str(root), str(out), str(tile)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{kind} run on {root} failed:\n{done.stderr[-3000:]}")
    res = json.loads(done.stdout.strip().splitlines()[-1])
    res["load"] = (load0, os.getloadavg()[0])
    return res


def county(data: Path, size: int) -> Path:
    root = data / f"county_{size}"
    if not (root / "county.json").is_file():
        from onemap.synth import make_county

        print(f"writing the {size}² county to {root} (not timed) ...", flush=True)
        make_county(root, size=size, seed=0)
    return root


def county_model(data: Path) -> Path:
    """A change model trained (default parameters, seed 0) on another county (2 048², seed 1):
    construction (``change_kind`` building) is real change, roads, fields, ponds, clouds and
    shadows are not. Written once, not timed."""
    path = data / "county_model.json"
    if not path.is_file():
        from onemap.change import train_change_model
        from onemap.ingest.raster import open_scene
        from onemap.synth import make_county

        print(f"training the county model {path} (not timed) ...", flush=True)
        c = make_county(data / "county_train_2048", size=2048, seed=1)
        before, after = (open_scene(str(c.paths[k]), masked=False).compute()
                         for k in ("before", "after"))
        truth = c.truth.copy()
        truth["real"] = truth["change_kind"] == "building"
        train_change_model([(before, after, truth)], seed=0).save(path)
    return path


def slope(sizes: list[int], times: list[float]) -> float:
    """Least-squares slope of log(time) against log(pixels)."""
    x = [math.log(s * s) for s in sizes]
    y = [math.log(t) for t in times]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)


def report(rows: list[dict], tile: int) -> str:
    import dask
    import numba
    import numpy
    import rasterio

    lines = [
        f"Machine: {os.cpu_count()} cores ({platform.machine()}), "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, shared with other jobs "
        f"(load average before → after each run in the table); Python {platform.python_version()}, numpy "
        f"{numpy.__version__}, numba {numba.__version__}, dask {dask.__version__}, rasterio {rasterio.__version__} "
        f"(GDAL {rasterio.__gdal_version__}). Survey tiles {tile}².",
        "",
        "| county | run | wall | Mpx/s | peak RSS | CPU (cores) | load | patches | stages (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mpx = r["size"] ** 2 / 1e6
        stages = ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
        lines.append(f"| {r['size']:,}² | {r['kind']} | {r['wall_s']:.1f} s | {mpx / r['wall_s']:.1f} | "
                     f"{r['peak_rss_gib']:.2f} GiB | {r['cpu_cores']:.2f} | {r['load'][0]:.1f} → {r['load'][1]:.1f} | "
                     f"{r['patches']} | {stages} |")
    by = {(r["size"], r["kind"]): r for r in rows}
    lines.append("")
    for (size, kind), r in sorted(by.items()):
        if kind == "naive" and (size, "onemap") in by:
            lines.append(f"- {size:,}²: naive / onemap = {r['wall_s'] / by[size, 'onemap']['wall_s']:.2f}× "
                         f"(time), {r['peak_rss_gib'] / by[size, 'onemap']['peak_rss_gib']:.2f}× (peak RSS)")
        if kind == "model" and (size, "onemap") in by:
            o = by[size, "onemap"]
            lines.append(f"- {size:,}²: survey with a model / unsupervised survey = "
                         f"{r['wall_s'] / o['wall_s']:.2f}× (time), peak RSS "
                         f"{r['peak_rss_gib']:.2f} GiB against {o['peak_rss_gib']:.2f} GiB")
        if kind == "cluster" and (size, "onemap") in by:
            same = r.get("verdict_table_sha256") == by[size, "onemap"].get("verdict_table_sha256")
            lines.append(f"- {size:,}²: cluster / threaded = {r['wall_s'] / by[size, 'onemap']['wall_s']:.2f}× "
                         f"(time); verdict tables {'identical' if same else 'DIFFERENT'}")
    ours = sorted((s, r["wall_s"]) for (s, k), r in by.items() if k == "onemap")
    if len(ours) >= 2:
        b = slope([s for s, _ in ours], [t for _, t in ours])
        lines.append(f"- onemap log-log slope of time against pixels, {ours[0][0]:,}² → {ours[-1][0]:,}²: "
                     f"{b:.2f} (1.00 = constant time per megapixel)")
    return "\n".join(lines)


def write_readme(text: str) -> None:
    path = HERE / "README.md"
    doc = path.read_text(encoding="utf-8")
    if MARK[0] in doc:
        head, rest = doc.split(MARK[0], 1)
        doc = head + MARK[0] + "\n" + text + "\n" + MARK[1] + rest.split(MARK[1], 1)[1]
    else:
        doc += f"\n{MARK[0]}\n{text}\n{MARK[1]}\n"
    path.write_text(doc, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[2500, 5000, 8000, 20000])
    ap.add_argument("--cluster", type=int, nargs="*", default=[8000], help="sizes also run on a LocalCluster")
    ap.add_argument("--naive-max", type=int, default=8000)
    ap.add_argument("--tile", type=int, default=2048)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("ONEMAP_BENCH_DATA", "/tmp/onemap_bench_scale")))
    ap.add_argument("--out", type=Path, default=Path("/tmp/onemap_bench_scale_out"))
    ap.add_argument("--model", nargs="?", const="auto", default=None,
                    help="also run the survey with a trained model ([detect] model) on every size: "
                         "a model file, or none to train one on another county first")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive pipeline")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--child", nargs=4, metavar=("KIND", "ROOT", "OUT", "TILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, root, out, tile = args.child
        print(json.dumps(child(kind, root, out, int(tile))))
        return
    import shutil

    roots = {s: county(args.data, s) for s in sorted(set(args.sizes) | {512})}
    model = None
    if args.model:
        model = county_model(args.data) if args.model == "auto" else Path(args.model).resolve()
    shutil.rmtree(args.out, ignore_errors=True)
    measure("onemap", roots[512], args.out / "warmup", args.tile)  # numba cache, imports
    if model is not None:
        measure(f"model={model}", roots[512], args.out / "warmup_model", args.tile)
    rows = []
    for size in sorted(args.sizes):
        kinds = ["onemap"] + (["model"] if model is not None else []) + (
            ["cluster"] if size in args.cluster else []) + (
            ["naive"] if size <= args.naive_max and not args.no_naive else [])
        for kind in kinds:
            run_kind = f"model={model}" if kind == "model" else kind
            res = measure(run_kind, roots[size], args.out / f"{kind}_{size}", args.tile)
            res.update(size=size, kind=kind)
            rows.append(res)
            print(f"{size:>6}² {kind:8s} {res['wall_s']:7.1f} s  peak {res['peak_rss_gib']:.2f} GiB  "
                  f"cpu {res['cpu_cores']:.2f}  load {res['load'][0]:.1f}->{res['load'][1]:.1f}  {res['stages']}",
                  flush=True)
            shutil.rmtree(args.out / f"{kind}_{size}", ignore_errors=True)
    text = report(rows, args.tile)
    print(text)
    if args.write:
        write_readme(text)


if __name__ == "__main__":
    main()
