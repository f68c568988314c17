"""Bad land-boundary TXT files (勘测定界界址点坐标交换格式) and what ``read_boundary_txt`` says about them.

Every file is written here by code, modelled on ``shared/domain/boundary_txt.md``: a CGCS2000 3°
zone-39 header and rectangular parcels near (3 300 000 N, 39 500 000 E). Decisions documented by
these cases:

* X/Y swapped: **repaired** (the zone-prefixed easting is unambiguous) and reported;
* eastings of two zones, within a parcel or across parcels: **CRSError** (no silent reprojection);
* declared 界址点数 ≠ point lines: reported repair when the rings are closed, **FormatError** when
  points are missing and a ring is left open (truncated file, deleted lines);
* ring numbers out of order: reported repair; a ring split by another ring: **FormatError**;
* full-width '，' '：' digits: reported repairs; GBK without BOM: decoded, reported as a guess;
* empty, binary, damaged-after-BOM, BOM-less UTF-16: FormatError / EncodingError.
"""

from __future__ import annotations

import codecs
import random
from collections.abc import Callable
from pathlib import Path

from onemap.errors import CRSError, EncodingError, FormatError, GeometryError
from onemap.ingest.boundary_txt import read_boundary_txt

from . import Case

HEADER_LINES = ["[属性描述]", "格式版本号=1.01版本", "数据产生单位=某某县自然资源局测绘队", "数据产生日期=2021-6-3",
                "坐标系=2000国家大地坐标系", "几度分带=3", "投影类型=高斯克吕格", "计量单位=米", "带号=39", "精度=0.001",
                "转换参数=,,,,,,", "[地块坐标]"]


def ring(no: int, n0: float, e0: float, height: float, width: float, zone: int = 39, first: int = 1,
         close: bool = True) -> list[str]:
    """Point lines of a rectangle: clockwise on the map from its south-west corner, as surveyed."""
    corners = [(n0, e0), (n0 + height, e0), (n0 + height, e0 + width), (n0, e0 + width)]
    if close:
        corners.append(corners[0])
    return [f"J{first + i if i < 4 else first},{no},{n:.3f},{zone * 1_000_000 + e:.3f}"
            for i, (n, e) in enumerate(corners)]


def parcel(pid: str, points: list[str], area: str = "", name: str = "城东片区建设用地", count: int | None = None) -> list[str]:
    n = len(points) if count is None else count
    return [f"{n},{area},{pid},{name},面,H50G066037,建设用地,0702,@", *points]


RECT_A = ring(1, 3_300_000, 500_000, 50, 100)            # 0.5 ha
RECT_B = ring(1, 3_300_200, 500_000, 100, 100)           # 1 ha
HOLE_B = ring(2, 3_300_220, 500_020, 20, 30, first=6)    # 600 m² hole of B
BODY = parcel("D1", RECT_A, "0.5000") + parcel("D2", RECT_B + HOLE_B, "0.9400")


def lines_of(*parts: list[str]) -> list[str]:
    return [line for part in parts for line in part]


def line_no(lines: list[str], needle: str, nth: int = 1) -> int:
    """1-based number of the *nth* line containing *needle*."""
    hits = [i + 1 for i, line in enumerate(lines) if needle in line]
    return hits[nth - 1]


def writer(lines: list[str], name: str, encoding: str = "gbk", newline: str = "\r\n",
           mangle: Callable[[bytes], bytes] | None = None) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        data = (newline.join(lines) + newline).encode(encoding)
        if mangle is not None:
            data = mangle(data)
        path = folder / name
        path.write_bytes(data)
        return path
    return build


def txt_case(name: str, lines: list[str], *, encoding: str = "gbk", error: type | None = None,
             match: tuple[str, ...] = (), repair: str | None = None, check=None,
             mangle: Callable[[bytes], bytes] | None = None) -> Case:
    fname = f"{name}.txt"
    return Case(name=name, build=writer(lines, fname, encoding, mangle=mangle), read=read_boundary_txt,
                error=error, match=(fname, *match), repair=repair, check=check)


def area_is(*expected: float) -> Callable:
    def check(gdf) -> None:
        assert len(gdf) == len(expected), f"{len(gdf)} parcels, expected {len(expected)}"
        for got, want in zip(gdf.geometry.area, expected):
            assert abs(got - want) < 1e-6, (got, want)
        assert gdf.geometry.is_valid.all() and gdf.crs.to_epsg() == 4527
    return check


