"""Names for people: verdicts, columns and units in Chinese (default) and English.

The machine tables (GeoPackage, Parquet, database) keep snake_case column names; tables meant
for people (the report, the CSVs) use the names below, with the unit in every header. The same
registry is the data dictionary written next to the outputs (:func:`data_dictionary`).

Areas: 1 公顷 (ha) = 15 亩 (mu) = 10 000 m².

Examples
--------
>>> header("unapproved_cultivated_m2")
'违法占用耕地面积（m²）'
>>> header("unapproved_cultivated_mu", lang="en")
'unapproved construction on cultivated land (mu)'
>>> verdict_name("partly_approved"), verdict_name("partly_approved", lang="en")
('违法（批少占多）', 'illegal (built beyond the approval)')
>>> format_area(22525.0)
'22 525 m²（33.79 亩，2.2525 公顷）'
"""

from __future__ import annotations

from typing import Any

import pandas as pd

# the tables of words (only data) live in _label_words; the functions here look them up
from ._label_words import COLUMNS as _COLUMNS
from ._label_words import DERIVED as _DERIVED
from ._label_words import TEXT as _TEXT
from ._label_words import UNITS as _UNITS
from ._label_words import VALUES, VERDICTS

__all__ = [
    "HA_PER_M2",
    "LANGS",
    "MU_PER_M2",
    "VERDICTS",
    "check_lang",
    "column",
    "data_dictionary",
    "describe_frame",
    "format_area",
    "format_mu",
    "header",
    "name",
    "text",
    "units",
    "verdict_name",
]

LANGS = ("zh", "en")
MU_PER_M2 = 15.0 / 10_000.0
HA_PER_M2 = 1.0 / 10_000.0


def check_lang(lang: str) -> str:
    """*lang* if it is one of :data:`LANGS`, else ``ValueError`` naming the choices."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {LANGS}, got {lang!r}")
    return lang


def text(key: str, lang: str = "zh", **fmt: Any) -> str:
    """A report sentence or label in *lang*, formatted with *fmt*."""
    words = _TEXT[key][LANGS.index(check_lang(lang))]
    return words.format(**fmt) if fmt else words


def units(key: str, lang: str = "zh") -> str:
    return _UNITS[key][LANGS.index(check_lang(lang))]


def column(name: str) -> tuple[str, str, str | None, str]:
    """``(Chinese, English, unit key, note)`` of a column; unknown columns keep their name."""
    if name in _COLUMNS:
        return _COLUMNS[name]
    stem, _, unit = name.rpartition("_")
    base = _COLUMNS.get(stem + "_m2")
    if unit in _DERIVED and base is not None:
        return base[0], base[1], unit, base[3]
    if unit == "m2":
        return name, name, "m2", ""
    if unit in _DERIVED:
        return name, name, unit, ""
    if name.startswith("n_"):  # counts added by other stages keep a unit in their header
        return name, name, "n", ""
    return name, name, None, ""


def name(column_name: str, lang: str = "zh") -> str:
    """The column's name for people in *lang*, without its unit."""
    zh, en, _, _ = column(column_name)
    return zh if check_lang(lang) == "zh" else en


def header(name: str, lang: str = "zh") -> str:
    """The column's name for people in *lang*, with its unit: ``违法用地面积（m²）``."""
    zh, en, unit, _ = column(name)
    label = zh if check_lang(lang) == "zh" else en
    if unit is None or unit in ("text", "code"):
        return label
    u = units(unit, lang)
    return f"{label}（{u}）" if lang == "zh" else f"{label} ({u})"


def value_name(column: str, value: object, lang: str = "zh") -> object:
    """The people's name of a machine *value* of *column* (unchanged when it has none).

    >>> value_name("status", "partly_built"), value_name("prev_verdict", "approved", "en")
    ('部分建设', 'legal (approved)')
    """
    names = VALUES.get(column, {}).get(value) if isinstance(value, str) else None
    return value if names is None else names[LANGS.index(check_lang(lang))]


def machine_value(column: str, text: str) -> str:
    """The machine value behind a people's name written by :func:`value_name` (either language)."""
    for value, names in VALUES.get(column, {}).items():
        if text in names:
            return value
    return text


def verdict_name(verdict: str, lang: str = "zh") -> str:
    """The campaign's name of a verdict (合法 / 违法 / 其他 with the case)."""
    names = VERDICTS.get(verdict)
    if names is None:
        return verdict
    return names[LANGS.index(check_lang(lang))]


def data_dictionary(columns: dict[str, list[str]], lang: str = "zh") -> pd.DataFrame:
    """One row per column of each table: machine name, Chinese and English names, unit, note.

    *columns*: ``{table file name: [machine column names]}``.
    """
    check_lang(lang)
    rows = []
    for table, names in columns.items():
        for name in names:
            zh, en, unit, note = column(name)
            rows.append(
                {
                    "table": table,
                    "column": name,
                    "header": header(name, lang),
                    "name_zh": zh,
                    "name_en": en,
                    "unit": units(unit, lang) if unit else "",
                    "note": note,
                }
            )
    out = pd.DataFrame(
        rows, columns=["table", "column", "header", "name_zh", "name_en", "unit", "note"]
    )
    if lang == "zh":
        out.columns = ["表", "字段名", "表头", "中文名", "英文名", "单位", "说明"]
    return out


