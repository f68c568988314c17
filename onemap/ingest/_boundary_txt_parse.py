"""Parsing a boundary TXT text: header entries, parcel lines and point lines, with line numbers.

The text is split into lines (CR, LF or CRLF only), the 属性描述 header into canonical key/values,
the 地块坐标 section into parcels and their points. Full-width punctuation and digits, ``：`` for
``=`` and invisible characters are read and recorded as repairs; anything else that is not the
format is a :class:`~onemap.errors.FormatError` naming the line.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from ..errors import FormatError, OnemapWarning, Repair
from . import _boundary_txt_common as fmt
from ._boundary_txt_common import Parcel
from ._boundary_txt_geometry import lines_text

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# str.splitlines also breaks at these; the format knows only CR and LF (and they are rare)
_OTHER_BREAKS = re.compile("[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_INVISIBLE = re.compile(
    "[\ufeff\u200b]"
)  # a BOM inside the text (concatenated exports), zero-width space
_NUM = r"[ \t]*(-?[0-9]{1,15}(?:\.[0-9]{0,12})?)[ \t]*"
# the common point line in plain ASCII form, taken without the general path (the reader stays fast)
_PLAIN_POINT = re.compile(
    rf"[ \t]*([\w.\-]*)[ \t]*,[ \t]*([1-9][0-9]{{0,5}})[ \t]*,{_NUM},{_NUM},?[ \t]*"
)
_POINT_HINT = ("write point lines as 点号,圈号,X,Y (X = northing, Y = easting), "
               "e.g. J1,1,3353189.181,39456780.123")
SECTIONS_HINT = "export the parcels again; a boundary TXT needs [属性描述] and [地块坐标] sections"
_PARCEL_HINT = ("each parcel starts with a line "
                "界址点数,地块面积,地块编号,地块名称,面,图幅号,地块用途,地类编码,@")


def parse_text(
    text: str, path: Path, repairs: list[Repair]
) -> tuple[dict[str, str], list[Parcel], dict[str, int], int]:
    """Split *text* into header key/values (with line numbers), parcels and the last line number."""
    header: dict[str, str] = {}
    header_lines: dict[str, int] = {}
    parcels: list[Parcel] = []
    section: str | None = None
    seen_coords = False
    last = 1
    fixed: dict[str, list[int]] = {}  # repair kind -> lines
    lines = _LINE_BREAK.split(text) if _OTHER_BREAKS.search(text) else text.splitlines()
    plain_point, points = (
        _PLAIN_POINT.fullmatch,
        None,
    )  # points: the current parcel's list, in [地块坐标]
    for lineno, raw in enumerate(lines, start=1):
        if points is not None and len(raw) < 100:
            plain = plain_point(raw)
            if plain:
                name, ring, x, y = plain.groups()
                points.append((name, int(ring), float(x), float(y), lineno))
                last = lineno
                continue
        if _INVISIBLE.search(raw):
            raw = _INVISIBLE.sub("", raw)
            fixed.setdefault("invisible", []).append(lineno)
        line = raw.strip().strip("\u3000")
        if not line:
            continue
        last = lineno
        bad = _CONTROL.search(line)
        if bad:
            raise FormatError(
                f"control character {bad.group()!r} in the text: this is not a boundary TXT file",
                path=path,
                line=lineno,
                hint=("check that the right file was given (binary or corrupt data), or pass "
                      "encoding="),
            )
        name = fmt.section_name(line)
        if name is not None:
            section = fmt.nfkc(name)
            seen_coords |= section == fmt.SECTION_COORDS
            points = parcels[-1].points if section == fmt.SECTION_COORDS and parcels else None
            continue
        if section == fmt.SECTION_COORDS:
            _parse_coord_line(line, lineno, parcels, path, fixed)
            points = parcels[-1].points if parcels else None
            continue
        if not re.search("[=＝:：]", line) and _looks_like_coords(line):
            raise FormatError(
                "parcel or point line outside a [地块坐标] section",
                path=path,
                line=lineno,
                hint="add a line [地块坐标] before the first parcel line (the one ending in ,@)",
            )
        key, value = _header_entry(line, lineno, path, fixed)
        if key is None:
            continue
        if key == "几度分带" and fmt.first_int(value) in (3, 6):
            value = str(fmt.first_int(value))
        if key in header and header[key] != value:
            repairs.append(
                Repair(
                    str(path),
                    f"line {lineno}",
                    f"header {key} repeated ({value!r}, "
                    f"line {header_lines[key]} says {header[key]!r})",
                    "used the first",
                )
            )
        header.setdefault(key, value)
        header_lines.setdefault(key, lineno)
    if not seen_coords:
        raise FormatError(
            "no [地块坐标] section",
            path=path,
            line=last,
            hint="add a line [地块坐标] before the first parcel line (the one ending in ,@)",
        )
    if not parcels:
        raise FormatError("[地块坐标] holds no parcel", path=path, line=last, hint=_PARCEL_HINT)
    for kind, (problem, action) in _TEXT_REPAIRS.items():
        if kind in fixed:
            repairs.append(Repair(str(path), lines_text(fixed[kind]), problem, action))
    return header, parcels, header_lines, last


_TEXT_REPAIRS = {
    "invisible": ("byte-order mark or zero-width space inside the text", "dropped"),
    "comma": ("full-width comma '，' as separator", "read as ','"),
    "digits": ("full-width digits, '．' or '＠' in a number or parcel line", "read as ASCII"),
    "colon": ("header entry written with '：' or ':' instead of '='", "read as '='"),
}


def _header_entry(
    line: str, lineno: int, path: Path, fixed: dict[str, list[int]]
) -> tuple[str | None, str]:
    """(canonical key, value) of a header line; ``(None, '')`` for a line that is no entry."""
    line = line.replace("＝", "=")
    key, sep, value = line.partition("=")
    if not sep:
        key, sep, value = line.replace("：", ":").partition(":")
        if sep and key.strip():
            fixed.setdefault("colon", []).append(lineno)
    if not sep or not key.strip():
        warnings.warn(
            f"{path}, line {lineno}: ignored header line without 'key=value': {line[:80]!r}",
            OnemapWarning,
            stacklevel=4,
        )
        return None, ""
    return fmt.canonical_key(key), value.strip()


def _looks_like_coords(line: str) -> bool:
    fields = _split(fmt.nfkc(line))
    return fields[-1] == "@" or (
        len(fields) == 4 and _is_number(fields[2]) and _is_number(fields[3])
    )


def _split(line: str) -> list[str]:
    fields = [f.strip() for f in line.split(",")]
    while len(fields) > 1 and not fields[-1]:
        fields.pop()  # a trailing comma after "@" or Y
    return fields


def _parse_coord_line(line: str, lineno: int, parcels: list[Parcel], path: Path,
                      fixed: dict[str, list[int]]) -> None:
    fields = _split(line)
    if (
        fields[-1] in ("@", "＠") and len(fields) > 1
    ):  # parcel line: names may hold full-width commas
        if fields[-1] != "@":
            fixed.setdefault("digits", []).append(lineno)
        parcels.append(Parcel(lineno, fields[:-1]))
        return
    if "，" in line:
        fields = _split(line.replace("，", ","))
        fixed.setdefault("comma", []).append(lineno)
        if fields[-1] in ("@", "＠"):
            parcels.append(Parcel(lineno, fields[:-1]))
            return
    if not parcels:
        raise FormatError(
            "point line before any parcel line", path=path, line=lineno, hint=_PARCEL_HINT
        )
    if len(fields) != 4:
        raise FormatError(
            f"point line has {len(fields)} field(s), expected 4",
            path=path,
            line=lineno,
            hint=_POINT_HINT + "; a parcel line must end with ,@",
        )
    name, ring_text, x_text, y_text = fields
    ring = _to_int(ring_text)
    if ring is None or ring < 1:
        raise FormatError(
            f"ring number (圈号) {ring_text[:20]!r} is not a positive integer",
            path=path,
            line=lineno,
            hint="number rings 1 (outer), 2, 3, ...",
        )
    x, y = fmt.to_float(x_text), fmt.to_float(y_text)
    if x is None or y is None:
        bad = x_text if x is None else y_text
        raise FormatError(
            f"coordinate {bad[:40]!r} is not a number", path=path, line=lineno, hint=_POINT_HINT
        )
    if not (ring_text + x_text + y_text).isascii():
        fixed.setdefault("digits", []).append(lineno)
    parcels[-1].points.append((name, ring, x, y, lineno))


def _is_number(text: str) -> bool:
    return fmt.to_float(text) is not None


def _to_int(text: str) -> int | None:
    value = fmt.to_float(text)
    return int(value) if value is not None and value == int(value) and abs(value) < 1e9 else None


def check_parcels(parcels: list[Parcel], path: Path) -> None:
    for parcel in parcels:
        if not parcel.points:
            raise FormatError(
                f"parcel {parcel.label} has no point lines",
                path=path,
                line=parcel.line,
                hint="list the boundary points (点号,圈号,X,Y) after the parcel line, or delete it",
            )
