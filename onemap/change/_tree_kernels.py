"""Numba kernels evaluating a LightGBM binary ensemble (plain NumPy arrays in and out).

The ensemble is flat (built by :class:`onemap.change.trees.Ensemble`), all trees' nodes in one
set of arrays, leaves being nodes too (after all split nodes, both children themselves):

- ``feat`` uint32 ``(nodes,)``: split feature; ``thr`` float64: threshold (``x <= thr`` left);
- ``child`` uint32 ``(2 * nodes,)``: left and right child of node ``i`` at ``2i``, ``2i + 1``;
- ``flags`` uint8: :data:`NAN_LEFT` (where NaN goes), :data:`ZERO_MISSING` (0 goes the default
  way), :data:`DEFAULT_LEFT`; ``value`` float64: the leaf value (0 at split nodes);
- ``roots`` uint32 ``(trees,)``; ``depth`` int32: the deepest leaf's depth of each tree.

Decisions are LightGBM's own (``Tree::NumericalDecision``): the feature is widened to float64,
a value within :data:`ZERO` of 0 is 0 (LightGBM's dense-row reader drops it), NaN goes the
default way for missing type "NaN" and "Zero" and is 0 for "None", 0 goes the default way for
"Zero". Each row's trees are added in order from 0.0 as LightGBM does: bit-identical raw scores.

Speed: a tree walk is a chain of dependent loads, so a row walked alone leaves the CPU waiting
(that, rows outer or trees outer in row blocks, was no faster than LightGBM). Here :data:`G`
rows walk each tree together, step by step (a leaf steps to itself) until all are at leaves, with
no branch per row: :data:`G` independent chains in flight. A group holding NaN (or 0 when some
split treats zero as missing) takes the same walk with LightGBM's missing-value tests.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

NAN_LEFT, ZERO_MISSING, DEFAULT_LEFT = 1, 2, 4
ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float)
G = 8  # rows walking a tree together (measured: 8 >= 16, 32 > 4)
U1, U2 = np.uint32(1), np.uint32(2)


@njit(cache=True, nogil=True, inline="always")
def _load(v, zero_special):
    """(LightGBM's value, whether the fast path cannot take it)."""
    v = np.float64(v)
    if -ZERO <= v <= ZERO:
        return 0.0, zero_special
    return v, v != v


@njit(cache=True, nogil=True, inline="always")
def _right_nobranch(v, node, thr, flags):
    """1 if LightGBM sends value *v* right at *node*, else 0, in arithmetic (no branch to
    mispredict): NaN, or 0 at a zero-as-missing split, takes the NaN way (for missing type
    Zero the default one), anything else goes right when ``v > thr``."""
    fl = np.uint32(flags[node])
    miss = np.uint32(v != v) | (np.uint32(v == 0.0) & ((fl >> U1) & U1))
    return (np.uint32(v > thr[node]) & (U1 - miss)) | (miss & (U1 - (fl & U1)))


@njit(cache=True, nogil=True, inline="always")
def _group(buf, k, m, special, feat, thr, child, flags, value, roots, depth, first_leaf, acc,
           nodes, rest, floor):
    """Raw scores of the *m* rows in ``buf`` (``m * k`` values) into ``acc[:m]``; *special*:
    some value is NaN (or 0 and some split treats zero as missing). The walk stops early when
    every row's sum after tree ``t`` plus ``rest[t]`` (the most the later trees can add) is
    below *floor*: those rows get ``-inf`` (-inf: no early stop)."""
    for g in range(m, G):  # a short last group: repeat its first row
        buf[g * k : (g + 1) * k] = buf[:k]
    for g in range(G):
        acc[g] = 0.0
    for t in range(roots.size):
        r = roots[t]
        for g in range(G):
            nodes[g] = r
        for _ in range(depth[t]):
            if special:
                for g in range(G):
                    nd = nodes[g]
                    nodes[g] = child[U2 * nd + _right_nobranch(buf[np.uint32(g * k) + feat[nd]],
                                                               nd, thr, flags)]
            else:
                for g in range(G):  # independent chains: the CPU overlaps their loads
                    nd = nodes[g]
                    right = np.uint32(buf[np.uint32(g * k) + feat[nd]] > thr[nd])
                    nodes[g] = child[U2 * nd + right]
            lowest = nodes[0]
            for g in range(1, G):
                lowest = min(lowest, nodes[g])
            if lowest >= first_leaf:  # all at their leaves before the deepest one
                break
        below = True
        for g in range(G):
            acc[g] += value[nodes[g]]
            below &= acc[g] + rest[t] < floor
        if below:
            for g in range(G):
                acc[g] = -np.inf
            return


@njit(cache=True, nogil=True, inline="always")
def _first_leaf(child):
    leaf = np.uint32(0)
    while child[U2 * leaf] != leaf:  # leaves follow all split nodes
        leaf += 1
    return leaf


@njit(cache=True, nogil=True)
def raw_at(F, rows, cols, feat, thr, child, flags, value, roots, depth, rest, floor, out):
    """Raw score of pixels ``F[:, rows[i], cols[i]]`` of ``F (k, h, w)`` (any strides, float32
    or float64) into float64 ``out (n,)``: no gathered copy of the feature matrix. A matrix
    ``X (n, k)`` is the stack ``X.T[:, :, None]`` with ``rows = arange(n)``, ``cols = 0``.
    Rows whose score is sure to stay below *floor* may get ``-inf`` (see :func:`_group`)."""
    k = F.shape[0]
    zero_special = (flags & ZERO_MISSING).any()
    buf = np.empty(G * k, np.float64)
    acc, nodes, first_leaf = np.empty(G, np.float64), np.empty(G, np.uint32), _first_leaf(child)
    for i0 in range(0, rows.size, G):
        m = min(G, rows.size - i0)
        special = False
        for g in range(m):
            r, c = rows[i0 + g], cols[i0 + g]
            for j in range(k):
                v, s = _load(F[j, r, c], zero_special)
                buf[g * k + j] = v
                special |= s
        _group(buf, k, m, special, feat, thr, child, flags, value, roots, depth, first_leaf, acc,
               nodes, rest, floor)
        out[i0 : i0 + m] = acc[:m]


@njit(cache=True, nogil=True)
def sigmoid(raw, scale, out):
    """LightGBM's binary objective output ``1 / (1 + exp(-scale * raw))``."""
    for i in range(raw.size):
        out[i] = 1.0 / (1.0 + math.exp(-scale * raw[i]))


@njit(cache=True, nogil=True)
def box_bound(feat, thr, child, flags, value, roots, lo, hi):
    """The largest raw score of any row whose every feature *j*, as loaded (:func:`_load`: no
    NaN), lies in ``(lo[j], hi[j]]``: the sum over trees of the largest leaf such a row can
    reach. A split treating zero as missing with 0 in the box may go either way."""
    stack = np.empty(child.size, np.uint32)
    total = 0.0
    for t in range(roots.size):
        best = -np.inf
        stack[0] = roots[t]
        top = 1
        while top:
            top -= 1
            nd = stack[top]
            if child[U2 * nd] == nd:  # a leaf
                best = max(best, value[nd])
                continue
            f = feat[nd]
            zero = (flags[nd] & ZERO_MISSING) != 0 and lo[f] < 0.0 <= hi[f]
            if lo[f] < thr[nd] or zero:  # some x <= thr in the box: left
                stack[top] = child[U2 * nd]
                top += 1
            if hi[f] > thr[nd] or zero:
                stack[top] = child[U2 * nd + U1]
                top += 1
        total += best
    return total


@njit(cache=True, inline="always")
def outside(x, lo, hi):
    """Whether some feature of the row *x*, as loaded, is outside ``(lo[j], hi[j]]`` or NaN."""
    for j in range(x.shape[0]):
        v = np.float64(x[j])
        if -ZERO <= v <= ZERO:
            v = 0.0
        if not (v > lo[j] and v <= hi[j]):  # NaN: outside
            return True
    return False


@njit(cache=True, nogil=True)
def outside_box(F, lo, hi, out):
    """``out[r, c]`` True where some feature of ``F (k, h, w)``, as loaded, is outside
    ``(lo[j], hi[j]]`` or NaN (then the trees must be walked), False inside the box."""
    k, h, w = F.shape
    x = np.empty(k, F.dtype)
    for r in range(h):
        for c in range(w):
            for j in range(k):
                x[j] = F[j, r, c]
            out[r, c] = outside(x, lo, hi)
