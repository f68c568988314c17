"""A polygon layer put on a frame, and its pixel runs per window (tile) under one inclusion rule.

This is the layer between the public functions and the kernels, and the entry point for tiled or
dask execution: :func:`prepare_layer` converts a layer once (flat arrays, pixel coordinates in the
frame); :func:`layer_runs` returns the runs of the features touching one window of the frame —
any window, e.g. ``tile.window`` of ``frame.tiles(...)`` — computed in the *frame's* pixel
coordinates, so results of tiled runs equal those of one untiled run exactly.

Rules (which pixels belong to a polygon):

``"centre"``
    pixels whose centre is inside (GDAL's rule, identical to ``rasterio.features.rasterize``);
``"all_touched"``
    pixels the polygon touches (GDAL's ``ALL_TOUCHED=TRUE``, identical to rasterio);
``"fraction"``
    every pixel the polygon covers, weighted by the exact covered fraction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._compute import threads_for  # re-exported: the one thread policy
from ..errors import ConfigError, FrameError, InvariantError
from ..frame import Frame
from . import _fill_kernels as _fill
from . import _fraction_kernels as _frac
from ._geometry_kernels import ring_clockwise
from .geometry import FlatPolygons, flatten_polygons, layer_in_crs

__all__ = ["RULES", "PreparedLayer", "Runs", "prepare_layer", "layer_runs", "windows", "as_window",
           "check_rule", "threads_for", "lattice_pixel_counts"]

RULES = ("centre", "all_touched", "fraction")
_ALIASES = {"center": "centre", "alltouched": "all_touched", "all-touched": "all_touched",
            "touched": "all_touched", "coverage": "fraction", "exact": "fraction"}
_LIMIT = 2**30  # pixel coordinates of the extended lattice are clamped to +-_LIMIT


def check_rule(rule: str) -> str:
    """Normalise a pixel-inclusion rule name (``centre``/``all_touched``/``fraction``)."""
    key = str(rule).lower().strip()
    key = _ALIASES.get(key, key)
    if key not in RULES:
        raise ConfigError(f"unknown pixel-inclusion rule {rule!r}",
                          hint=f"use one of {', '.join(RULES)}")
    return key


@dataclass(eq=False)
class PreparedLayer:
    """A flattened layer with its vertices in pixel coordinates of ``frame``.

    ``gu, gv`` are computed as GDAL does (``igt0 + x * igt1``) for the centre and all-touched
    rules; ``fu, fv`` precisely (``(x - left) / xres``) for coverage fractions. ``pixel_bounds``
    is ``(n, 4)``: first row, end row, first column, end column (a margin of one pixel).
    """

    flat: FlatPolygons
    frame: Frame
    gu: np.ndarray
    gv: np.ndarray
    fu: np.ndarray
    fv: np.ndarray
    ring_cw: np.ndarray
    pixel_bounds: np.ndarray
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.flat)

    @property
    def index(self):
        return self.flat.index

    @property
    def repairs(self):
        return self.flat.repairs


@dataclass(eq=False)
class Runs:
    """Runs ``(rows, c0, c1)`` (c1 exclusive, frame pixel coordinates) of features ``feats``.

    Feature ``feats[i]`` owns runs ``offsets[i]:offsets[i + 1]``, sorted by row and disjoint.
    ``weights`` is the covered fraction per run for the fraction rule, ones otherwise.
    """

    feats: np.ndarray
    offsets: np.ndarray
    rows: np.ndarray
    c0: np.ndarray
    c1: np.ndarray
    fractions: np.ndarray | None  # None: whole pixels (centre, all_touched)
    window: tuple[int, int, int, int]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def weights(self) -> np.ndarray:
        return np.ones(len(self.rows)) if self.fractions is None else self.fractions

    def pixel_counts(self) -> np.ndarray:
        """Σ weight x run length per selected feature."""
        per_run = (self.c1 - self.c0).astype(np.float64)
        if self.fractions is not None:
            per_run *= self.fractions
        cs = np.concatenate([[0.0], np.cumsum(per_run)])
        return cs[self.offsets[1:]] - cs[self.offsets[:-1]]


def prepare_layer(layer: Any, frame: Frame, *, reproject: bool = False, what: str = "layer",
                  flat: FlatPolygons | None = None) -> PreparedLayer:
    """Check the CRS (``CRSError`` unless ``reproject=True``), repair and flatten *layer*."""
    notes: list[str] = []
    if flat is None:
        layer, note = layer_in_crs(layer, frame.crs, reproject=reproject, what=what)
        if note:
            notes.append(note)
        flat = flatten_polygons(layer)
    t = frame.transform
    # GDAL's inverse geotransform for a north-up grid: (-x0 / a) + x * (1 / a)
    igt0, igt1 = -t.c / t.a, 1.0 / t.a
    igt3, igt5 = -t.f / t.e, 1.0 / t.e
    gu = igt0 + flat.x * igt1
    gv = igt3 + flat.y * igt5
    fu = (flat.x - t.c) / t.a
    fv = (t.f - flat.y) / -t.e
    ring_cw = ring_clockwise(flat.x, flat.y, flat.ring_offsets)
    b = flat.bounds
    with np.errstate(invalid="ignore"):
        pb = np.column_stack([
            np.floor((t.f - b[:, 3]) / -t.e) - 1, np.ceil((t.f - b[:, 1]) / -t.e) + 1,
            np.floor((b[:, 0] - t.c) / t.a) - 1, np.ceil((b[:, 2] - t.c) / t.a) + 1,
        ])
    empty = ~np.isfinite(pb).all(axis=1)
    pb = np.clip(np.nan_to_num(pb, nan=0.0), -_LIMIT, _LIMIT).astype(np.int64)
    pb[empty] = (0, 0, 0, 0)
    return PreparedLayer(flat, frame, gu, gv, fu, fv, ring_cw, pb, notes)


def as_window(frame: Frame, window: Any) -> tuple[int, int, int, int]:
    """``(r0, r1, c0, c1)`` of a window of *frame*, given as such a tuple, a pair of row/column
    slices, a :class:`~onemap.frame.Tile` of it (its core) or an aligned sub-frame.

    Examples
    --------
    >>> f = Frame.from_bounds((0, 0, 100, 60), res=2.0, crs=4527)
    >>> tile = list(f.tiles(16))[4]
    >>> as_window(f, tile), as_window(f, tile.frame), as_window(f, (slice(0, 5), slice(3, 9)))
    ((16, 30, 0, 16), (16, 30, 0, 16), (0, 5, 3, 9))
    """
    if isinstance(window, Frame):
        if not window.aligned_with(frame):
            raise FrameError(f"{window!r} is not on the pixel lattice of {frame!r}",
                             hint="take sub-frames with frame.subframe / frame.crop / frame.tiles")
        c0 = int(round((window.transform.c - frame.transform.c) / frame.res[0]))
        r0 = int(round((frame.transform.f - window.transform.f) / frame.res[1]))
        window = (r0, r0 + window.height, c0, c0 + window.width)
    elif hasattr(window, "core") and hasattr(window, "window"):  # a Tile: its core
        return as_window(frame, window.frame)
    elif len(window) == 2:
        rows, cols = window
        r0, r1, _ = rows.indices(frame.height)
        c0, c1, _ = cols.indices(frame.width)
        window = (r0, r1, c0, c1)
    r0, r1, c0, c1 = (int(v) for v in window)
    r0, c0 = max(r0, 0), max(c0, 0)
    return (r0, max(r0, min(r1, frame.height)), c0, max(c0, min(c1, frame.width)))


def windows(frame: Frame,
            tile_size: int | tuple[int, int] | None) -> Iterator[tuple[int, int, int, int]]:
    """``(r0, r1, c0, c1)`` of the whole frame (``tile_size=None``) or of each tile."""
    if tile_size is None:
        yield (0, frame.height, 0, frame.width)
        return
    for tile in frame.tiles(tile_size):
        rows, cols = tile.window
        yield (rows.start, rows.stop, cols.start, cols.stop)


def select_features(prep: PreparedLayer, window: tuple[int, int, int, int]) -> np.ndarray:
    """Positions of the features whose pixel bounds meet the window."""
    r0, r1, c0, c1 = window
    pb = prep.pixel_bounds
    hit = ((pb[:, 1] > r0) & (pb[:, 0] < r1) & (pb[:, 3] > c0) & (pb[:, 2] < c1)
           & (pb[:, 1] > pb[:, 0]))
    return np.flatnonzero(hit).astype(np.int64)


def layer_runs(prep: PreparedLayer, rule: str, window: tuple[int, int, int, int] | None = None,
               *, feats: np.ndarray | None = None,
               reference: tuple[int, int, int, int] | None = None) -> Runs:
    """Runs of the features of *prep* inside *window* (default: the whole frame) under *rule*.

    *window* is anything :func:`as_window` takes (e.g. a tile of ``prep.frame.tiles(...)``).

    ``reference`` is the raster GDAL would clip to (default the frame, ``(0, h, 0, w)``); pass an
    extended one to count pixels of the lattice beyond the frame.
    """
    rule = check_rule(rule)
    h, w = prep.frame.shape
    if window is None:
        window = (0, h, 0, w)
    elif reference is None:
        window = as_window(prep.frame, window)
    else:  # an extended lattice beyond the frame: no clipping
        window = _int_window(window)
    reference = (0, h, 0, w) if reference is None else _int_window(reference)
    if feats is None:
        feats = select_features(prep, window)
    feats = np.ascontiguousarray(feats, dtype=np.int64)
    flat = prep.flat
    wr0, wr1, wc0, wc1 = window
    work = 20.0 * len(feats)  # ~ vertices x a few rows each
    if rule == "fraction":
        with threads_for(work):
            off, rows, c0, c1, wts = _frac.fraction_runs(prep.fu, prep.fv, flat.ring_offsets,
                                                          flat.part_offsets, flat.feature_offsets,
                                                          feats, wr0, wr1, wc0, wc1)
    else:
        fr0, fr1, fc0, fc1 = reference
        with threads_for(work):
            off, rows, c0, c1, overflow = _fill.fill_runs(
                prep.gu, prep.gv, flat.ring_offsets, flat.part_offsets, flat.feature_offsets,
                prep.ring_cw, feats, fr0, fr1, fc0, fc1, wr0, wr1, wc0, wc1, rule == "all_touched")
        if overflow:
            raise InvariantError(f"fill kernel capacity exceeded for {overflow} feature(s)",
                                 hint="this is a bug in onemap; please report it with the layer")
        wts = None
    return Runs(feats, off, rows, c0, c1, wts, window)


def _int_window(window: Any) -> tuple[int, int, int, int]:
    r0, r1, c0, c1 = (int(v) for v in window)
    return r0, r1, c0, c1


def lattice_pixel_counts(prep: PreparedLayer, rule: str) -> np.ndarray:
    """Pixels (or covered fraction, for ``"fraction"``) of each feature on the frame's lattice
    extended without bounds: the reference for counting pixels outside the frame."""
    rule = check_rule(rule)
    n = len(prep)
    if rule == "fraction":
        return prep.flat.area / prep.frame.pixel_area
    out = np.zeros(n, dtype=np.float64)
    pb = prep.pixel_bounds
    nonempty = np.flatnonzero(pb[:, 1] > pb[:, 0])
    if len(nonempty) == 0:
        return out
    ext = (int(pb[nonempty, 0].min()), int(pb[nonempty, 1].max()), int(pb[nonempty, 2].min()),
           int(pb[nonempty, 3].max()))
    runs = layer_runs(prep, rule, ext, feats=nonempty, reference=ext)
    out[runs.feats] = runs.pixel_counts()
    return out
