"""Acquisition dates: naming conventions, the OSCD dates.txt, tags, and what is only a guess."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from onemap import open_scene
from onemap.ingest.dates import acquisition_date, sentinel2_orbit_date, sidecar_date


@pytest.mark.parametrize(
    "name, date, what",
    [
        # Sentinel-2: the sensing time, not the processing baseline (N0204) or the product time
        (
            "S2A_MSIL1C_20170105T013442_N0204_R031_T53NMJ_20170105T013443.SAFE",
            "2017-01-05",
            "sensing time",
        ),
        (
            "S2B_MSIL2A_20190821T105629_N0213_R094_T30UWU_20190821T140121.SAFE",
            "2019-08-21",
            "sensing time",
        ),
        (
            "S2A_MSIL1C_20151231T235959_N0204_R031_T53NMJ_20160101T013443",
            "2015-12-31",
            "sensing time",
        ),
        ("T30UWU_20170621T110651_B04.jp2", "2017-06-21", "tile band file"),
        ("T30UWU_20190821T105629_B04_10m.jp2", "2019-08-21", "tile band file"),
        (
            "L2A_T30UWU_A021877_20190821T105629",
            None,
            None,
        ),  # granule folder: orbit then date, no band
        (
            "S2A_OPER_PRD_MSIL1C_PDMC_20160706T155721_R094_V20150821T110256_20150821T110256.SAFE",
            "2015-08-21",
            "validity start",
        ),
        (
            "S2A_OPER_MSI_L1C_DS_EPA__20160706T155721_S20150821T110256_N02.04",
            "2015-08-21",
            "sensing start",
        ),
        # the old tile name holds the generation time (2016-07-06) and the absolute orbit
        (
            "S2A_OPER_MSI_L1C_TL_EPA__20160706T155721_A000849_T30UWU_B02.tif",
            "2015-08-21",
            "orbit 849",
        ),
        # Landsat: acquisition first, processing second; pre-collection ids in year + day of year
        ("LC08_L1TP_119038_20200518_20200527_02_T1_B4.TIF", "2020-05-18", "acquisition"),
        ("LE07_L2SP_119038_20000317_20200917_02_T1_SR_B3.TIF", "2000-03-17", "acquisition"),
        ("LC81190382015123LGN00_B4.TIF", "2015-05-03", "day 123"),
        ("LT51190382004366BJC00", "2004-12-31", "day 366"),  # leap year
        ("LT51190382005366BJC00", None, None),  # no 366th day in 2005
        ("L71119038_03820000317_MTL.txt", "2000-03-17", "NLAPS"),
        # GF-1/2/6 scene names
        ("GF2_PMS1_E113.9_N22.7_20150808_L1A0000951234-MSS1.tiff", "2015-08-08", "GF scene name"),
        ("GF1_WFV3_E115.2_N39.3_20190412_L1A0003969854.tiff", "2019-04-12", "GF scene name"),
        ("GF6_PMS_E116.5_N39.9_20210620_L1A1120001234-MUX.tif", "2021-06-20", "GF scene name"),
        ("GF1B_PMS_E120.1_N30.2_20200905_L1A1227881234.tif", "2020-09-05", "GF scene name"),
        # a bare date follows no convention: not an acquisition date here
        ("GF2_20240901.tif", None, None),
        ("county_20240901.tif", None, None),
        ("2000TM", None, None),
    ],
)
def test_conventions(name, date, what):
    found = acquisition_date(name)
    if date is None:
        assert found is None, found
    else:
        assert found is not None and found[0] == date and what in found[1], found


def test_sentinel2_orbit_agrees_with_the_oscd_dates(shared_data):
    """Every OSCD before-image is an old S2A tile name; the computed date is dates.txt's."""
    oscd = shared_data / "change" / "oscd"
    cities = sorted(p for p in oscd.iterdir() if (p / "dates.txt").exists())
    assert len(cities) == 6
    differ = 0
    for city in cities:
        name = next((city / "imgs_1").glob("*_B02.tif")).name
        want = (city / "dates.txt").read_text().split()[1]
        found = acquisition_date(name)
        assert found is not None and found[0].replace("-", "") == want, (city.name, found, want)
        differ += name[25:33] != want  # the date in the name is the generation time
    assert differ == 3  # Paris, Bercy and Bordeaux were processed the day they were sensed


def test_orbit_date_picks_the_day_of_the_local_morning_pass():
    # orbit 849 is flown around 10:00 UTC on 2015-08-21: over Europe (zone 30) that morning,
    # over China (zone 50, 10:30 local = 02:30 UTC) the same UTC day; B has its own launch
    assert sentinel2_orbit_date("A", 849, 30) == "2015-08-21"
    assert sentinel2_orbit_date("A", 849, 50) == "2015-08-21"
    assert sentinel2_orbit_date("C", 849, 30) is None and sentinel2_orbit_date("A", 0, 30) is None


def _tif(path, tags=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=8,
        height=8,
        count=1,
        dtype="uint16",
        crs="EPSG:32651",
        transform=Affine(10, 0, 300_000, 0, -10, 3_300_000),
    ) as dst:
        dst.write(np.ones((1, 8, 8), "uint16"))
        if tags:
            dst.update_tags(**tags)
    return path


def test_oscd_dates_txt_wins_over_the_generation_time(shared_data):
    city = shared_data / "change" / "oscd" / "rennes"
    before = open_scene(sorted((city / "imgs_1").glob("*_B0[2348].tif")))
    after = open_scene(sorted((city / "imgs_2").glob("*_B0[2348].tif")))
    assert (
        before.attrs["date"] == "2015-08-21" and after.attrs["date"] == "2017-06-21"
    )  # not 2016-07-06
    assert (
        before.attrs["date_source"].endswith("dates.txt (date_1)")
        and not before.attrs["date_guessed"]
    )
    assert after.attrs["date_source"].endswith("dates.txt (date_2)")


