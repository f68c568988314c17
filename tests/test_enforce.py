"""flag_unapproved on hand-built layers, checked against exact shapely overlays and pyproj.Geod."""

import json

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from shapely import box

from onemap.enforce import MU_PER_M2, flag_unapproved
from onemap.errors import CRSError, DataError, GeometryError, OnemapWarning
from onemap.summary import approvals_status, summarize

CRS = 4527
X0, Y0 = 39_500_000.0, 3_300_000.0
GEOD = pyproj.Geod(ellps="GRS80")
TO_LONLAT = pyproj.Transformer.from_crs(CRS, 4490, always_xy=True)


def b(x0, y0, x1, y1):
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def geod_area(geom) -> float:
    """Independent oracle: inverse-project and take pyproj.Geod's geodesic area."""
    if geom.is_empty:
        return 0.0
    g = shapely.transform(geom, lambda xy: np.column_stack(TO_LONLAT.transform(xy[:, 0], xy[:, 1])))
    return abs(GEOD.geometry_area_perimeter(g)[0])


@pytest.fixture
def county():
    # land use: cultivated west half, forest strip, construction land east
    landuse = gpd.GeoDataFrame(
        {"landuse_code": ["0101", "0103", "0301", "0702", "0601"]},
        geometry=[b(0, 0, 200, 200), b(0, 200, 200, 400), b(200, 0, 300, 400), b(300, 0, 400, 200),
                  b(300, 200, 400, 400)], crs=CRS)
    approvals = gpd.GeoDataFrame({"approval_id": ["P1", "P2"]},
                                 geometry=[b(0, 0, 100, 100), b(200, 300, 260, 400)], crs=CRS)
    farmland = gpd.GeoDataFrame({"farmland_id": ["F1"]}, geometry=[b(100, 100, 200, 200)], crs=CRS)
    redline = gpd.GeoDataFrame({"redline_id": ["R1"]}, geometry=[b(200, 0, 300, 100)], crs=CRS)
    cadastral = gpd.GeoDataFrame({"parcel_id": ["Z1", "Z2"]}, geometry=[b(0, 0, 200, 400), b(200, 0, 400, 400)],
                                 crs=CRS)
    admin = gpd.GeoDataFrame({"admin_code": ["T1", "T2"], "admin_name": ["东镇", "西镇"]},
                             geometry=[b(0, 0, 200, 400), b(200, 0, 400, 400)], crs=CRS)
    patches = gpd.GeoDataFrame({"case": [
        "approved", "unapproved_cultivated", "unapproved_farmland", "partly", "existing", "redline",
        "sliver_approved"]}, geometry=[
        b(10, 10, 60, 60),        # inside P1
        b(20, 220, 70, 270),      # dry land 0103, no approval
        b(120, 120, 170, 170),    # farmland on paddy
        b(180, 320, 240, 360),    # half on 0103 (unapproved), half inside P2 on forest
        b(320, 20, 380, 80),      # on construction land 0702
        b(220, 20, 260, 60),      # forest inside red line
        b(40, 40, 100.4, 90),     # sticks 0.4 m out of P1: a sliver
    ], crs=CRS)
    return dict(patches=patches, approvals=approvals, landuse=landuse, farmland=farmland,
                redline=redline, cadastral=cadastral, admin=admin)


def test_verdicts(county):
    v = flag_unapproved(**county)
    assert list(v["verdict"]) == ["approved", "unapproved", "unapproved", "partly_approved",
                                  "existing_construction", "unapproved", "approved"]
    assert v["verdict_zh"].iloc[3] == "违法（批少占多）"