def _checks(*fns: Callable) -> Callable:
    def check(gdf) -> None:
        for fn in fns:
            fn(gdf)
    return check


def _assert(ok: bool, what) -> None:
    assert ok, what


def column_is(column: str, *expected) -> Callable:
    def check(gdf) -> None:
        assert list(gdf[column]) == list(expected), (column, list(gdf[column]))
    return check


def has_holes(*counts: int) -> Callable:
    def check(gdf) -> None:
        assert [len(g.interiors) for g in gdf.geometry] == list(counts)
    return check


def attrs_are(**expected) -> Callable:
    def check(gdf) -> None:
        for key, value in expected.items():
            head, _, sub = key.partition("__")
            got = gdf.attrs[head][sub] if sub else gdf.attrs[head]
            assert got == value, (key, got, value)
    return check


CASES: list[Case] = []

# -- structure ---------------------------------------------------------------------------------

_no_section = [ln for ln in lines_of(HEADER_LINES, BODY) if ln != "[地块坐标]"]
CASES.append(txt_case("txt_missing_coordinates_section", _no_section, error=FormatError,
                      match=("line 12", "outside a [地块坐标] section", "add a line [地块坐标]")))

_header_only = HEADER_LINES[:-1]
CASES.append(txt_case("txt_header_only", _header_only, error=FormatError,
                      match=("line 11", "no [地块坐标] section", "add a line [地块坐标]")))

_no_points = lines_of(HEADER_LINES, ["5,0.5000,D0,空地块,面,,,,@"], BODY)
CASES.append(txt_case("txt_parcel_without_points", _no_points, error=FormatError,
                      match=("line 13", "parcel 'D0' has no point lines", "list the boundary points")))

_wrong_fields = lines_of(HEADER_LINES, BODY)
_wrong_fields[line_no(_wrong_fields, "J3,1,3300050") - 1] = "J3,1,3300050.000"
CASES.append(txt_case("txt_point_line_wrong_field_count", _wrong_fields, error=FormatError,
                      match=(f"line {line_no(_wrong_fields, 'J3,1,3300050')}", "3 field(s), expected 4",
                             "点号,圈号,X,Y")))

# -- point counts, closure, truncation ---------------------------------------------------------

_count = lines_of(HEADER_LINES, parcel("D1", RECT_A, "0.5000", count=9), parcel("D2", RECT_B + HOLE_B, "0.9400"))
CASES.append(txt_case("txt_point_count_mismatch", _count, repair="界址点数 declares 9, the parcel has 5 point lines",
                      match=("parcel 'D1' (line 13)",),
                      check=_checks(area_is(5000, 9400), column_is("point_count", 9, 10))))

_lost = lines_of(HEADER_LINES, parcel("D1", ring(1, 3_300_000, 500_000, 50, 100)[:2], "0.5000", count=5),
                 parcel("D2", RECT_B + HOLE_B, "0.9400"))
CASES.append(txt_case("txt_lost_point_lines", _lost, error=FormatError,
                      match=("line 15", "parcel 'D1' (line 13) has lost point lines",
                             "declares 5 point lines, 2 are present", "restore the missing point lines")))

_truncated = lines_of(HEADER_LINES, BODY)[:-3]
_truncated[-1] = _truncated[-1][:-6]  # cut inside the last easting: "J7,2,3300240.000,39500"
CASES.append(txt_case("txt_truncated_mid_parcel", _truncated, error=FormatError,
                      match=(f"line {len(_truncated)}", "the file ends in the middle of parcel 'D2'",
                             "truncated")))

_open = lines_of(HEADER_LINES, parcel("D1", RECT_A[:-1], "0.5000"), parcel("D2", RECT_B + HOLE_B, "0.9400"))
CASES.append(txt_case("txt_ring_not_closed", _open, repair="ring not closed",
                      match=("parcel 'D1' (line 13), ring 1 (line 14)", "closed back to its first point"),
                      check=area_is(5000, 9400)))

_too_few = lines_of(HEADER_LINES, parcel("D1", ring(1, 3_300_000, 500_000, 50, 100)[:2] + [RECT_A[0]], "0.5000"))
CASES.append(txt_case("txt_ring_too_few_points", _too_few, error=GeometryError,
                      match=("line 14", "fewer than 3 distinct points", "fix or delete the ring")))

