"""GeoParquet through read_layer / write_layer / layer_info: same checks and errors as GPKG."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from onemap.errors import CRSError, DataError, FormatError, GeometryError, RepairWarning
from onemap.ingest.vector import layer_info, read_layer, write_layer

X0, Y0 = 39_500_000.0, 3_300_000.0  # zone-prefixed easting of CGCS2000 3-degree zone 39 (EPSG:4527)


def dltb(n: int = 5) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "DLBM": ["0101", "0702", "0201", "1001", "0101"][:n],
            "DLMC": ["水田", "农村宅基地", "果园", "铁路用地", "水田"][:n],
            "BSM": np.arange(n, dtype=np.int64),
            "TBMJ": np.linspace(100.0, 500.0, n),
        },
        geometry=[shapely.box(X0 + 20 * i, Y0, X0 + 20 * i + 10, Y0 + 10) for i in range(n)],
        crs=4527,
    )


def quiet_read(*args, **kwargs) -> gpd.GeoDataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the happy path is quiet
        return read_layer(*args, **kwargs)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rewrite_geo(src: Path, dst: Path, edit) -> Path:
    """Copy a GeoParquet file with its 'geo' metadata edited by *edit* (None: removed)."""
    table = pq.read_table(src)
    meta = dict(table.schema.metadata)
    geo = edit(json.loads(meta.pop(b"geo")))
    if geo is not None:
        meta[b"geo"] = json.dumps(geo).encode()
    pq.write_table(table.replace_schema_metadata(meta), dst)
    return dst


def test_same_layer_as_gpkg(tmp_path):
    src = dltb()
    g = quiet_read(write_layer(src, tmp_path / "dltb.gpkg"), "landuse")
    p = quiet_read(write_layer(src, tmp_path / "dltb.parquet"), "landuse")
    assert list(p.columns) == list(g.columns)
    assert p.dtypes.astype(str).to_dict() == g.dtypes.astype(str).to_dict()
    assert p["landuse_code"].tolist() == ["0101", "0702", "0201", "1001", "0101"]  # codes stay text
    pd.testing.assert_frame_equal(
        pd.DataFrame(p.drop(columns="geometry")).reset_index(drop=True),
        pd.DataFrame(g.drop(columns="geometry")).reset_index(drop=True),
    )
    assert shapely.equals_exact(
        np.asarray(p.geometry.values), np.asarray(g.geometry.values), 0
    ).all()
    assert p.crs == g.crs and p.attrs["crs"] == g.attrs["crs"] == "EPSG:4527"
    assert p.attrs["driver"] == "Parquet" and p.attrs["layer"] == "dltb" and p.index.name == "fid"
    assert {k: v for k, v in p.attrs.items() if k not in ("source", "driver", "layer")} == {
        k: v for k, v in g.attrs.items() if k not in ("source", "driver", "layer")
    }


def test_write_is_atomic_deterministic_and_drops_attrs(tmp_path):
    src = dltb()
    src.attrs["repairs"] = ["something not serialisable", object()]
    path = write_layer(src, tmp_path / "a.parquet")
    first = sha(path)
    write_layer(src, path)
    assert sha(path) == first  # same layer, same bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet"]  # no temporaries left
    assert b"PANDAS_ATTRS" not in (pq.read_metadata(path).metadata or {})
    meta = json.loads(pq.read_metadata(path).metadata[b"geo"])
    assert "covering" in meta["columns"]["geometry"]  # bbox column for filtered reads


def test_failed_write_keeps_old_file(tmp_path):
    path = write_layer(dltb(), tmp_path / "a.parquet")
    before = sha(path)
    bad = dltb()
    bad["mixed"] = [1, "two", 3.0, None, b"x"]  # no Parquet type holds these
    with pytest.raises(FormatError, match="a.parquet"):
        write_layer(bad, path)
    assert sha(path) == before and sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet"]


def test_write_refuses_gbk_and_missing_crs(tmp_path):
    with pytest.raises(FormatError, match="UTF-8"):
        write_layer(dltb(), tmp_path / "a.parquet", encoding="GBK")
    with pytest.raises(CRSError):
        write_layer(dltb().set_crs(None, allow_override=True), tmp_path / "a.parquet")


@pytest.mark.parametrize(
    "edit",
    [
        lambda geo: {
            **geo,
            "columns": {
                "geometry": {k: v for k, v in geo["columns"]["geometry"].items() if k != "crs"}
            },
        },  # key missing
        lambda geo: {**geo, "columns": {"geometry": {**geo["columns"]["geometry"], "crs": None}}},
    ],  # null
    ids=["missing", "null"],
)
def test_missing_crs_is_the_same_error_as_gpkg(tmp_path, edit):
    path = rewrite_geo(
        write_layer(dltb(), tmp_path / "a.parquet"), tmp_path / "nocrs.parquet", edit
    )
    with pytest.raises(CRSError, match="layer has no CRS") as err:
        read_layer(path, "landuse")
    assert str(path) in str(err.value) and "crs=" in str(err.value)
    # GPKG without CRS says the same
    with pytest.raises(CRSError, match="layer has no CRS"):
        gpkg = tmp_path / "nocrs.gpkg"
        import pyogrio

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyogrio: "'crs' was not provided"
            pyogrio.write_dataframe(dltb().set_crs(None, allow_override=True), gpkg)
        read_layer(gpkg, "landuse")
    fixed = quiet_read(path, "landuse", crs=4527)
    assert fixed.crs.to_epsg() == 4527 and len(fixed) == 5


def test_wrong_crs_checks_apply(tmp_path):
    wrong = dltb().set_crs(4326, allow_override=True)  # projected numbers under lon/lat
    path = write_layer(wrong, tmp_path / "w.parquet")
    with pytest.raises(CRSError, match="zone-prefixed Gauss-Kruger eastings of zone 39.*EPSG:4527"):
        read_layer(path, "landuse")


@pytest.mark.parametrize("damage", ["truncated", "empty", "not_parquet", "no_geo"])
def test_broken_files_are_format_errors_naming_the_file(tmp_path, damage):
    good = write_layer(dltb(), tmp_path / "good.parquet")
    path = tmp_path / f"{damage}.parquet"
    data = good.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "not_parquet":
        path.write_text("DLBM,DLMC\n0101,水田\n", encoding="utf-8")
    else:
        rewrite_geo(good, path, lambda geo: None)
    with pytest.raises(FormatError) as err:
        read_layer(path)
    assert str(path) in str(err.value) and "Fix:" in str(err.value)
    with pytest.raises(FormatError):
        layer_info(path)


def test_damaged_data_page_is_detected(tmp_path):
    """Page checksums: flipping bytes inside a data page is an error, not different values."""
    path = write_layer(dltb(), tmp_path / "a.parquet")
    meta = pq.read_metadata(path)
    col = meta.row_group(0).column(meta.schema.names.index("DLMC"))
    start = col.dictionary_page_offset or col.data_page_offset
    data = bytearray(path.read_bytes())
    mid = start + col.total_compressed_size - 6  # inside the last page's payload, past its header
    data[mid : mid + 2] = bytes(b ^ 0xFF for b in data[mid : mid + 2])
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="bad.parquet"):
        read_layer(bad, "landuse")


def test_geometry_checks_and_repairs_apply(tmp_path):
    src = dltb(3)
    bow = shapely.Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])
    src.loc[1, "geometry"] = bow
    src.loc[2, "geometry"] = None
    path = write_layer(src, tmp_path / "r.parquet")
    with pytest.warns(RepairWarning):
        got = read_layer(path, "landuse")
    assert len(got) == 2 and got.geometry.is_valid.all() and len(got.attrs["repairs"]) == 2
    pts = gpd.GeoDataFrame({"DLBM": ["0101"]}, geometry=[shapely.Point(X0, Y0)], crs=4527)
    with pytest.raises(GeometryError):
        read_layer(write_layer(pts, tmp_path / "p.parquet"), "landuse")


def test_bbox_read_with_and_without_covering(tmp_path):
    src = dltb()
    box = (X0 + 15, Y0 - 1, X0 + 45, Y0 + 1)  # meets features 1 and 2 only
    want = src.iloc[[1, 2]]["BSM"].tolist()
    covered = write_layer(src, tmp_path / "c.parquet")
    plain = tmp_path / "plain.parquet"
    src.to_parquet(plain, index=False)  # another writer: no bbox covering column
    gpkg = write_layer(src, tmp_path / "c.gpkg")
    for path in (covered, plain, gpkg):
        got = quiet_read(path, "landuse", bbox=box)
        assert got["BSM"].tolist() == want, path.name
    # a box that meets a feature's bounding box but not the feature itself
    tri = gpd.GeoDataFrame(
        {"k": ["t"]}, crs=4527, geometry=[shapely.Polygon([(X0, Y0), (X0 + 10, Y0), (X0, Y0 + 10)])]
    )
    path = write_layer(tri, tmp_path / "tri.parquet")
    assert len(read_layer(path, bbox=(X0 + 8, Y0 + 8, X0 + 9, Y0 + 9), allow_empty=True)) == 0
    with pytest.raises(DataError, match="no features"):
        read_layer(path, bbox=(X0 + 8, Y0 + 8, X0 + 9, Y0 + 9))


def test_layer_info_and_encoding(tmp_path):
    path = write_layer(dltb(), tmp_path / "dltb.parquet")
    info = layer_info(path)
    assert info["driver"] == "Parquet" and info["crs"] == "EPSG:4527" and info["feature_count"] == 5
    assert info["zone_info"]["zone"] == 39 and info["geometry_type"] == "Polygon"
    assert set(info["fields"]) == {"DLBM", "DLMC", "BSM", "TBMJ"}
    assert info["bounds"] == pytest.approx((X0, Y0, X0 + 90, Y0 + 10))
    assert quiet_read(path, encoding="utf-8")["DLMC"].iloc[1] == "农村宅基地"
    with pytest.raises(DataError, match="UTF-8"):
        read_layer(path, encoding="gbk")
    with pytest.raises(DataError, match="no layer"):
        read_layer(path, layer="other")


def test_reproject_on_read(tmp_path):
    path = write_layer(dltb(), tmp_path / "dltb.parquet")
    got = quiet_read(path, "landuse", to_crs=4490)
    assert got.crs.to_epsg() == 4490 and got.attrs["reprojected"]["from"] == "EPSG:4527"


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "name",
    [
        "geo/spacenet/geotiff_labels.geojson",
        "geo/eolearn_patch/TestEOPatch/vector_timeless/LULC.gpkg",
        "geo/rasterstats/polygons.shp",
    ],
)
def test_real_layers_round_trip(shared_data, tmp_path, name):
    """Real third-party layers in the CRS they come in: GeoParquet holds what the source held."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # repairs of the source are reported by the source read
        src = read_layer(shared_data / name)
    back = quiet_read(write_layer(src.drop(columns=[]), tmp_path / "x.parquet"))
    assert back.crs == src.crs and len(back) == len(src)
    keep = [c for c in src.columns if c != "geometry"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(back[keep]).reset_index(drop=True),
        pd.DataFrame(src[keep]).reset_index(drop=True),
    )
    assert shapely.equals_exact(
        np.asarray(back.geometry.values), np.asarray(src.geometry.values), 0
    ).all()


