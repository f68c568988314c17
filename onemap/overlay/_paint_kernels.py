"""Numba kernels: paint pixel runs into grids (ids, or summed coverage fractions).

Runs arrive grouped by feature (as the fill and fraction kernels produce them); they are sorted by
row with a stable counting sort and painted row by row in parallel, features in their order, so
the writes of a row stay in cache and, where polygons overlap, the later one wins (as in GDAL).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def runs_by_row(off, rows, r0, h):
    """Stable counting sort of runs by row: ``(row_offsets, order, owner)``.

    ``order[row_offsets[r]:row_offsets[r + 1]]`` are the runs of row ``r0 + r`` in feature order,
    ``owner[k]`` the feature of run k. Painting row by row keeps the writes of a row in cache.
    """
    n = rows.shape[0]
    nf = off.shape[0] - 1
    owner = np.empty(n, np.int64)
    for f in range(nf):
        for k in range(off[f], off[f + 1]):
            owner[k] = f
    row_off = np.zeros(h + 1, np.int64)
    for k in range(n):
        row_off[rows[k] - r0 + 1] += 1
    for r in range(h):
        row_off[r + 1] += row_off[r]
    pos = row_off[:h].copy()
    order = np.empty(n, np.int64)
    for k in range(n):
        r = rows[k] - r0
        order[pos[r]] = k
        pos[r] += 1
    return row_off, order, owner


@njit(parallel=True, cache=True)
def paint_ids(off, rows, c0s, c1s, ids, out, r0, col0, fill):
    """Write ``fill`` everywhere, then ``ids[i]`` over the runs of feature i, features in order
    (the last one wins, as in GDAL). ``out`` may be uninitialised."""
    h = out.shape[0]
    row_off, order, owner = runs_by_row(off, rows, r0, h)
    for r in prange(h):
        out[r, :] = fill
        for t in range(row_off[r], row_off[r + 1]):
            k = order[t]
            v = ids[owner[k]]
            for c in range(c0s[k] - col0, c1s[k] - col0):
                out[r, c] = v


@njit(parallel=True, cache=True)
def paint_fractions(off, rows, c0s, c1s, ws, vals, out, r0, col0):
    """``out = Σ fraction x vals[i]`` over the runs of every feature i (``out`` may be unset)."""
    h = out.shape[0]
    row_off, order, owner = runs_by_row(off, rows, r0, h)
    for r in prange(h):
        out[r, :] = 0.0
        for t in range(row_off[r], row_off[r + 1]):
            k = order[t]
            w = ws[k] * vals[owner[k]]
            for c in range(c0s[k] - col0, c1s[k] - col0):
                out[r, c] += w
