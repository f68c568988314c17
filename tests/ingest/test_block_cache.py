"""The block cache of overlapping window reads: the files' values whatever was cached, each
shared block decoded once, nothing held after the last expected read."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine

from onemap import open_scene
from onemap.ingest.window import BlockCache, expect_window, read_window

from .test_raster import synthetic, write_tif


def _naive(windows, block=32):
    """Blocks decoded by reading every window whole, with no cache."""
    return sum(((r.stop - 1) // block - r.start // block + 1)
               * ((c.stop - 1) // block - c.start // block + 1) for r, c in windows)


def _windows(h, w, tile, halo):
    """Tiles of *tile* pixels grown by *halo* (clipped), in raster order."""
    return [(slice(max(r - halo, 0), min(r + tile + halo, h)),
             slice(max(c - halo, 0), min(c + tile + halo, w)))
            for r in range(0, h, tile) for c in range(0, w, tile)]


@pytest.mark.parametrize("masked", [True, False])
def test_cached_windows_are_the_files_and_each_block_is_decoded_once(tmp_path, masked):
    data = synthetic(shape=(3, 150, 200))
    path = write_tif(tmp_path / "a.tif", data, nodata=0, block=32)
    scene = open_scene(path, masked=masked)
    windows = _windows(150, 200, 64, 7)
    cache = BlockCache()
    for rows, cols in windows:
        expect_window(scene, rows, cols, cache)
    most = 0
    for rows, cols in windows:
        got = read_window(scene, rows, cols, cache)
        np.testing.assert_array_equal(got, read_window(scene, rows, cols))
        assert got.dtype == scene.dtype
        most = max(most, cache.held_bytes)
    # the file's 5 x 7 blocks of 32 pixels: each decoded once for the halo strips, and again
    # when a neighbour's halo decoded it before its own tile (a whole block is not kept)
    assert 5 * 7 < cache.decoded <= 2 * 5 * 7 < _naive(windows)
    # only halo strips are kept: less than a row of blocks (7 of 32 x 32 pixels, 3 bands)
    assert 0 < most < 7 * 32 * 32 * 3 * data.itemsize
    assert cache.held_bytes == 0  # every kept block dropped after its last expected read


def test_the_cache_is_bounded_and_unexpected_reads_are_still_right(tmp_path):
    data = synthetic(shape=(2, 150, 200))
    path = write_tif(tmp_path / "a.tif", data, nodata=0, block=32)
    scene = open_scene(path, masked=False)
    windows = _windows(150, 200, 64, 7)
    block_bytes = 2 * 32 * 32 * 2  # 2 uint16 bands
    cache = BlockCache(max_bytes=3 * block_bytes)
    for rows, cols in windows:
        expect_window(scene, rows, cols, cache)
    most = 0
    for rows, cols in windows:
        np.testing.assert_array_equal(read_window(scene, rows, cols, cache),
                                      read_window(scene, rows, cols))
        most = max(most, cache.held_bytes)
    assert most <= 3 * block_bytes
    unbounded = BlockCache()
    for rows, cols in windows:
        expect_window(scene, rows, cols, unbounded)
    for rows, cols in windows:
        read_window(scene, rows, cols, unbounded)
    assert cache.decoded > unbounded.decoded  # some strips were dropped and decoded again
    # a window nobody announced: read right, nothing kept
    extra = BlockCache()
    np.testing.assert_array_equal(read_window(scene, slice(3, 90), slice(10, 100), extra),
                                  data[:, 3:90, 10:100])
    assert extra.held_bytes == 0


def test_threads_share_the_cache(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    data = synthetic(shape=(4, 300, 260))
    path = write_tif(tmp_path / "a.tif", data, nodata=0, block=32)
    scene = open_scene(path)
    windows = _windows(300, 260, 48, 9)
    cache = BlockCache()
    for rows, cols in windows:
        expect_window(scene, rows, cols, cache)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda w: read_window(scene, *w, cache), windows))
    for (rows, cols), g in zip(windows, got, strict=True):
        np.testing.assert_array_equal(g, np.where(data[:, rows, cols] == 0, np.nan,
                                                  data[:, rows, cols]).astype(np.float32))
    assert 10 * 9 < cache.decoded < _naive(windows) and cache.held_bytes == 0


def test_only_tiled_files_on_the_frame_are_cached(tmp_path):
    data = synthetic(shape=(1, 150, 200))
    striped = open_scene(write_tif(tmp_path / "s.tif", data, nodata=0, block=None))
    cache = BlockCache()
    expect_window(striped, slice(0, 80), slice(0, 80), cache)
    expect_window(striped, slice(60, 150), slice(0, 80), cache)
    for rows in (slice(0, 80), slice(60, 150)):
        np.testing.assert_array_equal(read_window(striped, rows, slice(0, 80), cache),
                                      read_window(striped, rows, slice(0, 80)))
    assert cache.decoded == 0
    # a file off the frame's lattice (half a pixel) is warped, never cached
    shifted = write_tif(tmp_path / "h.tif", data, nodata=0, block=32,
                        transform=Affine(10, 0, 500_005, 0, -10, 3_400_000))
    from onemap import Frame, align

    scene = align(open_scene(shifted), Frame.from_raster(str(tmp_path / "s.tif")))
    expect_window(scene, slice(0, 80), slice(0, 80), cache)
    read_window(scene, slice(0, 80), slice(0, 80), cache)
    assert cache.decoded == 0
