"""Where the sample county lies: CRS, frame, administrative codes and names.

The county is placed in a CGCS2000 3° Gauss-Kruger zone (zone-prefixed eastings), 0.35° west of
the zone's central meridian, at a latitude typical of farmland in that zone (North China Plain for
zones 38/39, the Yangtze delta for zone 40, where paddy fields dominate). Its administrative code is
``<province>9901``: no real county uses city code 99, so the sample cannot be mistaken for a real
one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from affine import Affine
from pyproj import CRS, Transformer

from .. import codes
from ..crs import central_meridian, gk_crs
from ..errors import CRSError, DataError
from ..frame import Frame, _pair

__all__ = ["Site", "make_site", "county_frame", "code_info", "TOWNSHIP_NAMES", "COMPANY_NAMES"]

# zone -> (latitude, province code, province abbreviation used in approval numbers)
_SITES: dict[int, tuple[float, str, str]] = {
    37: (35.0, "14", "晋"),
    38: (35.3, "41", "豫"),
    39: (36.4, "37", "鲁"),
    40: (32.0, "32", "苏"),
    41: (41.5, "21", "辽"),
}
_DEFAULT_SITE = (34.0, "37", "鲁")

TOWNSHIP_NAMES = [
    "城关镇", "李庄镇", "王集乡", "张店镇", "马头镇", "东营乡", "西河镇", "南湖乡", "北坡乡",
    "刘桥镇", "陈家寨乡", "杨柳镇", "赵楼乡", "孙堂镇", "周集乡", "吴店镇", "郑庄乡", "黄河镇",
    "高台乡", "石桥镇", "柳林乡", "沙河镇", "花园乡", "白马镇", "青龙乡", "金山镇", "双庙乡",
    "三里河镇", "大王庄乡", "小李庄乡",
]
COMPANY_NAMES = [
    "华鑫机械有限公司",
    "宏达纺织有限公司",
    "鲁源食品有限公司",
    "恒泰建材有限公司",
    "金诚物流有限公司",
    "瑞丰农业科技有限公司",
    "中兴塑业有限公司",
    "泰和新材料有限公司",
    "东方电气设备有限公司",
    "永盛包装有限公司",
    "天合光伏科技有限公司",
    "嘉禾粮油有限公司",
    "县城市建设投资有限公司",
    "县交通运输局",
    "县教育和体育局",
    "县自然资源局",
    "荣昌汽配有限公司",
    "兴业钢构有限公司",
]


@dataclass(frozen=True)
class Site:
    """Location and codes of the sample county."""

    zone: int
    crs: CRS
    lon: float
    lat: float
    province: str
    abbr: str
    county_code: str
    county_name: str
    paddy: bool  # paddy fields (0101) dominate south of the Huai river


def make_site(zone: int = 39) -> Site:
    """The site of the sample county in 3° zone *zone*.

    >>> s = make_site(39)
    >>> s.crs.to_epsg(), s.county_code, s.paddy
    (4527, '379901', False)
    """
    if not 25 <= int(zone) <= 45:
        raise CRSError(
            f"3-degree zone {zone} does not cover China",
            hint="use a zone from 25 to 45, e.g. 39 or 40",
        )
    crs = gk_crs(zone)
    lat, prov, abbr = _SITES.get(int(zone), _DEFAULT_SITE)
    lon = central_meridian(int(zone)) - 0.35
    return Site(int(zone), crs, lon, lat, prov, abbr, f"{prov}9901", "示例县", lat < 33.5)


def county_frame(site: Site, size: int | tuple[int, int], res: float) -> Frame:
    """The county's pixel grid: its north-west corner on a whole kilometre near the site.

    >>> f = county_frame(make_site(39), 512, 2.0)
    >>> f.shape, f.res, int(f.bounds[0] // 1_000_000)
    ((512, 512), (2.0, 2.0), 39)
    """
    h, w = _pair(size, int)
    if h < 64 or w < 64:
        raise DataError(
            f"county size {size} is too small",
            hint="use at least 64 x 64 pixels (256 or more recommended)",
        )
    if not (res > 0 and math.isfinite(res)):
        raise DataError(f"resolution must be positive, got {res}")
    x, y = Transformer.from_crs(4490, site.crs, always_xy=True).transform(site.lon, site.lat)
    left, top = math.floor(x / 1000.0) * 1000.0, math.floor(y / 1000.0) * 1000.0
    return Frame(site.crs, Affine(float(res), 0.0, left, 0.0, -float(res), top), (h, w))


@cache
def code_info(code: str) -> tuple[str, str, bool, bool]:
    """``(name, group, is_cultivated, is_construction)`` of a land-use code.

    Cached: layers repeat codes.

    >>> code_info("0103")
    ('旱地', 'agricultural', True, False)
    """
    return (
        codes.name(code) or "",
        codes.group(code),
        codes.is_cultivated(code),
        codes.is_construction(code),
    )
