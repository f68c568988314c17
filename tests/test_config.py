from pathlib import Path

import pytest

from onemap.config import load_config
from onemap.errors import ConfigError


@pytest.fixture
def files(tmp_path):
    for name in ("before.tif", "after.tif", "dltb.gpkg", "appr.gpkg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "txt").mkdir()
    return tmp_path


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "survey.toml"
    p.write_text(text, encoding="utf-8")
    return p


GOOD = """
[survey]
name = "县 2025"
output = "out"
[frame]
zone = 39
res = 2.0
[scenes.before]
path = "before.tif"
sensor = "gf2"
date = 2024-09-01
[scenes.after]
path = "after.tif"
[layers.landuse]
path = "dltb.gpkg"
encoding = "gbk"
[layers.approvals]
path = "txt"
[detect]
min_area = 150
threshold = 0.3
[enforce]
ratio_threshold = 0.2
"""


def test_good_config_resolves_paths(files):
    cfg = load_config(write(files, GOOD))
    assert cfg.name == "县 2025" and cfg.output == (files / "out").resolve()
    assert cfg.before.paths == ((files / "before.tif").resolve(),) and cfg.before.date == "2024-09-01"
    assert cfg.layers["approvals"].kind == "approval" and cfg.layers["landuse"].encoding == "gbk"
    assert cfg.frame_zone == 39 and cfg.res == 2.0 and cfg.extent is None
    assert cfg.threshold == 0.3 and cfg.min_area == 150.0 and cfg.ratio_threshold == 0.2
    d = cfg.as_dict()
    assert d["before"]["paths"] == [str((files / "before.tif").resolve())]


@pytest.mark.parametrize("old,new,match", [
    ("min_area = 150", "min_aera = 150", r"\[detect\] min_aera is not a known key.*did you mean 'min_area'"),
    ('path = "dltb.gpkg"', 'path = "missing.gpkg"', r"\[layers.landuse\] path names a file that does not exist"),
    ("zone = 39", "zone = 52", r"\[frame\] zone must be a Gauss-Kruger zone"),
    ("res = 2.0", "res = -2.0", r"\[frame\] res must be positive"),
    ("threshold = 0.3", 'threshold = "magic"', r"\[detect\] threshold must be"),
    ("[layers.landuse]", "[layers.landuze]", r"\[layers\] landuze is not a known key.*landuse"),
    ('[scenes.after]\npath = "after.tif"', "", r"\[scenes.after\] is required"),
    ("zone = 39", "zone = 39\ncrs = 4527", r"\[frame\] give crs or zone, not both"),
])
def test_errors_name_file_and_key(files, old, new, match):
    p = write(files, GOOD.replace(old, new))
    with pytest.raises(ConfigError, match=match) as exc:
        load_config(p)
    assert str(p) in str(exc.value)


def test_bad_toml_and_missing_file(files):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(files, "[survey\nname="))
    with pytest.raises(ConfigError, match="not found"):
        load_config(files / "nope.toml")


def test_mapping_source(files):
    cfg = load_config({"scenes": {"before": {"path": "before.tif"}, "after": {"paths": ["after.tif"]}},
                       "layers": {"landuse": {"path": "dltb.gpkg"}}}, base=files)
    assert cfg.method == "auto" and cfg.threshold == "otsu" and cfg.tile_size == 2048  # = detect_changes


def test_toml_errors_give_the_line(files):
    with pytest.raises(ConfigError, match=r"survey.toml, line 3: not valid TOML at column 7.*"
                                          r"Fix: close the table name with '\]'.*\[frame\]"):
        load_config(write(files, '[survey]\nname = "x"\n[frame\n'))
    p = files / "gbk.toml"
    p.write_bytes('[survey]\nname = "县"\n'.encode("gbk"))
    with pytest.raises(ConfigError, match=r"gbk.toml, line 2: not UTF-8 text.*save the TOML file as UTF-8"):
        load_config(p)


