"""GeoParquet layers (read_layer) and earlier years' results (match_previous, [history]).

The files are written with geopandas / pyarrow directly, not with onemap's writer: the corpus must
not depend on the code it checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyarrow.parquet as pq
import shapely

from onemap import read_layer
from onemap.config import load_config
from onemap.errors import ConfigError, CRSError, DataError, FormatError, GeometryError

from . import Case
from ._build import X0, Y0, layer, squares, survey_inputs, survey_toml, write_text

BOWTIE = shapely.Polygon([(X0, Y0), (X0 + 10, Y0 + 10), (X0 + 10, Y0), (X0, Y0 + 10)])


def _parquet(gdf: gpd.GeoDataFrame, path: Path, **kw) -> Path:
    gdf.to_parquet(path, index=False, **kw)
    return path


def _geo_edited(edit):
    """Build: a valid DLTB GeoParquet whose 'geo' metadata *edit* rewrites (None: removes it)."""

    def build(folder: Path) -> Path:
        path = _parquet(layer({"DLBM": ["0101", "0702", "1003"]}), folder / "dltb.parquet")
        table = pq.read_table(path)
        meta = dict(table.schema.metadata)
        geo = edit(json.loads(meta.pop(b"geo")))
        if geo is not None:
            meta[b"geo"] = geo if isinstance(geo, bytes) else json.dumps(geo).encode()
        pq.write_table(table.replace_schema_metadata(meta), path)
        return path

    return build


def _without_crs(geo: dict) -> dict:
    geo["columns"]["geometry"].pop("crs")
    return geo


def _null_crs(geo: dict) -> dict:
    geo["columns"]["geometry"]["crs"] = None
    return geo


def _cut(folder: Path) -> Path:
    path = _parquet(layer(n=200), folder / "dltb.parquet")
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    return path


def _damaged_page(folder: Path) -> Path:
    """Bytes flipped inside the text column's data page of a file written with page checksums."""
    path = _parquet(
        layer({"QSDWMC": ["张家村村民委员会", "李家村", "城关镇"] * 50}, squares(150)),
        folder / "zd.parquet",
        write_page_checksum=True,
        compression="none",
    )
    meta = pq.read_metadata(path).row_group(0).column(0)
    end = (meta.dictionary_page_offset or meta.data_page_offset) + meta.total_compressed_size
    data = bytearray(path.read_bytes())
    data[end - 8 : end - 6] = bytes(b ^ 0xFF for b in data[end - 8 : end - 6])
    path.write_bytes(bytes(data))
    return path


def _previous(folder: Path, gdf: gpd.GeoDataFrame, name: str = "2024_verdicts.parquet") -> Path:
    return _parquet(gdf, folder / name)


def _history(path: Path):
    """Read: this year's three patches against the earlier results at *path*."""
    from onemap.history import match_previous

    now = layer({"patch_id": [1, 2, 3], "verdict": ["unapproved"] * 3})
    return match_previous(now, str(path))


def _history_toml(entry: str):
    def build(folder: Path) -> Path:
        survey_inputs(folder)
        (folder / "out").mkdir()
        _previous(folder / "out", layer({"verdict": ["unapproved"] * 3}), "verdicts.parquet")
        text = survey_toml(folder) + f"\n[history]\nprevious = [{entry}]\n"
        return write_text(folder / "survey.toml", text)

    return build


