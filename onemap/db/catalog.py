"""What the server knows about a table: columns, geometry column and SRID, key, spatial index."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import psycopg
from pyproj import CRS

from ..errors import CRSError, DataError

__all__ = ["TableInfo", "crs_of_srid", "describe"]


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    kind: str  # pg_class.relkind: r table, v view, m materialized view, p partitioned
    columns: dict[str, str]  # attribute columns (not the geometry) -> type name (pg_type.typname)
    geometry: str
    srid: int  # the column's SRID, or the rows' when the column is untyped; 0: none
    typed_srid: bool  # the column type declares the SRID (geometry(Polygon, 4527))
    primary_key: str | None
    spatial_index: bool | None  # None: a view, the server decides

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def _table_oid(
    conn: psycopg.Connection, schema: str, name: str, where: str
) -> tuple[int, str, str, str]:
    rows = conn.execute(
        "SELECT c.oid, c.relkind, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON "
        "n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r','v','m','p','f') AND n.nspname = %s AND (c.relname = %s OR "
        "c.relname = lower(%s)) "
        "ORDER BY c.relname = %s DESC",
        (schema, name, name, name),
    ).fetchall()
    if rows:
        oid, kind, nsp, rel = rows[0]
        return int(oid), str(kind), str(nsp), str(rel)
    known = [
        f"{s}.{t}"
        for s, t in conn.execute(
            "SELECT f_table_schema, f_table_name FROM geometry_columns ORDER BY 1, 2 LIMIT 500"
        ).fetchall()
    ]
    close = difflib.get_close_matches(f"{schema}.{name}", known, n=3)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else f"tables with geometries: {', '.join(known[:10]) or 'none'}"
    ) + " (a table outside the search path is written schema.table)"
    raise DataError(f"no table or view {schema}.{name}", path=where, hint=hint)


def describe(
    conn: psycopg.Connection, schema: str, name: str, geometry: str | None, where: str
) -> TableInfo:
    """Look the table up; DataError/CRSError naming *where* (the redacted source) and the fix."""
    oid, kind, schema, name = _table_oid(conn, schema, name, where)
    cols = conn.execute(
        "SELECT a.attname, t.typname, a.attnum FROM pg_attribute a JOIN pg_type t ON t.oid = "
        "a.atttypid "
        "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (oid,),
    ).fetchall()
    geoms = [(c, n) for c, t, n in cols if t == "geometry"]
    src = f"{where} table {schema}.{name}"
    if not geoms:
        raise DataError(
            "has no geometry column",
            path=src,
            hint="read a table with a PostGIS geometry column (geography: cast it in a view)",
        )
    if geometry is None and len(geoms) > 1:
        raise DataError(
            f"has {len(geoms)} geometry columns ({', '.join(c for c, _ in geoms)})",
            path=src,
            hint=f'pass layer={geoms[0][0]!r} (TOML: layer = "{geoms[0][0]}") to choose one',
        )
    if geometry is not None and geometry not in [c for c, _ in geoms]:
        raise DataError(
            f"has no geometry column {geometry!r} (it has {', '.join(c for c, _ in geoms)})",
            path=src,
            hint="choose one of these",
        )
    gcol, gnum = geoms[0] if geometry is None else next(g for g in geoms if g[0] == geometry)
    row = conn.execute(
        "SELECT srid FROM geometry_columns WHERE f_table_schema = %s AND f_table_name = %s "
        "AND f_geometry_column = %s",
        (schema, name, gcol),
    ).fetchone()
    srid = int(row[0]) if row else 0
    typed = srid != 0
    if (
        not typed
    ):  # an untyped column: the rows may still carry an SRID (all alike, checked on read)
        first = conn.execute(
            psycopg.sql.SQL("SELECT ST_SRID({g}) FROM {t} WHERE {g} IS NOT NULL LIMIT 1").format(
                g=psycopg.sql.Identifier(gcol), t=psycopg.sql.Identifier(schema, name)
            )
        ).fetchone()
        srid = int(first[0]) if first else 0
    pk = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.indisprimary",
        (oid,),
    ).fetchall()
    index: bool | None = None
    if kind in ("r", "m", "p"):
        index = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
            "JOIN pg_am am ON am.oid = ic.relam WHERE i.indrelid = %s AND am.amname IN ('gist', "
            "'spgist', 'brin') "
            "AND %s = ANY(i.indkey))",
            (oid, gnum),
        ).fetchone()[0]  # type: ignore[index]
        if not index and kind == "p":  # partitions carry the indexes
            index = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_inherits h JOIN pg_index i ON i.indrelid = "
                "h.inhrelid "
                "JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam "
                "WHERE h.inhparent = %s AND am.amname IN ('gist', 'spgist', 'brin'))",
                (oid,),
            ).fetchone()[0]  # type: ignore[index]
    return TableInfo(
        schema,
        name,
        kind,
        {c: t for c, t, _ in cols if c != gcol},
        gcol,
        srid,
        typed,
        str(pk[0][0]) if len(pk) == 1 else None,
        index,
    )


def crs_of_srid(conn: psycopg.Connection, srid: int, where: str) -> CRS:
    """The CRS of an SRID from ``spatial_ref_sys`` (its EPSG code when it has one, else its WKT)."""
    row = conn.execute(
        "SELECT auth_name, auth_srid, srtext FROM spatial_ref_sys WHERE srid = %s", (srid,)
    ).fetchone()
    if row is None:
        raise CRSError(
            f"SRID {srid} is not in the server's spatial_ref_sys",
            path=where,
            hint="insert its definition into spatial_ref_sys, or set a known SRID with "
            "UpdateGeometrySRID",
        )
    auth, code, wkt = row
    if auth and str(auth).upper() == "EPSG" and code:
        return CRS.from_epsg(int(code))
    return CRS.from_wkt(wkt)
