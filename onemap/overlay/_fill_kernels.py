"""Numba kernels: scanline polygon fill (pixel-centre and all-touched rules) into pixel runs.

Plain functions on NumPy arrays. Polygons arrive flattened (see :mod:`onemap.overlay.geometry`)
with vertices already in *pixel* coordinates of the reference frame, computed exactly as GDAL
does (``u = igt0 + x * igt1``), so that the output is identical to ``rasterio.features.rasterize``
for the same rule, ties included:

* centre rule: GDAL's ``GDALdllImageFilledPolygon`` — scanlines through pixel centres, crossings
  with edges where ``ylo <= y + 0.5 < yhi``, each rounded with ``floor(x + 0.5)``, filled in
  pairs; horizontal edges lying exactly on a scanline are filled when they run in -x direction
  of the ring oriented clockwise (GDAL reorients every ring clockwise). We use an active edge
  table instead of testing every edge on every scanline; the arithmetic per crossing is the same.
* all-touched: the same fill plus GDAL's ``GDALdllImageLineAllTouched`` walk along every ring,
  with its clipping, its 1e-4 "intersect only" tolerance and its 1e-9 minimum steps.

GDAL clips to the raster it burns into, so the reference frame ``[fr0, fr1) x [fc0, fc1)`` is a
parameter distinct from the window ``[wr0, wr1) x [wc0, wc1)`` whose runs are returned: a tile
computed with its parent as reference frame is bit-identical to the parent's result cut to the
tile. Output per feature: disjoint runs ``(row, c0, c1)`` (c1 exclusive) sorted by row, column.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_BIG = 2.0**40  # clamp for pixel coordinates far outside any frame (keeps int casts defined)
_EPS_INTERSECT_ONLY = 1e-4  # GDAL's EPSILON_INTERSECT_ONLY


@njit(cache=True, inline="always")
def _clampf(x):
    return min(max(x, -_BIG), _BIG)


@njit(cache=True, inline="always")
def _emit(rows, c0s, c1s, n, cap, r, a, b, wr0, wr1, wc0, wc1):
    """Append run (r, [a, b)) clipped to the window; returns the new count."""
    if r < wr0 or r >= wr1:
        return n
    a = max(a, wc0)
    b = min(b, wc1)
    if a >= b or n >= cap:
        return n
    rows[n] = r
    c0s[n] = a
    c1s[n] = b
    return n + 1


# --------------------------------------------------------------------------- capacity


@njit(cache=True)
def _fill_capacity(gu, gv, ring_offsets, part_offsets, feature_offsets, f, rlo, rhi, wc0, wc1,
                   all_touched):
    """Upper bound of the runs one feature can emit in rows [rlo, rhi], columns [wc0, wc1)."""
    cap = 0
    hmax = float(rhi - rlo + 3)
    wmax = float(wc1 - wc0 + 3)
    for p in range(feature_offsets[f], feature_offsets[f + 1]):
        for k in range(part_offsets[p], part_offsets[p + 1]):
            s, e = ring_offsets[k], ring_offsets[k + 1]
            for i in range(s, e):
                j = i - 1 if i > s else e - 1
                vmin = _clampf(min(gv[i], gv[j]))
                vmax = _clampf(max(gv[i], gv[j]))
                a = max(np.floor(vmin) - 1.0, float(rlo))
                b = min(np.ceil(vmax) + 1.0, float(rhi))
                cap += 1 + max(0, int(b - a) + 1)
                if all_touched:  # the walk emits at most one pixel per row or column crossed
                    du = min(abs(_clampf(gu[i]) - _clampf(gu[j])), wmax)
                    dv = min(vmax - vmin, hmax)
                    cap += 2 * int(du + dv) + 8
    return cap


# --------------------------------------------------------------------------- centre rule


@njit(cache=True)
def _first_row(ylo, rlo, rhi):
    """Smallest row y in [rlo, rhi + 1] with y + 0.5 >= ylo (rhi + 1 if none)."""
    if ylo <= rlo + 0.5:
        return rlo
    if ylo > rhi + 0.5:
        return rhi + 1
    y = np.floor(ylo - 0.5)
    while y + 0.5 < ylo:
        y += 1.0
    while (y - 1.0) + 0.5 >= ylo:
        y -= 1.0
    return int(y)


@njit(cache=True)
def _last_row(yhi, rlo, rhi):
    """Largest row y in [rlo - 1, rhi] with y + 0.5 < yhi (rlo - 1 if none)."""
    if yhi > rhi + 0.5:
        return rhi
    if yhi <= rlo + 0.5:
        return rlo - 1
    y = np.ceil(yhi - 0.5) - 1.0
    while y + 0.5 >= yhi:
        y -= 1.0
    while (y + 1.0) + 0.5 < yhi:
        y += 1.0
    return int(y)


@njit(cache=True)
def _centre_part(gu, gv, ring_offsets, ring_cw, p0, p1, rlo, rhi, fc0, fc1, wr0, wr1, wc0, wc1,
                 rows, c0s, c1s, n, cap, exlo, eylo, exhi, eyhi, eys, eye, active, ints):
    """Fill one polygon part (rings p0..p1) by the centre rule. Returns (n, had_horizontal)."""
    ne = 0
    had_h = False
    for k in range(p0, p1):
        s, e = ring_offsets[k], ring_offsets[k + 1]
        cw = ring_cw[k]
        for i in range(s, e):
            j = i - 1 if i > s else e - 1  # GDAL's (ind1, ind2) = (j, i)
            y1 = gv[j]
            y2 = gv[i]
            if y1 == y2:
                xa = gu[j]
                xb = gu[i]
                # GDAL fills a horizontal edge on a scanline when, in its clockwise ring, it runs -x
                if not ((xa > xb) if cw else (xb > xa)):
                    continue
                yy = y1 - 0.5
                if yy != np.floor(yy) or yy < rlo or yy > rhi:
                    continue
                h1 = int(np.floor(_clampf(min(xa, xb)) + 0.5))
                h2 = int(np.floor(_clampf(max(xa, xb)) + 0.5))
                if h1 > fc1 - 1 or h2 <= fc0:
                    continue
                a = max(h1, fc0)
                b = min(h2 - 1, fc1 - 1)
                if a <= b:
                    n = _emit(rows, c0s, c1s, n, cap, int(yy), a, b + 1, wr0, wr1, wc0, wc1)
                    had_h = True
                continue
            if y1 < y2:
                xlo, ylo, xhi, yhi = gu[j], y1, gu[i], y2
            else:
                xlo, ylo, xhi, yhi = gu[i], y2, gu[j], y1
            ys = _first_row(ylo, rlo, rhi)
            ye = _last_row(yhi, rlo, rhi)
            if ys > ye:
                continue
            exlo[ne] = xlo
            eylo[ne] = ylo
            exhi[ne] = xhi
            eyhi[ne] = yhi
            eys[ne] = ys
            eye[ne] = ye
            ne += 1
    if ne == 0:
        return n, had_h
    order = np.argsort(eys[:ne])
    ystart = eys[order[0]]
    yend = eye[:ne].max()
    ptr = 0
    nact = 0
    for y in range(ystart, yend + 1):
        while ptr < ne and eys[order[ptr]] <= y:
            active[nact] = order[ptr]
            nact += 1
            ptr += 1
        dy = y + 0.5
        m = 0
        nints = 0
        for a in range(nact):
            q = active[a]
            if eye[q] < y:
                continue
            active[m] = q
            m += 1
            inter = (dy - eylo[q]) * (exhi[q] - exlo[q]) / (eyhi[q] - eylo[q]) + exlo[q]
            ints[nints] = int(np.floor(_clampf(inter) + 0.5))
            nints += 1
        nact = m
        if nints > 32:
            ints[:nints] = np.sort(ints[:nints])
        else:
            for a in range(1, nints):  # insertion sort: a handful of crossings per scanline
                v = ints[a]
                b = a - 1
                while b >= 0 and ints[b] > v:
                    ints[b + 1] = ints[b]
                    b -= 1
                ints[b + 1] = v
        for a in range(0, nints - 1, 2):
            xa = ints[a]
            xb = ints[a + 1]
            if xa <= fc1 - 1 and xb > fc0:
                lo = max(xa, fc0)
                hi = min(xb - 1, fc1 - 1)
                if lo <= hi:
                    n = _emit(rows, c0s, c1s, n, cap, y, lo, hi + 1, wr0, wr1, wc0, wc1)
    return n, had_h


# --------------------------------------------------------------------------- all-touched walk


@njit(cache=True)
def _walk_ring(gu, gv, s, e, fr0, fr1, fc0, fc1, wr0, wr1, wc0, wc1, rows, c0s, c1s, n, cap):
    """GDAL's GDALdllImageLineAllTouched (bIntersectOnly=true) along one ring; returns n."""
    eps = _EPS_INTERSECT_ONLY
    x0 = float(fc0)
    y0 = float(fr0)
    xs = float(fc1)
    ys = float(fr1)
    for j in range(s + 1, e):
        dfX = _clampf(gu[j - 1])
        dfY = _clampf(gv[j - 1])
        dfXEnd = _clampf(gu[j])
        dfYEnd = _clampf(gv[j])
        if ((dfY < y0 and dfYEnd < y0) or (dfY > ys and dfYEnd > ys)
                or (dfX < x0 and dfXEnd < x0) or (dfX > xs and dfXEnd > xs)):
            continue
        if dfX > dfXEnd:
            dfX, dfXEnd = dfXEnd, dfX
            dfY, dfYEnd = dfYEnd, dfY
        if np.floor(dfX) == np.floor(dfXEnd) or abs(dfX - dfXEnd) < 0.01:  # vertical
            if abs(dfX - np.round(dfX)) < eps and abs(dfXEnd - np.round(dfXEnd)) < eps:
                continue
            if dfYEnd < dfY:
                dfY, dfYEnd = dfYEnd, dfY
            iX = int(np.floor(dfXEnd))
            iY = int(np.floor(dfY))
            iYEnd = int(np.floor(dfYEnd - eps))
            if iX < fc0 or iX >= fc1:
                continue
            iY = max(iY, fr0)
            iYEnd = min(iYEnd, fr1 - 1)
            for yy in range(max(iY, wr0), min(iYEnd, wr1 - 1) + 1):
                n = _emit(rows, c0s, c1s, n, cap, yy, iX, iX + 1, wr0, wr1, wc0, wc1)
            continue
        if np.floor(dfY) == np.floor(dfYEnd) or abs(dfY - dfYEnd) < 0.01:  # horizontal
            if abs(dfY - np.round(dfY)) < eps and abs(dfYEnd - np.round(dfYEnd)) < eps:
                continue
            iX = int(np.floor(dfX))
            iY = int(np.floor(dfY))
            iXEnd = int(np.floor(dfXEnd - eps))
            if iY < fr0 or iY >= fr1:
                continue
            iX = max(iX, fc0)
            iXEnd = min(iXEnd, fc1 - 1)
            if iX <= iXEnd:
                n = _emit(rows, c0s, c1s, n, cap, iY, iX, iXEnd + 1, wr0, wr1, wc0, wc1)
            continue
        slope = (dfYEnd - dfY) / (dfXEnd - dfX)
        if dfXEnd > xs:
            dfYEnd -= (dfXEnd - xs) * slope
            dfXEnd = xs
        if dfX < x0:
            dfY += (x0 - dfX) * slope
            dfX = x0
        if dfYEnd > dfY:
            if dfY < y0:
                dfX += (y0 - dfY) / slope
                dfY = y0
            if dfYEnd >= ys:
                dfXEnd += (dfYEnd - ys) / slope
                if dfXEnd > xs:
                    dfXEnd = xs
        else:
            if dfY >= ys:
                dfX += (ys - dfY) / slope
                dfY = ys
            if dfYEnd < y0:
                dfXEnd -= (dfYEnd - y0) / slope
        while dfX >= x0 and dfX < dfXEnd:
            iX = int(np.floor(dfX))
            iY = int(np.floor(dfY))
            if iY >= fr0 and iY < fr1:
                n = _emit(rows, c0s, c1s, n, cap, iY, iX, iX + 1, wr0, wr1, wc0, wc1)
            step_x = np.floor(dfX + 1.0) - dfX
            step_y = step_x * slope
            if int(np.floor(dfY + step_y)) == iY:
                dfX += step_x
                dfY += step_y
            elif slope < 0:
                step_y = iY - dfY
                if step_y > -0.000000001:
                    step_y = -0.000000001
                dfX += step_y / slope
                dfY += step_y
            else:
                step_y = (iY + 1) - dfY
                if step_y < 0.000000001:
                    step_y = 0.000000001
                dfX += step_y / slope
                dfY += step_y
    return n


