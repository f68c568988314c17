"""Fetch a PostGIS table as a GeoDataFrame: the server filters, WKB travels in binary, in chunks.

:func:`fetch_layer` is what :func:`onemap.read_layer` calls for a ``postgresql://`` source before
it checks and normalises the result exactly as it does a file. The query is
``SELECT key, columns, ST_AsBinary(geom) FROM t WHERE geom && <box in the table's SRID> AND
(where)``: the ``&&`` test uses the table's GiST index, so only the features whose boxes touch
the frame leave the server (the index keeps single-precision boxes, so features up to a few
metres off the edge come along too; they are dropped on arrival, and the result holds exactly the
features whose bounding boxes touch the box). Rows come as ``COPY (SELECT …) TO STDOUT (FORMAT
BINARY)``: the stream is cut into chunks of
``chunk_bytes``, numba kernels find every field of a chunk (:mod:`onemap.db._copy`), numbers and
dates become NumPy arrays and text Arrow-backed strings without a Python object per value, and
the chunk's WKB is decoded with :func:`shapely.from_wkb` and then dropped, so the client holds the
result plus one chunk. ``numeric`` columns arrive as float64, types pandas has no use for (json,
uuid, arrays …) as text.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from psycopg import sql
from pyproj import CRS, Transformer

from ..crs import as_crs
from ..errors import CRSError, DataError, OnemapWarning
from ._copy import decode, header_length, scan
from .catalog import TableInfo, crs_of_srid, describe
from .source import connect, redact, split_table, translate

__all__ = ["fetch_layer"]

_NATIVE = {
    "int2",
    "int4",
    "int8",
    "float4",
    "float8",
    "text",
    "varchar",
    "bpchar",
    "bool",
    "date",
    "timestamp",
    "timestamptz",
    "numeric",
    "name",
}
_TEXT = {"text", "varchar", "bpchar", "name"}


def _select(info: TableInfo) -> tuple[sql.Composed, list[str], list[str]]:
    """The column list: key, attributes (numeric as float8, exotic types as text), WKB, SRID."""
    items: list[sql.Composable] = []
    names: list[str] = []
    types: list[str] = []
    for col, typ in info.columns.items():
        ident = sql.Identifier(col)
        if typ == "numeric":
            items.append(sql.SQL("{}::float8").format(ident))
        elif typ in _NATIVE:
            items.append(ident)
        else:
            items.append(sql.SQL("{}::text").format(ident))
        names.append(col)
        types.append(
            "float8" if typ == "numeric" else "text" if typ in _TEXT or typ not in _NATIVE else typ
        )
    g = sql.Identifier(info.geometry)
    items.append(sql.SQL("ST_AsBinary({})").format(g))
    names.append("__wkb")
    types.append("wkb")
    if not info.typed_srid:  # untyped column: every row's SRID is checked
        items.append(sql.SQL("ST_SRID({})").format(g))
        names.append("__srid")
        types.append("int4")
    return sql.SQL(", ").join(items), names, types


def _box(bbox: Any, bbox_crs: CRS | None, table_crs: CRS) -> tuple[float, float, float, float]:
    """*bbox* in the table's CRS (densified edges: the box covers the whole area asked for)."""
    xmin, ymin, xmax, ymax = (float(v) for v in bbox)
    if not (xmax > xmin and ymax > ymin):
        raise DataError(
            f"bbox {tuple(bbox)} is empty or inverted", hint="bbox is (xmin, ymin, xmax, ymax)"
        )
    if bbox_crs is None or bbox_crs.equals(table_crs, ignore_axis_order=True):
        return xmin, ymin, xmax, ymax
    tf = Transformer.from_crs(bbox_crs, table_crs, always_xy=True)
    box = tf.transform_bounds(xmin, ymin, xmax, ymax, densify_pts=21)
    return tuple(float(v) for v in box)  # type: ignore[return-value]


