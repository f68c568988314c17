"""Numba kernels for connected components, their statistics and histograms.

Plain functions on NumPy arrays (no I/O, no xarray). The wrappers in :mod:`onemap.change.label`
and :mod:`onemap.change.morphology` check inputs and call them; morphology and histogram kernels
are in :mod:`onemap.change._mask_kernels`.

Labelling is a two-pass union-find on *provisional* labels: horizontal strips of rows are
scanned in parallel (GIL-free kernels driven by :mod:`onemap.change._label_strips`), each
with its own range of provisional labels, the strips' seams are merged with a few thousand
sequential unions, and a final parallel pass writes the final labels.
Unions always link the larger root to the smaller one, so the root of a component is its
smallest provisional label, which is the label of its first pixel in raster order; numbering the
roots in increasing order therefore numbers components in raster order of their first pixel
(the order ``scipy.ndimage.label`` uses).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# --------------------------------------------------------------------------- union-find


@njit(cache=True, inline="always")
def _find(parent, x):
    # path halving: every visited node skips its parent; keeps parent[x] <= x
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(cache=True, inline="always")
def _union(parent, a, b):
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra < rb:
        parent[rb] = ra
        return ra
    if rb < ra:
        parent[ra] = rb
        return rb
    return ra


# --------------------------------------------------------------------------- labelling


@njit(cache=True, nogil=True)
def _scan_first_row(mask, out, parent, r0, nxt, firstpos, want_first, counts, want_counts):
    """Label row *r0* of a strip from its left neighbours only; returns the next free label."""
    w = mask.shape[1]
    left = 0
    for c in range(w):
        if mask[r0, c]:
            if left == 0:
                parent[nxt] = nxt
                if want_first:
                    firstpos[nxt] = r0 * w + c
                left = nxt
                nxt += 1
            out[r0, c] = left
            if want_counts:
                counts[left] += 1
        else:
            left = 0
            out[r0, c] = 0
    return nxt


@njit(cache=True, nogil=True)
def _scan_strip8(mask, out, parent, r0, r1, base, firstpos, want_first, counts, want_counts):
    """First pass over rows [r0, r1) with 8-connectivity; returns the next free label.

    With ``want_first`` records where each new label starts (``firstpos``), with
    ``want_counts`` counts the pixels of each provisional label (``counts``); strips use
    disjoint label ranges, so strips can run in parallel."""
    w = mask.shape[1]
    nxt = base
    # first row of the strip: only the left neighbour is inside the strip
    nxt = _scan_first_row(mask, out, parent, r0, nxt, firstpos, want_first, counts, want_counts)
    for r in range(r0 + 1, r1):
        for c in range(w):
            if not mask[r, c]:
                out[r, c] = 0
                continue
            b = out[r - 1, c]
            if b != 0:  # b touches a, c and d: copying it is enough
                out[r, c] = b
                if want_counts:
                    counts[b] += 1
                continue
            ur = out[r - 1, c + 1] if c + 1 < w else 0
            ul = out[r - 1, c - 1] if c > 0 else 0
            lf = out[r, c - 1] if c > 0 else 0
            if ur != 0:
                if ul != 0:
                    _union(parent, ur, ul)
                elif lf != 0:
                    _union(parent, ur, lf)
                out[r, c] = ur
                if want_counts:
                    counts[ur] += 1
            elif ul != 0:
                out[r, c] = ul
                if want_counts:
                    counts[ul] += 1
            elif lf != 0:
                out[r, c] = lf
                if want_counts:
                    counts[lf] += 1
            else:
                parent[nxt] = nxt
                if want_first:
                    firstpos[nxt] = r * w + c
                out[r, c] = nxt
                if want_counts:
                    counts[nxt] += 1
                nxt += 1
    return nxt


@njit(cache=True, nogil=True)
def _scan_strip4(mask, out, parent, r0, r1, base, firstpos, want_first, counts, want_counts):
    """First pass over rows [r0, r1) with 4-connectivity; returns the next free label."""
    w = mask.shape[1]
    nxt = base
    nxt = _scan_first_row(mask, out, parent, r0, nxt, firstpos, want_first, counts, want_counts)
    for r in range(r0 + 1, r1):
        for c in range(w):
            if not mask[r, c]:
                out[r, c] = 0
                continue
            up = out[r - 1, c]
            lf = out[r, c - 1] if c > 0 else 0
            if up != 0:
                if lf != 0 and lf != up:
                    _union(parent, up, lf)
                out[r, c] = up
                if want_counts:
                    counts[up] += 1
            elif lf != 0:
                out[r, c] = lf
                if want_counts:
                    counts[lf] += 1
            else:
                parent[nxt] = nxt
                if want_first:
                    firstpos[nxt] = r * w + c
                out[r, c] = nxt
                if want_counts:
                    counts[nxt] += 1
                nxt += 1
    return nxt


@njit(cache=True)
def _merge_seam(out, parent, r, conn8):
    """Union the labels of row r with those of row r - 1 (a seam between two strips)."""
    w = out.shape[1]
    for c in range(w):
        a = out[r, c]
        if a == 0:
            continue
        if out[r - 1, c] != 0:
            _union(parent, a, out[r - 1, c])
        if conn8:
            if c > 0 and out[r - 1, c - 1] != 0:
                _union(parent, a, out[r - 1, c - 1])
            if c + 1 < w and out[r - 1, c + 1] != 0:
                _union(parent, a, out[r - 1, c + 1])


@njit(cache=True)
def _number_roots(parent, bases, ends, firstpos, want_first, first):
    """Turn ``parent`` into provisional -> final label, roots numbered in increasing order.

    Relies on parent[l] <= l: when l is reached its parent has already been given its final
    number (in place), so one read is enough. With ``want_first``, ``first[k - 1]`` receives the
    raster index of label k's first pixel (where its root was created). Returns the number of
    components.
    """
    k = 0
    for s in range(bases.size):
        for lab in range(bases[s], ends[s]):
            p = parent[lab]
            if p == lab:
                if want_first:
                    first[k] = firstpos[lab]
                k += 1
                parent[lab] = k
            else:
                parent[lab] = parent[p]
    return k


@njit(cache=True, nogil=True)
def _apply_rows(out, table, r0, r1):
    """Provisional -> final labels on rows [r0, r1). Unconditional gather (table[0] == 0): a
    branch on v != 0 mispredicts on dense masks and runs ~10x slower."""
    for r in range(r0, r1):
        row = out[r]
        for c in range(row.size):
            row[c] = table[row[c]]


@njit(cache=True, nogil=True)
def _label_serial(mask, out, parent, conn8, firstpos, want_first, first):
    """Single-strip labelling: small arrays (no thread start-up) and chunks labelled by a
    chunked caller's own threads (GIL released)."""
    counts = np.empty(1, parent.dtype)
    if conn8:
        end = _scan_strip8(mask, out, parent, 0, mask.shape[0], 1, firstpos, want_first, counts,
                           False)
    else:
        end = _scan_strip4(mask, out, parent, 0, mask.shape[0], 1, firstpos, want_first, counts,
                           False)
    parent[0] = 0
    k = _number_roots(parent, np.ones(1, np.int64), np.full(1, end, np.int64), firstpos, want_first,
                      first)
    for r in range(out.shape[0]):
        row = out[r]
        for c in range(row.size):
            row[c] = parent[row[c]]  # parent[0] == 0: no branch (see _apply_rows)
    return k


