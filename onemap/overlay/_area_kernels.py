"""Numba kernels: exact intersection area of polygon pairs without building the intersection.

For valid polygons (shells counter-clockwise, holes clockwise) the winding number is
``w(p) = sum over edges e of s_e * [p lies below e]`` with ``s_e = +1`` for edges running in -x
direction and -1 for edges running +x. Hence

    area(A ∩ B) = ∫ w_A w_B = Σ_a Σ_b s_a s_b ∫ max(0, min(y_a(x), y_b(x)) - y0) dx

over the common x-range of edges a and b, with the baseline ``y0`` at the lower of the two
polygons' bottoms' maximum (every point of A ∩ B lies above it). Each term is the integral of a
piecewise-linear function: no intersection points are classified, collinear shared edges need no
special case, and the result is a continuous function of the vertices, so it is robust where
clipping algorithms are fragile. Cost O(n_A x n_B) per pair after dropping edges outside the
pair's common x-range and below its baseline; coordinates are shifted to A's corner first for
precision.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _pos_trapezoid(a, b, w):
    """∫ max(0, f) over an interval of width w where f is linear from a to b."""
    if a >= 0.0 and b >= 0.0:
        return 0.5 * (a + b) * w
    if a <= 0.0 and b <= 0.0:
        return 0.0
    if a > 0.0:
        return 0.5 * a * a / (a - b) * w
    return 0.5 * b * b / (b - a) * w


@njit(cache=True, inline="always")
def _edge_pair(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2):
    lo = max(min(ax1, ax2), min(bx1, bx2))
    hi = min(max(ax1, ax2), max(bx1, bx2))
    if hi <= lo:
        return 0.0
    sa = (ay2 - ay1) / (ax2 - ax1)
    sb = (by2 - by1) / (bx2 - bx1)
    ya_lo = ay1 + (lo - ax1) * sa
    ya_hi = ay1 + (hi - ax1) * sa
    yb_lo = by1 + (lo - bx1) * sb
    yb_hi = by1 + (hi - bx1) * sb
    d_lo = ya_lo - yb_lo
    d_hi = ya_hi - yb_hi
    if (d_lo > 0.0 and d_hi < 0.0) or (d_lo < 0.0 and d_hi > 0.0):
        t = d_lo / (d_lo - d_hi)
        xm = lo + t * (hi - lo)
        ym = ya_lo + t * (ya_hi - ya_lo)
        return (_pos_trapezoid(min(ya_lo, yb_lo), ym, xm - lo)
                + _pos_trapezoid(ym, min(ya_hi, yb_hi), hi - xm))
    return _pos_trapezoid(min(ya_lo, yb_lo), min(ya_hi, yb_hi), hi - lo)


@njit(cache=True)
def _gather_edges(x, y, ring_offsets, k0, k1, ox, oy, xlo, xhi, ylo, ex1, ey1, ex2, ey2, sgn):
    """Edges of rings k0..k1, shifted by (ox, oy), that can matter: overlapping [xlo, xhi] in x,
    not wholly below ``ylo``."""
    n = 0
    for k in range(k0, k1):
        for i in range(ring_offsets[k], ring_offsets[k + 1] - 1):
            x1 = x[i] - ox
            x2 = x[i + 1] - ox
            if x1 == x2 or max(x1, x2) <= xlo or min(x1, x2) >= xhi:
                continue
            y1 = y[i] - oy
            y2 = y[i + 1] - oy
            if y1 <= ylo and y2 <= ylo:
                continue
            ex1[n] = x1
            ey1[n] = y1
            ex2[n] = x2
            ey2[n] = y2
            sgn[n] = 1.0 if x2 < x1 else -1.0
            n += 1
    return n


@njit(cache=True)
def _group_areas(ia, ib, start, end, xa, ya, rings_a, parts_a, feats_a, bounds_a,
                 xb, yb, rings_b, parts_b, feats_b, bounds_b, out):
    """Areas of the pairs start..end, which share their A feature (edges gathered once)."""
    fa = ia[start]
    pa0, pa1 = feats_a[fa], feats_a[fa + 1]
    if pa0 == pa1:
        return
    ba = bounds_a[fa]
    ox, oy = ba[0], ba[1]  # A's corner: the origin for this group (precision)
    ka0, ka1 = parts_a[pa0], parts_a[pa1]
    na = rings_a[ka1] - rings_a[ka0]
    ax1 = np.empty(na)
    ay1 = np.empty(na)
    ax2 = np.empty(na)
    ay2 = np.empty(na)
    sa = np.empty(na)
    ma = _gather_edges(xa, ya, rings_a, ka0, ka1, ox, oy, 0.0, ba[2] - ox, 0.0,
                       ax1, ay1, ax2, ay2, sa)
    nbmax = 0
    for k in range(start, end):
        fb = ib[k]
        pb0, pb1 = feats_b[fb], feats_b[fb + 1]
        if pb1 > pb0:
            nbmax = max(nbmax, rings_b[parts_b[pb1]] - rings_b[parts_b[pb0]])
    bx1 = np.empty(nbmax)
    by1 = np.empty(nbmax)
    bx2 = np.empty(nbmax)
    by2 = np.empty(nbmax)
    sb = np.empty(nbmax)
    for k in range(start, end):
        fb = ib[k]
        pb0, pb1 = feats_b[fb], feats_b[fb + 1]
        if pb0 == pb1:
            continue
        bb = bounds_b[fb]
        xlo = max(0.0, bb[0] - ox)
        xhi = min(ba[2], bb[2]) - ox
        base = max(0.0, bb[1] - oy)  # the pair's baseline: every point of A ∩ B lies above it
        if xhi <= xlo or min(ba[3], bb[3]) - oy <= base:
            continue
        mb = _gather_edges(xb, yb, rings_b, parts_b[pb0], parts_b[pb1], ox, oy, xlo, xhi, base,
                           bx1, by1, bx2, by2, sb)
        total = 0.0
        for i in range(ma):
            alo = min(ax1[i], ax2[i])
            ahi = max(ax1[i], ax2[i])
            if ahi <= xlo or alo >= xhi or (ay1[i] <= base and ay2[i] <= base):
                continue
            acc = 0.0
            for j in range(mb):
                if max(bx1[j], bx2[j]) <= alo or min(bx1[j], bx2[j]) >= ahi:
                    continue
                acc += sb[j] * _edge_pair(ax1[i], ay1[i] - base, ax2[i], ay2[i] - base,
                                          bx1[j], by1[j] - base, bx2[j], by2[j] - base)
            total += sa[i] * acc
        out[k] = total


@njit(parallel=True, cache=True)
def pair_areas(ia, ib,
               xa, ya, rings_a, parts_a, feats_a, bounds_a,
               xb, yb, rings_b, parts_b, feats_b, bounds_b):
    """Area of ``A[ia[k]] ∩ B[ib[k]]`` for every pair k (plane area, CRS units²).

    Consecutive pairs sharing their A feature (``STRtree.query`` returns them so) form one task,
    so A's edges are gathered once per group; any order gives the same areas.
    """
    n = ia.shape[0]
    out = np.zeros(n, np.float64)
    if n == 0:
        return out
    starts = np.empty(n + 1, np.int64)
    g = 0
    for k in range(n):
        if k == 0 or ia[k] != ia[k - 1]:
            starts[g] = k
            g += 1
    starts[g] = n
    for t in prange(g):
        _group_areas(ia, ib, starts[t], starts[t + 1], xa, ya, rings_a, parts_a, feats_a, bounds_a,
                     xb, yb, rings_b, parts_b, feats_b, bounds_b, out)
    return out
