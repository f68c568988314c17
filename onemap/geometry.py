"""One home for the vector geometry of the final figures: pairs, parts, CRS equality, area, metres.

Every overlay that turns patches and layers into figures uses these, so one rule holds everywhere:

* :func:`same_crs` — two CRSs are the same when they describe the same coordinates (axis order
  ignored: geopandas always works in x/y order);
* :func:`pairs` — the (feature, other) pairs whose geometries intersect, in a fixed order (by
  feature, then other) that does not depend on the tree, so a layer subset gives the same pieces
  in the same order as the whole layer;
* :func:`polygonal` — the polygonal part of an intersection (shared edges and points dropped);
* :func:`ellipsoidal_area` — the area in m² on the ellipsoid of the CRS's own datum (CGCS2000 →
  GRS80, WGS 84 …), whatever the CRS: a Gauss-Kruger plane, UTM, Web Mercator or longitude /
  latitude give the same area for the same polygon (vertices are inverse-projected, rings are
  measured along geodesics with ``pyproj.Geod.polygon_area_perimeter``);
* :func:`metric` and :func:`substantial` — lengths in metres whatever the CRS unit: geometries in
  a CRS that is not a metre Transverse Mercator plane (degrees, feet, Web Mercator, whose metres
  are 1/cos(latitude) too long) are carried into the CGCS2000 3° Gauss-Kruger zone they lie in,
  where one unit is one metre to 1e-4, before any buffer or opening.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer

from .errors import CRSError, DataError

__all__ = [
    "ellipsoidal_area",
    "gk3_zone_of",
    "is_metric_plane",
    "metric",
    "pairs",
    "polygonal",
    "same_crs",
    "substantial",
]

_POLYGONAL = (3, 6)  # shapely type ids of Polygon and MultiPolygon


def same_crs(a: Any, b: Any) -> bool:
    """True when *a* and *b* are the same CRS (axis order ignored); None equals only None.

    >>> same_crs(4527, "EPSG:4527"), same_crs(4490, 4326), same_crs(None, None)
    (True, False, True)
    """
    if a is None or b is None:
        return a is None and b is None
    return _crs(a).equals(_crs(b), ignore_axis_order=True)


@functools.lru_cache(maxsize=64)
def _crs_cached(key: Any) -> CRS:
    return CRS.from_user_input(key)


def _crs(crs: Any) -> CRS:
    if isinstance(crs, CRS):
        return crs
    try:
        return _crs_cached(crs)
    except TypeError:  # unhashable input (a dict)
        return CRS.from_user_input(crs)


def pairs(
    geoms: np.ndarray, others: np.ndarray, predicate: str | None = "intersects"
) -> tuple[np.ndarray, np.ndarray]:
    """(geoms index, others index) pairs that meet, ordered by *geoms*, then *others*.

    >>> a = np.array([shapely.box(0, 0, 2, 2), shapely.box(5, 5, 6, 6)])
    >>> b = np.array([shapely.box(1, 1, 3, 3), shapely.box(-1, -1, 0.5, 0.5)])
    >>> [x.tolist() for x in pairs(a, b)]
    [[0, 0], [0, 1]]
    """
    if len(others) == 0 or len(geoms) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    p, o = shapely.STRtree(others).query(geoms, predicate=predicate)
    order = np.lexsort((o, p))
    return p[order], o[order]


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal part of each geometry (drop shared edges and touching points).

    >>> g = shapely.intersection(shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1))
    >>> polygonal(np.array([g]))[0].is_empty
    True
    """
    out = np.array(geoms, dtype=object, copy=True)
    mixed = shapely.get_type_id(out) == 7
    for i in np.flatnonzero(mixed):
        parts = shapely.get_parts(out[i])
        polys = parts[np.isin(shapely.get_type_id(parts), _POLYGONAL)]
        out[i] = shapely.union_all(polys) if len(polys) else shapely.Polygon()
    nonpoly = ~np.isin(shapely.get_type_id(out), _POLYGONAL)
    out[nonpoly] = shapely.Polygon()
    return out


def ellipsoidal_area(geoms: Any, crs: Any = None, *, densify: float | None = None) -> np.ndarray:
    """Area (m²) of each polygon on the ellipsoid of the CRS's own datum, positionally.

    *geoms* is an array of shapely geometries (then *crs* is required) or a GeoSeries /
    GeoDataFrame (its CRS is used). Holes are subtracted, parts added, empty geometries are 0.
    ``densify`` (CRS units) adds vertices along the plane's straight edges first (for edges
    longer than about 1 km, where a straight plane edge and the geodesic part noticeably).

    >>> box = shapely.box(39_500_000, 3_300_000, 39_500_100, 3_300_100)   # 100 m, zone 39
    >>> a = ellipsoidal_area([box], 4527)[0]
    >>> lonlat = shapely.transform(box, lambda xy: np.column_stack(
    ...     Transformer.from_crs(4527, 4490, always_xy=True).transform(xy[:, 0], xy[:, 1])))
    >>> bool(abs(ellipsoidal_area([lonlat], 4490)[0] - a) < 1e-6 * a)   # same polygon, same area
    True
    """
    if crs is None:
        crs = getattr(geoms, "crs", None)
        if crs is None:
            raise CRSError(
                "no CRS to measure the area in", hint="pass crs= or a GeoSeries with a CRS"
            )
    if hasattr(geoms, "geometry"):
        geoms = geoms.geometry.values
    geoms = np.asarray(geoms, dtype=object)
    crs = _crs(crs)
    if densify is not None:
        if not densify > 0:
            raise DataError(f"densify must be a positive length, got {densify}")
        geoms = shapely.segmentize(geoms, densify)
    geoms = shapely.orient_polygons(geoms, exterior_cw=False)
    parts, part_feature = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    xy, vertex_ring = shapely.get_coordinates(rings, return_index=True)
    out = np.zeros(len(geoms), dtype=np.float64)
    if len(rings) == 0:
        return out
    geodetic = crs.geodetic_crs
    if geodetic is None:
        raise CRSError(
            f"CRS {crs.name} has no geodetic datum", hint="use a CRS with a datum (e.g. EPSG:4527)"
        )
    geod = geodetic.get_geod()
    lon, lat = _to_geodetic(crs).transform(xy[:, 0], xy[:, 1])
    # a ring's sign: exterior (first ring of its part) counts +, holes count -
    first_ring = np.r_[True, ring_part[1:] != ring_part[:-1]]
    starts = np.r_[0, np.flatnonzero(np.diff(vertex_ring)) + 1]
    ends = np.r_[starts[1:], len(vertex_ring)]
    feature_of_ring = part_feature[ring_part]
    for s, e in zip(starts, ends, strict=False):
        ring = vertex_ring[s]
        # the closing vertex repeats the first: leave it out
        area, _ = geod.polygon_area_perimeter(lon[s : e - 1], lat[s : e - 1])
        out[feature_of_ring[ring]] += abs(area) if first_ring[ring] else -abs(area)
    return out


