"""Binary morphology against scipy.ndimage and skimage."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import scipy.ndimage as ndi
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.morphology import remove_small_objects

from onemap.change.morphology import (binary_closing, binary_dilation, binary_erosion,
                                      binary_opening, fill_holes, min_mapping_unit, remove_small)
from onemap.errors import DataError
from onemap.frame import Frame

OPS = [
    (binary_erosion, ndi.binary_erosion),
    (binary_dilation, ndi.binary_dilation),
    (binary_opening, ndi.binary_opening),
    (binary_closing, ndi.binary_closing),
]


def scipy_structure(kind, radius):
    if kind == "square":
        return np.ones((2 * radius + 1,) * 2, bool)
    return ndi.iterate_structure(ndi.generate_binary_structure(2, 1), radius)


@pytest.mark.parametrize("shape", [(1, 1), (1, 19), (23, 1), (5, 5), (31, 47), (260, 190)])
@pytest.mark.parametrize("density", [0.2, 0.6, 0.9])
@pytest.mark.parametrize("kind", ["square", "cross"])
def test_ops_equal_scipy(shape, density, kind):
    rng = np.random.default_rng(abs(hash((shape, density, kind))) % 2**32)
    mask = rng.random(shape) < density
    for radius in (1, 2, 3, 5, 6):
        structure = scipy_structure(kind, radius)
        for ours, theirs in OPS:
            got = ours(mask, radius, kind)
            assert got.dtype == bool and got.shape == mask.shape
            np.testing.assert_array_equal(got, theirs(mask, structure), err_msg=f"{ours.__name__} r={radius}")


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 25), w=st.integers(1, 25), density=st.floats(0.0, 1.0),
       seed=st.integers(0, 2**32 - 1), radius=st.integers(0, 6), kind=st.sampled_from(["square", "cross"]))
def test_ops_equal_scipy_property(h, w, density, seed, radius, kind):
    mask = np.random.default_rng(seed).random((h, w)) < density
    for ours, theirs in OPS:
        expected = mask if radius == 0 else theirs(mask, scipy_structure(kind, radius))
        np.testing.assert_array_equal(ours(mask, radius, kind), expected)


def test_cross_radius_is_scipy_iterations():
    rng = np.random.default_rng(1)
    mask = rng.random((40, 50)) < 0.7
    cross = ndi.generate_binary_structure(2, 1)
    for ours, theirs in OPS:
        np.testing.assert_array_equal(ours(mask, 3, "cross"), theirs(mask, cross, iterations=3))


def test_array_structure_equals_scipy():
    rng = np.random.default_rng(2)
    mask = rng.random((45, 38)) < 0.6
    for shape in [(3, 5), (1, 3), (5, 1), (7, 7)]:
        structure = rng.random(shape) < 0.6  # asymmetric: dilation must reflect it like scipy
        structure[shape[0] // 2, shape[1] // 2] = True
        for ours, theirs in OPS:
            np.testing.assert_array_equal(ours(mask, 1, structure), theirs(mask, structure))
        np.testing.assert_array_equal(binary_erosion(mask, 2, structure),
                                      ndi.binary_erosion(mask, structure, iterations=2))


def test_closing_clears_border_like_scipy():
    # documented border rule: border_value=0, so closing can clear pixels at the edge
    mask = np.ones((6, 6), bool)
    got = binary_closing(mask)
    np.testing.assert_array_equal(got, ndi.binary_closing(mask, np.ones((3, 3))))
    assert not got[0].any() and got[1:-1, 1:-1].all()


def test_radius_zero_and_empty():
    mask = np.random.default_rng(0).random((5, 6)) < 0.5
    np.testing.assert_array_equal(binary_opening(mask, 0), mask)
    assert binary_dilation(np.zeros((0, 4), bool)).shape == (0, 4)


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_ops_on_real_change_mask(shared_data):
    with rasterio.open(shared_data / "change/levir/label/test_77_0512_0256.png") as src:
        mask = src.read(1) > 127
    for radius in (1, 2):
        for kind in ("square", "cross"):
            for ours, theirs in OPS:
                np.testing.assert_array_equal(ours(mask, radius, kind), theirs(mask, scipy_structure(kind, radius)))


@pytest.mark.parametrize("connectivity", [4, 8])
def test_fill_holes_equals_scipy(connectivity):
    rng = np.random.default_rng(connectivity)
    structure = ndi.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    for shape, density in [((1, 1), 0.5), ((3, 3), 0.8), ((40, 60), 0.6), ((120, 90), 0.75), ((400, 380), 0.7)]:
        mask = rng.random(shape) < density
        np.testing.assert_array_equal(fill_holes(mask, connectivity), ndi.binary_fill_holes(mask, structure))
    ring = np.ones((5, 5), bool)
    ring[2, 2] = False
    assert fill_holes(ring).all()
    assert fill_holes(ring, connectivity=4)[2, 2]


@pytest.mark.parametrize("connectivity", [4, 8])
def test_remove_small_equals_skimage(connectivity):
    rng = np.random.default_rng(10 + connectivity)
    for shape, density in [((30, 40), 0.3), ((200, 150), 0.45), ((520, 300), 0.5)]:
        mask = rng.random(shape) < density
        for k in (1, 2, 3, 6, 20):
            # skimage removes sizes <= max_size; remove_small keeps sizes >= min_pixels
            expected = remove_small_objects(mask, max_size=k - 1, connectivity=1 if connectivity == 4 else 2)
            np.testing.assert_array_equal(remove_small(mask, k, connectivity), expected, err_msg=f"k={k}")


def test_min_mapping_unit_uses_pixel_area():
    mask = np.zeros((10, 10), bool)
    mask[0:2, 0:2] = True  # 4 px
    mask[5:8, 5:8] = True  # 9 px
    mask[0, 8] = True  # 1 px
    frame = Frame.from_bounds((0, 0, 20, 20), res=2.0, crs=4527)  # 4 m² pixels
    np.testing.assert_array_equal(min_mapping_unit(mask, 16.0, frame), remove_small(mask, 4))
    np.testing.assert_array_equal(min_mapping_unit(mask, 16.1, 4.0), remove_small(mask, 5))
    np.testing.assert_array_equal(min_mapping_unit(mask, 0.0, 4.0), mask)
    # 0.3 m pixels: 4 * 0.09 = 0.36 m² must keep the 4-pixel patch despite float rounding
    assert min_mapping_unit(mask, 4 * 0.3 * 0.3, 0.3 * 0.3)[0, 0]
    assert not min_mapping_unit(mask, 4 * 0.3 * 0.3 * 1.001, 0.3 * 0.3)[0, 0]


def test_bad_arguments():
    mask = np.zeros((4, 4), bool)
    with pytest.raises(DataError, match="structure"):
        binary_opening(mask, 1, "disk")
    with pytest.raises(DataError, match="no True"):
        binary_dilation(mask, 1, np.zeros((3, 3), bool))
    with pytest.raises(DataError, match="odd"):
        binary_erosion(mask, 1, np.ones((2, 3), bool))
    with pytest.raises(DataError, match="radius"):
        binary_dilation(mask, -1)
    with pytest.raises(DataError, match="min_pixels"):
        remove_small(mask, -2)
    with pytest.raises(DataError, match="pixel_area"):
        min_mapping_unit(mask, 10.0, 0.0)
    with pytest.raises(DataError, match="connectivity"):
        fill_holes(mask, 6)
