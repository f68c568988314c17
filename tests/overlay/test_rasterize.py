"""rasterize: identical grids to rasterio.features.rasterize, tiling, burn values, bad input."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from affine import Affine
from rasterio import features

import onemap
from onemap import Frame
from onemap.errors import CRSError, DataError, GeometryError, RepairWarning

from ._polygons import X0, Y0, frame_at, random_layer, voronoi_parcels


def _gdal(layer, frame, all_touched):
    shapes = [(g, i) for i, g in enumerate(layer.geometry) if g is not None and not g.is_empty]
    return features.rasterize(shapes, out_shape=frame.shape, transform=frame.transform, fill=-1,
                              all_touched=all_touched, dtype="int32")


@pytest.mark.parametrize("rule", ["centre", "all_touched"])
@pytest.mark.parametrize("seed", range(6))
def test_identical_to_rasterio_random_polygons(rule, seed):
    rng = np.random.default_rng(seed)
    res = float(rng.choice([2.0, 0.5, 0.3]))
    frame = frame_at((37, 45), res=res, x0=float(rng.choice([X0, 500_000.0, 123.4])))
    # half of the layers snapped to quarter/half pixels: vertices and edges exactly on pixel
    # centres and edges, where the tie-breaking of the two implementations must agree
    snap = res * float(rng.choice([0.25, 0.5, 1.0])) if seed % 2 else None
    layer = random_layer(rng, frame, 25, snap=snap)
    ours = onemap.rasterize(layer, frame, rule=rule)
    assert ours.dtype == np.int32 and ours.shape == frame.shape
    np.testing.assert_array_equal(ours.values, _gdal(layer, frame, rule == "all_touched"))


@pytest.mark.parametrize("rule", ["centre", "all_touched"])
def test_identical_to_rasterio_axis_aligned_ties(rule):
    # boxes whose edges lie exactly on pixel centres / pixel edges, horizontal edges on scanlines
    frame = frame_at((30, 30), res=1.0)
    boxes = [shapely.box(X0 + a, Y0 - b, X0 + c, Y0 - d) for a, b, c, d in
             [(2.5, 10.5, 7.5, 2.5), (3, 20, 9, 12), (10.5, 29.5, 29.5, 20), (0, 30, 1, 0), (15, 15.5, 25, 14.5),
              (20.25, 8.75, 27.75, 1.25)]]
    ring = shapely.box(X0 + 12, Y0 - 11, X0 + 19, Y0 - 3).difference(shapely.box(X0 + 14.5, Y0 - 8.5, X0 + 16.5, Y0 - 5.5))
    tri = shapely.Polygon([(X0 + 2, Y0 - 28), (X0 + 9.5, Y0 - 21.5), (X0 + 2, Y0 - 21.5)])
    layer = gpd.GeoDataFrame(geometry=boxes + [ring, tri, ring.buffer(0)], crs=frame.crs)
    np.testing.assert_array_equal(onemap.rasterize(layer, frame, rule=rule).values,
                                  _gdal(layer, frame, rule == "all_touched"))


@pytest.mark.parametrize("rule", ["centre", "all_touched", "fraction"])
def test_tiled_equals_untiled(rule):
    rng = np.random.default_rng(11)
    frame = frame_at((53, 61), res=2.0)
    layer = voronoi_parcels(rng, frame, 40)
    whole = onemap.rasterize(layer, frame, rule=rule)
    for size in (16, (7, 29)):
        tiled = onemap.rasterize(layer, frame, rule=rule, tile_size=size)
        if rule == "fraction":  # a row's running cover is summed in another order across tiles
            np.testing.assert_allclose(tiled.values, whole.values, rtol=0, atol=1e-12)
        else:
            np.testing.assert_array_equal(tiled.values, whole.values)


def test_subframe_gives_the_parents_pixels():
    rng = np.random.default_rng(3)
    frame = frame_at((40, 40), res=2.0)
    layer = random_layer(rng, frame, 12)
    whole = onemap.rasterize(layer, frame, rule="fraction")
    sub = frame.subframe(slice(5, 30), slice(11, 37))
    np.testing.assert_allclose(onemap.rasterize(layer, sub, rule="fraction").values, whole.values[5:30, 11:37],
                               atol=1e-12)


def test_georeferencing_and_attrs():
    frame = frame_at((10, 12), res=2.0)
    layer = gpd.GeoDataFrame(geometry=[shapely.box(X0 + 2, Y0 - 10, X0 + 9, Y0 - 3)], crs=frame.crs)
    da = onemap.rasterize(layer, frame)
    assert Frame.from_xarray(da) == frame
    assert da.rio.crs.to_epsg() == 4527
    assert da.attrs["rule"] == "centre" and da.attrs["nodata"] == -1 and da.attrs["repairs"] == []
    np.testing.assert_allclose(da.x.values, frame.coords()["x"])


def test_burn_column_values():
    frame = frame_at((10, 10), res=1.0)
    geoms = [shapely.box(X0, Y0 - 5, X0 + 5, Y0), shapely.box(X0 + 5, Y0 - 10, X0 + 10, Y0 - 5)]
    layer = gpd.GeoDataFrame({"n": [7, 3_000_000_000], "f": [0.5, 2.0], "code": ["0702", "0101"],
                              "b": [True, False]}, geometry=geoms, crs=frame.crs)
    ints = onemap.rasterize(layer, frame, column="n")
    assert ints.dtype == np.int64 and ints.values[0, 0] == 7 and ints.values[9, 9] == 3_000_000_000
    assert ints.values[0, 9] == 0  # default fill for integers, as rasterio
    floats = onemap.rasterize(layer, frame, column="f")
    assert floats.dtype == np.float64 and np.isnan(floats.values[0, 9]) and floats.values[9, 9] == 2.0
    codes = onemap.rasterize(layer, frame, column="code")
    assert codes.attrs["classes"] == ["0101", "0702"]
    assert codes.values[0, 0] == 1 and codes.values[9, 9] == 0 and codes.values[0, 9] == -1
    weighted = onemap.rasterize(layer, frame, column="f", rule="fraction")
    assert weighted.values[0, 0] == 0.5 and weighted.values[9, 9] == 2.0 and weighted.values[0, 9] == 0
    assert onemap.rasterize(layer, frame, column="b").values[0, 0] == 1
    with pytest.raises(DataError, match="no column 'nope'"):
        onemap.rasterize(layer, frame, column="nope")
    with pytest.raises(DataError, match="not numeric"):
        onemap.rasterize(layer, frame, column="code", rule="fraction")


def test_fraction_rule_is_the_covered_fraction():
    frame = frame_at((4, 4), res=2.0)
    # two polygons side by side sharing an edge through pixel middles: together they cover 1
    a = shapely.box(X0 + 1, Y0 - 8, X0 + 5, Y0)
    b = shapely.box(X0 + 5, Y0 - 8, X0 + 7, Y0)
    layer = gpd.GeoDataFrame(geometry=[a, b], crs=frame.crs)
    got = onemap.rasterize(layer, frame, rule="fraction").values
    np.testing.assert_allclose(got, np.tile([0.5, 1.0, 1.0, 0.5], (4, 1)))
    assert onemap.rasterize(layer, frame, rule="fraction", fill=-9).values[0, 0] == 0.5


def test_sub_pixel_polygon_gets_its_share_only_with_fraction():
    frame = frame_at((5, 5), res=2.0)
    tiny = gpd.GeoDataFrame(geometry=[shapely.box(X0 + 2.2, Y0 - 3.9, X0 + 2.8, Y0 - 3.1)], crs=frame.crs)
    assert (onemap.rasterize(tiny, frame).values == -1).all()  # no pixel centre inside
    assert onemap.rasterize(tiny, frame, rule="all_touched").values[1, 1] == 0
    frac = onemap.rasterize(tiny, frame, rule="fraction").values
    assert frac[1, 1] == pytest.approx(0.6 * 0.8 / 4) and frac.sum() == pytest.approx(0.12)


def test_empty_layer_and_polygons_outside():
    frame = frame_at((8, 9), res=1.0)
    empty = gpd.GeoDataFrame(geometry=[], crs=frame.crs)
    assert (onemap.rasterize(empty, frame).values == -1).all()
    assert (onemap.rasterize(empty, frame, rule="fraction").values == 0).all()
    outside = gpd.GeoDataFrame(geometry=[shapely.box(X0 - 50, Y0 - 5, X0 - 40, Y0),
                                         shapely.box(X0 + 2, Y0 + 100, X0 + 5, Y0 + 200)], crs=frame.crs)
    for rule in ("centre", "all_touched"):
        assert (onemap.rasterize(outside, frame, rule=rule).values == -1).all()
    assert (onemap.rasterize(outside, frame, rule="fraction").values == 0).all()


def test_crs_mismatch_is_an_error_unless_reprojection_is_asked():
    frame = frame_at((20, 20), res=2.0)
    layer = gpd.GeoDataFrame(geometry=[shapely.box(X0 + 5, Y0 - 30, X0 + 30, Y0 - 5)], crs=frame.crs)
    lonlat = layer.to_crs(4490)
    with pytest.raises(CRSError, match="EPSG:4490.*differs from the frame's EPSG:4527"):
        onemap.rasterize(lonlat, frame)
    got = onemap.rasterize(lonlat, frame, reproject=True)
    assert "reprojected from EPSG:4490 to EPSG:4527" in got.attrs["notes"][0]
    assert (got.values == onemap.rasterize(layer, frame).values).mean() > 0.98
    with pytest.raises(CRSError, match="has no CRS"):
        onemap.rasterize(gpd.GeoDataFrame(geometry=list(layer.geometry)), frame)


def test_invalid_and_degenerate_geometries_are_repaired_and_reported():
    frame = frame_at((10, 10), res=1.0)
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 10, Y0 - 10), (X0 + 10, Y0), (X0, Y0 - 10)])
    flat = shapely.Polygon([(X0, Y0), (X0 + 5, Y0 - 5), (X0 + 8, Y0 - 8)])
    layer = gpd.GeoDataFrame(geometry=[bowtie, flat, None], index=["bow", "flat", "none"], crs=frame.crs)
    with pytest.warns(RepairWarning, match="3 repair"):
        got = onemap.rasterize(layer, frame, rule="fraction")
    repairs = got.attrs["repairs"]
    assert [r.where for r in repairs] == ["feature 'bow'", "feature 'flat'", "feature 'none'"]
    assert "Self-intersection" in repairs[0].problem and "make_valid" in repairs[0].action
    assert "no area" in repairs[1].action and repairs[2].problem == "missing geometry"
    assert got.values.sum() == pytest.approx(50.0)  # the bow-tie's two triangles


def test_points_and_lines_are_an_error_naming_the_feature():
    frame = frame_at((10, 10), res=1.0)
    layer = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0 - 2, X0 + 2, Y0), shapely.LineString([(X0, Y0), (X0 + 3, Y0)])],
                             index=["ok", "road"], crs=frame.crs)
    with pytest.raises(GeometryError, match="feature road: LineString in a polygon layer"):
        onemap.rasterize(layer, frame)


def test_overlap_order_and_unrotated_frames_only():
    frame = frame_at((6, 6), res=1.0)
    big = shapely.box(X0, Y0 - 6, X0 + 6, Y0)
    small = shapely.box(X0 + 2, Y0 - 4, X0 + 4, Y0 - 2)
    got = onemap.rasterize(gpd.GeoDataFrame(geometry=[big, small], crs=frame.crs), frame).values
    assert got[3, 3] == 1 and got[0, 0] == 0  # the later polygon wins, as in GDAL
    rotated = Affine(1, 0.1, X0, 0, -1, Y0)
    with pytest.raises(onemap.errors.FrameError):
        Frame(4527, rotated, (5, 5))


def test_the_grid_is_freed_without_waiting_for_the_garbage_collector():
    import gc
    import weakref

    frame = frame_at((50, 50), res=1.0)
    layer = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0 - 20, X0 + 20, Y0)], crs=frame.crs)
    gc.disable()
    try:
        da = onemap.rasterize(layer, frame)
        grid = weakref.ref(da.values)
        del da
        assert grid() is None  # no reference cycle keeps the grid alive
    finally:
        gc.enable()
