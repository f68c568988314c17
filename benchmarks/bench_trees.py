"""The numba tree evaluator (:mod:`onemap.change.trees`) against LightGBM's ``Booster.predict``.

Same feature matrix for both: the pixel features of a synthetic county (``make_county``, 1 024²,
seed 0, 2 m), every pixel with a finite CVA (as ``predict.py`` scores them), ~1e6 rows x 48
columns float32. Models: the detector's (``PIXEL_PARAMS``: 120 trees, 31 leaves), by default
trained on another synthetic county (1 024², seed 1; ``--model`` takes a model file), and a small
16-tree, 15-leaf model fitted to its labels. One thread each, best of ``--repeat`` runs, ours and
LightGBM's timed alternately in the same process (ratios from the same run are what counts).

Timed: ``booster.predict(X, num_threads=1)`` vs ``Ensemble.predict(X)`` (the kept kernel: 8 rows
walk each tree together, branch-free) and two simpler layouts defined here, each row walking all
trees (``rows_outer``) and trees outer over blocks of 512 rows (``trees_outer``); and the
caller's pattern, ``booster.predict(np.ascontiguousarray(f[:, rr, cc].T))`` on a sliced
``(k, h, w)`` view vs ``Ensemble.predict_at(f, rr, cc)`` (no gather copy). Times are the best of
``--repeat`` runs in process CPU seconds (the machine is shared: CPU time is what a loaded
machine distorts least; wall time is printed too).

Usage: ``python benchmarks/bench_trees.py [--data DIR] [--model PATH] [--county DIR] [--rows N]
[--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np


def _county_features(data: Path, rows: int, county: str | None) -> np.ndarray:
    """(k, rows, 1024) float32 features of a synthetic county's top left corner."""
    from onemap.change.features import FeaturePlan
    from onemap.ingest.raster import open_scene
    from onemap.synth import make_county, open_county

    root = Path(county) if county else data / "county_1024"
    c = (open_county(root) if (root / "county.json").is_file()
         else make_county(root, size=1024, seed=0))
    before, after = (open_scene(str(c.paths[k]), masked=False)
                     .isel(y=slice(0, 1024), x=slice(0, 1024)).compute()
                     for k in ("before", "after"))
    return FeaturePlan(before, after).window(0, rows, 0, before.shape[2])


def _model(data: Path, path: str | None):
    from onemap.change.model import load_model

    if path:
        return load_model(path)
    out = data / "trees_model.json"
    if not out.is_file():
        from onemap.change import train_change_model
        from onemap.ingest.raster import open_scene
        from onemap.synth import make_county

        c = make_county(data / "county_train_1024", size=1024, seed=1)
        before, after = (open_scene(str(c.paths[k]), masked=False).compute()
                         for k in ("before", "after"))
        truth = c.truth.copy()
        truth["real"] = truth["change_kind"] == "building"
        train_change_model([(before, after, truth)], seed=0).save(out)
    return load_model(out)


def _best(fn, repeat: int) -> tuple[float, float]:
    """Best (CPU seconds, wall seconds) of *repeat* runs."""
    cpu = wall = np.inf
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu, wall = min(cpu, time.process_time() - c), min(wall, time.perf_counter() - w)
    return cpu, wall


def _shape(ens) -> str:
    return f"{ens.n_trees} trees, {ens.n_leaves / ens.n_trees:.1f} leaves/tree"


