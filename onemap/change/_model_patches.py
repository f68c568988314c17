"""Candidates and the patch stage of the trained detector at county scale (after
:func:`onemap.change.predict.pixel_stage`).

2. **Candidates**: connected components of ``probability >= threshold``, labelled tile by tile
   with stitched seams (:mod:`onemap.change.label`), numbered in raster order as a whole-image
   labelling would.
3. **Patch stage**: :func:`onemap.change._patch_stage.patch_table` runs on windows of a fixed
   grid (:data:`WINDOW` pixels plus a margin, independent of the tiling); each patch is read in
   the window that holds its first pixel, grown until the patch and its ring fit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from .._compute import run, threads
from ..frame import Frame
from . import _patch_stage as P

if TYPE_CHECKING:
    from .features import FeaturePlan
    from .predict import PixelTiles

__all__ = ["MARGIN", "WINDOW", "model_patches"]

WINDOW = 1024  # patch-stage window grid (fixed: does not follow the tiling)
MARGIN = 48  # pixels each patch-stage window reaches past its cell


# ---------------------------------------------------------------------------- candidates


class _Labels:
    """Seam-stitched labels of ``probability >= threshold`` over the tiles of *out*."""

    def __init__(self, out: PixelTiles, threshold: float, connectivity: int) -> None:
        from .label import label_block
        from .patches import _label_tables, _seam_summary

        self.out, self.thr, self.conn = out, np.float16(threshold), connectivity
        self._label_block = label_block
        s = out.store
        summaries = run(lambda t: _seam_summary(self.mask(t), connectivity),
                        [(t,) for t in out.tiles], workers=threads())
        grid = [summaries[i * s.ncol:(i + 1) * s.ncol] for i in range(s.nrow)]
        chunks = (tuple(t.frame.height for t in out.tiles if t.index[1] == 0),
                  tuple(t.frame.width for t in out.tiles if t.index[0] == 0))
        self.offsets, self.table, self.n = _label_tables(grid, chunks, out.frame.width,
                                                         connectivity)
        # each label's first pixel (flat index): the window that reads its patch
        keys = np.concatenate([(t.window[0].start + g["rows"]) * out.frame.width
                               + (t.window[1].start + g["cols"])
                               for t, g in zip(out.tiles, summaries, strict=True)]
                              or [np.zeros(0, np.int64)])
        self.first = np.full(self.n + 1, np.iinfo(np.int64).max, np.int64)
        if keys.size:
            np.minimum.at(self.first, self.table[1:keys.size + 1], keys)

    def mask(self, t: Any) -> np.ndarray:
        return self.out.prob(t) >= self.thr

    def tile(self, t: Any) -> np.ndarray:
        from .label import relabel

        lab, n_local = self._label_block(self.mask(t), self.conn)[:2]
        return relabel(lab, self.table, int(self.offsets[t.index]), n_local)


# ---------------------------------------------------------------------------- patch stage


class _Reader:
    """Windows of labels, probability and channels read from the tiles (a small cache)."""

    def __init__(self, out: PixelTiles, labels: _Labels, keep: int) -> None:
        self.out, self.labels, self.keep = out, labels, keep
        self.cache: OrderedDict = OrderedDict()
        self.lock = threading.Lock()  # windows are read on several threads

    def _tile(self, t: Any) -> tuple:
        with self.lock:
            if t.index in self.cache:
                self.cache.move_to_end(t.index)
                return self.cache[t.index]
            idx, vals = self.out.sparse(t)
            rr, cc = np.divmod(idx, t.frame.width)  # raster order: rr ascending
            item = (self.labels.tile(t), self.out.prob16(t), (rr, cc), vals)
            self.cache[t.index] = item
            while len(self.cache) > self.keep:
                self.cache.popitem(last=False)
            return item

    def window(self, r0: int, r1: int, c0: int, c1: int) -> tuple[np.ndarray, np.ndarray]:
        lab = np.zeros((r1 - r0, c1 - c0), np.int64)
        ch = np.full((len(P.CHANNELS), r1 - r0, c1 - c0), np.nan, np.float32)
        for t in self.out.tiles:
            (rs, cs) = t.window
            a0, a1 = max(r0, rs.start), min(r1, rs.stop)
            b0, b1 = max(c0, cs.start), min(c1, cs.stop)
            if a0 >= a1 or b0 >= b1:
                continue
            tl, tp, (rr, cc), vals = self._tile(t)
            sub = (slice(a0 - rs.start, a1 - rs.start), slice(b0 - cs.start, b1 - cs.start))
            dst = (slice(a0 - r0, a1 - r0), slice(b0 - c0, b1 - c0))
            lab[dst] = tl[sub]
            ch[0][dst] = tp[sub]
            lo, hi = np.searchsorted(rr, [a0 - rs.start, a1 - rs.start])  # the window's rows
            rr, cc, v = rr[lo:hi], cc[lo:hi], vals[:, lo:hi]
            inside = (cc >= b0 - cs.start) & (cc < b1 - cs.start)
            ch[1:, rr[inside] + rs.start - r0, cc[inside] + cs.start - c0] = v[:, inside]
        return lab, ch


def _table_in(reader: _Reader, bounds: tuple[int, int, int, int], pixel_area: float,
              landuse: Callable | None) -> tuple[np.ndarray, np.ndarray, list]:
    """patch_table of every label in the window: (global ids, table, local bounding boxes)."""
    r0, r1, c0, c1 = bounds
    lab, ch = reader.window(r0, r1, c0, c1)
    on = lab > 0  # candidates are a few % of the window: sort only their labels
    ids, inv = np.unique(lab[on], return_inverse=True)
    local = np.zeros(lab.shape, np.int32)
    local[on] = inv + 1  # local numbers 1..m in the order of the global ids
    m = len(ids)
    lu = None if landuse is None else landuse(r0, r1, c0, c1)
    table = P.patch_table(local, m, ch, pixel_area, lu)
    return ids, table, ndimage.find_objects(local, max_label=m)


def _fits(box: tuple, bounds: tuple[int, int, int, int], shape: tuple[int, int]) -> list[bool]:
    """Per side (top, bottom, left, right): the patch and its ring lie inside the window."""
    r0, r1, c0, c1 = bounds
    need = P.RING + 1
    return [box[0].start >= need or r0 == 0, box[0].stop <= r1 - r0 - need or r1 == shape[0],
            box[1].start >= need or c0 == 0, box[1].stop <= c1 - c0 - need or c1 == shape[1]]


def patch_tables(reader: _Reader, labels: _Labels, frame: Frame, pixel_area: float,
                 landuse: Callable | None = None) -> np.ndarray:
    """``(n, len(PATCH_FEATURES))`` features of the candidates 1..n, window by window."""
    n, (h, w) = labels.n, frame.shape
    out = np.full((n, len(P.PATCH_FEATURES)), np.nan)
    if n == 0:
        return out
    frow, fcol = np.divmod(labels.first, w)
    cell = (frow[1:] // WINDOW) * (-(-w // WINDOW)) + fcol[1:] // WINDOW
    cells = [(r, c) for r in range(0, h, WINDOW) for c in range(0, w, WINDOW)
             if (cell == (r // WINDOW) * (-(-w // WINDOW)) + c // WINDOW).any()]

    def one(r: int, c: int) -> list[tuple[int, tuple[int, int, int, int]]]:
        """The window of cell (r, c): the table rows of the patches whose first pixel it holds
        and that fit; the others, to be grown."""
        bounds = (max(r - MARGIN, 0), min(r + WINDOW + MARGIN, h),
                  max(c - MARGIN, 0), min(c + WINDOW + MARGIN, w))
        ids, table, boxes = _table_in(reader, bounds, pixel_area, landuse)
        grow = []
        for k, g in enumerate(ids):
            if not (r <= frow[g] < r + WINDOW and c <= fcol[g] < c + WINDOW):
                continue  # read in the window of its first pixel
            if all(_fits(boxes[k], bounds, (h, w))):
                out[g - 1] = table[k]  # each patch in one window only: disjoint rows
            else:
                grow.append((int(g), bounds))
        return grow

    # windows in raster order on the pool: neighbours share the reader's cached tiles
    grow = [x for part in run(one, cells, workers=threads()) for x in part]
    for g, bounds in grow:  # large patches: widen the window until patch and ring fit
        while True:
            r0, r1, c0, c1 = bounds
            ids, table, boxes = _table_in(reader, bounds, pixel_area, landuse)
            k = int(np.searchsorted(ids, g))
            ok = _fits(boxes[k], bounds, (h, w))
            if all(ok):
                out[g - 1] = table[k]
                break
            d0, d1 = r1 - r0, c1 - c0
            bounds = (r0 if ok[0] else max(r0 - d0, 0), r1 if ok[1] else min(r1 + d0, h),
                      c0 if ok[2] else max(c0 - d1, 0), c1 if ok[3] else min(c1 + d1, w))
    return out


def _landuse_windows(landuse: Any, frame: Frame) -> Callable | None:
    """``fn(r0, r1, c0, c1)``: land-use class before on a window (-1 outside any polygon)."""
    if landuse is None:
        return None
    from affine import Affine
    from rasterio import features

    from .model import _landuse_raster

    _landuse_raster(landuse, frame.subframe(slice(0, 1), slice(0, 1)))  # checks column, CRS
    col = "landuse_code" if "landuse_code" in landuse.columns else "DLBM"
    cls = P.landuse_class(landuse[col].to_numpy())
    geoms = landuse.geometry.to_numpy()
    tree = landuse.sindex

    def fn(r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        sub = frame.subframe(slice(r0, r1), slice(c0, c1))
        hit = np.sort(tree.query(__import__("shapely").box(*sub.bounds)))
        if not hit.size:
            return np.full(sub.shape, -1, np.int32)
        tf = frame.transform * Affine.translation(c0, r0)
        return features.rasterize(zip(geoms[hit], cls[hit], strict=True), out_shape=sub.shape,
                                  transform=tf, fill=-1, dtype="int32")

    return fn


def model_patches(model: Any, plan: FeaturePlan, out: PixelTiles, *, threshold: float,
                  patch_threshold: float, min_area: float = 0.0, connectivity: int = 8,
                  landuse: Any = None) -> tuple[Any, dict[str, Any]]:
    """Patches of the pixel stage in *out*: candidates, patch model, polygons.

    Returns the patches (:func:`~onemap.change.patches.patches_from_labels` columns, ``score_*``
    = pixel probability) with their patch probability as a column, and attributes.
    """
    import dask
    import dask.array as da

    from ._scene import pixel_area_m2
    from .patches import patches_from_labels

    labels = _Labels(out, threshold, connectivity)
    n = labels.n
    reader = _Reader(out, labels, keep=out.store.ncol + 4)
    pix = pixel_area_m2(plan.frame)
    table = patch_tables(reader, labels, plan.frame, pix, _landuse_windows(landuse, plan.frame))
    reader.cache.clear()
    prob = model.patch_probability(table) if n else np.zeros(0)
    keep = np.zeros(n + 1, bool)
    if n:
        keep[1:] = (prob >= patch_threshold) & (10 ** table[:, 0] >= float(min_area) * (1 - 1e-9))
    new_id = np.zeros(n + 1, np.int32)
    new_id[keep] = np.arange(1, int(keep.sum()) + 1)

    def kept(t: Any) -> np.ndarray:
        return new_id[labels.tile(t)]

    s = out.store
    lab_rows = [[da.from_delayed(dask.delayed(kept)(t), t.frame.shape, dtype=np.int32)
                 for t in out.tiles if t.index[0] == i] for i in range(s.nrow)]
    p_rows = [[da.from_delayed(dask.delayed(out.prob)(t), t.frame.shape, dtype=np.float32)
               for t in out.tiles if t.index[0] == i] for i in range(s.nrow)]
    date1, date2 = plan.before.attrs.get("date"), plan.after.attrs.get("date")
    with dask.config.set(scheduler="threads"):
        patches = patches_from_labels(da.block(lab_rows), plan.frame, score=da.block(p_rows),
                                      n=int(keep.sum()), date_before=date1, date_after=date2)
    patches["probability"] = prob[keep[1:]] if n else np.zeros(0)
    return patches, {"candidates": n}
