"""The per-pixel change chain (normalise -> score -> threshold) against the memory-bandwidth bound.

Data: two dates x 4 bands x N² uint16 (default N = 8 000: 1.02 GB in). The chain is what
:func:`onemap.detect_changes` runs per pixel for ``method="construction"``: apply the date-2
gain/offset, compute NDVI, brightness and soil redness of both dates, the construction evidence
with its vegetation and water gates, and compare with the threshold.

Measured in the same run, interleaved and repeated (medians reported):

* ``copy 1 core`` / ``copy 2 cores``: ``numpy.copyto`` of the same 1.02 GB (on two threads for
  the second, each copying half): the streaming bound.
* ``fused -> mask``: one numba loop, 2 threads, reads both dates and writes a uint8 mask.
* ``fused -> score``: the same loop writing the float32 score (what ``detect_changes`` keeps for
  patch statistics); then ``score > t`` as a second pass.
* ``numpy ufuncs``: the same arithmetic as a chain of NumPy ufuncs with temporaries (the peer
  implementation), run on a quarter of the rows and compared per pixel.
* ``xrspatial ndvi`` vs ``onemap ndvi``: one index of one date, a peer with a numba kernel.

Two fractions of the bound are reported: *of copy bound* = time of the two-core copy of the
input bytes / time of the chain (the chain has to stream its input at least once; this is the
convention of "~11 GB/s on one core, ~20 GB/s on two" = bytes copied per second), and the
stricter *of traffic bound* = (bytes the chain reads and writes / the copy's read+write rate) /
time.
Usage: ``python benchmarks/bench_pixel_chain.py [--size 8000] [--repeat 5] [--write]``;
``--write`` puts the report between the ``pixel-chain`` markers of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
from contextlib import redirect_stdout
from pathlib import Path
import statistics
import threading
import time

import numba
import numpy as np

from onemap import _compute as C
from onemap.change import _kernels as K

ROLES = np.array([0, 1, 2, 3, -1], np.int64)  # blue green red nir, no swir
GAIN = np.array([0.8, 0.83, 0.87, 0.9, 1.0])
OFFSET = np.array([-20.0, -15.0, -10.0, 5.0, 0.0])
SIGMA = np.array([0.08, 0.03, 0.04, 1.0], np.float32)
THRESHOLD = 2.0


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two dates of plausible GF-2-like DNs (vegetation-dominated, with texture), C-contiguous."""
    rng = np.random.default_rng(seed)
    base = np.array([300, 700, 400, 4000], np.float32)[:, None]
    out = []
    for _ in range(2):
        d = np.empty((4, n, n), np.uint16)
        for r0 in range(0, n, 500):  # fill in slabs to keep the temporary small
            r1 = min(n, r0 + 500)
            noise = rng.random((4, (r1 - r0) * n), np.float32) * 1.5 + 0.25
            d[:, r0:r1] = (base * noise).reshape(4, r1 - r0, n).astype(np.uint16)
        out.append(d)
    return out[0], out[1]


def copy_two_threads(src: np.ndarray, dst: np.ndarray) -> None:
    half = src.size // 2
    s, d = src.reshape(-1), dst.reshape(-1)
    t = threading.Thread(target=np.copyto, args=(d[:half], s[:half]))
    t.start()
    np.copyto(d[half:], s[half:])
    t.join()