def fetch_layer(
    url: str,
    *,
    table: str | None,
    geometry: str | None = None,
    where: str | None = None,
    bbox: Any = None,
    bbox_crs: Any = None,
    crs: Any = None,
    frame: Any = None,
    chunk_bytes: int = 32 << 20,
) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """Fetch *table* from the PostGIS database at *url*; return the layer and its ``attrs``.

    Parameters
    ----------
    url
        ``postgresql://user@host:port/dbname``; the password from ``PGPASSWORD`` or ``.pgpass``.
    table
        ``"table"`` or ``"schema.table"`` (a view works too).
    geometry
        The geometry column, needed only when the table has several.
    where
        An SQL condition on the table's columns, e.g. ``"XZQDM LIKE '330102%'"``.
    bbox, bbox_crs
        Fetch only features whose bounding box touches ``(xmin, ymin, xmax, ymax)`` given in
        *bbox_crs* (default: the table's CRS).
    crs
        The CRS of a geometry column with SRID 0; for any other column it must agree with the SRID.
    frame
        A :class:`onemap.Frame`: without *bbox*, only features touching its bounds are fetched.
    chunk_bytes
        Bytes of the COPY stream decoded at a time.

    Returns
    -------
    (GeoDataFrame, dict)
        Indexed by the primary key's values (named ``fid``; row numbers without a one-column
        primary key), all columns kept, geometry in the
        table's CRS; ``attrs`` for :func:`onemap.read_layer`.
    """
    where_src = redact(url)
    if not table:
        raise DataError(
            "a database source needs a table",
            path=where_src,
            hint='pass table="schema.table" (TOML: table = "dltb" under the layer)',
        )
    schema, name = split_table(table)
    if bbox is None and frame is not None:
        bbox, bbox_crs = frame.bounds, frame.crs
    conn = connect(url)
    try:
        with conn:
            conn.read_only = True
            info = describe(conn, schema, name, geometry, where_src)
            src = f"{where_src} table {info.qualified}"
            table_crs = _table_crs(conn, info, crs, src)
            query, names, types = _select(info)
            conds, params = [], []
            if bbox is not None:
                box = _box(bbox, as_crs(bbox_crs) if bbox_crs is not None else None, table_crs)
                conds.append(
                    sql.SQL("{} && ST_MakeEnvelope(%s, %s, %s, %s, %s)").format(
                        sql.Identifier(info.geometry)
                    )
                )
                params += [*box, info.srid]
            if where:
                conds.append(sql.SQL("(") + sql.SQL(where) + sql.SQL(")"))
            stmt = sql.SQL("SELECT {} FROM {}").format(
                query, sql.Identifier(info.schema, info.name)
            )
            if conds:
                stmt += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds)
            if (
                info.primary_key is not None
            ):  # the same order on every read: reruns give the same outputs
                stmt += sql.SQL(" ORDER BY {}").format(sql.Identifier(info.primary_key))
            if info.spatial_index is False:
                warnings.warn(
                    f"{src}: no spatial index on column {info.geometry}, so every read scans the "
                    f"whole table (slow). Fix: CREATE INDEX ON {info.qualified} USING gist "
                    f"({info.geometry})",
                    OnemapWarning,
                    stacklevel=4,
                )
            gdf = _fetch(
                conn,
                stmt,
                params,
                names,
                types,
                info,
                table_crs,
                src,
                chunk_bytes,
                box if bbox is not None else None,
            )
    except psycopg.errors.UndefinedColumn as exc:
        raise DataError(
            f"where= names a column the table does not have ({exc.diag.message_primary})",
            path=f"{where_src} table {schema}.{name}",
            hint=f"the columns are: {', '.join(info.columns)}",
        ) from None
    except (
        psycopg.errors.SyntaxError,
        psycopg.errors.UndefinedFunction,
        psycopg.errors.DatatypeMismatch,
        psycopg.errors.InvalidTextRepresentation,
    ) as exc:
        raise DataError(
            f"where={where!r} is not a valid condition ({exc.diag.message_primary})",
            path=f"{where_src} table {schema}.{name}",
            hint="write an SQL condition on the table's columns, e.g. \"XZQDM LIKE '3301%'\"",
        ) from None
    except psycopg.Error as exc:
        raise translate(exc, url, f"table {schema}.{name}") from None
    finally:
        conn.close()
    attrs = {
        "source": src,
        "layer": info.qualified,
        "driver": "PostgreSQL",
        "encoding": "utf-8",
        "encoding_source": "format",
        "srid": info.srid,
        "geometry_column": info.geometry,
        "where": where,
        "bbox": None if bbox is None else [float(v) for v in box],
        "spatial_index": info.spatial_index,
    }
    return gdf, attrs


def _table_crs(conn: psycopg.Connection, info: TableInfo, crs: Any, src: str) -> CRS:
    given = as_crs(crs) if crs is not None else None
    if info.srid == 0:
        if given is None:
            raise CRSError(
                f"geometry column {info.geometry} has SRID 0 (no coordinate system)",
                path=src,
                hint=f"set it in the database: SELECT UpdateGeometrySRID('{info.schema}', "
                f"'{info.name}', '{info.geometry}', 4527) with the right EPSG code, or pass "
                "crs= (TOML: crs = 4527) with the CRS of the coordinates",
            )
        return given
    table_crs = crs_of_srid(conn, info.srid, src)
    if given is not None and not given.equals(table_crs, ignore_axis_order=True):
        raise CRSError(
            f"crs={given.srs or given.name} was declared, but geometry column {info.geometry} "
            f"has SRID {info.srid} ({table_crs.name})",
            path=src,
            hint="drop crs= (the table's SRID is used), or, if the SRID is wrong, correct it in "
            f"the database: SELECT UpdateGeometrySRID('{info.schema}', '{info.name}', "
            f"'{info.geometry}', <EPSG code>)",
        )
    return table_crs


