"""Tests of onemap.synth.make_county: files, CRS, encodings, truth consistency, imagery, determinism.

The checks use independent oracles: rasterio/pyogrio to read the files back, raw DBF bytes for the
encoding, shapely for exact geometry, pyproj for the zone, skimage phase correlation for the
misregistration, and the land-use code table for the codes.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.features import geometry_mask

from onemap import codes
from onemap.crs import zone_info
from onemap.errors import CRSError, DataError
from onemap.synth import CASES, VERDICTS, County, make_county

BUILDING_CASES = ("approved_building", "unapproved_cultivated", "unapproved_farmland", "unapproved_redline",
                  "unapproved_other", "partly_approved", "rebuild_existing")


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> County:
    return make_county(tmp_path_factory.mktemp("county"), size=512, seed=0, n_changes=2)


@pytest.fixture(scope="module")
def scenes(county):
    with rasterio.open(county.paths["before"]) as s:
        a1 = s.read().astype(np.float64)
    with rasterio.open(county.paths["after"]) as s:
        a2 = s.read().astype(np.float64)
    return a1, a2


@pytest.fixture(scope="module")
def layers(county):
    return {k: gpd.read_file(county.paths[k]) for k in
            ("landuse", "cadastral", "approvals_gpkg", "supply", "farmland", "redline", "admin", "truth")}


def _mask(county, geom, shrink=0.0):
    g = geom.buffer(-shrink) if shrink else geom
    return geometry_mask([g], out_shape=county.frame.shape, transform=county.frame.transform, invert=True)


def _ndvi(a):
    return (a[3] - a[2]) / np.maximum(a[3] + a[2], 1.0)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------ files
def test_files_exist_and_open(county, layers):
    for key in ("before", "after", "landuse", "cadastral", "approvals_gpkg", "supply", "farmland", "redline",
                "admin", "truth", "truth_csv", "meta"):
        assert county.paths[key].is_file(), key
    assert county.paths["approvals_txt_dir"].is_dir()
    for key in ("before", "after"):
        with rasterio.open(county.paths[key]) as src:
            assert (src.count, src.dtypes[0], src.nodata) == (4, "uint16", 0)
            assert src.shape == county.frame.shape and src.transform == county.frame.transform
            assert src.block_shapes[0] == (512, 512) and src.compression.name.lower() == "deflate"
            assert src.descriptions == ("blue", "green", "red", "nir")
            assert src.tags()["ACQUISITION_DATE"] in (county.meta["dates"]["before"]["date"],
                                                      county.meta["dates"]["after"]["date"])
    for key, layer in layers.items():
        assert len(layer) > 0, key
        assert pyogrio.read_info(county.paths[key])["features"] == len(layer)
    for col in ("BSM", "DLBM", "DLMC", "ZLDWDM", "TBMJ", "QSXZ", "KCXS", "TBDLMJ", "CZCSXM"):
        assert col in layers["landuse"].columns
    for col in ("approval_id", "PZWH", "PZRQ", "PZMJ", "GDMJ", "XMMC"):
        assert col in layers["approvals_gpkg"].columns


def test_crs_is_cgcs2000_gk_zone(county, layers):
    info = zone_info(county.frame.crs)
    assert (info.datum, info.width, info.zone, info.prefixed) == ("CGCS2000", 3, 39, True)
    assert county.frame.crs.to_epsg() == 4527
    for key, layer in layers.items():
        assert layer.crs.to_epsg() == 4527, key
        assert int(layer.total_bounds[0] // 1_000_000) == 39, key


def test_admin_shapefile_is_gbk(county, layers):
    shp = county.paths["admin"]
    assert shp.with_suffix(".cpg").read_text().strip().upper() == "GBK"
    raw = shp.with_suffix(".dbf").read_bytes()
    assert "城关镇".encode("gbk") in raw
    with pytest.raises(UnicodeDecodeError):
        raw[raw.index("城关镇".encode("gbk")):].decode("utf-8")
    admin = layers["admin"]
    assert "城关镇" in set(admin["XZQMC"])
    assert all(re.fullmatch(r"\d{12}", c) for c in admin["XZQDM"])


def test_boundary_txt_round_trip(county, layers):
    from onemap.ingest.boundary_txt import read_boundary_txt

    files = sorted(county.paths["approvals_txt_dir"].glob("*.txt"))
    approvals = layers["approvals_gpkg"]
    assert len(files) == approvals["PCBH"].nunique()
    raw = files[0].read_bytes()
    raw.decode("gbk")  # GBK, as land bureaus exchange them
    read = [read_boundary_txt(f) for f in files]
    assert sum(len(r) for r in read) == len(approvals)
    for f, r in zip(files, read):
        assert r.crs.to_epsg() == 4527
        batch = approvals[approvals["PCBH"] == f.stem].reset_index(drop=True)
        assert len(r) == len(batch)
        # coordinates are written to the millimetre: areas agree to ~perimeter x 1 mm
        np.testing.assert_allclose(np.sort(r.geometry.area), np.sort(batch.geometry.area), rtol=1e-4)


# ------------------------------------------------------------------------------------ truth
def test_truth_covers_every_case(county, layers):
    truth = county.truth
    assert set(truth["case"]) == set(CASES)
    assert (truth["expected_verdict"] == truth["case"].map(VERDICTS)).all()
    assert set(truth["expected_verdict"]) == {"approved", "unapproved", "partly_approved",
                                              "existing_construction", "none"}
    back = layers["truth"]
    assert list(back["case"]) == list(truth["case"])
    csv = (county.paths["truth_csv"]).read_text(encoding="utf-8").splitlines()
    assert len(csv) == len(truth) + 1 and csv[0].startswith("truth_id,case,expected_verdict")
    roofs = set(truth.loc[truth["case"].isin(BUILDING_CASES), "roof"])
    assert roofs <= {"white", "grey_concrete", "blue_steel", "red_brick", "concrete"}
    changed = truth[truth["case"].isin(BUILDING_CASES + ("unapproved_road",))]
    assert (changed["area_m2"] >= 300).all()  # >= ~10 x 10 px at 2 m for every real change


def test_landuse_tiles_the_county(county, layers):
    dltb = layers["landuse"]
    box = county.frame.footprint()
    g = dltb.geometry.to_numpy()
    assert shapely.is_valid(g).all()
    assert abs(shapely.area(g).sum() - box.area) < 1e-6 * box.area
    assert abs(shapely.union_all(g).area - box.area) < 1e-6 * box.area
    a, b = shapely.STRtree(g).query(g, predicate="intersects")
    pairs = a < b
    overlap = shapely.area(shapely.intersection(g[a[pairs]], g[b[pairs]])).sum()
    assert overlap < 1e-3
    # every code is a real code with its official name
    assert all(codes.name(c) == n for c, n in zip(dltb["DLBM"], dltb["DLMC"]))
    present = set(dltb["DLBM"])
    assert {"0101", "0102", "0103"} & present and "1101" in present and "0301" in present
    assert any(codes.is_construction(c) for c in present)
    # TBMJ is the ellipsoidal area: plane area / k², k the Gauss-Kruger scale factor at the easting
    x = shapely.get_x(shapely.centroid(g)) - 39_500_000.0
    k = 1 + x ** 2 / (2 * 6_371_000.0 ** 2)
    np.testing.assert_allclose(dltb["TBMJ"], shapely.area(g) / k ** 2, rtol=2e-5, atol=0.02)


def test_townships_and_codes_agree(county, layers):
    dltb, admin = layers["landuse"], layers["admin"]
    assert abs(admin.area.sum() - county.frame.footprint().area) < 1e-3
    pts = shapely.point_on_surface(dltb.geometry.to_numpy())
    by_code = dict(zip(admin["XZQDM"], admin.geometry))
    assert all(by_code[z[:12]].buffer(1e-6).contains(p) for z, p in zip(dltb["ZLDWDM"], pts))
    assert all(len(z) == 19 for z in dltb["ZLDWDM"])
    zd = layers["cadastral"]
    assert zd["ZDDM"].is_unique
    assert all(re.fullmatch(r"\d{12}(JC|JB|GB)\d{5}", z) for z in zd["ZDDM"])
    assert all(z.startswith(county.meta["county_code"]) for z in zd["ZDDM"])


def _under(dltb, geom):
    """DLTB rows under a geometry (by area), largest first."""
    inter = dltb.geometry.intersection(geom).area
    return dltb.loc[inter[inter > 1e-6].sort_values(ascending=False).index]


def test_planted_geometry_is_consistent_with_the_layers(county, layers):
    truth, dltb = county.truth, layers["landuse"]
    approvals = layers["approvals_gpkg"].set_index("approval_id")
    farmland = shapely.union_all(layers["farmland"].geometry.to_numpy())
    redline = shapely.union_all(layers["redline"].geometry.to_numpy())
    all_approvals = shapely.union_all(approvals.geometry.to_numpy())
    for _, r in truth.iterrows():
        g, case = r.geometry, r["case"]
        if case in ("distractor_cloud", "distractor_shadow"):
            continue
        under = _under(dltb, g)
        assert under.iloc[0]["DLBM"] == r["prior_code"], case
        if case != "unapproved_road":
            assert len(under) == 1 or under.geometry.intersection(g).area.iloc[1:].sum() < 1e-3, case
        if case == "approved_building":
            assert approvals.loc[r["approval_id"]].geometry.buffer(1e-6).contains(g)
        elif case == "partly_approved":
            outside = g.difference(approvals.loc[r["approval_id"]].geometry).area / g.area
            assert outside == pytest.approx(r["outside_fraction"], abs=1e-9)
            assert 0.2 < outside < 0.65 and g.intersects(approvals.loc[r["approval_id"]].geometry)
            assert r["truth_unapproved_m2"] == pytest.approx(outside * g.area)
        elif case.startswith("unapproved"):
            assert not g.intersects(all_approvals), case
            assert r["outside_fraction"] == 1.0
        if case == "unapproved_farmland":
            assert farmland.buffer(1e-6).contains(g) and r["in_farmland"]
        if case == "unapproved_cultivated":
            assert codes.is_cultivated(r["prior_code"]) and not g.intersects(farmland)
        if case == "unapproved_redline":
            assert redline.buffer(1e-6).contains(g) and r["in_redline"]
        if case == "unapproved_other":
            assert codes.group(r["prior_code"]) in ("agricultural", "unused")
            assert not codes.is_cultivated(r["prior_code"]) and not g.intersects(redline)
        if case == "rebuild_existing":
            assert codes.is_construction(r["prior_code"])
        if case == "approved_unbuilt":
            assert approvals.loc[r["approval_id"]].geometry.equals_exact(g, 1e-6)
            assert (r["supply_id"] != "") == (approvals.loc[r["approval_id"], "GDZT"] == "已供")
        if case in ("distractor_harvest", "distractor_crop"):
            assert codes.is_cultivated(r["prior_code"])
        if case == "distractor_pond":
            assert r["prior_code"] == "1104"
    # farmland is a subset of cultivated land: each polygon is a cultivated DLTB polygon
    for g in layers["farmland"].geometry:
        under = _under(dltb, g)
        assert codes.is_cultivated(under.iloc[0]["DLBM"]) and abs(under.iloc[0].geometry.area - g.area) < 1e-6
    # no two planted objects overlap
    geoms = truth.loc[~truth["case"].isin(["distractor_cloud", "distractor_shadow"])].geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    assert (a == b).all()
    # supply records belong to approvals; supplied planted approvals have a 宗地
    supply = layers["supply"]
    assert set(supply["approval_id"]) <= set(approvals.index)
    zd = shapely.union_all(layers["cadastral"].geometry.to_numpy())
    for g in truth.loc[truth["case"] == "approved_building"].geometry:
        assert zd.buffer(1e-6).contains(g)


# ------------------------------------------------------------------------------------ imagery
def test_ndvi_of_buildings_low_and_fields_high(county, scenes, layers):
    a1, a2 = scenes
    n1, n2 = _ndvi(a1), _ndvi(a2)
    truth = county.truth
    for _, r in truth[truth["case"].isin(BUILDING_CASES)].iterrows():
        m = _mask(county, r.geometry, 3.0)
        assert m.sum() >= 4
        assert n2[m].mean() < 0.2, r["case"]
        if r["case"] != "rebuild_existing":
            assert n1[m].mean() > 0.3, r["case"]  # vegetated before
    # the rendered roofs sit where the truth says (up to the misregistration and mixed edge pixels)
    for _, r in truth[truth["case"].isin(BUILDING_CASES[:-1])].iterrows():
        m = _mask(county, r.geometry)
        near = _mask(county, r.geometry.buffer(30.0))
        roof = near & (n2 < 0.2) & (n1 > 0.3) & (np.abs(a2[0] - np.median(a2[0][m])) < 0.25 * np.median(a2[0][m]))
        assert (m & roof).sum() / (m | roof).sum() > 0.75, (r["case"], r["roof"])
    touched = shapely.union_all(truth.geometry.to_numpy())
    dltb = layers["landuse"]
    fields = dltb[dltb["DLBM"].map(codes.is_cultivated) & ~dltb.intersects(touched)]
    assert len(fields) >= 3
    vals = [(n1[_mask(county, g, 4.0)].mean(), n2[_mask(county, g, 4.0)].mean(), a1[2][_mask(county, g, 4.0)])
            for g in fields.geometry if g.buffer(-4.0).area > 400]
    assert np.median([v[0] for v in vals]) > 0.45 and np.median([v[1] for v in vals]) > 0.3
    # textured, not flat colours: red varies inside a field well beyond the noise
    assert np.median([v[2].std() / v[2].mean() for v in vals]) > 0.03
    water = dltb[dltb["DLBM"] == "1101"].geometry
    assert n1[_mask(county, shapely.union_all(water.to_numpy()), 4.0)].mean() < 0.0


def test_clouds_only_where_the_truth_says(county, scenes, layers):
    a1, a2 = scenes
    truth = county.truth
    clouds = shapely.union_all(truth.loc[truth["case"] == "distractor_cloud"].geometry.to_numpy())
    shadows = shapely.union_all(truth.loc[truth["case"] == "distractor_shadow"].geometry.to_numpy())
    sky = truth["case"].isin(["distractor_cloud", "distractor_shadow"])
    planted = shapely.union_all(truth.loc[~sky].geometry.buffer(6.0).to_numpy())
    # white roofs and greenhouses brighten at their edges through the misregistration: leave them out
    dltb = layers["landuse"]
    built = dltb[dltb["DLBM"].map(codes.is_construction) | (dltb["DLBM"] == "1202")].geometry.buffer(4.0)
    valid = (a2 > 0).all(0) & (a1 > 0).all(0)
    bright = (a2[0] - a1[0] > 1500) & valid
    allowed = _mask(county, shapely.union_all([clouds.buffer(2.0), planted, *built]))
    assert bright.sum() > 100
    assert not (bright & ~allowed).any()
    core = _mask(county, clouds, 20.0)
    assert bright[core].mean() > 0.9
    dark = _mask(county, shadows, 12.0) & valid
    ratio = a2[3] / np.maximum(a1[3], 1)
    assert np.median(ratio[dark]) < 0.7 * np.median(ratio[valid & ~_mask(county, shapely.union(clouds, shadows))])


def test_nodata_corner_and_misregistration(county, scenes):
    a1, a2 = scenes
    empty2 = (a2 == 0).all(0)
    assert (a1 > 0).all()                      # date 1 is complete, no band is ever 0 by chance
    assert empty2.sum() > 0 and (empty2 == (a2 == 0).any(0)).all()
    corners = [empty2[0, 0], empty2[0, -1], empty2[-1, 0], empty2[-1, -1]]
    assert sum(corners) == 1                   # one clipped corner
    nodata = shapely.from_wkt(county.meta["nodata_after_wkt"])
    assert abs(empty2.sum() * county.frame.pixel_area - nodata.area) < 0.02 * nodata.area
    assert not county.truth.intersects(nodata).any()
    from skimage.registration import phase_cross_correlation

    dx, dy = county.meta["dates"]["after"]["shift_px"]
    # a window in the quadrant opposite the clipped corner
    top, left = bool(empty2[0, 0] or empty2[0, -1]), bool(empty2[0, 0] or empty2[-1, 0])
    win = (slice(212, 472) if top else slice(40, 300), slice(212, 472) if left else slice(40, 300))
    assert not empty2[win].any()
    g1 = np.hypot(*np.gradient(a1[3][win]))
    g2 = np.hypot(*np.gradient(a2[3][win]))
    shift, _, _ = phase_cross_correlation(g1, g2, upsample_factor=50)
    assert np.hypot(dx, dy) == pytest.approx(0.3)
    assert shift[0] == pytest.approx(dy, abs=0.15) and shift[1] == pytest.approx(dx, abs=0.15)


# ------------------------------------------------------------------------------------ determinism
def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    kw = dict(size=320, n_changes=1, clouds=False, scheme="erdiao")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a county this small cannot hold every case
        a = make_county(tmp_path / "a", seed=7, **kw)
        make_county(tmp_path / "b", seed=7, tile=128, **kw)
        make_county(tmp_path / "c", seed=8, **kw)
    ha, hb, hc = _hashes(tmp_path / "a"), _hashes(tmp_path / "b"), _hashes(tmp_path / "c")
    assert ha == hb and len(ha) >= 18           # byte-identical, whatever the tiling
    differ = {k for k in ha if ha[k] != hc.get(k)}
    assert {"landuse/DLTB.gpkg", "truth/truth.gpkg", "admin/XZQ.shp"} <= differ
    assert any(k.endswith(".tif") for k in differ)
    # no clouds asked, none planted; the older scheme writes village land as 203
    assert not a.truth["case"].isin(["distractor_cloud", "distractor_shadow"]).any()
    dltb = gpd.read_file(a.paths["landuse"])
    assert "0702" not in set(dltb["DLBM"]) and "203" in set(dltb["DLBM"])
    assert all(codes.name(c) for c in dltb["DLBM"])
    rb = a.truth[a.truth["case"] == "rebuild_existing"]
    assert rb["prior_code"].map(codes.is_construction).all()


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(DataError, match="too small"):
        make_county(tmp_path, size=16)
    with pytest.raises(DataError, match="scheme"):
        make_county(tmp_path, size=256, scheme="2009")
    with pytest.raises(CRSError):
        make_county(tmp_path, size=256, zone=99)
    with pytest.raises(DataError, match="misregistration"):
        make_county(tmp_path, size=256, misregistration_px=-1)
