"""The drivers of the strip-parallel labelling: row strips scanned on the shared pool of
:mod:`onemap._compute`, seams merged, components numbered (the kernels are in
:mod:`onemap.change._label_kernels`)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._compute import run
from . import _label_kernels as K


def strip_capacity(rows: int, cols: int, conn8: bool) -> int:
    """Upper bound on the provisional labels a strip of ``rows`` x ``cols`` can create.

    8-connectivity: a new label needs its 3 upper and its left neighbour empty, so at most one
    per 2x2 block; 4-connectivity: a checkerboard, half the pixels.
    """
    if conn8:
        return ((rows + 1) // 2) * ((cols + 1) // 2)
    return (rows * cols + 1) // 2


class Provisional(NamedTuple):
    """First-pass result: provisional labels and the provisional -> final label table."""

    labels: np.ndarray  # provisional labels (0 background)
    table: np.ndarray  # provisional -> final label, valid on [bases[s], ends[s]) only
    n: int
    starts: np.ndarray  # first row of each strip (+ height)
    bases: np.ndarray
    ends: np.ndarray
    first: np.ndarray | None  # raster index of each final label's first pixel
    sizes: np.ndarray | None  # pixels per final label, index 0 unused


def provisional(mask: np.ndarray, conn8: bool, nstrips: int, want_first: bool = False,
                want_sizes: bool = False) -> Provisional:
    """Scan (strips in parallel), merge the strip seams and number the components.

    Memory: the label image plus a provisional-label table sized by :func:`strip_capacity`,
    allocated with ``np.empty``/``np.zeros`` so that only the part actually used is touched.
    """
    h, w = mask.shape
    nstrips = max(1, min(nstrips, h))
    starts = np.linspace(0, h, nstrips + 1).astype(np.int64)
    caps = np.array([strip_capacity(int(starts[i + 1] - starts[i]), w, conn8)
                     for i in range(nstrips)],
                    dtype=np.int64)
    total = 1 + int(caps.sum())
    dtype = np.int32 if total < 2**31 - 1 else np.int64
    out = np.empty((h, w), dtype=dtype)
    parent = np.empty(total, dtype=dtype)
    firstpos = np.empty(total if want_first else 1, np.int64)
    first = np.empty(total if want_first else 1, np.int64)
    counts = np.zeros(total if want_sizes else 1, dtype)
    bases = np.empty(nstrips, dtype=np.int64)
    bases[0] = 1
    bases[1:] = 1 + np.cumsum(caps)[:-1]
    ends = np.empty(nstrips, dtype=np.int64)
    scan = K._scan_strip8 if conn8 else K._scan_strip4
    ends[:] = run(scan, [(mask, out, parent, starts[i], starts[i + 1], bases[i], firstpos,
                          want_first, counts, want_sizes) for i in range(nstrips)])
    for s in range(1, nstrips):
        K._merge_seam(out, parent, starts[s], conn8)
    parent[0] = 0
    n = int(K._number_roots(parent, bases, ends, firstpos, want_first, first))
    sizes = K._final_counts(parent, bases, ends, counts, n) if want_sizes else None
    return Provisional(out, parent, n, starts, bases, ends,
                       first[:n].copy() if want_first else None, sizes)


def label_strips(mask: np.ndarray, conn8: bool, nstrips: int,
                 want_first: bool = False) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Label a C-contiguous boolean mask; returns (labels, n, first) with labels of a wide
    enough dtype and, with ``want_first``, the int64 raster index of each label's first pixel.
    ``nstrips == 1`` runs the fused serial kernel.
    """
    h, w = mask.shape
    if min(nstrips, h) <= 1:
        total = 1 + strip_capacity(h, w, conn8)
        dtype = np.int32 if total < 2**31 - 1 else np.int64
        out = np.empty((h, w), dtype=dtype)
        parent = np.empty(total, dtype=dtype)
        firstpos = np.empty(total if want_first else 1, np.int64)
        first = np.empty(total if want_first else 1, np.int64)
        n = int(K._label_serial(mask, out, parent, conn8, firstpos, want_first, first))
        return out, n, (first[:n].copy() if want_first else None)
    p = provisional(mask, conn8, nstrips, want_first)
    run(K._apply_rows, [(p.labels, p.table, p.starts[i], p.starts[i + 1])
                        for i in range(p.starts.size - 1)])
    return p.labels, p.n, p.first