@njit(cache=True)
def _final_counts(parent, bases, ends, counts, n):
    """Pixels per final label from the pixels per provisional label (after numbering)."""
    total = np.zeros(n + 1, np.int64)
    for s in range(bases.size):
        for lab in range(bases[s], ends[s]):
            total[parent[lab]] += counts[lab]
    return total


@njit(cache=True)
def _size_keep_table(parent, bases, ends, sizes, min_pixels, keep):
    """keep[provisional label] = its component has at least min_pixels pixels."""
    for s in range(bases.size):
        for lab in range(bases[s], ends[s]):
            keep[lab] = sizes[parent[lab]] >= min_pixels


# --------------------------------------------------------------------------- per-label statistics


@njit(cache=True, nogil=True)
def _stats_rows(labels, n, score, has_score, r0, r1, count, rmin, rmax, cmin, cmax, rsum, csum,
                ssum, scount, smax):
    """Accumulate rows [r0, r1); returns -1 if all labels were in [0, n], else a bad label."""
    w = labels.shape[1]
    for r in range(r0, r1):
        for c in range(w):
            v = labels[r, c]
            if v == 0:
                continue
            if v < 0 or v > n:
                return v
            i = v - 1
            if count[i] == 0:
                rmin[i] = r
                cmin[i] = c
                rmax[i] = r
                cmax[i] = c
            else:
                # rows arrive in order: row_min is set on first sight
                rmax[i] = r
                if c < cmin[i]:
                    cmin[i] = c
                if c > cmax[i]:
                    cmax[i] = c
            count[i] += 1
            rsum[i] += r
            csum[i] += c
            if has_score:
                s = score[r, c]
                if s == s:  # not NaN
                    ssum[i] += s
                    if scount[i] == 0 or s > smax[i]:
                        smax[i] = s
                    scount[i] += 1
    return -1


@njit(cache=True)
def _merge_stats(count, rmin, rmax, cmin, cmax, rsum, csum, ssum, scount, smax):
    """Merge the (nstrips, n) accumulators of strips in row order into row 0 (the first/last
    strip that saw a label gives its row_min/row_max)."""
    nst, n = count.shape
    for i in range(n):
        for s in range(1, nst):
            if count[s, i] == 0:
                continue
            if count[0, i] == 0:
                rmin[0, i] = rmin[s, i]
                cmin[0, i] = cmin[s, i]
                cmax[0, i] = cmax[s, i]
            else:
                cmin[0, i] = min(cmin[0, i], cmin[s, i])
                cmax[0, i] = max(cmax[0, i], cmax[s, i])
            rmax[0, i] = rmax[s, i]
            count[0, i] += count[s, i]
            rsum[0, i] += rsum[s, i]
            csum[0, i] += csum[s, i]
            if scount[s, i] > 0:
                if scount[0, i] == 0 or smax[s, i] > smax[0, i]:
                    smax[0, i] = smax[s, i]
                ssum[0, i] += ssum[s, i]
                scount[0, i] += scount[s, i]