@pytest.mark.parametrize("old,new,match", [
    ("ratio_threshold = 0.2", 'ratio_threshold = 0.2\n[run]\nworkers = "four"',
     r"\[run\] workers must be a number, got 'four'"),
    ("ratio_threshold = 0.2", 'ratio_threshold = 0.2\n[run]\ntile_size = "512"',
     r"tile_size must be a number, got '512'.*without quotes or units, e.g. tile_size = 512$"),
    ("res = 2.0", 'res = "2.5 m"',
     r"res must be a number, got '2.5 m'.*e.g. res = 2.5$"),
    ('sensor = "gf2"', "sensor = 2", r'\[scenes.before\] sensor must be a string, got 2.*sensor = "2"'),
    ('encoding = "gbk"', "encoding = 936", r"\[layers.landuse\] encoding must be a string"),
    ('encoding = "gbk"', 'crs = "EPSG:99999"', r"\[layers.landuse\] crs is not a valid CRS"),
    ("date = 2024-09-01", 'date = "last autumn"', r"\[scenes.before\] date is not a date: 'last autumn'"),
    ("ratio_threshold = 0.2", "ratio_threshold = 0.2\n[run]\ntile_size = 512.5",
     r"\[run\] tile_size must be a whole number, got 512.5"),
    ('[layers.landuse]\npath = "dltb.gpkg"\nencoding = "gbk"\n[layers.approvals]\npath = "txt"\n', "",
     r"\[layers\] is required.*Fix: add a \[layers.landuse\] table"),
])
def test_value_types_are_checked(files, old, new, match):
    assert old in GOOD
    with pytest.raises(ConfigError, match=match):
        load_config(write(files, GOOD.replace(old, new)))


def _tif(path: Path, lon: float) -> Path:
    """A 4x4 raster in CGCS2000 geographic coordinates centred at *lon*, 30°N."""
    import numpy as np
    import rasterio
    from affine import Affine

    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8", crs="EPSG:4490",
                       transform=Affine(0.001, 0, lon - 0.002, 0, -0.001, 30.002)) as dst:
        dst.write(np.ones((1, 4, 4), "uint8"))
    return path


@pytest.mark.parametrize("lon, frame, ok", [
    (117.0, "zone = 39", True), (118.9, "zone = 39", True),  # the 0.5° strip beyond the zone edge is fine
    (117.0, "zone = 40", False), (119.2, "zone = 39", False), (117.0, "crs = 4528", False),
    (117.0, "crs = 4548", True), (117.0, "crs = 32650", True),  # not Gauss-Kruger: nothing to compare
])
def test_frame_zone_is_checked_against_the_scenes(files, lon, frame, ok):
    _tif(files / "before.tif", lon)
    _tif(files / "after.tif", lon)
    p = write(files, GOOD.replace("zone = 39", frame))
    if ok:
        assert load_config(p).before.paths
        return
    with pytest.raises(ConfigError, match=r"\[frame\] (zone|crs) is Gauss-Kruger zone \d+ .*before.tif is centred "
                                          r"at .*Fix: use (zone|crs) = \d+"):
        load_config(p)


# ------------------------------------------------------------------ strict keys, one set of defaults

