"""Survey configurations (load_config) that a person typed, copied or saved wrongly.

The last cases hold inputs that only :func:`onemap.run_survey` can judge (the pixels must be read).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from onemap import load_config, run_survey
from onemap.errors import ConfigError, DataError

from . import Case
from ._build import pixels, survey_inputs, survey_toml, write_text, write_tif


def _toml(text_of=None, **kw):
    """Build: the survey inputs and a TOML from :func:`survey_toml` (``text_of(folder)`` replaces it)."""
    def build(folder: Path) -> Path:
        survey_inputs(folder)
        text = text_of(folder) if text_of else survey_toml(folder, **kw)
        return write_text(folder / "survey.toml", text)
    return build


def _edit(old: str, new: str, **kw):
    """Build: the valid TOML with one piece of text replaced."""
    def text(folder: Path) -> str:
        good = survey_toml(folder, **kw)
        assert old in good, old
        return good.replace(old, new)
    return _toml(text)


def _gbk_toml(folder: Path) -> Path:
    survey_inputs(folder)
    text = survey_toml(folder).replace('name = "corpus"', 'name = "某某县2025年度变更调查"')
    return write_text(folder / "survey.toml", text, encoding="gbk")


CASES = [
    # ---------------------------------------------------------------- the file itself
    Case("config_not_found", lambda d: d / "survey.toml", load_config, ConfigError,
         ("survey.toml", "not found", ".toml file")),
    Case("config_bad_toml_syntax", _edit("[scenes.after]", "[scenes.after"), load_config, ConfigError,
         ("survey.toml, line 13", "not valid TOML at column", "the line reads '[scenes.after'",
          "close the table name with ']'", "e.g. [scenes.after]")),
    Case("config_unquoted_string", _edit('sensor = "gf2"', "sensor = gf2"), load_config, ConfigError,
         ("survey.toml, line 11", "not valid TOML at column", "put text values in quotes",
          'e.g. sensor = "gf2"')),
    Case("config_not_utf8", _gbk_toml, load_config, ConfigError,
         ("survey.toml, line 2", "not UTF-8 text", "save the TOML file as UTF-8")),
    # ---------------------------------------------------------------- keys and sections
    Case("config_unknown_key_with_suggestion", _toml(extra='\n[enforce]\ntolerence_m = 1.0\n'), load_config,
         ConfigError, ("survey.toml", "[enforce] tolerence_m is not a known key", "did you mean 'tolerance_m'")),
    Case("config_unknown_section_with_suggestion", _edit("[layers.landuse]", "[layer.landuse]"), load_config,
         ConfigError, ("survey.toml", "[layer] is not a known key", "did you mean 'layers'")),
    Case("config_unknown_layer_name", _edit("[layers.landuse]", "[layers.landuse]\npath = \"dltb.gpkg\"\n"
                                            "[layers.aprovals]"), load_config,
         ConfigError, ("survey.toml", "[layers] aprovals is not a known key", "did you mean 'approvals'")),
    Case("config_missing_scenes_section",
         _toml(lambda d: "[layers.landuse]\npath = \"dltb.gpkg\"\n"), load_config, ConfigError,
         ("survey.toml", "[scenes] is required", "add [scenes.before] and [scenes.after] tables")),
    Case("config_missing_landuse_layer",
         _edit('[layers.landuse]\npath = "dltb.gpkg"\n', '[layers.approvals]\npath = "dltb.gpkg"\n'), load_config,
         ConfigError, ("survey.toml", "[layers.landuse] is required", "add a [layers.landuse] table")),
    Case("config_missing_after_scene", _edit('[scenes.after]\npath = "GF2_20250901.tif"\nsensor = "gf2"\n', ""),
         load_config, ConfigError, ("survey.toml", "[scenes.after] is required", "add a [scenes.after] table")),
    Case("config_scene_path_and_paths", _edit('path = "GF2_20240901.tif"',
                                              'path = "GF2_20240901.tif"\npaths = ["GF2_20240901.tif"]'),
         load_config, ConfigError, ("survey.toml", "[scenes.before] needs exactly one of path or paths")),
    # ---------------------------------------------------------------- files named
    Case("config_missing_scene_file", _toml(before="GF2_20240901_PMS1.tif"), load_config, ConfigError,
         ("survey.toml", "[scenes.before] path names a file that does not exist", "GF2_20240901_PMS1.tif",
          "fix the path")),
    Case("config_missing_layer_file", _toml(landuse="DLTB.shp"), load_config, ConfigError,
         ("survey.toml", "[layers.landuse] path names a file that does not exist", "DLTB.shp")),
    # ---------------------------------------------------------------- types and values
    Case("config_wrong_type_res", _toml(frame='zone = 39\nres = "2m"'), load_config, ConfigError,
         ("survey.toml", "[frame] res must be a number, got '2m'")),
    Case("config_wrong_type_workers", _toml(extra="\n[run]\nworkers = \"four\"\n"), load_config, ConfigError,
         ("survey.toml", "[run] workers must be a number, got 'four'")),
    Case("config_wrong_type_sensor", _edit('sensor = "gf2"', "sensor = 2"), load_config, ConfigError,
         ("survey.toml", "[scenes.before] sensor must be a string, got 2", 'sensor = "2"')),
    Case("config_wrong_type_layer_encoding", _toml(extra="encoding = 936\n"), load_config, ConfigError,
         ("survey.toml", "[layers.landuse] encoding must be a string", 'encoding = "936"')),
    Case("config_scene_date_not_a_date", _edit('sensor = "gf2"', 'sensor = "gf2"\ndate = "2024年秋"'),
         load_config, ConfigError, ("survey.toml", "[scenes.before] date is not a date: '2024年秋'", "2024-09-01")),
    Case("config_tile_size_fraction", _toml(extra="\n[run]\ntile_size = 0.5\n"), load_config, ConfigError,
         ("survey.toml", "[run] tile_size must be a whole number, got 0.5")),
    Case("config_layer_crs_invalid", _toml(extra='crs = "CGCS2000 zone 39"\n'), load_config, ConfigError,
         ("survey.toml", "[layers.landuse] crs is not a valid CRS", "EPSG code")),
    Case("config_zone_out_of_range", _toml(frame="zone = 50\nres = 2.0"), load_config, ConfigError,
         ("survey.toml", "[frame] zone must be a Gauss-Kruger zone number", "got 50")),
    Case("config_invalid_frame_crs", _toml(frame='crs = "EPSG:99999"'), load_config, ConfigError,
         ("survey.toml", "[frame] crs is not a valid CRS", "EPSG code")),
    Case("config_crs_and_zone", _toml(frame="zone = 39\ncrs = 4527"), load_config, ConfigError,
         ("survey.toml", "[frame] give crs or zone, not both")),
    Case("config_extent_inverted", _toml(frame="zone = 39\nextent = [39500128, 3300000, 39500000, 3300128]"),
         load_config, ConfigError, ("survey.toml", "[frame] extent is empty or inverted", "[left, bottom, right, top]")),
    # ---------------------------------------------------------------- the frame against the data
    # a config copied from the county next door: frame zone 40, the scenes are in zone 39 (117°E)
    Case("config_zone_does_not_match_scenes", _toml(frame="zone = 40\nres = 2.0"), load_config, ConfigError,
         ("survey.toml", "[frame] zone is Gauss-Kruger zone 40", "[scenes.before] GF2_20240901.tif",
          "in zone 39", "use zone = 39")),
    Case("config_frame_crs_does_not_match_scenes", _toml(frame="crs = 4528"), load_config, ConfigError,
         ("survey.toml", "[frame] crs is Gauss-Kruger zone 40", "GF2_20240901.tif", "use crs = 4527")),
]


# ------------------------------------------------------------------------------ pending
def _scene_all_nodata(folder: Path) -> Path:
    """The after scene is nothing but its nodata value (a failed mosaic export)."""
    survey_inputs(folder)
    write_tif(folder / "GF2_20250901.tif", np.zeros_like(pixels()))
    return write_text(folder / "survey.toml", survey_toml(folder))


def _scene_all_cloud(folder: Path) -> Path:
    """The after scene is one bright white cloud deck (reflectance ~0.9 in every band)."""
    survey_inputs(folder)
    write_tif(folder / "GF2_20250901.tif", pixels(low=8800, high=9200, seed=5))
    extra = "\n[detect]\noptions = { reflectance_scale = 10000.0, cloud_mask = true }\n"
    return write_text(folder / "survey.toml", survey_toml(folder, extra=extra))


def _scene_cloud_and_nodata(folder: Path) -> Path:
    """The after scene is a cloud deck wherever it is not its nodata margin (a clipped delivery)."""
    survey_inputs(folder)
    data = pixels(low=8800, high=9200, seed=6)
    data[:, :, : data.shape[2] // 4] = 0
    write_tif(folder / "GF2_20250901.tif", data)
    extra = "\n[detect]\noptions = { reflectance_scale = 10000.0, cloud_mask = true }\n"
    return write_text(folder / "survey.toml", survey_toml(folder, extra=extra))


def _scene_fewer_bands(folder: Path) -> Path:
    """The after scene was delivered as 3 unnamed bands (no NIR, no sensor in the config)."""
    survey_inputs(folder)
    write_tif(folder / "GF2_20250901.tif", pixels(count=3, seed=2))
    text = survey_toml(folder).replace('path = "GF2_20250901.tif"\nsensor = "gf2"', 'path = "GF2_20250901.tif"')
    return write_text(folder / "survey.toml", text)


#: Inputs only the survey can judge (the pixels must be read): it names the scene and the fix.
CASES += [
    Case("config_survey_dates_with_different_bands", _scene_fewer_bands, lambda p: run_survey(p, progress=False),
         DataError, ("[scenes.after]", "GF2_20250901.tif", "b1, b2, b3", "blue, green, red, nir", "bands =")),
    Case("config_survey_scene_all_nodata", _scene_all_nodata, lambda p: run_survey(p, progress=False), DataError,
         ("[scenes.after]", "GF2_20250901.tif", "nodata", "no valid pixel")),
    Case("config_survey_scene_all_cloud", _scene_all_cloud, lambda p: run_survey(p, progress=False), DataError,
         ("[scenes.after]", "GF2_20250901.tif", "cloud", "another date")),
    Case("config_survey_scene_cloud_where_not_nodata", _scene_cloud_and_nodata, lambda p: run_survey(p, progress=False),
         DataError, ("[scenes.after]", "GF2_20250901.tif", "cloud wherever it has data", "another date")),
]
