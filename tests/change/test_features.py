"""Pixel features of the trained detector: kernels against slow NumPy oracles, tiling."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from onemap import Frame
from onemap.change import _feature_kernels as FK
from onemap.change import _kernels as K
from onemap.change import _window_kernels as WK
from onemap.change.features import HALO, FeaturePlan, pixel_features
from onemap.errors import DataError


def _scene(a: np.ndarray, bands, frame: Frame, nodata=None) -> xr.DataArray:
    da = xr.DataArray(
        a,
        dims=("band", "y", "x"),
        coords={"band": list(bands), **frame.coords()},
        attrs={"nodata": nodata},
    )
    return da.rio.write_crs(frame.crs)


def _with_nan(shape, seed, share=0.08):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, shape).astype(np.float32)
    x[rng.random(shape) < share] = np.nan
    return x


def oracle_window(src: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    h, w = src.shape
    mean = np.full((h, w), np.nan)
    std = np.full((h, w), np.nan)
    for i in range(h):
        for j in range(w):
            if np.isnan(src[i, j]):
                continue
            win = src[max(i - r, 0) : i + r + 1, max(j - r, 0) : j + r + 1].astype(np.float64)
            v = win[~np.isnan(win)]
            mean[i, j], std[i, j] = v.mean(), v.std()
    return mean, std


def oracle_pantex(g: np.ndarray, r: int, offsets) -> np.ndarray:
    """Definition: min over displacements of the mean (g(x) - g(x+d))² over the pairs with both
    ends inside the (clipped) window and not NaN."""
    h, w = g.shape
    out = np.full((h, w), np.nan)
    for i in range(h):
        for j in range(w):
            if np.isnan(g[i, j]):
                continue
            best = np.inf
            for dy, dx in offsets:
                vals = []
                for y in range(i - r, i + r + 1):
                    for x in range(j - r, j + r + 1):
                        y2, x2 = y + dy, x + dx
                        inside = all(0 <= v < n for v, n in ((y, h), (x, w), (y2, h), (x2, w)))
                        if inside and abs(y2 - i) <= r and abs(x2 - j) <= r:
                            d = float(g[y, x]) - float(g[y2, x2])
                            if not np.isnan(d):
                                vals.append(d * d)
                if vals:
                    best = min(best, float(np.mean(vals)))
            out[i, j] = best if np.isfinite(best) else np.nan
    return out


def _quantised(src: np.ndarray) -> np.ndarray:
    q = np.empty(src.shape, np.int64)
    WK.quantise_kernel(src, q)
    return q


def _integrals(q: np.ndarray):
    h, w = q.shape
    t = np.empty((h + 1, w + 1, 3), np.uint64)
    WK.integrals_kernel(q, t)
    return t


def _stats(src: np.ndarray, r: int):
    q = _quantised(src)
    mean = np.empty(src.shape, np.float32)
    std = np.empty(src.shape, np.float32)
    WK.window_stats_kernel(q, _integrals(q), r, mean, std)
    return mean, std


@pytest.mark.parametrize("r", [1, 3, 15])
def test_window_stats_match_oracle(r):
    src = _with_nan((17, 40), r) * 50
    mean, std = _stats(src, r)
    om, os_ = oracle_window(src, r)
    # quantisation step 2**-12: the mean is within half a step, the spread within a step
    np.testing.assert_allclose(mean, om, rtol=1e-6, atol=2**-13)
    np.testing.assert_allclose(std, os_, rtol=1e-5, atol=2**-12)
    assert np.array_equal(np.isnan(mean), np.isnan(src))


def test_window_stats_at_pixels_equal_dense():
    src = _with_nan((30, 33), 4) * 1000
    q = _quantised(src)
    t = _integrals(q)
    mean, std = _stats(src, 6)
    rows, cols = np.divmod(np.arange(src.size, dtype=np.int64), src.shape[1])
    m, s = np.empty(src.size, np.float32), np.empty(src.size, np.float32)
    WK.window_stats_at_kernel(q, t, 6, rows, cols, m, s)
    np.testing.assert_array_equal(m, mean.ravel())
    np.testing.assert_array_equal(s, std.ravel())


def test_fixed_point_clips_and_integrals_wrap():
    """Values beyond VMAX (and infinity) are clipped; the square sums of a 64 x 64 block of
    clipped values overflow 2**64 in the integral image, and every window is still exact."""
    assert WK.QMAX == WK.VMAX * WK.SCALE and 961 * WK.QMAX**2 < 2**64
    src = np.full((64, 64), 1e9, np.float32)
    src[::7, ::5] = np.inf
    src[3, 4] = -np.inf
    q = _quantised(src)
    assert q.max() == WK.QMAX and q.min() == -WK.QMAX
    sq = _integrals(q)[-1, -1, 2]
    assert int(sq) != src.size * WK.QMAX**2  # wrapped around
    assert int(sq) == (src.size * WK.QMAX**2) % 2**64
    mean, std = _stats(src, 15)
    assert mean[40, 40] == WK.VMAX and std[40, 40] == 0  # window without the -inf pixel
    m, s = oracle_window(np.clip(src, -WK.VMAX, WK.VMAX), 15)
    np.testing.assert_allclose(mean, m, rtol=1e-6)
    np.testing.assert_allclose(std, s, rtol=1e-5)


def _pantex(g: np.ndarray, r: int) -> np.ndarray:
    out = np.empty(g.shape, np.float32)
    WK.pantex_kernel(_quantised(g), r, WK.PANTEX_OFFSETS, out)
    return out


def test_pantex_matches_oracle():
    g = _with_nan((14, 16), 5)
    # squared differences of values quantised to 2**-12: within ~|d| * 2**-11
    np.testing.assert_allclose(
        _pantex(g, 2), oracle_pantex(g, 2, WK.PANTEX_OFFSETS.tolist()), rtol=1e-3, atol=1e-3
    )


def test_pantex_at_pixels_equals_dense():
    g = _with_nan((19, 25), 6) * 30
    g[:, 3] = np.nan
    qp = np.pad(_quantised(g), 5, constant_values=WK.QNAN)
    rows, cols = np.divmod(np.arange(g.size, dtype=np.int64), g.shape[1])
    out = np.empty(g.size, np.float32)
    WK.pantex_at_kernel(qp, 5, 3, WK.PANTEX_OFFSETS, rows, cols, out)
    np.testing.assert_array_equal(out, _pantex(g, 3).ravel())
    with pytest.raises(ValueError, match="pad"):
        WK.pantex_at_kernel(qp[1:-1, 1:-1], 4, 3, WK.PANTEX_OFFSETS, rows, cols, out)
    # the dense kernel's sliding sums against the direct sums: windows larger than the array,
    # single rows and columns, NaN runs, other displacements
    rng = np.random.default_rng(7)
    offsets = np.array([[0, 1], [3, -2], [-1, 2], [2, 2]], np.int64)
    for shape, r in (((1, 9), 2), ((7, 1), 3), ((4, 5), 4), ((23, 17), 1), ((31, 40), 3)):
        g = _with_nan(shape, int(rng.integers(100))) * 50
        g[rng.random(shape) < 0.1] = np.nan
        pad = r + 3
        qp = np.pad(_quantised(g), pad, constant_values=WK.QNAN)
        rows, cols = np.divmod(np.arange(g.size, dtype=np.int64), shape[1])
        want = np.empty(g.size, np.float32)
        WK.pantex_at_kernel(qp, pad, r, offsets, rows, cols, want)
        got = np.empty(shape, np.float32)
        WK.pantex_kernel(_quantised(g), r, offsets, got)
        np.testing.assert_array_equal(got.ravel(), want)


def test_pantex_sees_built_texture_not_stripes():
    """Field rows (smooth along one direction) score 0; a speckle of roofs and gaps does not."""
    stripes = np.tile(np.array([0, 0, 5, 5], np.float32), (16, 4))
    checker = (np.random.default_rng(0).random((16, 16)) > 0.5).astype(np.float32) * 5
    assert _pantex(stripes, 3)[8, 8] == 0
    assert _pantex(checker, 3)[8, 8] > 5


def test_pixel_channels_match_numpy():
    rng = np.random.default_rng(2)
    b1 = rng.uniform(50, 400, (4, 9, 11)).astype(np.float32)
    b2 = rng.uniform(50, 400, (4, 9, 11)).astype(np.float32)
    b1[2, 3, 4] = np.nan
    med1, scl1, med2, scl2 = (rng.uniform(1, 3, 4).astype(np.float32) for _ in range(4))
    gain, offset, sigma = (rng.uniform(0.5, 2, 4).astype(np.float32) for _ in range(3))
    roles = np.array([0, 1, 2, 3, -1])  # blue green red nir, no swir
    out = np.empty((32, 9, 11), np.float32)
    FK.pixel_channels_kernel(
        b1, b2, med1, scl1, med2, scl2, gain, offset, sigma, roles, np.arange(20, 32), out
    )
    c = lambda v: v[:, None, None]
    z1, z2 = (b1 - c(med1)) / c(scl1), (b2 - c(med2)) / c(scl2)
    m2 = b2 * c(gain) + c(offset)
    dz = (m2 - b1) / c(sigma)
    nd = lambda a, b: (a - b) / (a + b)
    expect = np.concatenate(
        [
            z1,
            z2,
            dz,
            nd(m2, b1),
            np.sqrt((dz**2).mean(0))[None],
            dz.mean(0)[None],
            z1.mean(0)[None],
            z2.mean(0)[None],
        ]
    )
    expect[:, 3, 4] = np.nan  # a pixel with nodata in any band has no feature
    np.testing.assert_allclose(out[:20], expect, rtol=2e-5, atol=1e-5)
    ndvi1, ndvi2 = nd(b1[3], b1[2]), nd(b2[3], b2[2])
    ndvi = np.stack([ndvi1, ndvi2, ndvi2 - ndvi1])
    ndvi[:, 3, 4] = np.nan
    np.testing.assert_allclose(out[20:23], ndvi, rtol=1e-5, atol=1e-6)
    assert np.isnan(out[23:26]).all()  # NDBI needs swir1
    gli2 = nd(2 * b2[1], b2[2] + b2[0])
    gli2[3, 4] = np.nan
    np.testing.assert_allclose(out[27], gli2, rtol=1e-5, atol=1e-6)
    assert np.isnan(out[:, 3, 4]).all()  # nodata in one band of date 1: no feature


@pytest.mark.parametrize(
    "bands",
    [
        ("red", "green", "blue"),
        ("blue", "green", "red", "nir"),
        ("blue", "green", "red", "nir", "swir1", "swir2"),
    ],
)
def test_features_are_tiling_independent(bands):
    """Whole-image features equal the dask tiles' (with their NaN-padded halo) bit for bit."""
    f = Frame.from_bounds((0, 0, 150, 140), res=2, crs=32650)
    rng = np.random.default_rng(len(bands))
    a = rng.integers(1, 4000, (len(bands), 70, 75)).astype("uint16")
    b = a.copy()
    b[:, 20:40, 30:50] = rng.integers(1, 4000, (len(bands), 20, 20))
    a[:, 5, 7] = 0  # nodata
    before, after = _scene(a, bands, f, 0), _scene(b, bands, f, 0)
    whole = pixel_features(before, after)
    tiled = pixel_features(before.chunk({"y": 23, "x": 31}), after.chunk({"y": 23, "x": 31}))
    assert hasattr(tiled.data, "dask")
    np.testing.assert_array_equal(whole.values, tiled.values)
    assert np.isnan(whole.values[:, 5, 7]).all() and np.isfinite(whole.values[:, 30, 30]).all()


