"""Numba kernels of the trained detector's per-pixel features (plain NumPy arrays in and out).

Scenes come in as float32 ``(band, row, col)`` arrays with NaN for nodata (the wrapper in
:mod:`onemap.change.features` converts them); a NaN input gives NaN features. Each per-pixel
computation is one inline function shared by a dense kernel (every pixel of a block) and an
``_at`` kernel (the pixels ``rows[p], cols[p]`` only), so both give bit-identical values. The
neighbourhood features (window statistics, PanTex) are in :mod:`onemap.change._window_kernels`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import _kernels as K
from . import _tree_kernels as TK

F32 = np.float32
NAN = np.float32(np.nan)

# index codes written by pixel_channels_kernel, three channels each (date 1, date 2, change)
INDEX_NAMES = ("ndvi", "ndbi", "gli", "ndrb")
N_POINT_EXTRA = 4  # cva magnitude, brightness change, brightness at date 1, at date 2

N_WINDOW_CHANNELS = 4  # window_channels_kernel: cva, brightness change, brightness 1 and 2


@njit(cache=True, inline="always")
def _nd(a, b):
    s = a + b
    return (a - b) / s if s != 0 else F32(0)


# The arithmetic of the point channels lives in the inline functions below, used by the dense
# row-wise kernels (inner loop along a row: vectorised) and by the per-pixel ``_at`` kernels.
# No fastmath: each float32 operation is IEEE-rounded, vectorised or not, so both agree bit for
# bit.
@njit(cache=True, inline="always")
def _band_px(x1, x2, m1, c1, m2, c2, g, o, s):
    """z1, z2 (standardised), the mapped date 2 and dz (noise sigmas) of one band value."""
    mapped = x2 * g + o
    return (x1 - m1) / c1, (x2 - m2) / c2, mapped, (mapped - x1) / s


@njit(cache=True, inline="always")
def _finish(ss, sd, s1, s2, nb):
    """CVA magnitude, brightness change and brightness of both dates from the band sums."""
    return F32(math.sqrt(ss / nb)), F32(sd / nb), F32(s1 / nb), F32(s2 / nb)


@njit(cache=True, inline="always")
def _index_px(code, b1, b2, i, j, ib, ig, ir, inn, isw, t):
    """Index *code* (see :data:`INDEX_NAMES`) of date ``t`` (0, 1) at (i, j); NaN without its
    bands."""
    img = b1 if t == 0 else b2
    if code == 0 and ir >= 0 and inn >= 0:
        return _nd(img[inn, i, j], img[ir, i, j])
    if code == 1 and inn >= 0 and isw >= 0:
        return _nd(img[isw, i, j], img[inn, i, j])
    if code == 2 and ib >= 0 and ig >= 0 and ir >= 0:
        return _nd(F32(2) * img[ig, i, j], img[ir, i, j] + img[ib, i, j])
    if code == 3 and ib >= 0 and ir >= 0:
        return _nd(img[ir, i, j], img[ib, i, j])
    return NAN


@njit(cache=True, inline="always")
def _sums_px(b1, b2, i, j, med1, scl1, med2, scl2, gain, offset, sigma):
    """CVA magnitude, brightness change and brightness of both dates at pixel (i, j), NaN where
    any band of either date is NaN."""
    nb = b1.shape[0]
    ss = F32(0)
    sd = F32(0)
    s1 = F32(0)
    s2 = F32(0)
    for k in range(nb):
        x1 = b1[k, i, j]
        x2 = b2[k, i, j]
        if x1 != x1 or x2 != x2:
            return NAN, NAN, NAN, NAN
        z1, z2, _, dz = _band_px(x1, x2, med1[k], scl1[k], med2[k], scl2[k], gain[k], offset[k],
                                 sigma[k])
        ss += dz * dz
        sd += dz
        s1 += z1
        s2 += z2
    return _finish(ss, sd, s1, s2, nb)


@njit(cache=True, inline="always")
def _row_sums(b1, b2, i, med1, scl1, med2, scl2, gain, offset, sigma, out, ss, sd, s1, s2, bad):
    """Band sums of row *i* into the row accumulators (``bad``: a NaN band); the per-band
    channels into ``out[0:4nb, i]`` when *out* has rows (else they are not stored)."""
    nb, _, w = b1.shape
    store = out.shape[0] > 0
    for j in range(w):
        ss[j] = F32(0)
        sd[j] = F32(0)
        s1[j] = F32(0)
        s2[j] = F32(0)
        bad[j] = False
    for k in range(nb):
        r1 = b1[k, i]
        r2 = b2[k, i]
        m1, c1, m2, c2 = med1[k], scl1[k], med2[k], scl2[k]
        g, o, s = gain[k], offset[k], sigma[k]
        for j in range(w):
            x1 = r1[j]
            x2 = r2[j]
            z1, z2, mapped, dz = _band_px(x1, x2, m1, c1, m2, c2, g, o, s)
            ss[j] += dz * dz
            sd[j] += dz
            s1[j] += z1
            s2[j] += z2
            bad[j] |= (x1 != x1) | (x2 != x2)
            if store:
                out[k, i, j] = z1
                out[nb + k, i, j] = z2
                out[2 * nb + k, i, j] = dz
                out[3 * nb + k, i, j] = _nd(mapped, x1)


@njit(cache=True, inline="always")
def _channels_px(b1, b2, i, j, med1, scl1, med2, scl2, gain, offset, sigma, roles, o):
    """All point channels of pixel (i, j) into the 1-D *o* (see :func:`pixel_channels_kernel`)."""
    nb = b1.shape[0]
    base = 4 * nb
    cva, bc, br1, br2 = _sums_px(b1, b2, i, j, med1, scl1, med2, scl2, gain, offset, sigma)
    if cva != cva:
        for c in range(o.shape[0]):
            o[c] = NAN
        return
    for k in range(nb):
        x1 = b1[k, i, j]
        z1, z2, mapped, dz = _band_px(x1, b2[k, i, j], med1[k], scl1[k], med2[k], scl2[k],
                                      gain[k], offset[k], sigma[k])
        o[k] = z1
        o[nb + k] = z2
        o[2 * nb + k] = dz
        o[3 * nb + k] = _nd(mapped, x1)
    o[base] = cva
    o[base + 1] = bc
    o[base + 2] = br1
    o[base + 3] = br2
    c = base + N_POINT_EXTRA
    for code in range(4):
        v1 = _index_px(code, b1, b2, i, j, roles[0], roles[1], roles[2], roles[3], roles[4], 0)
        v2 = _index_px(code, b1, b2, i, j, roles[0], roles[1], roles[2], roles[3], roles[4], 1)
        o[c + 3 * code] = v1
        o[c + 3 * code + 1] = v2
        o[c + 3 * code + 2] = v2 - v1


@njit(cache=True, nogil=True)
def pixel_channels_kernel(b1, b2, med1, scl1, med2, scl2, gain, offset, sigma, roles, index_dst,
                          out):
    """Per-pixel channels of two dates, row by row: ``out[:4*nb + 4]`` and the 12 index
    channels into the planes ``index_dst`` (-1: not stored; ``arange(4*nb + 4, 4*nb + 16)``
    gives the full layout ``(4*nb + 16, h, w)`` of :func:`pixel_channels_at_kernel`).

    Order: ``z1[k]`` (band k of date 1 standardised by the scene's median and robust scale),
    ``z2[k]``, ``dz[k]`` (date 2 mapped onto date 1 by gain/offset, minus date 1, in noise
    sigmas), ``nd[k]`` (normalised difference of the mapped date 2 and date 1), CVA magnitude
    (RMS of dz), brightness change (mean of dz), brightness of date 1 and of date 2 (mean of z),
    then for NDVI, NDBI-like ND(swir1, nir), GLI (green leaf index) and ND(red, blue): the index
    at date 1, at date 2 and the change. An index whose bands are absent (``roles`` -1) is NaN.
    A pixel with a NaN band at either date has NaN in every channel.
    """
    nb, h, w = b1.shape
    base = 4 * nb
    c0 = base + N_POINT_EXTRA
    acc = np.empty((4, w), np.float32)
    ss, sd, s1, s2 = acc[0], acc[1], acc[2], acc[3]
    bad = np.empty(w, np.bool_)
    for i in range(h):
        _row_sums(b1, b2, i, med1, scl1, med2, scl2, gain, offset, sigma, out, ss, sd, s1, s2,
                  bad)
        for j in range(w):
            out[base, i, j], out[base + 1, i, j], out[base + 2, i, j], out[base + 3, i, j] = (
                _finish(ss[j], sd[j], s1[j], s2[j], nb))
        for code in range(4):
            d1, d2, d3 = index_dst[3 * code], index_dst[3 * code + 1], index_dst[3 * code + 2]
            if d1 < 0 and d2 < 0 and d3 < 0:
                continue
            for j in range(w):
                v1 = _index_px(code, b1, b2, i, j, roles[0], roles[1], roles[2], roles[3],
                               roles[4], 0)
                v2 = _index_px(code, b1, b2, i, j, roles[0], roles[1], roles[2], roles[3],
                               roles[4], 1)
                if d1 >= 0:
                    out[d1, i, j] = v1
                if d2 >= 0:
                    out[d2, i, j] = v2
                if d3 >= 0:
                    out[d3, i, j] = v2 - v1
        for j in range(w):
            if bad[j]:
                for c in range(c0):
                    out[c, i, j] = NAN
                for c in index_dst:
                    if c >= 0:
                        out[c, i, j] = NAN


@njit(cache=True, nogil=True)
def pixel_channels_at_kernel(
    b1, b2, med1, scl1, med2, scl2, gain, offset, sigma, roles, index_dst, rows, cols, out
):
    """:func:`pixel_channels_kernel` at pixels ``(rows[p], cols[p])``: ``out[p, channel]``,
    the index channels in the columns ``index_dst`` (-1: not stored)."""
    nb = b1.shape[0]
    c0 = 4 * nb + N_POINT_EXTRA
    o = np.empty(c0 + 12, np.float32)
    for p in range(rows.size):
        _channels_px(
            b1, b2, rows[p], cols[p], med1, scl1, med2, scl2, gain, offset, sigma, roles, o
        )
        for c in range(c0):
            out[p, c] = o[c]
        for c in range(12):
            if index_dst[c] >= 0:
                out[p, index_dst[c]] = o[c0 + c]


@njit(cache=True, nogil=True)
def window_channels_kernel(b1, b2, med1, scl1, med2, scl2, gain, offset, sigma, out):
    """The channels the neighbourhood features read, ``out`` ``(4, h, w)``: CVA magnitude,
    brightness change, brightness of date 1 and of date 2, bit-identical to
    :func:`pixel_channels_kernel`'s at a fraction of its cost."""
    nb, h, w = b1.shape
    acc = np.empty((4, w), np.float32)
    ss, sd, s1, s2 = acc[0], acc[1], acc[2], acc[3]
    bad = np.empty(w, np.bool_)
    none = np.empty((0, 0, 0), np.float32)
    for i in range(h):
        _row_sums(b1, b2, i, med1, scl1, med2, scl2, gain, offset, sigma, none, ss, sd, s1, s2,
                  bad)
        for j in range(w):
            if bad[j]:
                out[0, i, j] = NAN
                out[1, i, j] = NAN
                out[2, i, j] = NAN
                out[3, i, j] = NAN
            else:
                out[0, i, j], out[1, i, j], out[2, i, j], out[3, i, j] = _finish(
                    ss[j], sd[j], s1[j], s2[j], nb)


# the flags of construction_kernel (numba's cache is keyed on this file: edit it when they change)
@njit(cache=True, nogil=True, error_model="numpy", fastmath=K._FAST)
def construction_at_kernel(b1, b2, roles, gain, offset, sigma, nodata1, nodata2, rows, cols, out):
    """:func:`onemap.change._kernels.construction_kernel` at pixels ``(rows[p], cols[p])``:
    ``out[p]``, with the same inline per-pixel functions and compiler flags."""
    hb, hn, hs = roles[0] >= 0, roles[3] >= 0, roles[4] >= 0
    iv, ib, ig, iu = (F32(1) / F32(sigma[0]), F32(1) / F32(sigma[1]), F32(1) / F32(sigma[2]),
                      F32(1) / F32(sigma[3]))
    a0, a1, a2, a3, a4, _, _, _, _, _ = K._role_scalars(roles, np.ones(5), np.zeros(5))
    c0, c1, c2, c3, c4, z0, z1, z2, z3, z4 = K._role_scalars(roles, gain, offset)
    nd1, nd2 = F32(nodata1), F32(nodata2)
    for p in range(rows.size):
        i = rows[p]
        j = cols[p]
        pb, pg, pr, pn, ps = K._rows(b1, roles, i)
        qb, qg, qr, qn, qs = K._rows(b2, roles, i)
        xb1, xg1, xr1, xn1, xs1, xb2, xg2, xr2, xn2, xs2, bad = K._pair(
            pb, pg, pr, pn, ps, qb, qg, qr, qn, qs, j, nd1, nd2, a0, a1, a2, a3, a4,
            c0, c1, c2, c3, c4, z0, z1, z2, z3, z4)
        e = K._construction_px(xb1, xg1, xr1, xn1, xs1, xb2, xg2, xr2, xn2, xs2,
                               iv, ib, ig, iu, hb, hn, hs)
        out[p] = NAN if bad else e


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


@njit(cache=True, inline="always")
def _screen_px(b1, b2, i, j, med1, scl1, med2, scl2, gain, offset, sigma, o):
    """The screen channels of pixel (i, j) into the 1-D *o* (``nb + 4``); False when a band of
    either date is NaN (*o* untouched)."""
    nb = b1.shape[0]
    for k in range(nb):
        if b1[k, i, j] != b1[k, i, j] or b2[k, i, j] != b2[k, i, j]:
            return False
    ss = F32(0)
    sd = F32(0)
    s1 = F32(0)
    s2 = F32(0)
    for k in range(nb):
        z1, z2, _, dz = _band_px(b1[k, i, j], b2[k, i, j], med1[k], scl1[k], med2[k], scl2[k],
                                 gain[k], offset[k], sigma[k])
        o[k] = dz
        ss += dz * dz
        sd += dz
        s1 += z1
        s2 += z2
    o[nb], o[nb + 1], o[nb + 2], o[nb + 3] = _finish(ss, sd, s1, s2, nb)
    return True


@njit(cache=True, nogil=True)
def screen_channels_kernel(b1, b2, med1, scl1, med2, scl2, gain, offset, sigma, out):
    """The learned pre-screen's channels (``out``: ``(nb + 4, h, w)``), a few operations per band.

    Order: ``dz[k]``, CVA magnitude, brightness change, brightness of date 1 and of date 2 --
    the same values, bit for bit, as those channels of :func:`pixel_channels_kernel` (same
    operations in the same order); NaN where a band of either date is NaN.
    """
    nb, h, w = b1.shape
    o = np.empty(nb + 4, np.float32)
    for i in range(h):
        for j in range(w):
            ok = _screen_px(b1, b2, i, j, med1, scl1, med2, scl2, gain, offset, sigma, o)
            for c in range(nb + 4):
                out[c, i, j] = o[c] if ok else NAN


@njit(cache=True, nogil=True)
def screen_walk_kernel(b1, b2, med1, scl1, med2, scl2, gain, offset, sigma, lo, hi, valid,
                       X, rows, cols):
    """The screen's channels where its trees must be walked, gathered: for each pixel valid in
    both dates (``valid[i, j]``) and outside the box ``(lo, hi]`` of
    :func:`onemap.change._tree_kernels.outside_box` (the reject box), its channels as a row of
    ``X`` ``(n, nb + 4)`` and its position in ``rows``, ``cols`` (raster order); returns n.
    One pass: no channel planes written and read again."""
    nb, h, w = b1.shape
    k = nb + 4
    o = np.empty(k, np.float32)
    n = 0
    for i in range(h):
        for j in range(w):
            ok = _screen_px(b1, b2, i, j, med1, scl1, med2, scl2, gain, offset, sigma, o)
            valid[i, j] = ok
            if ok and TK.outside(o, lo, hi):
                for c in range(k):
                    X[n, c] = o[c]
                rows[n] = i
                cols[n] = j
                n += 1
    return n
