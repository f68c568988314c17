"""The execution layer: NumPy and dask give one answer through the dispatcher, whatever the chunks,
and every kernel family follows the one thread setting."""

from __future__ import annotations

import threading

import dask
import dask.array as dsa
import numba
import numpy as np
import pytest
import scipy.ndimage as ndi

from onemap import _compute as C
from onemap.change import _kernels as K
from onemap.change.morphology import binary_opening

CHUNKINGS = [(17, 23), (64, 9)]  # two unrelated chunkings, neither dividing the shape


def _box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    out = np.empty(x.shape, np.float32)
    C.run_strips(lambda r0, r1: K.box_mean_kernel(x, radius, r0, r1, out), *x.shape)
    return out


def _oracle_box_mean(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean of the valid pixels of the window clipped to the array, NaN stays NaN (plain loops)."""
    h, w = x.shape
    out = np.full(x.shape, np.nan, np.float64)
    for i in range(h):
        for j in range(w):
            if np.isnan(x[i, j]):
                continue
            win = x[max(0, i - radius):i + radius + 1, max(0, j - radius):j + radius + 1]
            ok = win[~np.isnan(win)]
            if ok.size:
                out[i, j] = ok.astype(np.float64).mean()
    return out


@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_halo_box_mean_tiling_independent(chunks):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (70, 50)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    r = 3
    eager = C.apply_blocks(lambda a: _box_mean(a, r), x, halo=C.halo(r), boundary=np.nan,
                           dtype=np.float32)
    lazy = C.apply_blocks(lambda a: _box_mean(a, r), dsa.from_array(x, chunks=chunks),
                          halo=C.halo(r), boundary=np.nan, dtype=np.float32)
    assert C.is_lazy(lazy) and not C.is_lazy(eager)
    np.testing.assert_array_equal(lazy.compute(), eager)
    np.testing.assert_allclose(eager, _oracle_box_mean(x, r), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("chunks", CHUNKINGS)
def test_halo_opening_tiling_independent(chunks):
    rng = np.random.default_rng(4)
    squares = ndi.binary_dilation(rng.random((80, 60)) < 0.01, np.ones((3, 3), bool), iterations=3)
    m = squares | (rng.random((80, 60)) < 0.3)
    assert 0 < binary_opening(m, 2).sum() < m.sum()  # the opening keeps some, removes some
    r = 2
    eager = C.apply_blocks(lambda a: binary_opening(a, r), m, halo=C.halo(r, passes=2),
                           boundary=False, dtype=bool)
    lazy = C.apply_blocks(lambda a: binary_opening(a, r), dsa.from_array(m, chunks=chunks),
                          halo=C.halo(r, passes=2), boundary=False, dtype=bool)
    np.testing.assert_array_equal(lazy.compute(), eager)
    # a halo of one pass only is too short: the blocked result then depends on the chunks
    short = C.apply_blocks(lambda a: binary_opening(a, r), dsa.from_array(m, chunks=chunks),
                           halo=C.halo(r), boundary=False, dtype=bool)
    assert not np.array_equal(short.compute(), eager)


def test_halo_on_spatial_axes_only_and_multi_input():
    rng = np.random.default_rng(5)
    a = rng.normal(0, 1, (3, 40, 30)).astype(np.float32)
    b = rng.normal(0, 1, (3, 40, 30)).astype(np.float32)

    def diff_sum(x, y):  # band sum of the difference, shape (1, h, w)
        return (x - y).sum(axis=0, keepdims=True, dtype=np.float32)

    eager = C.apply_blocks(diff_sum, a, b, dtype=np.float32)
    da, db = dsa.from_array(a, chunks=(3, 13, 11)), dsa.from_array(b, chunks=(3, 13, 11))
    lazy = C.apply_blocks(diff_sum, da, db, dtype=np.float32, chunks=((1,),) + da.chunks[1:])
    np.testing.assert_array_equal(lazy.compute(), eager)
    seen = []

    def shape_of(x):
        if x.size:  # dask also calls it on an empty array to learn the output type
            seen.append(x.shape[0])
        return x

    C.apply_blocks(shape_of, da, halo=2, boundary=0, dtype=np.float32).compute(scheduler="sync")
    assert set(seen) == {3}  # the band axis is never extended


def test_halo_rule_checks():
    assert C.halo(0) == 0 and C.halo(4, passes=3) == 12
    with pytest.raises(ValueError):
        C.halo(-1)
    with pytest.raises(ValueError, match="boundary"):
        C.apply_blocks(lambda a: a, dsa.zeros((4, 4), chunks=2), halo=1, dtype=float)


def test_thread_policy_honoured_by_every_family():
    previous = numba.get_num_threads()
    if previous < 2:
        pytest.skip("one numba thread: nothing to throttle")  # the policy test needs two
    assert C.threads() == previous
    names: list[str] = []

    def note(i):
        names.append(threading.current_thread().name)
        return i

    with C.serial():
        assert C.threads() == 1 and numba.get_num_threads() == 1  # prange kernels follow too
        names.clear()
        C.run(note, [(i,) for i in range(8)])
        assert set(names) == {threading.current_thread().name}
        rows: list[tuple[int, int]] = []
        C.run_strips(lambda r0, r1: rows.append((r0, r1)), 4096, 4096)
        assert rows == [(0, 4096)]  # one strip: the caller only
    assert numba.get_num_threads() == previous
    with C.threads_for(10, threshold=100):
        assert C.threads() == 1
    with C.threads_for(1000, threshold=100):
        assert C.threads() == previous
    rows = []
    C.run_strips(lambda r0, r1: rows.append((r0, r1)), 4096, 4096)
    rows.sort()
    assert rows[0][0] == 0 and rows[-1][1] == 4096 and len(rows) == min(previous, 4096)
    assert all(a[1] == b[0] for a, b in zip(rows[:-1], rows[1:], strict=True))  # no gap, no overlap
    # inside a dask block the block is the unit of parallelism: kernels see one thread
    inside = C.apply_blocks(lambda a: np.full(a.shape, C.threads()), dsa.zeros((8, 8), chunks=4),
                            dtype=int)
    with dask.config.set(scheduler="threads"):
        assert set(np.unique(inside.compute()).tolist()) == {1}
    assert C.apply_blocks(lambda a: np.full(a.shape, C.threads()), np.zeros((2, 2)),
                          dtype=int)[0, 0] == previous


def test_run_keeps_order_and_raises_first_error():
    assert C.run(lambda i: i * i, [(i,) for i in range(50)]) == [i * i for i in range(50)]

    def fail(i):
        if i == 5:
            raise KeyError("call 5")
        return i

    with pytest.raises(KeyError, match="call 5"):
        C.run(fail, [(i,) for i in range(10)])
