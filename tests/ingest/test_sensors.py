"""Sensor presets, name recognition and band lookup."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from onemap.errors import ConfigError, DataError
from onemap.ingest.sensors import SENSORS, band_index, guess_date, guess_sensor, sensor_preset


def test_sentinel2_preset_names_and_resolutions():
    p = sensor_preset("sentinel2")
    expected = {
        "B01": ("coastal", 60), "B02": ("blue", 10), "B03": ("green", 10), "B04": ("red", 10),
        "B05": ("rededge1", 20), "B06": ("rededge2", 20), "B07": ("rededge3", 20), "B08": ("nir", 10),
        "B8A": ("nir08", 20), "B09": ("water_vapour", 60), "B10": ("cirrus", 60),
        "B11": ("swir1", 20), "B12": ("swir2", 20),
    }
    for suffix, (name, res) in expected.items():
        assert p.band_for_suffix(suffix) == name
        assert p.resolution[name] == res
    assert p.band_for_suffix("B2") == "blue" and p.band_for_suffix("b8a") == "nir08"
    assert p.band_for_suffix("B13") is None
    assert len(p.bands) == 13 and p.bands.index("nir08") == p.bands.index("nir") + 1


def test_landsat_presets_nir_band():
    tm = sensor_preset("landsat_tm")
    assert tm.bands == ("blue", "green", "red", "nir", "swir1", "swir2")
    assert tm.bands[4 - 1] == "nir"  # TM / ETM+ band 4 is NIR
    assert tm.band_for_suffix("B7") == "swir2" and tm.band_for_suffix("B6") == "thermal"
    assert sensor_preset("landsat7").bands == tm.bands
    for name in ("landsat8", "landsat9", "L8", "landsat_oli"):
        oli = sensor_preset(name)
        assert oli.bands == ("coastal", "blue", "green", "red", "nir", "swir1", "swir2")
        assert oli.band_for_suffix("B5") == "nir" and oli.band_for_suffix("B05") == "nir"


@pytest.mark.parametrize("name", ["gf1", "GF-2", "gf6_pms", "GF 6"])
def test_gf_pms_presets(name):
    assert sensor_preset(name).bands == ("blue", "green", "red", "nir")


def test_rgb_and_unknown_preset():
    assert sensor_preset("RGB").bands == ("red", "green", "blue")
    assert set(SENSORS) >= {"gf1", "gf2", "gf6", "sentinel2", "landsat5", "landsat7", "landsat8",
                            "landsat9", "rgb"}
    with pytest.raises(ConfigError, match="unknown sensor 'worldview9'.*sentinel2"):
        sensor_preset("worldview9")


@pytest.mark.parametrize("text, sensor", [
    ("S2A_OPER_MSI_L1C_TL_MPS__20161130T130757_A007527_T31UDQ_B01.tif", "sentinel2"),
    ("T31UDQ_20170829T105019_B8A.tif", "sentinel2"),
    ("S2B_MSIL2A_20200101T030111_N0213_R032_T49RGQ_20200101T063027.SAFE", "sentinel2"),
    ("LC08_L1TP_224077_20200518_20200518_01_RT_B2_60m.TIF", "landsat8"),
    ("LC09_L2SP_119038_20220101_20220103_02_T1_SR_B4.TIF", "landsat9"),
    ("LT05_L1TP_119038_19950101_20160101_01_T1_B3.TIF", "landsat5"),
    ("Landsat ETM", "landsat7"),
    ("Resize (ETM+ Meta (Band 4):L71119038_03820000317_MTL.txt)", "landsat7"),
    ("GF1_PMS2_E119.9_N30.2_20190101_L1A0003700001-MSS2.tif", "gf1"),
    ("GF6_PMS_E120.1_N30.1_20210301_L1A1120000001-MUX.tiff", "gf6"),
    ("2000TM", None),
    ("ortho_2019.tif", None),
])
def test_guess_sensor(text, sensor):
    assert guess_sensor(text) == sensor


@pytest.mark.parametrize("text, date", [
    ("S2A_OPER_MSI_L1C_TL_MPS__20161130T130757_A007527_T31UDQ_B01.tif", "2016-11-30"),
    ("T31UDQ_20170829T105019_B02.tif", "2017-08-29"),
    ("LC08_L1TP_224077_20200518_20200601_01_RT_B2.TIF", "2020-05-18"),  # acquisition, not processing
    ("L71119038_03820030206_MTL.txt", "2003-02-06"),
    ("scene_2019-07-04.tif", "2019-07-04"),
    ("20191399_20190105.tif", "2019-01-05"),  # month 13 is not a date
    ("A007527_123456789.tif", None),
    ("2000TM", None),
])
def test_guess_date(text, date):
    assert guess_date(text) == date


def _scene(bands, sensor=None):
    return xr.DataArray(np.zeros((len(bands), 1, 1)), dims=("band", "y", "x"), coords={"band": bands},
                        attrs={"sensor": sensor})


def test_band_index_names_suffixes_and_error():
    s2 = _scene(["blue", "green", "red", "nir", "swir1"], "sentinel2")
    assert band_index(s2, "nir") == 3
    assert band_index(s2, "NIR") == 3
    assert band_index(s2, "B08") == 3 and band_index(s2, "B11") == 4
    tm = _scene(["blue", "green", "red", "nir", "swir1", "swir2"], "landsat5")
    assert band_index(tm, "B4") == 3  # TM band 4 = NIR
    with pytest.raises(DataError) as err:
        band_index(s2, "rededge1")
    msg = str(err.value)
    assert "rededge1" in msg and "blue, green, red, nir, swir1" in msg
    with pytest.raises(DataError, match="b5"):
        band_index(_scene(["b1", "b2"]), "b5")
