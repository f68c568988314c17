"""Bad input and faults against the real server: each a clear OnemapError or a reported repair."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
import shapely

from onemap.db import DatabaseError, SurveyKey, write_results
from onemap.errors import CRSError, DataError, GeometryError, OnemapWarning, RepairWarning
from onemap.ingest.vector import read_layer

from ._cluster import PASSWORD, free_port
from .test_write import verdicts

SQUARE = shapely.box(39_500_000, 3_300_000, 39_500_010, 3_300_010).wkt
BOWTIE = shapely.Polygon([(39_500_020, 3_300_000), (39_500_030, 3_300_010), (39_500_030, 3_300_000),
                         (39_500_020, 3_300_010)]).wkt  # a bow tie: self-intersecting


def make(
    sql,
    name: str,
    gtype: str = "geometry(Polygon, 4527)",
    srid: int = 4527,
    index: bool = True,
    geoms: tuple[str, ...] = (SQUARE,),
) -> None:
    sql(f"DROP TABLE IF EXISTS {name}")
    sql(f"CREATE TABLE {name} (bsm serial PRIMARY KEY, \"DLBM\" text DEFAULT '0101', geom {gtype})")
    for g in geoms:
        sql(f"INSERT INTO {name} (geom) VALUES (ST_GeomFromText(%s, {srid}))", (g,))
    if index:
        sql(f"CREATE INDEX ON {name} USING gist (geom)")


def test_unreachable_server():
    url = f"postgresql://onemap:{PASSWORD}@127.0.0.1:{free_port()}/onemap"
    with pytest.raises(DatabaseError, match=r"cannot reach the database server.*pg_isready") as err:
        read_layer(url, table="dltb")
    assert PASSWORD not in str(err.value) and "postgresql://onemap@127.0.0.1" in str(err.value)


def test_wrong_or_missing_password(pg, monkeypatch):
    wrong = pg.url.replace("onemap@", "onemap:not-the-password@")
    with pytest.raises(DatabaseError, match=r"login refused.*PGPASSWORD.*\.pgpass") as err:
        read_layer(wrong, table="dltb")
    assert "not-the-password" not in str(err.value)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent/pgpass")
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(DatabaseError, match="login refused"):
        read_layer(pg.url, table="dltb")


def test_password_from_environment(pg, sql, monkeypatch):
    make(sql, "env_pw")
    monkeypatch.setenv("PGPASSFILE", "/nonexistent/pgpass")
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    assert len(read_layer(pg.url, "landuse", table="env_pw")) == 1


def test_missing_database_table_and_column(pg, sql):
    make(sql, "dltb_cols")
    with pytest.raises(DatabaseError, match="no such database"):
        read_layer(pg.url.rsplit("/", 1)[0] + "/nodb", table="dltb_cols")
    with pytest.raises(
        DataError, match=r"no table or view public.dltb_col\b.*did you mean public.dltb_cols"
    ):
        read_layer(pg.url, table="dltb_col")
    with pytest.raises(
        DataError, match=r"where= names a column the table does not have.*columns are: bsm, DLBM"
    ):
        read_layer(pg.url, "landuse", table="dltb_cols", where="XZQDM = '330102'")
    with pytest.raises(DataError, match=r"not a valid condition"):
        read_layer(pg.url, "landuse", table="dltb_cols", where="DLBM = = 1")
    with pytest.raises(
        DataError, match=r"maps 'landuse_code' to 'dlbm2', which the layer does not have"
    ):
        read_layer(pg.url, "landuse", table="dltb_cols", columns={"landuse_code": "dlbm2"})
    sql('ALTER TABLE dltb_cols RENAME COLUMN "DLBM" TO code')
    with pytest.raises(DataError, match=r"public.dltb_cols.*no land-use code column"):
        read_layer(pg.url, "landuse", table="dltb_cols")
    sql("CREATE TABLE IF NOT EXISTS plain_table (id int)")
    with pytest.raises(DataError, match="has no geometry column"):
        read_layer(pg.url, table="plain_table")


def test_srid_zero(pg, sql):
    make(sql, "srid0", gtype="geometry", srid=0)
    with pytest.raises(CRSError, match=r"SRID 0.*UpdateGeometrySRID\('public', 'srid0', 'geom'"):
        read_layer(pg.url, "landuse", table="srid0")
    got = read_layer(
        pg.url,
        "landuse",
        table="srid0",
        crs=4527,
        bbox=(39_499_990, 3_299_990, 39_500_005, 3_300_005),
    )
    assert got.crs.to_epsg() == 4527 and len(got) == 1


def test_srid_other_than_declared(pg, sql):
    make(sql, "srid_gk")
    with pytest.raises(CRSError, match=r"crs=EPSG:4490 was declared.*SRID 4527.*drop crs="):
        read_layer(pg.url, "landuse", table="srid_gk", crs=4490)
    # an untyped column whose rows carry two SRIDs
    make(sql, "srid_mixed", gtype="geometry", srid=4527)
    sql("INSERT INTO srid_mixed (geom) VALUES (ST_GeomFromText(%s, 4528))", (SQUARE,))
    with pytest.raises(CRSError, match=r"rows carry SRIDs \[4527, 4528\].*ALTER TABLE"):
        read_layer(pg.url, "landuse", table="srid_mixed")
    # a declared SRID the coordinates cannot be in: the same check as for files
    make(sql, "srid_wrong", gtype="geometry(Polygon, 4490)", srid=4490)
    with pytest.raises(
        CRSError,
        match=r"coordinates look like zone-prefixed Gauss-Kruger eastings of zone 39.*"
        r"SRID 4490 of the table",
    ):
        read_layer(pg.url, "landuse", table="srid_wrong")


def test_invalid_geometries_repaired_and_reported(pg, sql):
    make(sql, "bowtie", geoms=(SQUARE, BOWTIE))
    with pytest.warns(
        RepairWarning, match=r"public.bowtie, feature 2: invalid geometry: Self-intersection"
    ):
        got = read_layer(pg.url, "landuse", table="bowtie")
    assert shapely.is_valid(got.geometry).all() and got.geometry.iloc[1].geom_type == "MultiPolygon"
    assert [r.where for r in got.attrs["repairs"]] == ["feature 2"]
    assert "onemap-test-secret" not in str(got.attrs["repairs"])
    with pytest.raises(GeometryError, match=r"public.bowtie, feature 2: invalid geometry"):
        read_layer(pg.url, "landuse", table="bowtie", repair=False)


def test_table_without_spatial_index_warns(pg, sql):
    make(sql, "noindex", index=False)
    with pytest.warns(
        OnemapWarning,
        match=r"no spatial index on column geom.*CREATE INDEX ON public.noindex "
        r"USING gist \(geom\)",
    ):
        assert len(read_layer(pg.url, "landuse", table="noindex")) == 1


def _key_rows(pg, key: SurveyKey) -> list[tuple]:
    with psycopg.connect(pg.url) as conn:
        return conn.execute(
            "SELECT patch_id, verdict FROM fault.verdicts WHERE county_code = %s ORDER BY patch_id",
            (key.county_code,),
        ).fetchall()


def _write_in_thread(pg, key: SurveyKey, n: int) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []
    big = verdicts(n, seed=9)

    def run() -> None:
        try:
            write_results(pg.url, key, verdicts=big, schema="fault")
        except BaseException as exc:  # noqa: BLE001 - checked by the test
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def _wait_for_copy(pg) -> None:
    """Until the writer's COPY has put rows into the table (its old rows are deleted by then)."""
    with psycopg.connect(pg.url, autocommit=True) as conn:
        for _ in range(3000):
            done = conn.execute(
                "SELECT max(tuples_processed) FROM pg_stat_progress_copy "
                "WHERE relid = 'fault.verdicts'::regclass"
            ).fetchone()[0]
            if done:
                return
            time.sleep(0.01)
    raise AssertionError("the COPY never started")


