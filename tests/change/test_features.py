"""Pixel features of the trained detector: kernels against slow NumPy oracles, tiling."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from onemap import Frame
from onemap.change import _feature_kernels as FK
from onemap.change.features import FeaturePlan, pixel_features


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


@pytest.mark.parametrize("r", [1, 3])
def test_local_stats_match_oracle(r):
    src = _with_nan((17, 23), r)
    mean = np.empty(src.shape, np.float32)
    std = np.empty(src.shape, np.float32)
    FK.local_stats_kernel(src, r, mean, std)
    om, os_ = oracle_window(src, r)
    np.testing.assert_allclose(mean, om, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, os_, rtol=1e-4, atol=1e-5)


def test_pantex_matches_oracle():
    g = _with_nan((14, 16), 5)
    out = np.empty(g.shape, np.float32)
    FK.pantex_kernel(g, 2, FK.PANTEX_OFFSETS, out)
    np.testing.assert_allclose(
        out, oracle_pantex(g, 2, FK.PANTEX_OFFSETS.tolist()), rtol=1e-5, atol=1e-6
    )


def test_pantex_sees_built_texture_not_stripes():
    """Field rows (smooth along one direction) score 0; a speckle of roofs and gaps does not."""
    stripes = np.tile(np.array([0, 0, 5, 5], np.float32), (16, 4))
    checker = (np.random.default_rng(0).random((16, 16)) > 0.5).astype(np.float32) * 5
    out = np.empty((16, 16), np.float32)
    FK.pantex_kernel(stripes, 3, FK.PANTEX_OFFSETS, out)
    assert out[8, 8] == 0
    FK.pantex_kernel(checker, 3, FK.PANTEX_OFFSETS, out)
    assert out[8, 8] > 5


def test_pixel_channels_match_numpy():
    rng = np.random.default_rng(2)
    b1 = rng.uniform(50, 400, (4, 9, 11)).astype(np.float32)
    b2 = rng.uniform(50, 400, (4, 9, 11)).astype(np.float32)
    b1[2, 3, 4] = np.nan
    med1, scl1, med2, scl2 = (rng.uniform(1, 3, 4).astype(np.float32) for _ in range(4))
    gain, offset, sigma = (rng.uniform(0.5, 2, 4).astype(np.float32) for _ in range(3))
    roles = np.array([0, 1, 2, 3, -1])  # blue green red nir, no swir
    out = np.empty((32, 9, 11), np.float32)
    FK.pixel_channels_kernel(b1, b2, med1, scl1, med2, scl2, gain, offset, sigma, roles, out)
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
