"""Opening a vector source: the GDAL driver of an extension, its layers, the layer to read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyogrio

from ..errors import DataError, FormatError
from ._dbf import check_shapefile
from ._parquet import PARQUET, is_parquet, parquet_layers

#: GDAL driver of each file extension (GeoParquet is read and written by pyarrow)
DRIVERS = {".shp": "ESRI Shapefile", ".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON",
           ".fgb": "FlatGeobuf", ".gdb": "OpenFileGDB", ".parquet": PARQUET, ".geoparquet": PARQUET}
SHP = "ESRI Shapefile"


def list_layers(path: Any) -> list[tuple[str, str | None]]:
    """``(name, geometry type or None)`` of each layer; missing, empty or cut files refused."""
    p = Path(path)
    # not /vsizip/…, https://…, PG:…: a local file
    if not re.match(r"^(/vsi|[A-Za-z][\w-]+:)", str(path)):
        if not p.exists():
            raise FormatError("file not found", path=path,
                              hint="check the path (and the working directory)")
        if p.is_file() and p.stat().st_size == 0:
            raise FormatError("file is empty (0 bytes)", path=path,
                              hint="copy or download it again "
                                   "(an interrupted transfer leaves empty files)")
        if p.suffix.lower() == ".shp":
            check_shapefile(p)
        if is_parquet(p):  # no GDAL Parquet driver in pyogrio's wheels
            return parquet_layers(p)
    try:
        return [(str(n), t) for n, t in pyogrio.list_layers(path)]
    except RuntimeError as exc:
        raise FormatError(f"cannot open as a vector data source ({exc})", path=path,
                          hint="check the path; onemap reads shapefiles, GeoPackage, GeoJSON, "
                          "FileGDB and GeoParquet") from exc


def pick_layer(path: Any, layer: str | int | None) -> str:
    """The name of the layer to read: *layer* (name or index), else the only spatial one."""
    layers = list_layers(path)
    names = [n for n, _ in layers]
    if isinstance(layer, int) and not isinstance(layer, bool):
        if not 0 <= layer < len(names):
            raise DataError(f"layer index {layer} out of range: "
                            f"the file has {len(names)} layer(s) {names}",
                            path=path, hint="pass a layer name or an index in range")
        return names[layer]
    if layer is not None:
        if str(layer) not in names:
            raise DataError(f"no layer {layer!r}; the file has {names}", path=path,
                            hint="pass one of these names")
        return str(layer)
    spatial = [n for n, t in layers if t is not None]
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise DataError(f"no layer with geometries (layers: {names})", path=path,
                        hint="pass a file that holds geometries, "
                             "or layer= for a geometry-less table")
    raise DataError(f"{len(spatial)} layers with geometries: {spatial}", path=path,
                    hint=f"pass layer=<name>, e.g. layer={spatial[0]!r}")


def read_info(path: Any, layer: str, **kw: Any) -> dict[str, Any]:
    """``pyogrio.read_info`` with its errors as :class:`FormatError`."""
    try:
        return pyogrio.read_info(path, layer=layer, **kw)
    except RuntimeError as exc:
        raise FormatError(f"cannot read layer {layer!r} ({exc})", path=path) from exc
