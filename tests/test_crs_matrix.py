"""The same survey in every frame CRS: verdicts and areas do not depend on the CRS.

Tolerances are metres and areas are ellipsoidal whatever the CRS, so the same patches and layers,
reprojected into a Gauss-Kruger plane (prefixed or not), UTM, longitude/latitude (WGS 84, CGCS2000)
or Web Mercator, give the same verdicts and the same areas (to 1e-6 relative).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

import onemap
from onemap.crs import gk_crs
from onemap.geometry import (
    ellipsoidal_area,
    is_metric_plane,
    metric,
    same_crs,
    substantial,
)

X0, Y0 = 39_500_000.0, 3_300_000.0  # CGCS2000 zone 39 (117°E), ~29.8°N
GK = 4527
MATRIX = {
    "gk_prefixed": GK,
    "gk_unprefixed": gk_crs(39, prefix=False),
    "utm50n": 32650,
    "wgs84": 4326,
    "cgcs2000": 4490,
    "web_mercator": 3857,
}
AREA_COLUMNS = ["area_m2", "existing_m2", "new_m2", "approved_m2", "unapproved_m2",
                "unapproved_cultivated_m2", "unapproved_farmland_m2", "unapproved_unknown_m2"]


def _box(x0, y0, x1, y1):
    return shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


def _case():
    """Patches whose verdicts turn on a residue 0.6 m wide (a sliver) or 6 m wide (not one)."""
    landuse = gpd.GeoDataFrame({"landuse_code": ["0101", "0702", "0301"]},
                               geometry=[_box(0, 0, 300, 200), _box(300, 0, 400, 200), _box(0, 200, 400, 300)],
                               crs=GK)
    approvals = gpd.GeoDataFrame({"approval_id": ["A1", "A2"]},
                                 geometry=[_box(20, 20, 80, 80), _box(120, 20, 180, 80)], crs=GK)
    farmland = gpd.GeoDataFrame(geometry=[_box(200, 0, 300, 100)], crs=GK)
    patches = gpd.GeoDataFrame({"patch_id": np.arange(1, 8)}, geometry=[
        _box(30, 30, 70, 70),            # inside A1: approved
        _box(30, 30, 80.6, 70),          # a 0.6 m sliver beyond A1: still approved
        _box(130, 30, 186, 70),          # 6 m beyond A2: partly approved
        _box(210, 10, 260, 60),          # no approval, on farmland: unapproved
        _box(320, 50, 380, 120),         # on construction land: existing construction
        _box(299.4, 120, 340, 160),      # 0.6 m onto cultivated land: existing construction
        _box(100, 400, 150, 450),        # outside the land-use layer: check
    ], crs=GK)
    return patches, approvals, landuse, farmland


@pytest.fixture(scope="module")
def reference():
    patches, approvals, landuse, farmland = _case()
    return onemap.flag_unapproved(patches, approvals, landuse, farmland=farmland)


def test_reference_verdicts(reference):
    assert reference["verdict"].tolist() == ["approved", "approved", "partly_approved", "unapproved",
                                             "existing_construction", "existing_construction", "check"]
    assert reference["on_unknown_landuse"].tolist() == [False] * 6 + [True]


@pytest.mark.parametrize("name", list(MATRIX))
def test_same_verdicts_and_areas_in_every_crs(name, reference):
    crs = MATRIX[name]
    patches, approvals, landuse, farmland = (layer.to_crs(crs) for layer in _case())
    v = onemap.flag_unapproved(patches, approvals, landuse, farmland=farmland)
    assert v["verdict"].tolist() == reference["verdict"].tolist()
    scale = reference["area_m2"].to_numpy()  # 1e-6 of the patch: slivers' own areas are ~1 m wide
    for col in AREA_COLUMNS:
        err = np.abs(v[col].to_numpy() - reference[col].to_numpy())
        assert (err <= 1e-6 * scale).all(), (col, name, err / scale)
    assert v["approval_ids"].tolist() == reference["approval_ids"].tolist()
    assert v["on_unknown_landuse"].tolist() == reference["on_unknown_landuse"].tolist()


@pytest.mark.parametrize("name", list(MATRIX))
def test_ellipsoidal_area_is_crs_independent(name):
    boxes = gpd.GeoSeries([_box(0, 0, 100, 100), _box(140_000 - X0 % 1, 0, 140_100, 100)], crs=GK)
    ref = ellipsoidal_area(boxes)
    got = ellipsoidal_area(boxes.to_crs(MATRIX[name]))
    np.testing.assert_allclose(got, ref, rtol=1e-9)
    # pyproj.Geod on the CGCS2000 ellipsoid is the oracle
    from pyproj import Geod

    ll = boxes.to_crs(4490)
    geod = Geod(ellps="GRS80")
    np.testing.assert_allclose([abs(geod.geometry_area_perimeter(g)[0]) for g in ll], ref, rtol=1e-9)


def test_metric_lengths_are_metres():
    sq = np.array([_box(0, 0, 10, 10)])
    for name, crs in MATRIX.items():
        m = metric(gpd.GeoSeries(sq, crs=GK).to_crs(crs).values, crs)
        b = shapely.bounds(m)[0]
        assert b[2] - b[0] == pytest.approx(10.0, rel=2e-3), name
    assert is_metric_plane(GK) and is_metric_plane(32650) and not is_metric_plane(3857)
    assert same_crs(4527, "EPSG:4527") and not same_crs(4527, gk_crs(39, prefix=False))


def test_substantial_in_degrees_is_in_metres():
    thin = gpd.GeoSeries([_box(0, 0, 100, 0.6), _box(0, 0, 100, 6)], crs=GK).to_crs(4326).values
    assert substantial(thin, 4326, 1.0).tolist() == [False, True]


# ------------------------------------------------------------------------------ end to end

E2E_FRAMES = {"gk_unprefixed": gk_crs(39, prefix=False).to_epsg(), "utm50n": 32650, "wgs84": 4326,
              "cgcs2000": 4490, "web_mercator": 3857}


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    from onemap.synth import make_county

    return make_county(tmp_path_factory.mktemp("county"), size=384, seed=5)


@pytest.fixture(scope="module")
def gk_run(county, tmp_path_factory):
    from onemap.survey import demo_config, run_survey

    return run_survey(demo_config(county, tmp_path_factory.mktemp("gk") / "out"), progress=False)


def _flagged(verdicts):
    return verdicts[verdicts["verdict"].isin(["unapproved", "partly_approved"])]


@pytest.mark.parametrize("name", list(E2E_FRAMES))
def test_survey_in_every_frame_crs(name, county, gk_run, tmp_path):
    """The imagery resampled onto each frame's grid (no [frame] res: the scenes' pixel size is
    carried over), the layers onto its CRS: the same flagged patches and areas, within a few %."""
    from onemap.survey import demo_config, run_survey

    cfg = demo_config(county, tmp_path / "out")
    cfg["frame"] = {"crs": E2E_FRAMES[name]}
    run = run_survey(cfg, progress=False)
    ref, got = _flagged(gk_run.verdicts), _flagged(run.verdicts)
    assert len(ref) >= 10
    assert abs(len(got) - len(ref)) <= max(2, 0.1 * len(ref)), (len(got), len(ref))
    assert got["unapproved_m2"].sum() == pytest.approx(ref["unapproved_m2"].sum(), rel=0.06)
    # flagged TXT files are in the CGCS2000 Gauss-Kruger zone of the patch, whatever the frame
    from onemap import read_boundary_txt

    files = sorted((run.output / "flagged_txt").glob("*.txt"))
    assert len(files) == len(got)
    back = read_boundary_txt(files[0])
    assert back.crs.to_epsg() == 4527
    patch = got[got["patch_id"] == int(files[0].stem.split("_")[1])].to_crs(4527).geometry.iloc[0]
    assert back.geometry.iloc[0].symmetric_difference(patch).area < 1e-3 * patch.area


LOCAL = 'LOCAL_CS["site",LOCAL_DATUM["site",0],UNIT["metre",1],AXIS["E",EAST],AXIS["N",NORTH]]'


@pytest.mark.parametrize("crs, res, fix", [(4490, 2.0, "res = 1.8e-05"), (4527, 1e-5, "res = 2.0"),
                                           (LOCAL, 2.0, "use a CRS with a datum")])
def test_frame_res_in_the_wrong_unit_is_refused_at_load(county, crs, res, fix, tmp_path):
    from onemap.config import load_config
    from onemap.errors import ConfigError
    from onemap.survey import demo_config

    cfg = demo_config(county, tmp_path / "out")
    cfg["frame"] = {"crs": crs, "res": res}
    with pytest.raises(ConfigError, match=r"\[frame\] (res|crs)") as err:
        load_config(cfg)
    assert fix in str(err.value)


def test_min_area_and_patch_area_in_true_square_metres_on_web_mercator():
    from onemap.change.patches import patches_from_mask
    from onemap.frame import Frame

    f = Frame.from_bounds((13_000_000, 3_470_000, 13_000_100, 3_470_100), 2.0, 3857)  # ~29.7°N
    mask = np.zeros(f.shape, bool)
    mask[10:15, 10:18] = True  # 40 pixels: 160 "m²" in the plane, ~121 m² on the ground
    p = patches_from_mask(mask, f)
    assert p["area_m2"].iloc[0] == pytest.approx(ellipsoidal_area(p.geometry)[0], rel=1e-9)
    assert 115 < p["area_m2"].iloc[0] < 125
    assert len(patches_from_mask(mask, f, min_area=150)) == 0 and len(patches_from_mask(mask, f, min_area=110)) == 1