def small_verdicts() -> gpd.GeoDataFrame:
    """Verdicts of three patches judged by flag_unapproved (codes with leading zeros, Chinese)."""
    from onemap import flag_unapproved

    box = shapely.box
    landuse = gpd.GeoDataFrame(
        {"landuse_code": ["0101", "0702"]},
        crs=4527,
        geometry=[box(X0, Y0, X0 + 100, Y0 + 100), box(X0 + 100, Y0, X0 + 200, Y0 + 100)],
    )
    approvals = gpd.GeoDataFrame(
        {"approval_id": ["鲁政土字〔2024〕01号"]},
        crs=4527,
        geometry=[box(X0, Y0, X0 + 50, Y0 + 100)],
    )
    admin = gpd.GeoDataFrame(
        {"admin_code": ["370102001"], "admin_name": ["城关镇"]},
        crs=4527,
        geometry=[box(X0 - 10, Y0 - 10, X0 + 210, Y0 + 110)],
    )
    patches = gpd.GeoDataFrame(
        geometry=[
            box(X0 + 10, Y0 + 10, X0 + 40, Y0 + 40),
            box(X0 + 60, Y0 + 10, X0 + 90, Y0 + 40),
            box(X0 + 120, Y0 + 10, X0 + 150, Y0 + 40),
        ],
        crs=4527,
    )
    return flag_unapproved(patches, approvals, landuse, admin=admin)


