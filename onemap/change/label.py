"""Connected components of change masks: labels, per-label statistics, tile-stitched labelling.

:func:`label` numbers the components of a boolean mask ``1..n`` in raster-scan order of each
component's first pixel (0 is background), so its output equals ``scipy.ndimage.label``'s for the
same connectivity. :func:`label_stats` gathers area, bounding box, centroid and score statistics
of every label in one pass. :func:`label_tiled` labels tile by tile and stitches the seams; its
result equals :func:`label` exactly.

Chunked (dask) contract
-----------------------
:func:`label_tiled` is built from module-level functions on plain arrays, so a chunked caller
(one task per chunk, then a small reduction) uses the same steps:

1. per chunk ``(i, j)``: ``labels, n, rows, cols = label_block(block, connectivity)``: local
   labels ``1..n`` and the chunk-local position of each label's first pixel (for labels made
   elsewhere, :func:`first_pixels` computes the latter); also keep the chunk's four edge lines
   ``labels[0], labels[-1], labels[:, 0], labels[:, -1]``.
2. reduction: piece offsets ``offset[i, j]`` = cumulative sum of the ``n`` of earlier chunks in
   row-major chunk order; a piece's global id is ``local + offset`` (0 stays background). Build the
   global edge lines on each side of every seam by concatenating the chunks' edge lines
   (offset-shifted) along the seam, across the whole mosaic, so that diagonal neighbours across
   chunk corners are found too, and call ``border_pairs(line_before, line_after, connectivity)`` for
   every horizontal and vertical seam. Give each piece the key
   ``(chunk_row0 + row) * width + (chunk_col0 + col)``, its first pixel's global raster index, and
   call ``table, n = resolve(pairs, keys)``.
3. per chunk: ``relabel(labels, table, offset, n)`` gives the final labels, equal to
   :func:`label` on the whole mosaic.

Only edge lines, ``n`` and first pixels travel to the reduction (memory ~ perimeter + pieces).
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _compute as P
from ..errors import DataError
from . import _label_kernels as K
from ._label_strips import label_strips

__all__ = [
    "label",
    "label_stats",
    "label_tiled",
    "label_block",
    "first_pixels",
    "border_pairs",
    "resolve",
    "relabel",
]

# below this many pixels one serial strip (< 1 ms) is not worth splitting
_PARALLEL_MIN_PIXELS = 1 << 18


def _nstrips(size: int, height: int | None = None) -> int:
    if size < _PARALLEL_MIN_PIXELS or P.threads() == 1:
        return 1
    n = 4 * P.threads()  # a few strips per thread: a busy machine balances better
    return n if height is None else max(1, min(n, height // 16))


def _check_connectivity(connectivity: int) -> bool:
    if connectivity not in (4, 8):
        raise DataError(f"connectivity must be 4 or 8, got {connectivity!r}",
                        hint="use 8 (diagonal neighbours join) or 4 (edge neighbours only)")
    return connectivity == 8


def _as_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise DataError(f"{name} must be 2-D, got shape {arr.shape}",
                        hint="pass one band (e.g. mask[0]) or reshape the array")
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "biuf":
            raise DataError(f"{name} must be boolean, got dtype {arr.dtype}",
                            hint="build the mask with a comparison, e.g. change > threshold")
        if arr.dtype.kind == "f" and np.isnan(arr).any():
            raise DataError(f"{name} has NaN: it is neither foreground nor background",
                            hint="decide how nodata counts, e.g. mask = np.nan_to_num(x) > 0")
        arr = arr != 0
    return np.ascontiguousarray(arr)


def _narrow(labels: np.ndarray, n: int) -> np.ndarray:
    if labels.dtype != np.int32 and n <= np.iinfo(np.int32).max:
        return labels.astype(np.int32)
    return labels


def label(mask: np.ndarray, connectivity: int = 8) -> tuple[np.ndarray, int]:
    """Label the connected components of a boolean mask.

    Parameters
    ----------
    mask
        2-D boolean array (non-zero counts as True).
    connectivity
        8 (edge and corner neighbours join) or 4 (edge neighbours only).

    Returns
    -------
    labels
        ``int32`` array (``int64`` only beyond 2**31 - 1 components): 0 background, components
        numbered ``1..n`` in raster-scan order of their first pixel, like ``scipy.ndimage.label``.
    n
        Number of components.

    Examples
    --------
    >>> m = np.array([[1, 0, 0, 1],
    ...               [0, 1, 0, 1],
    ...               [0, 0, 0, 0]], dtype=bool)
    >>> labels, n = label(m)
    >>> n
    2
    >>> labels
    array([[1, 0, 0, 2],
           [0, 1, 0, 2],
           [0, 0, 0, 0]], dtype=int32)
    >>> label(m, connectivity=4)[1]
    3
    """
    conn8 = _check_connectivity(connectivity)
    arr = _as_mask(mask)
    if arr.size == 0:
        return np.zeros(arr.shape, np.int32), 0
    labels, n, _ = label_strips(arr, conn8, _nstrips(arr.size, arr.shape[0]))
    return _narrow(labels, n), n


def label_stats(labels: np.ndarray, n: int, score: np.ndarray | None = None,
                pixel_area: float = 1.0) -> dict[str, np.ndarray]:
    """Per-label statistics in one pass over the pixels.

    Parameters
    ----------
    labels
        2-D integer labels, 0 background, values in ``1..n`` (as returned by :func:`label`).
    n
        Number of labels.
    score
        Optional 2-D float array of the same shape (e.g. change strength); NaN is ignored.
    pixel_area
        Area of one pixel (e.g. ``frame.pixel_area`` in m²).

    Returns
    -------
    dict
        Arrays of length ``n``, entry ``i`` for label ``i + 1``: ``count`` (pixels, int64),
        ``area`` (count × pixel_area), ``row_min``, ``row_max``, ``col_min``, ``col_max``
        (inclusive bounding box), ``centroid_row``, ``centroid_col`` (mean pixel index) and, with
        ``score``, ``score_mean`` and ``score_max`` (NaN where a label has no valid score). A label
        with no pixel has count 0, bbox -1 and NaN centroid.

    Examples
    --------
    >>> lab = np.array([[1, 1, 0],
    ...                 [0, 0, 2]], dtype=np.int32)
    >>> s = label_stats(lab, 2, score=np.array([[1.0, 3.0, 9.0], [9.0, 9.0, np.nan]]),
    ...                 pixel_area=4.0)
    >>> s["area"], s["col_max"], s["centroid_col"]
    (array([8., 4.]), array([1, 2]), array([0.5, 2. ]))
    >>> s["score_mean"], s["score_max"]
    (array([ 2., nan]), array([ 3., nan]))
    """
    lab = np.asarray(labels)
    if lab.ndim != 2 or lab.dtype.kind not in "iu":
        raise DataError("labels must be a 2-D integer array, "
                        f"got {lab.dtype} with shape {lab.shape}",
                        hint="pass the labels returned by onemap.label")
    n = int(n)
    if n < 0:
        raise DataError(f"n must be >= 0, got {n}")
    lab = np.ascontiguousarray(lab)
    has_score = score is not None
    if has_score:
        sc = np.asarray(score)
        if sc.shape != lab.shape:
            raise DataError(f"score has shape {sc.shape}, labels have {lab.shape}",
                            hint="pass a score array on the same grid as the labels")
        sc = np.ascontiguousarray(sc, dtype=sc.dtype if sc.dtype.kind == "f" else np.float64)
    else:
        sc = np.empty((1, 1), np.float64)
    # strips in parallel when the per-strip accumulators (~80 bytes per label) stay small
    nst = _nstrips(lab.size, lab.shape[0])
    while nst > 1 and 80 * n * nst > lab.size:
        nst //= 2
    starts = np.linspace(0, lab.shape[0], nst + 1).astype(np.int64)
    count = np.zeros((nst, n), np.int64)
    rmin = np.full((nst, n), -1, np.int64)
    rmax = np.full((nst, n), -1, np.int64)
    cmin = np.full((nst, n), -1, np.int64)
    cmax = np.full((nst, n), -1, np.int64)
    rsum = np.zeros((nst, n), np.float64)
    csum = np.zeros((nst, n), np.float64)
    ssum = np.zeros((nst, n), np.float64)
    scount = np.zeros((nst, n), np.int64)
    smax = np.full((nst, n), np.nan, np.float64)
    acc = (count, rmin, rmax, cmin, cmax, rsum, csum, ssum, scount, smax)
    bads = P.run(K._stats_rows, [(lab, n, sc, has_score, starts[s], starts[s + 1],
                                  *(a[s] for a in acc)) for s in range(nst)])
    bad = next((b for b in bads if b != -1), -1)
    if bad != -1:
        raise DataError(f"label value {bad} is outside 0..{n}",
                        hint="pass the n returned together with the labels")
    if nst > 1:
        K._merge_stats(*acc)
    count, rmin, rmax, cmin, cmax, rsum, csum, ssum, scount, smax = (
        a[0].copy() if nst > 1 else a[0] for a in acc)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "count": count,
            "area": count * float(pixel_area),
            "row_min": rmin, "row_max": rmax, "col_min": cmin, "col_max": cmax,
            "centroid_row": rsum / count,
            "centroid_col": csum / count,
        }
        if has_score:
            out["score_mean"] = np.where(scount > 0, ssum / np.maximum(scount, 1), np.nan)
            out["score_max"] = smax
    return out


# --------------------------------------------------------------------------- chunk contract


def label_block(block: np.ndarray,
                connectivity: int = 8) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Label one chunk on its own (step 1 of the chunked contract in the module docstring).

    Runs the serial kernel with the GIL released: a chunked caller gets its parallelism from
    running chunks in its own threads (dask's threaded scheduler, a thread pool), which nested
    threads would only oversubscribe.

    Returns
    -------
    labels, n
        As :func:`label` on the chunk.
    first_rows, first_cols
        int64, chunk-local row and column of each label's first pixel in raster order (what
        :func:`resolve` needs to number merged components like :func:`label`), recorded by the
        labelling kernel itself at no extra pass.

    Examples
    --------
    >>> labels, n, rows, cols = label_block(np.array([[0, 1], [1, 0], [0, 0]], bool),
    ...                                     connectivity=4)
    >>> n, rows.tolist(), cols.tolist()
    (2, [0, 1], [1, 0])
    """
    conn8 = _check_connectivity(connectivity)
    arr = _as_mask(block)
    if arr.size == 0:
        return np.zeros(arr.shape, np.int32), 0, np.empty(0, np.int64), np.empty(0, np.int64)
    labels, n, first = label_strips(arr, conn8, 1, want_first=True)
    assert first is not None  # want_first=True always returns the first pixels
    rows, cols = np.divmod(first, arr.shape[1])
    return _narrow(labels, n), n, rows, cols


