"""Acquisition dates of scenes: from the products' naming conventions, sidecars and tags.

The date of a scene is the day it was *sensed*. Product names also carry processing, generation
or publication times, and a bare ``YYYYMMDD`` in a file name may be any of them, so the sources
are tried from the most to the least reliable and the one used is recorded
(``scene.attrs["date_source"]``; ``attrs["date_guessed"]`` is True when it could only be guessed):

1. ``dates.txt`` next to the band files or one folder up, as the OSCD dataset ships it
   (``date_1: 20150821`` for ``imgs_1/``, ``date_2: ...`` for ``imgs_2/``);
2. a naming convention that says which date is the sensing date:

   * Sentinel-2 products ``S2A_MSIL1C_20170105T013442_N0204_R031_T53NMJ_20170105T013443`` (the
     first datetime; ``N0204`` is the processing baseline, the last one the product time),
     band files ``T30UWU_20170621T110651_B04.jp2`` (L1C) and ``..._B04_10m.jp2`` (L2A), old
     products ``S2A_OPER_PRD_MSIL1C_PDMC_20160706T155721_R094_V20150821T110256_...`` (the
     ``V`` validity start) and old datastrips ``..._S20150821T110256_...``;
   * old Sentinel-2A tiles ``S2A_OPER_MSI_L1C_TL_EPA__20160706T155721_A000849_T30UWU`` carry
     only the *generation* time: the sensing date is computed from the absolute orbit
     ``A000849`` (143 orbits every 10 days since launch) and the tile's UTM zone (the 10:30
     local descending pass);
   * Landsat collection ids ``LC08_L1TP_119038_20200518_20200527_02_T1`` (acquisition, then
     processing date), pre-collection scene ids ``LC81190382015123LGN00`` (year and day of
     year) and NLAPS ids ``L71119038_03820000317``;
   * GF-1/2/6 (and GF-1B/C/D) scene names ``GF2_PMS1_E113.9_N22.7_20150808_L1A0000951234``;

3. acquisition-date tags (``ACQUISITION_DATE``, ``DATE_ACQUIRED``, ``SENSING_TIME`` ...), then
   product ids found in tags or band descriptions (ENVI band names keep the Landsat id);
4. *guessed*: a bare date in the file or folder name that follows no known convention, or
   ``TIFFTAG_DATETIME`` (the time the file was written, often the processing date). The file's
   modification time is never used: a copied file has the copy's time.

Examples
--------
>>> acquisition_date("S2A_OPER_MSI_L1C_TL_EPA__20160706T155721_A000849_T30UWU_B02.tif")
('2015-08-21', 'Sentinel-2A absolute orbit 849, tile T30UWU (computed)')
>>> acquisition_date("LC08_L1TP_119038_20200518_20200527_02_T1_B4.TIF")[0]
'2020-05-18'
>>> acquisition_date("LC81190382015123LGN00_B4.TIF")
('2015-05-03', 'Landsat scene id (year 2015, day 123)')
>>> acquisition_date("GF2_PMS1_E113.9_N22.7_20150808_L1A0000951234-MSS1.tiff")
('2015-08-08', 'GF scene name')
>>> acquisition_date("county_20240901.tif") is None
True
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .sensors import guess_date

__all__ = ["SceneDate", "acquisition_date", "sidecar_date", "scene_date", "sentinel2_orbit_date"]


@dataclass(frozen=True)
class SceneDate:
    """A scene's acquisition date (ISO or None), where it came from, and whether it was a guess."""

    date: str | None
    source: str
    guessed: bool = False


def _ymd(text: str) -> str | None:
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8])).isoformat()
    except ValueError:
        return None


