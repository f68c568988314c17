"""GeoParquet for :func:`onemap.read_layer` and :func:`onemap.write_layer` (pyarrow, geopandas).

pyogrio's wheels carry no Parquet driver, so ``.parquet`` / ``.geoparquet`` files take this path;
:func:`~onemap.read_layer` then applies the same CRS checks, geometry repairs and per-kind columns
as to every other format. What differs from GDAL formats:

* **CRS**: the CRS is the ``crs`` of the primary geometry column in the file's ``geo`` metadata.
  The GeoParquet specification reads a *missing* ``crs`` as OGC:CRS84 (longitude/latitude); onemap
  does not assume it: land data are almost never longitude/latitude and a wrong default is a
  silent wrong answer. A file without a CRS is the same :class:`~onemap.errors.CRSError` as a
  shapefile without ``.prj`` (pass ``crs=``). A CRS stored as PROJJSON with an EPSG id reads back
  as that EPSG code (``attrs["crs"] == "EPSG:4527"``, as from a GeoPackage).
* **text** is always UTF-8 (Parquet strings); codes such as ``landuse_code`` stay text.
* **feature id**: the row number (0-based; with ``bbox=``, the position in the result); the
  index is not written.
* **bbox**: files written by onemap carry the GeoParquet 1.1 ``bbox`` covering column and row
  groups of 16 384 rows, so a ``bbox=`` read filters on the covering column and skips the row
  groups whose rows all lie outside the box (when rows are spatially ordered, as the patches of
  a survey are: 200 000 polygons, 1 % box, 0.4 s instead of 2.4 s with one row group); files
  without a covering column (other writers) are read whole and filtered afterwards — same
  result, more memory. Either way the features returned are those whose geometry intersects
  the box (as GDAL's spatial filter).
* **integrity**: onemap writes page checksums and verifies them on reading, so a damaged data
  page is a :class:`~onemap.errors.FormatError`, like a truncated file or one without ``geo``
  metadata; each names the file.

Writes are atomic (:func:`onemap._atomic.atomic_path`) and deterministic: the same layer gives the
same bytes (no time stamps; ``attrs`` are not written).
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from .._atomic import atomic_path
from ..errors import DataError, FormatError

__all__ = [
    "PARQUET",
    "PARQUET_SUFFIXES",
    "is_parquet",
    "parquet_info",
    "parquet_layers",
    "read_parquet_layer",
    "write_parquet_layer",
]

PARQUET = "Parquet"  # the driver name in attrs["driver"], as GDAL would call it
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
ROW_GROUP = 16_384  # rows per row group: the unit a bbox= read can skip
_HINT = (
    "copy or export the file again; onemap reads GeoParquet written by geopandas, GDAL, "
    "DuckDB or onemap"
)


def is_parquet(path: Any) -> bool:
    """Is *path* a (Geo)Parquet file, by its extension?"""
    return isinstance(path, (str, PathLike)) and Path(path).suffix.lower() in PARQUET_SUFFIXES


def _geo_metadata(path: Path) -> tuple[dict[str, Any], Any]:
    """The decoded ``geo`` metadata and the pyarrow ``FileMetaData``; FormatError if unreadable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(f"not a readable Parquet file ({exc})", path=path, hint=_HINT) from exc
    raw = (meta.metadata or {}).get(b"geo")
    if raw is None:
        raise FormatError(
            "a Parquet file without GeoParquet 'geo' metadata (a plain table, no geometry "
            "column declared)",
            path=path,
            hint="write it with geopandas GeoDataFrame.to_parquet or onemap.write_layer, or "
            "read it with pandas.read_parquet if it holds no geometries",
        )
    try:
        geo = json.loads(raw)
        primary = geo["primary_column"]
        column = geo["columns"][primary]
    except (ValueError, KeyError, TypeError) as exc:
        raise FormatError(
            f"the GeoParquet 'geo' metadata is malformed ({exc!r})", path=path, hint=_HINT
        ) from exc
    if not isinstance(column, dict):
        raise FormatError(
            "the GeoParquet 'geo' metadata is malformed (column entry is not an object)",
            path=path,
            hint=_HINT,
        )
    return geo, meta


def _geometry_type(column: dict[str, Any]) -> str:
    types = sorted({str(t).removesuffix(" Z") for t in column.get("geometry_types") or []})
    return types[0] if len(types) == 1 else ("Unknown" if not types else "Geometry")


def parquet_layers(path: str | PathLike) -> list[tuple[str, str | None]]:
    """``[(layer name, geometry type)]`` of a GeoParquet file: one layer named after the file."""
    path = Path(path)
    geo, _ = _geo_metadata(path)
    return [(path.stem, _geometry_type(geo["columns"][geo["primary_column"]]))]


