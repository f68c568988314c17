"""The default detector: the rule that picks a score from what the scene has, the defaults the
survey shares with the library, and -- on the real samples -- the default against a naive
baseline (change-vector magnitude of standardised bands + Otsu + 3 x 3 opening)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from onemap import Frame, change_score, detect_changes
from onemap.change.defaults import DEFAULTS, choose_method, smooth_radius

from . import real_data as R
from . import synthetic as S


def _scene(bands, res, crs=32650, shape=(40, 40), seed=0):
    f = Frame.from_bounds((500_000, 3_000_000, 500_000 + shape[1] * res, 3_000_000 + shape[0] * res),
                          res=res, crs=crs)
    rng = np.random.default_rng(seed)
    data = rng.integers(200, 3000, (len(bands),) + f.shape).astype("uint16")
    da = xr.DataArray(data, dims=("band", "y", "x"), coords={"band": list(bands), **f.coords()},
                      attrs={"date": "2021-01-01"})
    return da.rio.write_crs(f.crs).rio.write_transform(f.transform)


@pytest.mark.parametrize("bands,res,expected", [
    (("blue", "green", "red", "nir"), 0.8, "construction"),
    (("blue", "green", "red", "nir"), 2.0, "construction"),
    (("blue", "green", "red", "nir"), 5.0, "construction"),
    (("blue", "green", "red", "nir"), 10.0, "cva"),   # Sentinel-2: mixed pixels
    (("blue", "green", "red", "nir", "swir1", "swir2"), 30.0, "cva"),  # Landsat
    (("red", "green", "blue"), 0.5, "construction"),  # sub-metre RGB: directional score
    (("red", "green", "blue"), 1.5, "cva"),
    (("red", "green", "blue"), 10.0, "cva"),
    (("green", "red"), 0.5, "cva"),  # no blue: the RGB construction mode cannot run
    (("blue", "green", "red", "nir"), None, "cva"),  # unknown pixel size: no VHR claim
])
def test_rule_reads_bands_and_resolution(bands, res, expected):
    method, reason = choose_method(bands, res)
    assert method == expected
    assert ("no nir" in reason) == ("nir" not in bands)


def test_auto_resolves_on_the_scene_and_records_it():
    for bands, res, expected in ((S.BANDS[:4], 2.0, "construction"), (S.BANDS[:4], 10.0, "cva"),
                                 (("red", "green", "blue"), 0.5, "construction"),
                                 (("red", "green", "blue"), 1.5, "cva")):
        before, after = _scene(bands, res), _scene(bands, res, seed=1)
        s = change_score(before, after)
        assert s.attrs["method"] == expected and s.attrs["method_requested"] == "auto"
        assert s.attrs["smooth"] == smooth_radius(res)
        p = detect_changes(before, after)
        assert p.attrs["method"] == expected and p.attrs["method_rule"]
    # an explicit method is kept as given, and nothing says "auto"
    s = change_score(before, after, method="cva", smooth=2)
    assert s.attrs["method"] == "cva" and "method_requested" not in s.attrs and s.attrs["smooth"] == 2


def test_geographic_scene_resolution_is_read_in_metres():
    # Sentinel-2 10 m pixels stored in lon/lat degrees (OSCD ships so): still "10 m, cva"
    deg = 10.0 / 111_320.0
    f = Frame.from_bounds((2.0, 48.0, 2.0 + 40 * deg, 48.0 + 40 * deg), res=deg, crs=4326)
    data = np.random.default_rng(0).integers(200, 3000, (4,) + f.shape).astype("uint16")
    da = xr.DataArray(data, dims=("band", "y", "x"), coords={"band": list(S.BANDS[:4]), **f.coords()})
    da = da.rio.write_crs(f.crs).rio.write_transform(f.transform)
    s = change_score(da, da.copy(data=data[::-1].copy()))
    assert s.attrs["method"] == "cva"
    res = float(s.attrs["method_rule"].split(" m pixels")[0].split()[-1])
    assert 6.0 < res < 15.0  # geodesic pixel size at 48° N: ~10 m x 6.7 m


def test_smooth_radius_is_a_ground_distance():
    assert [smooth_radius(r) for r in (0.25, 0.5, 1.0, 1.5, 2.0, 10.0, 30.0)] == [6, 3, 2, 1, 1, 1, 1]
    assert smooth_radius(0.01) == 8  # bounded: the window's cost grows with its area


def test_survey_reads_the_library_defaults():
    from onemap.config import SurveyConfig, load_config  # noqa: F401

    assert SurveyConfig.__dataclass_fields__["k"].default == DEFAULTS.k
    assert SurveyConfig.__dataclass_fields__["method"].default == DEFAULTS.method
    import inspect

    sig = inspect.signature(detect_changes)
    assert sig.parameters["k"].default == DEFAULTS.k and sig.parameters["method"].default == DEFAULTS.method
    assert sig.parameters["noise_floor"].default == DEFAULTS.noise_floor


# ------------------------------------------------------------------ real data


def naive_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """CVA of per-band standardised images, Otsu, 3 x 3 opening (no onemap code)."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    z = [(x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True)
         for x in (before.astype(np.float64), after.astype(np.float64))]
    mag = np.sqrt(((z[1] - z[0]) ** 2).sum(axis=0))
    return ndimage.binary_opening(mag > threshold_otsu(mag), np.ones((3, 3), bool))


@pytest.mark.shared_data
@pytest.mark.parametrize("dataset", ["oscd", "taizhou", "sztaki", "levir"])
def test_default_at_least_the_naive_baseline(shared_data, dataset):
    if not (shared_data / "change").is_dir():
        pytest.skip("no change samples in the shared data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pairs = {"oscd": lambda: [R.oscd(shared_data, c) for c in R.OSCD_CITIES],
                 "taizhou": lambda: [R.taizhou(shared_data)],
                 "sztaki": lambda: [R.sztaki(shared_data, i) for i in R.SZTAKI_PAIRS],
                 "levir": lambda: [R.levir(shared_data, n) for n in R.levir_names(shared_data)]}[dataset]()
    ours, naive = np.zeros(4, np.int64), np.zeros(4, np.int64)
    for pair in pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            patches = detect_changes(pair.before, pair.after)
        ours += R.confusion(R.predicted_mask(patches, pair.frame), pair)
        naive += R.confusion(naive_change(pair.before.values, pair.after.values), pair)
    f_ours, f_naive = R.prf(ours)[2], R.prf(naive)[2]
    assert f_ours >= f_naive, f"{dataset}: default F1 {f_ours:.3f} < naive {f_naive:.3f}"