_NOT_ALNUM = r"(?<![A-Za-z0-9])"
# (pattern, what it is); the first group is the sensing date YYYYMMDD
_CONVENTIONS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(_NOT_ALNUM + r"S2[A-D]_MSI(?:L1C|L2A|L1B)_(\d{8})T\d{6}_N\d{4}", re.IGNORECASE),
        "Sentinel-2 product name (sensing time)",
    ),
    (
        re.compile(_NOT_ALNUM + r"S2[A-D]_OPER_\w*?_V(\d{8})T\d{6}_", re.IGNORECASE),
        "Sentinel-2 product name (validity start)",
    ),
    (
        re.compile(_NOT_ALNUM + r"S2[A-D]_OPER_MSI_\w*?_S(\d{8})T\d{6}_", re.IGNORECASE),
        "Sentinel-2 datastrip (sensing start)",
    ),
    (
        re.compile(
            _NOT_ALNUM
            + r"(?:L1C_|L2A_)?T\d{2}[A-Z]{3}_(\d{8})T\d{6}_(?:B\d{1,2}A?|TCI|SCL|AOT|WVP)",
            re.IGNORECASE,
        ),
        "Sentinel-2 tile band file (sensing time)",
    ),
    (
        re.compile(
            _NOT_ALNUM + r"L[COTEM]0\d_L\w{3}_\d{6}_(\d{8})_\d{8}_\d{2}_(?:T1|T2|RT)", re.IGNORECASE
        ),
        "Landsat product id (acquisition date)",
    ),
    (re.compile(_NOT_ALNUM + r"L\d{8}_\d{3}(\d{8})(?!\d)", re.IGNORECASE), "Landsat NLAPS id"),
    (
        re.compile(
            _NOT_ALNUM
            + r"GF[1-7][B-D]?_(?:PMS|WFV|MUX|PAN|BWD|NAD)\d?"
            + r"_E\d+(?:\.\d+)?_N\d+(?:\.\d+)?_(\d{8})_L\d",
            re.IGNORECASE,
        ),
        "GF scene name",
    ),
]
_LANDSAT_SCENE_ID = re.compile(
    _NOT_ALNUM + r"L[COTEM][4-9]\d{6}(\d{4})(\d{3})[A-Z]{3}\d{2}", re.IGNORECASE
)
_S2_OPER_TILE = re.compile(
    _NOT_ALNUM + r"S2([A-D])_OPER_MSI_L(?:1C|2A)_TL_\w{4}_\d{8}T\d{6}_A(\d{6})_T(\d{2})[A-Z]{3}",
    re.IGNORECASE,
)

#: launch (UTC) of each Sentinel-2 satellite: absolute orbit 1 starts there
_S2_LAUNCH = {"A": dt.datetime(2015, 6, 23, 1, 51, 58), "B": dt.datetime(2017, 3, 7, 1, 49, 24)}
_S2_ORBIT = dt.timedelta(days=10) / 143  # sun-synchronous, 143 orbits per 10-day repeat cycle


def sentinel2_orbit_date(satellite: str, orbit: int, utm_zone: int) -> str | None:
    """Sensing date (UTC) of Sentinel-2 *satellite*'s absolute *orbit* over a tile in *utm_zone*.

    The orbit gives the time to within an orbit (~100 min); the descending pass crosses the
    tile at about 10:30 local solar time, which fixes the day.

    Examples
    --------
    >>> sentinel2_orbit_date("A", 7527, 31)  # OSCD Paris: dates.txt says 20161130
    '2016-11-30'
    """
    launch = _S2_LAUNCH.get(satellite.upper())
    if launch is None or orbit < 1:
        return None
    estimate = launch + (orbit - 0.5) * _S2_ORBIT
    pass_utc = dt.timedelta(
        hours=10.5 - (-183 + 6 * utm_zone) / 15
    )  # local 10:30 at the zone's meridian
    day0 = dt.datetime.combine(estimate.date(), dt.time())
    best = min(
        (day0 + dt.timedelta(days=k) + pass_utc for k in (-1, 0, 1)),
        key=lambda t: abs(t - estimate),
    )
    return best.date().isoformat()


