"""Numba kernels: exact coverage fractions of polygons on a pixel grid, as sparse runs.

The idea of exactextract, computed the way font rasterisers accumulate coverage: every directed
edge, cut at row and column lines, adds to the pixel it crosses the exact area between itself
and the pixel's right side (``dv * (c + 1 - mid_u)``) and a ``cover`` of ``dv`` to every pixel
right of it. Sweeping each row left to right, a pixel's coverage is the running cover plus its own
area terms. With shells counter-clockwise and holes clockwise (in map coordinates) this is the
integral of the winding number over the pixel, i.e. the exact covered fraction, holes and
multi-part polygons included, with no clipping of polygons against pixels.

Only pixels crossed by an edge get a record, so work and memory are O(boundary pixels); interior
pixels come out as whole runs ``(row, c0, c1, fraction)`` (fraction 1 inside, or the running
cover where a vertex ends inside a row). Fractions within 1e-12 of 0 or 1 are snapped to 0/1.

Coordinates are pixel coordinates of the reference frame computed precisely
(``u = (x - left) / xres``, ``v = (top - y) / yres``); the window ``[wr0, wr1) x [wc0, wc1)``
selects the pixels returned (tiles use their parent's coordinates).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_TOL = 1e-12


@njit(cache=True)
def _records_capacity(fu, fv, ring_offsets, part_offsets, feature_offsets, f, wr0, wr1, wc0, wc1):
    cap = 0
    wmax = float(wc1 - wc0 + 1)
    for p in range(feature_offsets[f], feature_offsets[f + 1]):
        for k in range(part_offsets[p], part_offsets[p + 1]):
            for i in range(ring_offsets[k], ring_offsets[k + 1] - 1):
                va, vb = fv[i], fv[i + 1]
                if va == vb:
                    continue
                ra = max(np.floor(min(va, vb)), float(wr0))
                rb = min(np.ceil(max(va, vb)), float(wr1))
                if ra >= rb:
                    continue
                du = min(abs(fu[i + 1] - fu[i]), 2.0 * wmax)
                cap += 2 * int(rb - ra) + int(du) + 4
    return cap


@njit(cache=True, inline="always")
def _v_at(u, ua, va, dvdu, lo, hi):
    return min(max(va + (u - ua) * dvdu, lo), hi)


@njit(cache=True)
def _edge_records(ua, va, ub, vb, wr0, wr1, wc0, wc1, rrow, rcol, rarea, rcov, n):
    """Append the (row, col, area, cover) records of one directed edge; returns n."""
    vmin = min(va, vb)
    vmax = max(va, vb)
    ra = max(int(np.floor(vmin)), wr0)
    rb = min(int(np.ceil(vmax)), wr1)
    sgn = 1.0 if vb > va else -1.0
    vertical = ua == ub
    dudv = (ub - ua) / (vb - va)
    dvdu = 0.0 if vertical else (vb - va) / (ub - ua)
    for r in range(ra, rb):
        lo = max(vmin, float(r))
        hi = min(vmax, float(r + 1))
        if hi <= lo:
            continue
        ulo = ua if lo == va else (ub if lo == vb else ua + (lo - va) * dudv)
        uhi = ua if hi == va else (ub if hi == vb else ua + (hi - va) * dudv)
        if ulo <= uhi:
            umin, vumin, umax, vumax = ulo, lo, uhi, hi
        else:
            umin, vumin, umax, vumax = uhi, hi, ulo, lo
        if umax <= wc0:  # wholly left of the window: only its cover matters
            rrow[n] = r
            rcol[n] = wc0 - 1
            rarea[n] = 0.0
            rcov[n] = sgn * (hi - lo)
            n += 1
            continue
        if umin >= wc1:  # wholly right of the window: no effect on window pixels
            continue
        if vertical or umin == umax:
            c = int(np.floor(umin))
            dv = sgn * (hi - lo)
            rrow[n] = r
            rcol[n] = max(c, wc0 - 1)
            rarea[n] = 0.0 if c < wc0 else dv * (c + 1 - umin)
            rcov[n] = dv
            n += 1
            continue
        cu = umin
        cv = vumin
        if umin < wc0:
            nv = _v_at(float(wc0), ua, va, dvdu, lo, hi)
            rrow[n] = r
            rcol[n] = wc0 - 1
            rarea[n] = 0.0
            rcov[n] = sgn * abs(nv - cv)
            n += 1
            cu = float(wc0)
            cv = nv
        end_u = min(umax, float(wc1))
        c = int(np.floor(cu))
        while True:
            nu = min(float(c + 1), end_u)
            nv = vumax if nu == umax else _v_at(nu, ua, va, dvdu, lo, hi)
            dv = sgn * abs(nv - cv)
            rrow[n] = r
            rcol[n] = c
            rarea[n] = dv * (c + 1 - 0.5 * (cu + nu))
            rcov[n] = dv
            n += 1
            if nu >= end_u:
                break
            cu = nu
            cv = nv
            c += 1
    return n


@njit(cache=True)
def _order_by_row_col(rrow, rcol, n):
    """Order of records by (row, col): counting sort by row, then insertion sort of each row."""
    rmin = rrow[0]
    rmax = rrow[0]
    for k in range(1, n):
        rmin = min(rmin, rrow[k])
        rmax = max(rmax, rrow[k])
    nr = rmax - rmin + 1
    start = np.zeros(nr + 1, np.int64)
    for k in range(n):
        start[rrow[k] - rmin + 1] += 1
    for r in range(nr):
        start[r + 1] += start[r]
    pos = start[:nr].copy()
    order = np.empty(n, np.int64)
    for k in range(n):
        r = rrow[k] - rmin
        order[pos[r]] = k
        pos[r] += 1
    for r in range(nr):
        a, b = start[r], start[r + 1]
        if b - a > 48:  # long rows (near-horizontal edges): a real sort
            seg = order[a:b].copy()
            cols = rcol[seg]
            order[a:b] = seg[np.argsort(cols, kind="mergesort")]
            continue
        for t in range(a + 1, b):  # a handful of records per row: insertion sort by column
            q = order[t]
            cq = rcol[q]
            u = t - 1
            while u >= a and rcol[order[u]] > cq:
                order[u + 1] = order[u]
                u -= 1
            order[u + 1] = q
    return order


@njit(cache=True, inline="always")
def _put(orow, oc0, oc1, ow, m, r, a, b, w):
    orow[m] = r
    oc0[m] = a
    oc1[m] = b
    ow[m] = w
    return m + 1


@njit(cache=True)
def _fraction_feature(fu, fv, ring_offsets, part_offsets, feature_offsets, f, wr0, wr1, wc0, wc1,
                      ncap, orow, oc0, oc1, ow, start):
    """Runs of one feature written from ``start``; returns their number."""
    if ncap == 0:
        return 0
    rrow = np.empty(ncap, np.int64)
    rcol = np.empty(ncap, np.int64)
    rarea = np.empty(ncap, np.float64)
    rcov = np.empty(ncap, np.float64)
    n = 0
    for p in range(feature_offsets[f], feature_offsets[f + 1]):
        for k in range(part_offsets[p], part_offsets[p + 1]):
            for i in range(ring_offsets[k], ring_offsets[k + 1] - 1):
                if fv[i] == fv[i + 1]:
                    continue  # horizontal edges add nothing
                n = _edge_records(fu[i], fv[i], fu[i + 1], fv[i + 1], wr0, wr1, wc0, wc1,
                                  rrow, rcol, rarea, rcov, n)
    if n == 0:
        return 0
    order = _order_by_row_col(rrow, rcol, n)
    m = start
    i = 0
    while i < n:
        r = rrow[order[i]]
        acc = 0.0
        while i < n and rrow[order[i]] == r:
            c = rcol[order[i]]
            area = 0.0
            cov = 0.0
            while i < n and rrow[order[i]] == r and rcol[order[i]] == c:
                area += rarea[order[i]]
                cov += rcov[order[i]]
                i += 1
            if c >= wc0:
                val = acc + area
                if val > _TOL:
                    if abs(val - 1.0) <= _TOL:
                        val = 1.0
                    m = _put(orow, oc0, oc1, ow, m, r, c, c + 1, val)
            acc += cov
            nc = rcol[order[i]] if (i < n and rrow[order[i]] == r) else wc1
            a = max(c + 1, wc0)
            if nc > a and acc > _TOL:
                m = _put(orow, oc0, oc1, ow, m, r, a, nc, 1.0 if abs(acc - 1.0) <= _TOL else acc)
    return m - start


@njit(parallel=True, cache=True)
def fraction_runs(fu, fv, ring_offsets, part_offsets, feature_offsets, feats, wr0, wr1, wc0, wc1):
    """Coverage-fraction runs of the selected features inside the window.

    Returns ``(offsets, rows, c0, c1, fraction)``; runs of ``feats[i]`` are
    ``offsets[i]:offsets[i + 1]``, sorted by row then column, disjoint.
    """
    n = feats.shape[0]
    rcap = np.zeros(n, np.int64)
    cap = np.zeros(n + 1, np.int64)
    for i in prange(n):
        rcap[i] = _records_capacity(fu, fv, ring_offsets, part_offsets, feature_offsets, feats[i],
                                    wr0, wr1, wc0, wc1)
    for i in range(n):
        cap[i + 1] = cap[i] + 2 * rcap[i]
    rows = np.empty(cap[n], np.int32)
    c0s = np.empty(cap[n], np.int32)
    c1s = np.empty(cap[n], np.int32)
    ws = np.empty(cap[n], np.float64)
    counts = np.zeros(n, np.int64)
    for i in prange(n):
        counts[i] = _fraction_feature(fu, fv, ring_offsets, part_offsets, feature_offsets, feats[i],
                                      wr0, wr1, wc0, wc1, rcap[i], rows, c0s, c1s, ws, cap[i])
    off = np.zeros(n + 1, np.int64)
    for i in range(n):
        off[i + 1] = off[i] + counts[i]
    orow = np.empty(off[n], np.int32)
    oc0 = np.empty(off[n], np.int32)
    oc1 = np.empty(off[n], np.int32)
    ow = np.empty(off[n], np.float64)
    for i in prange(n):
        s = cap[i]
        d = off[i]
        for k in range(counts[i]):
            orow[d + k] = rows[s + k]
            oc0[d + k] = c0s[s + k]
            oc1[d + k] = c1s[s + k]
            ow[d + k] = ws[s + k]
    return off, orow, oc0, oc1, ow
