"""The happy path is quiet: no warning a user cannot act on, no library log lines (issue 13).

Both runs go through the real command line in a subprocess with onemap's warnings turned into
errors (``-W error::onemap.errors.OnemapWarning``) and every other warning shown (``-W default``),
so a RepairWarning for an ordinary GBK file, a guessed date, rasterio's NotGeoreferencedWarning
or affine's PendingDeprecationWarning would each show up in stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _onemap(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [
            sys.executable,
            "-W",
            "default",
            "-W",
            "error::onemap.errors.OnemapWarning",
            "-m",
            "onemap",
            "-v",
            *args,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _noise(stderr: str) -> list[str]:
    """stderr lines that are not onemap's own progress log."""
    return [line for line in stderr.splitlines() if line.strip() and " onemap." not in line]


def test_demo_is_quiet(tmp_path):
    res = _onemap("demo", str(tmp_path / "demo"), "--size", "640", "-q", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _noise(res.stderr) == [], res.stderr[-3000:]
    assert "onemap.survey INFO" in res.stderr  # -v still logs onemap's progress
    dates = json.loads((tmp_path / "demo" / "survey" / "manifest.json").read_text())["dates"]
    assert dates["before"]["source"] == "tag ACQUISITION_DATE" and not dates["before"]["guessed"]
    assert dates["before"]["date"] < dates["after"]["date"]


def _taizhou_survey(folder: Path, taizhou: Path) -> Path:
    """Landsat Taizhou (UTM 51N, ENVI) on a CGCS2000 Gauss-Kruger zone-40 frame, a land-use layer
    over the scene in the same CRS, and the approvals of a county that approved nothing."""
    import geopandas as gpd
    import rasterio
    import shapely
    from rasterio.warp import transform_bounds

    with rasterio.open(taizhou / "2003TM") as src:
        box = shapely.box(*transform_bounds(src.crs, "EPSG:4528", *src.bounds))
    gpd.GeoDataFrame({"DLBM": ["0101"], "DLMC": ["水田"]}, geometry=[box], crs=4528).to_file(
        folder / "dltb.gpkg"
    )
    gpd.GeoDataFrame({"PZWH": []}, geometry=gpd.GeoSeries([], crs=4528), crs=4528).to_file(
        folder / "jsydsp.gpkg"
    )
    toml = f"""
[survey]
name = "Taizhou"
output = "out"
[frame]
zone = 40
res = 30.0
[scenes.before]
path = "{(taizhou / "2000TM").as_posix()}"
[scenes.after]
path = "{(taizhou / "2003TM").as_posix()}"
[layers.landuse]
path = "dltb.gpkg"
[layers.approvals]
path = "jsydsp.gpkg"
allow_empty = true
[detect]
min_area = 3600.0
[run]
tile_size = 256
"""
    (folder / "survey.toml").write_text(toml, encoding="utf-8")
    return folder / "survey.toml"


def test_real_landsat_survey_is_quiet(tmp_path, shared_data):
    taizhou = shared_data / "change" / "landsat" / "Taizhou"
    if not (taizhou / "2000TM").exists():
        pytest.skip("Landsat Taizhou sample not found")
    toml = _taizhou_survey(tmp_path, taizhou)
    res = _onemap("survey", str(toml), "-q", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _noise(res.stderr) == [], res.stderr[-3000:]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert (
        manifest["dates"]["before"]["date"] == "2000-03-17"
        and manifest["dates"]["after"]["date"] == "2003-02-06"
    )
    assert "NLAPS" in manifest["dates"]["before"]["source"]
    assert (
        manifest["counts"]["patches"] > 0
    )  # every new construction is unapproved: the county said so
    assert set(manifest["counts"]["verdicts"]) <= {"unapproved", "existing_construction"}


def test_empty_approvals_without_allow_empty_names_the_toml_key(tmp_path, shared_data):
    taizhou = shared_data / "change" / "landsat" / "Taizhou"
    if not (taizhou / "2000TM").exists():
        pytest.skip("Landsat Taizhou sample not found")
    toml = _taizhou_survey(tmp_path, taizhou)
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("allow_empty = true\n", ""), encoding="utf-8"
    )
    res = _onemap("survey", str(toml), "-q", cwd=tmp_path)
    assert res.returncode == 1
    assert (
        "jsydsp.gpkg" in res.stderr and "allow_empty = true under [layers.approvals]" in res.stderr
    )
    assert "allow_empty=True" not in res.stderr