def test_dates_txt_layouts(tmp_path):
    (tmp_path / "imgs_1").mkdir()
    (tmp_path / "dates.txt").write_text("date_1: 20150821\ndate_2: 20170621\n")
    assert sidecar_date(tmp_path / "imgs_1" / "a.tif") == (
        "2015-08-21",
        f"{tmp_path / 'dates.txt'} (date_1)",
    )
    assert sidecar_date(tmp_path / "imgs_3" / "a.tif") is None  # no date_3
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "dates.txt").write_text("date_1: 2019-05-02\n")
    assert sidecar_date(tmp_path / "one" / "a.tif")[0] == "2019-05-02"


def test_landsat_taizhou_date_from_the_envi_band_names(shared_data):
    scene = open_scene(shared_data / "change" / "landsat" / "Taizhou" / "2000TM")
    assert scene.attrs["date"] == "2000-03-17" and "NLAPS" in scene.attrs["date_source"]
    assert scene.attrs["date_guessed"] is False


def test_sources_in_order_and_guesses_reported(tmp_path):
    # an acquisition tag beats a bare date in the name
    s = open_scene(_tif(tmp_path / "GF2_20240901.tif", {"ACQUISITION_DATE": "2024-08-30"}))
    assert (s.attrs["date"], s.attrs["date_source"], s.attrs["date_guessed"]) == (
        "2024-08-30",
        "tag ACQUISITION_DATE",
        False,
    )
    # a bare date alone is a guess, and says so
    s = open_scene(_tif(tmp_path / "b" / "GF2_20240901.tif"))
    assert s.attrs["date"] == "2024-09-01" and s.attrs["date_guessed"] is True
    assert "guessed" in s.attrs["date_source"]
    # the write time of the file is a guess too
    s = open_scene(_tif(tmp_path / "c" / "scene.tif", {"TIFFTAG_DATETIME": "2021:03:04 10:00:00"}))
    assert s.attrs["date"] == "2021-03-04" and s.attrs["date_guessed"] is True
    assert "TIFFTAG_DATETIME" in s.attrs["date_source"]
    # nothing at all: no date, never the file's mtime
    s = open_scene(_tif(tmp_path / "d" / "scene.tif"))
    assert s.attrs["date"] is None and s.attrs["date_source"] == "none found"
    # the caller's date wins and is not a guess
    s = open_scene(tmp_path / "d" / "scene.tif", date="2020-01-02")
    assert (s.attrs["date"], s.attrs["date_source"], s.attrs["date_guessed"]) == (
        "2020-01-02",
        "given (date=)",
        False,
    )
    # a Landsat product name beats the tag written at processing
    s = open_scene(
        _tif(
            tmp_path / "LC08_L1TP_119038_20200518_20200527_02_T1_B4.TIF",
            {"TIFFTAG_DATETIME": "2020:05:27 00:00:00"},
        )
    )
    assert s.attrs["date"] == "2020-05-18" and not s.attrs["date_guessed"]


def _dated(date, source, guessed=False):
    import xarray as xr

    return xr.DataArray(
        np.zeros((1, 2, 2)),
        dims=("band", "y", "x"),
        attrs={"date": date, "date_source": source, "date_guessed": guessed},
    )


def _cfg(before_date=None):
    from pathlib import Path
    from types import SimpleNamespace

    from onemap.config import SceneSpec

    return SimpleNamespace(
        before=SceneSpec((Path("GF2_20240901.tif"),), date=before_date),
        after=SceneSpec((Path("after.tif"),)),
    )


def test_survey_reports_guessed_missing_and_swapped_dates():
    import warnings

    from onemap.errors import DataError, OnemapWarning
    from onemap.survey import scene_dates

    with pytest.warns(
        OnemapWarning,
        match=r"\[scenes.before\] date 2024-09-01 was guessed from .*set "
        r"\[scenes.before\] date = \"YYYY-MM-DD\"",
    ):
        out = scene_dates(
            _cfg(),
            _dated("2024-09-01", "a date in the name (guessed)", True),
            _dated("2025-09-01", "tag ACQUISITION_DATE"),
        )
    assert out["before"] == {
        "date": "2024-09-01",
        "source": "a date in the name (guessed)",
        "guessed": True,
    }
    with pytest.warns(
        OnemapWarning,
        match=r"\[scenes.after\] after.tif: no acquisition date.*\[scenes.after\] date",
    ):
        scene_dates(_cfg(), _dated("2024-09-01", "tag DATE"), _dated(None, "none found"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dates from the TOML or the products: nothing to say
        out = scene_dates(
            _cfg("2024-09-01"),
            _dated("2024-09-01", "given (date=)"),
            _dated("2025-09-01", "tag DATE"),
        )
    assert out["before"]["source"] == "[scenes.before] date"
    with pytest.raises(
        DataError,
        match=r"\[scenes.before\] was acquired on 2025-09-01 .* after \[scenes.after\] "
        r"\(2024-09-01.*swapped.*Fix: swap the paths",
    ):
        scene_dates(_cfg(), _dated("2025-09-01", "tag DATE"), _dated("2024-09-01", "tag DATE"))


def test_onemap_info_says_the_date_and_its_source(shared_data):
    import json

    from typer.testing import CliRunner

    from onemap.cli import app

    res = CliRunner().invoke(app, ["info", str(shared_data / "change" / "landsat" / "Taizhou" / "2003TM")])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["date"] == "2003-02-06" and "NLAPS" in info["date_source"] and info["date_guessed"] is False
