"""Output of the sample county: GeoTIFF, GeoPackage, GBK shapefile, land-boundary TXT, CSV, JSON.

Every file is written under a temporary name in its folder and renamed into place, and written
byte-identically for the same inputs: GeoTIFFs carry no timestamp, GeoPackages get a fixed
``last_change`` (GDAL's ``OGR_CURRENT_DATE``), shapefiles a fixed DBF date.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio

from .._atomic import atomic_path, atomic_write_text

__all__ = [
    "gtiff_profile",
    "write_gpkg",
    "write_shapefile",
    "write_csv",
    "write_json",
    "FIXED_DATE",
]

FIXED_DATE = "2024-01-01T00:00:00.000Z"
_SHP_SIDECARS = (".dbf", ".shx", ".prj", ".cpg", ".shp")


def gtiff_profile(frame, compress: str = "deflate", count: int = 4) -> dict[str, Any]:
    """Creation profile of the scenes: tiled 512², predictor, pixel-interleaved, nodata 0."""
    profile = {
        "driver": "GTiff",
        "width": frame.width,
        "height": frame.height,
        "count": count,
        "dtype": "uint16",
        "crs": frame.crs.to_wkt(),
        "transform": frame.transform,
        "nodata": 0,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "interleave": "pixel",
        "bigtiff": "IF_SAFER",
    }
    if compress and compress.lower() != "none":
        profile.update(compress=compress.lower(), predictor=2)
        if compress.lower() == "deflate":
            profile["zlevel"] = 1  # noisy imagery: level 1 is as small as 4-6 here, and faster
    return profile


@contextlib.contextmanager
def _fixed_ogr_date() -> Iterator[None]:
    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def write_gpkg(gdf: gpd.GeoDataFrame, path: str | os.PathLike, layer: str) -> Path:
    """One-layer GeoPackage, atomic (``onemap.ingest.vector.write_layer``) and deterministic."""
    from ..ingest.vector import write_layer

    path = Path(path)
    # a fresh file under a temporary name, then renamed over the old one: no stale layers carried
    # over (a rewritten GeoPackage is not byte-identical to a fresh one), old file intact on failure
    with atomic_path(path) as tmp, _fixed_ogr_date():
        write_layer(gdf.reset_index(drop=True), tmp, layer=layer)
    return path


def write_shapefile(gdf: gpd.GeoDataFrame, path: str | os.PathLike, encoding: str = "GBK") -> Path:
    """Shapefile with attributes in *encoding* and a ``.cpg``; sidecars renamed into place,
    ``.shp`` last.

    (``write_layer`` cannot fix the DBF header date, so the date would change between runs.)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        pyogrio.write_dataframe(
            gdf.reset_index(drop=True),
            tmp,
            driver="ESRI Shapefile",
            encoding=encoding,
            layer_options={"DBF_DATE_LAST_UPDATE": FIXED_DATE[:10]},
        )
        tmp.with_suffix(".cpg").write_text(encoding.upper(), "ascii")
        for ext in _SHP_SIDECARS:
            if tmp.with_suffix(ext).exists():
                os.replace(tmp.with_suffix(ext), path.with_suffix(ext))
    finally:
        for ext in _SHP_SIDECARS:
            if tmp.with_suffix(ext).exists():
                tmp.with_suffix(ext).unlink()
    return path


def write_csv(gdf: gpd.GeoDataFrame, path: str | os.PathLike) -> Path:
    """CSV (UTF-8) with the geometry as WKT in the last column ``wkt``."""
    df = gdf.drop(columns=gdf.geometry.name).copy()
    df["wkt"] = gdf.geometry.to_wkt(rounding_precision=3)
    atomic_write_text(path, df.to_csv(index=False, lineterminator="\n"))
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    atomic_write_text(
        path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n"
    )
    return Path(path)


@contextlib.contextmanager
def gtiff_target(path: str | os.PathLike) -> Iterator[Path]:
    """Temporary path for a GeoTIFF, renamed to *path* when the block exits without error."""
    with atomic_path(path) as tmp:
        yield tmp
