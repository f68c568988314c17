"""Small writers shared by the ``cases_*`` modules: every corpus input is generated, never stored.

Layers are a handful of 10 m squares in CGCS2000 3-degree Gauss-Kruger zone 39 (EPSG:4527, zone
prefix in the easting); rasters are 64 x 64 pixels of 2 m over the same place.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import rasterio
import shapely
from affine import Affine

X0, Y0 = 39_500_000.0, 3_300_000.0  # zone-prefixed easting of zone 39, northing ~29.8°N
RES = 2.0
SIZE = 64


def squares(n: int, x0: float = X0, y0: float = Y0, size: float = 10.0) -> list:
    """*n* squares of *size* metres in a row, 20 m apart."""
    return [shapely.box(x0 + 20 * i, y0, x0 + 20 * i + size, y0 + size) for i in range(n)]


def layer(attrs: dict[str, list] | None = None, geoms: Sequence[Any] | None = None, crs: Any = 4527,
          n: int = 3) -> gpd.GeoDataFrame:
    """A GeoDataFrame of *geoms* (default: *n* squares) with *attrs*."""
    geoms = list(geoms) if geoms is not None else squares(n)
    return gpd.GeoDataFrame(attrs or {"BSM": list(range(1, len(geoms) + 1))}, geometry=geoms, crs=crs)


def write_vector(gdf: gpd.GeoDataFrame, path: Path, **kw: Any) -> Path:
    """Write with pyogrio (not onemap's writer: the corpus must not depend on the code it checks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pyogrio.write_dataframe(gdf, path, **kw)
    return path


def transform(x0: float = X0, y0: float = Y0 + SIZE * RES, res: float = RES) -> Affine:
    return Affine(res, 0, x0, 0, -res, y0)


def pixels(count: int = 4, size: int = SIZE, seed: int = 0, low: int = 100, high: int = 3000) -> np.ndarray:
    """Random uint16 bands, never 0 (0 is the nodata value of the corpus rasters)."""
    return np.random.default_rng(seed).integers(low, high, (count, size, size)).astype("uint16")


def write_tif(path: Path, data: np.ndarray, *, crs: Any = "EPSG:4527", transform_: Affine | None = None,
              nodata: float | None = 0, tiled: bool = False, compress: str | None = None,
              block: int = 16) -> Path:
    """A GeoTIFF of *data* (bands, rows, cols); ``crs=None`` writes none, ``transform_=Affine.identity()``
    none either."""
    kw: dict[str, Any] = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1],
                          "count": data.shape[0], "dtype": str(data.dtype), "transform": transform_ or transform(),
                          "nodata": nodata}
    if crs is not None:
        kw["crs"] = crs
    if tiled:
        kw.update(tiled=True, blockxsize=block, blockysize=block)
    if compress:
        kw["compress"] = compress
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NotGeoreferencedWarning for the deliberately bad ones
        with rasterio.open(path, "w", **kw) as dst:
            dst.write(data)
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def survey_inputs(folder: Path) -> dict[str, Path]:
    """A minimal consistent survey input set: two 4-band GF-2-like scenes and a land-use layer."""
    before = write_tif(folder / "GF2_20240901.tif", pixels(seed=1))
    after = write_tif(folder / "GF2_20250901.tif", pixels(seed=2))
    dltb = write_vector(layer({"DLBM": ["0101", "0702", "1003"]}), folder / "dltb.gpkg")
    return {"before": before, "after": after, "landuse": dltb}


def survey_toml(folder: Path, *, frame: str = "zone = 39\nres = 2.0", extra: str = "",
                before: str = "GF2_20240901.tif", landuse: str = "dltb.gpkg") -> str:
    """The text of a valid survey TOML over :func:`survey_inputs` (pieces replaceable for the cases)."""
    return (f'[survey]\nname = "corpus"\noutput = "out"\n\n[frame]\n{frame}\n\n'
            f'[scenes.before]\npath = "{before}"\nsensor = "gf2"\n\n'
            f'[scenes.after]\npath = "GF2_20250901.tif"\nsensor = "gf2"\n\n'
            f'[layers.landuse]\npath = "{landuse}"\n{extra}')
