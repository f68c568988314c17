"""Overlap checks: an input that misses the survey frame is an error, partial cover is reported."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely

from onemap.coverage import check_coverage, layer_share, scene_share
from onemap.errors import DataError, OnemapWarning
from onemap.frame import Frame

F = Frame.from_bounds((39_500_000, 3_300_000, 39_501_000, 3_301_000), 2.0, 4527)


def _layer(*boxes, crs=4527):
    return gpd.GeoDataFrame(geometry=[shapely.box(*b) for b in boxes], crs=crs)


def test_layer_share_against_exact_area():
    rng = np.random.default_rng(3)
    x0, y0 = F.bounds[:2]
    boxes = [(x0 + x, y0 + y, x0 + x + w, y0 + y + h)
             for x, y, w, h in rng.uniform([0, 0, 50, 50], [900, 900, 300, 300], (12, 4))]
    layer = _layer(*boxes)
    exact = shapely.area(shapely.intersection(shapely.union_all(layer.geometry.values), F.footprint())) / 1e6
    assert layer_share(np.asarray(layer.geometry.values), F) == pytest.approx(exact, abs=0.02)


def test_scene_share_across_crs():
    # a UTM 50N scene covering the west half of the frame
    west = gpd.GeoSeries([shapely.box(*F.bounds[:2], F.bounds[0] + 500, F.bounds[3])], crs=4527).to_crs(32650)
    l, b, r, t = west.total_bounds
    scene = Frame.from_bounds((l - 2000, b - 2000, r, t + 2000), 1.0, 32650)
    assert scene_share(scene, F) == pytest.approx(0.5, abs=0.01)


def test_no_overlap_names_layer_and_extents():
    far = _layer((39_580_000, 3_300_000, 39_580_500, 3_300_500))  # 80 km east
    with pytest.raises(DataError) as err:
        check_coverage(F, {"after": F}, {"landuse": _layer(F.bounds), "approvals": far},
                       keys={"approvals": "[layers.approvals]"}, paths={"approvals": "JSYDSP.gpkg"})
    msg = str(err.value)
    assert "[layers.approvals]" in msg and "39580000" in msg and "39500000" in msg and "JSYDSP.gpkg" in msg


def test_scene_elsewhere_is_an_error():
    other = Frame.from_bounds((39_600_000, 3_300_000, 39_601_000, 3_301_000), 2.0, 4527)
    with pytest.raises(DataError, match=r"\[scenes.before\] does not overlap"):
        check_coverage(F, {"before": other}, {}, keys={"before": "[scenes.before]"})


def test_partial_and_empty():
    half = _layer((*F.bounds[:2], F.bounds[0] + 500, F.bounds[3]))
    empty = gpd.GeoDataFrame(geometry=[], crs=4527)
    shares = check_coverage(F, {"after": F}, {"landuse": half, "approvals": empty})
    assert shares == {"after": 1.0, "landuse": 0.5}


# ------------------------------------------------------------------------------ in a survey

@pytest.fixture(scope="module")
def county(tmp_path_factory):
    from onemap.synth import make_county

    return make_county(tmp_path_factory.mktemp("county"), size=256, seed=2)


def test_survey_refuses_layers_elsewhere(county, tmp_path):
    from onemap.survey import demo_config, run_survey

    moved = gpd.read_file(county.paths["landuse"])
    moved["geometry"] = moved.translate(80_000, 0)
    moved.to_file(tmp_path / "moved.gpkg")
    cfg = demo_config(county, tmp_path / "out")
    cfg["layers"]["landuse"]["path"] = str(tmp_path / "moved.gpkg")
    with pytest.raises(DataError, match=r"\[layers.landuse\] does not overlap the survey frame"):
        run_survey(cfg, progress=False)


def test_survey_reports_partial_cover_and_unknown_land(county, tmp_path):
    from onemap.survey import demo_config, run_survey

    lu = gpd.read_file(county.paths["landuse"])
    l, _, r, _ = lu.total_bounds
    west = lu[lu.geometry.centroid.x < (l + r) / 2]
    west.to_file(tmp_path / "west.gpkg")
    cfg = demo_config(county, tmp_path / "out")
    cfg["layers"]["landuse"]["path"] = str(tmp_path / "west.gpkg")
    with pytest.warns(OnemapWarning, match=r"\[layers.landuse\] covers \d+% of the survey frame"):
        result = run_survey(cfg, progress=False)
    m = json.loads((result.output / "manifest.json").read_text(encoding="utf-8"))
    assert 0.3 < m["coverage"]["landuse"] < 0.7 and m["coverage"]["after"] == pytest.approx(1.0)
    v = result.verdicts
    east = v.geometry.centroid.x > (l + r) / 2 + 50
    assert v.loc[east, "on_unknown_landuse"].all() and east.any()
    assert m["counts"]["unknown_landuse"] == int(v["on_unknown_landuse"].sum())
    assert result.summary.iloc[-1]["n_unknown_landuse"] == m["counts"]["unknown_landuse"]
