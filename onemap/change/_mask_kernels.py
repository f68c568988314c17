"""Numba kernels for binary morphology and for histograms that merge across chunks.

Plain functions on NumPy arrays (no I/O, no xarray), GIL-free, each on a range of rows or
values: the wrappers in :mod:`onemap.change.morphology` and :mod:`onemap.change.threshold`
check inputs and spread the ranges over threads with :mod:`onemap._compute`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# --------------------------------------------------------------------------- histogram


@njit(cache=True, nogil=True)
def _histogram_uniform(values, valid, use_valid, edges, first, denom, numer, i0, i1):
    """numpy.histogram's uniform-bin algorithm on values[i0:i1], same arithmetic in the values'
    dtype; returns int64 counts.

    ``first``, ``denom`` (last - first) and ``numer`` (number of bins) are scalars of the values'
    dtype so the index estimate rounds exactly as numpy's does; it is then corrected against the
    edges like numpy. Values outside [first, last] and NaN are skipped.
    """
    nb = edges.size - 1
    last = edges[nb]
    counts = np.zeros(nb, np.int64)
    for i in range(i0, i1):
        x = values[i]
        if use_valid and not valid[i]:
            continue
        if not (x >= first and x <= last):  # also drops NaN
            continue
        j = int(((x - first) / denom) * numer)
        if j == nb:
            j -= 1
        if x < edges[j]:
            j -= 1
        elif x >= edges[j + 1] and j != nb - 1:
            j += 1
        counts[j] += 1
    return counts


@njit(cache=True, nogil=True)
def _nan_minmax(values, valid, use_valid, lo0, hi0, i0, i1):
    """(min, max, count) of the non-NaN (and valid) values[i0:i1]; ``lo0``/``hi0`` are the
    dtype's largest/smallest value. NaN fails both comparisons, so no NaN branch is needed."""
    lo = lo0
    hi = hi0
    cnt = 0
    for i in range(i0, i1):
        x = values[i]
        if use_valid and not valid[i]:
            continue
        lo = min(lo, x) if x == x else lo
        hi = max(hi, x) if x == x else hi
        cnt += x == x
    return lo, hi, cnt


# --------------------------------------------------------------------------- morphology
# All on uint8 views of boolean masks. Border handling as scipy.ndimage with border_value=0:
# pixels outside the array are background, so erosion clears pixels whose structure reaches
# outside and dilation never grows from outside.


@njit(cache=True, nogil=True)
def _window_rows(src, radius, erode, out, r0, r1):
    """Square structure, horizontal half: window count over [c - radius, c + radius]."""
    h, w = src.shape
    full = 2 * radius + 1
    for r in range(r0, r1):
        cnt = 0
        for c in range(min(radius, w)):
            cnt += src[r, c]
        for c in range(w):
            hi = c + radius
            if hi < w:
                cnt += src[r, hi]
            lo = c - radius - 1
            if lo >= 0:
                cnt -= src[r, lo]
            if erode:
                out[r, c] = cnt == full
            else:
                out[r, c] = cnt > 0


@njit(cache=True, nogil=True)
def _window_cols(src, radius, erode, out, a, b):
    """Square structure, vertical half: running column counts over rows [a, b)."""
    h, w = src.shape
    full = 2 * radius + 1
    cnt = np.zeros(w, np.int32)
    for r in range(max(0, a - radius - 1), min(h, a + radius)):
        for c in range(w):
            cnt[c] += src[r, c]
    for r in range(a, b):
        hi = r + radius
        if hi < h:
            for c in range(w):
                cnt[c] += src[hi, c]
        lo = r - radius - 1
        if lo >= 0:
            for c in range(w):
                cnt[c] -= src[lo, c]
        if erode:
            for c in range(w):
                out[r, c] = cnt[c] == full
        else:
            for c in range(w):
                out[r, c] = cnt[c] > 0


