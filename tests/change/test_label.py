"""Connected-component labelling against scipy.ndimage, tile stitching, per-label statistics."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st

import onemap
from onemap.change._label_strips import label_strips
from onemap.change.label import (
    border_pairs,
    first_pixels,
    label,
    label_block,
    label_stats,
    label_tiled,
    relabel,
    resolve,
)
from onemap.errors import DataError

STRUCT = {8: np.ones((3, 3), bool), 4: ndi.generate_binary_structure(2, 1)}


def scipy_label(mask, connectivity):
    return ndi.label(mask, STRUCT[connectivity])


def assert_same_partition(ours, theirs):
    """Bijection between our labels and the oracle's on the foreground."""
    assert ((ours == 0) == (theirs == 0)).all()
    fg = ours != 0
    pairs = np.unique(np.stack([ours[fg], theirs[fg]]), axis=1)
    assert np.unique(pairs[0]).size == pairs.shape[1]
    assert np.unique(pairs[1]).size == pairs.shape[1]


def blobs(rng, shape, frac, sigma=2.0):
    f = ndi.gaussian_filter(rng.standard_normal(shape), sigma)
    return f > np.quantile(f, 1 - frac)


@pytest.mark.parametrize("connectivity", [8, 4])
@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (41, 1), (2, 2), (17, 23), (64, 64), (97, 131)])
@pytest.mark.parametrize("density", [0.05, 0.3, 0.5, 0.7, 0.95])
def test_label_equals_scipy_random(shape, density, connectivity):
    rng = np.random.default_rng(hash((shape, density, connectivity)) % 2**32)
    mask = rng.random(shape) < density
    ours, n = label(mask, connectivity)
    theirs, n_scipy = scipy_label(mask, connectivity)
    assert ours.dtype == np.int32
    assert n == n_scipy
    assert_same_partition(ours, theirs)
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("connectivity", [8, 4])
@pytest.mark.parametrize("frac", [0.01, 0.2, 0.6])
def test_label_parallel_path_equals_scipy(connectivity, frac):
    # large enough for the multi-strip kernel; blobs and long shapes cross the strip seams
    rng = np.random.default_rng(7)
    mask = blobs(rng, (1100, 1000), frac)
    mask[:, 100] = True  # one column through every strip
    mask[5:690, 300] = mask[5, 300:400] = True
    ours, n = label(mask, connectivity)
    theirs, n_scipy = scipy_label(mask, connectivity)
    assert n == n_scipy
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("nstrips", [2, 3, 5, 16, 61])
@pytest.mark.parametrize("connectivity", [8, 4])
def test_strip_seams_any_strip_count(nstrips, connectivity):
    # the seam merge, independent of how many threads this machine has
    rng = np.random.default_rng(nstrips)
    mask = rng.random((61, 45)) < 0.45
    # a staircase that only connects diagonally, across every row
    idx = np.arange(45)
    mask[idx, idx] = True
    mask[idx + 1, idx] = False
    ours, n, first = label_strips(np.ascontiguousarray(mask), connectivity == 8, nstrips, True)
    theirs, n_scipy = scipy_label(mask, connectivity)
    assert n == n_scipy
    np.testing.assert_array_equal(ours, theirs)
    rows, cols = first_pixels(theirs, n)
    np.testing.assert_array_equal(first, rows * mask.shape[1] + cols)


def test_label_special_masks():
    for shape in [(0, 0), (0, 5), (3, 0)]:
        labels, n = label(np.zeros(shape, bool))
        assert n == 0 and labels.shape == shape and labels.dtype == np.int32
    labels, n = label(np.zeros((300, 500), bool))
    assert n == 0 and not labels.any()
    labels, n = label(np.ones((300, 500), bool))
    assert n == 1 and (labels == 1).all()
    checker = np.indices((40, 30)).sum(axis=0) % 2 == 0
    assert label(checker, 8)[1] == 1
    assert label(checker, 4)[1] == checker.sum()
    # non-boolean and non-contiguous inputs are accepted
    rng = np.random.default_rng(3)
    m = (rng.random((50, 80)) < 0.4).astype(np.uint8)
    view = m[::2, 1::3]
    np.testing.assert_array_equal(label(view)[0], scipy_label(view != 0, 8)[0])


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_label_real_change_mask(shared_data):
    # LEVIR-CD building-change label: real building footprints
    with rasterio.open(shared_data / "change/levir/label/test_2_0000_0000.png") as src:
        mask = src.read(1) > 127
    for conn in (4, 8):
        ours, n = label(mask, conn)
        theirs, n_scipy = scipy_label(mask, conn)
        assert n == n_scipy > 0
        np.testing.assert_array_equal(ours, theirs)
        big = np.tile(mask, (5, 5))  # big enough for the parallel path
        np.testing.assert_array_equal(label(big, conn)[0], scipy_label(big, conn)[0])


def test_label_bad_input():
    with pytest.raises(DataError, match="connectivity"):
        label(np.zeros((3, 3), bool), connectivity=6)
    with pytest.raises(DataError, match="2-D"):
        label(np.zeros((2, 3, 3), bool))
    with pytest.raises(DataError, match="boolean"):
        label(np.array([["a"]]))
    with pytest.raises(DataError, match="NaN"):
        label(np.array([[1.0, np.nan]]))


