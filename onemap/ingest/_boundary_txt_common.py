"""Vocabulary shared by the land-boundary TXT reader and writer.

Sections, header keys, datums, areas.

See ``shared/domain/boundary_txt.md`` for the format.
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass, field

from pyproj import CRS

from ..crs import gk_crs
from ..errors import CRSError

SECTION_HEADER = "属性描述"
SECTION_COORDS = "地块坐标"
SECTION_PROJECT = "项目信息"

#: header keys in the order writers emit them
HEADER_KEYS = ("格式版本号", "数据产生单位", "数据产生日期", "坐标系", "几度分带", "投影类型",
               "计量单位", "带号", "精度", "转换参数")
#: variant spellings of header keys -> canonical key
HEADER_ALIASES = {
    "数据生产单位": "数据产生单位",
    "数据生产日期": "数据产生日期",
    "分带": "几度分带",
    "分带类型": "几度分带",
    "坐标系统": "坐标系",
    "投影方式": "投影类型",
    "单位": "计量单位",
    "版本号": "格式版本号",
}

#: parcel-line fields before the final "@", as reader columns
PARCEL_FIELDS = ("point_count", "declared_area", "parcel_id", "name", "shape_type", "sheet",
                 "use", "landuse_code")
TEXT_FIELDS = PARCEL_FIELDS[2:]

#: datum key -> name written in 坐标系, and geographic EPSG code
DATUM_NAMES = {
    "CGCS2000": "2000国家大地坐标系",
    "Xian1980": "1980西安坐标系",
    "Beijing1954": "1954北京坐标系",
    "WGS84": "WGS84坐标系",
}
GEOGRAPHIC_EPSG = {"CGCS2000": 4490, "Xian1980": 4610, "Beijing1954": 4214, "WGS84": 4326}

M2_PER_HA = 10_000.0
#: relative tolerance of the declared-area check, and its floor in m² (see read_boundary_txt)
AREA_RTOL = 1e-3
AREA_ATOL_M2 = 2.0

# no lazy quantifier before \s*: that would be quadratic on a long run of spaces
_SECTION_RE = re.compile(r"^[\[【［](.*)[\]】］]$")
#: longest digit run read as an integer (zone numbers, 界址点数, 圈号); longer runs are garbage
MAX_INT_DIGITS = 9


@dataclass
class Parcel:
    """A parcel line of ``[地块坐标]`` and its point lines."""

    line: int
    fields: list[str]
    points: list[tuple[str, int, float, float, int]] = field(
        default_factory=list
    )  # name, ring, x, y, line

    @property
    def label(self) -> str:
        """``'D1'`` (地块编号, quoted) or ``'at line 13'``: how messages name the parcel."""
        pid = self.fields[2] if len(self.fields) > 2 and self.fields[2] else None
        return repr(pid) if pid else f"at line {self.line}"


def nfkc(text: str) -> str:
    """Full-width digits, dots, commas and letters to ASCII (for keys and numbers, not names)."""
    return unicodedata.normalize("NFKC", text)


def section_name(line: str) -> str | None:
    """``'属性描述'`` for ``[属性描述]`` / ``【属性描述】`` (already stripped), else ``None``."""
    m = _SECTION_RE.match(line)
    if not m:
        return None
    name = m.group(1).strip()
    return name if name else None


def canonical_key(key: str) -> str:
    key = nfkc(key).strip()
    return HEADER_ALIASES.get(key, key)


def first_int(text: str | None) -> int | None:
    """The first integer in *text* (``'3度带'`` -> 3, ``'39带'`` -> 39), else ``None``."""
    if not text:
        return None
    m = re.search(r"\d+", nfkc(text))
    if not m or len(m.group().lstrip("0")) > MAX_INT_DIGITS:
        return None
    return int(m.group())


def datum_from_text(text: str | None, path=None, line: int | None = None) -> str | None:
    """Datum key from a 坐标系 value; ``None`` when empty; CRSError when unrecognised."""
    if text is None or not text.strip():
        return None
    s = nfkc(text).upper().replace(" ", "").replace("-", "").replace("_", "")
    if "2000" in s or "CGCS" in s:
        return "CGCS2000"
    if "WGS" in s:
        return "WGS84"
    if "西安" in s or "XIAN" in s or "1980" in s or s.startswith("80"):
        return "Xian1980"
    if "北京" in s or "BEIJING" in s or "1954" in s or s.startswith("54"):
        return "Beijing1954"
    raise CRSError(
        f"unknown 坐标系 {text!r}",
        path=path,
        line=line,
        hint="use 2000国家大地坐标系, 1980西安坐标系, 1954北京坐标系 or WGS84坐标系, or pass crs=",
    )


@functools.lru_cache(maxsize=256)
def make_crs(datum: str, width: int, zone: int, prefixed: bool, geographic: bool = False) -> CRS:
    """The CRS of a TXT file: a Gauss-Kruger zone of *datum*, or its geographic CRS."""
    if geographic:
        return CRS.from_epsg(GEOGRAPHIC_EPSG[datum])
    if datum != "WGS84":
        return gk_crs(zone, width=width, prefix=prefixed, datum=datum)
    lon0 = 3 * zone if width == 3 else 6 * zone - 3
    x0 = zone * 1_000_000 + 500_000 if prefixed else 500_000
    return CRS.from_proj4(f"+proj=tmerc +lat_0=0 +lon_0={lon0} +k=1 +x_0={x0} +y_0=0 "
                          "+datum=WGS84 +units=m +no_defs +type=crs")


def datum_of_crs(crs: CRS) -> str | None:
    """Datum key of a CRS (by its geodetic datum), or ``None``."""
    geo = crs.geodetic_crs
    name = (geo.datum.name if geo is not None and geo.datum is not None else "") + (
        geo.name if geo else ""
    )
    if "2000" in name:
        return "CGCS2000"
    if "Xian" in name or "1980" in name:
        return "Xian1980"
    if "Beijing" in name or "1954" in name:
        return "Beijing1954"
    if "WGS" in name and "84" in name:
        return "WGS84"
    return None


def decimals_of(text: str) -> int:
    """Number of decimals written in a numeric string (``'5.7089'`` -> 4)."""
    text = nfkc(text).strip()
    return len(text.split(".", 1)[1]) if "." in text else 0


def area_tolerance_m2(plane_area: float, rounding_m2: float = 0.0) -> float:
    """How far a declared area may be from the computed plane area (m²) and still match."""
    return max(AREA_RTOL * plane_area, AREA_ATOL_M2, rounding_m2)


def match_area_unit(
    declared: float | None, decimals: int, plane_area: float
) -> tuple[str | None, str]:
    """(unit, check) of a declared area against the computed plane area in m².

    The unit is the one of ``'m2'`` and ``'ha'`` in which the declared value lies within
    :func:`area_tolerance_m2` of the plane area, where the rounding allowance is half a unit of
    the declared value's last written decimal (0.01 ha written with two decimals may be 50 m²
    off). When both match (only for parcels of a few m²) the closer one wins.
    """
    if declared is None or not math.isfinite(declared):
        return None, "missing"
    best: tuple[float, str] | None = None
    for unit, factor in (("m2", 1.0), ("ha", M2_PER_HA)):
        rounding = 0.5 * 10.0 ** (-decimals) * factor
        diff = abs(declared * factor - plane_area)
        if diff <= area_tolerance_m2(plane_area, rounding) and (best is None or diff < best[0]):
            best = (diff, unit)
    return (best[1], "ok") if best else (None, "mismatch")


def to_float(text: str) -> float | None:
    """*text* as a finite float (full-width digits and inner spaces allowed), else ``None``."""
    if len(text) > 40:  # no coordinate or area needs more; keeps float() linear and the value sane
        return None
    try:
        value = float(text)
    except ValueError:
        try:  # full-width digits, inner spaces
            value = float(nfkc(text).replace(" ", ""))
        except ValueError:
            return None
    return value if math.isfinite(value) else None