@njit(cache=True, nogil=True)
def _square_small(src, radius, erode, out, a, b):
    """Square structure for small radii in one pass: AND/OR of 2r+1 rows into a row buffer,
    then of 2r+1 shifted copies of it. Inner loops index 1-D row views from 0 so that LLVM
    vectorises them (10x faster than 2-D indexing with shifted indices)."""
    h, w = src.shape
    tmp = np.empty(w, np.uint8)
    for r in range(a, b):
        o = out[r]
        lo = r - radius
        hi = r + radius
        if erode:
            if lo < 0 or hi >= h or w <= 2 * radius:
                for c in range(w):
                    o[c] = 0  # the square reaches outside: eroded
                continue
        else:
            lo = max(lo, 0)
            hi = min(hi, h - 1)
        s0 = src[lo]
        for c in range(w):
            tmp[c] = s0[c]
        for rr in range(lo + 1, hi + 1):
            s1 = src[rr]
            if erode:
                for c in range(w):
                    tmp[c] = tmp[c] & s1[c]
            else:
                for c in range(w):
                    tmp[c] = tmp[c] | s1[c]
        if erode:
            m = w - 2 * radius
            for c in range(radius):
                o[c] = 0
                o[w - 1 - c] = 0
            oc = o[radius:w - radius]
            for c in range(m):
                oc[c] = tmp[c]
            for d in range(1, 2 * radius + 1):
                t = tmp[d:]
                for c in range(m):
                    oc[c] = oc[c] & t[c]
        else:
            for c in range(w):
                o[c] = tmp[c]
            for d in range(1, min(radius, w - 1) + 1):
                m = w - d
                t = tmp[d:]
                for c in range(m):
                    o[c] = o[c] | t[c]
                o2 = o[d:]
                for c in range(m):
                    o2[c] = o2[c] | tmp[c]


@njit(cache=True, nogil=True)
def _offsets_op(src, dr, dc, erode, out, r0, r1):
    """Any structure given as offsets: erosion = all(src[p + d]), dilation = any(src[p + d])
    (the caller passes the reflected offsets for dilation, as scipy does)."""
    h, w = src.shape
    k = dr.size
    for r in range(r0, r1):
        for c in range(w):
            if erode:
                v = 1
                for i in range(k):
                    rr = r + dr[i]
                    cc = c + dc[i]
                    if rr < 0 or rr >= h or cc < 0 or cc >= w or src[rr, cc] == 0:
                        v = 0
                        break
            else:
                v = 0
                for i in range(k):
                    rr = r + dr[i]
                    cc = c + dc[i]
                    if rr >= 0 and rr < h and cc >= 0 and cc < w and src[rr, cc] != 0:
                        v = 1
                        break
            out[r, c] = v


@njit(cache=True, nogil=True)
def _cross_op(src, erode, out, r0, r1):
    """3x3 cross (4-neighbourhood) erosion or dilation on rows [r0, r1); beyond the image is 0.
    The inner loop runs on 1-D row views with the first and last column outside it, so it has
    no branch and LLVM vectorises it (20x faster than bounds tests per pixel)."""
    h, w = src.shape
    zero = np.zeros(w, src.dtype)
    for r in range(r0, r1):
        s = src[r]
        u = src[r - 1] if r > 0 else zero
        d = src[r + 1] if r + 1 < h else zero
        o = out[r]
        if w == 1:
            o[0] = 0 if erode else s[0] | u[0] | d[0]
            continue
        m = w - 2
        sl, sc, sr = s[:m], s[1:w - 1], s[2:]
        uc, dc, oc = u[1:w - 1], d[1:w - 1], o[1:w - 1]
        if erode:  # the first and last column touch the outside (0): eroded
            o[0] = 0
            o[w - 1] = 0
            for c in range(m):
                oc[c] = sc[c] & uc[c] & dc[c] & sl[c] & sr[c]
        else:
            o[0] = s[0] | u[0] | d[0] | s[1]
            o[w - 1] = s[w - 1] | u[w - 1] | d[w - 1] | s[w - 2]
            for c in range(m):
                oc[c] = sc[c] | uc[c] | dc[c] | sl[c] | sr[c]


# --------------------------------------------------------------------------- cloud candidates


@njit(cache=True, nogil=True, error_model="numpy")
def white_bright(img, ib, ig, ir, blue_min, whiteness_max, r0, r1, out):
    """Pixels whose blue is >= blue_min and whose visible bands spread <= whiteness_max x their
    mean (float32 arithmetic, NaN compares False), rows r0:r1 of ``img[band, y, x]``."""
    w = img.shape[2]
    k = np.float32(whiteness_max)
    bmin = np.float32(blue_min)
    third = np.float32(1.0 / 3.0)
    for y in range(r0, r1):
        for x in range(w):
            b = np.float32(img[ib, y, x])
            g = np.float32(img[ig, y, x])
            r = np.float32(img[ir, y, x])
            hi = max(b, max(g, r))
            lo = min(b, min(g, r))
            out[y, x] = (b >= bmin) and (hi - lo <= k * ((b + g + r) * third))
