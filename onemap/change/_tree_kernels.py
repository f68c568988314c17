"""Numba kernels evaluating a LightGBM binary ensemble (plain NumPy arrays in and out).

The ensemble is flat (built by :class:`onemap.change.trees.Ensemble`), all trees' nodes in one
set of arrays, child and root indices global:

- ``feat`` int32 ``(nodes,)``: split feature; ``thr`` float64: threshold (``x <= thr`` goes left);
- ``child`` int32 ``(nodes, 2)``: left, right; ``>= 0`` a node, ``< 0`` the leaf ``~child``;
- ``flags`` uint8: :data:`NAN_LEFT` (where NaN goes), :data:`ZERO_MISSING` (0 goes the default
  way), :data:`DEFAULT_LEFT`;
- ``value`` float64 ``(leaves,)``; ``roots`` int32 ``(trees,)`` (``~leaf`` for a one-leaf tree).

Decisions are LightGBM's own (``Tree::NumericalDecision``): the float32 feature is widened to
float64, a value within :data:`ZERO` of 0 is 0 (LightGBM's dense-row reader drops it), NaN goes
the default way for missing type "NaN" and "Zero" and is 0 for "None", 0 goes the default way
for "Zero". Trees are added in order from 0.0 as LightGBM does, so the raw score is bit-identical.

Rows outer, trees inner: each row is converted once into a small float64 buffer that stays in
L1 while all trees (a few 10 kB of nodes) are walked (measured faster than trees outer in row
blocks, benchmarks/bench_trees.py).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NAN_LEFT, ZERO_MISSING, DEFAULT_LEFT = 1, 2, 4
ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float)


@njit(cache=True, nogil=True, inline="always")
def _load(v):
    v = np.float64(v)
    return 0.0 if -ZERO <= v <= ZERO else v


@njit(cache=True, nogil=True, inline="always")
def _score(row, feat, thr, child, flags, value, roots):
    s = 0.0
    for t in range(roots.size):
        node = roots[t]
        while node >= 0:
            v = row[feat[node]]
            right = not (v <= thr[node])  # NaN compares false: right unless fixed below
            if v != v:
                right = (flags[node] & NAN_LEFT) == 0
            elif v == 0.0 and (flags[node] & ZERO_MISSING) != 0:
                right = (flags[node] & DEFAULT_LEFT) == 0
            node = child[node, 1 if right else 0]
        s += value[~node]
    return s


@njit(cache=True, nogil=True)
def raw_rows(X, feat, thr, child, flags, value, roots, out):
    """Raw score of every row of float32 ``X (n, k)`` into float64 ``out (n,)``."""
    n, k = X.shape
    row = np.empty(k, np.float64)
    for i in range(n):
        for j in range(k):
            row[j] = _load(X[i, j])
        out[i] = _score(row, feat, thr, child, flags, value, roots)


@njit(cache=True, nogil=True)
def raw_at(F, rows, cols, feat, thr, child, flags, value, roots, out):
    """Raw score of pixels ``F[:, rows[i], cols[i]]`` of ``F (k, h, w)`` into ``out (n,)``:
    no gathered copy of the feature matrix."""
    k = F.shape[0]
    row = np.empty(k, np.float64)
    for i in range(rows.size):
        r, c = rows[i], cols[i]
        for j in range(k):
            row[j] = _load(F[j, r, c])
        out[i] = _score(row, feat, thr, child, flags, value, roots)


@njit(cache=True, nogil=True)
def raw_blocked(X, feat, thr, child, flags, value, roots, out, block):
    """As :func:`raw_rows`, trees outer and rows inner in blocks of *block* rows (benchmark
    alternative; same sums in the same order)."""
    n, k = X.shape
    buf = np.empty((block, k), np.float64)
    for i0 in range(0, n, block):
        m = min(block, n - i0)
        for i in range(m):
            for j in range(k):
                buf[i, j] = _load(X[i0 + i, j])
            out[i0 + i] = 0.0
        for t in range(roots.size):
            for i in range(m):
                node = roots[t]
                while node >= 0:
                    v = buf[i, feat[node]]
                    right = not (v <= thr[node])
                    if v != v:
                        right = (flags[node] & NAN_LEFT) == 0
                    elif v == 0.0 and (flags[node] & ZERO_MISSING) != 0:
                        right = (flags[node] & DEFAULT_LEFT) == 0
                    node = child[node, 1 if right else 0]
                out[i0 + i] += value[~node]


@njit(cache=True, nogil=True)
def sigmoid(raw, scale, out):
    """LightGBM's binary objective output ``1 / (1 + exp(-scale * raw))``."""
    for i in range(raw.size):
        out[i] = 1.0 / (1.0 + math.exp(-scale * raw[i]))