_flat = [f"J{i + 1},1,{3_300_000 + 10 * i:.3f},{39_500_000 + 20 * i:.3f}" for i in range(4)]
_zero = lines_of(HEADER_LINES, parcel("D1", _flat + [_flat[0]], "0"), parcel("D2", RECT_B, "1.0000"))
CASES.append(txt_case("txt_zero_area_ring", _zero, error=GeometryError,
                      match=("line 14", "has zero area (all points on one line)", "check the coordinates")))

# -- rings -------------------------------------------------------------------------------------

_order = lines_of(HEADER_LINES, parcel("D2", ring(2, 3_300_220, 500_020, 20, 30) + RECT_B, "0.9400"))
CASES.append(txt_case("txt_ring_numbers_out_of_order", _order, repair="ring numbers out of order (2, 1)",
                      match=("parcel 'D2' (line 13)", "told apart by containment"),
                      check=_checks(area_is(9400), has_holes(1))))

_split = lines_of(HEADER_LINES, parcel("D2", RECT_B[:3] + HOLE_B + RECT_B[3:], "0.9400"))
CASES.append(txt_case("txt_ring_split_by_another_ring", _split, error=FormatError,
                      match=("line 22", "ring 1 of parcel 'D2' (line 13) resumes after ring 2 began",
                             "keep the points of each ring together")))

_bowtie = ["J1,1,3300000.000,39500000.000", "J2,1,3300100.000,39500100.000", "J3,1,3300100.000,39500000.000",
           "J4,1,3300000.000,39500100.000", "J1,1,3300000.000,39500000.000"]
CASES.append(txt_case("txt_self_intersecting_ring", lines_of(HEADER_LINES, parcel("D1", _bowtie, "0.5000")),
                      repair="invalid ring (Self-intersection", match=("parcel 'D1' (line 13), ring 1",
                                                                        "repaired with make_valid"),
                      check=area_is(5000)))

# -- coordinates and zones ---------------------------------------------------------------------

_nonnum = lines_of(HEADER_LINES, BODY)
_bad = line_no(_nonnum, "J2,1,3300050")
_nonnum[_bad - 1] = "J2,1,33OOO50.000,39500000.000"  # letter O typed for zero
CASES.append(txt_case("txt_non_numeric_coordinate", _nonnum, error=FormatError,
                      match=(f"line {_bad}", "coordinate '33OOO50.000' is not a number", "点号,圈号,X,Y")))


def _swap(line: str) -> str:
    name, no, x, y = line.split(",")
    return f"{name},{no},{y},{x}"


_swapped = lines_of(HEADER_LINES, parcel("D1", [_swap(p) for p in RECT_A], "0.5000"),
                    parcel("D2", RECT_B + HOLE_B, "0.9400"))
CASES.append(txt_case("txt_xy_swapped", _swapped, repair="X and Y swapped",
                      match=("lines 14, 15, 16, 17, 18", "swapped back to X = northing, Y = easting"),
                      check=area_is(5000, 9400)))

_zones_across = lines_of(HEADER_LINES, parcel("D1", RECT_A, "0.5000"),
                         parcel("D2", ring(1, 3_300_200, 500_000, 100, 100, zone=40), "1.0000"))
CASES.append(txt_case("txt_mixed_zones_across_parcels", _zones_across, error=CRSError,
                      match=("zone 39: lines 14, 15, 16", "zone 40: lines 20, 21, 22",
                             "split the file by zone")))

_zones_within = lines_of(HEADER_LINES, BODY)
_typo = line_no(_zones_within, "J3,1,3300050")
_zones_within[_typo - 1] = "J3,1,3300050.000,40500100.000"  # one easting typed with the next zone's prefix
CASES.append(txt_case("txt_mixed_zones_within_parcel", _zones_within, error=CRSError,
                      match=(f"zone 40: line {_typo}", "eastings from 2 different zones",
                             "reproject the parcels into one zone")))

_zone_header = [("带号=40" if ln == "带号=39" else ln) for ln in lines_of(HEADER_LINES, BODY)]
CASES.append(txt_case("txt_zone_header_disagrees_with_prefix", _zone_header,
                      repair="disagrees with the zone prefix 39 of the eastings",
                      match=("header 带号=40 (line 9)", "trusted the coordinates: zone 39"),
                      check=area_is(5000, 9400)))