def test_survey_outputs_gpkg_and_parquet_agree(tmp_path):
    """export_results writes verdicts.parquet beside verdicts.gpkg: same rows, columns, dtypes,
    geometries (read back with plain geopandas, not only with onemap's reader), hashed alike."""
    from onemap.export import export_results, sha256_file

    verdicts = small_verdicts()
    written = export_results(tmp_path, verdicts)
    assert written["verdicts.parquet"] == sha256_file(tmp_path / "verdicts.parquet")
    g = gpd.read_file(tmp_path / "verdicts.gpkg")
    p = gpd.read_parquet(tmp_path / "verdicts.parquet")
    assert (
        list(p.columns)
        == list(g.columns)
        == [c for c in verdicts.columns if c != "geometry"] + ["geometry"]
    )
    assert p.dtypes.astype(str).to_dict() == g.dtypes.astype(str).to_dict()
    assert p["admin_code"].tolist() == ["370102001"] * 3 and p["verdict"].tolist() == [
        "approved",
        "unapproved",
        "existing_construction",
    ]
    pd.testing.assert_frame_equal(
        pd.DataFrame(p.drop(columns="geometry")), pd.DataFrame(g.drop(columns="geometry"))
    )
    assert shapely.equals_exact(
        np.asarray(p.geometry.values), np.asarray(g.geometry.values), 0
    ).all()
    assert p.crs == g.crs == verdicts.crs
    ours = [read_layer(tmp_path / f"verdicts.{ext}") for ext in ("gpkg", "parquet")]
    assert ours[0].dtypes.to_dict() == ours[1].dtypes.to_dict()
    again = export_results(tmp_path, verdicts)  # a rerun: byte-identical files
    assert again == written


