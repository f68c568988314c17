"""Vector layers (read_layer) and layer sources (read_source: a file, a TXT file or a folder of them)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

from onemap import read_layer, write_boundary_txt
from onemap.errors import CRSError, DataError, EncodingError, FormatError, GeometryError
from onemap.ingest.sources import read_source

from . import Case
from ._build import X0, Y0, layer, squares, write_text, write_vector

NAMES = ["张家村村民委员会", "李家村", "城关镇"]  # GBK and UTF-8 bytes differ


def _gbk_shapefile(folder: Path, cpg: str | None) -> Path:
    path = write_vector(layer({"DLBM": ["0101", "0702", "1003"], "QSDWMC": NAMES}), folder / "dltb.shp",
                        encoding="GBK")
    if cpg is None:
        (folder / "dltb.cpg").unlink()
    else:
        (folder / "dltb.cpg").write_text(cpg)
    return path


def _utf8_shapefile(folder: Path, cpg: str) -> Path:
    path = write_vector(layer({"QSDWMC": NAMES}), folder / "zd.shp", encoding="UTF-8")
    (folder / "zd.cpg").write_text(cpg)
    return path


def _names_decoded(encoding: str, source: str):
    def check(gdf: gpd.GeoDataFrame) -> None:
        assert gdf["QSDWMC"].tolist() == NAMES
        assert gdf.attrs["encoding"] == encoding and gdf.attrs["encoding_source"] == source
    return check


def _without(folder: Path, name: str, ext: str) -> Path:
    path = write_vector(layer(n=40), folder / f"{name}.shp")
    (folder / f"{name}{ext}").unlink()
    return path


def _prj(text: str):
    def build(folder: Path) -> Path:
        path = _without(folder, "dltb", ".prj")
        write_text(folder / "dltb.prj", text)
        return path
    return build


def _cut(folder: Path, name: str, ext: str) -> Path:
    path = write_vector(layer(n=40), folder / f"{name}.shp")
    part = folder / f"{name}{ext}"
    part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    return path


def _with_geoms(folder: Path, name: str, geoms: list, kind_attrs: dict | None = None, crs: int = 4527) -> Path:
    attrs = kind_attrs or {"BSM": list(range(1, len(geoms) + 1))}
    return write_vector(layer(attrs, geoms, crs=crs), folder / f"{name}.gpkg")


# --------------------------------------------------------------------------- geometry oracles
BOWTIE = shapely.Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])
# a hole that crosses its shell: even-odd reading = symmetric difference of the two rings' areas
SHELL = shapely.box(X0, Y0, X0 + 10, Y0 + 10)
HOLE = shapely.box(X0 + 8, Y0 + 4, X0 + 12, Y0 + 6)
CROSSING_HOLE = shapely.Polygon(SHELL.exterior.coords, [HOLE.exterior.coords])


def _bowtie_check(gdf: gpd.GeoDataFrame) -> None:
    assert len(gdf) == 2  # nothing dropped
    g = gdf.geometry.loc[2]
    assert g.is_valid and g.geom_type == "MultiPolygon"
    assert abs(g.area - 50.0) < 1e-6  # two 5 x 10 / 2 triangles
    assert g.equals(shapely.Polygon([(X0, Y0), (X0 + 5, Y0 + 5), (X0, Y0 + 10)]).union(
        shapely.Polygon([(X0 + 10, Y0), (X0 + 5, Y0 + 5), (X0 + 10, Y0 + 10)])))
    assert gdf.geometry.loc[1].equals(squares(1)[0])  # valid features untouched


def _crossing_hole_check(gdf: gpd.GeoDataFrame) -> None:
    g = gdf.geometry.loc[1]
    oracle = shapely.symmetric_difference(SHELL, HOLE)  # overlay, not make_valid
    assert g.is_valid and abs(g.area - oracle.area) < 1e-6 and shapely.equals(g, oracle)


def _null_check(gdf: gpd.GeoDataFrame) -> None:
    assert gdf.index.tolist() == [1, 3] and gdf["BSM"].tolist() == [1, 3]


def _duplicates_check(gdf: gpd.GeoDataFrame) -> None:
    assert len(gdf) == 3 and gdf.attrs["duplicate_ids"] == {"浙土资〔2020〕12号": [1, 2]}
    assert gdf["approval_id"].tolist() == ["浙土资〔2020〕12号", "浙土资〔2020〕12号", "浙土资〔2021〕3号"]


def _collection_check(gdf: gpd.GeoDataFrame) -> None:
    assert gdf.geometry.loc[1].equals(squares(1)[0]) and gdf.geom_type.tolist() == ["Polygon"]


# --------------------------------------------------------------------------- builders
def _empty(folder: Path) -> Path:
    empty = gpd.GeoDataFrame({"BSM": []}, geometry=gpd.GeoSeries([], crs=4527), crs=4527)
    return write_vector(empty, folder / "empty.gpkg", geometry_type="Polygon")


def _two_layers(folder: Path) -> Path:
    path = folder / "county.gpkg"
    write_vector(layer(n=2), path, layer="dltb")
    write_vector(layer(n=1), path, layer="xzq")
    return path


def _txt_zones(folder: Path) -> Path:
    sq = gpd.GeoDataFrame({"DKBH": ["D1"]}, geometry=squares(1), crs=4527)
    write_boundary_txt(sq, folder / "batch1.txt")
    east = gpd.GeoDataFrame({"DKBH": ["D2"]}, geometry=[shapely.box(40_300_000, Y0, 40_300_100, Y0 + 100)],
                            crs=4528)
    write_boundary_txt(east, folder / "batch2.txt")
    return folder


def _folder_of_shapefiles(folder: Path) -> Path:
    sub = folder / "approvals"
    sub.mkdir()
    write_vector(layer({"PZWH": ["a", "b", "c"]}), sub / "pz.shp")
    return sub


def _read(kind: str = "generic", **kw):
    return lambda p: read_layer(p, kind, **kw)


CASES = [
    # ---------------------------------------------------------------- files
    Case("vector_missing_file", lambda d: d / "dltb.gpkg", _read(), FormatError,
         ("dltb.gpkg", "file not found", "check the path")),
    Case("vector_zero_byte_gpkg", lambda d: write_text(d / "dltb.gpkg", ""), _read(), FormatError,
         ("dltb.gpkg", "empty (0 bytes)", "download it again")),
    Case("vector_not_a_vector_file", lambda d: write_text(d / "dltb.geojson", "DLBM,DLMC\n0101,水田\n"), _read(),
         FormatError, ("dltb.geojson", "cannot open as a vector data source", "GeoPackage")),
    Case("vector_shp_without_shx", lambda d: _without(d, "dltb", ".shx"), _read(), FormatError,
         ("dltb.shp", "dltb.shx) is missing", "SHAPE_RESTORE_SHX")),
    Case("vector_shp_without_dbf", lambda d: _without(d, "dltb", ".dbf"), _read(), FormatError,
         ("dltb.shp", "dltb.dbf) is missing", "copy dltb.dbf")),
    Case("vector_shp_truncated", lambda d: _cut(d, "dltb", ".shp"), _read(), FormatError,
         ("dltb.shp", "is truncated", "header says", "copy dltb.shp again")),
    Case("vector_dbf_truncated", lambda d: _cut(d, "dltb", ".dbf"), _read(), FormatError,
         ("dltb.shp", "dltb.dbf is truncated", "copy dltb.dbf again")),
    # ---------------------------------------------------------------- CRS
    # a .prj cut off by a bad copy: GDAL fails on it with "missing [" whatever crs= says
    Case("vector_shp_truncated_prj", _prj('PROJCS["CGCS2000_3_Degree_GK_Zone_39",GEOGCS["GCS_China_Geodetic_'),
         _read(crs=4527), CRSError, ("dltb.shp", "dltb.prj does not hold a CRS", "replace the .prj",
                                     "crs= alone does not help")),
    # a .prj typed by hand: GDAL ignores it
    Case("vector_shp_prj_in_words", _prj("坐标系: 2000国家大地坐标系 39带"), _read(), CRSError,
         ("dltb.shp", "layer has no CRS: dltb.prj holds none GDAL can read", "crs=", "replace dltb.prj")),
    Case("vector_shp_without_prj", lambda d: _without(d, "dltb", ".prj"), _read(), CRSError,
         ("dltb.shp", "has no CRS", "crs=", ".prj")),
    Case("vector_projected_labelled_geographic",
         lambda d: _with_geoms(d, "zd", squares(2, x0=500_000.0), crs=4490), _read("cadastral"), CRSError,
         ("zd.gpkg", "look projected", "is geographic", "pass crs=")),
    Case("vector_prefixed_eastings_under_unprefixed_crs",
         lambda d: _with_geoms(d, "zd", squares(2), crs=4548), _read(), CRSError,
         ("zd.gpkg", "zone-prefixed Gauss-Kruger eastings of zone 39", "gk_crs(39)", "EPSG:4527")),
    Case("vector_prefixed_eastings_under_geographic_crs",
         lambda d: _with_geoms(d, "zd", squares(2), crs=4490), _read(), CRSError,
         ("zd.gpkg", "zone 39", "not a prefixed Gauss-Kruger zone", "gk_crs(39)")),
    Case("vector_unprefixed_eastings_under_prefixed_crs",
         lambda d: _with_geoms(d, "zd", squares(2, x0=500_000.0), crs=4527), _read(), CRSError,
         ("zd.gpkg", "carry no zone prefix", "prefix=False", "EPSG:4548")),
    Case("vector_zone_prefix_disagrees_with_crs",
         lambda d: _with_geoms(d, "zd", squares(2), crs=4528), _read(), CRSError,
         ("zd.gpkg", "zone prefix 39", "is zone 40", "gk_crs(39)")),
    # ---------------------------------------------------------------- encoding
    Case("vector_shp_cpg_utf8_over_gbk", lambda d: _gbk_shapefile(d, "UTF-8"), _read("landuse"), None,
         ("dltb.shp", ".cpg"), repair=".cpg declares 'UTF-8' but the attribute bytes are gbk",
         check=_names_decoded("gbk", "detected")),
    Case("vector_shp_cpg_gbk_over_utf8", lambda d: _utf8_shapefile(d, "936"), _read(), None,
         ("zd.shp",), repair="the attribute bytes are utf-8, not gbk", check=_names_decoded("utf-8", "detected")),
    Case("vector_shp_cpg_unknown_codepage", lambda d: _gbk_shapefile(d, "ANSI-CHINA"), _read(), None,
         ("dltb.shp",), repair="'ANSI-CHINA', which is not a known encoding", check=_names_decoded("gbk", "detected")),
    # GBK without .cpg: GDAL alone reads Latin-1 mojibake; onemap decodes the bytes as GBK and reports it
    Case("vector_shp_gbk_without_cpg", lambda d: _gbk_shapefile(d, None), _read("landuse"), None,
         ("dltb.shp", "no .cpg"), repair="not UTF-8 -> decoded as gbk", check=_names_decoded("gbk", "detected")),
    Case("vector_shp_wrong_encoding_argument", lambda d: _gbk_shapefile(d, None), _read(encoding="utf-8"),
         EncodingError, ("dltb.shp", "do not decode as utf-8", "encoding=")),
    Case("vector_shp_wrong_cpg_with_repair_false", lambda d: _gbk_shapefile(d, "UTF-8"), _read(repair=False),
         EncodingError, ("dltb.cpg", "declares 'UTF-8'", "encoding='gbk'")),
    # ---------------------------------------------------------------- geometry
    Case("vector_null_geometries", lambda d: _with_geoms(d, "dltb", [squares(1)[0], None, squares(2)[1], None]),
         _read(), None, ("dltb.gpkg", "feature 2", "feature 4"), repair="null geometry -> feature dropped",
         check=_null_check),
    Case("vector_all_geometries_null", lambda d: _with_geoms(d, "dltb", [None, None]), _read(), DataError,
         ("dltb.gpkg", "no features left after dropping null geometries", "allow_empty=True")),
    Case("vector_bowtie_polygon", lambda d: _with_geoms(d, "dltb", [squares(1)[0], BOWTIE]), 
         _read("redline"), None, ("dltb.gpkg", "feature 2"),
         repair="invalid geometry: Self-intersection", check=_bowtie_check),
    Case("vector_hole_crossing_shell", lambda d: _with_geoms(d, "hx", [CROSSING_HOLE]), _read("redline"), None,
         ("hx.gpkg", "feature 1"), repair="make_valid -> ", check=_crossing_hole_check),
    Case("vector_invalid_geometry_with_repair_false", lambda d: _with_geoms(d, "hx", [squares(1)[0], BOWTIE]),
         _read("redline", repair=False), GeometryError, ("hx.gpkg", "feature 2", "Self-intersection", "repair=True")),
    Case("vector_geometry_collection_in_polygon_kind",
         lambda d: _with_geoms(d, "hx", [shapely.GeometryCollection([squares(1)[0], shapely.LineString(
             [(X0, Y0), (X0 - 50, Y0 - 50)])])]), _read("farmland"), None, ("hx.gpkg", "feature 1"),
         repair="GeometryCollection in a polygon layer", check=_collection_check),
    Case("vector_approvals_as_lines", lambda d: _with_geoms(d, "pz", [shapely.LineString(g.exterior.coords) for g in squares(2)],
                                                            {"PZWH": ["a", "b"]}),
         _read("approval"), GeometryError, ("pz.gpkg", "feature 1 (PZWH=a)", "needs polygons", "LineString",
                                            "buffer")),
    Case("vector_approvals_as_points_via_read_source",
         lambda d: _with_geoms(d, "pz", [shapely.Point(X0, Y0), shapely.Point(X0 + 50, Y0)], {"PZWH": ["a", "b"]}),
         lambda p: read_source(p, "approval"), GeometryError,
         ("pz.gpkg", "feature 1", "kind='approval' needs polygons", "Point", "kind='generic'")),
    # ---------------------------------------------------------------- attributes and layers
    # duplicate ids are kept (one 批准文号 often covers several parcels) and reported per value
    Case("vector_duplicate_approval_ids",
         lambda d: write_vector(layer({"PZWH": ["浙土资〔2020〕12号", "浙土资〔2020〕12号", "浙土资〔2021〕3号"]}),
                                d / "pz.gpkg"), _read("approval"), None, ("pz.gpkg", "features 1, 2"),
         repair="duplicate approval_id '浙土资〔2020〕12号' (PZWH)", check=_duplicates_check),
    Case("vector_landuse_without_code_column", lambda d: write_vector(layer({"MC": ["水田", "旱地", "林地"]}),
                                                                        d / "dltb.gpkg"),
         _read("landuse"), DataError, ("dltb.gpkg", "no land-use code column", "columns={'landuse_code'")),
    Case("vector_empty_layer", _empty, _read(), DataError, ("empty.gpkg", "has no features", "allow_empty=True")),
    Case("vector_gpkg_several_layers_no_name", _two_layers, _read(), DataError,
         ("county.gpkg", "2 layers with geometries", "'dltb', 'xzq'", "layer=")),
    Case("vector_gpkg_unknown_layer_name", _two_layers, _read(layer="DLTB2023"), DataError,
         ("county.gpkg", "no layer 'DLTB2023'", "pass one of these names")),
    Case("vector_unknown_kind", lambda d: write_vector(layer(), d / "a.gpkg"), _read("approvals"), DataError,
         ("a.gpkg", "unknown layer kind 'approvals'", "approval")),
    # ---------------------------------------------------------------- sources (files, TXT folders)
    Case("sources_txt_folder_mixed_crs", _txt_zones, lambda p: read_source(p, "approval"), CRSError,
         ("batch2.txt", "zone 40", "batch1.txt", "zone 39", "to_crs=")),
    Case("sources_folder_of_shapefiles", _folder_of_shapefiles, lambda p: read_source(p, "approval"), DataError,
         ("approvals", "no land-boundary TXT files", "pz.shp")),
]