def test_window_equals_whole():
    f = Frame.from_bounds((0, 0, 200, 100), res=1, crs=32650)
    rng = np.random.default_rng(9)
    a = rng.integers(0, 255, (3, 100, 200)).astype("uint8")
    plan = FeaturePlan(_scene(a, "rgb", f), _scene(a[::-1].copy(), "rgb", f))
    whole = plan.compute()
    np.testing.assert_array_equal(plan.window(10, 60, 40, 170), whole[:, 10:60, 40:170])


def test_features_by_bands():
    f = Frame.from_bounds((0, 0, 40, 40), res=1, crs=32650)
    a = np.random.default_rng(0).integers(1, 255, (3, 40, 40)).astype("uint8")
    rgb = FeaturePlan(
        _scene(a, ("red", "green", "blue"), f), _scene(a, ("red", "green", "blue"), f)
    )
    assert "gli_change" in rgb.names and "ndvi_1" not in rgb.names and "construction" in rgb.names
    grey = FeaturePlan(_scene(a[:1], ("pan",), f), _scene(a[:1], ("pan",), f))
    assert "construction" not in grey.names and "pantex_2" in grey.names


def _bands(seed, shape, roles_nan=True):
    rng = np.random.default_rng(seed)
    b1 = rng.uniform(50, 400, shape).astype(np.float32)
    b2 = rng.uniform(50, 400, shape).astype(np.float32)
    b1[rng.random(shape) < 0.01] = np.nan
    b2[rng.random(shape) < 0.01] = np.nan
    return rng, b1, b2


