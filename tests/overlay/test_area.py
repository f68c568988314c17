"""area_by_class, overlay_area and ellipsoidal_area against shapely, geopandas.overlay and pyproj."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod, Transformer

import onemap
from onemap.errors import CRSError, DataError, RepairWarning
from onemap.overlay._area_kernels import pair_areas
from onemap.overlay.geometry import flatten_polygons

from ._polygons import (
    X0,
    Y0,
    frame_at,
    random_layer,
    to_local,
    values_da,
    voronoi_parcels,
)


def _landuse(rng, frame, n=60):
    layer = voronoi_parcels(rng, frame, n, hole_every=5)
    codes = np.array(["0101", "0102", "0201", "0702", "1001", "1107"])
    return layer.assign(landuse_code=codes[rng.integers(0, len(codes), len(layer))])


def test_pair_areas_equal_shapely_including_shared_edges_and_holes():
    rng = np.random.default_rng(1)
    frame = frame_at((100, 100), res=2.0)
    a = voronoi_parcels(rng, frame, 80)
    b = pd.concat([voronoi_parcels(rng, frame, 40, hole_every=3), a.iloc[:20]], ignore_index=True)  # shares a's edges
    fa, fb = flatten_polygons(a), flatten_polygons(b)
    ia, ib = shapely.STRtree(b.geometry.values).query(a.geometry.values)
    ours = pair_areas(ia, ib, fa.x, fa.y, fa.ring_offsets, fa.part_offsets, fa.feature_offsets, fa.bounds,
                      fb.x, fb.y, fb.ring_offsets, fb.part_offsets, fb.feature_offsets, fb.bounds)
    la = np.asarray(to_local(a.geometry.values, frame))
    lb = np.asarray(to_local(b.geometry.values, frame))
    ref = shapely.area(shapely.intersection(la[ia], lb[ib]))
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9 * a.area.mean())
    same = (ia < 20) & (ib == ia + len(b) - 20)
    assert same.sum() == 20
    np.testing.assert_allclose(ours[same], a.area.to_numpy()[ia[same]], rtol=1e-12)


def test_area_by_class_of_a_polygon_layer_equals_geopandas_overlay():
    rng = np.random.default_rng(2)
    frame = frame_at((120, 120), res=2.0)
    landuse = _landuse(rng, frame)
    approvals = random_layer(rng, frame, 25).set_index(pd.Index([f"A{i}" for i in range(25)], name="pzwh"))
    ours = onemap.area_by_class(approvals, landuse)
    assert ours.index.equals(approvals.index)
    assert list(ours.columns) == sorted(landuse.landuse_code.unique()) + ["unclassified"]
    ov = gpd.overlay(approvals.reset_index(), landuse[["landuse_code", "geometry"]], how="intersection",
                     keep_geom_type=True)
    ref = ov.assign(area=ov.area).pivot_table(index="pzwh", columns="landuse_code", values="area", aggfunc="sum")
    ref = ref.reindex(index=ours.index, columns=ours.columns[:-1]).fillna(0.0)
    np.testing.assert_allclose(ours[ref.columns].to_numpy(), ref.to_numpy(), rtol=1e-9, atol=1e-6)
    # rows add up to each approval's area: what no land-use polygon covers is "unclassified"
    np.testing.assert_allclose(ours.sum(axis=1), approvals.area, rtol=1e-12)
    assert (ours["unclassified"] > 0).any()  # some approvals stick out of the land-use layer


def test_area_by_class_of_a_class_raster_equals_coverage_oracle():
    rng = np.random.default_rng(3)
    frame = frame_at((40, 50), res=2.0)
    classes = rng.choice(np.array([101, 102, 201, 702], dtype=np.int16), frame.shape)
    classes[rng.random(frame.shape) < 0.05] = -1
    polys = random_layer(rng, frame, 12)
    got = onemap.area_by_class(polys, values_da(frame, classes, nodata=-1))
    assert list(got.columns) == [101, 102, 201, 702, "unclassified"]
    cov = onemap.coverage_fractions(polys, frame)
    for label in polys.index:
        w = cov.dense(label)
        for c in (101, 102, 201, 702):
            assert got.loc[label, c] == pytest.approx(w[classes == c].sum() * 4.0, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(got.sum(axis=1), polys.area, rtol=1e-9)  # nodata + outside is unclassified
    centre = onemap.area_by_class(polys, values_da(frame, classes, nodata=-1), rule="centre")
    assert ((centre.drop(columns="unclassified") / 4.0) % 1 == 0).all().all()


def test_area_by_class_of_a_zone_raster_and_bad_combinations():
    frame = frame_at((4, 4), res=1.0)
    zones = values_da(frame, np.array([[1, 1, 2, 2]] * 4, dtype=np.int32))
    classes = values_da(frame, np.array([[5, 6, 6, 6], [5, 5, 6, 6], [0, 0, 0, 0], [5, 5, 5, 5]], np.int16), nodata=0)
    got = onemap.area_by_class(zones, classes)
    assert got.loc[1].tolist() == [5.0, 1.0, 2.0] and got.loc[2].tolist() == [2.0, 4.0, 2.0]
    with pytest.raises(DataError, match="with a class raster only"):
        onemap.area_by_class(zones, gpd.GeoDataFrame({"landuse_code": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4527))
    layer = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0 - 2, X0 + 2, Y0)], crs=4527)
    with pytest.raises(DataError, match="no column 'landuse_code'"):
        onemap.area_by_class(layer, layer)
    with pytest.raises(CRSError, match="differs"):
        onemap.area_by_class(layer, layer.to_crs(4490).assign(landuse_code="0101"))
    again = onemap.area_by_class(layer, layer.to_crs(4490).assign(landuse_code="0101"), reproject=True)
    assert again["0101"].iloc[0] == pytest.approx(4.0, rel=1e-6)
    with pytest.raises(DataError, match="non-integer ids"):
        onemap.area_by_class(layer, values_da(frame_at((4, 4), 1.0), np.full((4, 4), 0.5)))


def test_overlay_area_equals_geopandas_overlay_with_ellipsoidal_area():
    rng = np.random.default_rng(4)
    frame = frame_at((100, 100), res=2.0)
    a = voronoi_parcels(rng, frame, 30)
    b = _landuse(rng, frame, 20)
    got = onemap.overlay_area(a, b, ellipsoidal=True, keep_geometry=True)
    assert isinstance(got, gpd.GeoDataFrame) and list(got.columns[:2]) == ["a", "b"]
    ov = gpd.overlay(a.reset_index(), b.reset_index(names="lu"), how="intersection", keep_geom_type=True)
    ref = ov.assign(area=ov.area).groupby(["parcel", "lu"])["area"].sum()
    ref = ref[ref > 0]
    mine = got.set_index(["a", "b"])["area"]
    assert set(mine.index) == set(ref.index)
    np.testing.assert_allclose(mine.loc[ref.index].to_numpy(), ref.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(got["ellipsoidal_area"], onemap.ellipsoidal_area(got.geometry), rtol=1e-12)
    assert got.area.sum() == pytest.approx(got["area"].sum())


def test_ellipsoidal_area_against_pyproj_geod_with_holes_and_parts():
    x, y = X0 + 120_000, Y0  # 120 km east of the central meridian: plane and ellipsoid differ ~4e-4
    outer = shapely.box(x, y, x + 800, y + 500)
    holed = outer.difference(shapely.box(x + 100, y + 100, x + 300, y + 200))
    multi = shapely.MultiPolygon([holed, shapely.box(x + 1000, y, x + 1300, y + 300)])
    layer = gpd.GeoDataFrame(geometry=[outer, holed, multi], index=["outer", "holed", "multi"], crs=4527)
    got = onemap.ellipsoidal_area(layer)
    geod = Geod(ellps="GRS80")  # CGCS2000's ellipsoid
    to_ll = Transformer.from_crs(4527, 4490, always_xy=True)
    # pyproj sums signed ring areas: orient shells counter-clockwise first
    ref = [geod.geometry_area_perimeter(shapely.transform(shapely.orient_polygons(g),
                                                          lambda c: np.c_[to_ll.transform(c[:, 0], c[:, 1])]))[0]
           for g in layer.geometry]
    np.testing.assert_allclose(got.to_numpy(), ref, rtol=1e-11)
    assert got["outer"] - got["holed"] == pytest.approx(got["outer"] * 200 * 100 / 400_000, rel=1e-5)
    ratio = got["outer"] / outer.area
    assert 1 - 1e-3 < ratio < 1 - 1e-4  # Gauss-Kruger enlarges areas away from the central meridian
    # densifying 800 m edges changes the area by far less than the survey tolerance (1e-5)
    assert onemap.ellipsoidal_area(layer, densify=10.0)["outer"] == pytest.approx(got["outer"], rel=1e-7)


def test_ellipsoidal_area_uses_the_layers_own_datum():
    x, y = 39_500_000 + 50_000, 3_300_000
    square = shapely.box(x, y, x + 1000, y + 1000)
    cgcs = onemap.ellipsoidal_area(gpd.GeoSeries([square], crs=4527)).iloc[0]
    xian_crs = onemap.crs.gk_crs(39, datum="Xian1980")
    assert xian_crs.to_epsg() == 2363
    xian = onemap.ellipsoidal_area(gpd.GeoSeries([square], crs=xian_crs)).iloc[0]
    assert xian != cgcs and xian == pytest.approx(cgcs, rel=5e-5)
    lonlat = gpd.GeoSeries([square], crs=4527).to_crs(4490)
    assert onemap.ellipsoidal_area(lonlat).iloc[0] == pytest.approx(cgcs, rel=1e-9)
    with pytest.raises(CRSError, match="has no CRS"):
        onemap.ellipsoidal_area(gpd.GeoSeries([square]))


def test_vector_functions_repair_and_report():
    bowtie = shapely.Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])
    layer = gpd.GeoDataFrame(geometry=[bowtie], crs=4527)
    with pytest.warns(RepairWarning):
        area = onemap.ellipsoidal_area(layer)
    assert len(area.attrs["repairs"]) == 1 and area.iloc[0] == pytest.approx(50.0, rel=1e-3)
    other = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0, X0 + 10, Y0 + 5)], crs=4527)
    with pytest.warns(RepairWarning):
        got = onemap.overlay_area(layer, other)
    assert got["area"].iloc[0] == pytest.approx(25.0)
    empty = onemap.overlay_area(gpd.GeoDataFrame(geometry=[], crs=4527), other)
    assert empty.empty and list(empty.columns) == ["a", "b", "area"]