# --------------------------------------------------------------------------- per feature


@njit(cache=True)
def _normalize(rows, c0s, c1s, start, n, wc0, wc1):
    """Sort runs [start, n) by (row, c0) and merge overlapping/adjacent ones; returns new n.

    Counting sort by row, then insertion sort of each row's few runs (a real sort for long rows):
    the all-touched walk emits a pixel per step, so this runs over many short runs.
    """
    m = n - start
    rmin = rows[start]
    rmax = rows[start]
    for k in range(start, n):
        rmin = min(rmin, rows[k])
        rmax = max(rmax, rows[k])
    nr = rmax - rmin + 1
    first = np.zeros(nr + 1, np.int64)
    for k in range(start, n):
        first[rows[k] - rmin + 1] += 1
    for r in range(nr):
        first[r + 1] += first[r]
    pos = first[:nr].copy()
    a = np.empty(m, np.int32)
    b = np.empty(m, np.int32)
    for k in range(start, n):
        r = rows[k] - rmin
        a[pos[r]] = c0s[k]
        b[pos[r]] = c1s[k]
        pos[r] += 1
    out = start
    for r in range(nr):
        lo, hi = first[r], first[r + 1]
        if hi == lo:
            continue
        if hi - lo > 32:
            order = np.argsort(a[lo:hi], kind="mergesort")
            sa = a[lo:hi][order]
            sb = b[lo:hi][order]
            a[lo:hi] = sa
            b[lo:hi] = sb
        else:
            for t in range(lo + 1, hi):
                va, vb = a[t], b[t]
                u = t - 1
                while u >= lo and a[u] > va:
                    a[u + 1] = a[u]
                    b[u + 1] = b[u]
                    u -= 1
                a[u + 1] = va
                b[u + 1] = vb
        ca, cb = a[lo], b[lo]
        for t in range(lo + 1, hi):
            if a[t] <= cb:
                cb = max(cb, b[t])
            else:
                rows[out] = rmin + r
                c0s[out] = ca
                c1s[out] = cb
                out += 1
                ca, cb = a[t], b[t]
        rows[out] = rmin + r
        c0s[out] = ca
        c1s[out] = cb
        out += 1
    return out


