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
def integrals_kernel(q, count, value, square):
    """Integral images ``(h+1, w+1)`` uint64 of a quantised ``(h, w)`` array: valid count, value
    ``q + QMAX`` (non-negative) and ``q**2``; entry ``[i, j]`` sums rows ``< i``, columns ``< j``.
    Sums wrap modulo 2**64 (see the module docstring)."""
    h, w = q.shape
    for j in range(w + 1):
        count[0, j] = _U0
        value[0, j] = _U0
        square[0, j] = _U0
    for i in range(h):
        rn = _U0
        rv = _U0
        rq = _U0
        count[i + 1, 0] = _U0
        value[i + 1, 0] = _U0
        square[i + 1, 0] = _U0
        for j in range(w):
            x = q[i, j]
            if x != QNAN:
                rn += _U1
                rv += np.uint64(x + QMAX)
                rq += np.uint64(x * x)
            count[i + 1, j + 1] = count[i, j + 1] + rn
            value[i + 1, j + 1] = value[i, j + 1] + rv
            square[i + 1, j + 1] = square[i, j + 1] + rq


@njit(cache=True, inline="always")
def _rect(t, i0, i1, j0, j1):
    """Sum over rows ``i0:i1``, columns ``j0:j1`` from integral image *t* (modulo 2**64)."""
    return t[i1, j1] - t[i0, j1] - t[i1, j0] + t[i0, j0]


@njit(cache=True, inline="always")
def _stats(n, s, sq):
    """Mean and standard deviation (float32) from the exact count, offset sum and square sum."""
    nf = float(n)
    mean = float(np.int64(s) - np.int64(n) * QMAX) / nf / SCALE
    var = float(sq) / nf / (SCALE * SCALE) - mean * mean
    return F32(mean), F32(math.sqrt(max(var, 0.0)))


@njit(cache=True, inline="always")
def _stats_px(q, count, value, square, radius, i, j):
    h, w = q.shape
    if q[i, j] == QNAN:
        return NAN, NAN
    i0, i1 = max(i - radius, 0), min(i + radius + 1, h)
    j0, j1 = max(j - radius, 0), min(j + radius + 1, w)
    n = _rect(count, i0, i1, j0, j1)
    return _stats(n, _rect(value, i0, i1, j0, j1), _rect(square, i0, i1, j0, j1))


@njit(cache=True, nogil=True)
def window_stats_kernel(q, count, value, square, radius, mean, std):
    """Mean and standard deviation ``(h, w)`` float32 of the ``(2r+1)²`` window around every
    pixel of quantised *q* (NaN skipped, window clipped to the array; NaN at a NaN centre),
    from the integral images of :func:`integrals_kernel`."""
    h, w = q.shape
    for i in range(h):
        for j in range(w):
            mean[i, j], std[i, j] = _stats_px(q, count, value, square, radius, i, j)


@njit(cache=True, nogil=True)
def window_stats_at_kernel(q, count, value, square, radius, rows, cols, mean, std):
    """:func:`window_stats_kernel` at pixels ``(rows[p], cols[p])`` only: ``mean[p]``,
    ``std[p]``."""
    for p in range(rows.size):
        mean[p], std[p] = _stats_px(q, count, value, square, radius, rows[p], cols[p])


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
    cnt = np.empty((h + 1, w + 1), np.uint64)
    tot = np.empty((h + 1, w + 1), np.uint64)
    for i in range(h):
        for j in range(w):
            out[i, j] = np.inf
    for k in range(offsets.shape[0]):
        dy = offsets[k, 0]
        dx = offsets[k, 1]
        for j in range(w + 1):
            cnt[0, j] = _U0
            tot[0, j] = _U0
        for i in range(h):
            rn = _U0
            rs = _U0
            cnt[i + 1, 0] = _U0
            tot[i + 1, 0] = _U0
            ii = i + dy
            for j in range(w):
                jj = j + dx
                if 0 <= ii < h and 0 <= jj < w:
                    a = q[i, j]
                    b = q[ii, jj]
                    if a != QNAN and b != QNAN:
                        rn += _U1
                        rs += np.uint64((a - b) * (a - b))
                cnt[i + 1, j + 1] = cnt[i, j + 1] + rn
                tot[i + 1, j + 1] = tot[i, j + 1] + rs
        for i in range(h):
            for j in range(w):
                i0, i1, j0, j1 = _pair_rect(i, j, radius, dy, dx, h, w)
                if i0 < i1 and j0 < j1:
                    out[i, j] = _contrast(out[i, j], _rect(cnt, i0, i1, j0, j1),
                                          _rect(tot, i0, i1, j0, j1))
    for i in range(h):
        for j in range(w):
            if q[i, j] == QNAN or out[i, j] == np.inf:
                out[i, j] = NAN


@njit(cache=True, nogil=True)
def pantex_at_kernel(q, radius, offsets, rows, cols, out):
    """:func:`pantex_kernel` at pixels ``(rows[p], cols[p])`` only (direct sums): ``out[p]``."""
    h, w = q.shape
    for p in range(rows.size):
        i = rows[p]
        j = cols[p]
        best = F32(np.inf)
        if q[i, j] == QNAN:
            out[p] = NAN
            continue
        for k in range(offsets.shape[0]):
            dy = offsets[k, 0]
            dx = offsets[k, 1]
            i0, i1, j0, j1 = _pair_rect(i, j, radius, dy, dx, h, w)
            n = _U0
            s = _U0
            for y in range(i0, i1):
                if not 0 <= y + dy < h:
                    continue
                for x in range(j0, j1):
                    if 0 <= x + dx < w:
                        a = q[y, x]
                        b = q[y + dy, x + dx]
                        if a != QNAN and b != QNAN:
                            n += _U1
                            s += np.uint64((a - b) * (a - b))
            best = _contrast(best, n, s)
        out[p] = NAN if best == np.inf else best