def test_areas_against_exact_overlays(county):
    v = flag_unapproved(**county)
    lu = county["landuse"]
    appr_union = shapely.union_all(county["approvals"].geometry.values)
    constr = shapely.union_all(lu.geometry[lu.landuse_code.isin(["0702", "0601"])].values)
    cult = shapely.union_all(lu.geometry[lu.landuse_code.isin(["0101", "0102", "0103"])].values)
    farm = shapely.union_all(county["farmland"].geometry.values)
    red = shapely.union_all(county["redline"].geometry.values)
    for i, g in enumerate(county["patches"].geometry):
        new = g.difference(constr)
        unappr = new.difference(appr_union)
        tol = dict(rel=1e-9, abs=1e-6)
        assert v["area_m2"].iloc[i] == pytest.approx(geod_area(g), **tol)
        assert v["existing_m2"].iloc[i] == pytest.approx(geod_area(g.intersection(constr)), **tol)
        assert v["unapproved_m2"].iloc[i] == pytest.approx(geod_area(unappr), **tol)
        assert v["approved_m2"].iloc[i] == pytest.approx(geod_area(new.intersection(appr_union)), **tol)
        assert v["unapproved_cultivated_m2"].iloc[i] == pytest.approx(geod_area(unappr.intersection(cult)), **tol)
        assert v["new_cultivated_m2"].iloc[i] == pytest.approx(geod_area(new.intersection(cult)), **tol)
        assert v["unapproved_farmland_m2"].iloc[i] == pytest.approx(geod_area(unappr.intersection(farm)), **tol)
        assert v["unapproved_redline_m2"].iloc[i] == pytest.approx(geod_area(unappr.intersection(red)), **tol)
    # areas add up; ellipsoidal differs from plane area, but only slightly in mid-zone
    np.testing.assert_allclose(v["existing_m2"] + v["approved_m2"] + v["unapproved_m2"], v["area_m2"], rtol=1e-9)
    plane = county["patches"].area.to_numpy()
    assert np.all(np.abs(v["area_m2"] / plane - 1) < 1e-3) and np.all(v["area_m2"] != plane)
    np.testing.assert_allclose(v["unapproved_mu"], v["unapproved_m2"] * MU_PER_M2)
    by_code = json.loads(v["unapproved_by_code"].iloc[3])
    assert set(by_code) == {"0103"}
    assert v["unapproved_m2"].iloc[6] > 0  # the sliver is counted, it just decides nothing


def test_ids_and_admin(county):
    v = flag_unapproved(**county)
    assert v["approval_ids"].tolist()[:4] == ["P1", "", "", "P2"]
    assert v["parcel_ids"].iloc[3] == "Z1;Z2"
    assert v["admin_code"].tolist() == ["T1", "T1", "T1", "T2", "T2", "T2", "T1"]
    assert v["admin_name"].iloc[4] == "西镇"


def test_duplicate_and_overlapping_approvals_do_not_double_count(county):
    approvals = county["approvals"]
    dup = gpd.GeoDataFrame({"approval_id": ["P1", "P1b", "P2"]},
                           geometry=[approvals.geometry[0], approvals.geometry[0].buffer(-10), approvals.geometry[1]],
                           crs=CRS)
    a = flag_unapproved(**county)
    b2 = flag_unapproved(**(county | {"approvals": dup}))
    np.testing.assert_allclose(a["approved_m2"], b2["approved_m2"], rtol=1e-9)
    assert b2["approval_ids"].iloc[0] == "P1;P1b"


def test_empty_approvals_warns_and_flags_all_new(county):
    empty = county["approvals"].iloc[0:0]
    with pytest.warns(OnemapWarning, match="empty"):
        v = flag_unapproved(**(county | {"approvals": empty}))
    assert set(v["verdict"]) == {"unapproved", "existing_construction"}
    with pytest.warns(OnemapWarning):
        flag_unapproved(**(county | {"approvals": None}))