@pytest.mark.parametrize("old,new,match", [
    # [detect.options] keys and types
    ("threshold = 0.3", "threshold = 0.3\n[detect.options]\nreflectence_scale = 10000.0",
     r"\[detect.options\] reflectence_scale is not a known key.*Fix: did you mean 'reflectance_scale'\?"),
    ("threshold = 0.3", 'threshold = 0.3\n[detect.options]\ncloud_mask = "no"',
     r"\[detect.options\] cloud_mask must be true or false, got 'no'.*cloud_mask = false"),
    ("threshold = 0.3", 'threshold = 0.3\noptions = { smooth = 1.5 }',
     r"\[detect.options\] smooth must be a whole number, got 1.5"),
    ("threshold = 0.3", 'threshold = 0.3\noptions = { connectivity = 6 }',
     r"\[detect.options\] connectivity must be 4 or 8, got 6"),
    ("threshold = 0.3", 'threshold = 0.3\noptions = { normalize = "pfi" }',
     r"\[detect.options\] normalize must be one of .*got 'pfi'.*did you mean 'pif'"),
    ("threshold = 0.3", 'threshold = 0.3\noptions = { reflectance_scale = 0 }',
     r"\[detect.options\] reflectance_scale must be positive, got 0"),
    ("threshold = 0.3", 'threshold = 0.3\noptions = 3', r"\[detect\] options must be a table, got 3"),
    ("threshold = 0.3", 'threshold = 0.3\noptions = { cloud_mask = true }',
     r"\[detect.options\] cloud_mask = true needs reflectance_scale.*reflectance_scale = 10000.0"),
    # method, threshold and sensor before any file is read
    ("threshold = 0.3", 'threshold = "ostu"',
     r"\[detect\] threshold must be one of 'otsu', 'k_sigma' or a number, got 'ostu'.*did you mean 'otsu'"),
    ("threshold = 0.3", 'threshold = true', r"\[detect\] threshold must be a string or a number, got True"),
    ("min_area = 150", 'min_area = 150\nmethod = "constrution"',
     r"\[detect\] method must be one of .*'construction'.*got 'constrution'.*did you mean 'construction'"),
    ('sensor = "gf2"', 'sensor = "gf-9"', r"\[scenes.before\] sensor is not a known sensor: 'gf-9'.*did you mean"),
    ('sensor = "gf2"', 'sensor = "wordview3"', r"\[scenes.before\] sensor is not a known sensor.*use one of gf1"),
    # options a method does not take, and options a method needs
    ("threshold = 0.3", 'threshold = 0.3\noptions = { index = "ndvi" }',
     r"\[detect.options\] index is not used by method = 'auto'.*method = 'index_diff'"),
    ("min_area = 150", 'min_area = 150\nmethod = "index_diff"\noptions = { index = "ndvi" }',
     r"\[detect.options\] method = 'index_diff' needs direction.*gain, loss, abs"),
    ("min_area = 150", 'min_area = 150\nmethod = "index_diff"\noptions = { index = "ndwvi", direction = "loss" }',
     r"\[detect.options\] index must be one of .*did you mean 'ndwi'"),
    # allow_empty is for the approvals layer only, and a boolean
    ('path = "txt"', 'path = "txt"\nallow_empty = "yes"', r"\[layers.approvals\] allow_empty must be true or false"),
    ('encoding = "gbk"', "allow_empty = true", r"\[layers.landuse\] allow_empty applies to \[layers.approvals\] only"),
    # every table, every key
    ('output = "out"', 'output = "out"\nnmae = "x"', r"\[survey\] nmae is not a known key.*did you mean 'name'"),
    ("res = 2.0", 'res = 2.0\nextnt = "scenes"', r"\[frame\] extnt is not a known key.*'extent'"),
    # nodata was accepted and silently ignored: now refused (the scene files declare it)
    ('sensor = "gf2"', 'sensor = "gf2"\nnodata = 0', r"\[scenes.before\] nodata is not a known key"),
    ("ratio_threshold = 0.2", "ratio_threshold = 0.2\n[run]\nsheduler = 'threads'",
     r"\[run\] sheduler is not a known key.*'scheduler'"),
])
def test_every_key_is_checked_at_load(files, old, new, match):
    assert old in GOOD
    p = write(files, GOOD.replace(old, new))
    with pytest.raises(ConfigError, match=match) as exc:
        load_config(p)
    assert type(exc.value) is ConfigError and str(p) in str(exc.value)


def test_checked_before_any_file_is_read(files):
    """The scene files here are not rasters: a bad threshold is still what is reported."""
    with pytest.raises(ConfigError, match="threshold"):
        load_config(write(files, GOOD.replace("threshold = 0.3", 'threshold = "ostu"')))


def test_sensor_aliases_are_stored_by_preset_name(files):
    for alias in ("gf-2", "GF-2", "GF2_PMS", "gf2"):
        assert load_config(write(files, GOOD.replace('"gf2"', f'"{alias}"'))).before.sensor == "gf2"
    assert load_config(write(files, GOOD.replace('"gf2"', '"S2"'))).before.sensor == "sentinel2"