@functools.lru_cache(maxsize=32)
def _to_geodetic_cached(wkt: str) -> Transformer:
    crs = CRS.from_wkt(wkt)
    return Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)


def _to_geodetic(crs: CRS) -> Transformer:
    return _to_geodetic_cached(crs.to_wkt())


def is_metric_plane(crs: Any) -> bool:
    """True for a Transverse Mercator plane in metres (Gauss-Kruger, UTM): there a length in CRS
    units is a length in metres to within 1e-3 over a zone, so tolerances apply as they are.

    >>> is_metric_plane(4527), is_metric_plane(32651), is_metric_plane(4490), is_metric_plane(3857)
    (True, True, False, False)
    """
    crs = _crs(crs)
    if not crs.is_projected:
        return False
    try:
        unit = crs.axis_info[0].unit_conversion_factor
        method = crs.coordinate_operation.method_name
    except (AttributeError, IndexError):
        return False
    return unit == 1.0 and "transverse mercator" in method.lower().replace("_", " ")


def gk3_zone_of(geoms: np.ndarray, crs: Any) -> np.ndarray:
    """3° Gauss-Kruger zone (1–120, central meridian 3·zone °E) of each geometry's bounding-box
    centre; 0 for empty geometries.

    >>> pts = [shapely.Point(117.4, 30), shapely.Point(118.6, 30), shapely.Point(-1.7, 48)]
    >>> gk3_zone_of(np.array(pts), 4490).tolist()
    [39, 40, 119]
    """
    crs = _crs(crs)
    bounds = shapely.bounds(np.asarray(geoms, dtype=object))
    x, y = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    ok = np.isfinite(x)
    lon = np.zeros(len(x))
    if ok.any():
        lon[ok] = _to_geodetic(crs).transform(x[ok], y[ok])[0]
    zone = np.round(lon / 3.0).astype(np.int64) % 120
    zone[zone == 0] = 120
    zone[~ok] = 0
    return zone


def metric(geoms: np.ndarray, crs: Any) -> np.ndarray:
    """*geoms* in a CRS where one unit is one metre: unchanged in a metric Transverse Mercator
    plane (:func:`is_metric_plane`), else each carried into the CGCS2000 3° Gauss-Kruger zone
    (unprefixed) it lies in. Positional; only for lengths (buffers, widths), not for output.

    >>> deg = np.array([shapely.box(117.0, 30.0, 117.001, 30.001)])
    >>> box = shapely.bounds(metric(deg, 4490))[0]
    >>> round(float(box[2] - box[0]))
    96
    """
    geoms = np.asarray(geoms, dtype=object)
    if is_metric_plane(crs) or len(geoms) == 0:
        return geoms
    from .crs import gk_crs

    src = _crs(crs)
    out = geoms.copy()
    zones = gk3_zone_of(geoms, src)
    for zone in np.unique(zones[zones > 0]):
        sel = zones == zone
        tr = _transformer(src.to_wkt(), gk_crs(int(zone), prefix=False).to_wkt())
        out[sel] = shapely.transform(
            geoms[sel], lambda xy, tr=tr: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))
        )
    return out


@functools.lru_cache(maxsize=64)
def _transformer(src_wkt: str, dst_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt), always_xy=True)


def substantial(parts: np.ndarray, crs: Any, tolerance_m: float) -> np.ndarray:
    """True where a part survives an opening of radius *tolerance_m* metres (is more than a sliver),
    whatever the CRS unit (see :func:`metric`).

    >>> thin = shapely.box(117.0, 30.0, 117.001, 30.0000045)   # ~96 m long, ~0.5 m wide
    >>> substantial(np.array([thin]), 4490, 1.0).tolist()
    [False]
    >>> substantial(np.array([thin]), 4490, 0.2).tolist()
    [True]
    """
    parts = np.asarray(parts, dtype=object)
    if tolerance_m <= 0:
        return ~shapely.is_empty(parts) & (shapely.area(parts) > 0)
    m = metric(parts, crs)
    opened = shapely.buffer(
        shapely.buffer(m, -tolerance_m, join_style="mitre"), tolerance_m, join_style="mitre"
    )
    return ~shapely.is_empty(opened) & (shapely.area(opened) > 0)
