"""The survey with a trained model (``[detect] model``): tiled, pre-screened, resumable."""

from __future__ import annotations

import json
import warnings

import geopandas as gpd
import pytest

from onemap.survey import demo_config, run_survey
from onemap.synth import make_county

FAST = {"num_iterations": 30}


def _pair(county):
    from onemap.ingest.raster import open_scene

    before, after = (open_scene(str(county.paths[k]), masked=False).compute()
                     for k in ("before", "after"))
    truth = county.truth.copy()
    truth["real"] = truth["change_kind"] == "building"  # roads, fields, ponds: not construction
    return before, after, truth


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from onemap.change import train_change_model

    root = tmp_path_factory.mktemp("train")
    with warnings.catch_warnings():  # a small county cannot plant every case: not needed here
        warnings.simplefilter("ignore", UserWarning)
        county = make_county(root / "county", size=320, seed=21, n_changes=2)
    model = train_change_model([_pair(county)], samples_per_class=2000, params=FAST)
    return model.save(root / "county.json")


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return make_county(tmp_path_factory.mktemp("county"), size=384, seed=5, n_changes=1)


def config(county, out, model_path, tile_size=128):
    cfg = demo_config(county, out)
    cfg["run"]["tile_size"] = tile_size
    cfg["detect"]["model"] = str(model_path)
    return cfg


@pytest.fixture(scope="module")
def reference(county, model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "survey"
    return run_survey(config(county, out, model_path), progress=False)


def test_survey_with_model_writes_every_output(reference):
    out = reference.output
    for name in ("verdicts.gpkg", "verdicts.csv", "summary.csv", "report.html", "manifest.json"):
        assert (out / name).is_file(), name
    assert not (out / "work" / "score").is_dir() or not list((out / "work" / "score").glob("r*"))
    assert list((out / "work" / "model").glob("r*.npy")), "the pixel stage is kept for resuming"
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["counts"]["patches"] == len(reference.verdicts) > 0
    v = gpd.read_file(out / "verdicts.gpkg")
    assert "probability" in v.columns and v["probability"].between(0, 1).all()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "data:image/png;base64" in html  # the overview map still drawn from the tiles


def test_rerun_other_tiles_identical(reference, county, model_path, tmp_path):
    again = run_survey(config(county, tmp_path / "again", model_path, tile_size=96),
                       progress=False)
    assert again.manifest["verdict_table_sha256"] == reference.manifest["verdict_table_sha256"]
    assert again.manifest["outputs"] == reference.manifest["outputs"]


def test_lost_tiles_are_recomputed_the_rest_reused(reference, county, model_path, tmp_path):
    import shutil

    out = tmp_path / "resumed"
    shutil.copytree(reference.output, out)
    tiles = sorted((out / "work" / "model").glob("r*.npy"))
    assert len(tiles) == 9
    for f in tiles[::2]:  # as if the run had been killed before these tiles were saved
        f.unlink()
    kept = {f: f.stat().st_mtime_ns for f in tiles[1::2]}
    (out / "manifest.json").unlink()
    res = run_survey(config(county, out, model_path), progress=False)
    assert all(f.stat().st_mtime_ns == t for f, t in kept.items())
    assert all(f.is_file() for f in tiles)
    assert res.manifest["outputs"] == reference.manifest["outputs"]


def test_killed_during_the_pixel_stage_then_finished_gives_the_same_verdicts(
        reference, county, model_path, tmp_path):
    """A real SIGKILL of the CLI while the model's pixel tiles are being written: no partial tile
    under a final name, the saved tiles are reused, and the finished run's verdicts are the
    uninterrupted run's."""
    import re
    import signal
    import subprocess
    import sys
    import time

    import numpy as np

    from onemap.demo import to_toml

    out = tmp_path / "killed"
    cfg = tmp_path / "survey.toml"
    cfg.write_text(to_toml(config(county, out, model_path, tile_size=64)), encoding="utf-8")
    tiles = out / "work" / "model"
    cmd = [sys.executable, "-m", "onemap", "survey", str(cfg), "--quiet"]
    n_all = (-(-384 // 64)) ** 2
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and len(list(tiles.glob("r*.npy"))) < 3:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the survey finished before it could be killed"
    saved = sorted(tiles.glob("r*.npy"))
    assert 0 < len(saved) < n_all
    final = re.compile(r"^r\d+_c\d+\.npy$")
    for f in saved:  # a tile under its final name is whole: it loads
        assert final.match(f.name)
        assert np.load(f, allow_pickle=False).size
    kept = {f: f.stat().st_mtime_ns for f in saved}
    assert subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode == 0
    assert all(f.stat().st_mtime_ns == t for f, t in kept.items()), "saved tiles were recomputed"
    assert len(list(tiles.glob("r*.npy"))) == n_all
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["verdict_table_sha256"] == reference.manifest["verdict_table_sha256"]


def test_on_a_local_cluster_same_verdicts(reference, county, model_path, tmp_path):
    """Worker processes read each tile's window from the files and mask its clouds there: the
    verdicts of the threaded run."""
    import distributed

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        r = run_survey(config(county, tmp_path / "survey", model_path), client=client,
                       progress=False)
    assert len(r.verdicts) == len(reference.verdicts)
    assert r.manifest["verdict_table_sha256"] == reference.manifest["verdict_table_sha256"]