def test_defaults_are_the_library_s(files):
    import inspect

    from onemap import detect_changes
    from onemap.config import SCHEMA, default

    lib = inspect.signature(detect_changes).parameters
    cfg = load_config(write(files, GOOD.replace("threshold = 0.3", "")))
    assert cfg.k == lib["k"].default and cfg.threshold == lib["threshold"].default
    assert cfg.method == lib["method"].default
    for name in ("normalize", "smooth", "opening", "connectivity", "noise_floor", "sample_pixels",
                 "index", "direction"):
        assert cfg.detect_options[name] == lib[name].default == default("detect.options", name), name
    # options that are not detect_changes parameters are the survey's own (cloud mask)
    survey_only = set(SCHEMA["detect.options"]) - set(lib)
    assert survey_only == {"reflectance_scale", "cloud_mask", "cloud_buffer_px"}
    assert cfg.detect_options["cloud_mask"] is True and cfg.detect_options["reflectance_scale"] is None


def test_given_options_are_typed(files):
    cfg = load_config(write(files, GOOD.replace(
        "threshold = 0.3", 'threshold = "k_sigma"\nk = 2\n[detect.options]\nreflectance_scale = 10000\n'
                           "cloud_mask = false\nsmooth = 0\nnormalize = \"none\"")))
    assert cfg.threshold == "k_sigma" and cfg.k == 2.0 and isinstance(cfg.k, float)
    o = cfg.detect_options
    assert o["reflectance_scale"] == 10000.0 and o["cloud_mask"] is False and o["smooth"] == 0
    assert o["normalize"] == "none"


def test_allow_empty_approvals(files):
    cfg = load_config(write(files, GOOD.replace('path = "txt"', 'path = "txt"\nallow_empty = true')))
    assert cfg.layers["approvals"].allow_empty and not cfg.layers["landuse"].allow_empty


def test_keys_doc_lists_every_key():
    from onemap.config import SCHEMA, keys_doc

    text = keys_doc()
    for table, keys in SCHEMA.items():
        for name in keys:
            assert f"  {name} (" in text or not table, (table, name)
    assert "k (float, default 3.0)" in text


# ------------------------------------------------------------------ errors in the user's words

def test_fix_phrasing_python_toml_cli():
    from onemap.errors import CRSError, Fix, speaking

    fix = Fix("pass crs=onemap.crs.gk_crs(40)", toml="set [frame] zone = 40", cli="pass --to-crs EPSG:4528")
    assert "Fix: pass crs=onemap.crs.gk_crs(40)" in str(CRSError("not Gauss-Kruger", hint=fix))
    with speaking("toml"):
        err = CRSError("not Gauss-Kruger", hint=fix)
    assert str(err).endswith("Fix: set [frame] zone = 40") and err.fix is fix
    with speaking("cli"):
        assert str(CRSError("x", hint=fix)).endswith("Fix: pass --to-crs EPSG:4528")
        with speaking("toml"):  # a survey run from the command line speaks TOML
            assert str(CRSError("x", hint=fix)).endswith("Fix: set [frame] zone = 40")
    assert str(err.speak("python")).endswith("Fix: pass crs=onemap.crs.gk_crs(40)")
    plain = CRSError("x", hint="just text").speak("toml")
    assert str(plain) == "x. Fix: just text" and plain.fix is None


def _utm_layer(tmp_path):
    import geopandas as gpd
    import shapely

    gdf = gpd.GeoDataFrame({"DKBH": ["1"]}, geometry=[shapely.box(300_000, 3_300_000, 300_100, 3_300_100)],
                           crs=32651)  # UTM 51N, in zone 41 of the 3° CGCS2000 grid
    path = tmp_path / "utm.gpkg"
    gdf.to_file(path)
    return gdf, path