def _simple_kernels():
    """The two simpler layouts the kept kernel was measured against (same exact decisions)."""
    from numba import njit

    from onemap.change._tree_kernels import DEFAULT_LEFT, NAN_LEFT, U2, ZERO_MISSING

    @njit(cache=True, nogil=True, inline="always")
    def _walk(buf, base, node, feat, thr, child, flags):
        while child[U2 * node] != node:  # a leaf's children are itself
            v = buf[base + feat[node]]
            right = not (v <= thr[node])
            if v != v:
                right = (flags[node] & NAN_LEFT) == 0
            elif v == 0.0 and (flags[node] & ZERO_MISSING) != 0:
                right = (flags[node] & DEFAULT_LEFT) == 0
            node = child[U2 * node + np.uint32(right)]
        return node

    @njit(cache=True, nogil=True)
    def rows_outer(X, feat, thr, child, flags, value, roots, out):
        n, k = X.shape
        buf = np.empty(k, np.float64)
        for i in range(n):
            for j in range(k):
                buf[j] = X[i, j]
            s = 0.0
            for t in range(roots.size):
                s += value[_walk(buf, np.uint32(0), roots[t], feat, thr, child, flags)]
            out[i] = s

    @njit(cache=True, nogil=True)
    def trees_outer(X, feat, thr, child, flags, value, roots, out):
        n, k = X.shape
        B = 512
        buf = np.empty(B * k, np.float64)
        for i0 in range(0, n, B):
            m = min(B, n - i0)
            for i in range(m):
                for j in range(k):
                    buf[i * k + j] = X[i0 + i, j]
                out[i0 + i] = 0.0
            for t in range(roots.size):
                for i in range(m):
                    node = _walk(buf, np.uint32(i * k), roots[t], feat, thr, child, flags)
                    out[i0 + i] += value[node]

    return rows_outer, trees_outer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("/tmp/onemap_bench_trees"))
    ap.add_argument("--model", default=None, help="a model file (default: train one)")
    ap.add_argument("--county", default=None,
                    help="an existing make_county folder (default: write a 1 024² county)")
    ap.add_argument("--rows", type=int, default=1024, help="image rows of features to score")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)

    import lightgbm as lgb
    import numba

    from onemap.change.train import PIXEL_PARAMS
    from onemap.change.trees import Ensemble

    model = _model(args.data, args.model)
    F = _county_features(args.data, args.rows, args.county)
    names = list(model.header["features"])
    valid = np.isfinite(F[names.index("cva")])
    rr, cc = np.nonzero(valid)
    X = np.ascontiguousarray(F[:, rr, cc].T)
    big = model.booster("pixel")
    p = big.predict(X, num_threads=1)
    sub = np.random.default_rng(0).choice(len(X), min(len(X), 40_000), replace=False)
    small = lgb.train({**PIXEL_PARAMS, "num_leaves": 15, "num_iterations": 16, "verbosity": -1,
                       "num_threads": 1, "seed": 0},
                      lgb.Dataset(X[sub], p[sub] >= model.threshold))
    Fv = np.pad(F, ((0, 0), (2, 2), (2, 2)))[:, 2:-2, 2:-2]  # a sliced view, as predict.py has
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus; python "
          f"{platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
          f"lightgbm {lgb.__version__}; X {X.shape} float32; load average "
          f"{os.getloadavg()[0]:.2f} at start")
    rows_outer, trees_outer = _simple_kernels()
    report = []
    for label, booster in (("detector", big), ("small", small)):
        ens = Ensemble.from_booster(booster)
        want = booster.predict(X, num_threads=1)
        assert np.abs(ens.predict(X) - want).max() <= 1e-12
        assert np.abs(ens.predict_at(Fv, rr, cc) - want).max() <= 1e-12
        # the simple layouts' sums need no NaN handling check here: compared as raw scores
        out = np.empty(len(X))
        arrays = (ens.feat, ens.thr, ens.child, ens.flags, ens.value, ens.roots)
        rows_outer(X, *arrays, out)
        assert np.array_equal(out, booster.predict(X, raw_score=True, num_threads=1))
        trees_outer(X[:10], *arrays, out[:10])
        t = {
            "lightgbm": _best(lambda b=booster: b.predict(X, num_threads=1), args.repeat),
            "ours": _best(lambda e=ens: e.predict(X), args.repeat),
            "rows_outer": _best(lambda a=arrays, o=out: rows_outer(X, *a, o), args.repeat),
            "trees_outer": _best(lambda a=arrays, o=out: trees_outer(X, *a, o), args.repeat),
            "lightgbm+gather": _best(lambda b=booster: b.predict(
                np.ascontiguousarray(Fv[:, rr, cc].T), num_threads=1), args.repeat),
            "predict_at": _best(lambda e=ens: e.predict_at(Fv, rr, cc), args.repeat),
        }
        print(f"\n{label} model ({_shape(ens)}, mean depth of the deepest leaf "
              f"{ens.depth.mean():.1f}), {len(X):,} rows, load {os.getloadavg()[0]:.2f}:")
        for k, (cpu, wall) in t.items():
            print(f"  {k:16s} cpu {cpu:7.3f} s  {cpu / len(X) * 1e6:6.3f} us/row   "
                  f"wall {wall:7.3f} s")
        r = {k: t["lightgbm"][0] / t[k][0] for k in ("ours", "rows_outer", "trees_outer")}
        r["predict_at"] = t["lightgbm+gather"][0] / t["predict_at"][0]
        line = (f"LightGBM / ours (CPU time): predict {r['ours']:.2f}x, rows_outer "
                f"{r['rows_outer']:.2f}x, trees_outer {r['trees_outer']:.2f}x; gather + LightGBM "
                f"/ predict_at {r['predict_at']:.2f}x")
        print("  " + line)
        report.append(f"{label}: {line}")
    print(f"\nload average at the end {os.getloadavg()}")

if __name__ == "__main__":
    main()
