"""Relative radiometric normalisation: recovery of planted illumination changes, robustness to
real changes, histogram matching, dask = NumPy, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from onemap import Frame, normalize_radiometry, radiometric_coefficients
from onemap.errors import DataError, FrameError

BANDS = ["blue", "green", "red", "nir"]
GAIN = np.array([1.30, 1.20, 1.10, 0.90])
OFFSET = np.array([150.0, 80.0, 40.0, -60.0])
FRAME = Frame.from_bounds((500_000, 3_000_000, 500_000 + 2 * 120, 3_000_000 + 2 * 100), res=2, crs=32650)


def _da(arr: np.ndarray, nodata=None, frame=FRAME) -> xr.DataArray:
    da = xr.DataArray(arr, dims=("band", "y", "x"), coords={"band": BANDS, **frame.coords()},
                      attrs={"nodata": nodata})
    return da.rio.write_crs(frame.crs).rio.write_transform(frame.transform)


def _pair(changed_fraction: float = 0.2, seed: int = 0):
    """Date 2 = a linear illumination change of date 1, plus real changes on a share of pixels."""
    rng = np.random.default_rng(seed)
    shape = (4,) + FRAME.shape
    b1 = rng.gamma(4.0, 400.0, size=shape) + 100
    b2 = (b1 - OFFSET[:, None, None]) / GAIN[:, None, None]  # so that gain * b2 + offset = b1
    b2 = b2 + rng.normal(0, 5, shape)
    changed = rng.random(FRAME.shape) < changed_fraction
    b2[:, changed] += rng.uniform(800, 3000, size=(4, int(changed.sum())))  # bright new surfaces
    return b1.astype(np.float32), b2.astype(np.float32), changed


def test_pif_recovers_gain_and_offset_despite_changes():
    b1, b2, _ = _pair(0.2)
    coef = radiometric_coefficients(_da(b1), _da(b2), "pif")
    np.testing.assert_allclose(coef["gain"], GAIN, rtol=0.01)
    np.testing.assert_allclose(coef["offset"], OFFSET, atol=0.02 * b1.mean())
    assert (coef["r"] > 0.99).all() and coef.attrs["method"] == "pif"
    # moments matching is pulled by the changed pixels: the PIF fit is what makes it robust
    mom = radiometric_coefficients(_da(b1), _da(b2), "moments")
    assert np.abs(mom["gain"] - GAIN).max() > 5 * np.abs(coef["gain"] - GAIN).max()


def test_normalized_after_matches_before_on_unchanged_pixels():
    b1, b2, changed = _pair(0.2)
    out = normalize_radiometry(_da(b1), _da(b2))
    assert out.dtype == np.float32 and out.dims == ("band", "y", "x")
    resid = (out.values - b1)[:, ~changed]
    assert np.abs(resid).mean() < 0.01 * b1.mean()
    assert out.attrs["normalization"]["method"] == "pif"


def test_histogram_matching_matches_distributions():
    rng = np.random.default_rng(3)
    b1 = rng.gamma(3.0, 300.0, (4,) + FRAME.shape).astype(np.float32)
    b2 = (np.sqrt(b1) * 40).astype(np.float32)  # a non-linear, monotone change
    out = normalize_radiometry(_da(b1), _da(b2), "histogram").values
    q = np.linspace(0.01, 0.99, 50)
    for k in range(4):
        np.testing.assert_allclose(np.quantile(out[k], q), np.quantile(b1[k], q), rtol=0.02)


@pytest.mark.parametrize("method", ["pif", "histogram"])
def test_dask_equals_numpy(method):
    b1, b2, _ = _pair(0.1, seed=1)
    eager = normalize_radiometry(_da(b1), _da(b2), method)
    lazy = normalize_radiometry(_da(b1).chunk({"y": 32, "x": 50}), _da(b2).chunk({"y": 32, "x": 50}), method)
    assert hasattr(lazy.data, "dask")
    np.testing.assert_array_equal(lazy.values, eager.values)


def test_uint16_nodata_becomes_nan_and_is_not_fitted():
    b1, b2, _ = _pair(0.0, seed=2)
    u1, u2 = np.round(b1).astype(np.uint16), np.round(b2).astype(np.uint16)
    u2[:, :10, :] = 0  # a nodata strip in date 2
    out = normalize_radiometry(_da(u1, 0), _da(u2, 0))
    assert np.isnan(out.values[:, :10]).all() and np.isfinite(out.values[:, 10:]).all()
    coef = radiometric_coefficients(_da(u1, 0), _da(u2, 0))
    np.testing.assert_allclose(coef["gain"], GAIN, rtol=0.01)


def test_band_order_of_after_is_aligned_by_name():
    b1, b2, _ = _pair(0.0, seed=4)
    after = _da(b2).isel(band=[3, 1, 0, 2])
    coef = radiometric_coefficients(_da(b1), after)
    assert list(coef.index) == BANDS
    np.testing.assert_allclose(coef["gain"], GAIN, rtol=0.01)


def test_constant_band_gets_an_offset_only():
    b1, b2, _ = _pair(0.0, seed=5)
    b1[0] = 500.0
    b2[0] = 300.0
    coef = radiometric_coefficients(_da(b1), _da(b2))
    assert coef.loc["blue", "gain"] == 1.0 and coef.loc["blue", "offset"] == pytest.approx(200.0)


def test_bad_input():
    b1, b2, _ = _pair(0.0)
    nan = np.full_like(b1, np.nan)
    with pytest.raises(DataError, match="no pixel is valid"):
        radiometric_coefficients(_da(b1), _da(nan))
    with pytest.raises(DataError, match="unknown normalisation"):
        normalize_radiometry(_da(b1), _da(b2), "magic")
    with pytest.raises(DataError, match="lacks band"):
        radiometric_coefficients(_da(b1), _da(b2).isel(band=[0, 1, 2]))
    other = Frame.from_bounds((500_010, 3_000_000, 500_010 + 240, 3_000_200), res=2, crs=32650)
    with pytest.raises(FrameError, match="align"):
        normalize_radiometry(_da(b1), _da(b2, frame=other))
