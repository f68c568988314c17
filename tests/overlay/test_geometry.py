"""Flattening layers into coordinate/offset arrays; repairs; CRS checks."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from onemap.errors import CRSError, DataError
from onemap.overlay.geometry import flatten_polygons, layer_in_crs


def test_offsets_orientation_and_areas():
    holed = shapely.box(0, 0, 10, 10).difference(shapely.box(2, 2, 4, 4))
    multi = shapely.MultiPolygon([shapely.box(20, 0, 21, 1), shapely.Polygon([(30, 0), (30, 2), (32, 0)])])
    flat = flatten_polygons(gpd.GeoSeries([holed, None, multi, shapely.Polygon()], index=list("abcd")))
    assert len(flat) == 4 and list(flat.index) == list("abcd")
    np.testing.assert_array_equal(np.diff(flat.feature_offsets), [1, 0, 2, 0])  # parts per feature
    np.testing.assert_array_equal(np.diff(flat.part_offsets), [2, 1, 1])  # rings per part
    np.testing.assert_array_equal(np.diff(flat.ring_offsets), [5, 5, 5, 4])
    np.testing.assert_allclose(flat.area, [96.0, 0.0, 3.0, 0.0])
    assert np.isnan(flat.bounds[1]).all() and list(flat.empty()) == [False, True, False, True]
    # shells counter-clockwise, holes clockwise: signed ring areas are +, -, +, +
    signed = []
    for k in range(len(flat.ring_offsets) - 1):
        s, e = flat.ring_offsets[k], flat.ring_offsets[k + 1]
        signed.append(shapely.area(shapely.Polygon(np.c_[flat.x[s:e], flat.y[s:e]])) *
                      (1 if shapely.is_ccw(shapely.LinearRing(np.c_[flat.x[s:e], flat.y[s:e]])) else -1))
    assert [np.sign(v) for v in signed] == [1, -1, 1, 1]
    assert [r.problem for r in flat.repairs] == ["missing geometry"]


def test_geometry_collection_keeps_polygonal_parts():
    gc = shapely.GeometryCollection([shapely.box(0, 0, 1, 1), shapely.LineString([(0, 0), (5, 5)])])
    flat = flatten_polygons([gc])
    assert flat.area[0] == 1.0
    assert "kept its polygonal parts (dropped LineString)" in flat.repairs[0].action


def test_duplicate_index_and_crs_checks():
    layer = gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)] * 2, index=[7, 7], crs=4527)
    with pytest.raises(DataError, match="duplicate labels"):
        flatten_polygons(layer)
    same, note = layer_in_crs(layer, layer.crs)
    assert same is layer and note is None
    with pytest.raises(CRSError, match="reproject=True"):
        layer_in_crs(layer, gpd.GeoSeries(crs=4490).crs)


def test_chunked_flattening_on_threads_equals_one_pass(monkeypatch):
    import onemap.overlay.geometry as geometry

    rng = np.random.default_rng(0)
    geoms = [shapely.Point(rng.uniform(0, 100, 2)).buffer(rng.uniform(0.5, 3), quad_segs=int(rng.integers(1, 6)))
             for _ in range(200)]
    geoms[7] = None
    geoms[150] = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])  # bow-tie
    one = flatten_polygons(geoms)
    monkeypatch.setattr(geometry, "_MIN_CHUNK", 30)
    monkeypatch.setattr("numba.get_num_threads", lambda: 4)
    many = flatten_polygons(geoms)
    for name in ("x", "y", "ring_offsets", "part_offsets", "feature_offsets", "area"):
        np.testing.assert_array_equal(getattr(many, name), getattr(one, name), err_msg=name)
    np.testing.assert_array_equal(many.bounds, one.bounds)
    assert [str(r) for r in many.repairs] == [str(r) for r in one.repairs] and len(one.repairs) == 2
