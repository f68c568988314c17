"""Numba kernels: zonal accumulation over pixel runs, zone rasters as runs, cross-tabulation.

Every zone source ends up as per-zone *runs* ``(row, c0, c1, weight)`` in CSR form (polygons via
the fill or fraction kernels, a zone raster via :func:`zone_runs`), so one set of accumulators
serves all of them. Work is O(pixels covered), memory O(zones) (plus O(zones x classes) for
cross-tabulation); sums are float64.

Moments are kept as ``[W, S, mean, M2, min, max, W_nodata]`` per (band, zone): the weight of
valid pixels, the weighted sum, the weighted mean and sum of squared deviations (states of
successive windows and of the row bands run in parallel are merged with Chan's formula). NaN
and the nodata value are not valid; their weight goes to ``W_nodata``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._paint_kernels import runs_by_row

N_MOMENTS = 7
W_, SUM_, MEAN_, M2_, MIN_, MAX_, NODATA_ = range(N_MOMENTS)


def new_moments(n_bands: int, n_zones: int) -> np.ndarray:
    """Empty moment states, shape ``(n_bands, n_zones, 7)``."""
    m = np.zeros((n_bands, n_zones, N_MOMENTS), dtype=np.float64)
    m[..., MIN_] = np.inf
    m[..., MAX_] = -np.inf
    return m


@njit(parallel=True, cache=True)
def run_moments(off, rows, c0s, c1s, ws, feats, values, r0, col0, nodata, has_nodata, out, nblocks):
    """Accumulate the pixels under each zone's runs into ``out[band, feats[i]]`` (in place).

    ``values`` is ``(bands, h, w)`` with its first pixel at (``r0``, ``col0``) of the runs'
    coordinates; runs must lie inside it. Runs are visited in raster order (streaming through
    the values, like a pass over an id grid) by ``nblocks`` bands of rows in parallel, each with
    its own accumulators (O(zones) memory each), merged at the end with Chan's formula.

    A run's weight is constant along it, so a run is summed unweighted (no division per pixel)
    and added with its weight; sums of ``x - K`` and ``(x - K)²`` about the zone's first valid
    value K in the band of rows keep the variance exact to rounding.
    """
    h = values.shape[1]
    nb = values.shape[0]
    nf = off.shape[0] - 1
    row_off, order, owner = runs_by_row(off, rows, r0, h)
    nblk = max(1, min(nblocks, h))
    bs = (h + nblk - 1) // nblk
    # per band of rows: W, S, S1, S2, min, max, W_nodata, K
    acc = np.zeros((nblk, nb, nf, 8))
    for blk in prange(nblk):
        a = acc[blk]
        for b in range(nb):
            for i in range(nf):
                a[b, i, 4] = np.inf
                a[b, i, 5] = -np.inf
                a[b, i, 7] = np.nan
        for r in range(blk * bs, min(h, (blk + 1) * bs)):
            for t in range(row_off[r], row_off[r + 1]):
                k = order[t]
                i = owner[k]
                w = ws[k]
                ca = c0s[k] - col0
                cb = c1s[k] - col0
                for b in range(nb):
                    shift = a[b, i, 7]
                    if np.isnan(shift):  # the zone's first valid value: the shift of its sums
                        for c in range(ca, cb):
                            x = np.float64(values[b, r, c])
                            if not (np.isnan(x) or (has_nodata and x == nodata)):
                                shift = x
                                a[b, i, 7] = x
                                break
                    n = 0
                    bad = 0
                    rs = 0.0
                    rs1 = 0.0
                    rs2 = 0.0
                    mn = a[b, i, 4]
                    mx = a[b, i, 5]
                    for c in range(ca, cb):
                        x = np.float64(values[b, r, c])
                        if np.isnan(x) or (has_nodata and x == nodata):
                            bad += 1
                            continue
                        d = x - shift
                        n += 1
                        rs += x
                        rs1 += d
                        rs2 += d * d
                        mn = min(mn, x)
                        mx = max(mx, x)
                    a[b, i, 0] += w * n
                    a[b, i, 1] += w * rs
                    a[b, i, 2] += w * rs1
                    a[b, i, 3] += w * rs2
                    a[b, i, 4] = mn
                    a[b, i, 5] = mx
                    a[b, i, 6] += w * bad
    for i in prange(nf):
        z = feats[i]
        for b in range(nb):
            for blk in range(nblk):
                wsum = acc[blk, b, i, 0]
                out[b, z, SUM_] += acc[blk, b, i, 1]
                out[b, z, MIN_] = min(out[b, z, MIN_], acc[blk, b, i, 4])
                out[b, z, MAX_] = max(out[b, z, MAX_], acc[blk, b, i, 5])
                out[b, z, NODATA_] += acc[blk, b, i, 6]
                if wsum > 0.0:
                    s1 = acc[blk, b, i, 2]
                    mean = acc[blk, b, i, 7] + s1 / wsum
                    m2 = max(acc[blk, b, i, 3] - s1 * s1 / wsum, 0.0)
                    wa = out[b, z, W_]
                    wt = wa + wsum
                    delta = mean - out[b, z, MEAN_]
                    out[b, z, MEAN_] += delta * wsum / wt
                    out[b, z, M2_] += m2 + delta * delta * wa * wsum / wt
                    out[b, z, W_] = wt


@njit(parallel=True, cache=True)
def run_class_table(off, rows, c0s, c1s, ws, feats, classes, r0, col0, out):
    """``out[feats[i], k] +=`` weight of zone i's pixels whose class index is k (< 0: none)."""
    nf = off.shape[0] - 1
    for i in prange(nf):
        z = feats[i]
        for k in range(off[i], off[i + 1]):
            r = rows[k] - r0
            w = ws[k]
            for c in range(c0s[k] - col0, c1s[k] - col0):
                q = classes[r, c]
                if q >= 0:
                    out[z, q] += w


