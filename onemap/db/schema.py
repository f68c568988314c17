"""Result tables: column types from the frame, Chinese comments, idempotent DDL.

Every result table starts with the survey key (:data:`KEY_COLUMNS`) and ends with an SRID-typed
``geom`` column (tables with geometries) with a GiST index; a btree index on the key serves the
delete of a rerun. Machine column names stay snake_case; the Chinese name of each known column
(:data:`COLUMN_ZH`, the data dictionary of the outputs) goes into its ``COMMENT``, where every
PostgreSQL client (psql ``\\d+``, QGIS, DBeaver) shows it.

Creating and extending tables runs under a transaction-level advisory lock on the schema, so the
first writes of two counties at the same moment do not race on ``CREATE TABLE``; a table that
lacks a column a newer onemap writes gets it (``ADD COLUMN``), a column of another type is a
:class:`~onemap.errors.DataError` naming it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from ..errors import CRSError, DataError

__all__ = ["COLUMN_ZH", "KEY_COLUMNS", "TABLE_ZH", "Column", "columns_of", "ensure_table"]

#: the survey key every result row carries: a rerun replaces exactly these rows
KEY_COLUMNS = {
    "survey_name": "text",
    "county_code": "text",
    "survey_date_before": "date",
    "survey_date_after": "date",
    "onemap_version": "text",
}

TABLE_ZH = {
    "verdicts": "卫片执法监测图斑判定结果",
    "county_summary": "县级违法用地统计表",
    "approvals_status": "建设用地批供用情况",
}

#: machine column -> Chinese name (the outputs' data dictionary)
COLUMN_ZH = {
    "survey_name": "监测批次名称",
    "county_code": "县级行政区划代码",
    "survey_date_before": "前时相影像日期",
    "survey_date_after": "后时相影像日期",
    "date_before": "前时相日期",
    "date_after": "后时相日期",
    "onemap_version": "onemap 版本",
    "geom": "图形",
    "patch_id": "图斑编号",
    "verdict": "判定结果代码",
    "verdict_zh": "判定结果",
    "area_m2": "图斑面积（平方米）",
    "area_mu": "图斑面积（亩）",
    "area_ha": "图斑面积（公顷）",
    "existing_m2": "原有建设用地面积（平方米）",
    "new_m2": "新增建设用地面积（平方米）",
    "new_mu": "新增建设用地面积（亩）",
    "new_ha": "新增建设用地面积（公顷）",
    "approved_m2": "已批准面积（平方米）",
    "unapproved_m2": "未批准面积（平方米）",
    "unapproved_mu": "未批准面积（亩）",
    "unapproved_ha": "未批准面积（公顷）",
    "new_cultivated_m2": "新增建设占用耕地面积（平方米）",
    "unapproved_cultivated_m2": "违法占用耕地面积（平方米）",
    "unapproved_cultivated_mu": "违法占用耕地面积（亩）",
    "unapproved_cultivated_ha": "违法占用耕地面积（公顷）",
    "unapproved_farmland_m2": "违法占用永久基本农田面积（平方米）",
    "unapproved_farmland_mu": "违法占用永久基本农田面积（亩）",
    "unapproved_farmland_ha": "违法占用永久基本农田面积（公顷）",
    "unapproved_redline_m2": "违法占用生态保护红线面积（平方米）",
    "unapproved_agricultural_m2": "违法占用农用地面积（平方米）",
    "unapproved_unused_m2": "违法占用未利用地面积（平方米）",
    "unapproved_unknown_m2": "违法占用未分类土地面积（平方米）",
    "unapproved_by_code": "违法占用各地类面积（JSON，平方米）",
    "approval_ids": "涉及批准文号",
    "parcel_ids": "涉及宗地代码",
    "admin_code": "行政区代码",
    "admin_name": "行政区名称",
    "at_frame_edge": "位于影像边缘（面积为下限）",
    "score": "变化强度",
    "threshold": "变化阈值",
    "n_patches": "图斑数",
    "n_flagged": "违法图斑数",
    "illegal_ratio": "违法占用耕地比例",
    "exceeds_threshold": "超过问责比例",
    "approval_id": "批准文号",
    "approval_date": "批准日期",
    "approved_area": "批准面积",
    "built_m2": "已建面积（平方米）",
    "built_fraction": "已建比例",
    "status": "建设状态",
    "supplied": "已供地",
    "chain": "批供用环节",
    "source_file": "来源文件",
}


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str  # the SQL type in CREATE TABLE
    copy_type: str  # the type psycopg dumps the values as in binary COPY


_TEXT = Column("", "text", "text")


def _object_type(values: pd.Series) -> Column:
    sample = values.dropna()
    if len(sample) and all(
        isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in sample
    ):
        return Column("", "date", "date")
    if len(sample) and all(isinstance(v, (bool, np.bool_)) for v in sample):
        return Column("", "boolean", "bool")
    return _TEXT


def columns_of(df: pd.DataFrame, geometry: str | None = None) -> list[Column]:
    """The SQL column of each attribute column (all but *geometry*) of *df*."""
    out = []
    for name in df.columns:
        if name == geometry:
            continue
        s = df[name]
        kind = s.dtype.kind
        if pd.api.types.is_bool_dtype(s.dtype):
            col = Column(name, "boolean", "bool")
        elif pd.api.types.is_integer_dtype(s.dtype):
            col = Column(name, "bigint", "int8")
        elif pd.api.types.is_float_dtype(s.dtype):
            col = Column(name, "double precision", "float8")
        elif isinstance(s.dtype, pd.DatetimeTZDtype):
            col = Column(name, "timestamptz", "timestamptz")
        elif kind == "M":
            col = Column(name, "timestamp", "timestamp")
        elif kind == "m":
            col = Column(name, "interval", "interval")
        elif kind == "O":
            t = _object_type(s)
            col = Column(name, t.pg_type, t.copy_type)
        else:  # str, category …
            col = Column(name, "text", "text")
        out.append(col)
    return out


def texts_of(s: pd.Series) -> list[str | None]:
    """*s* as text (dicts and lists as JSON, NULL for NaN/None/NA)."""
    missing = s.isna().to_numpy() if s.dtype != object else np.array([_isna(v) for v in s], bool)
    if pd.api.types.infer_dtype(s, skipna=True) in (
        "string",
        "empty",
    ):  # the usual case: vectorised
        return s.astype(object).where(~missing, None).tolist()
    return [
        None if m else v if isinstance(v, str) else _text(v)
        for v, m in zip(s, missing, strict=False)
    ]


_EPOCH = np.datetime64("2000-01-01T00:00:00", "us")  # PostgreSQL's binary dates count from here


def encode_column(s: pd.Series, col: Column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """*s* in PostgreSQL's binary form for a COPY (see :func:`onemap.db._copy.assemble`)."""
    import pyarrow as pa

    from ._copy import encode_fixed, encode_varlen

    nulls = s.isna().to_numpy()
    t = col.copy_type
    if t == "float8":
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return encode_fixed(v, np.isnan(v), ">f8")
    if t == "int8":
        return encode_fixed(s.to_numpy(dtype=np.int64, na_value=0), nulls, ">i8")
    if t == "bool":
        return encode_fixed(s.to_numpy(dtype=bool, na_value=False), nulls, "u1")
    if t in ("timestamp", "timestamptz", "date"):
        ts = pd.to_datetime(s)
        if ts.dt.tz is not None:
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        us = (ts.to_numpy("datetime64[us]") - _EPOCH).astype(np.int64)
        if t == "date":
            return encode_fixed(us // 86_400_000_000, nulls, ">i4")
        return encode_fixed(us, nulls, ">i8")
    if t == "interval":  # microseconds, days, months
        us = s.to_numpy("timedelta64[us]").astype(np.int64)
        rec = np.zeros(len(s), dtype=[("us", ">i8"), ("days", ">i4"), ("months", ">i4")])
        rec["us"] = us
        data = rec.view(np.uint8).reshape(-1)
        return (
            data,
            np.arange(len(s), dtype=np.int64) * 16,
            np.where(nulls, -1, 16).astype(np.int32),
        )
    return encode_varlen(pa.array(texts_of(s), type=pa.large_string()))


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # lists, arrays
        return False


def _text(v: Any) -> str:
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


# ------------------------------------------------------------------------------------ DDL
def _existing(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str] | None:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
        (schema, table),
    ).fetchall()
    return {str(n): str(t) for n, t in rows} or None