def test_public_api():
    assert onemap.label is label
    assert onemap.label_tiled is label_tiled


# --------------------------------------------------------------------------- tiled


@pytest.mark.parametrize("tile", [1, 2, 3, 5, 7, 13, 31, 64, 500, (4, 9), (17, 2)])
@pytest.mark.parametrize("connectivity", [8, 4])
def test_label_tiled_equals_label(tile, connectivity):
    rng = np.random.default_rng(11)
    mask = rng.random((37, 53)) < 0.55
    expected, n = label(mask, connectivity)
    got, n_tiled = label_tiled(mask, tile, connectivity)
    assert n_tiled == n
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, expected)


def test_label_tiled_diagonal_across_corner():
    # two pixels that touch only at a tile corner
    mask = np.zeros((4, 4), bool)
    mask[1, 1] = mask[2, 2] = True
    assert label_tiled(mask, 2, 8)[1] == 1
    assert label_tiled(mask, 2, 4)[1] == 2
    # anti-diagonal across the corner
    mask = np.zeros((4, 4), bool)
    mask[1, 2] = mask[2, 1] = True
    assert label_tiled(mask, 2, 8)[1] == 1


def test_label_tiled_blobs_large_tiles():
    rng = np.random.default_rng(5)
    mask = blobs(rng, (600, 450), 0.3, sigma=4)
    for tile in (128, 97, (600, 100)):
        np.testing.assert_array_equal(label_tiled(mask, tile)[0], label(mask)[0])


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 30), w=st.integers(1, 30), th=st.integers(1, 12), tw=st.integers(1, 12),
       density=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1), conn=st.sampled_from([4, 8]))
def test_label_tiled_property(h, w, th, tw, density, seed, conn):
    mask = np.random.default_rng(seed).random((h, w)) < density
    expected, n = scipy_label(mask, conn)
    got, n_tiled = label_tiled(mask, (th, tw), conn)
    assert n_tiled == n
    np.testing.assert_array_equal(got, expected)


def test_chunk_contract_by_hand():
    # the steps a dask caller follows (module docstring), with chunks of uneven size
    rng = np.random.default_rng(9)
    mask = rng.random((23, 29)) < 0.5
    rows, cols = [0, 10, 23], [0, 7, 20, 29]
    chunks, keys, offset = {}, [], 0
    for i in range(2):
        for j in range(3):
            lab, n, r, c = label_block(mask[rows[i]:rows[i + 1], cols[j]:cols[j + 1]])
            np.testing.assert_array_equal(np.stack([r, c]), np.stack(first_pixels(lab, n)))
            keys.append((rows[i] + r) * mask.shape[1] + cols[j] + c)
            chunks[i, j] = (lab, offset, n)
            offset += n

    def shifted(line, off):
        return np.where(line != 0, line + off, 0)

    pairs = [border_pairs(np.concatenate([shifted(chunks[0, j][0][-1], chunks[0, j][1]) for j in range(3)]),
                          np.concatenate([shifted(chunks[1, j][0][0], chunks[1, j][1]) for j in range(3)]))]
    for j in (1, 2):
        pairs.append(border_pairs(
            np.concatenate([shifted(chunks[i, j - 1][0][:, -1], chunks[i, j - 1][1]) for i in range(2)]),
            np.concatenate([shifted(chunks[i, j][0][:, 0], chunks[i, j][1]) for i in range(2)])))
    table, n = resolve(np.concatenate(pairs), np.concatenate(keys))
    out = np.zeros(mask.shape, np.int32)
    for (i, j), (lab, off, k) in chunks.items():
        out[rows[i]:rows[i + 1], cols[j]:cols[j + 1]] = relabel(lab, table, off, k)
    expected, n_expected = label(mask)
    assert n == n_expected
    np.testing.assert_array_equal(out, expected)