def test_crs_mismatch_is_an_error_unless_reprojection_asked(county):
    other = county["approvals"].to_crs(4548)  # same zone, without the zone prefix
    with pytest.raises(CRSError, match="approvals"):
        flag_unapproved(**(county | {"approvals": other}))
    v = flag_unapproved(**(county | {"approvals": other}), reproject=True)
    ref = flag_unapproved(**county)
    assert list(v["verdict"]) == list(ref["verdict"])
    np.testing.assert_allclose(v["approved_m2"], ref["approved_m2"], rtol=1e-6, atol=1e-6)
    assert v.attrs["reprojected"] == ["approvals"]


def test_line_approvals_and_empty_landuse_are_errors(county):
    lines = gpd.GeoDataFrame({"approval_id": ["L"]}, geometry=[shapely.LineString([(X0, Y0), (X0 + 9, Y0 + 9)])],
                             crs=CRS)
    with pytest.raises(GeometryError, match="approvals"):
        flag_unapproved(**(county | {"approvals": lines}))
    with pytest.raises(DataError, match="land-use"):
        flag_unapproved(**(county | {"landuse": county["landuse"].iloc[0:0]}))


def test_unknown_landuse_gives_check(county):
    lu = county["landuse"].copy()
    lu.loc[1, "landuse_code"] = "9999"
    v = flag_unapproved(**(county | {"landuse": lu}))
    assert v["verdict"].iloc[1] == "check"
    assert v["unapproved_unknown_m2"].iloc[1] == pytest.approx(v["unapproved_m2"].iloc[1])


def test_patch_partly_outside_landuse_counts_gap_as_unknown(county):
    p = county["patches"].iloc[[1]].copy()
    p.geometry = [b(-30, 220, 20, 270)]  # 30 m west of the land-use layer
    v = flag_unapproved(**(county | {"patches": p}))
    assert v["unapproved_unknown_m2"].iloc[0] == pytest.approx(v["unapproved_m2"].iloc[0] * 0.6, rel=1e-6)
    assert v["verdict"].iloc[0] == "check"


def test_summary_totals_add_up(county):
    v = flag_unapproved(**county)
    s = summarize(v)
    body, total = s.iloc[:-1], s.iloc[-1]
    assert total["admin_code"] == "total"
    for col in ("new_m2", "unapproved_m2", "unapproved_cultivated_m2", "new_cultivated_m2", "n_patches"):
        assert body[col].sum() == pytest.approx(v[col].sum() if col in v else len(v))
        assert total[col] == pytest.approx(body[col].sum())
    ratio = v["unapproved_cultivated_m2"].sum() / v["new_cultivated_m2"].sum()
    assert total["illegal_ratio"] == pytest.approx(ratio)
    assert bool(total["exceeds_threshold"]) == (ratio > 0.15)
    assert bool(summarize(v, threshold=0.99).iloc[-1]["exceeds_threshold"]) is False
    whole = summarize(v, by=None)
    assert whole.iloc[0]["unapproved_m2"] == pytest.approx(total["unapproved_m2"])


def test_approvals_status(county):
    approvals = gpd.GeoDataFrame({"approval_id": ["P1", "P2", "P3"]},
                                 geometry=[b(0, 0, 100, 100), b(200, 300, 260, 400), b(0, 300, 50, 350)], crs=CRS)
    patches = gpd.GeoDataFrame(geometry=[b(0, 0, 100, 80), b(200, 300, 210, 400)], crs=CRS)
    supply = gpd.GeoDataFrame(geometry=[b(0, 0, 100, 100), b(0, 300, 50, 350)], crs=CRS)
    s = approvals_status(approvals, patches, supply)
    assert list(s["status"]) == ["built", "partly_built", "not_built"]
    assert list(s["supplied"]) == [True, False, True]
    assert list(s["chain"]) == ["已供已用", "已批已用", "供而未用"]
    assert s["built_fraction"].iloc[0] == pytest.approx(0.8, rel=1e-6)
    s2 = approvals_status(approvals, patches)
    assert s2["chain"].iloc[2] == "批而未供"


