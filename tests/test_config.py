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
    with pytest.raises(ConfigError, match=r"survey.toml, line 3: not valid TOML.*check the syntax on that line"):
        load_config(write(files, '[survey]\nname = "x"\n[frame\n'))
    p = files / "gbk.toml"
    p.write_bytes('[survey]\nname = "县"\n'.encode("gbk"))
    with pytest.raises(ConfigError, match=r"gbk.toml, line 2: not UTF-8 text.*save the TOML file as UTF-8"):
        load_config(p)


@pytest.mark.parametrize("old,new,match", [
    ("ratio_threshold = 0.2", 'ratio_threshold = 0.2\n[run]\nworkers = "four"',
     r"\[run\] workers must be a number, got 'four'"),
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
