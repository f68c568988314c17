"""CRS of a land-boundary TXT file: header 坐标系/几度分带/带号 against the zone-prefixed eastings.

The coordinates are the stronger evidence: a prefix that disagrees with 带号 wins (reported as a
repair), eastings from different zones in one file are an error.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer

from ..crs import as_crs, infer_zone, zone_info
from ..errors import CRSError, OnemapWarning, Repair
from . import _boundary_txt_common as fmt

_ZONE_WIDTH = {**{z: 6 for z in range(13, 24)}, **{z: 3 for z in range(25, 46)}}


def _easting_like(v: np.ndarray) -> np.ndarray:
    zone = np.floor(v / 1e6)
    prefixed = (((zone >= 13) & (zone <= 23)) | ((zone >= 25) & (zone <= 45))) & (
        v - zone * 1e6 > 0
    )
    return prefixed | ((v > 0) & (v < 1e6))


def _northing_like(v: np.ndarray) -> np.ndarray:
    return (v >= 1e6) & (v < 1e7)  # China lies at northings 1.9e6 .. 5.9e6 m


def _lines(lines, limit: int = 5) -> str:
    lines = list(lines)
    head = ", ".join(str(n) for n in lines[:limit])
    return head + (f" (+{len(lines) - limit} more)" if len(lines) > limit else "")


def swapped_points(parcels: list, path: Path, repairs: list[Repair]) -> None:
    """Swap back points written as (easting, northing): X looks like an easting, Y a northing."""
    xs = np.array([p[2] for parcel in parcels for p in parcel.points])
    ys = np.array([p[3] for parcel in parcels for p in parcel.points])
    swap = _easting_like(xs) & _northing_like(ys)
    if not swap.any():
        return
    lines, k = [], 0
    for parcel in parcels:
        n = len(parcel.points)
        for i in np.flatnonzero(swap[k:k + n]):
            name, ring, x, y, line = parcel.points[i]
            parcel.points[i] = (name, ring, y, x, line)
            lines.append(line)
        k += n
    repairs.append(Repair(str(path), f"line{'s' if len(lines) > 1 else ''} {_lines(lines)}",
                          "X and Y swapped (X looks like an easting, Y like a northing)",
                          "swapped back to X = northing, Y = easting"))


def _prefix_zone(eastings: np.ndarray, lines: np.ndarray, path: Path, explicit: bool) -> int | None:
    """The zone all eastings carry as prefix, ``None`` when unprefixed; CRSError when mixed."""
    big = eastings >= 1e6
    if not big.any():
        return None
    if not big.all():
        odd = (
            lines[~big] if (~big).sum() <= big.sum() else lines[big]
        )  # the minority is most likely wrong
        raise CRSError(
            f"some eastings carry a zone prefix (line {lines[big][0]}) and others do not "
            f"(line {lines[~big][0]})",
            path=path,
            line=int(odd[0]),
            hint="write all eastings of a file in one form (with or without the zone number)",
        )
    zones = np.floor(eastings / 1e6).astype(np.int64)
    plausible = (((zones >= 13) & (zones <= 23)) | ((zones >= 25) & (zones <= 45))) & (
        eastings - zones * 1e6 > 0
    )
    if not plausible.all():
        if explicit:
            return None
        i = int(np.flatnonzero(~plausible)[0])
        raise CRSError(
            f"easting {eastings[i]} has no Gauss-Kruger zone prefix (leading digits {zones[i]})",
            path=path,
            line=int(lines[i]),
            hint="check that Y is the easting; pass crs= for coordinates in another system",
        )
    distinct = np.unique(zones)
    if len(distinct) > 1:
        parts = "; ".join(
            f"zone {z}: line{'s' if (zones == z).sum() > 1 else ''} {_lines(lines[zones == z], 3)}"
            for z in distinct
        )
        rarest = distinct[np.argmin([(zones == z).sum() for z in distinct])]
        raise CRSError(
            f"eastings from {len(distinct)} different zones in one file ({parts})",
            path=path,
            line=int(lines[zones == rarest][0]),
            hint="split the file by zone, or reproject the parcels into one zone",
        )
    return int(distinct[0])


def _degrees(header: dict[str, str], xs: np.ndarray, ys: np.ndarray) -> bool:
    unit = header.get("计量单位", "")
    if "度" in unit or "deg" in unit.lower():
        return True
    if unit.strip():
        return False
    # no unit: latitude (X) and longitude (Y) inside China's box
    return bool(((xs > 3) & (xs < 54) & (ys > 73) & (ys < 136)).all())


def resolve_crs(
    header: dict[str, str],
    header_lines: dict[str, int],
    parcels: list,
    path: Path,
    repairs: list[Repair],
    *,
    crs: Any = None,
    zone: int | None = None,
) -> tuple[CRS, str]:
    """(CRS, where it came from) for the points of *parcels* (after :func:`swapped_points`)."""
    xs = np.array([p[2] for parcel in parcels for p in parcel.points])
    ys = np.array([p[3] for parcel in parcels for p in parcel.points])
    lines = np.array([p[4] for parcel in parcels for p in parcel.points])
    degrees = _degrees(header, xs, ys)
    prefix_zone = (
        None
        if degrees
        else _prefix_zone(ys, lines, path, explicit=crs is not None or zone is not None)
    )
    if crs is not None:
        result = as_crs(crs)
        info = zone_info(result)
        if (
            prefix_zone is not None
            and info is not None
            and (not info.prefixed or info.zone != prefix_zone)
        ):
            warnings.warn(
                f"{path}: eastings carry zone {prefix_zone} but crs={result.name!r} was given; "
                "using the given CRS",
                OnemapWarning,
                stacklevel=3,
            )
        return result, "crs= argument"

    datum = fmt.datum_from_text(header.get("坐标系"), path, header_lines.get("坐标系"))
    if datum is None:
        datum = "CGCS2000"
        repairs.append(Repair(str(path), "header 坐标系", "empty or missing",
                              "assumed CGCS2000 (pass crs= to override)"))
    if degrees:
        outside = ~((np.abs(xs) <= 90) & (np.abs(ys) <= 180))
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise CRSError(
                f"计量单位 says degrees but X={xs[i]:g}, Y={ys[i]:g} is no latitude/longitude",
                path=path,
                line=int(lines[i]),
                hint="set 计量单位=米 for Gauss-Kruger coordinates in metres, or pass crs=",
            )
        return fmt.make_crs(
            datum, 3, 0, False, geographic=True
        ), "header 坐标系, coordinates in degrees"

    width_text = header.get("几度分带", "")
    header_width = fmt.first_int(width_text)
    if width_text and header_width not in (3, 6):
        repairs.append(
            Repair(str(path), f"header 几度分带={width_text!r}", "not 3 or 6", "ignored")
        )
        header_width = None
    zone_text = header.get("带号", "")
    header_zone = fmt.first_int(zone_text)
    zone_where = f"header 带号={zone_text} (line {header_lines.get('带号')})"

    if zone is not None:
        zone = int(zone)
        if prefix_zone is not None and prefix_zone != zone:
            warnings.warn(f"{path}: eastings carry zone {prefix_zone} but zone={zone} was given; "
                          "using the given zone", OnemapWarning, stacklevel=3)
        width = header_width or _ZONE_WIDTH.get(zone, 3)
        return fmt.make_crs(datum, width, zone, prefix_zone is not None), "zone= argument"

    if prefix_zone is not None:
        width = _ZONE_WIDTH[prefix_zone]
        if header_width is not None and header_width != width:
            repairs.append(
                Repair(
                    str(path),
                    f"header 几度分带={width_text}",
                    f"disagrees with the easting prefix {prefix_zone} (a {width}° zone)",
                    f"used {width}° zones from the coordinates",
                )
            )
        meridian = 3 * prefix_zone if width == 3 else 6 * prefix_zone - 3
        if header_zone is not None and header_zone not in (prefix_zone, meridian):
            repairs.append(Repair(str(path), zone_where,
                                  f"disagrees with the zone prefix {prefix_zone} of the eastings",
                                  f"trusted the coordinates: zone {prefix_zone}"))
        return fmt.make_crs(datum, width, prefix_zone, True), "easting prefix"

    if header_zone is None:
        line = header_lines.get("带号") or int(lines[0])
        raise CRSError(
            "no zone: the eastings carry no zone prefix and 带号 is empty",
            path=path,
            line=line,
            hint="pass zone= (e.g. zone=39) or crs=, or fill 带号 in the header",
        )
    width = header_width or _ZONE_WIDTH.get(header_zone, 3)
    zone_no = header_zone
    if not 1 <= header_zone <= 136:
        raise CRSError(
            f"带号={zone_text[:20]!r} is no Gauss-Kruger zone",
            path=path,
            line=header_lines.get("带号"),
            hint=("write the zone number (3°: 25-45, 6°: 13-23 in China) in 带号, or pass zone= or "
                  "crs="),
        )
    if header_zone > (45 if width == 3 else 23) and 73 <= header_zone <= 136:
        # 带号 holding the central meridian (117 for 117°E), a common habit
        z = header_zone / 3 if width == 3 else (header_zone + 3) / 6
        if z == int(z):
            zone_no = int(z)
            repairs.append(
                Repair(
                    str(path),
                    zone_where,
                    "looks like a central meridian, not a zone number",
                    f"read as {header_zone}°E: {width}° zone {zone_no}",
                )
            )
    return fmt.make_crs(datum, width, zone_no, False), "header 带号"


@functools.lru_cache(maxsize=64)
def _transformer(source: CRS, target: CRS) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def plane_areas(geoms: list, crs: CRS, path: Path) -> np.ndarray:
    """Plane Gauss-Kruger areas in m² (geographic coordinates go through their 3° GK zone)."""
    arr = np.empty(len(geoms), dtype=object)
    arr[:] = geoms
    if crs.is_geographic:
        minx, _, maxx, _ = shapely.total_bounds(arr)
        datum = fmt.datum_of_crs(crs) or "CGCS2000"
        planar = fmt.make_crs(
            datum, 3, infer_zone(lon=float(np.clip((minx + maxx) / 2, -180, 180)), width=3), False
        )
        to_plane = _transformer(crs, planar)
        arr = shapely.transform(
            arr, lambda xy: np.column_stack(to_plane.transform(xy[:, 0], xy[:, 1]))
        )
    return shapely.area(arr).astype("float64")
