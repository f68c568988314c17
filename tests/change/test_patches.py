"""Patches from labels/masks: exact geometry (shapely oracles), statistics, min-area filtering,
chunked (dask) = in-memory, geographic areas (pyproj oracle)."""

from __future__ import annotations

import dask.array as dsa
import numpy as np
import pytest
import shapely
import xarray as xr
from affine import Affine
from pyproj import Geod
from scipy import ndimage

from onemap import Frame, patches_from_labels, patches_from_mask
from onemap.change.patches import COLUMNS, confidence
from onemap.errors import DataError
from onemap.geometry import ellipsoidal_area

F = Frame(4527, Affine(3.0, 0, 39_500_001.0, 0, -3.0, 3_300_000.0), (48, 64))


def _random_mask(seed: int, shape=(48, 64), p=0.45) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ndimage.binary_opening(rng.random(shape) < p) | (rng.random(shape) < 0.03)


def _pixel_union(mask: np.ndarray, frame: Frame):
    t = frame.transform
    rows, cols = np.nonzero(mask)
    boxes = shapely.box(t.c + cols * t.a, t.f + (rows + 1) * t.e, t.c + (cols + 1) * t.a, t.f + rows * t.e)
    return shapely.union_all(boxes)


def test_geometry_is_exactly_the_pixels_of_each_label():
    mask = _random_mask(0)
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    p = patches_from_labels(labels.astype(np.int32), F)
    assert list(p.columns) == COLUMNS and len(p) == n and p.crs == F.crs
    assert p.geometry.is_valid.all()
    for row in p.itertuples():
        truth = _pixel_union(labels == row.id, F)
        assert row.geometry.symmetric_difference(truth).area == pytest.approx(0.0, abs=1e-6)
        assert truth.area == pytest.approx(row.pixels * 9.0)
        assert row.area_m2 == pytest.approx(ellipsoidal_area([truth], F.crs)[0], rel=1e-7)
        assert row.area_m2 == pytest.approx(row.pixels * 9.0, rel=1e-4)  # 1 m east of the meridian


def test_diagonal_neighbours_and_holes():
    m = np.zeros((7, 7), bool)
    m[0, 0] = m[1, 1] = True  # joined only through a corner (8-connectivity)
    m[3:7, 3:7] = True
    m[4:6, 4:6] = False  # a 2x2 hole
    f = Frame.from_bounds((0, 0, 70, 70), res=10, crs=32650)
    p = patches_from_mask(m, f)
    assert len(p) == 2
    corner, ring = p.geometry.iloc[0], p.geometry.iloc[1]
    assert corner.geom_type == "MultiPolygon" and corner.is_valid and corner.area == 200
    assert ring.geom_type == "Polygon" and len(ring.interiors) == 1 and ring.area == 1200
    p4 = patches_from_mask(m, f, connectivity=4)
    assert len(p4) == 3


def test_statistics_and_confidence():
    labels = np.zeros((4, 5), np.int32)
    labels[0, :2] = 1
    labels[2:, 3:] = 2
    score = np.arange(20, dtype=np.float32).reshape(4, 5)
    f = Frame.from_bounds((0, 0, 5, 4), res=1, crs=32650)
    p = patches_from_labels(labels, f, score=score, threshold=5.0, noise=2.0, date_before="2020-01-01",
                            date_after="2021-01-01")
    assert p.score_mean.tolist() == [0.5, (13 + 14 + 18 + 19) / 4]
    assert p.score_max.tolist() == [1.0, 19.0]
    np.testing.assert_allclose(p.confidence, [0.0, 1 - np.exp(-(16 - 5) / 2)])
    assert (p.date_after == "2021-01-01").all()
    assert np.isnan(confidence(np.array([3.0]), None, 1.0)).all()
    assert confidence(np.array([3.0, 9.0]), 5.0, 0.0).tolist() == [0.0, 1.0]


def test_min_area_filters_before_polygonising():
    mask = _random_mask(1)
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    counts = np.bincount(labels.ravel())[1:]
    p = patches_from_labels(labels.astype(np.int32), F, min_area=9.0 * 5)
    assert len(p) == int((counts >= 5).sum()) and (p.pixels >= 5).all()
    assert p.id.tolist() == list(range(1, len(p) + 1))
    # kept patches keep their geometry (ids renumbered in label order)
    kept = np.flatnonzero(counts >= 5) + 1
    for row, lab in zip(p.itertuples(), kept):
        assert row.geometry.symmetric_difference(_pixel_union(labels == lab, F)).area < 1e-6


@pytest.mark.parametrize("chunks", [(16, 16), (7, 20), (48, 13)])
def test_dask_mask_equals_numpy(chunks):
    mask = _random_mask(2)
    score = np.random.default_rng(3).random(mask.shape).astype(np.float32)
    eager = patches_from_mask(mask, F, score=score, min_area=9.0 * 3, threshold=0.2, noise=0.1)
    lazy = patches_from_mask(dsa.from_array(mask, chunks=chunks), F,
                             score=dsa.from_array(score, chunks=chunks),
                             min_area=9.0 * 3, threshold=0.2, noise=0.1)
    assert len(lazy) == len(eager) > 5
    for col in ("id", "pixels", "area_m2", "score_max"):
        np.testing.assert_array_equal(lazy[col].to_numpy(), eager[col].to_numpy())
    np.testing.assert_allclose(lazy.score_mean, eager.score_mean, rtol=1e-12)
    np.testing.assert_allclose(lazy.confidence, eager.confidence, rtol=1e-12)
    for a, b in zip(lazy.geometry, eager.geometry):
        assert a.is_valid and a.symmetric_difference(b).area < 1e-6


def test_dask_labels_dataarray():
    mask = _random_mask(4)
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    da = xr.DataArray(dsa.from_array(labels.astype(np.int32), chunks=(20, 20)), dims=("y", "x"),
                      coords=F.coords()).rio.write_crs(F.crs).rio.write_transform(F.transform)
    lazy = patches_from_labels(da)
    eager = patches_from_labels(labels.astype(np.int32), F)
    assert lazy.pixels.tolist() == eager.pixels.tolist()
    for a, b in zip(lazy.geometry, eager.geometry):
        assert a.symmetric_difference(b).area < 1e-6


def test_geographic_crs_uses_geodesic_area():
    f = Frame.from_bounds((116.0, 39.9, 116.01, 39.91), res=0.001, crs=4490)  # CGCS2000 lon/lat
    m = np.zeros(f.shape, bool)
    m[2:5, 3:7] = True
    p = patches_from_mask(m, f)
    geod = Geod(ellps="GRS80")
    expected = abs(geod.geometry_area_perimeter(p.geometry.iloc[0])[0])
    assert p.area_m2.iloc[0] == pytest.approx(expected, rel=1e-9)
    assert 8e4 < expected < 1.2e5  # 12 pixels of ~85 m x 111 m


def test_empty_and_bad_input():
    p = patches_from_mask(np.zeros(F.shape, bool), F)
    assert len(p) == 0 and list(p.columns) == COLUMNS and p.crs == F.crs
    with pytest.raises(DataError, match="frame="):
        patches_from_labels(np.zeros((3, 3), np.int32))
    with pytest.raises(DataError, match="integers"):
        patches_from_labels(np.zeros(F.shape, np.float32), F)
    with pytest.raises(DataError, match="shape"):
        patches_from_mask(np.zeros((3, 3), bool), F)
    with pytest.raises(DataError, match="score has shape"):
        patches_from_mask(np.zeros(F.shape, bool), F, score=np.zeros((2, 2)))