_plain = [ln.replace(",39500", ",500") for ln in lines_of(HEADER_LINES, BODY)]
_no_zone = [("带号=" if ln == "带号=39" else ln) for ln in _plain]
CASES.append(txt_case("txt_no_zone_anywhere", _no_zone, error=CRSError,
                      match=("line 9", "no zone: the eastings carry no zone prefix and 带号 is empty",
                             "pass zone=")))

_missing_values = [(ln.split("=")[0] + "=" if ln.split("=")[0] in ("坐标系", "带号", "几度分带", "精度") else ln)
                   for ln in lines_of(HEADER_LINES, BODY)]
CASES.append(txt_case("txt_header_values_missing", _missing_values, repair="assumed CGCS2000",
                      match=("header 坐标系", "empty or missing"), check=area_is(5000, 9400)))

_unknown_datum = [("坐标系=某市独立坐标系" if ln.startswith("坐标系=") else ln) for ln in lines_of(HEADER_LINES, BODY)]
CASES.append(txt_case("txt_unknown_coordinate_system", _unknown_datum, error=CRSError,
                      match=("line 5", "unknown 坐标系 '某市独立坐标系'", "2000国家大地坐标系")))

_deg = [("计量单位=度" if ln == "计量单位=米" else ln) for ln in lines_of(HEADER_LINES, BODY)]
CASES.append(txt_case("txt_degrees_unit_but_metres", _deg, error=CRSError,
                      match=("line 14", "计量单位 says degrees", "set 计量单位=米")))

# -- duplicates --------------------------------------------------------------------------------

_repeat = lines_of(HEADER_LINES, BODY, parcel("D1", RECT_A, "0.5000"))
CASES.append(txt_case("txt_parcel_listed_twice", _repeat, repair="repeats the parcel at line 13",
                      match=("parcel 'D1' (line 30)", "dropped the repeat"), check=area_is(5000, 9400)))

_dup_id = lines_of(HEADER_LINES, BODY, parcel("D1", ring(1, 3_300_400, 500_000, 50, 50), "0.2500"))
CASES.append(txt_case("txt_duplicate_parcel_numbers", _dup_id, repair="地块编号 'D1' is also used by the parcel at line 13",
                      match=("parcel 'D1' (line 30)", "kept both"), check=area_is(5000, 9400, 2500)))

# -- punctuation -------------------------------------------------------------------------------

_comma = lines_of(HEADER_LINES, BODY)
_fw = line_no(_comma, "J2,1,3300050")
_comma[_fw - 1] = _comma[_fw - 1].replace(",", "，")
CASES.append(txt_case("txt_fullwidth_comma", _comma, repair="full-width comma '，' as separator",
                      match=(f"line {_fw}", "read as ','"), check=area_is(5000, 9400)))

_colon = [("带号：39" if ln == "带号=39" else "几度分带：3" if ln == "几度分带=3" else ln)
          for ln in lines_of(HEADER_LINES, [ln.replace(",39500", ",500") for ln in BODY])]
CASES.append(txt_case("txt_fullwidth_colon_in_header", _colon, repair="written with '：' or ':' instead of '='",
                      match=("lines 6, 9", "read as '='"),
                      check=_checks(attrs_are(header__带号="39", header__几度分带="3"),
                                    lambda g: _assert(g.crs.to_epsg() == 4548, g.crs))))

_FULLWIDTH_DIGITS = str.maketrans("0123456789.", "０１２３４５６７８９．")
_digits = lines_of(HEADER_LINES, BODY)
_fd = line_no(_digits, "J3,1,3300050")
_name, _no, _x, _y = _digits[_fd - 1].split(",")
_digits[_fd - 1] = ",".join((_name, _no, _x.translate(_FULLWIDTH_DIGITS), _y))
_digits[line_no(_digits, ",D2,") - 1] = _digits[line_no(_digits, ",D2,") - 1][:-1] + "＠"
CASES.append(txt_case("txt_fullwidth_digits_and_at", _digits, repair="full-width digits, '．' or '＠'",
                      match=(f"lines {_fd}, {line_no(_digits, ',D2,')}", "read as ASCII"), check=area_is(5000, 9400)))

# -- encodings and bytes -----------------------------------------------------------------------

# GBK without a byte-order mark is the format's normal encoding: read cleanly, nothing reported
# (it was reported as a repair until issue 13; attrs["encoding"] says which codec was used)
CASES.append(txt_case("txt_gbk_without_bom", lines_of(HEADER_LINES, BODY),
                      check=_checks(area_is(5000, 9400), column_is("name", "城东片区建设用地", "城东片区建设用地"),
                                    attrs_are(encoding="gbk", header__数据产生单位="某某县自然资源局测绘队"))))

