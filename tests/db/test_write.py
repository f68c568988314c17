"""Writing survey results into a real PostGIS server: types, comments, a transaction per survey."""

from __future__ import annotations

import threading

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from onemap.db import SurveyKey, write_results, write_tables
from onemap.enforce import VERDICTS_ZH
from onemap.errors import CRSError, DataError
from onemap.ingest.vector import read_layer

LULC = "geo/eolearn_patch/TestEOPatch/vector_timeless/LULC.gpkg"


def verdicts(n: int, x0: float = 39_500_000.0, seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    kinds = list(VERDICTS_ZH)
    v = [kinds[i] for i in rng.integers(0, len(kinds), n)]
    area = rng.uniform(200, 5_000, n)
    return gpd.GeoDataFrame(
        {
            "patch_id": np.arange(1, n + 1),
            "verdict": v,
            "verdict_zh": [VERDICTS_ZH[k] for k in v],
            "area_m2": area,
            "area_mu": area * 15 / 10_000,
            "at_frame_edge": rng.random(n) < 0.1,
            "admin_code": ["330102001"] * n,
            "approval_ids": [None if i % 3 else f"浙土字〔2024〕{i}号" for i in range(n)],
        },
        geometry=[
            shapely.box(x0 + 20 * i, 3_300_000, x0 + 20 * i + 15, 3_300_015) for i in range(n)
        ],
        crs=4527,
    )


def summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "admin_code": ["330102001", "total"],
            "n_patches": [3, 3],
            "illegal_ratio": [0.2, np.nan],
            "exceeds_threshold": [True, False],
        }
    )


KEY = SurveyKey("2025 卫片执法", "330102", "2024-09-01", "2025-09-01")


def rows(sql, table: str, key: SurveyKey) -> int:
    return sql(
        f"SELECT count(*) FROM {table} WHERE survey_name = %s AND county_code = %s",
        (key.survey_name, key.county_code),
    )[0][0]


def test_round_trip_types_index_comments(pg, sql):
    v = verdicts(50)
    assert write_results(pg.url, KEY, verdicts=v, summary=summary(), schema="w1") == {
        "verdicts": 50,
        "county_summary": 2,
    }
    back = read_layer(pg.url, table="w1.verdicts").sort_values(
        "patch_id"
    )  # no primary key: heap order
    assert back.crs.to_epsg() == 4527 and back.attrs["spatial_index"] is True
    for col in ("patch_id", "verdict", "verdict_zh", "admin_code", "approval_ids", "at_frame_edge"):
        assert back[col].tolist() == v[col].tolist(), col
    np.testing.assert_array_equal(
        back["area_m2"].to_numpy(), v["area_m2"].to_numpy()
    )  # float8: exact
    assert shapely.equals_exact(
        np.asarray(back.geometry.values), np.asarray(v.geometry.values), 0
    ).all()
    assert set(back["survey_date_after"]) == {pd.Timestamp("2025-09-01")}
    types = dict(
        sql(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE attrelid = 'w1.verdicts'::regclass AND attnum > 0"
        )
    )
    assert types["geom"] == "geometry(Geometry,4527)" and types["patch_id"] == "bigint"
    assert types["at_frame_edge"] == "boolean" and types["survey_date_before"] == "date"
    assert types["area_m2"] == "double precision" and types["verdict_zh"] == "text"
    assert (
        sql("SELECT col_description('w1.verdicts'::regclass, 8)")[0][0] == "判定结果"
    )  # verdict_zh
    assert (
        sql("SELECT obj_description('w1.verdicts'::regclass)")[0][0] == "卫片执法监测图斑判定结果"
    )
    summ = sql(
        "SELECT admin_code, n_patches, illegal_ratio, exceeds_threshold FROM w1.county_summary "
        "ORDER BY admin_code"
    )
    assert summ == [("330102001", 3, 0.2, True), ("total", 3, None, False)]


def test_rerun_replaces_only_its_own_survey(pg, sql):
    other = SurveyKey("2025 卫片执法", "330105", "2024-09-01", "2025-09-01")
    write_results(pg.url, KEY, verdicts=verdicts(30), summary=summary(), schema="w2")
    write_results(pg.url, other, verdicts=verdicts(7), schema="w2")
    write_results(
        pg.url, KEY, verdicts=verdicts(12, seed=1), schema="w2"
    )  # rerun: fewer patches, no summary
    assert rows(sql, "w2.verdicts", KEY) == 12 and rows(sql, "w2.verdicts", other) == 7
    assert (
        rows(sql, "w2.county_summary", KEY) == 0
    )  # the rerun has no county table: the old one is gone
    later = SurveyKey(KEY.survey_name, KEY.county_code, KEY.date_before, "2025-10-01")
    write_results(
        pg.url, later, verdicts=verdicts(3), schema="w2"
    )  # another date pair: another survey
    assert sql("SELECT count(*) FROM w2.verdicts WHERE county_code = '330102'")[0][0] == 15


