"""Tests of the land-boundary coordinate TXT reader/writer (onemap.ingest.boundary_txt).

Oracles: the real samples' declared areas, shapely areas of rings parsed independently here,
pyproj/gk_crs EPSG codes, and write -> read round trips.
"""

from __future__ import annotations

import io
import re
import warnings
from collections import defaultdict

import geopandas as gpd
import numpy as np
import pytest
import shapely

from onemap.crs import gk_crs, zone_info
from onemap.errors import (
    CRSError,
    EncodingError,
    FormatError,
    GeometryError,
    OnemapWarning,
    RepairWarning,
)
from onemap.ingest.boundary_txt import read_boundary_txt, write_boundary_txt

HEADER = ("[属性描述]\n格式版本号=1.01版本\n数据产生单位=测绘院\n数据产生日期=2019-4-19\n"
          "坐标系=2000国家大地坐标系\n几度分带=3\n投影类型=高斯克吕格\n计量单位=米\n带号={zone}\n精度=0.001\n"
          "转换参数=,,,,,,\n[地块坐标]\n")
# a 100 m x 50 m rectangle in zone 39 (X = northing, Y = easting), declared 0.5 ha
RECT = ("5,0.5000,D1,地块一,面,H50,建设,0702,@\nJ1,1,3300000.000,39500000.000\nJ2,1,3300050.000,39500000.000\n"
        "J3,1,3300050.000,39500100.000\nJ4,1,3300000.000,39500100.000\nJ1,1,3300000.000,39500000.000\n")


def put(tmp_path, text: str, encoding: str = "gbk", newline: str = "\r\n", name: str = "a.txt"):
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def read_quiet(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OnemapWarning)
        return read_boundary_txt(path, **kw)


def ring_areas(path, encoding):
    """Independent parse: {parcel index: {ring: shapely area of the ring}} and declared areas."""
    text = path.read_bytes().decode(encoding)
    parcels, declared = [], []
    for line in re.split(r"\r\n|\r|\n", text):
        f = line.strip().split(",")
        if f[-1] == "@":
            parcels.append(defaultdict(list))
            declared.append(float(f[1]))
        elif parcels and len(f) == 4:
            parcels[-1][int(f[1])].append((float(f[3]), float(f[2])))
    return [{k: shapely.Polygon(v).area for k, v in p.items()} for p in parcels], declared


# ---------------------------------------------------------------------------------------------
# real samples

def test_zone37_sample(shared_data):
    path = shared_data / "boundary_txt" / "sample_zone37_gbk.txt"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # GBK is the format's normal encoding: nothing to report
        gdf = read_boundary_txt(path)
    assert gdf.attrs["encoding"] == "gbk" and gdf.attrs["repairs"] == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # told the encoding: nothing at all to report
        assert read_boundary_txt(path, encoding="gbk").attrs["repairs"] == []
    assert gdf.crs.to_epsg() == gk_crs(37).to_epsg() == 4525
    assert gdf.attrs["header"]["坐标系"] == "2000国家大地坐标系" and gdf.attrs["header"]["带号"] == "37"
    assert list(gdf["parcel_id"]) == ["1", "2", "3", "4", "5"]
    assert list(gdf["point_count"]) == [5, 85, 30, 29, 19]
    assert (gdf["area_unit"] == "m2").all() and (gdf["area_check"] == "ok").all()
    assert shapely.is_valid(gdf.geometry.values).all()
    np.testing.assert_allclose(gdf["plane_area"], gdf["declared_area"], rtol=1e-4)
    # holes vs parts: the chosen structure reproduces the declared area, the naive ones do not
    rings, declared = ring_areas(path, "gbk")
    assert list(gdf.geom_type) == ["Polygon", "Polygon", "Polygon", "MultiPolygon", "MultiPolygon"]
    p3, p4, p5 = gdf.geometry.iloc[2], gdf.geometry.iloc[3], gdf.geometry.iloc[4]
    assert len(p3.interiors) == 1                                  # ring 2 is a hole
    assert len(p4.geoms) == 5 and sum(len(g.interiors) for g in p4.geoms) == 1  # ring 4 hole, 5 & 6 islands
    assert len(p5.geoms) == 2                                      # ring 2 is a second part
    r3, r4 = rings[2], rings[3]
    assert abs(p3.area - (r3[1] - r3[2])) < 1e-6
    assert abs(p4.area - (r4[1] + r4[2] + r4[3] - r4[4] + r4[5] + r4[6])) < 1e-6
    for naive in (r3[1] + r3[2], r4[1] + r4[2] + r4[3] + r4[4] + r4[5] + r4[6], r4[1] - r4[2] - r4[3] - r4[4]):
        assert abs(naive - min(declared[2:4], key=lambda d: abs(d - naive))) > 10
    for geom in gdf.geometry:  # conventional orientation
        for part in getattr(geom, "geoms", [geom]):
            assert part.exterior.is_ccw and not any(h.is_ccw for h in part.interiors)