def numpy_chain(b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """The construction chain as NumPy ufuncs (the same formula, float32 temporaries)."""
    f = np.float32
    x1 = [b1[k].astype(f) for k in range(4)]
    x2 = [b2[k].astype(f) * f(GAIN[k]) + f(OFFSET[k]) for k in range(4)]

    def nd(a, b):
        s = a + b
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(s != 0, (a - b) / s, f(0))

    def ramp(x, lo, hi):
        return np.clip((x - f(lo)) * f(1 / (hi - lo)), 0, 1)

    # the kernel's formula (onemap.change._kernels._construction_px with blue and NIR, no SWIR):
    # change-vector length of vegetation loss, brightness gain and greying, gated by what the
    # pixel is after (still vegetated) and by water at either date
    v1, v2 = nd(x1[3], x1[2]), nd(x2[3], x2[2])
    dv = np.maximum((v1 - v2) * f(1 / SIGMA[0]), 0)
    br1 = (x1[0] + x1[1] + x1[2]) / f(3)
    br2 = (x2[0] + x2[1] + x2[2]) / f(3)
    db = np.maximum(nd(br2, br1) * f(1 / SIGMA[1]), 0)
    dq = (nd(x1[2], x1[0]) - nd(x2[2], x2[0])) * f(1 / SIGMA[2])
    e = np.sqrt(dv * dv + db * db + dq * dq)
    still_veg = ramp(v2, 0.3, 0.6)
    w1 = ramp(np.minimum(nd(x1[1], x1[3]), -v1), 0, 0.15)
    w2 = ramp(np.minimum(nd(x2[1], x2[3]), -v2), 0, 0.15)
    e *= (1 - still_veg) * (1 - np.maximum(w1, w2))
    return e > f(THRESHOLD)


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=8000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--write", action="store_true", help="put the report into benchmarks/README.md")
    args = ap.parse_args()
    buf = io.StringIO()
    with redirect_stdout(Tee(buf, sys.stdout)):
        run(args.size, args.repeat)
    if args.write:
        write_readme(buf.getvalue())


class Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for st in self.streams:
            st.write(text)
        return len(text)


def write_readme(report: str) -> None:
    begin, end = "<!-- pixel-chain:begin -->", "<!-- pixel-chain:end -->"
    path = Path(__file__).resolve().parent / "README.md"
    content = path.read_text(encoding="utf-8")  # re-read right before writing: others edit it too
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(head + begin + "\n```text\n" + report.strip() + "\n```\n" + end + tail, encoding="utf-8")


def run(n: int, rep: int) -> None:
    print(f"load average before the run: {os.getloadavg()[0]:.1f} (shared machine)")
    print(f"machine: {os.cpu_count()} CPUs, kernel threads {C.threads()} (nogil row strips), "
          f"Python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}")
    t0 = time.perf_counter()
    b1, b2 = make_data(n)
    print(f"data: 2 dates x 4 bands x {n}² uint16 = {(b1.nbytes + b2.nbytes) / 1e9:.3f} GB "
          f"(made in {time.perf_counter() - t0:.1f} s)")
    src = np.concatenate([b1.reshape(-1), b2.reshape(-1)])
    dst = np.empty_like(src)
    mask = np.empty((n, n), np.uint8)
    score = np.empty((n, n), np.float32)

    def strips(call, threads):
        if threads == 1:
            with C.serial():
                C.run_strips(call, n, n)
        else:
            C.run_strips(call, n, n)

    def fused_mask(threads=None):
        strips(lambda r0, r1: K.construction_mask_kernel(b1, b2, ROLES, GAIN, OFFSET, SIGMA, np.nan,
                                                          np.nan, THRESHOLD, r0, r1, mask), threads)

    def fused_score(threads=None):
        strips(lambda r0, r1: K.construction_kernel(b1, b2, ROLES, GAIN, OFFSET, SIGMA, np.nan,
                                                     np.nan, r0, r1, score), threads)

    # warm up (compilation) and check the fused mask against the NumPy chain on a slab
    fused_mask()
    fused_score()
    q = max(1, n // 4)
    ref = numpy_chain(b1[:, :q], b2[:, :q])
    agree = float((ref == mask[:q].astype(bool)).mean())
    print(f"fused mask = NumPy chain on {agree * 100:.4f} % of the checked pixels; "
          f"changed {100 * mask.mean():.2f} %")

    times: dict[str, list[float]] = {k: [] for k in ("copy1", "copy2", "mask2", "mask1", "score2", "thr", "numpy")}
    for _ in range(rep):  # interleaved rounds: machine noise hits every variant alike
        times["copy1"] += timed(lambda: np.copyto(dst, src), 1)
        times["copy2"] += timed(lambda: copy_two_threads(src, dst), 1)
        times["mask2"] += timed(fused_mask, 1)
        times["mask1"] += timed(lambda: fused_mask(1), 1)
        times["score2"] += timed(fused_score, 1)
        times["thr"] += timed(lambda: np.greater(score, np.float32(THRESHOLD), out=mask.view(bool)), 1)
    for _ in range(max(1, rep // 2)):
        times["numpy"] += timed(lambda: numpy_chain(b1[:, :q], b2[:, :q]), 1)
    med = {k: statistics.median(v) for k, v in times.items()}
    inb = b1.nbytes + b2.nbytes
    rate1, rate2 = src.nbytes / med["copy1"], src.nbytes / med["copy2"]  # bytes copied per second
    print(f"\ncopy of the same {inb / 1e9:.3f} GB: 1 core {med['copy1']:.3f} s ({rate1 / 1e9:.1f} GB/s copied, "
          f"{2 * rate1 / 1e9:.1f} GB/s read+write), 2 cores {med['copy2']:.3f} s ({rate2 / 1e9:.1f} GB/s copied, "
          f"{2 * rate2 / 1e9:.1f} GB/s read+write)")
    rows = [
        ("fused -> mask, 2 threads", med["mask2"], inb + mask.nbytes),
        ("fused -> mask, 1 thread", med["mask1"], inb + mask.nbytes),
        ("fused -> score, 2 threads", med["score2"], inb + score.nbytes),
        ("fused score + (score > t)", med["score2"] + med["thr"], inb + 2 * score.nbytes + mask.nbytes),
        ("NumPy ufunc chain (per pixel, scaled)", med["numpy"] * n / q, inb + mask.nbytes),
    ]
    print("\n'of copy bound' = time of the 2-core copy of the same input bytes / time (the chain must at least\n"
          "stream its input once); 'of traffic bound' = (bytes read + written / 2-core read+write rate) / time.")
    print(f"\n{'variant':40s} {'time s':>7s} {'Mpx/s':>7s} {'in GB/s':>8s} {'of copy bound':>14s} "
          f"{'of traffic bound':>17s}")
    for name, t, moved in rows:
        print(f"{name:40s} {t:7.3f} {n * n / t / 1e6:7.0f} {inb / t / 1e9:8.2f} {100 * med['copy2'] / t:13.1f} % "
              f"{100 * moved / (2 * rate2) / t:16.1f} %")
    print(f"\nNumPy chain / fused mask (2 threads): {med['numpy'] * n / q / med['mask2']:.1f}x; "
          f"fused 2 threads vs 1: {med['mask1'] / med['mask2']:.2f}x")
    _peer_ndvi(b1, rep)


def _peer_ndvi(b1: np.ndarray, rep: int) -> None:
    try:
        import xarray as xr
        from xrspatial.multispectral import ndvi as xrs_ndvi
    except ImportError:
        print("xarray-spatial not installed: peer NDVI skipped")
        return
    from onemap.change.indices import ndvi

    scene = xr.DataArray(b1, dims=("band", "y", "x"), coords={"band": ["blue", "green", "red", "nir"]})
    nir, red = scene.sel(band="nir"), scene.sel(band="red")
    ours, peer = [], []
    ndvi(scene)
    xrs_ndvi(nir, red)
    for _ in range(rep):
        ours += timed(lambda: ndvi(scene), 1)
        peer += timed(lambda: xrs_ndvi(nir, red), 1)
    a, b = np.asarray(ndvi(scene)), np.asarray(xrs_ndvi(nir, red))
    same = np.allclose(a, b, atol=1e-5, equal_nan=True)
    o, p = statistics.median(ours), statistics.median(peer)
    print(f"NDVI of one date ({b1.shape[1]}²): onemap {o:.3f} s, xarray-spatial {p:.3f} s, ratio {p / o:.1f}x "
          f"(same values: {same})")


if __name__ == "__main__":
    main()