CASES = [
    # ---------------------------------------------------------------- GeoParquet files
    Case(
        "parquet_no_crs_key",
        _geo_edited(_without_crs),
        lambda p: read_layer(p, "landuse"),
        CRSError,
        ("dltb.parquet", "layer has no CRS", "crs="),
    ),
    Case(
        "parquet_null_crs",
        _geo_edited(_null_crs),
        lambda p: read_layer(p, "landuse"),
        CRSError,
        ("dltb.parquet", "layer has no CRS", "crs="),
    ),
    Case(
        "parquet_plain_table_no_geo_metadata",
        _geo_edited(lambda geo: None),
        lambda p: read_layer(p),
        FormatError,
        ("dltb.parquet", "without GeoParquet 'geo' metadata", "to_parquet"),
    ),
    Case(
        "parquet_malformed_geo_metadata",
        _geo_edited(lambda geo: b"{not json"),
        lambda p: read_layer(p),
        FormatError,
        ("dltb.parquet", "'geo' metadata is malformed", "export the file again"),
    ),
    Case(
        "parquet_truncated",
        _cut,
        lambda p: read_layer(p),
        FormatError,
        ("dltb.parquet", "not a readable Parquet file", "copy or export the file again"),
    ),
    Case(
        "parquet_zero_bytes",
        lambda d: write_text(d / "dltb.parquet", ""),
        lambda p: read_layer(p),
        FormatError,
        ("dltb.parquet", "file is empty", "copy or download it again"),
    ),
    Case(
        "parquet_damaged_data_page",
        _damaged_page,
        lambda p: read_layer(p),
        FormatError,
        ("zd.parquet", "cannot read the GeoParquet file", "export the file again"),
    ),
    Case(
        "parquet_gauss_kruger_under_lonlat",
        lambda d: _parquet(layer(crs=4490), d / "dltb.parquet"),
        lambda p: read_layer(p, "landuse"),
        CRSError,
        ("dltb.parquet", "zone-prefixed Gauss-Kruger eastings of zone 39", "gk_crs(39)"),
    ),
    Case(
        "parquet_gbk_encoding_asked",
        lambda d: _parquet(layer(), d / "dltb.parquet"),
        lambda p: read_layer(p, encoding="gbk"),
        DataError,
        ("dltb.parquet", "UTF-8, not gbk", "drop encoding="),
    ),
    Case(
        "parquet_points_as_landuse",
        lambda d: _parquet(layer({"DLBM": ["0101"]}, [shapely.Point(X0, Y0)]), d / "dltb.parquet"),
        lambda p: read_layer(p, "landuse"),
        GeometryError,
        ("dltb.parquet", "feature 0", "needs polygons"),
    ),
    Case(
        "parquet_bowtie_polygon",
        lambda d: _parquet(
            layer({"DLBM": ["0101", "0702"]}, [squares(1)[0], BOWTIE]), d / "dltb.parquet"
        ),
        lambda p: read_layer(p, "landuse"),
        None,
        ("dltb.parquet", "feature 1"),
        repair="invalid geometry: Self-intersection",
    ),
    # ---------------------------------------------------------------- earlier years' results
    Case(
        "history_previous_without_verdict",
        lambda d: _previous(d, layer({"JCBH": ["a", "b", "c"]})),
        _history,
        DataError,
        ("2024_verdicts.parquet", "lack a verdict column", "columns={'verdict'"),
    ),
    Case(
        "history_previous_unknown_verdicts",
        lambda d: _previous(d, layer({"verdict": ["违法", "合法", "unapproved"]})),
        _history,
        DataError,
        ("2024_verdicts.parquet", "verdicts onemap does not know", "'违法'", "Chinese labels"),
    ),
    Case(
        "history_previous_without_crs",
        _geo_edited(lambda geo: _null_crs({**geo, "columns": geo["columns"]})),
        _history,
        CRSError,
        ("dltb.parquet", "layer has no CRS", "crs="),
    ),
    Case(
        "history_previous_points",
        lambda d: _previous(d, layer({"verdict": ["unapproved"]}, [shapely.Point(X0 + 5, Y0 + 5)])),
        _history,
        GeometryError,
        ("2024_verdicts.parquet", "non-polygon", "polygons"),
    ),
    Case(
        "config_history_own_output",
        _history_toml('"out/verdicts.parquet"'),
        load_config,
        ConfigError,
        (
            "survey.toml",
            "[history] previous[0]",
            "this survey's own output",
            "earlier years' results only",
        ),
    ),
    Case(
        "config_history_password_in_url",
        _history_toml('{url = "postgresql://gis:secret@db/onemap", table = "onemap.verdicts"}'),
        load_config,
        ConfigError,
        ("survey.toml", "[history] previous[0] url", "holds a password", "PGPASSWORD"),
    ),
    Case(
        "config_history_url_without_table",
        _history_toml('"postgresql://gis@db/onemap"'),
        load_config,
        ConfigError,
        ("survey.toml", "[history] previous[0]", "is a URL", "table = "),
    ),
    Case(
        "config_history_missing_file",
        _history_toml('"2023/verdicts.gpkg"'),
        load_config,
        ConfigError,
        ("survey.toml", "[history] previous[0] path", "does not exist", "fix the path"),
    ),
]