@pytest.mark.slow
def test_dropped_connection_mid_write_keeps_previous_rows(pg):
    key = SurveyKey("2025", "330110", "2024-09-01", "2025-09-01")
    write_results(pg.url, key, verdicts=verdicts(100), schema="fault")
    before = _key_rows(pg, key)
    thread, errors = _write_in_thread(pg, key, 300_000)
    _wait_for_copy(pg)
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_progress_copy "
            "WHERE relid = 'fault.verdicts'::regclass"
        )
    thread.join()
    assert len(errors) == 1 and isinstance(errors[0], DatabaseError), errors
    assert "connection lost" in str(errors[0]) and "holds what it held before" in str(errors[0])
    assert _key_rows(pg, key) == before and len(before) == 100


@pytest.mark.slow
def test_server_killed_mid_write_keeps_previous_rows(pg):
    key = SurveyKey("2025", "330111", "2024-09-01", "2025-09-01")
    other = SurveyKey("2025", "330112", "2024-09-01", "2025-09-01")
    write_results(pg.url, key, verdicts=verdicts(100), schema="fault")
    write_results(pg.url, other, verdicts=verdicts(10), schema="fault")
    before = _key_rows(pg, key)
    thread, errors = _write_in_thread(pg, key, 300_000)
    _wait_for_copy(pg)
    try:
        pg.stop("immediate")  # a crash: no checkpoint, the client is cut off mid-COPY
        thread.join()
    finally:
        pg.restart()
    assert len(errors) == 1 and isinstance(errors[0], DatabaseError), errors
    assert "holds what it held before" in str(errors[0]), errors[0]
    assert _key_rows(pg, key) == before and len(before) == 100
    assert len(_key_rows(pg, other)) == 10
    write_results(pg.url, key, verdicts=verdicts(7), schema="fault")  # and the rerun goes through
    assert len(_key_rows(pg, key)) == 7