def test_channels_at_pixels_and_window_channels_equal_dense():
    rng, b1, b2 = _bands(3, (4, 21, 26))
    coefs = [rng.uniform(0.5, 2, 4).astype(np.float32) for _ in range(7)]
    roles = np.array([0, 1, 2, 3, -1])
    dense = np.empty((32, 21, 26), np.float32)
    FK.pixel_channels_kernel(b1, b2, *coefs, roles, np.arange(20, 32), dense)
    win = np.empty((4, 21, 26), np.float32)
    FK.window_channels_kernel(b1, b2, *coefs, win)
    np.testing.assert_array_equal(win, dense[16:20])
    rows, cols = np.divmod(np.arange(21 * 26, dtype=np.int64), 26)
    at = np.empty((rows.size, 32), np.float32)
    FK.pixel_channels_at_kernel(b1, b2, *coefs, roles, np.arange(20, 32), rows, cols, at)
    np.testing.assert_array_equal(at, dense.reshape(32, -1).T)


@pytest.mark.parametrize("roles", [[0, 1, 2, 3, -1], [0, 1, 2, 3, 4], [2, 1, 0, -1, -1]])
def test_construction_at_pixels_equals_kernel(roles):
    rng, b1, b2 = _bands(len(roles), (6, 23, 37))
    roles = np.array(roles)
    gain, offset = rng.uniform(0.8, 1.2, 5), rng.uniform(-5, 5, 5)
    sigma = rng.uniform(0.05, 0.2, 4).astype(np.float32)
    dense = np.empty((23, 37), np.float32)
    K.construction_kernel(b1, b2, roles, gain, offset, sigma, np.nan, np.nan, 0, 23, dense)
    rows, cols = np.divmod(np.arange(dense.size, dtype=np.int64), 37)
    at = np.empty(dense.size, np.float32)
    FK.construction_at_kernel(b1, b2, roles, gain, offset, sigma, np.nan, np.nan, rows, cols, at)
    np.testing.assert_array_equal(at, dense.ravel())
    assert np.isnan(at).any() and np.isfinite(at).any()


