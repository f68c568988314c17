"""Numba kernels of the neighbourhood features: window statistics and PanTex texture in exact
fixed-point integer arithmetic, densely or at chosen pixels only.

Fixed point
-----------
A channel value ``v`` (in noise sigmas or robust z units) becomes the integer
``q = floor(clip(v, -VMAX, VMAX) * 2**Q + 0.5)`` with ``Q = 12`` (resolution 1/4096 ~ 2.4e-4)
and ``VMAX = 2**15 = 32768``: ``|q| <= 2**27``. Values beyond +-VMAX (and +-inf) are clipped to
it -- a pixel 32 768 noise sigmas away from its neighbours is an outlier whatever its exact
value, and the clip is what keeps every window sum exact. Bounds that follow:

* window statistics (radius <= 15, at most 961 pixels): the sum of ``q + 2**27`` (offset so it
  is non-negative) is below ``961 * 2**28 < 2**38``, the sum of ``q**2`` below
  ``961 * 2**54 < 2**64``;
* PanTex (7 x 7 window, at most 42 pairs per displacement): ``(q_a - q_b)**2 <= 2**56``, the
  sum below ``42 * 2**56 < 2**62``.

Integral images (summed-area tables) are ``uint64`` and may wrap around modulo ``2**64`` over
a large block: a window's 4-corner difference, also taken modulo ``2**64`` (numba's ``uint64``
arithmetic is LLVM's modular ``add``/``sub``, tested in ``tests/change/test_features.py``), is
the true window sum because that sum lies in ``[0, 2**64)``. Every window sum is therefore an
exact integer whatever the block or tiling, and the dense kernels (integral images) and the
per-pixel kernels (direct sums at the requested pixels) give bit-identical features: the final
float arithmetic is one shared function of the exact integers.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

F32 = np.float32
NAN = np.float32(np.nan)

Q = 12
SCALE = float(2**Q)
VMAX = float(2**15)
QMAX = 2**27  # = VMAX * 2**Q, the largest |q|
QNAN = -(2**62)  # quantised NaN (outside +-QMAX)
_U0 = np.uint64(0)
_U1 = np.uint64(1)

# PanTex displacements (row, col): lags 1 and 2 in four directions
PANTEX_OFFSETS = np.array(
    [[0, 1], [1, 0], [1, 1], [1, -1], [0, 2], [2, 0], [2, 2], [2, -2]], np.int64
)


@njit(cache=True, inline="always")
def _quant(v):
    """Fixed-point value of a non-NaN float (clipped to +-VMAX)."""
    x = min(max(float(v) * SCALE, -float(QMAX)), float(QMAX))
    return np.int64(math.floor(x + 0.5))


@njit(cache=True, nogil=True)
def quantise_kernel(src, out):
    """``out[i, j]`` = the fixed-point value of ``src[i, j]`` (int64), :data:`QNAN` for NaN."""
    h, w = src.shape
    for i in range(h):
        for j in range(w):
            v = src[i, j]
            out[i, j] = _quant(v) if v == v else QNAN


@njit(cache=True, nogil=True)
def integrals_kernel(q, t):
    """Integral images ``t`` ``(h+1, w+1, 3)`` uint64 of a quantised ``(h, w)`` array:
    ``t[..., 0]`` valid count, ``t[..., 1]`` value ``q + QMAX`` (non-negative), ``t[..., 2]``
    ``q**2`` (interleaved: a window corner is one cache line). Entry ``[i, j]`` sums rows
    ``< i``, columns ``< j``; sums wrap modulo 2**64 (see the module docstring)."""
    h, w = q.shape
    for j in range(w + 1):
        for c in range(3):
            t[0, j, c] = _U0
    for i in range(h):
        rn = _U0
        rv = _U0
        rq = _U0
        for c in range(3):
            t[i + 1, 0, c] = _U0
        for j in range(w):
            x = q[i, j]
            if x != QNAN:
                rn += _U1
                rv += np.uint64(x + QMAX)
                rq += np.uint64(x * x)
            t[i + 1, j + 1, 0] = t[i, j + 1, 0] + rn
            t[i + 1, j + 1, 1] = t[i, j + 1, 1] + rv
            t[i + 1, j + 1, 2] = t[i, j + 1, 2] + rq


@njit(cache=True, inline="always")
def _rect(t, i0, i1, j0, j1, c):
    """Sum over rows ``i0:i1``, columns ``j0:j1`` from integral image ``t[..., c]``
    (modulo 2**64)."""
    return t[i1, j1, c] - t[i0, j1, c] - t[i1, j0, c] + t[i0, j0, c]


@njit(cache=True, inline="always")
def _stats(n, s, sq):
    """Mean and standard deviation (float32) from the exact count, offset sum and square sum."""
    nf = float(n)
    mean = float(np.int64(s) - np.int64(n) * QMAX) / nf / SCALE
    var = float(sq) / nf / (SCALE * SCALE) - mean * mean
    return F32(mean), F32(math.sqrt(max(var, 0.0)))


@njit(cache=True, inline="always")
def _stats_px(q, t, radius, i, j):
    h, w = q.shape
    if q[i, j] == QNAN:
        return NAN, NAN
    i0, i1 = max(i - radius, 0), min(i + radius + 1, h)
    j0, j1 = max(j - radius, 0), min(j + radius + 1, w)
    return _stats(_rect(t, i0, i1, j0, j1, 0), _rect(t, i0, i1, j0, j1, 1),
                  _rect(t, i0, i1, j0, j1, 2))


@njit(cache=True, nogil=True)
def window_stats_kernel(q, t, radius, mean, std):
    """Mean and standard deviation ``(h, w)`` float32 of the ``(2r+1)²`` window around every
    pixel of quantised *q* (NaN skipped, window clipped to the array; NaN at a NaN centre),
    from the integral images *t* of :func:`integrals_kernel`."""
    h, w = q.shape
    for i in range(h):
        for j in range(w):
            mean[i, j], std[i, j] = _stats_px(q, t, radius, i, j)


@njit(cache=True, nogil=True)
def window_stats_at_kernel(q, t, radius, rows, cols, mean, std):
    """:func:`window_stats_kernel` at pixels ``(rows[p], cols[p])`` only: ``mean[p]``,
    ``std[p]``."""
    for p in range(rows.size):
        mean[p], std[p] = _stats_px(q, t, radius, rows[p], cols[p])


@njit(cache=True, inline="always")
def _pair_rect(i, j, radius, dy, dx, h, w):
    """Rows/columns of the pixels x with x and x + (dy, dx) both in the window of (i, j)."""
    i0 = max(i - radius + max(0, -dy), 0)
    i1 = min(i + radius - max(0, dy) + 1, h)
    j0 = max(j - radius + max(0, -dx), 0)
    j1 = min(j + radius - max(0, dx) + 1, w)
    return i0, i1, j0, j1


@njit(cache=True, inline="always")
def _contrast(best, n, s):
    """Running minimum (float32) of the mean squared difference ``s / n`` in value units."""
    if n == 0:
        return best
    return min(best, F32(float(s) / float(n) / (SCALE * SCALE)))


@njit(cache=True, nogil=True)
def pantex_kernel(q, radius, offsets, out):
    """PanTex built-up texture of quantised grey levels *q*: the minimum over displacements of
    the GLCM contrast in the ``(2r+1)²`` window around each pixel (Pesaresi et al. 2008).

    The contrast of displacement ``d`` is the mean of ``(g(x) - g(x+d))²`` over the pixel pairs
    with both ``x`` and ``x+d`` in the window (the symmetric GLCM's contrast; with continuous
    grey levels, i.e. the limit of fine quantisation). Pairs with a NaN end are skipped. Built
    structures are contrasted in every direction, so their minimum stays high, while fields and
    roads are smooth along at least one direction. Dense: one integral image of the squared
    differences per displacement.
    """
    h, w = q.shape
    t = np.empty((h + 1, w + 1, 2), np.uint64)  # count and sum of squared differences
    for i in range(h):
        for j in range(w):
            out[i, j] = np.inf
    for k in range(offsets.shape[0]):
        dy = offsets[k, 0]
        dx = offsets[k, 1]
        for j in range(w + 1):
            t[0, j, 0] = _U0
            t[0, j, 1] = _U0
        for i in range(h):
            rn = _U0
            rs = _U0
            t[i + 1, 0, 0] = _U0
            t[i + 1, 0, 1] = _U0
            ii = i + dy
            for j in range(w):
                jj = j + dx
                if 0 <= ii < h and 0 <= jj < w:
                    a = q[i, j]
                    b = q[ii, jj]
                    if a != QNAN and b != QNAN:
                        rn += _U1
                        rs += np.uint64((a - b) * (a - b))
                t[i + 1, j + 1, 0] = t[i, j + 1, 0] + rn
                t[i + 1, j + 1, 1] = t[i, j + 1, 1] + rs
        for i in range(h):
            for j in range(w):
                i0, i1, j0, j1 = _pair_rect(i, j, radius, dy, dx, h, w)
                if i0 < i1 and j0 < j1:
                    out[i, j] = _contrast(out[i, j], _rect(t, i0, i1, j0, j1, 0),
                                          _rect(t, i0, i1, j0, j1, 1))
    for i in range(h):
        for j in range(w):
            if q[i, j] == QNAN or out[i, j] == np.inf:
                out[i, j] = NAN


@njit(cache=True, nogil=True)
def pantex_at_kernel(qp, pad, radius, offsets, rows, cols, out):
    """:func:`pantex_kernel` at pixels ``(rows[p], cols[p])`` only, by direct sums: ``out[p]``.

    *qp* is the quantised grey image padded with :data:`QNAN` by ``pad >= radius + max lag``
    pixels on every side (no bounds tests: a pair reaching past the image meets a NaN end,
    exactly the pairs the dense kernel leaves out); *rows*, *cols* index the unpadded image.
    """
    lag = 0
    ylo, yhi, xlo, xhi = 0, 0, 0, 0  # the displacements' extent: the reach of the pairs
    for k in range(offsets.shape[0]):
        lag = max(lag, abs(offsets[k, 0]), abs(offsets[k, 1]))
        ylo, yhi = min(ylo, offsets[k, 0]), max(yhi, offsets[k, 0])
        xlo, xhi = min(xlo, offsets[k, 1]), max(xhi, offsets[k, 1])
    if pad < radius + lag:
        raise ValueError("pantex_at_kernel: pad < radius + largest displacement")
    for p in range(rows.size):
        i = rows[p] + pad
        j = cols[p] + pad
        if qp[i, j] == QNAN:
            out[p] = NAN
            continue
        # the common case, no NaN end in reach: every pair counts, no test per pair
        full = True
        for y in range(i - radius + ylo, i + radius + yhi + 1):
            for x in range(j - radius + xlo, j + radius + xhi + 1):
                full &= qp[y, x] != QNAN
        best = F32(np.inf)
        for k in range(offsets.shape[0]):
            dy = offsets[k, 0]
            dx = offsets[k, 1]
            n = _U0
            s = _U0
            y0, y1 = i - radius + max(0, -dy), i + radius - max(0, dy) + 1
            x0, x1 = j - radius + max(0, -dx), j + radius - max(0, dx) + 1
            if full:
                n = np.uint64((y1 - y0) * (x1 - x0))
                for y in range(y0, y1):
                    for x in range(x0, x1):
                        d = qp[y, x] - qp[y + dy, x + dx]
                        s += np.uint64(d * d)
            else:
                for y in range(y0, y1):
                    for x in range(x0, x1):
                        a = qp[y, x]
                        b = qp[y + dy, x + dx]
                        ok = (a != QNAN) & (b != QNAN)
                        d = a - b if ok else np.int64(0)
                        n += np.uint64(ok)
                        s += np.uint64(d * d)
            best = _contrast(best, n, s)
        out[p] = NAN if best == np.inf else best
