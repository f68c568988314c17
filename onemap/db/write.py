"""Write survey results into PostGIS: one transaction per survey, binary COPY.

:func:`write_results` puts the verdicts, the county table and the approvals' status into
``<schema>.verdicts``, ``<schema>.county_summary`` and ``<schema>.approvals_status`` (created on
first use, see :mod:`onemap.db.schema`). Every row carries the survey key (:class:`SurveyKey`):
survey name, county code, the two image dates and the onemap version.

A write is **one transaction**: delete the survey's rows from every result table, then
``COPY … FROM STDIN (FORMAT BINARY)`` the new ones (the stream built by numba from the columns'
arrays, geometries as WKB), then commit. A run
killed midway, a dropped connection or a server crash rolls the transaction back: the previous
rows of that survey are still there, never half a survey. Rows of other surveys are not touched,
so two counties writing into the same tables at the same time do not interfere; two writers of
the *same* survey key take turns (a transaction-level advisory lock on the key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import astuple, dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql

from .. import __version__
from ..errors import CRSError, DataError
from ._copy import HEADER, TRAILER, assemble, encode_constant, encode_varlen
from .schema import KEY_COLUMNS, columns_of, encode_column, ensure_table
from .source import connect, redact, translate

__all__ = ["RESULT_TABLES", "SurveyKey", "write_results", "write_tables"]

#: result table -> the write_results argument it holds
RESULT_TABLES = {
    "verdicts": "verdicts",
    "county_summary": "summary",
    "approvals_status": "approvals",
}


def _date(value: object) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(str(value)).date()


@dataclass(frozen=True)
class SurveyKey:
    """What identifies a survey's rows: a rerun with the same key replaces them.

    Examples
    --------
    >>> SurveyKey("2025 卫片执法", "330102", "2024-09-01", "2025-09-01").date_after
    datetime.date(2025, 9, 1)
    """

    survey_name: str
    county_code: str
    date_before: dt.date | str | None = None
    date_after: dt.date | str | None = None
    onemap_version: str = field(default=__version__)

    def __post_init__(self) -> None:
        if not str(self.survey_name).strip():
            raise DataError("the survey key needs a survey name", hint="pass survey_name=")
        if not str(self.county_code).strip():
            raise DataError(
                "the survey key needs a county code (6-digit 行政区划代码)",
                hint="pass county_code=, e.g. '330102' (TOML: [database] county)",
            )
        object.__setattr__(self, "county_code", str(self.county_code).strip())
        object.__setattr__(self, "date_before", _date(self.date_before))
        object.__setattr__(self, "date_after", _date(self.date_after))

    def __str__(self) -> str:
        return "/".join("" if v is None else str(v) for v in astuple(self))


def write_results(
    url: str,
    key: SurveyKey,
    *,
    verdicts: gpd.GeoDataFrame,
    summary: pd.DataFrame | None = None,
    approvals: gpd.GeoDataFrame | None = None,
    schema: str = "onemap",
) -> dict[str, int]:
    """Replace survey *key*'s rows in the result tables of *schema*, in one transaction.

    Parameters
    ----------
    url
        ``postgresql://user@host:port/dbname`` (password from ``PGPASSWORD`` or ``.pgpass``).
    key
        The survey key; the rows of exactly this key are replaced.
    verdicts, summary, approvals
        :func:`onemap.flag_unapproved`'s verdicts, :func:`onemap.summarize`'s county table and
        :func:`onemap.approvals_status`'s table. A table passed as ``None`` loses this survey's
        old rows (the survey no longer has any).
    schema
        The schema of the result tables (created when missing).

    Returns
    -------
    dict
        Rows written per table.

    Raises
    ------
    DatabaseError, DataError, CRSError
        Server unreachable, login refused, connection lost (nothing changed), a table column of
        another type, results in another SRID than the table.
    """
    return write_tables(
        url,
        key,
        {"verdicts": verdicts, "county_summary": summary, "approvals_status": approvals},
        schema=schema,
    )


def _srid(gdf: gpd.GeoDataFrame, where: str) -> int:
    if gdf.crs is None:
        raise CRSError("the results have no CRS", path=where, hint="set one with gdf.set_crs(...)")
    epsg = gdf.crs.to_epsg()
    if epsg is None:
        raise CRSError(
            f"the results' CRS ({gdf.crs.name}) has no EPSG code, which PostGIS needs as SRID",
            path=where,
            hint="reproject them onto an EPSG CRS (e.g. to_crs(4527))",
        )
    return int(epsg)


def write_tables(
    url: str, key: SurveyKey, tables: Mapping[str, pd.DataFrame | None], *, schema: str = "onemap"
) -> dict[str, int]:
    """Replace *key*'s rows in each of *tables* (``{name: frame or None}``) in one transaction."""
    where = redact(url)
    plans: list[tuple[str, pd.DataFrame | None, list, int | None]] = []
    for name, df in tables.items():
        if df is None:
            plans.append((name, None, [], None))
            continue
        geom = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
        clash = [c for c in df.columns if c in KEY_COLUMNS or (c == "geom" and geom != "geom")]
        if clash:
            raise DataError(
                f"{name} has columns {clash} that the result tables reserve",
                path=where,
                hint="rename them before writing",
            )
        srid = _srid(df, f"{where} table {schema}.{name}") if geom is not None else None
        plans.append((name, df, columns_of(df, geom), srid))
    conn = connect(url)
    try:
        for name, df, cols, srid in plans:
            if df is not None:
                ensure_table(conn, schema, name, cols, srid, f"{where} table {schema}.{name}")
        counts: dict[str, int] = {}
        with conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"onemap survey {schema} {key}",)
            )
            for name, df, cols, srid in plans:
                exists = conn.execute(
                    "SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}"."{name}"',)
                ).fetchone()[0]  # type: ignore[index]
                if not exists:
                    continue
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE ").format(sql.Identifier(schema, name))
                    + sql.SQL(" AND ").join(
                        sql.SQL("{} IS NOT DISTINCT FROM %s").format(sql.Identifier(k))
                        for k in KEY_COLUMNS
                    ),
                    astuple(key),
                )
                if df is not None:
                    counts[name] = _copy(conn, schema, name, df, cols, srid, key)
        return counts
    except psycopg.Error as exc:
        raise translate(
            exc, url, f"writing survey {key.survey_name!r} county {key.county_code}"
        ) from None
    finally:
        conn.close()