def test_gauss_kruger_fix_in_python_and_on_the_command_line(tmp_path):
    from typer.testing import CliRunner

    from onemap.cli import app
    from onemap.errors import CRSError
    from onemap.ingest.boundary_txt import write_boundary_txt

    gdf, path = _utm_layer(tmp_path)
    with pytest.raises(CRSError, match=r"not a Gauss-Kruger zone CRS.*Fix: pass crs= with a Gauss-Kruger CRS, "
                                       r"e.g. crs=onemap.crs.gk_crs\(40\) \(EPSG:4528\)"):
        write_boundary_txt(gdf, tmp_path / "a.txt")
    res = CliRunner().invoke(app, ["gpkg2txt", str(path), "-o", str(tmp_path / "b.txt")])
    assert res.exit_code == 1 and "Fix: pass --to-crs EPSG:4528" in res.output and "crs=" not in res.output
    res = CliRunner().invoke(app, ["gpkg2txt", str(path), "-o", str(tmp_path / "b.txt"), "--to-crs", "EPSG:4528"])
    assert res.exit_code == 0 and (tmp_path / "b.txt").exists()


def test_empty_approvals_fix_speaks_toml_under_the_survey(tmp_path):
    import geopandas as gpd

    from onemap.errors import DataError, speaking
    from onemap.ingest.sources import read_source

    path = tmp_path / "jsydsp.gpkg"
    gpd.GeoDataFrame({"PZWH": []}, geometry=gpd.GeoSeries([], crs=4527), crs=4527).to_file(path)
    with pytest.raises(DataError, match=r"has no features.*Fix: check the file or filter, or pass allow_empty=True"):
        read_source(path, "approval")
    with speaking("toml", table="layers.approvals"), pytest.raises(DataError) as exc:
        read_source(path, "approval")
    assert "allow_empty = true under [layers.approvals]" in str(exc.value) and "=True" not in str(exc.value)
    assert len(read_source(path, "approval", allow_empty=True)) == 0
    (tmp_path / "txt").mkdir()
    assert len(read_source(tmp_path / "txt", "approval", allow_empty=True, to_crs=4527)) == 0


def test_layer_crs_fixes_speak_toml_under_the_survey(tmp_path):
    import geopandas as gpd
    import shapely

    from onemap.errors import CRSError, speaking
    from onemap.ingest.vector import read_layer

    path = tmp_path / "dltb.gpkg"  # zone-prefixed eastings written without a CRS
    gpd.GeoDataFrame({"DLBM": ["0101"]}, geometry=[shapely.box(40_500_000, 3_300_000, 40_500_100, 3_300_100)]
                     ).to_file(path)
    with pytest.raises(CRSError, match=r"Fix: pass crs="):
        read_layer(path, "landuse", crs=4326)
    with speaking("toml", table="layers.landuse"), pytest.raises(CRSError) as exc:
        read_layer(path, "landuse", crs=4326)
    assert "Fix: set crs = 4528 under [layers.landuse]" in str(exc.value) and "onemap.crs" not in str(exc.value)


def test_scene_crs_key(files):
    cfg = load_config(write(files, GOOD.replace('sensor = "gf2"', 'sensor = "gf2"\ncrs = 32651')))
    assert cfg.before.crs == 32651 and cfg.after.crs is None
    with pytest.raises(ConfigError, match=r"\[scenes.before\] crs is not a valid CRS"):
        load_config(write(files, GOOD.replace('sensor = "gf2"', 'sensor = "gf2"\ncrs = "zone 39"')))


def test_detect_changes_refuses_a_misspelt_threshold_up_front():
    """Under the API too: "ostu" was taken for "no pixel is valid in both dates" (a warning)."""
    import numpy as np
    import xarray as xr

    from onemap import Frame, detect_changes
    from onemap.errors import DataError

    f = Frame.from_bounds((0, 0, 40, 40), res=2, crs=4527)
    scene = xr.DataArray(np.ones((4, 20, 20), "uint16"), dims=("band", "y", "x"),
                         coords={"band": ["blue", "green", "red", "nir"], **f.coords()}).rio.write_crs(f.crs)
    with pytest.raises(DataError, match=r"threshold must be .*got 'ostu'.*did you mean threshold='otsu'"):
        detect_changes(scene, scene, threshold="ostu")


@pytest.mark.parametrize("method", ["auto", "construction", "cva", "ndvi_diff"])
def test_every_library_method_can_be_written(files, method):
    """The library's default ("auto") too: a TOML may say what it gets by default."""
    cfg = load_config(write(files, GOOD.replace("min_area = 150", f'min_area = 150\nmethod = "{method}"')))
    assert cfg.method == method
