"""China's coordinate reference systems: CGCS2000 / Xian 1980 / Beijing 1954 Gauss-Kruger zones.

Zone numbering (see ``shared/domain/crs_and_area.md``):

* 3-degree zone *n* has central meridian ``3 n`` °E, zones 25–45 in China;
* 6-degree zone *n* has central meridian ``6 n - 3`` °E, zones 13–23 in China;
* a *prefixed* CRS puts the zone number in the false easting (``x_0 = n·10⁶ + 500 000``), so an
  easting like ``39 456 780.12`` carries zone 39 in its leading digits.

Every ``crs`` argument accepts anything :meth:`pyproj.CRS.from_user_input` accepts.

Datum shifts from the old datums to CGCS2000 have no authoritative transformation in PROJ;
land bureaus use parameters estimated from common points. :func:`helmert7_transformer` applies
7-parameter Bursa-Wolf parameters, :func:`planar4` a 4-parameter planar similarity.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyproj
from pyproj import CRS, Transformer

from .errors import CRSError

__all__ = [
    "as_crs",
    "gk_crs",
    "infer_zone",
    "is_prefixed",
    "zone_info",
    "ZoneInfo",
    "central_meridian",
    "helmert7_transformer",
    "planar4",
    "Planar4",
    "DATUMS",
]

Datum = Literal["CGCS2000", "Xian1980", "Beijing1954"]

#: first EPSG code of each (datum, width, prefixed) family, numbered by zone (or CM)
_EPSG_BASE: dict[tuple[str, int, bool], int] = {
    ("CGCS2000", 3, True): 4513,
    ("CGCS2000", 3, False): 4534,
    ("CGCS2000", 6, True): 4491,
    ("CGCS2000", 6, False): 4502,
    ("Xian1980", 3, True): 2349,
    ("Xian1980", 3, False): 2370,
    ("Xian1980", 6, True): 2327,
    ("Xian1980", 6, False): 2338,
    ("Beijing1954", 3, True): 2401,
    ("Beijing1954", 3, False): 2422,
    ("Beijing1954", 6, True): 21413,
    ("Beijing1954", 6, False): 21453,
}
#: geographic CRS and ellipsoid of each datum
DATUMS: dict[str, tuple[int, str]] = {
    "CGCS2000": (4490, "GRS80"),
    "Xian1980": (4610, "IAU76"),
    "Beijing1954": (4214, "krass"),
}
_ZONES = {3: (25, 45), 6: (13, 23)}
_DATUM_ALIASES = {
    "cgcs2000": "CGCS2000",
    "2000": "CGCS2000",
    "cgcs": "CGCS2000",
    "xian1980": "Xian1980",
    "xian80": "Xian1980",
    "80": "Xian1980",
    "xian": "Xian1980",
    "beijing1954": "Beijing1954",
    "beijing54": "Beijing1954",
    "54": "Beijing1954",
    "beijing": "Beijing1954",
}


def as_crs(crs: Any) -> CRS:
    """Return a :class:`pyproj.CRS` for anything ``pyproj.CRS.from_user_input`` accepts.

    Examples
    --------
    >>> as_crs(4527).name
    'CGCS2000 / 3-degree Gauss-Kruger zone 39'
    """
    if crs is None:
        raise CRSError("no CRS given", hint="pass an EPSG code, WKT or pyproj.CRS")
    try:
        return CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(
            f"not a valid CRS: {crs!r} ({exc})",
            hint="pass an EPSG code such as 4527, a WKT/PROJ string or a pyproj.CRS",
        ) from exc


def _datum_key(datum: str) -> str:
    key = _DATUM_ALIASES.get(str(datum).lower().replace(" ", "").replace("_", "").replace("-", ""))
    if key is None:
        raise CRSError(
            f"unknown datum {datum!r}", hint="use 'CGCS2000', 'Xian1980' or 'Beijing1954'"
        )
    return key


def central_meridian(zone: int, width: int = 3) -> float:
    """Central meridian (°E) of a Gauss-Kruger zone.

    >>> central_meridian(39), central_meridian(20, width=6)
    (117.0, 117.0)
    """
    _check_width(width)
    return float(3 * zone) if width == 3 else float(6 * zone - 3)


def _check_width(width: int) -> None:
    if width not in (3, 6):
        raise CRSError(f"zone width must be 3 or 6 degrees, got {width}")


def gk_crs(
    zone: int | None = None,
    central_meridian: float | None = None,
    width: int = 3,
    prefix: bool = True,
    datum: str = "CGCS2000",
) -> CRS:
    """Gauss-Kruger zone CRS of China by zone number or central meridian.

    Parameters
    ----------
    zone
        Zone number (3°: 25–45 in China, 6°: 13–23). Other zones get a custom PROJ CRS.
    central_meridian
        Central meridian in °E; alternative to *zone* (must be a zone's meridian).
    width
        Zone width in degrees, 3 or 6.
    prefix
        Whether the false easting carries the zone number (``n·10⁶ + 500 000``).
    datum
        ``"CGCS2000"`` (default), ``"Xian1980"`` or ``"Beijing1954"``.

    Examples
    --------
    >>> gk_crs(39).to_epsg()
    4527
    >>> gk_crs(central_meridian=117, prefix=False).to_epsg()
    4548
    >>> gk_crs(20, width=6).to_epsg()
    4498
    """
    _check_width(width)
    key = _datum_key(datum)
    if (zone is None) == (central_meridian is None):
        raise CRSError("give exactly one of zone= and central_meridian=")
    if zone is None:
        assert central_meridian is not None  # exactly one of the two, checked above
        cm = float(central_meridian)
        z = cm / 3 if width == 3 else (cm + 3) / 6
        if abs(z - round(z)) > 1e-9:
            raise CRSError(f"{cm}°E is not the central meridian of a {width}° zone")
        zone = int(round(z))
    zone = int(zone)
    lo, hi = _ZONES[width]
    if lo <= zone <= hi:
        return CRS.from_epsg(_EPSG_BASE[(key, width, prefix)] + zone - lo)
    if not 1 <= zone <= (120 if width == 3 else 60):
        raise CRSError(f"{width}° zone {zone} does not exist")
    lon0 = 3 * zone if width == 3 else 6 * zone - 3
    x0 = zone * 1_000_000 + 500_000 if prefix else 500_000
    ellps = DATUMS[key][1]
    towgs = " +towgs84=0,0,0" if key == "CGCS2000" else ""
    return CRS.from_proj4(
        f"+proj=tmerc +lat_0=0 +lon_0={lon0} +k=1 +x_0={x0} +y_0=0 +ellps={ellps}{towgs} "
        "+units=m +no_defs"
    )


def is_prefixed(eastings: Any) -> bool:
    """True when eastings carry a Gauss-Kruger zone prefix (all have the same plausible prefix).

    Unprefixed GK eastings lie roughly in 200 000–800 000 m; prefixed ones are 8 digits whose
    leading two digits are a zone number (13–23 for 6°, 25–45 for 3°).

    >>> is_prefixed([39456780.1, 39457000.0]), is_prefixed([456780.1])
    (True, False)
    """
    e = np.asarray(eastings, dtype="float64").ravel()
    e = e[np.isfinite(e)]
    if e.size == 0:
        return False
    zones = np.floor(e / 1_000_000).astype(np.int64)
    ok = ((zones >= 13) & (zones <= 23)) | ((zones >= 25) & (zones <= 45))
    rest = e - zones * 1_000_000
    return bool(ok.all() and (zones == zones[0]).all() and ((rest > 0) & (rest < 1_000_000)).all())


def infer_zone(
    easting: float | None = None,
    lon: float | None = None,
    width: int | None = 3,
) -> int:
    """Zone number from a prefixed easting, or from a longitude.

    Parameters
    ----------
    easting
        A zone-prefixed easting in metres; the zone is ``easting // 10⁶``. Its range also tells
        the width (13–23: 6°, 25–45: 3°); a *width* that disagrees is an error.
    lon
        A longitude in degrees east; needs *width*.
    width
        3 or 6 (for *easting*, ``None`` accepts either).

    Examples
    --------
    >>> infer_zone(easting=39_456_780.1)
    39
    >>> infer_zone(lon=120.2), infer_zone(lon=120.2, width=6)
    (40, 21)
    """
    if (easting is None) == (lon is None):
        raise CRSError("give exactly one of easting= and lon=")
    if easting is not None:
        zone = int(math.floor(float(easting) / 1_000_000))
        widths = [w for w, (lo, hi) in _ZONES.items() if lo <= zone <= hi]
        if not widths:
            raise CRSError(
                f"easting {easting} has no Gauss-Kruger zone prefix (leading digits {zone})",
                hint=("pass the zone explicitly (e.g. from the TXT header 带号) or use unprefixed "
                      "coordinates with a zone CRS"),
            )
        if width is not None and width not in widths:
            raise CRSError(
                f"easting {easting} carries zone {zone}, which is a {widths[0]}° zone, not {width}°"
            )
        return zone
    if width is None:
        raise CRSError("infer_zone(lon=...) needs width=3 or 6")
    _check_width(width)
    assert lon is not None  # exactly one of easting and lon, checked above
    lon = float(lon)
    if not -180 <= lon <= 360:
        raise CRSError(f"longitude {lon} is out of range")
    if width == 3:
        return int(math.floor(lon / 3 + 0.5))
    return int(math.floor(lon / 6)) + 1


@dataclass(frozen=True)
class ZoneInfo:
    """What a Gauss-Kruger CRS is: datum, zone width, zone, central meridian, prefix."""

    datum: str | None
    width: int | None
    zone: int | None
    central_meridian: float
    prefixed: bool


def zone_info(crs: Any) -> ZoneInfo | None:
    """Describe a transverse-Mercator CRS as a Gauss-Kruger zone, or ``None`` for other CRSs.

    >>> zone_info(4527)
    ZoneInfo(datum='CGCS2000', width=3, zone=39, central_meridian=117.0, prefixed=True)
    """
    crs = as_crs(crs)
    if not crs.is_projected or crs.coordinate_operation is None:
        return None
    op = crs.coordinate_operation
    if "Transverse Mercator" not in op.method_name and "Gauss" not in op.method_name:
        return None
    params = {p.name.lower(): p.value for p in op.params}
    lon0 = next((v for k, v in params.items() if "longitude of natural origin" in k), None)
    x0 = next((v for k, v in params.items() if "false easting" in k), 0.0)
    k0 = next((v for k, v in params.items() if "scale factor" in k), 1.0)
    if lon0 is None or abs(k0 - 1.0) > 1e-12:
        return None
    prefixed = x0 > 1_000_000
    zone = int(x0 // 1_000_000) if prefixed else None
    width: int | None = None
    if zone is not None:  # prefixed
        width = 3 if abs(3 * zone - lon0) < 1e-9 else 6 if abs(6 * zone - 3 - lon0) < 1e-9 else None
    else:
        # a meridian like 117°E is both a 3° and a 6° meridian: the CRS name decides
        on3, on6 = float(lon0) % 3 == 0, float(lon0) % 6 == 3
        if "3-degree" in crs.name or (on3 and not on6):
            width = 3
        elif on6 and not on3:
            width = 6
        elif on6 and "Gauss-Kruger" in crs.name:
            width = 6
        if width is not None:
            zone = int(round(lon0 / 3)) if width == 3 else int(round((lon0 + 3) / 6))
    name = crs.geodetic_crs.name if crs.geodetic_crs else ""
    datum = ("CGCS2000" if "2000" in name else "Xian1980" if "Xian" in name
             else "Beijing1954" if "Beijing" in name else None)
    return ZoneInfo(datum, width, zone, float(lon0), prefixed)


# ---------------------------------------------------------------------------------------------
# datum shifts with user-supplied parameters

def _geocentric_proj(crs: CRS) -> str:
    """PROJ steps from *crs* (projected or geographic) to geocentric cartesian."""
    ell = crs.ellipsoid
    if ell is None:
        raise CRSError(f"{crs.name!r} has no ellipsoid", hint="use a geographic or projected CRS")
    cart = f"+step +proj=cart +a={ell.semi_major_metre} +rf={ell.inverse_flattening}"
    if crs.is_geographic:
        return f"+step +proj=unitconvert +xy_in=deg +xy_out=rad {cart}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        proj = crs.to_proj4().replace("+no_defs", "").replace("+type=crs", "")
    proj = " ".join(t for t in proj.split() if not t.startswith("+towgs84"))
    return f"+step +inv {proj} {cart}"


def helmert7_transformer(
    src_crs: Any,
    dst_crs: Any = 4490,
    params: tuple[float, float, float, float, float, float, float] | list[float] = (
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ),
    convention: Literal["position_vector", "coordinate_frame"] = "position_vector",
) -> Transformer:
    """A transformer from an old-datum CRS to a CGCS2000 CRS with 7-parameter Bursa-Wolf parameters.

    Coordinates are always taken and returned in (x=easting/lon, y=northing/lat) order.

    Parameters
    ----------
    src_crs, dst_crs
        Source (Beijing 1954 / Xian 1980, geographic or GK) and target CRS (CGCS2000, geographic
        or GK).
    params
        ``(ΔX, ΔY, ΔZ, rx, ry, rz, ds)``: translations in metres, rotations in arc-seconds, scale
        difference in ppm, as in the TXT header's ``转换参数``.
    convention
        Rotation sign convention: ``"position_vector"`` (EPSG 9606, PROJ/towgs84 default, used by
        most Chinese software) or ``"coordinate_frame"`` (EPSG 9607; rotations of opposite sign).

    Examples
    --------
    >>> t = helmert7_transformer(2401, 4513, params=(0, 0, 0, 0, 0, 0, 0))
    >>> x, y = t.transform(25_500_000.0, 3_000_000.0)   # null shift, krass -> GRS80 ellipsoid
    >>> abs(x - 25_500_000.0) < 200 and abs(y - 3_000_000.0) < 200
    True
    """
    src, dst = as_crs(src_crs), as_crs(dst_crs)
    p = [float(v) for v in params]
    if len(p) != 7:
        raise CRSError(f"7-parameter transformation needs 7 numbers, got {len(p)}",
                       hint="give (ΔX, ΔY, ΔZ, rx, ry, rz, scale_ppm)")
    if convention not in ("position_vector", "coordinate_frame"):
        raise CRSError(f"unknown rotation convention {convention!r}",
                       hint="use 'position_vector' or 'coordinate_frame'")
    helmert = (
        f"+step +proj=helmert +x={p[0]} +y={p[1]} +z={p[2]} +rx={p[3]} +ry={p[4]} +rz={p[5]} "
        f"+s={p[6]} +convention={convention}"
    )
    inverse_dst = _geocentric_proj(dst)
    # invert the destination steps: '+step +inv X' <-> '+step X' pairs in reverse order
    steps = [s.strip() for s in inverse_dst.split("+step") if s.strip()]
    back = []
    for s in reversed(steps):
        back.append(s[5:].strip() if s.startswith("+inv ") else "+inv " + s)
    pipeline = "+proj=pipeline " + _geocentric_proj(src) + " " + helmert + " " + " ".join(
        "+step " + s for s in back)
    return Transformer.from_pipeline(pipeline)


@dataclass(frozen=True)
class Planar4:
    """4-parameter planar similarity on projected coordinates (county-scale datum shift).

    ``x' = dx + m (x cos θ - y sin θ)``, ``y' = dy + m (x sin θ + y cos θ)``
    with ``m = 1 + ppm·1e-6``,
    where *x* is the easting and *y* the northing and θ is counter-clockwise in arc-seconds.
    """

    dx: float
    dy: float
    rotation_arcsec: float
    scale_ppm: float

    def __call__(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype="float64")
        y = np.asarray(y, dtype="float64")
        th = math.radians(self.rotation_arcsec / 3600.0)
        m = 1.0 + self.scale_ppm * 1e-6
        c, s = m * math.cos(th), m * math.sin(th)
        return self.dx + c * x - s * y, self.dy + s * x + c * y

    def inverse(self) -> Planar4:
        th = math.radians(self.rotation_arcsec / 3600.0)
        m = 1.0 + self.scale_ppm * 1e-6
        c, s = math.cos(-th) / m, math.sin(-th) / m
        return Planar4(-(c * self.dx - s * self.dy), -(s * self.dx + c * self.dy),
                       -self.rotation_arcsec, (1.0 / m - 1.0) * 1e6)

    @classmethod
    def fit(cls, src_xy: Any, dst_xy: Any) -> Planar4:
        """Least-squares estimate from ≥ 2 common points (arrays of shape (n, 2), easting first)."""
        a = np.asarray(src_xy, dtype="float64")
        b = np.asarray(dst_xy, dtype="float64")
        if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 2 or len(a) < 2:
            raise CRSError(
                "planar 4-parameter fit needs two (n, 2) arrays with n >= 2 common points"
            )
        ca, cb = a.mean(0), b.mean(0)
        a0, b0 = a - ca, b - cb
        den = (a0 ** 2).sum()
        p = (a0[:, 0] * b0[:, 0] + a0[:, 1] * b0[:, 1]).sum() / den
        q = (a0[:, 0] * b0[:, 1] - a0[:, 1] * b0[:, 0]).sum() / den
        dx = cb[0] - (p * ca[0] - q * ca[1])
        dy = cb[1] - (q * ca[0] + p * ca[1])
        return cls(dx, dy, math.degrees(math.atan2(q, p)) * 3600.0, (math.hypot(p, q) - 1.0) * 1e6)


def planar4(x: Any, y: Any, dx: float, dy: float, rotation_arcsec: float = 0.0,
            scale_ppm: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Apply a 4-parameter planar similarity; see :class:`Planar4`.

    >>> planar4([100.0], [200.0], dx=10, dy=-5)
    (array([110.]), array([195.]))
    """
    return Planar4(dx, dy, rotation_arcsec, scale_ppm)(x, y)
