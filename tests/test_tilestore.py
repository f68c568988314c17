"""The survey's parts outside the orchestrator: the resumable tile store, the typed "no valid
pixel" error of the detection chain and the demo's TOML writer."""

from __future__ import annotations

import tomllib

import dask.array as da
import numpy as np
import pytest

from onemap.change.detect import threshold_score
from onemap.demo import to_toml
from onemap.errors import DataError, NoValidPixelsError
from onemap.frame import Frame
from onemap.tilestore import TileStore, save_tile, stored


@pytest.fixture
def frame() -> Frame:
    return Frame.from_bounds((0, 0, 150, 70), 1.0, 4527)  # 70 x 150 px: ragged last tiles


def _fill(store: TileStore, score: np.ndarray, tiles=None) -> None:
    for t in store.tiles if tiles is None else tiles:
        save_tile(score[t.window], np.zeros((3, 1, 1)), store.path(t))


def test_tiles_are_the_frame_tiles_and_the_dask_chunks(frame, tmp_path):
    store = TileStore(tmp_path, frame, 32)
    assert [t.index for t in store.tiles] == [t.index for t in frame.tiles(32)]
    data = da.zeros(frame.shape, chunks=32)
    store.check_chunks(data.chunks)
    with pytest.raises(AssertionError, match="not the tiles"):
        store.check_chunks(da.zeros(frame.shape, chunks=40).chunks)


def test_store_resumes_and_reassembles_the_score(frame, tmp_path):
    rng = np.random.default_rng(1)
    score = rng.normal(0, 3, frame.shape).astype(np.float32)
    score[:5, :7] = np.nan
    store = TileStore(tmp_path / "score", frame, 32)
    store.open("k1")
    _fill(store, score, store.tiles[:4])  # killed after four tiles
    again = TileStore(tmp_path / "score", frame, 32)
    again.open("k1")
    assert [t.index for t in again.missing()] == [t.index for t in store.tiles[4:]]
    _fill(again, score, again.missing())
    out = again.assemble().compute()
    np.testing.assert_array_equal(out, stored(score).astype(np.float32))
    lo, hi = again.value_range()
    assert (lo, hi) == (float(np.nanmin(out)), float(np.nanmax(out)))
    assert again.overview().shape == (3, again.nrow, again.ncol)
    other = TileStore(tmp_path / "score", frame, 32)
    other.open("k2")  # other inputs: nothing is reused
    assert len(other.missing()) == len(other.tiles)


def test_all_nan_score_is_a_typed_data_error():
    with pytest.raises(NoValidPixelsError, match="NaN everywhere") as info:
        threshold_score(np.full(10, np.nan, np.float32))
    assert isinstance(info.value, DataError)
    with pytest.raises(DataError) as info:  # another DataError is not "no valid pixels"
        threshold_score(np.arange(10, dtype=np.float32), threshold="median")
    assert not isinstance(info.value, NoValidPixelsError)


def test_demo_toml_reads_back():
    cfg = {"survey": {"name": "样例县", "output": "/tmp/x"},
           "detect": {"min_area": 200.0, "options": {"cloud_mask": True}},
           "layers": {"landuse": {"path": "a.gpkg"}}, "run": {"tile_size": 512}}
    assert tomllib.loads(to_toml(cfg)) == cfg