@njit(cache=True)
def _fill_feature(gu, gv, ring_offsets, part_offsets, feature_offsets, ring_cw, f,
                  fr0, fr1, fc0, fc1, wr0, wr1, wc0, wc1, all_touched, rows, c0s, c1s, start, cap):
    rlo = max(fr0, wr0)
    rhi = min(fr1, wr1) - 1
    p0, p1 = feature_offsets[f], feature_offsets[f + 1]
    if rlo > rhi or max(fc0, wc0) >= min(fc1, wc1) or p0 == p1:
        return 0
    nv = ring_offsets[part_offsets[p1]] - ring_offsets[part_offsets[p0]]
    exlo = np.empty(nv, np.float64)
    eylo = np.empty(nv, np.float64)
    exhi = np.empty(nv, np.float64)
    eyhi = np.empty(nv, np.float64)
    eys = np.empty(nv, np.int64)
    eye = np.empty(nv, np.int64)
    active = np.empty(nv, np.int64)
    ints = np.empty(nv, np.int64)
    n = start
    needs_sort = all_touched or (p1 - p0) > 1
    for p in range(p0, p1):
        n, had_h = _centre_part(gu, gv, ring_offsets, ring_cw, part_offsets[p], part_offsets[p + 1],
                                rlo, rhi, fc0, fc1, wr0, wr1, wc0, wc1, rows, c0s, c1s, n, cap,
                                exlo, eylo, exhi, eyhi, eys, eye, active, ints)
        needs_sort = needs_sort or had_h
        if all_touched:
            for k in range(part_offsets[p], part_offsets[p + 1]):
                n = _walk_ring(gu, gv, ring_offsets[k], ring_offsets[k + 1], fr0, fr1, fc0, fc1,
                               wr0, wr1, wc0, wc1, rows, c0s, c1s, n, cap)
    if n >= cap and n > start:
        return -1  # capacity bound hit: a bug, reported by the caller
    if needs_sort and n - start > 1:
        n = _normalize(rows, c0s, c1s, start, n, wc0, wc1)
    return n - start