_bom_inside = lines_of(HEADER_LINES, BODY)
_bom_inside[line_no(_bom_inside, "[地块坐标]") - 1] = "\ufeff[地块坐标]"  # second export pasted in with its BOM
CASES.append(txt_case("txt_utf8_bom_and_stray_bom", _bom_inside, encoding="utf-8-sig",
                      repair="byte-order mark or zero-width space inside the text",
                      match=("line 12", "dropped"), check=area_is(5000, 9400)))

_gbk_body = "\r\n".join(lines_of(HEADER_LINES, BODY)).encode("gbk")
CASES.append(txt_case("txt_utf8_bom_on_gbk_text", [], encoding="utf-8", error=EncodingError,
                      mangle=lambda _: codecs.BOM_UTF8 + _gbk_body,
                      match=("line 1", "utf-8-sig (announced by its byte-order mark)", "byte offset 4",
                             "export the file again")))

CASES.append(txt_case("txt_utf16_without_bom", lines_of(HEADER_LINES, BODY), encoding="utf-16-le",
                      error=EncodingError, match=("NUL byte at byte offset 1", "line 1", "encoding='utf-16-le'")))

CASES.append(Case(name="txt_empty_file", build=lambda folder: (folder / "txt_empty_file.txt").write_bytes(b"")
                  or folder / "txt_empty_file.txt", read=read_boundary_txt, error=FormatError,
                  match=("txt_empty_file.txt", "line 1", "the file is empty", "export the parcels again")))

CASES.append(txt_case("txt_blank_lines_only", ["", "   ", "\u3000", ""], encoding="utf-8", error=FormatError,
                      match=("line 1", "holds no text", "[属性描述] and [地块坐标]")))

_rng = random.Random(8)
_zip_like = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(_rng.randrange(256) for _ in range(2000))
CASES.append(txt_case("txt_binary_garbage", [], encoding="utf-8", error=EncodingError, mangle=lambda _: _zip_like,
                      match=("line 1", "NUL byte at byte offset 5", "not a text file")))

_ctrl = lines_of(HEADER_LINES, BODY)
_ctrl[2] = "数据产生单位=测绘\x02\x03队"
CASES.append(txt_case("txt_control_characters", _ctrl, error=FormatError,
                      match=("line 3", "control character '\\x02'", "check that the right file was given")))

# -- header oddities ---------------------------------------------------------------------------

_meridian = [("带号=117" if ln == "带号=39" else ln) for ln in _plain]
CASES.append(txt_case("txt_zone_written_as_central_meridian", _meridian, repair="looks like a central meridian",
                      match=("header 带号=117 (line 9)", "read as 117°E: 3° zone 39"),
                      check=lambda g: _assert(g.crs.to_epsg() == 4548 and len(g) == 2, g.crs)))

_impossible = [("带号=136" if ln == "带号=39" else ln) for ln in _plain]
CASES.append(txt_case("txt_zone_that_does_not_exist", _impossible, error=CRSError,
                      match=("line 9", "3° zone 136 does not exist", "check 带号 and 几度分带")))

_repeated_key = lines_of(HEADER_LINES[:9], ["带号=40"], HEADER_LINES[9:], BODY)
CASES.append(txt_case("txt_header_key_repeated", _repeated_key, repair="header 带号 repeated ('40', line 9 says '39')",
                      match=("line 10", "used the first"), check=area_is(5000, 9400)))

# -- read as they are (documented tolerance, nothing to report) ---------------------------------

_variants = lines_of(["[项目信息]", "项目名称=城东片区", " 【属性描述】"], HEADER_LINES[1:-1], ["［地块坐标］"],
                     [ln.replace(",", ", ") if ln.startswith("J2,") else ln + ("," if ln.startswith("J3,") else "")
                      for ln in BODY])


def _mixed_line_ends(data: bytes) -> bytes:
    """CRLF with one stray bare CR and no final newline, as in real exports."""
    return data.replace(b"\r\nJ3,1,3300050", b"\rJ3,1,3300050", 1).rstrip(b"\r\n")


CASES.append(txt_case("txt_tolerated_variants", _variants, encoding="utf-8", mangle=_mixed_line_ends,
                      check=_checks(area_is(5000, 9400),
                                    attrs_are(header__项目名称="城东片区", header__带号="39", repairs=[]))))
