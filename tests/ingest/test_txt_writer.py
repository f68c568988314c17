"""Tests of write_boundary_txt: layout, source columns, CRS handling, options, and the inputs it refuses.

Oracles: the written text itself, read_boundary_txt on the written file, shapely geometries.
"""

from __future__ import annotations

import codecs
import re

import geopandas as gpd
import numpy as np
import pytest
import shapely

from onemap.crs import gk_crs
from onemap.errors import (
    CRSError,
    DataError,
    EncodingError,
    GeometryError,
    RepairWarning,
)
from onemap.ingest.boundary_txt import read_boundary_txt, write_boundary_txt


def layer_with_hole(crs=4527, x0=39_500_000.0, y0=3_300_000.0):
    outer = shapely.Polygon(shapely.box(x0, y0, x0 + 100, y0 + 100).exterior,
                            [shapely.box(x0 + 10, y0 + 10, x0 + 30, y0 + 30).exterior.coords])
    multi = shapely.MultiPolygon([outer, shapely.box(x0 + 200, y0, x0 + 250, y0 + 50)])
    return gpd.GeoDataFrame({"DKBH": ["A-1", "A-2"], "DKMC": ["甲", "乙"], "DLBM": ["0702", "1001"],
                             "TFH": [None, "H50"]},
                            geometry=[outer, multi], crs=crs)


def test_writer_layout_and_source_columns(tmp_path):
    path = write_boundary_txt(layer_with_hole(), tmp_path / "w.txt", header={"数据产生单位": "某院"})
    text = path.read_bytes().decode("gbk")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")
    assert "带号=39" in lines and "坐标系=2000国家大地坐标系" in lines and "数据产生单位=某院" in lines
    parcel = [i for i, ln in enumerate(lines) if ln.endswith(",@")]
    assert lines[parcel[0]] == "10,0.9600,A-1,甲,面,,,0702,@"
    assert lines[parcel[1]] == "15,1.2100,A-2,乙,面,H50,,1001,@"
    rings = [ln.split(",") for ln in lines[parcel[1] + 1:-1]]
    assert [r[1] for r in rings] == ["1"] * 5 + ["2"] * 5 + ["3"] * 5
    assert rings[4][0] == rings[0][0] and rings[4][2:] == rings[0][2:]   # closing point repeated
    xy = np.array([(float(r[3]), float(r[2])) for r in rings[:5]])       # (easting, northing)
    assert not shapely.LinearRing(xy).is_ccw                            # exterior clockwise on the map
    back = read_boundary_txt(path)
    assert back["parcel_id"].tolist() == ["A-1", "A-2"] and back["landuse_code"].tolist() == ["0702", "1001"]
    assert (back["area_check"] == "ok").all()
    assert shapely.equals_exact(back.geometry.values, shapely.orient_polygons(layer_with_hole().geometry.values),
                                tolerance=1e-6).all()


def test_writer_unprefixed_and_reprojected(tmp_path):
    plain = layer_with_hole(crs=gk_crs(39, prefix=False), x0=500_000.0)
    back = read_boundary_txt(write_boundary_txt(plain, tmp_path / "p.txt"))
    assert back.crs == gk_crs(39)
    assert shapely.equals_exact(back.geometry.values, shapely.orient_polygons(
        plain.geometry.translate(39_000_000).values), tolerance=1e-6).all()
    lonlat = plain.to_crs(4490)
    with pytest.raises(CRSError, match="Gauss-Kruger") as info:
        write_boundary_txt(lonlat, tmp_path / "g.txt")
    assert "gk_crs(39)" in info.value.hint
    back = read_boundary_txt(write_boundary_txt(lonlat, tmp_path / "g.txt", crs=gk_crs(39)))
    np.testing.assert_allclose(back["plane_area"], lonlat.to_crs(gk_crs(39)).area, rtol=1e-6)
    assert not (tmp_path / "g.txt").exists() or back.crs == gk_crs(39)