def test_zone40_sample(shared_data):
    gdf = read_boundary_txt(shared_data / "boundary_txt" / "sample_zone40_utf8.txt")
    assert gdf.attrs["encoding"] == "utf-8" and gdf.attrs["repairs"] == []
    assert gdf.crs.to_epsg() == gk_crs(40).to_epsg() == 4528
    row = gdf.iloc[0]
    assert row["name"] == "彭埠单元B/R-14地块" and row["point_count"] == 66
    assert row["area_unit"] == "ha" and row["area_check"] == "ok"
    assert abs(row["plane_area"] / 1e4 - row["declared_area"]) < 1e-4
    assert row.geometry.geom_type == "Polygon" and len(row.geometry.exterior.coords) == 66  # J01 closes
    assert gdf.attrs["header"]["格式版本号"] == "1.01版本"


@pytest.mark.parametrize("encoding, detected", [("gbk", "gbk"), ("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"),
                                                ("utf-16", "utf-16")])
@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_round_trip_real_samples(shared_data, tmp_path, encoding, detected, newline):
    for name, unit in (("sample_zone37_gbk.txt", "m2"), ("sample_zone40_utf8.txt", "ha")):
        src = read_boundary_txt(shared_data / "boundary_txt" / name)
        out = write_boundary_txt(src, tmp_path / name, encoding=encoding, newline=newline, area_unit=unit)
        data = out.read_bytes()
        assert data.count(newline.encode(encoding)[-2 if encoding == "utf-16" else -1:]) > 0
        if newline == "\n":
            assert "\r" not in data.decode(encoding)
        back = read_boundary_txt(out)
        assert back.attrs["encoding"] == detected and back.crs == src.crs
        assert shapely.equals_exact(back.geometry.values, src.geometry.values, tolerance=1e-6).all()
        cols = ["parcel_id", "name", "point_count", "shape_type", "sheet", "use", "landuse_code", "area_unit"]
        assert back[cols].equals(src[cols])
        assert {k: v for k, v in back.attrs["header"].items()} == src.attrs["header"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample_zone37_gbk.txt", "sample_zone40_utf8.txt"]


# ---------------------------------------------------------------------------------------------
# tolerated variants

def test_header_variants(tmp_path):
    text = (" [项目信息]\n项目名称=某项目\n 【属性描述】\n格式版本号=1．01版本\n数据生产单位=某院\n数据生产日期=2020-1-2\n"
            "坐标系=80国家大地坐标系\n分带=3度带\n 带号=39\n［地块坐标］\n" + RECT)
    gdf = read_boundary_txt(put(tmp_path, text))
    h = gdf.attrs["header"]
    assert h["项目名称"] == "某项目" and h["数据产生单位"] == "某院" and h["数据产生日期"] == "2020-1-2"
    assert h["几度分带"] == "3" and h["格式版本号"] == "1．01版本"
    assert gdf.crs == gk_crs(39, datum="Xian1980")


def test_parcel_and_point_line_variants(tmp_path):
    text = (HEADER.format(zone=39)
            + "5 , 0.5000 , D1,@\n"                                       # fewer fields
            + "J1，1，3300000，39500000\nJ2, 1, 3300050, 39500000\n"       # full-width commas, spaces
            + "J3,1,3300050,39500100,\nJ4,1,3300000,39500100\nJ5,1,3300000,39500000\n"
            + "5,0.5,D2,名称，含逗号,面,,用途,0702,a,,c,@\n"               # extras, full-width comma in name
            + "J1,1,3300100,39500000\nJ2,1,3300150,39500000\nJ3,1,3300150,39500100\nJ4,1,3300100,39500100")
    path = tmp_path / "v.txt"
    path.write_bytes(text.replace("\n", "\r\n").encode("gbk")
                     .replace(b"\r\nJ3,1,3300050", b"\rJ3,1,3300050"))  # a stray bare CR, no final newline
    with pytest.warns(RepairWarning, match="full-width comma"):
        gdf = read_boundary_txt(path)
    assert list(gdf.columns[:11]) == ["parcel_id", "name", "point_count", "declared_area", "shape_type", "sheet",
                                      "use", "landuse_code", "extra_1", "extra_2", "extra_3"]
    assert gdf.loc[0, "name"] is None and gdf.loc[1, "name"] == "名称，含逗号"
    assert gdf.loc[1, ["extra_1", "extra_2", "extra_3"]].tolist() == ["a", None, "c"]
    assert (gdf["area_check"] == "ok").all() and (gdf["area_unit"] == "ha").all()
    np.testing.assert_allclose(gdf["plane_area"], 5000.0)
    repairs = gdf.attrs["repairs"]
    assert any("not closed" in r.problem for r in repairs)        # D2's ring was closed


def test_closing_point_with_new_name_is_not_a_repair(tmp_path):
    text = HEADER.format(zone=39) + RECT.replace("J1,1,3300000.000,39500000.000\n", "J5,1,3300000.000,39500000.000\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gdf = read_boundary_txt(put(tmp_path, text.replace("J5", "J1", 1), encoding="utf-8"))
    assert gdf.attrs["repairs"] == [] and len(gdf.geometry[0].exterior.coords) == 5


def test_holes_parts_and_nesting(tmp_path):
    def ring(no, n0, e0, n1, e1):
        pts = [(n0, e0), (n1, e0), (n1, e1), (n0, e1), (n0, e0)]
        return "".join(f"J{i},{no},{3300000 + n},{39500000 + e}\n" for i, (n, e) in enumerate(pts, 1))
    # ring 1 small and inside ring 2 (listed later): ring 2 is the shell, ring 1 its hole;
    # ring 3 separate part; ring 4 hole of ring 3; ring 5 island inside that hole
    text = (HEADER.format(zone=39) + "25,,P,,面,,,,@\n" + ring(1, 10, 10, 20, 20) + ring(2, 0, 0, 100, 100)
            + ring(3, 0, 200, 100, 300) + ring(4, 10, 210, 90, 290) + ring(5, 40, 240, 60, 260))
    gdf = read_boundary_txt(put(tmp_path, text))
    g = gdf.geometry[0]
    assert g.geom_type == "MultiPolygon" and shapely.is_valid(g)
    assert abs(g.area - (100 * 100 - 100 + 100 * 100 - 80 * 80 + 20 * 20)) < 1e-6
    assert sorted(len(p.interiors) for p in g.geoms) == [0, 1, 1]
    assert gdf.loc[0, "area_check"] == "missing" and gdf.loc[0, "area_unit"] is None


def test_point_count_conventions(tmp_path):
    rect = RECT.replace("5,0.5000", "{n},0.5000")
    for n, warns in ((5, False), (4, False), (7, True)):
        path = put(tmp_path, HEADER.format(zone=39) + rect.format(n=n))
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            read_boundary_txt(path)
        assert any("界址点数" in str(w.message) for w in rec) == warns


def test_area_mismatch_warns(tmp_path):
    path = put(tmp_path, HEADER.format(zone=39) + RECT.replace("0.5000", "0.7000"))
    with pytest.warns(OnemapWarning, match="neither in m² nor in ha"):
        gdf = read_boundary_txt(path)
    assert gdf.loc[0, "area_check"] == "mismatch" and gdf.loc[0, "area_unit"] is None


def test_area_unit_rounding_rule(tmp_path):
    # 5000 m² written as 0.50 ha (2 decimals) matches; as 0.51 ha it is 100 m² off, beyond the 50 m² rounding
    assert read_quiet(put(tmp_path, HEADER.format(zone=39) + RECT.replace("0.5000", "0.50")))["area_unit"][0] == "ha"
    assert read_quiet(put(tmp_path, HEADER.format(zone=39) + RECT.replace("0.5000", "0.51")))["area_check"][0] == "mismatch"
    assert read_quiet(put(tmp_path, HEADER.format(zone=39) + RECT.replace("0.5000", "5001.5")))["area_unit"][0] == "m2"


def test_self_intersecting_ring_and_rings_sharing_a_number(tmp_path):
    bowtie = ("5,,B,,面,,,,@\nJ1,1,3300000,39500000\nJ2,1,3300100,39500100\nJ3,1,3300100,39500000\n"
              "J4,1,3300000,39500100\nJ1,1,3300000,39500000\n")
    with pytest.warns(RepairWarning, match="invalid ring"):
        gdf = read_boundary_txt(put(tmp_path, HEADER.format(zone=39) + bowtie))
    assert shapely.is_valid(gdf.geometry[0]) and abs(gdf.geometry[0].area - 5000) < 1e-6
    # two rings under 圈号 1, each closed by repeating its first point
    two = ("10,,T,,面,,,,@\n" + "".join(f"J{i},1,{3300000 + n},{39500000 + e}\n" for i, (n, e) in enumerate(
        [(0, 0), (10, 0), (10, 10), (0, 10), (0, 0), (0, 20), (10, 20), (10, 30), (0, 30), (0, 20)], 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = read_boundary_txt(put(tmp_path, HEADER.format(zone=39) + two, encoding="utf-8")).geometry[0]
    assert g.geom_type == "MultiPolygon" and len(g.geoms) == 2 and abs(g.area - 200) < 1e-9


def test_header_values_that_look_like_numbers(tmp_path):
    text = HEADER.format(zone=39).replace("转换参数=,,,,,,", "转换参数=1.5,2.5,3,4") + RECT
    assert read_boundary_txt(put(tmp_path, text)).attrs["header"]["转换参数"] == "1.5,2.5,3,4"
    with pytest.raises(CRSError, match="unknown 坐标系") as info:
        read_boundary_txt(put(tmp_path, HEADER.format(zone=39).replace("2000国家大地坐标系", "地方坐标系") + RECT))
    assert info.value.line == 5
    with pytest.warns(OnemapWarning, match="without 'key=value'"):
        read_boundary_txt(put(tmp_path, HEADER.format(zone=39).replace("带号=39", "带号=39\n备注") + RECT))


# ---------------------------------------------------------------------------------------------
# CRS

@pytest.mark.parametrize("system, datum", [("2000国家大地坐标系", "CGCS2000"), ("1980西安坐标系", "Xian1980"),
                                           ("80国家大地坐标系", "Xian1980"), ("1954北京坐标系", "Beijing1954")])
def test_datums(tmp_path, system, datum):
    text = HEADER.format(zone=39).replace("2000国家大地坐标系", system) + RECT
    assert read_boundary_txt(put(tmp_path, text)).crs == gk_crs(39, datum=datum)


def test_wgs84_six_degree_and_unprefixed(tmp_path):
    wgs = read_boundary_txt(put(tmp_path, HEADER.format(zone=39).replace("2000国家大地坐标系", "WGS84坐标系") + RECT))
    assert wgs.crs.ellipsoid.name == "WGS 84" and zone_info(wgs.crs).central_meridian == 117
    six = RECT.replace(",395", ",205")
    g6 = read_boundary_txt(put(tmp_path, HEADER.format(zone="").replace("几度分带=3", "几度分带=6") + six))
    assert g6.crs == gk_crs(20, width=6)
    plain = RECT.replace(",39500", ",500")
    assert read_boundary_txt(put(tmp_path, HEADER.format(zone=39) + plain)).crs == gk_crs(39, prefix=False)
    with pytest.warns(RepairWarning, match="central meridian"):
        assert read_boundary_txt(put(tmp_path, HEADER.format(zone=117) + plain)).crs == gk_crs(39, prefix=False)
    with pytest.raises(CRSError, match="no zone") as info:
        read_boundary_txt(put(tmp_path, HEADER.format(zone="") + plain))
    assert info.value.line == 9 and "zone=" in info.value.hint
    assert read_boundary_txt(put(tmp_path, HEADER.format(zone="") + plain), zone=38).crs == gk_crs(38, prefix=False)
    assert read_boundary_txt(put(tmp_path, HEADER.format(zone=39) + RECT), crs=4527).crs.to_epsg() == 4527


def test_degrees(tmp_path):
    text = (HEADER.format(zone="").replace("计量单位=米", "计量单位=度")
            + "4,,1,,面,,,,@\nJ1,1,30.0,120.0\nJ2,1,30.001,120.0\nJ3,1,30.001,120.001\nJ1,1,30.0,120.0\n")
    gdf = read_boundary_txt(put(tmp_path, text))
    assert gdf.crs.to_epsg() == 4490 and gdf.geometry[0].bounds == (120.0, 30.0, 120.001, 30.001)
    expected = gpd.GeoSeries(gdf.geometry, crs=4490).to_crs(gk_crs(40, prefix=False)).area[0]
    assert abs(gdf.loc[0, "plane_area"] - expected) < 1e-6 and 4000 < expected < 6000


def test_zone_header_disagreement_trusts_coordinates(tmp_path):
    path = put(tmp_path, HEADER.format(zone=38) + RECT)
    with pytest.warns(RepairWarning, match="带号=38.*disagrees with the zone prefix 39"):
        gdf = read_boundary_txt(path)
    assert gdf.crs == gk_crs(39)
    assert any("trusted the coordinates" in r.action for r in gdf.attrs["repairs"])


def test_overrides_and_width_disagreement(tmp_path):
    path = put(tmp_path, HEADER.format(zone=39) + RECT)
    with pytest.warns(OnemapWarning, match="eastings carry zone 39 but zone=40"):
        assert read_boundary_txt(path, zone=40).crs == gk_crs(40)
    with pytest.warns(OnemapWarning, match="eastings carry zone 39 but crs="):
        assert read_boundary_txt(path, crs=gk_crs(40)).crs == gk_crs(40)
    with pytest.warns(RepairWarning, match="几度分带=6.*3° zones from the coordinates"):
        assert read_boundary_txt(put(tmp_path, HEADER.format(zone=39).replace("几度分带=3", "几度分带=6")
                                     + RECT)).crs == gk_crs(39)
    with pytest.warns(RepairWarning, match="assumed CGCS2000"):
        assert read_boundary_txt(put(tmp_path, HEADER.format(zone=39).replace("2000国家大地坐标系", "")
                                     + RECT)).crs == gk_crs(39)


def test_mixed_zones_raise(tmp_path):
    second = RECT.replace("D1", "D2").replace(",395", ",405")
    with pytest.raises(CRSError) as info:
        read_boundary_txt(put(tmp_path, HEADER.format(zone=39) + RECT + second))
    msg = str(info.value)
    assert "zone 39: lines 14, 15, 16" in msg and "zone 40: lines 20, 21, 22" in msg


def test_xy_swap_repaired(tmp_path):
    swapped = re.sub(r"(J\d),1,([\d.]+),([\d.]+)", r"\1,1,\3,\2", RECT)
    normal = read_boundary_txt(put(tmp_path, HEADER.format(zone=39) + RECT, name="n.txt"))
    with pytest.warns(RepairWarning, match="X and Y swapped"):
        fixed = read_boundary_txt(put(tmp_path, HEADER.format(zone=39) + swapped, name="s.txt"))
    assert shapely.equals(fixed.geometry[0], normal.geometry[0]) and fixed.crs == normal.crs


# ---------------------------------------------------------------------------------------------
# malformed input: FormatError with the line

BAD = {
    "no coordinate section": (HEADER.format(zone=39).replace("[地块坐标]\n", "") + RECT, 12),
    "header only": (HEADER.format(zone=39).replace("[地块坐标]\n", ""), 11),
    "non-numeric": (HEADER.format(zone=39) + RECT.replace("3300050.000,39500000.000", "33OO050.000,39500000"), 15),
    "three fields": (HEADER.format(zone=39) + RECT.replace("J3,1,", "J3,"), 16),
    "five fields": (HEADER.format(zone=39) + RECT.replace("J4,1,", "J4,1,1,"), 17),
    "point first": (HEADER.format(zone=39) + "J0,1,3300000,39500000\n" + RECT, 13),
    "two points": (HEADER.format(zone=39) + "3,,D1,,面,,,,@\nJ1,1,3300000,39500000\nJ2,1,3300050,39500000\n"
                   "J3,1,3300000,39500000\n", 14),
    "bad ring number": (HEADER.format(zone=39) + RECT.replace("J2,1,", "J2,x,"), 15),
    "collinear": (HEADER.format(zone=39) + "4,,D1,,面,,,,@\nJ1,1,3300000,39500000\nJ2,1,3300050,39500000\n"
                  "J3,1,3300100,39500000\n", 14),
    "no points": (HEADER.format(zone=39) + "4,,D0,,面,,,,@\n" + RECT, 13),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_raises_with_line(tmp_path, case):
    text, line = BAD[case]
    with pytest.raises(GeometryError if case in ("two points", "collinear") else FormatError) as info:
        read_quiet(put(tmp_path, text))
    err = info.value
    assert err.line == line and err.hint and str(tmp_path) in str(err)


@pytest.mark.parametrize("data", [b"", b"  \r\n\r\n"])
def test_empty_file(tmp_path, data):
    (tmp_path / "e.txt").write_bytes(data)
    with pytest.raises(FormatError, match="empty") as info:
        read_boundary_txt(tmp_path / "e.txt")
    assert info.value.line == 1


def test_binary_garbage(tmp_path):
    rng = np.random.default_rng(0)
    head = "[属性描述]\r\n坐标系=2000国家大地坐标系\r\n".encode("gbk")
    garbage = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    (tmp_path / "g.txt").write_bytes(head + garbage)
    with pytest.raises(FormatError) as info:  # EncodingError (NUL or undecodable bytes) is a FormatError
        read_boundary_txt(tmp_path / "g.txt")
    assert info.value.line >= 3 and "byte offset" in str(info.value)
    (tmp_path / "n.txt").write_bytes(head + b"J1,1,\x00\x00\x00")
    with pytest.raises(EncodingError) as info:
        read_boundary_txt(tmp_path / "n.txt")
    assert info.value.line == 3 and f"byte offset {len(head) + 5}" in str(info.value)
    (tmp_path / "c.txt").write_bytes(b"[\xca\xf4\xd0\xd4\xc3\xe8\xca\xf6]\r\nabc\x01\x02=1\r\n")  # GBK, control chars
    with pytest.raises(FormatError, match="control character") as info:
        read_boundary_txt(tmp_path / "c.txt")
    assert info.value.line == 2
    (tmp_path / "z.txt").write_bytes((HEADER.format(zone=39) + RECT).encode("gbk") + b"\x1a")  # DOS EOF mark
    assert len(read_boundary_txt(tmp_path / "z.txt")) == 1


# write -> read round trips of random parcels, headers and encodings: tests/ingest/test_txt_properties.py


# ---------------------------------------------------------------------------------------------
# inputs found by the fuzz run (tests/ingest/test_txt_fuzz.py) and the corpus

def test_file_objects_and_paths_that_are_no_files(tmp_path):
    path = put(tmp_path, HEADER.format(zone=39) + RECT, encoding="utf-8")
    from_path = read_boundary_txt(path)
    with open(path, "rb") as f:
        from_file = read_boundary_txt(f)
    assert from_file.attrs["source"] == str(path) and from_file.drop(columns="geometry").equals(
        from_path.drop(columns="geometry"))
    assert read_boundary_txt(io.BytesIO(path.read_bytes())).attrs["source"] == "<bytes>"
    with open(path, encoding="utf-8") as f, pytest.raises(FormatError, match="binary mode"):
        read_boundary_txt(f)
    with pytest.raises(FormatError, match="file not found"):
        read_boundary_txt(tmp_path / "missing.txt")
    with pytest.raises(FormatError, match="is a folder"):
        read_boundary_txt(tmp_path)


def test_codec_that_is_not_a_text_encoding(tmp_path):
    with pytest.raises(EncodingError, match="not a text encoding") as info:
        read_boundary_txt(put(tmp_path, HEADER.format(zone=39) + RECT), encoding="base64")
    assert str(tmp_path) in str(info.value)


@pytest.mark.parametrize("width, zone", [(3, 136), (6, 120)])
def test_zone_that_does_not_exist_names_file_and_line(tmp_path, width, zone):
    text = HEADER.format(zone=zone).replace("几度分带=3", f"几度分带={width}") + RECT.replace(",39500", ",500")
    with pytest.raises(CRSError, match="does not exist") as info:
        read_boundary_txt(put(tmp_path, text))
    assert info.value.path == str(tmp_path / "a.txt") and info.value.line == 9 and "带号" in info.value.hint


def test_coordinates_outside_the_given_crs(tmp_path):
    with pytest.raises(CRSError, match="no plane area") as info:
        read_boundary_txt(put(tmp_path, HEADER.format(zone=39) + RECT), crs=4326)
    assert info.value.line == 13


def test_many_rings_nest_through_the_tree(tmp_path):
    # a 2 km shell with 20 x 20 holes, each holding an island: 801 rings, even-odd nesting
    lines, k = [], 0
    def ring(no, n0, e0, size):
        nonlocal k
        pts = [(n0, e0), (n0 + size, e0), (n0 + size, e0 + size), (n0, e0 + size), (n0, e0)]
        for n, e in pts:
            k += 1
            lines.append(f"J{k},{no},{3_300_000 + n:.3f},{39_500_000 + e:.3f}")
    ring(1, 0, 0, 2000)
    no = 2
    for i in range(20):
        for j in range(20):
            ring(no, 100 * i + 10, 100 * j + 10, 80)
            ring(no + 1, 100 * i + 30, 100 * j + 30, 40)
            no += 2
    text = HEADER.format(zone=39) + f"{len(lines)},,BIG,,面,,,,@\n" + "\n".join(lines) + "\n"
    gdf = read_boundary_txt(put(tmp_path, text, encoding="utf-8"))
    g = gdf.geometry[0]
    assert g.geom_type == "MultiPolygon" and len(g.geoms) == 401 and shapely.is_valid(g)
    assert abs(g.area - (2000 ** 2 - 400 * 80 ** 2 + 400 * 40 ** 2)) < 1e-3
    assert gdf.attrs["repairs"] == []


@pytest.mark.parametrize("kwargs, error", [({"zone": "39"}, CRSError), ({"zone": 39.5}, CRSError),
                                           ({"zone": True}, CRSError), ({"encoding": 936}, EncodingError)])
def test_bad_arguments_are_onemap_errors(tmp_path, kwargs, error):
    with pytest.raises(error) as info:
        read_boundary_txt(put(tmp_path, HEADER.format(zone=39) + RECT), **kwargs)
    assert info.value.path == str(tmp_path / "a.txt") and info.value.hint
    with pytest.raises(FormatError, match="binary file object"):
        read_boundary_txt(39)
