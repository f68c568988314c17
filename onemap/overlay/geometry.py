"""Polygon layers as flat coordinate arrays for the overlay kernels; repair and CRS checks.

The kernels never see shapely objects. :func:`flatten_polygons` turns a layer into
:class:`FlatPolygons`: one coordinate array and three offset arrays (feature → parts → rings →
vertices), built with shapely 2's vectorised ``get_parts`` / ``get_rings`` / ``get_coordinates``
instead of one geometry at a time (``rasterio.features.rasterize`` spends ~22 µs per polygon
converting geometries in Python; this costs well under 1 µs per polygon).

Bad input is repaired and reported, never dropped silently: missing geometries, invalid ones
(self-intersections, bow-ties: ``shapely.make_valid``, polygonal parts kept) and degenerate ones
(zero area: they become empty zones) each produce a :class:`~onemap.errors.Repair`. Points and
lines in a polygon layer are an error (:class:`~onemap.errors.GeometryError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .._compute import run, threads
from ..errors import CRSError, DataError, GeometryError, Repair
from ..frame import Frame
from . import _geometry_kernels as _gk

__all__ = ["FlatPolygons", "flatten_polygons", "repair_polygons", "layer_in_crs", "as_frame"]

_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon


@dataclass(frozen=True, eq=False)
class FlatPolygons:
    """A polygon layer as flat arrays (CSR style); shells counter-clockwise, holes clockwise.

    Feature ``i`` owns parts ``part_offsets[feature_offsets[i]:feature_offsets[i + 1]]``; part
    ``p`` owns rings ``ring_offsets[part_offsets[p]:part_offsets[p + 1]]`` (shell first); ring ``r``
    owns vertices ``x[ring_offsets[r]:ring_offsets[r + 1]]`` (closed: last vertex == first).
    ``bounds`` is ``(n, 4)`` (NaN for empty features), ``area`` the plane area in CRS units².
    """

    x: np.ndarray
    y: np.ndarray
    ring_offsets: np.ndarray
    part_offsets: np.ndarray
    feature_offsets: np.ndarray
    bounds: np.ndarray
    area: np.ndarray
    index: pd.Index
    crs: CRS | None
    repairs: list[Repair] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.feature_offsets) - 1

    @property
    def n_vertices(self) -> int:
        return len(self.x)

    def empty(self) -> np.ndarray:
        """Boolean mask of features without area."""
        return np.diff(self.feature_offsets) == 0


def as_frame(frame: Any) -> Frame:
    """A :class:`Frame` from a Frame or a georeferenced DataArray."""
    if isinstance(frame, Frame):
        return frame
    if hasattr(frame, "dims") and hasattr(frame, "attrs"):
        return Frame.from_xarray(frame)
    raise TypeError("expected a Frame or a georeferenced xarray.DataArray, "
                    f"got {type(frame).__name__}")


def layer_in_crs(layer: Any, crs: CRS, *, reproject: bool = False,
                 what: str = "layer") -> tuple[Any, str | None]:
    """Return *layer* in *crs*; a different CRS is a :class:`CRSError` unless ``reproject=True``.

    Returns the layer and a note saying what was done (None when nothing was), for ``attrs``.
    """
    layer_crs = getattr(layer, "crs", None)
    if layer_crs is None:
        raise CRSError(f"{what} has no CRS",
                       hint="set it with layer.set_crs(...) (the CRS the coordinates are in), "
                            "not to_crs")
    layer_crs = CRS.from_user_input(layer_crs)
    if layer_crs.equals(crs, ignore_axis_order=True):
        return layer, None
    if not reproject:
        raise CRSError(f"{what} CRS {_crs_name(layer_crs)} differs from the frame's "
                       f"{_crs_name(crs)}",
                       hint=f"pass reproject=True to reproject the {what}, "
                            "or layer.to_crs(frame.crs) first")
    note = f"{what} reprojected from {_crs_name(layer_crs)} to {_crs_name(crs)}"
    return layer.to_crs(crs), note


def _crs_name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else (crs.name or "custom CRS")


def _geometries(layer: Any) -> tuple[np.ndarray, pd.Index, CRS | None, str]:
    if hasattr(layer, "geometry") and hasattr(layer, "index"):  # GeoDataFrame / GeoSeries
        geoms = np.asarray(layer.geometry.values, dtype=object)
        index = layer.index
        source = str(layer.attrs.get("source", "layer")) if hasattr(layer, "attrs") else "layer"
        return geoms, index, getattr(layer, "crs", None), source
    geoms = np.asarray(layer, dtype=object)
    if geoms.ndim != 1:
        geoms = geoms.reshape(-1)
    return geoms, pd.RangeIndex(len(geoms)), None, "geometries"


def repair_polygons(layer: Any, *, source: str | None = None
                    ) -> tuple[np.ndarray, pd.Index, CRS | None, list[Repair]]:
    """Polygonal geometries of a layer, repaired, with the repairs made.

    Missing geometry → empty; invalid → ``shapely.make_valid`` keeping polygonal parts; degenerate
    (no area after repair) → empty; GeometryCollection → its polygonal parts. Points and lines raise
    :class:`GeometryError`. Returns ``(geometries, index, crs, repairs)``; nothing is warned here.
    Large layers are checked in chunks on several threads (shapely releases the GIL).
    """
    geoms, index, crs, default_source = _geometries(layer)
    source = source or default_source
    if not index.is_unique:
        raise DataError(f"{source}: the layer's index has duplicate labels",
                        hint="results are indexed like the layer; call layer.reset_index() first")
    chunks = _chunked(lambda sl: _repair_array(geoms[sl].copy(), index, source, sl.start),
                      len(geoms))
    fixed = np.concatenate([c[0] for c in chunks]) if chunks else geoms.copy()
    repairs = sorted((item for c in chunks for item in c[1]), key=lambda item: item[0])
    return fixed, index, None if crs is None else CRS.from_user_input(crs), [r for _, r in repairs]


def _repair_array(geoms: np.ndarray, index: pd.Index, source: str,
                  offset: int) -> tuple[np.ndarray, list]:
    """Repair a chunk of geometries in place; repairs as (position in the layer, Repair)."""
    repairs: list[tuple[int, Repair]] = []

    def where(i: int) -> str:
        return f"feature {index[offset + i]!r}"

    missing = shapely.is_missing(geoms)
    for i in np.flatnonzero(missing).tolist():
        repairs.append((offset + i, Repair(source, where(i), "missing geometry",
                                           "treated as an empty zone")))
    geoms[missing] = shapely.Polygon()
    types = shapely.get_type_id(geoms)
    empty = shapely.is_empty(geoms)
    bad = ~np.isin(types, (3, 6, 7)) & ~empty
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GeometryError(f"{geoms[i].geom_type} in a polygon layer "
                            f"({int(bad.sum())} such features)", feature=index[offset + i],
                            hint="buffer points/lines into polygons or drop them")
    for i in np.flatnonzero((types == 7) & ~empty).tolist():
        geoms[i], dropped = _polygonal_part(geoms[i])
        kept = "kept its polygonal parts" + (f" (dropped {dropped})" if dropped else "")
        repairs.append((offset + i, Repair(source, where(i), "GeometryCollection", kept)))
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        reasons = shapely.is_valid_reason(geoms[invalid])
        fixed = shapely.make_valid(geoms[invalid])
        for i, reason, geom in zip(np.flatnonzero(invalid).tolist(), reasons, fixed, strict=True):
            before = float(shapely.area(geoms[i]))
            geom, dropped = _polygonal_part(geom)
            geoms[i] = geom
            if geom.is_empty:
                action = "degenerate (no area): treated as an empty zone"
            else:
                action = f"make_valid, kept polygonal parts (area {before:.6g} -> {geom.area:.6g})"
            repairs.append((offset + i, Repair(source, where(i), str(reason), action)))
    return geoms, repairs


_MIN_CHUNK = 20_000  # features per thread below which threads do not pay


def _chunked(fn: Any, n: int) -> list:
    """``fn(slice)`` over chunks of ``range(n)``, on threads when large (order kept).

    Shapely's vectorised functions release the GIL, so the chunks run on the shared pool.
    """
    k = min(threads(), n // _MIN_CHUNK)
    if k <= 1:
        return [fn(slice(0, n))] if n else []
    bounds = np.linspace(0, n, k + 1).astype(int)
    return run(fn, [(slice(a, b),) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])


def flatten_polygons(layer: Any, *, source: str | None = None) -> FlatPolygons:
    """Flatten a polygon layer (GeoDataFrame, GeoSeries or array of shapely geometries).

    Geometries are repaired first (:func:`repair_polygons`); the repairs are in ``.repairs``.

    Examples
    --------
    >>> import shapely
    >>> flat = flatten_polygons([shapely.box(0, 0, 2, 2).difference(shapely.box(0.5, 0.5, 1, 1))])
    >>> len(flat), flat.n_vertices, float(flat.area[0])
    (1, 10, 3.75)
    """
    geoms, index, crs, repairs = repair_polygons(layer, source=source)
    chunks = _chunked(lambda sl: _flatten_array(geoms[sl]), len(geoms))
    if not chunks:
        chunks = [_flatten_array(geoms)]
    cat = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
    x, y, parts_per_feature, rings_per_part, vertices_per_ring, bounds, area = cat
    return FlatPolygons(
        x=x, y=y,
        ring_offsets=_cumulative(vertices_per_ring),
        part_offsets=_cumulative(rings_per_part),
        feature_offsets=_cumulative(parts_per_feature),
        bounds=bounds.reshape(-1, 4),
        area=area,
        index=index,
        crs=crs,
        repairs=repairs,
    )


def _flatten_array(geoms: np.ndarray) -> tuple[np.ndarray, ...]:
    """Coordinates and per-level counts of a chunk of repaired polygonal geometries.

    One ``shapely.get_coordinates`` call (no Python object per part or ring): ring ends are
    found where a ring returns to its first vertex (rings of valid polygons are simple), parts of
    multi-polygons from their interior-ring counts, and rings are re-oriented in place (shells
    counter-clockwise, holes clockwise).
    """
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    x = np.ascontiguousarray(xy[:, 0], dtype=np.float64)
    y = np.ascontiguousarray(xy[:, 1], dtype=np.float64)
    vertices_per_feature = _counts(owner, len(geoms))
    vertices_per_ring, rings_per_feature = _gk.ring_sizes(x, y, _cumulative(vertices_per_feature))
    # rings per part: one part per Polygon; a MultiPolygon's parts from their interior rings
    multi = np.flatnonzero(shapely.get_type_id(geoms) == 6)
    parts_per_feature = (rings_per_feature > 0).astype(np.int64)
    if len(multi):
        parts, part_owner = shapely.get_parts(geoms[multi], return_index=True)
        parts_per_feature[multi] = np.bincount(part_owner, minlength=len(multi))
        rings_of_parts = shapely.get_num_interior_rings(parts) + 1
    else:
        rings_of_parts = np.zeros(0, dtype=np.int64)
    rings_per_part = _gk.rings_per_part(rings_per_feature, parts_per_feature,
                                        multi.astype(np.int64), rings_of_parts.astype(np.int64))
    _gk.orient_rings(x, y, _cumulative(vertices_per_ring), _cumulative(rings_per_part))
    bounds = shapely.bounds(geoms)
    bounds[shapely.is_empty(geoms)] = np.nan
    return (x, y, parts_per_feature, rings_per_part, vertices_per_ring, bounds.reshape(-1),
            shapely.area(geoms).astype(np.float64))


def _counts(owner: np.ndarray, n: int) -> np.ndarray:
    if not len(owner):
        return np.zeros(n, dtype=np.int64)
    return np.bincount(owner, minlength=n).astype(np.int64)


def _cumulative(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _polygonal_part(geom: Any) -> tuple[Any, str]:
    """The polygonal part of a geometry (MultiPolygon or Polygon) and what was dropped."""
    if shapely.get_type_id(geom) in _POLYGONAL:
        return geom, ""
    parts = shapely.get_parts(geom)
    while True:  # nested collections
        nested = shapely.get_type_id(parts) == 7
        if not nested.any():
            break
        parts = np.concatenate([parts[~nested], shapely.get_parts(parts[nested])])
    types = shapely.get_type_id(parts)
    polys = parts[np.isin(types, _POLYGONAL)]
    polys = shapely.get_parts(polys)
    polys = polys[~shapely.is_empty(polys) & (shapely.area(polys) > 0)]
    others = sorted({p.geom_type for p in parts[~np.isin(types, _POLYGONAL)]})
    dropped = ", ".join(others)
    if len(polys) == 0:
        return shapely.Polygon(), dropped
    if len(polys) == 1:
        return polys[0], dropped
    return shapely.MultiPolygon(list(polys)), dropped