def test_writer_errors_leave_target_untouched(tmp_path):
    target = tmp_path / "t.txt"
    target.write_bytes(b"old")
    layer = layer_with_hole()
    layer.loc[1, "DKMC"] = "\U00020000"  # not in GBK
    with pytest.raises(EncodingError, match="gb18030"):
        write_boundary_txt(layer, target)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["t.txt"]
    assert read_boundary_txt(write_boundary_txt(layer, target, encoding="gb18030")).loc[1, "name"] == "\U00020000"
    bad = {"invalid": shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]), "point": shapely.Point(0, 0), "none": None}
    for geom in bad.values():
        layer = layer_with_hole()
        layer.loc[1, "geometry"] = geom
        with pytest.raises(GeometryError) as info:
            write_boundary_txt(layer, target)
        assert info.value.feature == 1
    with pytest.raises(CRSError, match="no CRS"):
        write_boundary_txt(layer_with_hole().set_crs(None, allow_override=True), target)
    with pytest.raises(DataError):
        write_boundary_txt(layer_with_hole(), target, header={"a": "b\nc"})
    with pytest.raises(DataError):
        write_boundary_txt(layer_with_hole().iloc[:0], target)


def test_writer_options(tmp_path):
    series = layer_with_hole().geometry
    path = write_boundary_txt(series, tmp_path / "s.txt", encoding="utf-16", newline="\n", point_prefix="P",
                              precision=2, area_unit="m2", header={"格式版本号": "1.0"})
    data = path.read_bytes()
    assert data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    text = data.decode("utf-16")
    assert "精度=0.01" in text and "格式版本号=1.0\n" in text
    assert re.search(r"\nP1,1,330\d{4}\.\d\d,395\d{5}\.\d\d\n", text)
    back = read_boundary_txt(path)
    assert back["parcel_id"].tolist() == ["1", "2"] and back["declared_area"].tolist() == [9600.0, 12100.0]
    for kwargs in ({"area_unit": "mu"}, {"newline": "\t"}, {"point_prefix": "J,"}, {"id_column": "nope"}):
        with pytest.raises(DataError):
            write_boundary_txt(layer_with_hole(), tmp_path / "x.txt", **kwargs)
    with pytest.raises(DataError, match="GeoDataFrame"):
        write_boundary_txt([1, 2], tmp_path / "x.txt")


def test_writer_commas_in_values_are_reported(tmp_path):
    layer = layer_with_hole()
    layer.loc[0, "DKMC"] = "甲,乙"
    with pytest.warns(RepairWarning, match="comma"):
        path = write_boundary_txt(layer, tmp_path / "c.txt", area_unit="m2")
    back = read_boundary_txt(path)
    assert back.loc[0, "name"] == "甲，乙" and back.loc[0, "area_unit"] == "m2"

@pytest.mark.parametrize("kwargs, error, match", [
    ({"precision": -1}, DataError, "precision must be a whole number"),
    ({"precision": "3"}, DataError, "precision must be a whole number"),
    ({"area_decimals": 20}, DataError, "area_decimals must be"),
    ({"point_prefix": "J\x01"}, DataError, "control characters"),
    ({"encoding": "utf-16-le"}, EncodingError, "cannot be recognised when read back"),
    ({"encoding": "utf-32"}, EncodingError, "cannot be recognised when read back"),
    ({"encoding": "base64"}, EncodingError, "unknown encoding"),
    ({"header": {"备注": "a\x00b"}}, DataError, "cannot be written"),
])
def test_writer_refuses_what_no_reader_could_read(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        write_boundary_txt(layer_with_hole(), tmp_path / "x.txt", **kwargs)
    assert not (tmp_path / "x.txt").exists()


def test_writer_cleans_control_characters_and_odd_header_attrs(tmp_path):
    layer = layer_with_hole()
    layer.loc[0, "DKMC"] = "甲\x01\u2028乙\ufeff"
    layer.attrs["header"] = {"数据产生单位": " 某院 ", 5: None}
    with pytest.warns(RepairWarning, match="control character"):
        path = write_boundary_txt(layer, tmp_path / "c.txt", encoding="utf-8")
    back = read_boundary_txt(path)
    assert back.loc[0, "name"] == "甲  乙" and back.attrs["repairs"] == []
    assert back.attrs["header"]["数据产生单位"] == "某院" and back.attrs["header"]["5"] == ""
    layer.attrs["header"] = "not a dict"
    with pytest.raises(DataError, match="attrs\\['header'\\]"):
        write_boundary_txt(layer, tmp_path / "d.txt")
    far = layer_with_hole()
    far.geometry = far.geometry.translate(1e300)
    with pytest.raises(GeometryError, match="far outside") as info:
        write_boundary_txt(far, tmp_path / "e.txt")
    assert info.value.feature == 0