def _key_bytes(key: SurveyKey) -> list[bytes | None]:
    """The survey key's values in binary form (text: UTF-8; date: days since 2000-01-01)."""
    out: list[bytes | None] = []
    for typ, value in zip(KEY_COLUMNS.values(), astuple(key), strict=False):
        if value is None:
            out.append(None)
        elif typ == "date":
            out.append(((value - dt.date(2000, 1, 1)).days).to_bytes(4, "big", signed=True))
        else:
            out.append(str(value).encode())
    return out


def _copy(
    conn: psycopg.Connection,
    schema: str,
    name: str,
    df: pd.DataFrame,
    cols: list,
    srid: int | None,
    key: SurveyKey,
    batch: int = 50_000,
) -> int:
    """COPY *df* in binary, built a batch at a time by numba (no Python object per value)."""
    import pyarrow as pa

    names = list(KEY_COLUMNS) + [c.name for c in cols] + (["geom"] if srid is not None else [])
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(schema, name), sql.SQL(", ").join(sql.Identifier(n) for n in names)
    )
    n = len(df)
    keys = _key_bytes(key)
    with conn.cursor().copy(stmt) as copy:
        copy.write(HEADER)
        for start in range(0, n, batch):  # bounded memory: one batch's bytes at a time
            part = df.iloc[start : start + batch]
            fields = [encode_constant(k, len(part)) for k in keys]
            fields += [encode_column(part[c.name], c) for c in cols]
            if srid is not None:  # plain WKB: the column's SRID is set by the server
                wkb = shapely.to_wkb(np.asarray(part.geometry.values), byte_order=1)
                fields.append(encode_varlen(pa.array(wkb.tolist(), type=pa.large_binary())))
            copy.write(assemble(fields))
        copy.write(TRAILER)
    return n