def _copy_out(conn: psycopg.Connection, query: str) -> Iterator[memoryview]:
    """The messages of ``COPY … TO STDOUT`` straight from libpq: the server sends one per row, and
    psycopg's generic copy loop costs ~20 µs a message, more than decoding the row."""
    pg = conn.pgconn
    with conn.lock:
        pg.send_query(query.encode())
        res = pg.get_result()
        if res is None or res.status != psycopg.pq.ExecStatus.COPY_OUT:
            while pg.get_result() is not None:
                pass
            raise (
                psycopg.errors.error_from_result(res, encoding="utf-8")
                if res is not None
                else psycopg.OperationalError(pg.error_message.decode(errors="replace"))
            )
        while True:
            nbytes, data = pg.get_copy_data(0)  # blocks until a row arrives
            if nbytes == -1:
                break
            if nbytes == -2:
                raise psycopg.OperationalError(pg.error_message.decode(errors="replace"))
            yield data
        res = pg.get_result()
        while pg.get_result() is not None:
            pass
        if res is None or res.status != psycopg.pq.ExecStatus.COMMAND_OK:
            raise (
                psycopg.errors.error_from_result(res, encoding="utf-8")
                if res is not None
                else psycopg.OperationalError(pg.error_message.decode(errors="replace"))
            )


def _fetch(
    conn: psycopg.Connection,
    stmt: sql.Composed,
    params: list[Any],
    names: list[str],
    types: list[str],
    info: TableInfo,
    crs: CRS,
    src: str,
    chunk_bytes: int,
    box: tuple[float, ...] | None,
) -> gpd.GeoDataFrame:
    parts: list[pd.DataFrame] = []
    geoms: list[np.ndarray] = []
    srids: set[int] = set()

    def decode_chunk(buf: np.ndarray, start: int) -> int:
        offsets, lengths, end, _ = scan(buf, start, len(names))
        cols = {
            n: decode(buf, offsets[:, j], lengths[:, j], t)
            for j, (n, t) in enumerate(zip(names, types, strict=False))
        }
        geom = shapely.from_wkb(cols.pop("__wkb"))
        if "__srid" in cols:
            srids.update(
                int(s) for s in pd.unique(np.asarray(cols.pop("__srid"))) if not pd.isna(s)
            )
        part = pd.DataFrame(cols)
        if box is not None:  # the index compares float4 boxes (metres off at 10⁷ m): be exact
            b = shapely.bounds(geom)
            keep = ~(
                (b[:, 2] < box[0]) | (b[:, 0] > box[2]) | (b[:, 3] < box[1]) | (b[:, 1] > box[3])
            )
            keep |= shapely.is_missing(geom)
            geom, part = geom[keep], part[keep]
        geoms.append(geom)
        parts.append(part.reset_index(drop=True))
        return end

    pending = bytearray()
    start = -1  # not past the header yet
    query = psycopg.ClientCursor(conn).mogrify(
        sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(stmt), params
    )
    for block in _copy_out(conn, query):
        pending += block
        if start < 0:
            start = header_length(pending) or -1
        if start >= 0 and len(pending) >= chunk_bytes:
            end = decode_chunk(
                np.frombuffer(bytes(pending), np.uint8), start
            )  # a copy: pending shrinks
            del pending[:end]
            start = 0
    if start >= 0:
        decode_chunk(np.frombuffer(bytes(pending), np.uint8), start)
    del pending
    mixed = srids - {info.srid}
    if mixed:
        raise CRSError(
            f"geometry column {info.geometry} has no declared SRID and its rows carry SRIDs "
            f"{sorted(srids)}",
            path=src,
            hint=f"give the column one SRID: ALTER TABLE {info.qualified} ALTER COLUMN "
            f"{info.geometry} TYPE geometry(Geometry, <EPSG>) USING ST_Transform("
            f"{info.geometry}, <EPSG>)",
        )
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame({n: [] for n in names if n not in ("__wkb", "__srid")})
    )
    geometry = np.concatenate(geoms) if geoms else np.array([], dtype=object)
    if info.primary_key is not None:  # the key is the feature id (and stays a column)
        index = pd.Index(frame[info.primary_key].to_numpy(), name="fid")
    else:
        index = pd.RangeIndex(len(frame), name="fid")
    frame.index = index
    for col, typ in info.columns.items():
        if typ in ("date", "timestamp", "timestamptz") and col in frame.columns:
            frame[col] = pd.to_datetime(frame[col])
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, index=index, crs=crs), crs=crs)
