"""Numba kernels of the trained detector's pixel features (plain NumPy arrays in and out).

Scenes come in as float32 ``(band, row, col)`` arrays with NaN for nodata (the wrapper in
:mod:`onemap.change.features` converts them); a NaN input gives NaN features, and neighbourhood
sums skip NaN, so a window that reaches past the image edge is clipped to the image. The wrapper
pads dask tiles with NaN halos, which therefore gives exactly the whole-image values.

Window sums are separable direct sums (a row pass, then a column pass, each adding the values of
the window in a fixed order) rather than integral images: the cost is the same O(radius) per
pixel for the radii used, and every pixel's sum is added up in the same order whatever the
tiling, so tiled and whole-image features are bit-identical (an integral image accumulates from
the tile's corner and differs in the last bits).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

F32 = np.float32
NAN = np.float32(np.nan)

# index codes written by pixel_channels_kernel, three channels each (date 1, date 2, change)
INDEX_NAMES = ("ndvi", "ndbi", "gli", "ndrb")
N_POINT_EXTRA = 4  # cva magnitude, brightness change, brightness at date 1, at date 2

# PanTex displacements (row, col): lags 1 and 2 in four directions
PANTEX_OFFSETS = np.array(
    [[0, 1], [1, 0], [1, 1], [1, -1], [0, 2], [2, 0], [2, 2], [2, -2]], np.int64
)


@njit(cache=True, inline="always")
def _nd(a, b):
    s = a + b
    return (a - b) / s if s != 0 else F32(0)


@njit(cache=True, nogil=True)
def pixel_channels_kernel(b1, b2, med1, scl1, med2, scl2, gain, offset, sigma, roles, out):
    """Per-pixel channels of two dates, fused in one pass (``out``: ``(4*nb + 16, h, w)``).

    Order: ``z1[k]`` (band k of date 1 standardised by the scene's median and robust scale),
    ``z2[k]``, ``dz[k]`` (date 2 mapped onto date 1 by gain/offset, minus date 1, in noise
    sigmas), ``nd[k]`` (normalised difference of the mapped date 2 and date 1), CVA magnitude
    (RMS of dz), brightness change (mean of dz), brightness of date 1 and of date 2 (mean of z),
    then for NDVI, NDBI-like ND(swir1, nir), GLI (green leaf index) and ND(red, blue): the index
    at date 1, at date 2 and the change. An index whose bands are absent (``roles`` -1) is NaN.
    """
    nb, h, w = b1.shape
    ib, ig, ir, inn, isw = roles[0], roles[1], roles[2], roles[3], roles[4]
    base = 4 * nb
    for i in range(h):
        for j in range(w):
            bad = False
            for k in range(nb):
                if b1[k, i, j] != b1[k, i, j] or b2[k, i, j] != b2[k, i, j]:
                    bad = True
            if bad:
                for c in range(out.shape[0]):
                    out[c, i, j] = NAN
                continue
            ss = F32(0)
            sd = F32(0)
            s1 = F32(0)
            s2 = F32(0)
            for k in range(nb):
                x1 = b1[k, i, j]
                x2 = b2[k, i, j]
                z1 = (x1 - med1[k]) / scl1[k]
                z2 = (x2 - med2[k]) / scl2[k]
                m2 = x2 * gain[k] + offset[k]
                dz = (m2 - x1) / sigma[k]
                out[k, i, j] = z1
                out[nb + k, i, j] = z2
                out[2 * nb + k, i, j] = dz
                out[3 * nb + k, i, j] = _nd(m2, x1)
                ss += dz * dz
                sd += dz
                s1 += z1
                s2 += z2
            out[base, i, j] = math.sqrt(ss / nb)
            out[base + 1, i, j] = sd / nb
            out[base + 2, i, j] = s1 / nb
            out[base + 3, i, j] = s2 / nb
            c = base + N_POINT_EXTRA
            for code in range(4):
                for t in range(2):
                    img = b1 if t == 0 else b2
                    v = NAN
                    if code == 0 and ir >= 0 and inn >= 0:
                        v = _nd(img[inn, i, j], img[ir, i, j])
                    elif code == 1 and inn >= 0 and isw >= 0:
                        v = _nd(img[isw, i, j], img[inn, i, j])
                    elif code == 2 and ib >= 0 and ig >= 0 and ir >= 0:
                        g2 = F32(2) * img[ig, i, j]
                        v = _nd(g2, img[ir, i, j] + img[ib, i, j])
                    elif code == 3 and ib >= 0 and ir >= 0:
                        v = _nd(img[ir, i, j], img[ib, i, j])
                    out[c + 3 * code + t, i, j] = v
                out[c + 3 * code + 2, i, j] = out[c + 3 * code + 1, i, j] - out[c + 3 * code, i, j]


@njit(cache=True, nogil=True)
def rect_sums_kernel(src, rlo, rhi, clo, chi, out_sum, out_sq, out_n):
    """For every pixel (i, j): sum, sum of squares and count of the non-NaN values of *src* in
    rows ``i+rlo .. i+rhi`` and columns ``j+clo .. j+chi`` (clipped to the array), float64.

    Separable: a row pass into temporaries, then a column pass, each in a fixed order.
    """
    h, w = src.shape
    ts = np.zeros((h, w), np.float64)
    tq = np.zeros((h, w), np.float64)
    tn = np.zeros((h, w), np.float64)
    for i in range(h):
        for j in range(w):
            s = 0.0
            q = 0.0
            n = 0.0
            for jj in range(max(j + clo, 0), min(j + chi, w - 1) + 1):
                v = src[i, jj]
                if not np.isnan(v):
                    s += v
                    q += v * v
                    n += 1.0
            ts[i, j] = s
            tq[i, j] = q
            tn[i, j] = n
    for i in range(h):
        i0 = max(i + rlo, 0)
        i1 = min(i + rhi, h - 1)
        for j in range(w):
            s = 0.0
            q = 0.0
            n = 0.0
            for ii in range(i0, i1 + 1):
                s += ts[ii, j]
                q += tq[ii, j]
                n += tn[ii, j]
            out_sum[i, j] = s
            out_sq[i, j] = q
            out_n[i, j] = n


@njit(cache=True, nogil=True)
def local_stats_kernel(src, radius, mean, std):
    """Mean and standard deviation of *src* in the ``(2r+1)²`` window (NaN skipped, clipped);
    NaN where the centre is NaN (no feature for a nodata pixel)."""
    h, w = src.shape
    s = np.empty((h, w), np.float64)
    q = np.empty((h, w), np.float64)
    n = np.empty((h, w), np.float64)
    rect_sums_kernel(src, -radius, radius, -radius, radius, s, q, n)
    for i in range(h):
        for j in range(w):
            if src[i, j] != src[i, j] or n[i, j] == 0:
                mean[i, j] = NAN
                std[i, j] = NAN
                continue
            m = s[i, j] / n[i, j]
            mean[i, j] = m
            std[i, j] = math.sqrt(max(q[i, j] / n[i, j] - m * m, 0.0))


@njit(cache=True, nogil=True)
def pantex_kernel(grey, radius, offsets, out):
    """PanTex built-up texture: the minimum over displacements of the GLCM contrast in the
    ``(2r+1)²`` window around each pixel (Pesaresi et al. 2008).

    The contrast of displacement ``d`` is the mean of ``(g(x) - g(x+d))²`` over the pixel pairs
    with both ``x`` and ``x+d`` in the window (the symmetric GLCM's contrast; with continuous
    grey levels, i.e. the limit of fine quantisation). Pairs with a NaN end are skipped. Built
    structures are contrasted in every direction, so their minimum stays high, while fields and
    roads are smooth along at least one direction.
    """
    h, w = grey.shape
    d2 = np.empty((h, w), np.float32)
    s = np.empty((h, w), np.float64)
    q = np.empty((h, w), np.float64)
    n = np.empty((h, w), np.float64)
    for i in range(h):
        for j in range(w):
            out[i, j] = NAN if grey[i, j] != grey[i, j] else np.inf
    for k in range(offsets.shape[0]):
        dy = offsets[k, 0]
        dx = offsets[k, 1]
        for i in range(h):
            for j in range(w):
                ii = i + dy
                jj = j + dx
                if 0 <= ii < h and 0 <= jj < w:
                    d = grey[i, j] - grey[ii, jj]
                    d2[i, j] = d * d  # NaN when either end is NaN
                else:
                    d2[i, j] = NAN
        # x in the window and x + d in the window: rows i-r+max(0,-dy) .. i+r-max(0,dy)
        rect_sums_kernel(
            d2,
            -radius + max(0, -dy),
            radius - max(0, dy),
            -radius + max(0, -dx),
            radius - max(0, dx),
            s,
            q,
            n,
        )
        for i in range(h):
            for j in range(w):
                if n[i, j] > 0 and out[i, j] == out[i, j]:
                    c = s[i, j] / n[i, j]
                    out[i, j] = min(out[i, j], c)
    for i in range(h):
        for j in range(w):
            if out[i, j] == np.inf:
                out[i, j] = NAN


@njit(cache=True, nogil=True)
def cva_kernel(b1, b2, gain, offset, sigma, out):
    """CVA magnitude alone (``out[i, j]``), with the arithmetic of :func:`pixel_channels_kernel`:
    the trained detector's pre-screen, a few operations per band instead of all channels."""
    nb, h, w = b1.shape
    for i in range(h):
        for j in range(w):
            ss = F32(0)
            bad = False
            for k in range(nb):
                x1 = b1[k, i, j]
                x2 = b2[k, i, j]
                if x1 != x1 or x2 != x2:
                    bad = True
                    break
                m2 = x2 * gain[k] + offset[k]
                dz = (m2 - x1) / sigma[k]
                ss += dz * dz
            out[i, j] = NAN if bad else math.sqrt(ss / nb)


@njit(cache=True, nogil=True)
def screen_channels_kernel(b1, b2, med1, scl1, med2, scl2, gain, offset, sigma, out):
    """The learned pre-screen's channels (``out``: ``(nb + 4, h, w)``), a few operations per band.

    Order: ``dz[k]``, CVA magnitude, brightness change, brightness of date 1 and of date 2 --
    the same values, bit for bit, as those channels of :func:`pixel_channels_kernel` (same
    operations in the same order); NaN where a band of either date is NaN.
    """
    nb, h, w = b1.shape
    for i in range(h):
        for j in range(w):
            bad = False
            for k in range(nb):
                if b1[k, i, j] != b1[k, i, j] or b2[k, i, j] != b2[k, i, j]:
                    bad = True
            if bad:
                for c in range(out.shape[0]):
                    out[c, i, j] = NAN
                continue
            ss = F32(0)
            sd = F32(0)
            s1 = F32(0)
            s2 = F32(0)
            for k in range(nb):
                x1 = b1[k, i, j]
                x2 = b2[k, i, j]
                z1 = (x1 - med1[k]) / scl1[k]
                z2 = (x2 - med2[k]) / scl2[k]
                m2 = x2 * gain[k] + offset[k]
                dz = (m2 - x1) / sigma[k]
                out[k, i, j] = dz
                ss += dz * dz
                sd += dz
                s1 += z1
                s2 += z2
            out[nb, i, j] = math.sqrt(ss / nb)
            out[nb + 1, i, j] = sd / nb
            out[nb + 2, i, j] = s1 / nb
            out[nb + 3, i, j] = s2 / nb
