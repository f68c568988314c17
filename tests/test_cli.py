"""The `onemap` command line through its real entry point."""

import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

ONEMAP = [sys.executable, "-m", "onemap"]


def run(*args, cwd=None):
    return subprocess.run([*ONEMAP, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_on_every_command():
    top = run("--help")
    assert top.returncode == 0
    for cmd in ("demo", "survey", "info", "txt2gpkg", "gpkg2txt"):
        assert cmd in top.stdout
        r = run(cmd, "--help")
        assert r.returncode == 0 and "Usage" in r.stdout, cmd
    # TOML table names in help texts survive typer's rich markup
    train = " ".join(run("train", "--help").stdout.replace("│", " ").split())
    assert "[train] out" in train and "[[pair]] before/after/truth" in train


def test_info_raster_vector_txt(tmp_path, shared_data):
    tif = tmp_path / "a.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=16, height=8, count=4, dtype="uint16", crs="EPSG:4527",
                       transform=Affine(2, 0, 39_500_000, 0, -2, 3_300_000), nodata=0, tiled=True,
                       blockxsize=16, blockysize=16, compress="deflate") as dst:
        dst.write(np.ones((4, 8, 16), "uint16"))
    r = run("info", tif)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["bands"] == 4 and d["zone"]["zone"] == 39 and d["nodata"] == 0
    assert list(d)[:2] == ["path", "format"] and "date_source" in d  # what it is, then its date

    gpkg = tmp_path / "b.gpkg"
    gpd.GeoDataFrame({"DLBM": ["0101"]}, geometry=[shapely.box(39_500_000, 3_300_000, 39_500_010, 3_300_010)],
                     crs=4527).to_file(gpkg)
    d = json.loads(run("info", gpkg).stdout)
    assert "DLBM" in json.dumps(d, ensure_ascii=False)

    d = json.loads(run("info", shared_data / "boundary_txt" / "sample_zone37_gbk.txt").stdout)
    assert d["parcels"] == 5 and d["encoding"] in ("gbk", "gb18030")


def test_txt_gpkg_round_trip(tmp_path, shared_data):
    src = shared_data / "boundary_txt" / "sample_zone40_utf8.txt"
    out = tmp_path / "p.gpkg"
    r = run("txt2gpkg", src, "--out", out)
    assert r.returncode == 0, r.stderr
    layer = gpd.read_file(out)
    assert len(layer) == 1 and layer.crs.to_epsg() == 4528
    txt = tmp_path / "back.txt"
    r = run("gpkg2txt", out, "--out", txt)
    assert r.returncode == 0, r.stderr
    from onemap import read_boundary_txt

    back = read_boundary_txt(txt)
    assert back.geometry.iloc[0].equals_exact(layer.geometry.iloc[0], tolerance=1e-3)


def test_errors_exit_1_with_an_actionable_message(tmp_path):
    r = run("info", tmp_path / "missing.tif")
    assert r.returncode == 1 and "missing.tif" in r.stderr and "Fix:" in r.stderr
    bad = tmp_path / "survey.toml"
    bad.write_text("[survey]\nnmae = 'x'\n", encoding="utf-8")
    r = run("survey", bad)
    assert r.returncode == 1 and "nmae" in r.stderr and "did you mean 'name'" in r.stderr
    garbage = tmp_path / "junk.txt"
    garbage.write_bytes(b"\x00\x01\x02 not a boundary file")
    r = run("txt2gpkg", garbage, "--out", tmp_path / "x.gpkg")
    assert r.returncode == 1 and "junk.txt" in r.stderr
    assert run("survey").returncode == 2  # usage error (typer)
    r = run("survey", bad, "--scheduler", "tpc://127.0.0.1:8786")  # a typo in the address
    assert r.returncode == 1 and "--scheduler: cannot reach a dask scheduler" in r.stderr and "Fix:" in r.stderr


@pytest.mark.slow
def test_demo_runs_and_prints_summary(tmp_path):
    r = run("demo", "demo", "--size", "256", "--quiet", cwd=tmp_path)  # a relative folder, as `make demo`
    assert r.returncode == 0, r.stderr
    assert "outputs:" in r.stdout and "合计" in r.stdout and "against the planted truth" in r.stdout
    assert "违法用地面积（m²）" in r.stdout and "unapproved_m2" not in r.stdout
    assert (tmp_path / "demo" / "survey" / "report.html").is_file()


def test_county_table_speaks_the_report_language(capsys, tmp_path):
    """The printed county table has the campaign's headers (as summary.csv), not column names."""
    import pandas as pd

    from onemap.cli import _print_result

    summary = pd.DataFrame({
        "admin_code": ["379901101", "total"], "admin_name": ["某镇", ""], "n_patches": [4, 4],
        "n_flagged": [2, 2], "new_m2": [1200.04, 1200.04], "unapproved_m2": [800.0, 800.0],
        "unapproved_cultivated_m2": [300.0, 300.0], "illegal_ratio": [0.25, 0.25],
        "exceeds_threshold": [True, True]})
    for lang, words, total, yes in (("zh", "违法占用耕地比例（%）", "合计", "是"),
                                    ("en", "illegal occupation ratio of cultivated land (%)",
                                     "total", "yes")):
        result = type("R", (), {"output": tmp_path, "summary": summary,
                                "manifest": {"config": {"report_lang": lang}}})()
        _print_result(result)
        out = capsys.readouterr().out
        assert words in out and total in out and yes in out
        assert "25.00" in out  # the ratio as a percentage, as its header says
        for machine in ("admin_code", "unapproved_m2", "illegal_ratio", "exceeds_threshold"):
            assert machine not in out


@pytest.mark.parametrize("cmd, usage, shown", [
    ("survey", "onemap survey [OPTIONS] CONFIG", ["CONFIG", "--scheduler", "ADDRESS"]),
    ("train", "onemap train [OPTIONS] CONFIG", ["CONFIG"]),
    ("demo", "onemap demo [OPTIONS] [OUT]", ["OUT", "PIXELS"]),
    ("info", "onemap info [OPTIONS] PATH", ["PATH"]),
    ("txt2gpkg", "onemap txt2gpkg [OPTIONS] SRC...", ["SRC...", "PATH", "CODEC"]),
    ("gpkg2txt", "onemap gpkg2txt [OPTIONS] SRC", ["SRC", "PATH", "NAME", "UNIT", "CRS"]),
])
def test_help_metavars_are_names_not_placeholders(cmd, usage, shown):
    """Usage reads CONFIG / PATH / SRC... (typer alone writes {config}); flags show no <bool>."""
    from typer.testing import CliRunner

    from onemap.cli import app

    r = CliRunner().invoke(app, [cmd, "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.replace("│", " ").split())
    assert usage in text
    usage_line = next(line for line in r.output.splitlines() if "Usage:" in line)
    assert "{" not in usage_line
    for word in shown:
        assert word in text.split()
    assert "<bool>" not in text
