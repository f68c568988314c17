"""Year over year against earlier surveys kept in PostGIS (a real throwaway server, no mocks)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from onemap.db.write import SurveyKey, write_results
from onemap.history import HISTORY_COLUMNS, match_previous

from .test_read import load_table

X0, Y0 = 39_500_000.0, 3_300_000.0


def patches(n: int, shift: float = 0.0, seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x = X0 + 30.0 * np.arange(n) + shift
    y = Y0 + rng.uniform(0, 5, n)
    geoms = shapely.box(x, y, x + 20, y + 20)
    return gpd.GeoDataFrame(
        {
            "patch_id": np.arange(1, n + 1),
            "verdict": ["unapproved"] * n,
            "date_after": ["2024-09-01"] * n,
            "area_m2": shapely.area(geoms),
        },
        geometry=geoms,
        crs=4527,
    )


def test_previous_survey_from_postgis_matches_the_file(pg, sql, tmp_path):
    """Last year's verdicts written into PostGIS by onemap, the field check's decisions recorded in
    the table afterwards (as a bureau does), another county's rows beside them: matching against
    the table gives what matching against the same rows as a GeoDataFrame gives."""
    last = patches(12, shift=4.0)
    other_county = patches(12, shift=6.0).assign(patch_id=lambda d: d["patch_id"] + 100)
    write_results(
        pg.url,
        SurveyKey("2024 卫片执法", "330102", "2023-09-01", "2024-09-01"),
        verdicts=last,
        schema="hist",
    )
    write_results(
        pg.url,
        SurveyKey("2024 卫片执法", "330103", "2023-09-01", "2024-09-01"),
        verdicts=other_county,
        schema="hist",
    )
    sql("ALTER TABLE hist.verdicts ADD COLUMN decision text")
    sql("UPDATE hist.verdicts SET decision = '已拆除' WHERE patch_id IN (2, 5)")
    now = patches(10).drop(columns="date_after")
    source = {"path": pg.url, "table": "hist.verdicts", "where": "county_code = '330102'"}
    got = match_previous(now, source)
    want = match_previous(
        now,
        last.assign(
            decision=["", "已拆除", "", "", "已拆除"] + [""] * 7, survey_name="2024 卫片执法"
        ),
    )
    cols = [c for c in HISTORY_COLUMNS if c != "prev_overlap"]
    pd.testing.assert_frame_equal(got[cols], want[cols])
    np.testing.assert_allclose(got["prev_overlap"], want["prev_overlap"], rtol=1e-9)
    assert set(got["prev_survey"]) == {"2024 卫片执法"} and set(got["prev_year"]) == {2024}
    assert got["history"].tolist()[:5] == [
        "repeat_unresolved",
        "repeat_resolved",
        "repeat_unresolved",
        "repeat_unresolved",
        "repeat_resolved",
    ]


def test_previous_table_in_another_srid_and_far_rows_not_fetched(pg, sql):
    """A hand-made table (plain SQL, lon/lat) with rows far away: the database returns only the
    rows around this year's patches, reprojected onto their CRS."""
    last = patches(8, shift=3.0)
    far = patches(8, shift=80_000.0).assign(patch_id=lambda d: d["patch_id"] + 50)
    table = pd.concat([last, far], ignore_index=True).to_crs(4490)
    load_table(sql, "hist_lonlat", table, 4490)
    now = patches(8).drop(columns="date_after")
    from onemap import read_layer

    box = tuple(now.total_bounds)
    assert len(read_layer(pg.url, table="public.hist_lonlat", bbox=box, to_crs=4527)) == len(last)
    got = match_previous(now, {"path": pg.url, "table": "public.hist_lonlat"})
    want = match_previous(now, last)
    assert got["prev_patch_id"].tolist() == want["prev_patch_id"].tolist()
    np.testing.assert_allclose(got["prev_overlap"], want["prev_overlap"], rtol=1e-6)
