"""The batch survey end to end on a small synthetic county: outputs, determinism, resumability."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from onemap.demo import to_toml as _to_toml
from onemap.survey import demo_config, run_survey
from onemap.synth import make_county


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    return make_county(tmp_path_factory.mktemp("county"), size=384, seed=5, n_changes=1)


def config(county, out, tile_size=128):
    cfg = demo_config(county, out)
    cfg["run"]["tile_size"] = tile_size
    return cfg


@pytest.fixture(scope="module")
def reference(county, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    return run_survey(config(county, out / "survey"), progress=False)


def test_outputs_and_manifest(reference, county):
    out = reference.output
    for name in ("verdicts.gpkg", "verdicts.csv", "summary.csv", "approvals_status.csv", "report.html",
                 "manifest.json", "data_dictionary.csv"):
        assert (out / name).is_file(), name
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["counts"]["patches"] == len(reference.verdicts)
    assert set(m["timings_s"]) >= {"ingest", "score", "patches", "flag", "summarize", "export", "report"}
    assert str(county.paths["before"]) in m["inputs"] and len(m["inputs"][str(county.paths["before"])]["sha256"]) == 64
    assert m["versions"]["numpy"] and m["versions"]["gdal"]
    v = gpd.read_file(out / "verdicts.gpkg")
    assert len(v) == len(reference.verdicts) and v.crs == reference.verdicts.crs
    from onemap.people_csv import read_people_csv

    assert (out / "summary.csv").read_bytes().startswith(b"\xef\xbb\xbf\xe8\xa1\x8c\xe6\x94\xbf")  # BOM 行政
    s = read_people_csv(out / "summary.csv")
    assert s.iloc[-1]["admin_code"] == "total"
    assert s["admin_code"].iloc[:-1].str.fullmatch(r"\d{12}").all()  # village codes stay 12-digit text
    np.testing.assert_allclose(s.iloc[-1]["unapproved_m2"], reference.verdicts["unapproved_m2"].sum(), rtol=1e-6)
    flagged = reference.verdicts["verdict"].isin(["unapproved", "partly_approved"]).sum()
    assert len(list((out / "flagged_txt").glob("*.txt"))) == flagged


def test_flagged_txt_reads_back(reference):
    from onemap import read_boundary_txt

    files = sorted((reference.output / "flagged_txt").glob("*.txt"))
    assert files, "the county plants unapproved construction: some patch must be flagged"
    back = read_boundary_txt(files[0])
    pid = int(files[0].stem.split("_")[1])
    geom = reference.verdicts.set_index("patch_id").loc[pid].geometry
    assert back.crs == reference.verdicts.crs
    assert abs(back.geometry.iloc[0].area - geom.area) < 1e-3 * geom.area


def test_rerun_is_identical_and_tiling_does_not_matter(reference, county, tmp_path):
    again = run_survey(config(county, tmp_path / "again", tile_size=96), progress=False)
    assert again.manifest["verdict_table_sha256"] == reference.manifest["verdict_table_sha256"]
    assert again.manifest["outputs"] == reference.manifest["outputs"]


def _run_cli(cfg_path: Path, **kw):
    return subprocess.Popen([sys.executable, "-m", "onemap", "survey", str(cfg_path), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_killed_survey_resumes_to_identical_outputs(reference, county, tmp_path):
    out = tmp_path / "killed"
    cfg_path = tmp_path / "survey.toml"
    cfg_path.write_text(_to_toml(config(county, out, tile_size=64)), encoding="utf-8")
    proc = _run_cli(cfg_path)
    tiles = out / "work" / "score"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if tiles.is_dir() and len(list(tiles.glob("r*.npy"))) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the survey ended before it was killed: nothing was resumed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(tiles.glob("r*.npy"))
    for f in done:  # nothing partial under a final name
        assert np.load(f).dtype == np.float16
    assert not (out / "manifest.json").exists()
    assert 0 < len(done) < 36
    kept = {f: f.stat().st_mtime_ns for f in done}
    proc = _run_cli(cfg_path)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    assert all(f.stat().st_mtime_ns == t for f, t in kept.items())  # resumed: done tiles reused
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["verdict_table_sha256"] == reference.manifest["verdict_table_sha256"]
    assert m["outputs"] == reference.manifest["outputs"]
    assert not [p for p in out.rglob(".tmp-*")]


def test_report_renders_in_headless_chromium(reference, tmp_path):
    chromium = next((c for c in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(c)), None)
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    shot = tmp_path / "report.png"

    def run(*what):  # one page per call: --dump-dom and --screenshot do not mix
        return subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",  # offline
             "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'profile'}",
             "--window-size=1200,2400", *what, (reference.output / "report.html").as_uri()],
            capture_output=True, timeout=120)

    proc = run("--dump-dom")
    dom = proc.stdout.decode("utf-8", "replace")
    assert "id=\"ratio\"" in dom and "<img" in dom and "county map" in dom
    assert "map-ready" in dom and "leaflet-container" in dom  # the interactive map initialised
    assert len(re.findall(r"<path[^>]*class=\"[^\"]*onemap-patch", dom)) == len(reference.verdicts)
    from PIL import Image

    proc = run(f"--screenshot={shot}")
    assert shot.is_file(), f"chromium wrote no screenshot: {proc.stderr.decode(errors='replace')[-500:]}"
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[0] > 500 and img.std() > 10  # not a blank page


def test_manifest_records_the_area_invariants(reference):
    inv = reference.manifest["invariants"]
    assert {"patches_kept", "verdict_areas", "landuse_pieces", "admin_totals"} <= set(inv)
    assert inv["verdict_areas"]["rows"] == 2 * len(reference.verdicts) and inv["tolerance"] == 1e-6
    assert all(v["max_relative_error"] <= 1e-6 for k, v in inv.items() if k != "tolerance")


def test_a_broken_invariant_stops_the_run_before_any_output(county, tmp_path, monkeypatch):
    import onemap.enforce
    from onemap.errors import InvariantError

    real = onemap.enforce.flag_unapproved

    def double_counting(*args, **kwargs):  # a bug that counts approved land twice
        v = real(*args, **kwargs)
        v["approved_m2"] = v["approved_m2"] * 2 + 1.0
        return v

    monkeypatch.setattr(onemap.enforce, "flag_unapproved", double_counting)
    out = tmp_path / "broken"
    with pytest.raises(InvariantError, match="verdict_areas"):
        run_survey(config(county, out), progress=False)
    assert not (out / "verdicts.csv").exists() and not (out / "manifest.json").exists()


def test_run_section_chooses_the_scheduler(county, tmp_path, reference):
    cfg = config(county, tmp_path / "sync")
    cfg["run"].update(scheduler="synchronous", workers=1)
    assert run_survey(cfg, progress=False).manifest["verdict_table_sha256"] == reference.manifest["verdict_table_sha256"]
