"""Vector layers: read any GDAL vector file into a checked, normalised GeoDataFrame.

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

The index of the result is the source feature id (``fid``), the key of every report. Opening
(:mod:`onemap.ingest._layer_open`), the CRS checks (:mod:`onemap.ingest._layer_crs`) and atomic
writing (:func:`write_layer`, :mod:`onemap.ingest._layer_write`) live in their own modules.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
from pyproj import CRS

from ..crs import zone_info
from ..errors import DataError, EncodingError, Fix, FormatError, Repair, report_repairs
from ._dbf import check_prj, resolve_encoding
from ._kinds import KINDS, find_column, normalize_columns
from ._layer_crs import check_layer_coordinates, crs_text, set_layer_crs, target_crs
from ._layer_geometry import check_geometries
from ._layer_open import DRIVERS, list_layers, pick_layer, read_info
from ._layer_write import write_layer
from ._parquet import PARQUET, is_parquet, parquet_info, read_parquet_layer

__all__ = ["read_layer", "write_layer", "layer_info", "KINDS"]

# an empty layer under a survey: the TOML accepts it for approvals (a county that approved nothing)
_EMPTY_TOML = ("check the file under [{table}] path (an approvals layer of a county that approved "
               "nothing is accepted with allow_empty = true under [layers.approvals])")


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
    >>> tbs = gpd.GeoDataFrame({"DLBM": ["0101", "0702", "9999"],
    ...                         "DLMC": ["水田", "农村宅基地", "?"]},
    ...     geometry=[shapely.box(39_500_000 + 10 * i, 3_300_000, 39_500_010 + 10 * i, 3_300_010)
    ...               for i in range(3)], crs=4527)
    >>> path = write_layer(tbs, tempfile.mkdtemp() + "/dltb.shp", encoding="GBK")
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # the unknown code 9999 is reported by a warning too
    ...     dltb = read_layer(path, "landuse")
    >>> for row in dltb[["landuse_code", "landuse_group", "cultivated", "landuse_name"]].values:
    ...     print(row.tolist())
    ['0101', 'agricultural', True, '水田']
    ['0702', 'construction', False, '农村宅基地']
    ['9999', 'unknown', False, '?']
    >>> dltb.attrs["encoding"], dltb.attrs["unknown_codes"], dltb.crs.to_epsg()
    ('gbk', {'9999': 1}, 4527)
    """
    src = str(path)
    if kind not in KINDS:
        raise DataError(f"unknown layer kind {kind!r}", path=src,
                        hint=f"use one of {', '.join(KINDS)}")
    from ..db.source import is_database_url

    if is_database_url(path):  # PostGIS: fetched by onemap.db, then checked like a file
        from ..db.read import fetch_layer

        column = None if layer is None else str(layer)  # the geometry column, when several
        gdf, db_attrs = fetch_layer(src, table=table, geometry=column, where=where, bbox=bbox,
                                    crs=crs, bbox_crs=to_crs if frame is None else frame.crs,
                                    frame=frame)
        return _normalise(gdf, kind, db_attrs["source"], {"kind": kind, **db_attrs}, [], crs=None,
                          to_crs=to_crs, frame=frame, repair=repair, allow_empty=allow_empty,
                          columns=columns, origin=f"SRID {db_attrs['srid']} of the table")
    if table is not None or where is not None:  # bbox= works for files too (in their own CRS)
        raise DataError("table= and where= apply to database sources only", path=src,
                        hint="pass a postgresql:// URL, or leave them out for a file")
    layer = pick_layer(path, layer)
    repairs: list[Repair] = []
    enc, enc_source, enc_repair = resolve_encoding(Path(path), encoding, repair)
    suffix = Path(path).suffix.lower()  # .json may be GeoJSON or ESRIJSON: ask GDAL
    known = suffix in DRIVERS and suffix != ".json"
    driver = DRIVERS[suffix] if known else read_info(path, layer, encoding=enc)["driver"]
    repairs += [enc_repair] if enc_repair else []
    try:
        if driver == PARQUET:
            gdf = read_parquet_layer(path, bbox=bbox, encoding=encoding)
        else:
            gdf = pyogrio.read_dataframe(path, layer=layer, encoding=enc, fid_as_index=True,
                                         bbox=bbox)
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start:exc.end + 3]
        raise EncodingError(f"attributes do not decode as {enc} ({exc.reason}: {bad!r})", path=src,
                            hint=Fix("pass the right encoding= (e.g. encoding='gb18030'); a value "
                                     "cut off in the middle of a character must be fixed in the "
                                     "source",
                                     toml='set encoding = "gb18030" (the right one) under '
                                          "[{table}]; a value cut off in the middle of a "
                                          "character must be fixed in the source")) from exc
    except RuntimeError as exc:  # pyogrio's errors
        check_prj(Path(path), crs)
        raise FormatError(f"cannot read layer {layer!r} ({exc})", path=src,
                          hint="check that the file is complete and GDAL can read it "
                               "(ogrinfo)") from exc
    if not gdf.index.is_unique:
        gdf = gdf.reset_index(drop=True).rename_axis("fid")
    if gdf.index.name is None:
        gdf = gdf.rename_axis("fid")
    if len(gdf) == 0 and not allow_empty:
        raise DataError(f"layer {layer!r} has no features", path=src,
                        hint=Fix("check the file or filter, or pass allow_empty=True",
                                 toml=_EMPTY_TOML))
    attrs: dict[str, Any] = {"kind": kind, "source": src, "layer": layer, "driver": driver,
                             "encoding": enc or "utf-8", "encoding_source": enc_source}
    return _normalise(gdf, kind, src, attrs, repairs, crs=crs, to_crs=to_crs, frame=frame,
                      repair=repair, allow_empty=allow_empty, columns=columns)