@pytest.mark.parametrize(
    "bands",
    [("red", "green", "blue"), ("blue", "green", "red", "nir", "swir1", "swir2")],
)
def test_at_equals_block(bands):
    """Features at chosen pixels (scattered, NaN, the block's corners and edges) equal the dense
    block's bit for bit, on the whole image and on a NaN-padded tile with its halo."""
    f = Frame.from_bounds((0, 0, 180, 120), res=2, crs=32650)
    rng = np.random.default_rng(len(bands))
    a = rng.integers(1, 4000, (len(bands), 60, 90)).astype("uint16")
    b = a.copy()
    b[:, 20:40, 30:50] = rng.integers(1, 4000, (len(bands), 20, 20))
    a[:, 5, 7] = 0
    plan = FeaturePlan(_scene(a, bands, f, 0), _scene(b, bands, f, 0))
    b1, b2 = a.astype(np.float32), b.astype(np.float32)
    b1[a == 0] = np.nan
    whole = plan.block(b1, b2)
    rows = np.r_[rng.integers(0, 60, 500), 0, 59, 0, 59, 5, 30]
    cols = np.r_[rng.integers(0, 90, 500), 0, 89, 89, 0, 7, 0]
    at = plan.at(b1, b2, rows, cols)
    assert at.shape == (rows.size, len(plan.names)) and at.dtype == np.float32
    np.testing.assert_array_equal(at, whole[:, rows, cols].T)
    assert np.isnan(at[-2]).all() and np.isfinite(at[:-2]).any()
    # float64 input: both compute in float32
    np.testing.assert_array_equal(plan.block(b1.astype(float), b2.astype(float)), whole)
    # a dozen pixels (every neighbourhood feature by direct look-ups and sums) and every pixel
    # (all computed densely and gathered): the two ends of at's choice
    few = rows[-12:], cols[-12:]
    np.testing.assert_array_equal(plan.at(b1, b2, *few), whole[:, few[0], few[1]].T)
    r_all, c_all = np.divmod(np.arange(60 * 90), 90)
    np.testing.assert_array_equal(plan.at(b1, b2, r_all, c_all), whole.reshape(len(whole), -1).T)
    # a tile of rows 0:30, cols 40:90 padded with its halo (NaN beyond the image)
    H = HALO
    pad = lambda x: np.pad(x, ((0, 0), (H, H), (H, H)), constant_values=np.nan)
    tile = np.s_[:, 0 : 30 + 2 * H, 40 : 90 + 2 * H]
    t1, t2 = pad(b1)[tile], pad(b2)[tile]
    r, c = rng.integers(0, 30, 300), rng.integers(40, 90, 300)
    np.testing.assert_array_equal(plan.at(t1, t2, r + H, c - 40 + H), whole[:, r, c].T)
    np.testing.assert_array_equal(plan.block(t1, t2)[:, H:-H, H:-H], whole[:, 0:30, 40:90])
    # only the channels the patch stage reads, at few and at all pixels (PanTex by direct sums
    # and densely): those columns of at, bit for bit
    names = ["cva", "pantex_2", "pantex_change", "brightness_change", "brightness_1"]
    cols_of = [plan.names.index(n) for n in names]
    for rr, cc in ((rows, cols), few, (r_all, c_all)):
        np.testing.assert_array_equal(plan.channels_at(b1, b2, rr, cc, names),
                                      plan.at(b1, b2, rr, cc)[:, cols_of])
    with pytest.raises(DataError, match="mean2_cva"):
        plan.channels_at(b1, b2, rows, cols, ["cva", "mean2_cva"])
    # a window's drawn pixels (training's sample): the window's features there, at the image's
    # corner (halo clipped), inside it and at its far edge
    for r0, r1, c0, c1 in ((0, 25, 0, 40), (20, 45, 30, 70), (40, 60, 60, 90)):
        wr, wc = rng.integers(0, r1 - r0, 50), rng.integers(0, c1 - c0, 50)
        np.testing.assert_array_equal(plan.window_at(r0, r1, c0, c1, wr, wc),
                                      plan.window(r0, r1, c0, c1)[:, wr, wc].T)


def test_at_checks_indices():
    f = Frame.from_bounds((0, 0, 20, 20), res=1, crs=32650)
    a = np.random.default_rng(0).integers(1, 255, (3, 20, 20)).astype("uint8")
    plan = FeaturePlan(_scene(a, "rgb", f), _scene(a, "rgb", f))
    x = a.astype(np.float32)
    assert plan.at(x, x, np.array([], int), np.array([], int)).shape == (0, len(plan.names))
    with pytest.raises(DataError, match="outside the 20 x 20 block"):
        plan.at(x, x, np.array([20]), np.array([0]))
    with pytest.raises(DataError, match="same shape"):
        plan.at(x, x[:, :5], np.array([1]), np.array([0]))
    with pytest.raises(DataError, match="differ in length"):
        plan.at(x, x, np.array([1, 2]), np.array([0]))
