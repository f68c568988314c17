"""Otsu / k-sigma / fixed thresholds against skimage and numpy; mergeable histograms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
from skimage.filters import threshold_otsu

from onemap.change.threshold import (fixed, histogram, histogram_edges, integer_edges, k_sigma,
                                     otsu, otsu_from_histogram)
from onemap.errors import DataError, OnemapWarning


def samples(rng):
    yield rng.standard_normal(5000)
    yield np.concatenate([rng.normal(0, 1, 3000), rng.normal(4, 0.5, 800)]).astype(np.float32)
    yield rng.gamma(2.0, 2.0, 2000).round(2)
    yield rng.integers(0, 65535, 4000).astype(np.uint16)
    yield np.concatenate([rng.integers(100, 400, 3000), rng.integers(900, 1500, 500)]).astype(np.uint16)
    yield rng.integers(-300, 300, 1000).astype(np.int16)
    yield rng.random((40, 50)).astype(np.float32) * 1e-3
    yield np.array([0.0, 1.0])


@pytest.mark.parametrize("bins", [256, 2, 17, 1000])
def test_otsu_equals_skimage(bins):
    for values in samples(np.random.default_rng(bins)):
        assert otsu(values, bins) == threshold_otsu(values, nbins=bins)


@pytest.mark.parametrize("seed", range(20))
def test_otsu_equals_skimage_many_random(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 3000))
    dtype = [np.float64, np.float32, np.uint16, np.int32][seed % 4]
    values = (rng.lognormal(0, rng.uniform(0.1, 2), n) * rng.uniform(1, 1000)).astype(dtype)
    if np.all(values == values.flat[0]):
        pytest.skip("constant draw")
    assert otsu(values) == threshold_otsu(values)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_otsu_on_real_images(shared_data):
    with rasterio.open(shared_data / "geo/rasterio/RGB.byte.tif") as src:
        band = src.read(1)
        valid = src.read_masks(1) > 0
    assert otsu(band) == threshold_otsu(band)
    # NaN-aware: the nodata border as NaN gives the threshold of the valid pixels only
    as_float = np.where(valid, band / 255.0, np.nan).astype(np.float32)
    assert otsu(as_float) == threshold_otsu(as_float[valid])
    assert otsu(band, valid=valid) == threshold_otsu(band[valid])
    # a change magnitude from a real LEVIR pair
    with rasterio.open(shared_data / "change/levir/A/test_2_0000_0000.png") as a, \
            rasterio.open(shared_data / "change/levir/B/test_2_0000_0000.png") as b:
        diff = np.sqrt(((b.read().astype(np.float64) - a.read()) ** 2).sum(axis=0))
    assert otsu(diff) == threshold_otsu(diff)


def test_otsu_nan_and_valid():
    rng = np.random.default_rng(3)
    values = rng.standard_normal((60, 70))
    values[rng.random(values.shape) < 0.3] = np.nan
    finite = values[~np.isnan(values)]
    assert otsu(values) == threshold_otsu(finite)
    valid = rng.random(values.shape) < 0.5
    keep = valid & ~np.isnan(values)
    assert otsu(values, valid=valid) == threshold_otsu(values[keep])


def test_otsu_undefined_cases():
    with pytest.warns(OnemapWarning, match="undefined"):
        t = otsu(np.full((4, 4), 2.5))
    assert t == 2.5 == threshold_otsu(np.full((4, 4), 2.5))
    assert not (np.full((4, 4), 2.5) > t).any()
    with pytest.warns(OnemapWarning):
        assert otsu(np.array([np.nan, 7.0, np.nan, 7.0])) == 7.0
    with pytest.raises(DataError, match="NaN"):
        otsu(np.full(5, np.nan))
    with pytest.raises(DataError, match="masked"):
        otsu(np.arange(4.0), valid=np.zeros(4, bool))
    with pytest.raises(DataError, match="empty"):
        otsu(np.array([]))
    with pytest.raises(DataError, match="infinity"):
        otsu(np.array([1.0, np.inf, 2.0]))
    with pytest.raises(DataError, match="valid has shape"):
        otsu(np.arange(4.0), valid=np.ones(3, bool))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8, np.int16])
def test_histogram_equals_numpy(dtype):
    rng = np.random.default_rng(5)
    values = (rng.standard_normal(20000) * 50).astype(dtype)
    lo, hi = values.min(), values.max()
    for bins in (1, 3, 256, 999):
        counts, edges = histogram(values, bins, (lo, hi))
        ref_counts, ref_edges = np.histogram(values, bins, (lo, hi))
        np.testing.assert_array_equal(counts, ref_counts)
        np.testing.assert_array_equal(edges, ref_edges)
    # values exactly on edges and outside the range
    edges = histogram_edges(10, (0.0, 1.0))
    on_edges = np.concatenate([edges, [-0.5, 1.5, np.nan]]).astype(np.float64)
    np.testing.assert_array_equal(histogram(on_edges, edges)[0], np.histogram(on_edges[:-1], 10, (0.0, 1.0))[0])


def test_global_otsu_from_chunk_histograms():
    rng = np.random.default_rng(8)
    image = np.concatenate([rng.normal(0, 1, 40000), rng.normal(5, 1, 10000)]).reshape(250, 200)
    image[rng.random(image.shape) < 0.05] = np.nan
    chunks = [image[:100], image[100:130], image[130:]]
    lo = min(np.nanmin(c) for c in chunks)
    hi = max(np.nanmax(c) for c in chunks)
    edges = histogram_edges(256, (lo, hi), image.dtype)
    counts = sum(histogram(c, edges)[0] for c in chunks)
    assert otsu_from_histogram(counts, edges) == otsu(image)
    ints = rng.integers(0, 3000, (90, 80)).astype(np.uint16)
    edges = integer_edges(ints.min(), ints.max())
    counts = sum(histogram(c, edges)[0] for c in (ints[:30], ints[30:]))
    assert otsu_from_histogram(counts, edges) == otsu(ints) == threshold_otsu(ints)


def test_otsu_from_histogram_trims_and_checks():
    counts = np.array([0, 0, 5, 1, 0, 0, 1, 5, 0])
    edges = np.arange(10.0)
    assert otsu_from_histogram(counts, edges) == threshold_otsu(hist=(counts, edges[:-1] + 0.5))
    with pytest.raises(DataError, match="one bin"):
        otsu_from_histogram(np.array([0, 4, 0]), np.arange(4.0))
    with pytest.raises(DataError, match="empty"):
        otsu_from_histogram(np.zeros(3), np.arange(4.0))
    with pytest.raises(DataError, match="edges"):
        otsu_from_histogram(np.ones(3), np.arange(3.0))
    with pytest.raises(DataError, match="evenly spaced"):
        histogram(np.arange(5.0), np.array([0.0, 1.0, 5.0]))


def test_k_sigma_and_fixed():
    rng = np.random.default_rng(6)
    values = rng.standard_normal(1000).astype(np.float32)
    values[::10] = np.nan
    finite = values[~np.isnan(values)].astype(np.float64)
    assert k_sigma(values, 2.0) == pytest.approx(finite.mean() + 2.0 * finite.std(), rel=1e-12)
    valid = np.arange(1000) < 500
    sel = values[valid & ~np.isnan(values)].astype(np.float64)
    assert k_sigma(values, 1.5, valid=valid) == pytest.approx(sel.mean() + 1.5 * sel.std(), rel=1e-12)
    with pytest.raises(DataError):
        k_sigma(np.full(3, np.nan))
    assert fixed(values, 0.3) == 0.3
    with pytest.raises(DataError):
        fixed(None, float("nan"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert otsu(np.array([1.0, 2.0, 3.0])) == threshold_otsu(np.array([1.0, 2.0, 3.0]))


def test_integer_histogram_outside_and_masked():
    values = np.array([[1, 2, 3], [4, 5, 60]], np.uint16)
    counts, _ = histogram(values, integer_edges(2, 4))
    np.testing.assert_array_equal(counts, [1, 1, 1])
    counts, _ = histogram(values, integer_edges(2, 4), valid=np.zeros(values.shape, bool))
    np.testing.assert_array_equal(counts, [0, 0, 0])
    assert otsu(values, valid=values < 60) == threshold_otsu(values[values < 60])