def _normalise(gdf: gpd.GeoDataFrame, kind: str, src: str, attrs: dict[str, Any],
               repairs: list[Repair], *, crs: Any, to_crs: Any, frame: Any, repair: bool,
               allow_empty: bool, columns: dict[str, str] | None,
               origin: str = "declared by the file") -> gpd.GeoDataFrame:
    """The checks and columns every layer gets, whatever it was read from (files, PostGIS)."""
    gdf = set_layer_crs(gdf, crs, src, attrs)
    check_layer_coordinates(gdf, src, "given with crs=" if crs is not None else origin)
    spec = KINDS[kind]
    id_col = find_column(gdf.columns, spec.columns[spec.id_column]) if spec.id_column else None
    gdf = check_geometries(gdf, spec, src, id_col, repair, repairs)
    if len(gdf) == 0 and not allow_empty:
        raise DataError(f"layer {attrs['layer']!r} has no features left after dropping null "
                        "geometries", path=src,
                        hint=Fix("check the geometries in a GIS, or pass allow_empty=True",
                                 toml=_EMPTY_TOML))
    new_cols, info = normalize_columns(gdf, kind, src, columns)
    repairs += info.pop("repairs", [])
    gdf = gdf.assign(**new_cols)
    gdf = gdf[[c for c in gdf.columns if c != gdf.geometry.name] + [gdf.geometry.name]]
    attrs.update(info)
    target = target_crs(to_crs, frame)
    if target is not None and not target.equals(gdf.crs, ignore_axis_order=True):
        attrs["reprojected"] = {"from": crs_text(gdf.crs), "to": crs_text(target)}
        gdf = gdf.to_crs(target)
    attrs["crs"] = crs_text(gdf.crs)
    attrs["repairs"] = report_repairs(repairs, stacklevel=4)
    gdf.attrs.update(attrs)
    return gdf


def layer_info(path: str | os.PathLike, layer: str | int | None = None) -> dict[str, Any]:
    """Describe a vector layer without reading its features (for ``onemap info``).

    Returns a dict with ``path``, ``driver``, ``layers`` (name and geometry type of each),
    ``layer`` (the one described: *layer*, else the only or first spatial one), ``crs``
    (``"EPSG:4527"`` or WKT, ``None`` if missing), ``crs_name``, ``zone_info`` (dict, for
    Gauss-Kruger CRSs), ``geometry_type``, ``feature_count``, ``fields`` (name -> dtype),
    ``bounds``, ``encoding``, ``encoding_source`` (``argument``/``cpg``/``detected``/``format``)
    and ``encoding_note`` (a wrong ``.cpg``).

    Examples
    --------
    >>> import tempfile, geopandas as gpd, shapely
    >>> gdf = gpd.GeoDataFrame({"ZDDM": ["A1"]},
    ...                        geometry=[shapely.box(500_000, 3e6, 500_010, 3_000_010)], crs=4549)
    >>> info = layer_info(write_layer(gdf, tempfile.mkdtemp() + "/zd.gpkg"))
    >>> (info["driver"], info["crs"], info["feature_count"], info["fields"],
    ...  info["zone_info"]["zone"])
    ('GPKG', 'EPSG:4549', 1, {'ZDDM': 'object'}, 40)
    """
    path = Path(path)
    layers = list_layers(path)
    if is_parquet(path):
        info = parquet_info(path)
        crs = info["crs"]
        zi = zone_info(crs) if crs is not None else None
        return {"path": str(path), **info, "crs": crs_text(crs) if crs is not None else None,
                "crs_name": crs.name if crs is not None else None,
                "zone_info": asdict(zi) if zi else None}
    spatial = [n for n, t in layers if t is not None]
    name = pick_layer(path, layer) if layer is not None or len(spatial) <= 1 else spatial[0]
    enc, enc_source, note = resolve_encoding(path, None, repair=True)
    info = read_info(path, name, encoding=enc, force_feature_count=True,
                     force_total_bounds=True)
    crs = CRS.from_user_input(info["crs"]) if info.get("crs") else None
    zi = zone_info(crs) if crs is not None else None
    return {
        "path": str(path), "driver": info["driver"],
        "layers": [{"name": n, "geometry_type": t} for n, t in layers], "layer": name,
        "crs": crs_text(crs) if crs is not None else None,
        "crs_name": crs.name if crs is not None else None,
        "zone_info": asdict(zi) if zi is not None else None,
        "geometry_type": info.get("geometry_type"),
        "feature_count": int(info["features"]),
        "fields": dict(zip(info["fields"].tolist(), info["dtypes"].tolist(), strict=True)),
        "bounds": (tuple(float(v) for v in info["total_bounds"])
                   if info.get("total_bounds") is not None else None),
        "encoding": enc or str(info.get("encoding") or "utf-8").lower(),
        "encoding_source": enc_source,
        "encoding_note": str(note) if note else None,
    }
