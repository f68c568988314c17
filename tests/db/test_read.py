"""Reading layers from a real PostGIS server with read_layer("postgresql://…")."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from onemap.frame import Frame
from onemap.ingest.vector import read_layer

LULC = "geo/eolearn_patch/TestEOPatch/vector_timeless/LULC.gpkg"


def load_table(
    sql,
    name: str,
    gdf: gpd.GeoDataFrame,
    srid: int,
    *,
    index: bool = True,
    typed: bool = True,
    key: str | None = "fid",
) -> None:
    """Put *gdf* into a table with plain SQL (independent of onemap's writer)."""
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    types = {
        c: (
            "bigint"
            if pd.api.types.is_integer_dtype(gdf[c])
            else "double precision"
            if pd.api.types.is_float_dtype(gdf[c])
            else "text"
        )
        for c in cols
    }
    gtype = f"geometry(Geometry, {srid})" if typed else "geometry"
    pk = f"{key} bigint PRIMARY KEY, " if key else ""
    sql(f"DROP TABLE IF EXISTS {name}")
    sql(
        f"CREATE TABLE {name} ({pk}"
        + ", ".join(f'"{c}" {t}' for c, t in types.items())
        + f", geom {gtype})"
    )
    import psycopg

    names = ([key] if key else []) + [f'"{c}"' for c in cols] + ["geom"]
    marks = ", ".join(["%s"] * (len(names) - 1) + [f"ST_GeomFromWKB(%s, {srid})"])
    rows = [
        (
            ([int(i)] if key else [])
            + [None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in row[:-1]]
            + [shapely.to_wkb(row[-1])]
        )
        for i, row in zip(gdf.index, gdf[cols + [gdf.geometry.name]].itertuples(index=False))
    ]
    with psycopg.connect(sql.url) as conn:
        conn.cursor().executemany(f"INSERT INTO {name} ({', '.join(names)}) VALUES ({marks})", rows)
    if index:
        sql(f"CREATE INDEX ON {name} USING gist (geom)")


def dltb(n: int = 40) -> gpd.GeoDataFrame:
    """A row of 10 m land-use squares in CGCS2000 zone 39 (prefixed eastings)."""
    codes = ["0101", "0201", "0702", "1001", "0301"]
    names = ["水田", "果园", "农村宅基地", "铁路用地", "乔木林地"]
    geoms = [
        shapely.box(39_500_000 + 10 * i, 3_300_000, 39_500_010 + 10 * i, 3_300_010)
        for i in range(n)
    ]
    return gpd.GeoDataFrame(
        {
            "DLBM": [codes[i % 5] for i in range(n)],
            "DLMC": [names[i % 5] for i in range(n)],
            "TBMJ": [100.0] * n,
        },
        geometry=geoms,
        crs=4527,
        index=pd.RangeIndex(1, n + 1, name="fid"),
    )


def test_landuse_from_postgis_normalised_like_a_file(pg, sql):
    src = dltb()
    load_table(sql, "dltb", src, 4527)
    got = read_layer(pg.url, "landuse", table="dltb")
    assert list(got.index) == list(src.index)
    assert got.crs.to_epsg() == 4527
    assert list(got["landuse_code"]) == list(src["DLBM"])
    assert list(got["DLMC"]) == list(src["DLMC"])  # Chinese text, no encoding guesswork
    assert got["cultivated"].tolist() == [c == "0101" for c in src["DLBM"]]
    assert shapely.equals(np.asarray(got.geometry.values), np.asarray(src.geometry.values)).all()
    assert got.attrs["driver"] == "PostgreSQL" and got.attrs["spatial_index"] is True
    assert "onemap-test-secret" not in repr(got.attrs)


def test_bbox_fetches_only_features_touching_it(pg, sql):
    src = dltb()
    load_table(sql, "dltb_box", src, 4527)
    box = (39_500_095.0, 3_300_002.0, 39_500_151.0, 3_300_004.0)
    got = read_layer(pg.url, "landuse", table="dltb_box", bbox=box)
    expected = src.index[src.intersects(shapely.box(*box))]
    assert sorted(got.index) == sorted(expected) and len(expected) == 7
    assert got.attrs["bbox"] == list(box)


def test_frame_in_another_crs_filters_and_reprojects(pg, sql):
    src = dltb()
    load_table(sql, "dltb_frame", src, 4527)
    # EPSG:4548 is the same zone (117°E) without the zone prefix in the eastings
    frame = Frame.from_bounds((500_200.0, 3_300_000.0, 500_250.0, 3_300_010.0), 2.0, 4548)
    got = read_layer(pg.url, "landuse", table="dltb_frame", frame=frame)
    in_4548 = src.to_crs(4548)
    expected = in_4548.index[in_4548.intersects(shapely.box(*frame.bounds))]
    assert set(got.index) >= set(expected)  # box of the box: may add only touching neighbours
    assert set(got.index) <= set(
        in_4548.index[in_4548.intersects(shapely.box(*frame.bounds).buffer(1))]
    )
    assert got.crs.to_epsg() == 4548 and got.attrs["reprojected"]["from"] == "EPSG:4527"


def test_where_and_small_chunks(pg, sql):
    from onemap.db.read import fetch_layer

    src = dltb()
    load_table(sql, "dltb_where", src, 4527)
    got = read_layer(pg.url, "landuse", table="dltb_where", where="\"DLBM\" = '0702'")
    assert list(got.index) == list(src.index[src["DLBM"] == "0702"])
    one, _ = fetch_layer(pg.url, table="dltb_where", chunk_bytes=1 << 20)
    small, _ = fetch_layer(pg.url, table="dltb_where", chunk_bytes=300)
    pd.testing.assert_frame_equal(
        pd.DataFrame(one.drop(columns="geometry")), pd.DataFrame(small.drop(columns="geometry"))
    )
    assert shapely.equals(np.asarray(one.geometry.values), np.asarray(small.geometry.values)).all()


def test_real_layer_reads_back_as_from_the_file(pg, sql, shared_data):
    """88 real land-use polygons (Slovenia, UTM 33N): from PostGIS exactly as from the file."""
    path = shared_data / LULC
    from_file = read_layer(path)
    load_table(sql, "lulc", from_file, 32633)
    from_db = read_layer(pg.url, table="lulc")
    assert from_db.crs == from_file.crs and len(from_db) == 88
    cols = [c for c in from_file.columns if c != "geometry"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(from_db[cols]), pd.DataFrame(from_file[cols]), check_dtype=False
    )
    assert shapely.equals_exact(
        np.asarray(from_db.geometry.values), np.asarray(from_file.geometry.values), tolerance=0
    ).all()


def test_nulls_numeric_and_dates(pg, sql):
    sql("DROP TABLE IF EXISTS typed")
    sql(
        "CREATE TABLE typed (id serial PRIMARY KEY, n int, a numeric(10,2), d date, ok boolean, "
        "j jsonb, geom geometry(Polygon, 4527))"
    )
    sql("CREATE INDEX ON typed USING gist (geom)")
    sql(
        "INSERT INTO typed (n, a, d, ok, j, geom) VALUES (1, 2.5, '2024-09-01', true, '{\"a\": "
        "1}', "
        "ST_GeomFromText('POLYGON((39500000 3300000,39500010 3300000,39500010 3300010,39500000 "
        "3300000))', 4527)),"
        "(NULL, NULL, NULL, NULL, NULL, "
        "ST_GeomFromText('POLYGON((39500020 3300000,39500030 3300000,39500030 3300010,39500020 "
        "3300000))', 4527))"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = read_layer(pg.url, table="typed")
    assert got["a"].tolist()[0] == 2.5 and np.isnan(got["a"].tolist()[1])
    assert str(got["n"].dtype) == "Int64" and got["n"].isna().tolist() == [False, True]
    assert got["d"].iloc[0] == pd.Timestamp("2024-09-01") and pd.isna(got["d"].iloc[1])
    assert got["j"].iloc[0] == '{"a": 1}'