def test_bbox_read_across_row_groups(tmp_path):
    """Several row groups (rows in scan order, as a survey's patches): the bbox read returns
    exactly the features that intersect the box, like a brute-force test of every feature."""
    from onemap.ingest._parquet import ROW_GROUP

    n = ROW_GROUP * 2 + 100
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 5_000, (n, 2))
    xy = xy[np.lexsort((xy[:, 0], xy[:, 1] // 250))]
    geoms = shapely.buffer(
        shapely.points(X0 + xy[:, 0], Y0 + xy[:, 1]), rng.uniform(1, 20, n), quad_segs=4
    )
    src = gpd.GeoDataFrame({"k": np.arange(n)}, geometry=geoms, crs=4527)
    path = write_layer(src, tmp_path / "many.parquet")
    assert pq.read_metadata(path).num_row_groups == 3
    for box in [
        (X0 + 1000, Y0 + 1000, X0 + 1300, Y0 + 1200),
        (X0 - 50, Y0 + 4900, X0 + 30, Y0 + 5100),
    ]:
        want = np.flatnonzero(shapely.intersects(geoms, shapely.box(*box)))
        got = quiet_read(path, bbox=box)
        assert sorted(got["k"]) == want.tolist() and len(want) > 0


def test_read_source_takes_parquet(tmp_path):
    from onemap.ingest.sources import read_source

    path = write_layer(dltb(), tmp_path / "dltb.parquet")
    got = read_source(path, "landuse", to_crs=4490)
    assert got["landuse_code"].tolist()[:2] == ["0101", "0702"] and got.crs.to_epsg() == 4490


def test_one_layer_per_file(tmp_path):
    path = write_layer(dltb(), tmp_path / "dltb.parquet", layer="dltb")  # the file's own name: fine
    assert read_layer(path, layer="dltb").attrs["layer"] == "dltb"
    with pytest.raises(DataError, match="one layer, named after the file.*dltb.*'xzq'") as err:
        write_layer(dltb(), tmp_path / "dltb.parquet", layer="xzq")
    assert "xzq.parquet" in str(err.value)
