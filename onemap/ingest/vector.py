"""Vector layers: read any GDAL vector file into a checked, normalised GeoDataFrame; write atomically.

:func:`read_layer` reads a shapefile, GeoPackage, GeoJSON, FileGDB (whatever GDAL reads) with
pyogrio, and GeoParquet with pyarrow (:mod:`onemap.ingest._parquet`), and checks what Chinese
land data get wrong most often:

* **encoding** of shapefile attribute tables: ``encoding=``, else the ``.cpg``, else detection
  from the raw bytes of the DBF character fields (:func:`onemap.ingest.encoding.detect_encoding`:
  strict UTF-8, else GBK/GB18030). A ``.cpg`` that the bytes contradict is overruled and reported;
  GBK/GB18030 bytes without ``.cpg`` are reported too (GDAL alone would read them as Latin-1).
* **CRS**: a missing CRS, projected coordinates under a geographic CRS, zone-prefixed
  Gauss-Kruger eastings under a CRS without the prefix (or the reverse, or the wrong zone) are
  :class:`~onemap.errors.CRSError` with the CRS to use in the hint. Nothing is reprojected unless
  ``to_crs=`` or ``frame=`` asks for it.
* **geometry**: null/empty geometries are dropped, invalid ones repaired with
  :func:`shapely.make_valid` (polygon layers keep their polygonal parts), each reported as a
  :class:`~onemap.errors.Repair`; points or lines in a polygon kind are a
  :class:`~onemap.errors.GeometryError`.
* **columns** per ``kind`` (see :mod:`onemap.ingest._kinds`): ``landuse_code``/``landuse_group``/
  ``cultivated``, ``parcel_id``, ``approval_id`` … added next to all source attributes; duplicate
  ids are kept and reported as a :class:`~onemap.errors.Repair` each.
* **files**: a missing or empty file, a shapefile without its ``.shx``/``.dbf`` or with a part
  shorter than its header says (a half-copied ``.shp`` reads as null geometries in GDAL) are a
  :class:`~onemap.errors.FormatError`.

The index of the result is the source feature id (``fid``), the key of every report.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import uuid
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS, Transformer

from ..crs import as_crs, gk_crs, infer_zone, is_prefixed, zone_info
from ..errors import CRSError, DataError, EncodingError, Fix, FormatError, Repair, report_repairs
from ._dbf import check_prj, check_shapefile, codec_name, resolve_encoding, sidecar
from ._kinds import KINDS, check_geometries, find_column, normalize_columns
from ._parquet import (
    PARQUET,
    is_parquet,
    parquet_info,
    parquet_layers,
    read_parquet_layer,
    write_parquet_layer,
)

__all__ = ["read_layer", "write_layer", "layer_info", "KINDS"]

# an empty layer under a survey: the TOML can accept it for approvals (a county that approved nothing)
_EMPTY_TOML = ("check the file under [{table}] path (an approvals layer of a county that approved nothing "
               "is accepted with allow_empty = true under [layers.approvals])")
_DRIVERS = {".shp": "ESRI Shapefile", ".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON",
            ".fgb": "FlatGeobuf", ".gdb": "OpenFileGDB", ".parquet": PARQUET, ".geoparquet": PARQUET}
_SHP = "ESRI Shapefile"


def read_layer(
    path: str | os.PathLike,
    kind: str = "generic",
    *,
    crs: Any = None,
    encoding: str | None = None,
    layer: str | int | None = None,
    to_crs: Any = None,
    frame: Any = None,
    repair: bool = True,
    allow_empty: bool = False,
    columns: dict[str, str] | None = None,
    table: str | None = None,
    where: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> gpd.GeoDataFrame:
    """Read a vector layer, check it and add the normalised columns of its *kind*.

    Parameters
    ----------
    path
        Shapefile (``.shp``), GeoPackage, GeoJSON, FileGDB folder, GeoParquet (``.parquet``) or
        any other GDAL vector source.
    kind
        ``"landuse"`` (三调 DLTB), ``"cadastral"`` (宗地), ``"approval"`` (建设用地审批),
        ``"supply"`` (供地), ``"farmland"`` (永久基本农田), ``"redline"`` (生态保护红线),
        ``"admin"`` (行政区) or ``"generic"``. All but generic must be polygons. The columns added
        and the source columns looked for are listed in :mod:`onemap.ingest._kinds`.
    crs
        CRS of the coordinates when the file has none, or to override a wrong one (the declared
        CRS is kept in ``attrs["crs_declared"]``). Coordinates are not changed.
    encoding
        Attribute encoding (e.g. ``"gbk"``); by default the ``.cpg`` checked against the bytes,
        else detected.
    layer
        Layer name or index; needed when the file holds several spatial layers.
    to_crs, frame
        Reproject to this CRS, or to the CRS of this :class:`onemap.Frame`
        (``attrs["reprojected"]`` records it).
    repair
        Repair (and report) invalid geometries, drop null ones, overrule a wrong ``.cpg``. With
        ``False`` each of these raises instead.
    allow_empty
        Return an empty layer instead of raising :class:`DataError`.
    columns
        ``{normalised column: source column}`` to use instead of the candidates.
    table, where
        For a PostGIS source (*path* ``"postgresql://user@host:port/db"``, password from
        ``PGPASSWORD`` or ``.pgpass``): the table (``"schema.table"``) and an SQL condition;
        *layer* names the geometry column of a table with several. See :mod:`onemap.db`.
    bbox
        ``(xmin, ymin, xmax, ymax)``: only the features whose geometry intersects it are read.
        Files: in the source's own CRS (GeoParquet: see :mod:`onemap.ingest._parquet`). PostGIS:
        in the CRS of *to_crs*/*frame*, else the table's (default: the frame's bounds), found
        with the table's spatial index.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by source feature id (``fid``), all source attributes kept, normalised columns
        added. ``attrs`` holds ``kind``, ``source``, ``layer``, ``driver``, ``encoding``,
        ``encoding_source``, ``crs``, ``repairs`` (list of :class:`~onemap.errors.Repair`),
        ``columns_used``, ``id_source`` and, when they occur, ``crs_declared``, ``reprojected``,
        ``duplicate_ids``, ``generated_ids``, ``unknown_codes``, ``unparsed``.

    Raises
    ------
    FormatError, EncodingError, CRSError, GeometryError, DataError
        Unreadable file, undecodable attributes, missing or implausible CRS, points/lines in a
        polygon kind, empty layer, unknown kind or layer.

    Examples
    --------
    >>> import tempfile, geopandas as gpd, shapely
    >>> tbs = gpd.GeoDataFrame({"DLBM": ["0101", "0702", "9999"], "DLMC": ["水田", "农村宅基地", "?"]},
    ...     geometry=[shapely.box(39_500_000 + 10 * i, 3_300_000, 39_500_010 + 10 * i, 3_300_010)
    ...               for i in range(3)], crs=4527)
    >>> path = write_layer(tbs, tempfile.mkdtemp() + "/dltb.shp", encoding="GBK")
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # the unknown code 9999 is reported by a warning too
    ...     dltb = read_layer(path, "landuse")
    >>> dltb[["landuse_code", "landuse_group", "cultivated", "landuse_name"]].values.tolist()
    [['0101', 'agricultural', True, '水田'], ['0702', 'construction', False, '农村宅基地'], ['9999', 'unknown', False, '?']]
    >>> dltb.attrs["encoding"], dltb.attrs["unknown_codes"], dltb.crs.to_epsg()
    ('gbk', {'9999': 1}, 4527)
    """
    src = str(path)
    if kind not in KINDS:
        raise DataError(f"unknown layer kind {kind!r}", path=src, hint=f"use one of {', '.join(KINDS)}")
    from ..db.source import is_database_url

    if is_database_url(path):  # PostGIS: fetched by onemap.db, then checked like a file
        from ..db.read import fetch_layer

        gdf, attrs = fetch_layer(src, table=table, geometry=layer, where=where, bbox=bbox, crs=crs,
                                 bbox_crs=to_crs if frame is None else frame.crs, frame=frame)
        return _normalise(gdf, kind, attrs["source"], {"kind": kind, **attrs}, [], crs=None, to_crs=to_crs,
                          frame=frame, repair=repair, allow_empty=allow_empty, columns=columns,
                          origin=f"SRID {attrs['srid']} of the table")
    if table is not None or where is not None:  # bbox= works for files too (in their own CRS)
        raise DataError("table= and where= apply to database sources only", path=src,
                        hint="pass a postgresql:// URL, or leave them out for a file")
    layer = _pick_layer(path, layer)
    repairs: list[Repair] = []
    enc, enc_source, enc_repair = resolve_encoding(Path(path), encoding, repair)
    suffix = Path(path).suffix.lower()  # .json may be GeoJSON or ESRIJSON: ask GDAL
    known = suffix in _DRIVERS and suffix != ".json"
    driver = _DRIVERS[suffix] if known else _read_info(path, layer, encoding=enc)["driver"]
    repairs += [enc_repair] if enc_repair else []
    try:
        gdf = read_parquet_layer(path, bbox=bbox, encoding=encoding) if driver == PARQUET else \
            pyogrio.read_dataframe(path, layer=layer, encoding=enc, fid_as_index=True, bbox=bbox)
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start:exc.end + 3]
        raise EncodingError(f"attributes do not decode as {enc} ({exc.reason}: {bad!r})", path=src,
                            hint=Fix("pass the right encoding= (e.g. encoding='gb18030'); a value cut off in the "
                                     "middle of a character must be fixed in the source",
                                     toml='set encoding = "gb18030" (the right one) under [{table}]; a value cut off '
                                          "in the middle of a character must be fixed in the source")) from exc
    except RuntimeError as exc:  # pyogrio's errors
        check_prj(Path(path), crs)
        raise FormatError(f"cannot read layer {layer!r} ({exc})", path=src,
                          hint="check that the file is complete and GDAL can read it (ogrinfo)") from exc
    if not gdf.index.is_unique:
        gdf = gdf.reset_index(drop=True).rename_axis("fid")
    if gdf.index.name is None:
        gdf = gdf.rename_axis("fid")
    if len(gdf) == 0 and not allow_empty:
        raise DataError(f"layer {layer!r} has no features", path=src,
                        hint=Fix("check the file or filter, or pass allow_empty=True", toml=_EMPTY_TOML))
    attrs: dict[str, Any] = {"kind": kind, "source": src, "layer": layer, "driver": driver,
                             "encoding": enc or "utf-8", "encoding_source": enc_source}
    return _normalise(gdf, kind, src, attrs, repairs, crs=crs, to_crs=to_crs, frame=frame, repair=repair,
                      allow_empty=allow_empty, columns=columns)


def _normalise(gdf: gpd.GeoDataFrame, kind: str, src: str, attrs: dict[str, Any], repairs: list[Repair], *,
               crs: Any, to_crs: Any, frame: Any, repair: bool, allow_empty: bool,
               columns: dict[str, str] | None, origin: str = "declared by the file") -> gpd.GeoDataFrame:
    """The checks and columns every layer gets, whatever it was read from (files, PostGIS)."""
    gdf = _set_crs(gdf, crs, src, attrs)
    _check_coordinates(gdf, src, "given with crs=" if crs is not None else origin)
    spec = KINDS[kind]
    id_col = find_column(gdf.columns, spec.columns[spec.id_column]) if spec.id_column else None
    gdf = check_geometries(gdf, spec, src, id_col, repair, repairs)
    if len(gdf) == 0 and not allow_empty:
        raise DataError(f"layer {attrs['layer']!r} has no features left after dropping null geometries", path=src,
                        hint=Fix("check the geometries in a GIS, or pass allow_empty=True", toml=_EMPTY_TOML))
    new_cols, info = normalize_columns(gdf, kind, src, columns)
    repairs += info.pop("repairs", [])
    gdf = gdf.assign(**new_cols)
    gdf = gdf[[c for c in gdf.columns if c != gdf.geometry.name] + [gdf.geometry.name]]
    attrs.update(info)
    target = _target_crs(to_crs, frame)
    if target is not None and not target.equals(gdf.crs, ignore_axis_order=True):
        attrs["reprojected"] = {"from": _crs_text(gdf.crs), "to": _crs_text(target)}
        gdf = gdf.to_crs(target)
    attrs["crs"] = _crs_text(gdf.crs)
    attrs["repairs"] = report_repairs(repairs, stacklevel=4)
    gdf.attrs.update(attrs)
    return gdf


# ------------------------------------------------------------------------------------ opening
def _list_layers(path: Any) -> list[tuple[str, str | None]]:
    p = Path(path)
    if not re.match(r"^(/vsi|[A-Za-z][\w-]+:)", str(path)):  # not /vsizip/…, https://…, PG:…: a local file
        if not p.exists():
            raise FormatError("file not found", path=path, hint="check the path (and the working directory)")
        if p.is_file() and p.stat().st_size == 0:
            raise FormatError("file is empty (0 bytes)", path=path,
                              hint="copy or download it again (an interrupted transfer leaves empty files)")
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


def _pick_layer(path: Any, layer: str | int | None) -> str:
    layers = _list_layers(path)
    names = [n for n, _ in layers]
    if isinstance(layer, int) and not isinstance(layer, bool):
        if not 0 <= layer < len(names):
            raise DataError(f"layer index {layer} out of range: the file has {len(names)} layer(s) {names}",
                            path=path, hint="pass a layer name or an index in range")
        return names[layer]
    if layer is not None:
        if str(layer) not in names:
            raise DataError(f"no layer {layer!r}; the file has {names}", path=path, hint="pass one of these names")
        return str(layer)
    spatial = [n for n, t in layers if t is not None]
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise DataError(f"no layer with geometries (layers: {names})", path=path,
                        hint="pass a file that holds geometries, or layer= for a geometry-less table")
    raise DataError(f"{len(spatial)} layers with geometries: {spatial}", path=path,
                    hint=f"pass layer=<name>, e.g. layer={spatial[0]!r}")


def _read_info(path: Any, layer: str, **kw: Any) -> dict[str, Any]:
    try:
        return pyogrio.read_info(path, layer=layer, **kw)
    except RuntimeError as exc:
        raise FormatError(f"cannot read layer {layer!r} ({exc})", path=path) from exc


# ------------------------------------------------------------------------------------ CRS
def _crs_text(crs: CRS) -> str:
    """``"EPSG:4527"`` when the CRS was given or read that way, else its WKT (no slow authority search)."""
    return crs.srs if crs.srs.upper().startswith("EPSG:") else crs.to_wkt()


def _set_crs(gdf: gpd.GeoDataFrame, crs: Any, src: str, attrs: dict[str, Any]) -> gpd.GeoDataFrame:
    if crs is not None:
        given = as_crs(crs)
        if gdf.crs is not None and not given.equals(gdf.crs, ignore_axis_order=True):
            attrs["crs_declared"] = _crs_text(gdf.crs)
        return gdf.set_crs(given, allow_override=True)
    if gdf.crs is None:
        prj = sidecar(Path(src), ".prj") if src.lower().endswith(".shp") else None
        fix = ("add a .prj file beside the .shp" if src.lower().endswith(".shp") else "set the CRS in the file"
               ) if prj is None else f"replace {prj.name}"
        raise CRSError("layer has no CRS" + (f": {prj.name} holds none GDAL can read" if prj else ""), path=src,
                       hint=Fix("pass crs= (e.g. crs=4527 for CGCS2000 3-degree Gauss-Kruger zone 39, or "
                                f"crs=onemap.crs.gk_crs(zone)), or {fix}",
                                toml="set crs = 4527 (the layer's EPSG code; 4527 is CGCS2000 3-degree zone 39) "
                                     f"under [{{table}}], or {fix}"))
    return gdf


def _toml_crs(text: str) -> str:
    """A CRS as a TOML value: ``4528`` for ``EPSG:4528``, else the quoted text."""
    return text[5:] if text.upper().startswith("EPSG:") and text[5:].isdigit() else f'"{text}"'


def _plausible(crs: CRS, bounds: tuple[float, float, float, float]) -> bool:
    """Do the coordinates' centre fall inside (2° around) the CRS's area of use?"""
    x, y = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    try:
        lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(x, y)
    except Exception:  # pyproj raises on points far outside the projection's domain
        return False
    if not (np.isfinite(lon) and np.isfinite(lat) and abs(lat) <= 90):
        return False
    aou = crs.area_of_use
    if aou is None:
        return True
    w, s, e, n = aou.bounds
    return w - 2 <= lon <= e + 2 and s - 2 <= lat <= n + 2


def _check_coordinates(gdf: gpd.GeoDataFrame, src: str, origin: str) -> None:
    """Raise CRSError when the coordinates cannot be in the layer's CRS."""
    check_coordinates(gdf.crs, shapely.bounds(np.asarray(gdf.geometry.values)), src, origin)


def check_coordinates(crs: CRS, b: np.ndarray, src: str, origin: str) -> None:
    """Raise CRSError when boxes *b* (``(n, 4)``: xmin, ymin, xmax, ymax) cannot be in *crs*:
    projected coordinates under a geographic CRS, zone-prefixed eastings under a CRS without the
    prefix (or the reverse, or another zone). Shared by layers and rasters."""
    b = b[np.isfinite(b).all(axis=1)]
    if len(b) == 0:
        return
    name = crs.srs if crs.srs.upper().startswith("EPSG:") else repr(crs.name)  # no WKT in a message
    bounds = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
    xs = np.concatenate([b[:, 0], b[:, 2]])
    where = f"x {bounds[0]:.6g}..{bounds[2]:.6g}, y {bounds[1]:.6g}..{bounds[3]:.6g}"
    zi = zone_info(crs)
    if is_prefixed(xs):
        zone = infer_zone(easting=float(xs[0]), width=None)
        width = 6 if zone <= 23 else 3
        datum = zi.datum if zi is not None and zi.datum else "CGCS2000"
        args = f"{zone}" + (", width=6" if width == 6 else "") + (f", datum='{datum}'" if datum != "CGCS2000" else "")
        code = _crs_text(gk_crs(zone, width=width, datum=datum))
        hint = Fix(f"pass crs=onemap.crs.gk_crs({args}) ({code}) if the coordinates are zone-prefixed Gauss-Kruger",
                   toml=f"set crs = {_toml_crs(code)} under [{{table}}] if the coordinates are zone-prefixed "
                        "Gauss-Kruger")
        if zi is not None and zi.prefixed:
            if zi.zone != zone:
                raise CRSError(f"eastings carry zone prefix {zone} but the CRS {name} ({origin}) is zone {zi.zone}",
                               path=src, hint=hint)
            return
        if crs.is_geographic or not _plausible(crs, bounds):
            raise CRSError(f"coordinates look like zone-prefixed Gauss-Kruger eastings of zone {zone} ({where}) "
                           f"but the CRS {name} ({origin}) is not a prefixed Gauss-Kruger zone", path=src, hint=hint)
        return
    if crs.is_geographic:
        if bounds[0] < -180 or bounds[2] > 360 or bounds[1] < -90 or bounds[3] > 90:
            raise CRSError(f"coordinates look projected ({where}) but the CRS {name} ({origin}) is geographic "
                           "(longitude/latitude)", path=src,
                           hint=Fix("pass crs= with the projected CRS the coordinates are in (e.g. crs=4527 for "
                                    "CGCS2000 Gauss-Kruger zone 39, or the UTM zone), or correct the file's CRS",
                                    toml="set crs = the projected CRS the coordinates are in under [{table}] (e.g. "
                                         "crs = 4527 for CGCS2000 Gauss-Kruger zone 39, or the UTM zone), or correct "
                                         "the file's CRS"))
        return
    if zi is not None and zi.prefixed and bounds[2] < 1_000_000:
        free = gk_crs(zi.zone, width=zi.width or 3, prefix=False, datum=zi.datum or "CGCS2000")
        raise CRSError(f"eastings ({where}) carry no zone prefix but the CRS {name} ({origin}) is the "
                       f"zone-prefixed Gauss-Kruger zone {zi.zone}", path=src,
                       hint=Fix(f"pass crs=onemap.crs.gk_crs({zi.zone}, prefix=False) ({_crs_text(free)})",
                                toml=f"set crs = {_toml_crs(_crs_text(free))} under [{{table}}]"))


def _target_crs(to_crs: Any, frame: Any) -> CRS | None:
    target = None if to_crs is None else as_crs(to_crs)
    if frame is not None:
        fcrs = as_crs(frame.crs)
        if target is not None and not target.equals(fcrs, ignore_axis_order=True):
            raise CRSError(f"to_crs={_crs_text(target)} and frame CRS {_crs_text(fcrs)} disagree",
                           hint="pass only one of to_crs= and frame=")
        target = fcrs
    return target


# ------------------------------------------------------------------------------------ info
def layer_info(path: str | os.PathLike, layer: str | int | None = None) -> dict[str, Any]:
    """Describe a vector layer without reading its features (for ``onemap info``).

    Returns a dict with ``path``, ``driver``, ``layers`` (name and geometry type of each), ``layer``
    (the one described: *layer*, else the only or first spatial one), ``crs`` (``"EPSG:4527"`` or
    WKT, ``None`` if missing), ``crs_name``, ``zone_info`` (dict, for Gauss-Kruger CRSs),
    ``geometry_type``, ``feature_count``, ``fields`` (name -> dtype), ``bounds``, ``encoding``,
    ``encoding_source`` (``argument``/``cpg``/``detected``/``format``) and ``encoding_note``
    (a wrong ``.cpg``).

    Examples
    --------
    >>> import tempfile, geopandas as gpd, shapely
    >>> gdf = gpd.GeoDataFrame({"ZDDM": ["A1"]}, geometry=[shapely.box(500_000, 3e6, 500_010, 3_000_010)],
    ...                        crs=4549)
    >>> info = layer_info(write_layer(gdf, tempfile.mkdtemp() + "/zd.gpkg"))
    >>> info["driver"], info["crs"], info["feature_count"], info["fields"], info["zone_info"]["zone"]
    ('GPKG', 'EPSG:4549', 1, {'ZDDM': 'object'}, 40)
    """
    path = Path(path)
    layers = _list_layers(path)
    if is_parquet(path):
        info = parquet_info(path)
        crs = info["crs"]
        zi = zone_info(crs) if crs is not None else None
        return {"path": str(path), **info, "crs": _crs_text(crs) if crs is not None else None,
                "crs_name": crs.name if crs is not None else None, "zone_info": asdict(zi) if zi else None}
    spatial = [n for n, t in layers if t is not None]
    name = _pick_layer(path, layer) if layer is not None or len(spatial) <= 1 else spatial[0]
    enc, enc_source, note = resolve_encoding(path, None, repair=True)
    info = _read_info(path, name, encoding=enc, force_feature_count=True, force_total_bounds=True)
    crs = CRS.from_user_input(info["crs"]) if info.get("crs") else None
    zi = zone_info(crs) if crs is not None else None
    return {
        "path": str(path), "driver": info["driver"],
        "layers": [{"name": n, "geometry_type": t} for n, t in layers], "layer": name,
        "crs": _crs_text(crs) if crs is not None else None, "crs_name": crs.name if crs is not None else None,
        "zone_info": asdict(zi) if zi is not None else None, "geometry_type": info.get("geometry_type"),
        "feature_count": int(info["features"]), "fields": dict(zip(info["fields"].tolist(), info["dtypes"].tolist())),
        "bounds": tuple(float(v) for v in info["total_bounds"]) if info.get("total_bounds") is not None else None,
        "encoding": enc or str(info.get("encoding") or "utf-8").lower(), "encoding_source": enc_source,
        "encoding_note": str(note) if note else None,
    }


# ------------------------------------------------------------------------------------ writing
_SHP_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".fix", ".aih", ".ain",
                 ".atx", ".shp.xml")


def write_layer(
    gdf: gpd.GeoDataFrame,
    path: str | os.PathLike,
    *,
    layer: str | None = None,
    driver: str | None = None,
    encoding: str = "UTF-8",
) -> Path:
    """Write a layer atomically: to temporary files in the target folder, then ``os.replace``.

    A reader never sees a half-written file, a failed write leaves the old file as it was and no
    temporary files behind, and writing the same layer again gives the same file. Shapefiles are
    written under a temporary name and each sidecar renamed in turn (``.shp`` last); stale
    sidecars of the old file (spatial indexes, ``.prj``) are removed, and a ``.cpg`` naming the
    encoding is always written. Writing one layer of a GeoPackage keeps its other layers. The
    index and ``attrs`` are not written.

    Parameters
    ----------
    gdf
        The layer; it must have a CRS.
    path
        Target file (``.shp``, ``.gpkg``, ``.geojson``, ``.fgb``, ``.gdb`` folder, ``.parquet`` …).
    layer
        Layer name in a multi-layer format (default: the file stem).
    driver
        GDAL driver; by default from the extension.
    encoding
        Attribute encoding of shapefiles: ``"UTF-8"`` (default) or ``"GBK"``/``"GB18030"`` for
        software that expects them. Other formats are always UTF-8.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, os, geopandas as gpd, shapely
    >>> gdf = gpd.GeoDataFrame({"XMMC": ["某某项目"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=3857)
    >>> d = tempfile.mkdtemp()
    >>> p = write_layer(gdf, os.path.join(d, "pz.shp"), encoding="GBK")
    >>> sorted(os.listdir(d)), open(os.path.join(d, "pz.cpg")).read()
    (['pz.cpg', 'pz.dbf', 'pz.prj', 'pz.shp', 'pz.shx'], 'GBK')
    """
    path = Path(path)
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise DataError(f"write_layer needs a GeoDataFrame, got {type(gdf).__name__}", path=path)
    if gdf.crs is None:
        raise CRSError("refusing to write a layer without CRS", path=path, hint="set one with gdf.set_crs(...)")
    driver = driver or _DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise FormatError(f"cannot tell the format from the extension {path.suffix!r}", path=path,
                          hint=f"use one of {', '.join(_DRIVERS)} or pass driver=")
    codec = codec_name(encoding, path)
    if driver != _SHP and codec != "utf-8":
        raise FormatError(f"{driver} stores text as UTF-8 only, not {encoding}", path=path,
                          hint="write a shapefile for GBK attributes, or drop encoding=")
    if driver == _SHP:
        _check_encodable(gdf, codec, path)
    rings = np.asarray(gdf.geom_type == "LinearRing")
    if rings.any():  # GDAL has no ring type (pyogrio crashes on them): a closed LineString is the same
        gdf = gdf.copy()
        gdf.loc[rings, gdf.geometry.name] = shapely.linestrings(
            [shapely.get_coordinates(g, include_z=g.has_z) for g in gdf.geometry[rings]])
    if driver == PARQUET:
        return write_parquet_layer(gdf, path, layer=layer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}"
    kw: dict[str, Any] = {"driver": driver}
    if driver == _SHP:
        kw["encoding"] = codec.upper()
    elif driver in ("GPKG", "OpenFileGDB") or layer is not None:
        kw["layer"] = layer or path.stem
    try:
        if driver in ("GPKG", "OpenFileGDB") and path.exists() and layer is not None:
            # write into a copy to keep the file's other layers
            shutil.copytree(path, tmp) if path.is_dir() else shutil.copy2(path, tmp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # GDAL notes on field-name truncation
            pyogrio.write_dataframe(gdf, tmp, **kw)
        if driver == _SHP:
            _replace_shapefile(tmp, path, codec)
        elif tmp.is_dir():
            _replace_dir(tmp, path)
        else:
            os.replace(tmp, path)
    except RuntimeError as exc:
        raise FormatError(f"cannot write the layer ({exc})", path=path) from exc
    finally:
        for leftover in path.parent.glob(f"{glob.escape(tmp.stem)}*"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    return path


def _check_encodable(gdf: gpd.GeoDataFrame, codec: str, path: Path) -> None:
    """EncodingError naming the column and feature of the first text the codec cannot write."""
    if codec == "utf-8":
        return
    for col in gdf.columns:
        try:
            str(col).encode(codec)
        except UnicodeEncodeError as exc:
            raise EncodingError(f"column name {col!r} cannot be written as {codec}", path=path,
                                hint="rename the column or write with encoding='UTF-8'") from exc
        if col == gdf.geometry.name or not (gdf[col].dtype == object or pd.api.types.is_string_dtype(gdf[col])):
            continue
        for value in pd.unique(gdf[col]):  # each distinct text once
            if isinstance(value, str):
                try:
                    value.encode(codec)
                except UnicodeEncodeError as exc:
                    fid = gdf.index[(gdf[col] == value).to_numpy()][0]
                    raise EncodingError(f"{col}={value!r} cannot be written as {codec}", path=path, feature=fid,
                                        hint="write with encoding='UTF-8' (or 'GB18030')") from exc


def _replace_shapefile(tmp: Path, path: Path, codec: str) -> None:
    tmp.with_suffix(".cpg").write_text({"utf-8": "UTF-8", "gbk": "GBK"}.get(codec, codec.upper()), "ascii")
    written = {ext: tmp.with_suffix(ext) for ext in _SHP_SIDECARS if tmp.with_suffix(ext).exists()}
    for ext in _SHP_SIDECARS:  # stale sidecars of the old file would describe the wrong data
        old = path.with_suffix(ext)
        if ext not in written and old.exists():
            old.unlink()
    for ext in sorted(written, key=lambda e: e == ".shp"):
        os.replace(written[ext], path.with_suffix(ext))


def _replace_dir(tmp: Path, path: Path) -> None:
    if path.exists():  # os.replace cannot replace a non-empty folder: swap it out first
        old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old)
    else:
        os.replace(tmp, path)