def test_approval_from_txt_with_hole(county, tmp_path):
    from onemap import write_boundary_txt
    from onemap.ingest.sources import read_boundary_files

    donut = b(0, 0, 100, 100).difference(b(30, 30, 70, 70))
    write_boundary_txt(gpd.GeoDataFrame({"DKBH": ["H1"]}, geometry=[donut], crs=CRS), tmp_path / "batch.txt")
    approvals = read_boundary_files(tmp_path)
    assert len(approvals.geometry.iloc[0].interiors) == 1
    patches = gpd.GeoDataFrame(geometry=[b(40, 40, 60, 60), b(5, 5, 25, 25), b(20, 40, 40, 60)], crs=CRS)
    v = flag_unapproved(patches, approvals, county["landuse"])
    assert list(v["verdict"]) == ["unapproved", "approved", "partly_approved"]
    assert v["approval_ids"].tolist() == ["", "batch/H1", "batch/H1"]
    assert v["unapproved_m2"].iloc[2] == pytest.approx(geod_area(b(30, 40, 40, 60)), rel=1e-9)


def test_patches_touching_the_frame_edge_are_marked(county):
    from onemap import Frame

    frame = Frame.from_bounds((X0, Y0, X0 + 400, Y0 + 400), 2.0, CRS)
    v = flag_unapproved(**county, frame=frame)
    assert not v["at_frame_edge"].any()
    p = county["patches"].copy()
    p.geometry = [b(0, 300, 30, 330)] + list(p.geometry[1:])
    v = flag_unapproved(**(county | {"patches": p}), frame=frame)
    assert v["at_frame_edge"].tolist() == [True] + [False] * 6
    assert v["verdict"].iloc[0] == "unapproved"  # judged all the same, area is a lower bound


def test_landuse_reprojected_to_lonlat_counts_each_piece_once():
    # a T-junction 150 km east of the central meridian: the vertex (e, 5 km) of the east polygons
    # lies on the straight edge of the west one. Reprojected to lon/lat that vertex leaves the
    # edge and the polygons overlap by a sliver, which must not be counted twice in the land-use
    # pieces of a patch across the junction.
    e, n = X0 + 150_000, Y0

    def poly(*xy):
        return shapely.Polygon([(e + x, n + y) for x, y in xy])

    landuse = gpd.GeoDataFrame(
        {"landuse_code": ["0101", "0103", "0301"]},
        geometry=[poly((-10_000, 0), (0, 0), (0, 10_000), (-10_000, 10_000)),
                  poly((0, 0), (10_000, 0), (10_000, 5_000), (0, 5_000)),
                  poly((0, 5_000), (10_000, 5_000), (10_000, 10_000), (0, 10_000))],
        crs=CRS)
    patch = poly((-3_000, 1_000), (3_000, 1_000), (3_000, 9_000), (-3_000, 9_000))
    patches = gpd.GeoDataFrame(geometry=[patch], crs=CRS)
    lonlat = landuse.to_crs(4326)
    overlap = shapely.intersection(lonlat.geometry[0], lonlat.geometry[1]).area
    overlap += shapely.intersection(lonlat.geometry[0], lonlat.geometry[2]).area
    assert overlap > 0  # the sliver the test is about
    for crs in (CRS, 4326):
        v = flag_unapproved(patches.to_crs(crs), None, landuse.to_crs(crs))
        pieces = sum(json.loads(v["unapproved_by_code"][0]).values())
        # never more than the patch (a gap, the other side of the sliver, is land not classified)
        assert pieces <= v["unapproved_m2"][0] * (1 + 1e-12)
        assert pieces == pytest.approx(v["unapproved_m2"][0], rel=1e-6)
        to_lonlat = pyproj.Transformer.from_crs(CRS, 4490, always_xy=True)
        g = shapely.transform(patch, lambda xy: np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1])))
        assert v["unapproved_m2"][0] == pytest.approx(abs(GEOD.geometry_area_perimeter(g)[0]), rel=1e-5)