def _same_type(have: str, want: str) -> bool:
    have = have.lower()
    return (
        have == want
        or have.startswith(want)
        or (want == "text" and have.startswith("character varying"))
    )


def _plan(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    cols: list[Column],
    srid: int | None,
    where: str,
) -> list[Column] | None:
    """Columns to add (``[]``: nothing to do), or ``None`` when the table does not exist."""
    have = _existing(conn, schema, table)
    if have is None:
        return None
    missing = []
    for col in [Column(k, v, v) for k, v in KEY_COLUMNS.items()] + cols:
        if col.name not in have:
            missing.append(col)
        elif not _same_type(have[col.name], col.pg_type):
            raise DataError(
                f"column {col.name} of {schema}.{table} is {have[col.name]}, the results hold "
                f"{col.pg_type}",
                path=where,
                hint=f"write into another schema, or ALTER TABLE {schema}.{table} ALTER COLUMN "
                f"{col.name} TYPE {col.pg_type}",
            )
    if srid is not None:
        got = have.get("geom", "")
        if f",{srid})" not in got.replace(" ", ""):
            raise CRSError(
                f"{schema}.{table}.geom is {got or 'missing'}, the results are in SRID {srid}",
                path=where,
                hint="write each CRS into its own schema (schema=), or reproject "
                "the results onto the table's CRS",
            )
    return missing


