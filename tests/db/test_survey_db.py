"""A survey whose layers come from PostGIS and whose results go back into it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from onemap.config import load_config
from onemap.demo import to_toml as _to_toml
from onemap.errors import ConfigError
from onemap.ingest.vector import read_layer
from onemap.survey import demo_config, run_survey
from onemap.synth import make_county

from .test_read import load_table

DB_LAYERS = ("landuse", "farmland", "cadastral", "admin")


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    with pytest.warns(UserWarning):  # "county too small to plant ..."
        return make_county(tmp_path_factory.mktemp("county"), size=384, seed=5, n_changes=1)


def _config(county, out):
    cfg = demo_config(county, out)
    cfg["run"]["tile_size"] = 128
    return cfg


def test_survey_reads_and_writes_postgis(pg, sql, county, tmp_path):
    reference = run_survey(_config(county, tmp_path / "files"), progress=False)
    cfg = _config(county, tmp_path / "db")
    for name in DB_LAYERS:
        load_table(sql, f"src_{name}", read_layer(county.paths[name]), 4527)
        cfg["layers"][name] = {"url": pg.url, "table": f"public.src_{name}"}
    cfg["layers"]["landuse"]["where"] = '"DLBM" IS NOT NULL'
    cfg["database"] = {"url": pg.url, "schema": "survey", "county": "330102"}
    toml = tmp_path / "survey.toml"
    toml.write_text(_to_toml(cfg), encoding="utf-8")
    result = run_survey(toml, progress=False)

    # the same verdicts as from the files
    cols = [c for c in reference.verdicts.columns if c != "geometry"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(result.verdicts[cols]),
        pd.DataFrame(reference.verdicts[cols]),
        check_exact=False,
        rtol=1e-9,
    )
    assert len(result.verdicts) > 0
    # and in the database, once, with the survey key
    got = sql(
        "SELECT patch_id, verdict, area_m2, survey_date_before, survey_date_after, "
        "onemap_version FROM survey.verdicts "
        "WHERE survey_name = %s AND county_code = '330102' ORDER BY patch_id",
        (cfg["survey"]["name"],),
    )
    assert [r[0] for r in got] == result.verdicts["patch_id"].tolist()
    assert [r[1] for r in got] == result.verdicts["verdict"].tolist()
    np.testing.assert_allclose([r[2] for r in got], result.verdicts["area_m2"])
    assert {str(r[3]) for r in got} == {"2022-05-06"} and {str(r[4]) for r in got} == {"2023-09-22"}
    assert sql("SELECT count(*) FROM survey.county_summary")[0][0] == len(result.summary)
    m = json.loads((result.output / "manifest.json").read_text(encoding="utf-8"))
    assert m["database"]["rows"]["verdicts"] == len(result.verdicts)
    assert m["config"]["layers"]["landuse"]["url"] == pg.url and "secret" not in json.dumps(m)


@pytest.mark.parametrize(
    "layer, message",
    [
        (
            {"url": "postgresql://gis:pw@db/yzt", "table": "dltb"},
            r"\[layers.landuse\] url holds a password.*PGPASSWORD",
        ),
        ({"url": "postgresql://gis@db/yzt"}, r"\[layers.landuse\] needs a table"),
        (
            {"url": "postgresql://gis@db/yzt", "table": "t", "path": "x.gpkg"},
            r"path .* or a url .* not both",
        ),
        ({"url": "mysql://gis@db/yzt", "table": "t"}, r"url must be a postgresql:// URL"),
        (
            {"url": "postgresql://gis@db/yzt", "table": "t", "encoding": "gbk"},
            r"encoding does not apply",
        ),
        ({"url": "postgresql://gis@db/yzt", "table": "t", "wher": "x"}, r"did you mean 'where'"),
    ],
)
def test_config_database_layer_errors(county, tmp_path, layer, message):
    cfg = _config(county, tmp_path)
    cfg["layers"]["landuse"] = layer
    with pytest.raises(ConfigError, match=message):
        load_config(cfg)


def test_config_database_output(county, tmp_path):
    cfg = _config(county, tmp_path)
    cfg["database"] = {"url": "postgresql://gis@db/yzt"}
    with pytest.raises(ConfigError, match=r"\[database\] needs county"):
        load_config(cfg)
    cfg["database"] = {"url": "postgresql://gis@db/yzt?password=x", "county": "330102"}
    with pytest.raises(ConfigError, match=r"\[database\] url holds a password"):
        load_config(cfg)
    cfg["database"] = {"url": "postgresql://gis@db/yzt", "county": " 330102 "}
    spec = load_config(cfg).database
    assert (spec.url, spec.county, spec.schema) == ("postgresql://gis@db/yzt", "330102", "onemap")