@njit(cache=True)
def _collect_sorted(off, rows, c0s, c1s, ws, values, r0, col0, nodata, has_nodata, i, xs, wx):
    n = 0
    for k in range(off[i], off[i + 1]):
        r = rows[k] - r0
        for c in range(c0s[k] - col0, c1s[k] - col0):
            x = np.float64(values[r, c])
            if np.isnan(x) or (has_nodata and x == nodata):
                continue
            xs[n] = x
            wx[n] = ws[k]
            n += 1
    order = np.argsort(xs[:n], kind="mergesort")
    return n, order


@njit(parallel=True, cache=True)
def run_value_weights(off, rows, c0s, c1s, ws, values, r0, col0, nodata, has_nodata):
    """Distinct valid values under each zone with their summed weight (two passes, by sorting).

    Returns ``(offsets, value, weight)``: zone i's pairs are ``offsets[i]:offsets[i + 1]``,
    values ascending.
    """
    nf = off.shape[0] - 1
    npix = np.zeros(nf, np.int64)
    for i in prange(nf):
        t = 0
        for k in range(off[i], off[i + 1]):
            t += c1s[k] - c0s[k]
        npix[i] = t
    counts = np.zeros(nf, np.int64)
    for i in prange(nf):
        xs = np.empty(npix[i], np.float64)
        wx = np.empty(npix[i], np.float64)
        n, order = _collect_sorted(off, rows, c0s, c1s, ws, values, r0, col0, nodata, has_nodata,
                                   i, xs, wx)
        u = 0
        for t in range(n):
            if t == 0 or xs[order[t]] != xs[order[t - 1]]:
                u += 1
        counts[i] = u
    voff = np.zeros(nf + 1, np.int64)
    for i in range(nf):
        voff[i + 1] = voff[i] + counts[i]
    vals = np.empty(voff[nf], np.float64)
    wts = np.zeros(voff[nf], np.float64)
    for i in prange(nf):
        xs = np.empty(npix[i], np.float64)
        wx = np.empty(npix[i], np.float64)
        n, order = _collect_sorted(off, rows, c0s, c1s, ws, values, r0, col0, nodata, has_nodata,
                                   i, xs, wx)
        d = voff[i] - 1
        for t in range(n):
            if t == 0 or xs[order[t]] != xs[order[t - 1]]:
                d += 1
                vals[d] = xs[order[t]]
            wts[d] += wx[order[t]]
    return voff, vals, wts


@njit(parallel=True, cache=True)
def zone_runs(zidx, nz, r0, col0):
    """Runs of equal zone index along rows of a zone-index raster (< 0: no zone), grouped by zone.

    Returns ``(offsets, rows, c0, c1)`` in the coordinates given by (``r0``, ``col0``); each
    zone's runs are in row order.
    """
    h, w = zidx.shape
    cnt = np.zeros(h + 1, np.int64)
    for r in prange(h):
        n = 0
        c = 0
        while c < w:
            z = zidx[r, c]
            c2 = c + 1
            while c2 < w and zidx[r, c2] == z:
                c2 += 1
            if z >= 0:
                n += 1
            c = c2
        cnt[r + 1] = n
    for r in range(h):
        cnt[r + 1] += cnt[r]
    total = cnt[h]
    rz = np.empty(total, np.int64)
    ra = np.empty(total, np.int32)
    rb = np.empty(total, np.int32)
    for r in prange(h):
        n = cnt[r]
        c = 0
        while c < w:
            z = zidx[r, c]
            c2 = c + 1
            while c2 < w and zidx[r, c2] == z:
                c2 += 1
            if z >= 0:
                rz[n] = z
                ra[n] = c
                rb[n] = c2
                n += 1
            c = c2
    # counting sort by zone; stable, so each zone's runs stay in row order
    zoff = np.zeros(nz + 1, np.int64)
    for k in range(total):
        zoff[rz[k] + 1] += 1
    for z in range(nz):
        zoff[z + 1] += zoff[z]
    pos = zoff[:nz].copy()
    orow = np.empty(total, np.int32)
    oc0 = np.empty(total, np.int32)
    oc1 = np.empty(total, np.int32)
    r = 0
    for k in range(total):
        while cnt[r + 1] <= k:
            r += 1
        d = pos[rz[k]]
        pos[rz[k]] += 1
        orow[d] = r + r0
        oc0[d] = ra[k] + col0
        oc1[d] = rb[k] + col0
    return zoff, orow, oc0, oc1


@njit(parallel=True, cache=True)
def lut_index(values, vmin, lut, nodata, has_nodata):
    """Dense index of an integer-valued raster through ``lut[value - vmin]`` (-1 for nodata/NaN)."""
    h, w = values.shape
    out = np.empty((h, w), np.int32)
    n = lut.shape[0]
    for r in prange(h):
        for c in range(w):
            x = np.float64(values[r, c])
            if np.isnan(x) or (has_nodata and x == nodata):
                out[r, c] = -1
                continue
            k = np.int64(x) - vmin
            out[r, c] = lut[k] if 0 <= k < n else -1
    return out