def ensure_table(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    cols: list[Column],
    srid: int | None,
    where: str,
) -> None:
    """Create *schema.table* (or add missing columns) so it can take *cols*; commits its own DDL."""
    missing = _plan(conn, schema, table, cols, srid, where)
    conn.commit()
    if missing == []:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"onemap ddl {schema}",))
        missing = _plan(conn, schema, table, cols, srid, where)  # another writer may have done it
        ident = sql.Identifier(schema, table)
        if missing is None:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            defs = [
                sql.SQL("{} {}").format(sql.Identifier(k), sql.SQL(v))
                for k, v in KEY_COLUMNS.items()
            ]
            defs += [
                sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type)) for c in cols
            ]
            if srid is not None:
                defs.append(sql.SQL("geom geometry(Geometry, {})").format(sql.Literal(int(srid))))
            conn.execute(sql.SQL("CREATE TABLE {} ({})").format(ident, sql.SQL(", ").join(defs)))
            conn.execute(
                sql.SQL("CREATE INDEX {} ON {} ({})").format(
                    sql.Identifier(f"{table}_survey_key"),
                    ident,
                    sql.SQL(", ").join(sql.Identifier(k) for k in KEY_COLUMNS),
                )
            )
            if srid is not None:
                conn.execute(
                    sql.SQL("CREATE INDEX {} ON {} USING gist (geom)").format(
                        sql.Identifier(f"{table}_geom"), ident
                    )
                )
            if table in TABLE_ZH:
                conn.execute(
                    sql.SQL("COMMENT ON TABLE {} IS {}").format(ident, sql.Literal(TABLE_ZH[table]))
                )
            missing = (
                [Column(k, v, v) for k, v in KEY_COLUMNS.items()]
                + cols
                + ([Column("geom", "", "")] if srid is not None else [])
            )
        else:
            for col in missing:
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                        ident, sql.Identifier(col.name), sql.SQL(col.pg_type)
                    )
                )
        for col in missing:
            if col.name in COLUMN_ZH:
                conn.execute(
                    sql.SQL("COMMENT ON COLUMN {} IS {}").format(
                        sql.Identifier(schema, table, col.name), sql.Literal(COLUMN_ZH[col.name])
                    )
                )
