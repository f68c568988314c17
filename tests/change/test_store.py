"""``store=`` of the public chain: the score computed tile by tile into a resumable store equals
the score computed at once (as stored, float16), a run stopped midway resumes on the missing
tiles only and gives the same result, other inputs are not served stale tiles."""

from __future__ import annotations

import numpy as np
import pytest

from onemap import Frame, change_score, detect_changes
from onemap.change import MaskPolicy
from onemap.errors import DataError, FrameError
from onemap.tilestore import TileStore, stored

from . import synthetic as S


@pytest.fixture(scope="module")
def pair():
    before, after, _ = S.scene_pair(S.BANDS[:4])
    return before.chunk({"y": 64, "x": 64}), after.chunk({"y": 64, "x": 64})


def _tile_files(folder):
    return sorted(p for p in folder.glob("r*_c*.npy"))


def test_stored_score_equals_the_score(pair, tmp_path):
    before, after = pair
    direct = change_score(before, after)
    kept = change_score(before, after, store=tmp_path / "score")
    np.testing.assert_array_equal(kept.values, stored(direct.values).astype(np.float32))
    finite = kept.values[np.isfinite(kept.values)]
    assert kept.attrs["score_range"] == (float(finite.min()), float(finite.max()))
    assert kept.attrs["method"] == direct.attrs["method"]
    tiles = TileStore(tmp_path / "score", S.frame(), 64).tiles
    assert len(_tile_files(tmp_path / "score")) == len(tiles) > 4  # the dask chunks


def test_a_run_stopped_midway_resumes_with_the_same_result(pair, tmp_path):
    before, after = pair
    folder = tmp_path / "score"
    whole = detect_changes(before, after, min_area=40, store=folder)
    first = change_score(before, after, store=folder).values
    files = _tile_files(folder)
    lost = files[::2]  # a kill leaves some tiles unwritten
    for f in lost:
        f.unlink()
    kept = {f: f.stat().st_mtime_ns for f in files[1::2]}
    again = change_score(before, after, store=folder)
    assert {f: f.stat().st_mtime_ns for f in kept} == kept  # finished tiles are not recomputed
    assert all(f.exists() for f in lost)
    np.testing.assert_array_equal(again.values, first)
    resumed = detect_changes(before, after, min_area=40, store=folder)
    assert resumed.drop(columns="geometry").equals(whole.drop(columns="geometry"))
    assert resumed.geometry.equals(whole.geometry)
    assert resumed.attrs["threshold"] == whole.attrs["threshold"]


def test_detect_changes_with_a_store_finds_the_same_patches(pair, tmp_path):
    before, after = pair
    plain = detect_changes(before, after, min_area=40)
    kept = detect_changes(before, after, min_area=40, store=tmp_path / "s")
    assert kept.attrs["status"] == "ok" and len(kept) == len(plain) > 0
    # the stored score is float16: the threshold moves by less than its rounding
    assert kept.attrs["threshold"] == pytest.approx(plain.attrs["threshold"], rel=2e-3)
    assert kept.pixels.sum() == pytest.approx(plain.pixels.sum(), rel=0.01)


def test_other_inputs_are_not_served_stale_tiles(pair, tmp_path):
    before, after = pair
    folder = tmp_path / "score"
    change_score(before, after, smooth=0, store=folder)
    smoothed = change_score(before, after, smooth=1, store=folder).values
    direct = change_score(before, after, smooth=1).values
    np.testing.assert_array_equal(smoothed, stored(direct).astype(np.float32))
    policy = MaskPolicy(clouds=False, nodata=True)
    masked = change_score(before, after, smooth=1, mask=policy, store=folder).values
    np.testing.assert_array_equal(masked, stored(change_score(before, after, smooth=1,
                                                              mask=policy).values)
                                  .astype(np.float32))


def test_in_memory_scenes_and_a_tile_store(pair, tmp_path):
    before, after = (s.compute() for s in pair)
    store = TileStore(tmp_path / "score", S.frame(), 50)
    kept = change_score(before, after, store=store)
    direct = change_score(before, after)
    np.testing.assert_array_equal(kept.values, stored(direct.values).astype(np.float32))
    assert len(_tile_files(tmp_path / "score")) == len(store.tiles)
    assert store.overview() is None  # no overview asked for


def test_a_store_of_another_frame_or_kind_is_an_error(pair, tmp_path):
    before, after = pair
    other = Frame.from_bounds((0, 0, 100, 100), 1.0, 4527)
    with pytest.raises(FrameError, match="store= keeps tiles of"):
        change_score(before, after, store=TileStore(tmp_path, other, 64))
    with pytest.raises(DataError, match="store must be"):
        change_score(before, after, store=42)  # type: ignore[arg-type]