def first_pixels(labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column (int64) of the first pixel in raster order of each label ``1..n``.

    Examples
    --------
    >>> first_pixels(np.array([[0, 1], [2, 1]]), 2)
    (array([0, 1]), array([1, 0]))
    """
    rows = np.full(int(n), -1, np.int64)
    cols = np.full(int(n), -1, np.int64)
    if n:
        K._first_pixels(np.ascontiguousarray(labels), int(n), rows, cols)
    return rows, cols


def border_pairs(before: np.ndarray, after: np.ndarray, connectivity: int = 8) -> np.ndarray:
    """Pairs of non-zero global labels that touch across one seam.

    ``before`` and ``after`` are the two lines of pixels on each side of a seam (e.g. the last
    row of the chunks above it and the first row of the chunks below it, concatenated across the
    mosaic, so that diagonal neighbours across chunk corners are included). Returns an ``(k, 2)``
    int64 array.

    Examples
    --------
    >>> border_pairs(np.array([1, 0, 0, 2]), np.array([0, 3, 0, 0]))
    array([[1, 3]])
    >>> border_pairs(np.array([1, 0, 0, 2]), np.array([0, 3, 0, 0]), connectivity=4)
    array([], shape=(0, 2), dtype=int64)
    """
    conn8 = _check_connectivity(connectivity)
    a = np.ascontiguousarray(before, dtype=np.int64).ravel()
    b = np.ascontiguousarray(after, dtype=np.int64).ravel()
    if a.size != b.size:
        raise DataError(f"seam lines differ in length: {a.size} and {b.size}")
    pairs = np.empty((3 * a.size, 2), np.int64)
    k = K._seam_pairs(a, b, conn8, pairs)
    return np.unique(pairs[:k], axis=0) if k else pairs[:0]


def resolve(pairs: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, int]:
    """Merge pieces joined by ``pairs`` and number the merged components by first pixel.

    Parameters
    ----------
    pairs
        ``(k, 2)`` global piece ids (``1..m``) that belong to the same component.
    keys
        Length ``m``: global raster index of each piece's first pixel (piece id ``i`` at
        ``keys[i - 1]``); pieces must have distinct keys.

    Returns
    -------
    table
        Length ``m + 1`` int64: final label of each piece id (``table[0] == 0``).
    n
        Number of components.

    Examples
    --------
    >>> table, n = resolve(np.array([[1, 3]]), np.array([5, 2, 9]))
    >>> table.tolist(), n
    ([0, 2, 1, 2], 2)
    """
    keys = np.asarray(keys, dtype=np.int64)
    m = keys.size
    key = np.empty(m + 1, np.int64)
    key[0] = -1
    key[1:] = keys
    parent = np.arange(m + 1, dtype=np.int64)
    p = np.ascontiguousarray(pairs, dtype=np.int64).reshape(-1, 2)
    if p.size and (p.min() < 1 or p.max() > m):
        raise DataError(f"piece ids in pairs must be in 1..{m}")
    K._resolve_pairs(parent, key, p)
    roots = np.flatnonzero(parent[1:] == np.arange(1, m + 1)) + 1
    order = roots[np.argsort(key[roots], kind="stable")]
    final = np.zeros(m + 1, np.int64)
    final[order] = np.arange(1, order.size + 1)
    return final[parent], int(order.size)


def relabel(labels: np.ndarray, table: np.ndarray, offset: int, n: int | None = None) -> np.ndarray:
    """Final labels of one chunk with ``n`` local labels: ``table[labels + offset]`` where labels
    are non-zero (serial, GIL released, like :func:`label_block`). With ``n`` only the chunk's
    slice ``table[offset + 1 : offset + n + 1]`` is read, so the cost does not grow with the
    mosaic; without it the rest of the table from ``offset`` is used.

    Examples
    --------
    >>> relabel(np.array([[0, 1], [2, 2]]), np.array([0, 1, 1, 2, 1]), offset=2, n=2)
    array([[0, 2],
           [1, 1]], dtype=int32)
    """
    lab = np.ascontiguousarray(labels)
    table = np.asarray(table)
    if n is None:
        n = max(table.size - 1 - int(offset), 0)
    local = table[int(offset):int(offset) + int(n) + 1]
    if local.size != int(n) + 1:
        raise DataError(f"table has {table.size} entries, chunk needs up to {offset + n}",
                        hint="pass the table returned by resolve for all pieces")
    top = int(local[1:].max()) if n else 0
    out = np.empty(lab.shape, np.int32 if top <= np.iinfo(np.int32).max else np.int64)
    bad = K._relabel_block(lab, np.ascontiguousarray(local, dtype=out.dtype), out)
    if bad != -1:
        raise DataError(f"label value {bad} is outside 0..{n}", hint="pass the n of this chunk")
    return out


def label_tiled(mask: np.ndarray, tile_size: int | tuple[int, int],
                connectivity: int = 8) -> tuple[np.ndarray, int]:
    """Label tile by tile and stitch the seams; equals :func:`label` exactly.

    Each tile is labelled with the same kernel as :func:`label` (tiles run in a thread pool);
    labels touching across tile borders (and, with 8-connectivity, diagonally across tile
    corners) are merged with union-find, and components are renumbered in raster order of their
    first pixel in the whole mask. See the module docstring for the chunked (dask) contract this
    follows.

    Parameters
    ----------
    mask
        2-D boolean array.
    tile_size
        Tile height and width in pixels (one int for square tiles).
    connectivity
        8 or 4.

    Examples
    --------
    >>> m = np.eye(5, dtype=bool) | np.eye(5, dtype=bool)[::-1]
    >>> labels, n = label_tiled(m, 2)
    >>> n, bool((labels == label(m)[0]).all())
    (1, True)
    """
    _check_connectivity(connectivity)
    arr = _as_mask(mask)
    # int listed for the type checker (it does not see int as a numbers.Integral)
    th, tw = ((tile_size, tile_size) if isinstance(tile_size, (int, numbers.Integral))
              else tile_size)
    if int(th) < 1 or int(tw) < 1:
        raise DataError(f"tile_size must be >= 1, got {tile_size!r}")
    h, w = arr.shape
    if arr.size == 0:
        return np.zeros(arr.shape, np.int32), 0
    r0s = list(range(0, h, int(th)))
    c0s = list(range(0, w, int(tw)))
    origins = [(r0, c0) for r0 in r0s for c0 in c0s]
    done = P.run(label_block, [(arr[r0:r0 + th, c0:c0 + tw], connectivity) for r0, c0 in origins])
    blocks = {}
    keys = []
    offset = 0
    for (r0, c0), (lab, n, rows, cols) in zip(origins, done, strict=True):
        keys.append((r0 + rows) * w + (c0 + cols))
        blocks[r0, c0] = (lab, offset, n)
        offset += n

    def edge(line: np.ndarray, off: int) -> np.ndarray:
        line = line.astype(np.int64)
        return np.where(line != 0, line + off, 0)

    pairs = []
    for i in range(1, len(r0s)):  # horizontal seams, whole mosaic width (catches corners)
        above = [edge(blocks[r0s[i - 1], c0][0][-1], blocks[r0s[i - 1], c0][1]) for c0 in c0s]
        below = [edge(blocks[r0s[i], c0][0][0], blocks[r0s[i], c0][1]) for c0 in c0s]
        pairs.append(border_pairs(np.concatenate(above), np.concatenate(below), connectivity))
    for j in range(1, len(c0s)):  # vertical seams, whole mosaic height
        left = [edge(blocks[r0, c0s[j - 1]][0][:, -1], blocks[r0, c0s[j - 1]][1]) for r0 in r0s]
        right = [edge(blocks[r0, c0s[j]][0][:, 0], blocks[r0, c0s[j]][1]) for r0 in r0s]
        pairs.append(border_pairs(np.concatenate(left), np.concatenate(right), connectivity))
    allpairs = np.concatenate(pairs) if pairs else np.empty((0, 2), np.int64)
    table, n = resolve(allpairs, np.concatenate(keys) if keys else np.empty(0, np.int64))
    out = np.empty((h, w), np.int32 if n <= np.iinfo(np.int32).max else np.int64)

    def write(r0: int, c0: int, lab: np.ndarray, off: int, k: int) -> None:
        out[r0:r0 + lab.shape[0], c0:c0 + lab.shape[1]] = relabel(lab, table, off, k)

    P.run(write, [(r0, c0, *block) for (r0, c0), block in blocks.items()])
    return out, n
