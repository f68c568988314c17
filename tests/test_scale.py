"""One survey, several ways to run it: whole scenes in memory, tiles on threads, tiles on a cluster.

The results must not depend on how the work was cut or where it ran: same patch geometries
(within 1e-6 m), same verdicts and areas, byte for byte the same tables.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from onemap import detect_changes, open_scene
from onemap.survey import demo_config, run_survey
from onemap.synth import make_county

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    return make_county(tmp_path_factory.mktemp("county"), size=320, seed=11, n_changes=1)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as c:
        yield c


def _config(county, out, tile_size):
    cfg = demo_config(county, out)
    cfg["run"]["tile_size"] = tile_size
    return cfg


def _same_geometries(a, b) -> bool:
    return len(a) == len(b) and bool(np.all(shapely.equals_exact(a.geometry.values, b.geometry.values, 1e-6)))


def test_survey_is_the_same_in_one_tile_in_tiles_on_threads_and_on_a_cluster(county, client, tmp_path):
    runs = {"one tile": run_survey(_config(county, tmp_path / "whole", 4096), progress=False)}
    for ts in (64, 112):
        runs[f"threads, {ts}² tiles"] = run_survey(_config(county, tmp_path / f"t{ts}", ts), progress=False)
        runs[f"cluster, {ts}² tiles"] = run_survey(_config(county, tmp_path / f"d{ts}", ts), client=client,
                                                   progress=False)
    ref = runs["one tile"]
    assert len(ref.verdicts) > 3 and set(ref.verdicts["verdict"]) >= {"unapproved", "approved"}
    for name, run in runs.items():
        assert run.manifest["verdict_table_sha256"] == ref.manifest["verdict_table_sha256"], name
        assert run.manifest["outputs"] == ref.manifest["outputs"], name
        assert _same_geometries(run.verdicts, ref.verdicts), name
        assert run.manifest["invariants"]["verdict_areas"]["rows"] == 2 * len(ref.verdicts)


def test_detect_changes_in_memory_equals_chunked_and_distributed(county, client):
    def scene(key, chunks):
        s = open_scene(str(county.paths[key]), sensor="gf2", chunks=chunks, masked=False)
        return s if chunks else s.copy(data=s.values)  # NumPy-backed: the in-memory path

    kw = dict(min_area=200.0, smooth=1)
    ref = detect_changes(scene("before", None), scene("after", None), **kw)
    assert len(ref) > 3
    for chunks in ((64, 64), (100, 150)):
        lazy = detect_changes(scene("before", chunks), scene("after", chunks), **kw)
        assert _same_geometries(lazy, ref), chunks
        np.testing.assert_array_equal(lazy["pixels"], ref["pixels"])
        np.testing.assert_allclose(lazy["score_mean"], ref["score_mean"], rtol=1e-6)
    on_cluster = detect_changes(scene("before", (96, 96)), scene("after", (96, 96)), **kw)  # default client
    assert _same_geometries(on_cluster, ref)
