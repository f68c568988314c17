"""Labelling, morphology and threshold kernels side by side with scipy.ndimage and skimage.

Run ``python benchmarks/bench_change.py`` (full: 4 000² and 16 000² masks) or with ``--quick``
(2 000² only). Every comparison checks that both sides give the same result, then times them
interleaved (ours, peer, ours, peer, ...) and reports medians and the peer/ours ratio (> 1 means
onemap is faster). Import and call :func:`main` from another script.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from typing import Callable

import numba
import numpy as np
import scipy
import scipy.ndimage as ndi
import skimage
from skimage.filters import threshold_otsu
from skimage.measure import label as sk_label
from skimage.morphology import remove_small_objects

from onemap.change.label import label, label_stats, label_tiled
from onemap.change.morphology import binary_closing, binary_opening, fill_holes, remove_small
from onemap.change.threshold import otsu

SQUARE = np.ones((3, 3), bool)


def field(n: int, sigma: float, seed: int) -> np.ndarray:
    """Smooth random field (float32); large ones are tiled from 4 000² pieces with flips."""
    rng = np.random.default_rng(seed)
    if n <= 4000:
        return ndi.gaussian_filter(rng.standard_normal((n, n), np.float32), sigma)
    k = -(-n // 4000)
    pieces = [ndi.gaussian_filter(rng.standard_normal((4000, 4000), np.float32), sigma) for _ in range(4)]
    rows = []
    for i in range(k):
        row = []
        for j in range(k):
            p = pieces[(i * k + j) % 4]
            row.append(p[::-1] if (i + j) % 2 else p[:, ::-1] if i % 2 else p)
        rows.append(np.concatenate(row, axis=1))
    return np.ascontiguousarray(np.concatenate(rows, axis=0)[:n, :n])


def blobs(n: int, frac: float, sigma: float = 3.0, seed: int = 0) -> np.ndarray:
    f = field(n, sigma, seed)
    return f > np.quantile(f[::13, ::13], 1 - frac)


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def compare(rows: list[dict], case: str, ours: Callable, peers: dict[str, Callable], repeats: int) -> None:
    ours()  # compile / warm caches
    for p in peers.values():
        p()
    times = {"onemap": []} | {k: [] for k in peers}
    for _ in range(repeats):  # interleaved: each repeat sees the same machine load
        times["onemap"] += timed(ours, 1)
        for k, p in peers.items():
            times[k] += timed(p, 1)
    med = {k: float(np.median(v)) for k, v in times.items()}
    for k in peers:
        rows.append({"case": case, "peer": k, "onemap_s": med["onemap"], "peer_s": med[k],
                     "ratio": med[k] / med["onemap"]})
        print(f"{case:<44} {k:<28} onemap {med['onemap'] * 1e3:9.1f} ms   peer {med[k] * 1e3:9.1f} ms"
              f"   peer/onemap {med[k] / med['onemap']:5.2f}x", flush=True)


def check_label(mask: np.ndarray, conn: int) -> None:
    ours, n = label(mask, conn)
    theirs, m = ndi.label(mask, SQUARE if conn == 8 else None)
    assert n == m and np.array_equal(ours, theirs), "labels differ from scipy"


def bench_label(rows: list[dict], n: int, repeats: int, big: bool) -> None:
    cases = [(f"{n}² blobs 1% (8-conn)", blobs(n, 0.01), 8),
             (f"{n}² blobs 1% (4-conn)", None, 4),
             (f"{n}² blobs 30% (8-conn)", blobs(n, 0.30, seed=1), 8),
             (f"{n}² noise 50% (8-conn, worst case)", np.random.default_rng(2).random((n, n)) < 0.5, 8)]
    cases[1] = (cases[1][0], cases[0][1], 4)
    for case, mask, conn in cases:
        check_label(mask, conn)
        st = SQUARE if conn == 8 else None
        compare(rows, "label " + case, lambda: label(mask, conn),
                {"scipy.ndimage.label": lambda: ndi.label(mask, st),
                 "skimage.measure.label": lambda: sk_label(mask, connectivity=2 if conn == 8 else 1)}, repeats)
    mask = cases[0][1]
    tiled, _ = label_tiled(mask, 1024)
    assert np.array_equal(tiled, label(mask)[0])
    compare(rows, f"label_tiled {n}² blobs 1%, 1024² tiles", lambda: label_tiled(mask, 1024),
            {"scipy.ndimage.label (untiled)": lambda: ndi.label(mask, SQUARE)}, repeats)
    labels, k = label(mask)
    score = field(n, 1.0, 3)
    idx = np.arange(1, k + 1)

    def scipy_stats():
        ndi.find_objects(labels)
        ndi.sum_labels(np.ones(labels.shape, np.float32), labels, idx)
        ndi.center_of_mass(mask, labels, idx)
        ndi.mean(score, labels, idx)
        ndi.maximum(score, labels, idx)

    compare(rows, f"label_stats {n}² blobs 1% (bbox, area, centroid, score)",
            lambda: label_stats(labels, k, score=score),
            {"scipy.ndimage (5 calls)": scipy_stats}, repeats)
    if big:
        m = 16000
        mask = blobs(m, 0.01, seed=4)
        check_label(mask, 8)
        compare(rows, f"label {m}² blobs 1% (8-conn)", lambda: label(mask, 8),
                {"scipy.ndimage.label": lambda: ndi.label(mask, SQUARE),
                 "skimage.measure.label": lambda: sk_label(mask, connectivity=2)}, max(3, repeats // 2))
        del mask


def bench_morphology(rows: list[dict], n: int, repeats: int) -> None:
    mask = blobs(n, 0.30, sigma=2.0, seed=5) ^ (np.random.default_rng(6).random((n, n)) < 0.02)
    for radius, kind in [(1, "square"), (2, "square"), (1, "cross")]:
        st = (np.ones((2 * radius + 1,) * 2, bool) if kind == "square"
              else ndi.iterate_structure(ndi.generate_binary_structure(2, 1), radius))
        for name, ours, theirs in [("opening", binary_opening, ndi.binary_opening),
                                   ("closing", binary_closing, ndi.binary_closing)]:
            assert np.array_equal(ours(mask, radius, kind), theirs(mask, st))
            compare(rows, f"{name} {n}² r={radius} {kind}", lambda: ours(mask, radius, kind),
                    {f"scipy.ndimage.binary_{name}": lambda: theirs(mask, st)}, repeats)
    assert np.array_equal(fill_holes(mask), ndi.binary_fill_holes(mask))
    compare(rows, f"fill_holes {n}²", lambda: fill_holes(mask),
            {"scipy.ndimage.binary_fill_holes": lambda: ndi.binary_fill_holes(mask)}, repeats)
    assert np.array_equal(remove_small(mask, 10), remove_small_objects(mask, max_size=9, connectivity=2))
    compare(rows, f"remove_small {n}² (< 10 px)", lambda: remove_small(mask, 10),
            {"skimage remove_small_objects": lambda: remove_small_objects(mask, max_size=9, connectivity=2)},
            repeats)


def bench_threshold(rows: list[dict], n: int, repeats: int) -> None:
    values = field(n, 2.0, 7)
    assert otsu(values) == threshold_otsu(values)
    compare(rows, f"otsu {n}² float32", lambda: otsu(values),
            {"skimage threshold_otsu": lambda: threshold_otsu(values)}, repeats)
    ints = (values * 1000 + 5000).astype(np.uint16)
    assert otsu(ints) == threshold_otsu(ints)
    compare(rows, f"otsu {n}² uint16", lambda: otsu(ints),
            {"skimage threshold_otsu": lambda: threshold_otsu(ints)}, repeats)


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"nproc {os.cpu_count()}, numba threads {numba.get_num_threads()} ({numba.threading_layer()}), "
            f"{cpu}; Python {sys.version.split()[0]}, numpy {np.__version__}, numba {numba.__version__}, "
            f"scipy {scipy.__version__}, scikit-image {skimage.__version__}; "
            f"load average {os.getloadavg()[0]:.1f}")


def main(quick: bool = False) -> list[dict]:
    """Run every comparison; returns rows of {case, peer, onemap_s, peer_s, ratio}."""
    n = 2000 if quick else 4000
    repeats = 3 if quick else 7
    rows: list[dict] = []
    label(np.ones((2, 2), bool))  # start the thread pool before the first timing
    print("machine:", machine(), flush=True)
    bench_label(rows, n, repeats, big=not quick)
    bench_morphology(rows, n, repeats)
    bench_threshold(rows, n, repeats)
    print("machine:", machine())
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 000² only, 3 repeats")
    main(ap.parse_args().quick)