@njit(cache=True, nogil=True)
def _first_pixels(labels, n, rows, cols):
    """Row/col of the first pixel (raster order) of each label 1..n; -1 where absent."""
    seen = 0
    h, w = labels.shape
    for r in range(h):
        for c in range(w):
            v = labels[r, c]
            if v > 0 and rows[v - 1] < 0:
                rows[v - 1] = r
                cols[v - 1] = c
                seen += 1
                if seen == n:
                    return


@njit(cache=True, nogil=True)
def _keep_rows(labels, keep, out, r0, r1):
    """out = keep[labels] on rows [r0, r1)."""
    for r in range(r0, r1):
        for c in range(labels.shape[1]):
            out[r, c] = keep[labels[r, c]]


# --------------------------------------------------------------------------- tile stitching


@njit(cache=True)
def _seam_pairs(a, b, conn8, pairs):
    """Pairs (a[i], b[j]) of non-zero labels facing each other across a seam, |i - j| <= 1 for
    8-connectivity, i == j for 4; returns how many were written into ``pairs``."""
    k = 0
    m = a.size
    for i in range(m):
        if a[i] == 0:
            continue
        lo = i - 1 if conn8 and i > 0 else i
        hi = i + 1 if conn8 and i + 1 < m else i
        for j in range(lo, hi + 1):
            if b[j] != 0:
                pairs[k, 0] = a[i]
                pairs[k, 1] = b[j]
                k += 1
    return k


@njit(cache=True)
def _resolve_pairs(parent, key, pairs):
    """Union-find over pieces 0..m-1 joined by ``pairs``; the root is the piece of smallest key."""
    for i in range(pairs.shape[0]):
        ra = pairs[i, 0]
        while parent[ra] != ra:
            parent[ra] = parent[parent[ra]]
            ra = parent[ra]
        rb = pairs[i, 1]
        while parent[rb] != rb:
            parent[rb] = parent[parent[rb]]
            rb = parent[rb]
        if ra == rb:
            continue
        if key[ra] < key[rb]:
            parent[rb] = ra
        else:
            parent[ra] = rb
    for i in range(parent.size):
        r = i
        while parent[r] != r:
            r = parent[r]
        parent[i] = r


@njit(cache=True, nogil=True)
def _relabel_block(labels, local, out):
    """out = local[labels] (0 stays 0); returns -1, or a label outside the table.
    Serial and GIL-free: chunked callers run one block per thread."""
    n = local.size - 1
    for r in range(labels.shape[0]):
        for c in range(labels.shape[1]):
            v = labels[r, c]
            if v == 0:
                out[r, c] = 0
            elif v < 0 or v > n:
                return v
            else:
                out[r, c] = local[v]
    return -1


@njit(cache=True)
def _hole_table(labels, table, bases, ends, n, keep):
    """keep[provisional label] = its background component does not reach the array border
    (fill_holes); keep[0] stays True for the foreground."""
    h, w = labels.shape
    touches = np.zeros(n + 1, np.bool_)
    for c in range(w):
        touches[table[labels[0, c]]] = True
        touches[table[labels[h - 1, c]]] = True
    for r in range(h):
        touches[table[labels[r, 0]]] = True
        touches[table[labels[r, w - 1]]] = True
    keep[0] = True
    for s in range(bases.size):
        for lab in range(bases[s], ends[s]):
            keep[lab] = not touches[table[lab]]


@njit(cache=True, nogil=True)
def ring_kernel(lab, width, out):
    """``out[q]``: for a background pixel *q* (``lab == 0``) within Euclidean distance *width*
    of a labelled pixel, the label of the nearest one (ties: the smaller label); 0 elsewhere.

    Scattered from the labelled pixels over the disc of radius *width* (a few dozen offsets
    each): the cost follows the patches, not the window, unlike a distance transform of the
    whole window. *out* (``int32``, like *lab*) is overwritten.
    """
    h, w = lab.shape
    w2 = width * width
    best = np.full((h, w), w2 + 1, np.int32)
    out[:] = 0
    for i in range(h):
        for j in range(w):
            lb = lab[i, j]
            if lb == 0:
                continue
            for di in range(-width, width + 1):
                ii = i + di
                if ii < 0 or ii >= h:
                    continue
                for dj in range(-width, width + 1):
                    d2 = di * di + dj * dj
                    jj = j + dj
                    if d2 > w2 or jj < 0 or jj >= w or lab[ii, jj] != 0:
                        continue
                    if d2 < best[ii, jj] or (d2 == best[ii, jj] and lb < out[ii, jj]):
                        best[ii, jj] = d2
                        out[ii, jj] = lb
