"""The CRS of a vector layer: declared or given, plausible for its coordinates, the target.

A missing CRS, projected coordinates under a geographic CRS, zone-prefixed Gauss-Kruger eastings
under a CRS without the prefix (or the reverse, or the wrong zone) are
:class:`~onemap.errors.CRSError` with the CRS to use in the hint (in Python and TOML words).
Rasters share the plausibility rules (:func:`check_coordinates`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

from ..crs import as_crs, gk_crs, infer_zone, is_prefixed, zone_info
from ..errors import CRSError, Fix
from ._dbf import sidecar


def crs_text(crs: CRS) -> str:
    """``"EPSG:4527"`` when the CRS was given or read that way, else its WKT (no slow authority
    search)."""
    return crs.srs if crs.srs.upper().startswith("EPSG:") else crs.to_wkt()


def set_layer_crs(gdf: gpd.GeoDataFrame, crs: Any, src: str,
                  attrs: dict[str, Any]) -> gpd.GeoDataFrame:
    """*gdf* with the CRS given (the declared one kept in *attrs*); no CRS at all is an error."""
    if crs is not None:
        given = as_crs(crs)
        if gdf.crs is not None and not given.equals(gdf.crs, ignore_axis_order=True):
            attrs["crs_declared"] = crs_text(gdf.crs)
        return gdf.set_crs(given, allow_override=True)
    if gdf.crs is None:
        prj = sidecar(Path(src), ".prj") if src.lower().endswith(".shp") else None
        if prj is not None:
            fix = f"replace {prj.name}"
        elif src.lower().endswith(".shp"):
            fix = "add a .prj file beside the .shp"
        else:
            fix = "set the CRS in the file"
        unread = f": {prj.name} holds none GDAL can read" if prj else ""
        raise CRSError("layer has no CRS" + unread, path=src,
                       hint=Fix("pass crs= (e.g. crs=4527 for CGCS2000 3-degree Gauss-Kruger "
                                f"zone 39, or crs=onemap.crs.gk_crs(zone)), or {fix}",
                                toml="set crs = 4527 (the layer's EPSG code; 4527 is CGCS2000 "
                                     f"3-degree zone 39) under [{{table}}], or {fix}"))
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


def check_layer_coordinates(gdf: gpd.GeoDataFrame, src: str, origin: str) -> None:
    """Raise CRSError when the coordinates cannot be in the layer's CRS."""
    check_coordinates(gdf.crs, shapely.bounds(np.asarray(gdf.geometry.values)), src, origin)


def check_coordinates(crs: CRS, b: np.ndarray, src: str, origin: str) -> None:
    """Raise CRSError when boxes *b* (``(n, 4)``: xmin, ymin, xmax, ymax) cannot be in *crs*:
    projected coordinates under a geographic CRS, zone-prefixed eastings under a CRS without the
    prefix (or the reverse, or another zone). Shared by layers and rasters."""
    b = b[np.isfinite(b).all(axis=1)]
    if len(b) == 0:
        return
    # no WKT in a message
    name = crs.srs if crs.srs.upper().startswith("EPSG:") else repr(crs.name)
    bounds = (b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())
    xs = np.concatenate([b[:, 0], b[:, 2]])
    where = f"x {bounds[0]:.6g}..{bounds[2]:.6g}, y {bounds[1]:.6g}..{bounds[3]:.6g}"
    zi = zone_info(crs)
    if is_prefixed(xs):
        zone = infer_zone(easting=float(xs[0]), width=None)
        width = 6 if zone <= 23 else 3
        datum = zi.datum if zi is not None and zi.datum else "CGCS2000"
        args = (f"{zone}" + (", width=6" if width == 6 else "")
                + (f", datum='{datum}'" if datum != "CGCS2000" else ""))
        code = crs_text(gk_crs(zone, width=width, datum=datum))
        hint = Fix(f"pass crs=onemap.crs.gk_crs({args}) ({code}) if the coordinates are "
                   "zone-prefixed Gauss-Kruger",
                   toml=f"set crs = {_toml_crs(code)} under [{{table}}] if the coordinates are "
                        "zone-prefixed Gauss-Kruger")
        if zi is not None and zi.prefixed:
            if zi.zone != zone:
                raise CRSError(f"eastings carry zone prefix {zone} but the CRS {name} ({origin}) "
                               f"is zone {zi.zone}", path=src, hint=hint)
            return
        if crs.is_geographic or not _plausible(crs, bounds):
            raise CRSError("coordinates look like zone-prefixed Gauss-Kruger eastings of zone "
                           f"{zone} ({where}) but the CRS {name} ({origin}) is not a prefixed "
                           "Gauss-Kruger zone", path=src, hint=hint)
        return
    if crs.is_geographic:
        if bounds[0] < -180 or bounds[2] > 360 or bounds[1] < -90 or bounds[3] > 90:
            raise CRSError(f"coordinates look projected ({where}) but the CRS {name} ({origin}) "
                           "is geographic (longitude/latitude)", path=src,
                           hint=Fix("pass crs= with the projected CRS the coordinates are in "
                                    "(e.g. crs=4527 for CGCS2000 Gauss-Kruger zone 39, or the UTM "
                                    "zone), or correct the file's CRS",
                                    toml="set crs = the projected CRS the coordinates are in "
                                         "under [{table}] (e.g. crs = 4527 for CGCS2000 "
                                         "Gauss-Kruger zone 39, or the UTM zone), or correct the "
                                         "file's CRS"))
        return
    if zi is not None and zi.prefixed and bounds[2] < 1_000_000:
        free = gk_crs(zi.zone, width=zi.width or 3, prefix=False, datum=zi.datum or "CGCS2000")
        raise CRSError(f"eastings ({where}) carry no zone prefix but the CRS {name} ({origin}) is "
                       f"the zone-prefixed Gauss-Kruger zone {zi.zone}", path=src,
                       hint=Fix(f"pass crs=onemap.crs.gk_crs({zi.zone}, prefix=False) "
                                f"({crs_text(free)})",
                                toml=f"set crs = {_toml_crs(crs_text(free))} under [{{table}}]"))


def target_crs(to_crs: Any, frame: Any) -> CRS | None:
    """The CRS to reproject to: *to_crs* or the frame's (both given: they must agree)."""
    target = None if to_crs is None else as_crs(to_crs)
    if frame is not None:
        fcrs = as_crs(frame.crs)
        if target is not None and not target.equals(fcrs, ignore_axis_order=True):
            raise CRSError(f"to_crs={crs_text(target)} and frame CRS {crs_text(fcrs)} disagree",
                           hint="pass only one of to_crs= and frame=")
        target = fcrs
    return target
