"""Writing a vector layer atomically (temporary files in the target folder, then renames)."""

from __future__ import annotations

import glob
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..errors import CRSError, DataError, EncodingError, FormatError
from ._dbf import codec_name
from ._layer_open import DRIVERS, SHP
from ._parquet import PARQUET, write_parquet_layer

_SHP_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".fix", ".aih",
                 ".ain", ".atx", ".shp.xml")


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
        raise CRSError("refusing to write a layer without CRS", path=path,
                       hint="set one with gdf.set_crs(...)")
    driver = driver or DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise FormatError(f"cannot tell the format from the extension {path.suffix!r}", path=path,
                          hint=f"use one of {', '.join(DRIVERS)} or pass driver=")
    codec = codec_name(encoding, path)
    if driver != SHP and codec != "utf-8":
        raise FormatError(f"{driver} stores text as UTF-8 only, not {encoding}", path=path,
                          hint="write a shapefile for GBK attributes, or drop encoding=")
    if driver == SHP:
        _check_encodable(gdf, codec, path)
    rings = np.asarray(gdf.geom_type == "LinearRing")
    # GDAL has no ring type (pyogrio crashes on them): a closed LineString is the same
    if rings.any():
        gdf = gdf.copy()
        gdf.loc[rings, gdf.geometry.name] = shapely.linestrings(
            [shapely.get_coordinates(g, include_z=g.has_z) for g in gdf.geometry[rings]])
    if driver == PARQUET:
        return write_parquet_layer(gdf, path, layer=layer)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.stem}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}{path.suffix}"
    kw: dict[str, Any] = {"driver": driver}
    if driver == SHP:
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
        if driver == SHP:
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
        text = gdf[col].dtype == object or pd.api.types.is_string_dtype(gdf[col])
        if col == gdf.geometry.name or not text:
            continue
        for value in pd.unique(gdf[col]):  # each distinct text once
            if isinstance(value, str):
                try:
                    value.encode(codec)
                except UnicodeEncodeError as exc:
                    fid = gdf.index[(gdf[col] == value).to_numpy()][0]
                    raise EncodingError(f"{col}={value!r} cannot be written as {codec}",
                                        path=path, feature=fid,
                                        hint="write with encoding='UTF-8' (or 'GB18030')") from exc


def _replace_shapefile(tmp: Path, path: Path, codec: str) -> None:
    cpg = {"utf-8": "UTF-8", "gbk": "GBK"}.get(codec, codec.upper())
    tmp.with_suffix(".cpg").write_text(cpg, "ascii")
    written = {ext: tmp.with_suffix(ext) for ext in _SHP_SIDECARS
               if tmp.with_suffix(ext).exists()}
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