def test_two_counties_at_once_on_fresh_tables(pg, sql):
    """Two counties' first writes race on CREATE TABLE and then COPY side by side."""
    keys = [SurveyKey("2025", code, "2024-09-01", "2025-09-01") for code in ("330102", "330105")]
    data = [verdicts(20_000, seed=1), verdicts(15_000, x0=39_600_000.0, seed=2)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            start.wait()
            for _ in range(
                2
            ):  # the second write deletes and rewrites while the other county writes
                write_results(pg.url, keys[i], verdicts=data[i], summary=summary(), schema="w3")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for key, df in zip(keys, data):
        got = sql(
            "SELECT patch_id, verdict, ST_AsBinary(geom) FROM w3.verdicts WHERE county_code = %s "
            "ORDER BY patch_id",
            (key.county_code,),
        )
        assert [r[0] for r in got] == df["patch_id"].tolist()
        assert [r[1] for r in got] == df["verdict"].tolist()
        assert shapely.equals(
            shapely.from_wkb([bytes(r[2]) for r in got]), np.asarray(df.geometry.values)
        ).all()
        assert rows(sql, "w3.county_summary", key) == 2


def test_new_column_added_and_wrong_type_refused(pg, sql):
    write_results(pg.url, KEY, verdicts=verdicts(5), schema="w4")
    v = verdicts(5).assign(parcel_ids="ZD1;ZD2")
    write_results(pg.url, KEY, verdicts=v, schema="w4")
    assert sql("SELECT DISTINCT parcel_ids FROM w4.verdicts")[0][0] == "ZD1;ZD2"
    assert (
        sql(
            "SELECT col_description('w4.verdicts'::regclass, attnum) FROM pg_attribute "
            "WHERE attrelid = 'w4.verdicts'::regclass AND attname = 'parcel_ids'"
        )[0][0]
        == "涉及宗地代码"
    )
    bad = verdicts(5).assign(patch_id=[f"P{i}" for i in range(5)])
    with pytest.raises(DataError, match=r"column patch_id of w4.verdicts is bigint.*ALTER TABLE"):
        write_results(pg.url, KEY, verdicts=bad, schema="w4")
    with pytest.raises(CRSError, match=r"SRID 4548"):
        write_results(pg.url, KEY, verdicts=verdicts(5).to_crs(4548), schema="w4")
    assert rows(sql, "w4.verdicts", KEY) == 5  # refused writes changed nothing


def test_real_polygons_round_trip(pg, shared_data):
    """88 real polygons (UTM 33N) written with write_tables read back equal to the file."""
    from_file = read_layer(shared_data / LULC)
    key = SurveyKey("lulc", "SI")
    assert write_tables(pg.url, key, {"lulc": from_file}, schema="w5") == {"lulc": 88}
    back = (
        read_layer(pg.url, table="w5.lulc")
        .set_index("index", drop=False)
        .loc[list(from_file["index"])]
    )
    cols = [c for c in from_file.columns if c != "geometry"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(back[cols]).reset_index(drop=True),
        pd.DataFrame(from_file[cols]).reset_index(drop=True),
        check_dtype=False,
    )
    assert shapely.equals_exact(
        np.asarray(back.geometry.values), np.asarray(from_file.geometry.values), 0
    ).all()


def test_every_column_type_round_trips(pg, sql):
    import datetime as dt

    df = gpd.GeoDataFrame(
        {
            "n": pd.array([1, None, -3], dtype="Int64"),
            "f": [1.5, np.nan, -0.25],
            "b": [True, False, True],
            "nb": pd.array([True, None, False], dtype="boolean"),
            "t": ["甲", None, ""],
            "when": pd.to_datetime(
                ["2024-09-01 12:30:00.000001", None, "1999-12-31 23:59:59.000000"]
            ),
            "tz": pd.to_datetime(["2024-09-01 12:00", "2024-09-02 00:00", None]).tz_localize(
                "Asia/Shanghai"
            ),
            "day": [dt.date(2024, 9, 1), None, dt.date(1990, 1, 2)],
            "js": [{"0101": 1.5}, None, [1, 2]],
        },
        geometry=[shapely.box(0, 0, 1, 1), None, shapely.Point(3, 4)],
        crs=4527,
    )
    write_tables(pg.url, KEY, {"types": df}, schema="w6")
    got = sql(
        "SELECT n, f, b, nb, t, \"when\", tz AT TIME ZONE 'UTC', day, js, ST_AsText(geom) FROM "
        "w6.types"
    )
    assert got == [
        (
            1,
            1.5,
            True,
            True,
            "甲",
            dt.datetime(2024, 9, 1, 12, 30, 0, 1),
            dt.datetime(2024, 9, 1, 4, 0),
            dt.date(2024, 9, 1),
            '{"0101": 1.5}',
            "POLYGON((1 0,1 1,0 1,0 0,1 0))",
        ),
        (None, None, False, None, None, None, dt.datetime(2024, 9, 1, 16, 0), None, None, None),
        (
            -3,
            -0.25,
            True,
            False,
            "",
            dt.datetime(1999, 12, 31, 23, 59, 59),
            None,
            dt.date(1990, 1, 2),
            "[1, 2]",
            "POINT(3 4)",
        ),
    ]
