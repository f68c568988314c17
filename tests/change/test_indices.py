"""Spectral indices and masks against NumPy formulas, for uint16/float32 and NumPy/dask scenes."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from onemap.change import indices as I
from onemap.errors import DataError

BANDS = ["blue", "green", "red", "nir", "swir1"]


def _scene(data: np.ndarray, bands=BANDS, nodata=None, chunks=None) -> xr.DataArray:
    da = xr.DataArray(data, dims=("band", "y", "x"), coords={"band": list(bands)}, attrs={"nodata": nodata})
    return da.chunk({"band": -1, "y": chunks, "x": chunks}) if chunks else da


def _oracle(name: str, x: dict[str, np.ndarray]) -> np.ndarray:
    nd = lambda a, b: np.where(a + b != 0, (a - b) / np.where(a + b != 0, a + b, 1), 0.0)  # noqa: E731
    b, g, r, n, s = (x.get(k) for k in BANDS)
    return {
        "ndvi": lambda: nd(n, r),
        "ndbi": lambda: nd(s, n),
        "ndwi": lambda: nd(g, n),
        "mndwi": lambda: nd(g, s),
        "bsi": lambda: nd(s + r, n + b) if s is not None else nd(r, b),
        "brightness": lambda: (b + g + r) / 3,
        "gli": lambda: nd(2 * g, r + b),
        "redness": lambda: nd(r, b),
    }[name]()


@pytest.fixture(scope="module")
def data() -> np.ndarray:
    rng = np.random.default_rng(42)
    return rng.integers(0, 12000, size=(5, 37, 53)).astype(np.uint16)


@pytest.mark.parametrize("name", sorted(I.INDICES))
@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_index_matches_numpy_formula(data, name, dtype):
    arr = data.astype(dtype)
    x = {b: arr[k].astype(np.float64) for k, b in enumerate(BANDS)}
    got = I.spectral_index(_scene(arr), name)
    assert got.dtype == np.float32 and got.dims == ("y", "x")
    np.testing.assert_allclose(got.values, _oracle(name, x), rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name", ["ndvi", "bsi", "brightness"])
def test_dask_equals_numpy_and_stays_lazy(data, name):
    eager = I.spectral_index(_scene(data), name)
    lazy = I.spectral_index(_scene(data, chunks=16), name)
    assert hasattr(lazy.data, "dask")
    np.testing.assert_array_equal(lazy.values, eager.values)


def test_bare_soil_without_swir_is_soil_redness(data):
    four = _scene(data[:4], BANDS[:4])
    np.testing.assert_allclose(I.bare_soil_index(four).values, I.spectral_index(four, "redness").values)


def test_nodata_and_nan_give_nan(data):
    arr = data.copy()
    arr[2, 0, 0] = 0  # red nodata: NDVI undefined
    arr[0, 1, 1] = 0  # blue nodata: the pixel is nodata (edge of a scene), even for NDVI
    out = I.ndvi(_scene(arr, nodata=0)).values
    assert np.isnan(out[0, 0]) and np.isnan(out[1, 1])
    np.testing.assert_array_equal(np.isnan(out), (arr == 0).any(0))
    f = arr.astype("float32")
    f[3, 2, 2] = np.nan
    assert np.isnan(I.ndvi(_scene(f)).values[2, 2])


def test_uint16_values_do_not_wrap():
    # red 60000 > nir 100: an unsigned subtraction would wrap to a large positive NDVI
    arr = np.array([[[60000]], [[100]]], dtype=np.uint16)
    out = I.ndvi(_scene(arr, ["red", "nir"])).values[0, 0]
    assert out == pytest.approx((100 - 60000) / 60100, rel=1e-6)


def test_missing_band_error_names_the_band(data):
    rgb = _scene(data[:3], ["blue", "green", "red"])
    with pytest.raises(DataError, match="nir") as err:
        I.ndvi(rgb)
    assert err.value.feature == "nir"
    with pytest.raises(DataError, match="unknown spectral index"):
        I.spectral_index(rgb, "evi")


def test_band_lookup_by_sensor_suffix():
    arr = np.ones((4, 2, 2), np.uint16)
    arr[3] = 3
    s = xr.DataArray(arr, dims=("band", "y", "x"), coords={"band": ["blue", "green", "red", "nir"]},
                     attrs={"sensor": "gf2"})
    assert float(I.ndvi(s)[0, 0]) == pytest.approx(0.5)


def test_water_mask_keeps_blue_roofs_out():
    spectra = {  # blue green red nir
        "water": [0.06, 0.05, 0.03, 0.02], "turbid": [0.08, 0.10, 0.09, 0.07],
        "blue_roof": [0.25, 0.22, 0.15, 0.18], "veg": [0.03, 0.07, 0.04, 0.40],
    }
    arr = np.array(list(spectra.values()), "float32").T[:, None, :]
    got = I.water_mask(_scene(arr, BANDS[:4])).values[0].tolist()
    assert got == [True, True, False, False]


def test_cloud_mask_units():
    cloud, soil = [0.45, 0.46, 0.47], [0.30, 0.36, 0.45]
    arr = np.array([cloud, soil], "float32").T[:, None, :]
    assert I.cloud_mask(_scene(arr, ["blue", "green", "red"])).values.tolist() == [[True, False]]
    dn = _scene((arr * 1000).astype("uint16"), ["blue", "green", "red"])
    with pytest.raises(DataError, match="blue_min"):
        I.cloud_mask(dn)
    assert I.cloud_mask(dn, blue_min=250).values.tolist() == [[True, False]]
    dn.attrs["reflectance_scale"] = 1000
    assert I.cloud_mask(dn).values.tolist() == [[True, False]]


def test_valid_mask(data):
    arr = data.copy()
    arr[1, 3, 4] = 0
    v = I.valid_mask(_scene(arr, nodata=0)).values
    assert not v[3, 4]
    np.testing.assert_array_equal(v, ~(arr == 0).any(0))


def test_cloud_mask_keeps_white_roofs_narrower_than_a_cloud():
    """Pixel by pixel a white roof is cloud; by extent it is not (2 m pixels, 60 m minimum)."""
    import rioxarray  # noqa: F401  (the .rio accessor)

    from onemap import Frame

    f = Frame.from_bounds((500_000, 3_300_000, 500_000 + 400, 3_300_000 + 400), res=2, crs=32650)
    veg = np.array([0.03, 0.07, 0.04, 0.40], "float32")
    white = np.array([0.45, 0.47, 0.48, 0.50], "float32")
    img = np.broadcast_to(veg[:, None, None], (4, 200, 200)).copy()
    yy, xx = np.mgrid[:200, :200]
    cloud = (yy - 60) ** 2 + (xx - 60) ** 2 < 45 ** 2      # 180 m across
    roof = (yy >= 150) & (yy < 168) & (xx >= 120) & (xx < 145)  # 36 x 50 m
    img[:, cloud | roof] = white[:, None]
    s = xr.DataArray(img, dims=("band", "y", "x"), coords={"band": BANDS[:4], **f.coords()})
    s = s.rio.write_crs(f.crs).rio.write_transform(f.transform)
    got = I.cloud_mask(s).values
    assert got[cloud].mean() > 0.95 and not got[roof].any() and not got[~cloud].any()
    # without the extent test both are cloud; dask gives the same mask as NumPy
    assert I.cloud_mask(s, min_width_m=None).values[roof].all()
    np.testing.assert_array_equal(I.cloud_mask(s.chunk({"y": 64, "x": 64})).values, got)
