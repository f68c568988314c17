"""Numba kernels on flattened polygon coordinates: ring ends, parts, orientation.

Used by :mod:`onemap.overlay.geometry` to turn one ``shapely.get_coordinates`` array into rings
and parts without creating a Python object per ring.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def ring_clockwise(x, y, ring_offsets):
    """Per ring: True when clockwise in map coordinates (shoelace on shifted coordinates)."""
    nr = ring_offsets.shape[0] - 1
    out = np.zeros(nr, np.bool_)
    for k in range(nr):
        s, e = ring_offsets[k], ring_offsets[k + 1]
        if e - s < 3:
            continue
        x0 = x[s]
        y0 = y[s]
        a = 0.0
        for i in range(s, e - 1):
            a += (x[i] - x0) * (y[i + 1] - y0) - (x[i + 1] - x0) * (y[i] - y0)
        out[k] = a < 0.0
    return out


@njit(cache=True)
def ring_sizes(x, y, feature_vertex_offsets):
    """Split each feature's closed rings: a ring ends where it returns to its first vertex.

    Returns ``(vertices_per_ring, rings_per_feature)``.
    """
    nf = feature_vertex_offsets.shape[0] - 1
    sizes = np.empty(x.shape[0] // 4 + nf + 1, np.int64)
    per_feature = np.zeros(nf, np.int64)
    n = 0
    for f in range(nf):
        s = feature_vertex_offsets[f]
        end = feature_vertex_offsets[f + 1]
        while s < end:
            j = s + 3  # a ring has at least 4 vertices
            while j < end - 1 and not (x[j] == x[s] and y[j] == y[s]):
                j += 1
            j = min(j, end - 1)
            sizes[n] = j + 1 - s
            n += 1
            per_feature[f] += 1
            s = j + 1
    return sizes[:n].copy(), per_feature


@njit(cache=True)
def rings_per_part(rings_per_feature, parts_per_feature, multi, rings_of_multi_parts):
    """Rings per part: all of a Polygon's rings form its one part; multi-part features take the
    ring counts of their parts, in order."""
    nf = rings_per_feature.shape[0]
    out = np.empty(parts_per_feature.sum(), np.int64)
    is_multi = np.zeros(nf, np.bool_)
    for f in multi:
        is_multi[f] = True
    p = 0
    q = 0
    for f in range(nf):
        if is_multi[f]:
            for _ in range(parts_per_feature[f]):
                out[p] = rings_of_multi_parts[q]
                p += 1
                q += 1
        elif parts_per_feature[f] > 0:
            out[p] = rings_per_feature[f]
            p += 1
    return out


@njit(cache=True)
def orient_rings(x, y, ring_offsets, part_ring_offsets):
    """Reverse rings in place so that shells run counter-clockwise and holes clockwise."""
    for p in range(part_ring_offsets.shape[0] - 1):
        for k in range(part_ring_offsets[p], part_ring_offsets[p + 1]):
            s, e = ring_offsets[k], ring_offsets[k + 1]
            x0 = x[s]
            y0 = y[s]
            a = 0.0
            for i in range(s, e - 1):
                a += (x[i] - x0) * (y[i + 1] - y0) - (x[i + 1] - x0) * (y[i] - y0)
            shell = k == part_ring_offsets[p]
            if (shell and a < 0.0) or (not shell and a > 0.0):
                i, j = s, e - 1
                while i < j:
                    x[i], x[j] = x[j], x[i]
                    y[i], y[j] = y[j], y[i]
                    i += 1
                    j -= 1