def acquisition_date(text: str) -> tuple[str, str] | None:
    """``(ISO date, convention)`` when *text* follows a naming convention that names the sensing
    date (see the module notes), else None. A bare date is not enough."""
    for pattern, what in _CONVENTIONS:
        m = pattern.search(text)
        if m and _ymd(m.group(1)):
            return _ymd(m.group(1)), what  # type: ignore[return-value]
    m = _LANDSAT_SCENE_ID.search(text)
    if m:
        year, doy = int(m.group(1)), int(m.group(2))
        if 1972 <= year <= 2100 and 1 <= doy <= 366:
            day = dt.date(year, 1, 1) + dt.timedelta(days=doy - 1)
            if day.year == year:
                return day.isoformat(), f"Landsat scene id (year {year}, day {doy})"
    m = _S2_OPER_TILE.search(text)
    if m:
        found = sentinel2_orbit_date(m.group(1), int(m.group(2)), int(m.group(3)))
        if found:
            tile = text[m.end() - 6 : m.end()]
            return (
                found,
                f"Sentinel-2{m.group(1).upper()} absolute orbit {int(m.group(2))}, "
                f"tile {tile} (computed)",
            )
    return None


_DATES_LINE = re.compile(r"^\s*date[_ ]?(\d+)\s*[:=]\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)


def sidecar_date(path: str | Path) -> tuple[str, str] | None:
    """The date a ``dates.txt`` beside the file (or one folder up) gives for it, as OSCD ships:
    ``date_1: 20150821`` for the files in ``imgs_1/``. ``(ISO date, source)`` or None."""
    p = Path(path)
    folder = p.parent
    m = re.search(r"(\d+)$", folder.name)
    for where in (folder, folder.parent):
        f = where / "dates.txt"
        try:
            if not f.is_file():
                continue
            text = f.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        entries = {int(n): v for n, v in _DATES_LINE.findall(text)}
        key = (
            int(m.group(1))
            if m and where == folder.parent
            else (next(iter(entries)) if len(entries) == 1 else None)
        )
        if key in entries:
            date = guess_date(entries[key])
            if date:
                return date, f"{f} (date_{key})"
    return None


def scene_date(
    paths: Iterable[str],
    tags: Iterable[tuple[str, str]],
    descriptions: Iterable[str],
    date_keys: tuple[str, ...],
) -> SceneDate:
    """The acquisition date of a scene from its files' paths, tags and band descriptions (in the
    order of the module notes)."""
    paths = [str(p) for p in paths]
    tags, descriptions = list(tags), [d for d in descriptions if d]
    local = [p for p in paths if "://" not in p and not p.startswith("/vsi")]
    for p in local:
        found = sidecar_date(p)
        if found:
            return SceneDate(found[0], found[1])
    for p in paths:
        for text in (Path(p).name, Path(p).parent.name):
            found = acquisition_date(text)
            if found:
                return SceneDate(found[0], f"file name {text} ({found[1]})")
    for k, v in tags:
        if k != "TIFFTAG_DATETIME" and any(s in k.upper() for s in date_keys):
            found_date = guess_date(v)
            if found_date:
                return SceneDate(found_date, f"tag {k}")
    for text in [v for _, v in tags] + descriptions:
        found = acquisition_date(text)
        if found:
            return SceneDate(found[0], f"product id in the file's metadata ({found[1]})")
    for p in paths:
        for text in (Path(p).name, Path(p).parent.name):
            found_date = guess_date(text)
            if found_date:
                return SceneDate(
                    found_date, f"a date in the name {text} (no known product name: guessed)", True
                )
    for k, v in tags:
        if k == "TIFFTAG_DATETIME" and guess_date(v):
            return SceneDate(
                guess_date(v), "TIFFTAG_DATETIME (when the file was written: guessed)", True
            )
    return SceneDate(None, "none found")