def format_area(m2: float, lang: str = "zh") -> str:
    """An area in m², 亩 and 公顷, e.g. ``22 525 m²（33.79 亩，2.2525 公顷）``."""
    if pd.isna(m2):
        return ""
    sq = f"{m2:,.0f}".replace(",", " ")
    if check_lang(lang) == "zh":
        return f"{sq} m²（{m2 * MU_PER_M2:,.2f} 亩，{m2 * HA_PER_M2:,.4f} 公顷）"
    return f"{sq} m² ({m2 * MU_PER_M2:,.2f} mu, {m2 * HA_PER_M2:,.4f} ha)"


def format_mu(m2: float, lang: str = "zh") -> str:
    """A short area: ``4.87 亩（3 244 m²）``."""
    if pd.isna(m2):
        return ""
    sq = f"{m2:,.0f}".replace(",", " ")
    if check_lang(lang) == "zh":
        return f"{m2 * MU_PER_M2:,.2f} 亩（{sq} m²）"
    return f"{m2 * MU_PER_M2:,.2f} mu ({sq} m²)"


def describe_frame(frame: Any, lang: str = "zh") -> str:
    """The survey frame in words: CRS (Gauss-Kruger zone when it is one), resolution, size.

    >>> from onemap import Frame
    >>> describe_frame(Frame.from_bounds((39468000, 4027976, 39469024, 4029000), 2.0, 4527))
    'CGCS2000 3° 高斯-克吕格投影 第 39 带（中央经线 117°E，带号前缀；EPSG:4527），分辨率 2 m，512 × 512 像元'
    >>> describe_frame(Frame.from_bounds((39468000, 4027976, 39469024, 4029000), 2.0, 4527),
    ...                "en")  # doctest: +ELLIPSIS
    'CGCS2000 3° Gauss-Kruger zone 39 (central meridian 117°E, zone-prefixed; EPSG:4527), 2 m ...'
    """  # noqa: E501 (a doctest's expected output: one line)
    from .crs import zone_info

    zh = check_lang(lang) == "zh"
    crs = frame.crs
    epsg = crs.to_epsg()
    code = f"EPSG:{epsg}" if epsg else ""
    info = zone_info(crs)
    if info is not None and info.zone is not None:
        datum = info.datum or (crs.geodetic_crs.name if crs.geodetic_crs else "")
        lon = f"{info.central_meridian:g}°E"
        if zh:
            extra = "，带号前缀" if info.prefixed else ""
            name = (
                f"{datum} {info.width}° 高斯-克吕格投影 第 {info.zone} 带（中央经线 {lon}{extra}"
                f"{'；' + code if code else ''}）"
            )
        else:
            extra = ", zone-prefixed" if info.prefixed else ""
            name = (
                f"{datum} {info.width}° Gauss-Kruger zone {info.zone} (central meridian {lon}"
                f"{extra}{'; ' + code if code else ''})"
            )
    else:
        name = _other_crs(crs, code, zh)
    unit = "°" if crs.is_geographic else "m"
    xr, yr = frame.res
    res = f"{xr:g} {unit}" if xr == yr else f"{xr:g} × {yr:g} {unit}"
    res = res.replace(" °", "°")
    if crs.is_geographic:  # degrees mean little to a reader: about how many metres
        import math

        lat = math.radians((frame.bounds[1] + frame.bounds[3]) / 2)
        mx, my = xr * 111_320 * math.cos(lat), yr * 110_574
        res += f"（约 {mx:.3g} × {my:.3g} m）" if zh else f" (about {mx:.3g} × {my:.3g} m)"
    h, w = frame.shape
    if zh:
        return f"{name}，分辨率 {res}，{w} × {h} 像元"
    return f"{name}, {res} pixels, {w} × {h}"


def _other_crs(crs: Any, code: str, zh: bool) -> str:
    """Geographic, UTM and other CRSs in words."""
    import re

    datum = crs.geodetic_crs.name if crs.geodetic_crs else crs.name
    datum = "CGCS2000" if "2000" in datum and "China" in datum else datum
    utm = re.search(r"UTM zone (\d+)([NS])", crs.name)
    tail = (f"；{code}" if zh else f"; {code}") if code else ""
    if crs.is_geographic:
        return (
            f"{datum} 地理坐标（经纬度{tail}）"
            if zh
            else f"{datum} geographic (longitude/latitude{tail})"
        )
    if utm:
        half = {"N": ("北半球", "north"), "S": ("南半球", "south")}[utm.group(2)]
        return (
            f"{datum} UTM 投影 第 {utm.group(1)} 带（{half[0]}{tail}）"
            if zh
            else f"{datum} UTM zone {utm.group(1)} ({half[1]}{tail})"
        )
    if not code:
        return crs.name
    return f"{crs.name}（{code}）" if zh else f"{crs.name} ({code})"