def test_tiled_bad_input():
    with pytest.raises(DataError, match="tile_size"):
        label_tiled(np.zeros((3, 3), bool), 0)
    with pytest.raises(DataError, match="piece ids"):
        resolve(np.array([[1, 5]]), np.array([0, 1]))
    with pytest.raises(DataError, match="outside 0..1"):
        relabel(np.array([[0, 2]]), np.array([0, 1, 1]), 0, 1)
    with pytest.raises(DataError, match="table has"):
        relabel(np.array([[0, 1]]), np.array([0, 1]), 1, 1)
    # labels beyond int32 come back as int64
    big = relabel(np.array([[0, 1]]), np.array([0, 2**31 + 5]), 0, 1)
    assert big.dtype == np.int64 and big[0, 1] == 2**31 + 5
    # without n: the table from offset on
    np.testing.assert_array_equal(relabel(np.array([[0, 2]]), np.array([0, 1, 1, 2]), 1), [[0, 2]])


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("shape,dtype", [((120, 150), np.float64), ((1100, 1000), np.float32)])
def test_label_stats_against_scipy(shape, dtype):
    # the large case runs the parallel strips and their merge
    rng = np.random.default_rng(4)
    mask = blobs(rng, shape, 0.2)
    labels, n = label(mask)
    score = (rng.random(mask.shape) * 10).astype(dtype)
    idx = np.arange(1, n + 1)
    s = label_stats(labels, n, score=score, pixel_area=2.5)
    count = ndi.sum(np.ones(mask.shape), labels, idx)
    np.testing.assert_array_equal(s["count"], count)
    np.testing.assert_allclose(s["area"], count * 2.5)
    boxes = ndi.find_objects(labels)
    np.testing.assert_array_equal(s["row_min"], [b[0].start for b in boxes])
    np.testing.assert_array_equal(s["row_max"], [b[0].stop - 1 for b in boxes])
    np.testing.assert_array_equal(s["col_min"], [b[1].start for b in boxes])
    np.testing.assert_array_equal(s["col_max"], [b[1].stop - 1 for b in boxes])
    com = np.array(ndi.center_of_mass(mask, labels, idx))
    np.testing.assert_allclose(s["centroid_row"], com[:, 0], rtol=1e-12)
    np.testing.assert_allclose(s["centroid_col"], com[:, 1], rtol=1e-12)
    np.testing.assert_allclose(s["score_mean"], ndi.mean(score.astype(np.float64), labels, idx), rtol=1e-12)
    np.testing.assert_array_equal(s["score_max"], ndi.maximum(score, labels, idx))
    # NaN-aware: NaN pixels are left out of mean and max
    score[rng.random(mask.shape) < 0.3] = np.nan
    s = label_stats(labels, n, score=score)
    finite = ~np.isnan(score)
    n_finite = ndi.sum(finite, labels, idx)
    with np.errstate(invalid="ignore"):
        mean = ndi.sum(np.where(finite, score, 0).astype(np.float64), labels, idx) / n_finite
    np.testing.assert_allclose(s["score_mean"], mean, rtol=1e-12)
    peak = ndi.maximum(np.where(finite, score, -np.inf), labels, idx)
    np.testing.assert_array_equal(s["score_max"], np.where(n_finite > 0, peak, np.nan))


def test_label_stats_nan_score_and_empty_labels():
    labels = np.array([[1, 1, 0, 3],
                       [0, 1, 0, 3]], np.int64)
    score = np.array([[np.nan, 2.0, 7.0, np.nan],
                      [9.0, 4.0, 7.0, np.nan]])
    s = label_stats(labels, 3, score=score)
    np.testing.assert_array_equal(s["count"], [3, 0, 2])
    np.testing.assert_array_equal(s["score_mean"], [3.0, np.nan, np.nan])
    np.testing.assert_array_equal(s["score_max"], [4.0, np.nan, np.nan])
    np.testing.assert_array_equal(s["row_min"], [0, -1, 0])
    assert np.isnan(s["centroid_row"][1])
    assert "score_mean" not in label_stats(labels, 3)
    assert all(v.shape == (0,) for v in label_stats(np.zeros((2, 2), np.int32), 0).values())


def test_label_stats_bad_input():
    labels = np.array([[1, 2]], np.int32)
    with pytest.raises(DataError, match="outside 0..1"):
        label_stats(labels, 1)
    with pytest.raises(DataError, match="score has shape"):
        label_stats(labels, 2, score=np.zeros((2, 2)))
    with pytest.raises(DataError, match="integer"):
        label_stats(labels.astype(float), 2)


# --------------------------------------------------------------------------- strip scheduler


def test_parallel_run_order_errors_and_threads():
    import threading

    import numba

    from onemap import _compute as P

    names = []

    def work(i):
        names.append(threading.current_thread().name)
        return i * i

    assert P.run(work, [(i,) for i in range(20)]) == [i * i for i in range(20)]

    def fail(i):
        if i == 3:
            raise ValueError("strip 3")
        return i

    with pytest.raises(ValueError, match="strip 3"):
        P.run(fail, [(i,) for i in range(8)])
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        names.clear()
        P.run(work, [(i,) for i in range(5)])
        assert set(names) == {threading.current_thread().name}  # one thread: the caller only
        assert P.strips(1000).size == 2
    finally:
        numba.set_num_threads(previous)
    starts = P.strips(1000)
    assert starts[0] == 0 and starts[-1] == 1000 and np.all(np.diff(starts) >= 16)


def test_label_from_many_threads_at_once():
    # dask's threaded scheduler calls label / morphology concurrently: the strip scheduler is
    # shared, the calling threads do the work themselves
    from concurrent.futures import ThreadPoolExecutor

    from onemap.change.morphology import remove_small

    rng = np.random.default_rng(21)
    masks = [blobs(rng, (1100, 960), 0.2 + 0.1 * i) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda m: (label(m), remove_small(m, 5)), masks))
    for m, ((labels, n), small) in zip(masks, got):
        expected, n_expected = scipy_label(m, 8)
        assert n == n_expected
        np.testing.assert_array_equal(labels, expected)
        sizes = np.bincount(expected.ravel())
        np.testing.assert_array_equal(small, (sizes >= 5)[expected] & m)
