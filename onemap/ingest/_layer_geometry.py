"""Geometry checks of a vector layer by kind: polygons where the kind needs them, null and empty
geometries dropped, invalid ones repaired with :func:`shapely.make_valid`, each reported as a
:class:`~onemap.errors.Repair` (see :mod:`onemap.ingest._kinds` for the kinds)."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from ..errors import GeometryError, Repair

__all__ = ["check_geometries"]

_POLY_TYPES = (3, 6)  # shapely type ids of Polygon, MultiPolygon
_COLLECTION = 7


def _polygonal_part(geom: Any) -> Any:
    """The polygons of a geometry (collections flattened): (Multi)Polygon or an empty Polygon."""
    parts = shapely.get_parts(geom)
    polys = [p for part in parts for p in shapely.get_parts(part) if shapely.get_type_id(p) == 3]
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def check_geometries(gdf: gpd.GeoDataFrame, spec: Any, src: str, id_col: str | None,
                      repair: bool, repairs: list[Repair]) -> gpd.GeoDataFrame:
    """Type check for polygon kinds, drop null/empty, repair invalid; append Repairs."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)

    def feat(i: int | np.integer) -> str:  # feature id, with the source id when the kind has one
        return (
            f"{gdf.index[i]} ({id_col}={gdf[id_col].iloc[i]})"
            if id_col is not None
            else str(gdf.index[i])
        )

    types = shapely.get_type_id(geoms)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    polygon_layer = spec.polygonal or (
        bool((~missing).any()) and bool(np.isin(types[~missing], (*_POLY_TYPES, _COLLECTION)).all())
    )
    if spec.polygonal:
        is_coll = types == _COLLECTION
        coll_poly = np.zeros(len(geoms), bool)
        for i in np.flatnonzero(is_coll & ~missing):
            coll_poly[i] = not shapely.is_empty(_polygonal_part(geoms[i]))
        bad = np.flatnonzero(~missing & ~np.isin(types, _POLY_TYPES) & ~coll_poly)
        if len(bad):
            i = bad[0]
            raise GeometryError(
                f"kind={spec.name!r} needs polygons, but this feature is a {geoms[i].geom_type} "
                f"({len(bad)} of {len(geoms)} features are not polygons)",
                path=src,
                feature=feat(i),
                hint="read it with kind='generic', or turn the points/lines into polygons "
                "(e.g. buffer) "
                f"before using it as {spec.name!r}",
            )
    drop = np.flatnonzero(missing)
    if len(drop) and not repair:
        i = drop[0]
        raise GeometryError(
            f"null or empty geometry ({len(drop)} such features)",
            path=src,
            feature=feat(i),
            hint="pass repair=True to drop them (reported), or fix the layer",
        )
    for i in drop:
        what = "null geometry" if geoms[i] is None else "empty geometry"
        repairs.append(Repair(src, f"feature {feat(i)}", what, "feature dropped"))
    fixed = geoms.copy()
    invalid = np.flatnonzero(~missing & ~shapely.is_valid(geoms))
    if len(invalid) and not repair:
        i = invalid[0]
        raise GeometryError(
            f"invalid geometry: {shapely.is_valid_reason(geoms[i])} ({len(invalid)} invalid "
            "features)",
            path=src,
            feature=feat(i),
            hint="pass repair=True to repair them with shapely.make_valid (reported), "
            "or fix the layer",
        )
    reasons = shapely.is_valid_reason(geoms[invalid])
    made = shapely.make_valid(geoms[invalid])
    collapsed = []
    for i, reason, g in zip(invalid, reasons, made, strict=True):
        if polygon_layer:
            g = _polygonal_part(g)
        if shapely.is_empty(g):
            collapsed.append(i)
        action = ("make_valid left no polygonal area; feature dropped" if shapely.is_empty(g)
                  else f"make_valid -> {g.geom_type}")
        repairs.append(Repair(src, f"feature {feat(i)}", f"invalid geometry: {reason}", action))
        fixed[i] = g
    if spec.polygonal:  # valid collections of polygons and lines: keep the polygons
        done = set(invalid.tolist())
        for i in np.flatnonzero((types == _COLLECTION) & ~missing):
            if i not in done:
                fixed[i] = _polygonal_part(geoms[i])
                repairs.append(
                    Repair(
                        src,
                        f"feature {feat(i)}",
                        "GeometryCollection in a polygon layer",
                        f"kept its polygons -> {fixed[i].geom_type}",
                    )
                )
    keep = np.ones(len(geoms), bool)
    keep[drop] = False
    keep[collapsed] = False
    if keep.all() and all(a is b for a, b in zip(fixed, geoms, strict=True)):
        return gdf
    out = gdf[keep].copy()
    out[gdf.geometry.name] = gpd.GeoSeries(fixed[keep], index=out.index, crs=gdf.crs)
    return out