def _crs(column: dict[str, Any]) -> CRS | None:
    """The column's CRS; ``None`` when the file declares none (see the module docstring)."""
    value = column.get("crs")
    if value is None:
        return None
    crs = CRS.from_user_input(value)
    ident = value.get("id") if isinstance(value, dict) else None
    if isinstance(ident, dict) and str(ident.get("authority")).upper() == "EPSG":
        epsg = CRS.from_epsg(int(ident["code"]))
        if epsg.equals(crs, ignore_axis_order=True):
            return epsg
    return crs


def read_parquet_layer(
    path: str | PathLike,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a GeoParquet file into a GeoDataFrame indexed by row number (``fid``).

    The CRS is set only when the file declares one (the caller checks). *encoding* may only be
    UTF-8: Parquet strings are UTF-8 by definition.
    """
    import pyarrow as pa

    path = Path(path)
    if encoding is not None and encoding.replace("-", "").replace("_", "").lower() not in (
        "utf8",
        "utf8sig",
    ):
        raise DataError(
            f"GeoParquet stores text as UTF-8, not {encoding}", path=path, hint="drop encoding="
        )
    geo, _ = _geo_metadata(path)
    column = geo["columns"][geo["primary_column"]]
    covering = "covering" in column
    try:
        gdf = gpd.read_parquet(
            path, bbox=bbox if covering else None, page_checksum_verification=True
        )
    except (pa.ArrowException, OSError, ValueError, shapely.errors.GEOSException) as exc:
        raise FormatError(
            f"cannot read the GeoParquet file ({exc})", path=path, hint=_HINT
        ) from exc
    # a missing "crs" key is no CRS here, not the specification's OGC:CRS84 (module docstring)
    gdf = gdf.set_crs(_crs(column) if "crs" in column else None, allow_override=True)
    if bbox is not None and len(gdf):
        gdf = gdf[shapely.intersects(np.asarray(gdf.geometry.values), shapely.box(*bbox))]
    gdf.index = np.arange(len(gdf))  # row number (in the result, when bbox= filtered)
    gdf.index.name = "fid"
    return gdf


def parquet_info(path: str | PathLike) -> dict[str, Any]:
    """What :func:`onemap.ingest.vector.layer_info` says about a GeoParquet file (no rows read)."""
    path = Path(path)
    geo, meta = _geo_metadata(path)
    column = geo["columns"][geo["primary_column"]]
    schema = meta.schema.to_arrow_schema()
    skip = {geo["primary_column"]} | {
        c for c in schema.names if c == "bbox" and "covering" in column
    }
    fields = {
        f.name: str(f.type)
        for f in schema
        if f.name not in skip and not f.name.startswith("__index")
    }
    crs = _crs(column) if column.get("crs") is not None else None
    bounds = column.get("bbox")
    return {
        "driver": PARQUET,
        "layers": [{"name": path.stem, "geometry_type": _geometry_type(column)}],
        "layer": path.stem,
        "crs": crs,
        "geometry_type": _geometry_type(column),
        "feature_count": int(meta.num_rows),
        "fields": fields,
        "bounds": tuple(float(v) for v in bounds) if bounds else None,
        "encoding": "utf-8",
        "encoding_source": "format",
        "encoding_note": None,
    }


def write_parquet_layer(
    gdf: gpd.GeoDataFrame, path: str | PathLike, *, layer: str | None = None
) -> Path:
    """Write *gdf* as GeoParquet (WKB, bbox covering column, page checksums) atomically; the
    geometry column goes last, where GDAL puts it in a GeoPackage. A GeoParquet file holds one
    layer named after the file: another *layer* name is a DataError."""
    import pyarrow as pa

    path = Path(path)
    if layer is not None and layer != path.stem:
        raise DataError(
            f"a GeoParquet file holds one layer, named after the file "
            f"({path.stem!r}), not {layer!r}",
            path=path,
            hint=f"drop layer=, or name the file {layer}.parquet",
        )
    geom = gdf.geometry.name  # last, as GDAL writes it: the GPKG and the Parquet file agree
    out = gdf[[c for c in gdf.columns if c != geom] + [geom]].copy(deep=False)
    out.attrs = {}  # pandas would store them in the file (PANDAS_ATTRS): not part of the layer
    try:
        with atomic_path(path) as tmp:
            out.to_parquet(
                tmp,
                index=False,
                compression="zstd",
                write_covering_bbox=True,
                write_page_checksum=True,
                row_group_size=ROW_GROUP,
            )
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise FormatError(
            f"cannot write the layer as GeoParquet ({exc})",
            path=path,
            hint="columns must hold one type each (text, numbers, booleans or dates)",
        ) from exc
    return path