@njit(parallel=True, cache=True)
def fill_runs(gu, gv, ring_offsets, part_offsets, feature_offsets, ring_cw, feats,
              fr0, fr1, fc0, fc1, wr0, wr1, wc0, wc1, all_touched):
    """Pixel runs of the selected features (``feats``) inside the window.

    Returns ``(offsets, rows, c0, c1, overflow)``: runs of ``feats[i]`` are
    ``offsets[i]:offsets[i + 1]``; ``overflow`` counts features whose capacity bound was hit
    (always 0 unless there is a bug).
    """
    n = feats.shape[0]
    rlo = max(fr0, wr0)
    rhi = min(fr1, wr1) - 1
    cap = np.zeros(n + 1, np.int64)
    for i in prange(n):
        cap[i + 1] = _fill_capacity(gu, gv, ring_offsets, part_offsets, feature_offsets, feats[i],
                                    rlo, rhi, max(fc0, wc0), min(fc1, wc1), all_touched)
    for i in range(n):
        cap[i + 1] += cap[i]
    rows = np.empty(cap[n], np.int32)
    c0s = np.empty(cap[n], np.int32)
    c1s = np.empty(cap[n], np.int32)
    counts = np.zeros(n, np.int64)
    for i in prange(n):
        counts[i] = _fill_feature(gu, gv, ring_offsets, part_offsets, feature_offsets, ring_cw,
                                  feats[i], fr0, fr1, fc0, fc1, wr0, wr1, wc0, wc1, all_touched,
                                  rows, c0s, c1s, cap[i], cap[i + 1])
    overflow = 0
    off = np.zeros(n + 1, np.int64)
    for i in range(n):
        if counts[i] < 0:
            overflow += 1
            counts[i] = 0
        off[i + 1] = off[i] + counts[i]
    orow = np.empty(off[n], np.int32)
    oc0 = np.empty(off[n], np.int32)
    oc1 = np.empty(off[n], np.int32)
    for i in prange(n):
        s = cap[i]
        d = off[i]
        for k in range(counts[i]):
            orow[d + k] = rows[s + k]
            oc0[d + k] = c0s[s + k]
            oc1[d + k] = c1s[s + k]
    return off, orow, oc0, oc1, overflow
