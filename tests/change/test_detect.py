"""Change measures and the one-call detector: planted buildings vs distractors, NumPy oracles of
the kernels, dask = in-memory, post-classification, and every kind of bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import ndimage

from onemap import Frame, change_score, cva, detect_changes, threshold_score
from onemap.change import DetectionStatus
from onemap.change.postclass import class_change, from_to_matrix
from onemap.errors import DataError, FrameError, OnemapWarning
from onemap.geometry import ellipsoidal_area

from . import synthetic as S


@pytest.fixture(scope="module")
def pair4():
    return S.scene_pair(S.BANDS[:4])


def _found(patches, polygons, min_iou=0.8):
    return [max((S.iou(g, q) for g in patches.geometry), default=0.0) >= min_iou for q in polygons]


def _area_in(patches, region_mask) -> float:
    region = S.region_polygon(region_mask)
    return float(patches.geometry.intersection(region).area.sum())


# ------------------------------------------------------------------ planted change


@pytest.mark.parametrize("bands", [S.BANDS[:4], S.BANDS], ids=["gf2-4band", "with-swir"])
def test_planted_buildings_found_distractors_not(bands):
    before, after, regions = S.scene_pair(bands)
    p = detect_changes(before, after, min_area=40)
    assert all(_found(p, S.building_polygons()))
    for name in ("seasonal", "flooded", "exposed"):
        assert _area_in(p, regions[name]) == 0.0, name
    # every patch is a building: nothing else stands out
    assert len(p) == len(S.BUILDINGS)
    assert p.attrs["method"] == "construction" and p.attrs["threshold"] > 2.0
    assert (p.date_before == "2021-04-20").all() and (p.date_after == "2022-04-25").all()
    assert (p.confidence > 0.9).all()
    assert p.area_m2.sum() == pytest.approx(ellipsoidal_area(p.geometry).sum(), rel=1e-9)


def test_rgb_degraded_mode_still_finds_buildings():
    before, after, regions = S.scene_pair(("red", "green", "blue"))
    p = detect_changes(before, after, method="construction", min_area=40)
    assert all(_found(p, S.building_polygons()))
    # without NIR there is no water or vegetation gate: seasonal senescence must still not show
    assert _area_in(p, regions["seasonal"]) == 0.0


def test_illumination_shift_alone_is_no_change(pair4):
    before, _, _ = pair4
    rng = np.random.default_rng(9)
    after = before.astype("float32") * np.array([1.3, 1.2, 1.1, 0.95], "float32")[:, None, None] + 250
    after = after + rng.normal(0, 20, after.shape).astype("float32")
    after = after.astype("uint16").assign_attrs(before.attrs)
    p = detect_changes(before, after, min_area=40)
    assert len(p) == 0
    # without normalisation the shift itself is a (false) change
    raw = change_score(before, after, normalize=None, smooth=0)
    norm = change_score(before, after, smooth=0)
    assert float(raw.mean()) > 3 * float(norm.mean())


def test_cva_finds_buildings_and_seasonal_change(pair4):
    before, after, regions = pair4
    p = detect_changes(before, after, method="cva", min_area=40)
    assert all(_found(p, S.building_polygons(), 0.75))
    assert _area_in(p, regions["seasonal"]) > 0  # CVA sees every change, not only construction


@pytest.mark.parametrize("method,kw", [("ndvi_diff", {}), ("index_diff", {"index": "ndvi", "direction": "loss"}),
                                       ("brightness_diff", {})])
def test_index_methods_run_and_flag_buildings(pair4, method, kw):
    before, after, _ = pair4
    p = detect_changes(before, after, method=method, min_area=40, **kw)
    assert sum(_found(p, S.building_polygons(), 0.5)) >= 2


def test_dask_and_float_inputs_give_the_same_patches(pair4):
    before, after, _ = pair4
    eager = detect_changes(before, after, min_area=40)
    lazy = detect_changes(before.chunk({"y": 64, "x": 100}), after.chunk({"y": 80, "x": 64}), min_area=40)
    masked = [s.astype("float32").where(s != 0).assign_attrs({**s.attrs, "nodata": None}) for s in (before, after)]
    floats = detect_changes(*masked, min_area=40)
    for other in (lazy, floats):
        assert len(other) == len(eager)
        assert other.attrs["threshold"] == pytest.approx(eager.attrs["threshold"], rel=1e-5)
        for a, b in zip(other.geometry, eager.geometry):
            assert a.symmetric_difference(b).area < 1e-6


def test_intermediate_steps_are_exposed(pair4):
    before, after, _ = pair4
    s = change_score(before, after)
    assert s.dims == ("y", "x") and s.dtype == np.float32 and s.rio.crs == before.rio.crs
    t, noise = threshold_score(s)
    assert t > 0 and noise > 0
    out = cva(before, after)
    assert set(out.data_vars) == {"magnitude", "direction"}
    d = out.direction.values
    assert np.nanmin(d) >= 0 and np.nanmax(d) <= 180
    # dask in, dask out: nothing is computed until asked, and the blocks give the same values
    b, a = before.chunk({"y": 100, "x": 100}), after.chunk({"y": 100, "x": 100})
    lazy_score, lazy_cva = change_score(b, a), cva(b, a)
    assert hasattr(lazy_score.data, "dask") and hasattr(lazy_cva.magnitude.data, "dask")
    np.testing.assert_allclose(lazy_score.values, s.values, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(lazy_cva.magnitude.values, out.magnitude.values, rtol=1e-6)


# ------------------------------------------------------------------ kernels against NumPy


def _nd(a, b):
    s = a + b
    return np.where(s != 0, (a - b) / np.where(s != 0, s, 1), 0.0)


def test_construction_kernel_matches_numpy_formula(pair4):
    before, after, _ = pair4
    s = change_score(before, after, method="construction", smooth=0)
    g = np.array([s.attrs["gain"][b] for b in S.BANDS[:4]])
    o = np.array([s.attrs["offset"][b] for b in S.BANDS[:4]])
    sv, sb, sg, _ = s.attrs["noise_sigma"]
    x1 = before.values.astype(np.float64)
    x2 = after.values.astype(np.float64) * g[:, None, None] + o[:, None, None]
    (b1, g1, r1, n1), (b2, g2, r2, n2) = x1, x2
    dv = (_nd(n1, r1) - _nd(n2, r2)) / sv
    db = _nd((b2 + g2 + r2) / 3, (b1 + g1 + r1) / 3) / sb
    dq = (_nd(r1, b1) - _nd(r2, b2)) / sg
    e = np.sqrt(np.maximum(dv, 0) ** 2 + np.maximum(db, 0) ** 2 + dq ** 2)
    veg = np.clip((_nd(n2, r2) - 0.3) / 0.3, 0, 1)
    water = lambda g_, r_, n_: np.clip(np.minimum(_nd(g_, n_), -_nd(n_, r_)) / 0.15, 0, 1)  # noqa: E731
    e = e * (1 - veg) * (1 - np.maximum(water(g1, r1, n1), water(g2, r2, n2)))
    np.testing.assert_allclose(s.values, e, rtol=1e-4, atol=1e-4)


def test_cva_kernel_matches_numpy(pair4):
    before, after, _ = pair4
    out = cva(before, after)
    bands = list(before.band.values)
    g = np.array([out.attrs["gain"][b] for b in bands])
    o = np.array([out.attrs["offset"][b] for b in bands])
    sig = np.array(out.attrs["noise_sigma"])
    d = (after.values * g[:, None, None] + o[:, None, None] - before.values) / sig[:, None, None]
    norm = np.sqrt((d ** 2).sum(0))
    np.testing.assert_allclose(out.magnitude.values, norm / 2.0, rtol=1e-4, atol=1e-4)
    cosang = np.clip(d.sum(0) / (norm * 2.0), -1, 1)
    np.testing.assert_allclose(out.direction.values, np.degrees(np.arccos(cosang)), atol=0.05)


def test_smoothing_is_a_nan_aware_box_mean(pair4):
    before, after, _ = pair4
    hole = np.zeros(before.shape[1:], bool)
    hole[5:9, 5:9] = True
    mask = xr.DataArray(hole, dims=("y", "x"))
    raw = change_score(before, after, smooth=0, mask=mask).values.astype(np.float64)
    got = change_score(before, after, smooth=1, mask=mask).values
    ref = ndimage.generic_filter(raw, np.nanmean, size=3, mode="constant", cval=np.nan)
    ref[np.isnan(raw)] = np.nan
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ post-classification


def test_from_to_matrix_matches_crosstab():
    rng = np.random.default_rng(0)
    b = rng.integers(-1, 5, (30, 40))
    a = rng.integers(0, 6, (30, 40))
    da_b, da_a = xr.DataArray(b, dims=("y", "x")), xr.DataArray(a, dims=("y", "x"))
    got = from_to_matrix(da_b, da_a)
    ok = b >= 0
    ref = pd.crosstab(pd.Series(b[ok], name="from"), pd.Series(a[ok], name="to"))
    ref = ref.reindex(index=got.index, columns=got.columns, fill_value=0)
    np.testing.assert_array_equal(got.values, ref.values)
    lazy = from_to_matrix(da_b.chunk(10), da_a.chunk(10))
    np.testing.assert_array_equal(lazy.values, got.values)


def test_post_classification_patches():
    f = Frame.from_bounds((0, 0, 200, 100), res=10, crs=32650)
    b = np.full(f.shape, 1)
    a = b.copy()
    a[2:5, 3:8] = 20  # cropland -> built-up: 15 pixels
    a[7:9, 12:14] = 3  # cropland -> forest: not construction
    mk = lambda x: xr.DataArray(x, dims=("y", "x"), coords=f.coords()).rio.write_crs(f.crs)  # noqa: E731
    p = detect_changes(mk(b), mk(a), method="post_classification", to_classes=[20])
    assert len(p) == 1 and p.pixels.iloc[0] * 100.0 == 1500.0  # 15 pixels of 10 m
    # ellipsoidal: the UTM plane is ~0.27 % too long 500 km west of its central meridian
    assert p.area_m2.iloc[0] == pytest.approx(ellipsoidal_area(p.geometry)[0], rel=1e-9)
    assert p.area_m2.iloc[0] == pytest.approx(1500.0, rel=0.01)
    assert class_change(mk(b), mk(a), [20], from_classes=[3]).values.sum() == 0
    with pytest.raises(DataError, match="to_classes"):
        detect_changes(mk(b), mk(a), method="post_classification")


# ------------------------------------------------------------------ bad input


def test_different_grids_need_align(pair4):
    before, after, _ = pair4
    f = S.frame()
    shifted = f.subframe(slice(10, 230), slice(0, 240))
    other = after.isel(y=slice(10, 230)).rio.write_transform(shifted.transform)
    with pytest.raises(FrameError, match="align"):
        detect_changes(before, other)
    p = detect_changes(before, other, frame=shifted, min_area=40)  # aligned onto the frame
    assert len(p) >= 3 and p.attrs["status"] == "ok"


def test_missing_band_error_names_it(pair4):
    before, after, _ = pair4
    rgb_b, rgb_a = before.sel(band=["blue", "green", "red"]), after.sel(band=["blue", "green", "red"])
    with pytest.raises(DataError, match="'nir'") as err:
        detect_changes(rgb_b, rgb_a, method="ndvi_diff")
    assert err.value.feature == "nir"
    with pytest.raises(DataError, match="swir1"):
        detect_changes(before, after, method="ndbi_diff")
    with pytest.raises(DataError, match="nir"):  # construction needs NIR, or blue for RGB
        detect_changes(before.sel(band=["green", "red"]), after.sel(band=["green", "red"]),
                       method="construction")
    with pytest.raises(DataError, match="unknown change method"):
        detect_changes(before, after, method="deep-learning")


def test_all_nodata_and_cloud_covered_tiles(pair4):
    before, after, _ = pair4
    empty = after.copy(data=np.zeros_like(after.values))  # all nodata (0)
    with pytest.warns(OnemapWarning, match="no pixel is valid"):
        p = detect_changes(before, empty)
    assert len(p) == 0 and p.attrs["status"] == "no valid pixels"
    nan_b = before.astype("float32") * np.nan
    with pytest.warns(OnemapWarning, match="no pixel is valid"):
        assert len(detect_changes(nan_b.assign_attrs(nodata=None), after)) == 0
    clouds = xr.DataArray(np.ones(before.shape[1:], bool), dims=("y", "x"))
    with pytest.warns(OnemapWarning, match="no pixel is valid"):
        p = detect_changes(before, after, mask=clouds)
    assert len(p) == 0
    half = np.zeros(before.shape[1:], bool)
    half[:, 120:] = True  # the east half under cloud: its buildings are not reported
    p = detect_changes(before, after, mask=xr.DataArray(half, dims=("y", "x")), min_area=40)
    assert 1 <= len(p) <= 2 and p.geometry.bounds.maxx.max() <= S.frame().bounds[0] + 120 * S.RES
    same = detect_changes(before, after, mask=half, min_area=40)  # a plain NumPy mask works too
    assert same.pixels.tolist() == p.pixels.tolist()
    with pytest.raises(DataError, match="mask has shape"):
        detect_changes(before, after, mask=np.zeros((3, 3), bool))


def test_constant_images_give_a_clear_empty_result(pair4):
    before, _, _ = pair4
    const = before.copy(data=np.full_like(before.values, 1000))
    with pytest.warns(OnemapWarning, match="constant"):
        p = detect_changes(const, const.copy())
    assert len(p) == 0 and p.attrs["status"] == "constant score"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the typed status says it, no warning
        result = threshold_score(np.zeros((4, 4), np.float32))
    t, noise = result
    assert (t, noise) == (0.0, 0.0) and result.status == "constant score"
    assert result.status is DetectionStatus.CONSTANT_SCORE


def test_uint16_differences_do_not_wrap():
    f = Frame.from_bounds((0, 0, 40, 40), res=2, crs=32650)
    a = np.full((4,) + f.shape, 100, np.uint16)
    b = a.copy()
    a[:, :5, :5] = 60000  # date 1 much brighter: b - a would wrap to ~5636 in uint16
    mk = lambda x: xr.DataArray(x, dims=("band", "y", "x"), coords={"band": list(S.BANDS[:4]), **f.coords()}  # noqa: E731
                                ).rio.write_crs(f.crs)
    s = change_score(mk(a), mk(b), method="brightness_diff", normalize=None, smooth=0)
    sigma = s.attrs["noise_sigma"][0]
    assert float(s[0, 0]) * sigma == pytest.approx(100 - 60000, rel=1e-6)
    out = cva(mk(a), mk(b), normalize=None)
    assert float(out.direction[0, 0]) == pytest.approx(180.0)  # darkening, not brightening


def test_threshold_options(pair4):
    before, after, _ = pair4
    s = change_score(before, after)
    t_otsu, _ = threshold_score(s, threshold="otsu")
    t_k, _ = threshold_score(s, threshold="k_sigma", k=3)
    vals = s.values[np.isfinite(s.values)].astype(np.float64)
    assert t_k == pytest.approx(vals.mean() + 3 * vals.std(), rel=1e-5)
    assert threshold_score(s, threshold=7.5)[0] == 7.5
    assert threshold_score(s, threshold="otsu", floor=1e9)[0] == 1e9
    p = detect_changes(before, after, threshold=1e9)
    assert len(p) == 0
    with pytest.raises(DataError, match="threshold must be"):
        threshold_score(s, threshold="magic")
    lazy = threshold_score(s.chunk(50), threshold="otsu")
    assert lazy[0] == pytest.approx(t_otsu, rel=1e-6)
