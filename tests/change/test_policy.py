"""The mask policy of the change score: clouds of the synthetic county where its truth says,
nodata of a real Landsat scene where GDAL's band masks say, the same mask whatever the
chunks, one mask however it is passed, and bad parameters named."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio
from rasterio.features import rasterize

from onemap import change_score, open_scene
from onemap.change import MaskPolicy
from onemap.errors import DataError
from onemap.testing import make_county


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    with warnings.catch_warnings():  # a small county cannot hold every case: not tested here
        warnings.simplefilter("ignore", UserWarning)
        return make_county(tmp_path_factory.mktemp("county"), size=384, seed=3, n_changes=1)


@pytest.fixture(scope="module")
def pair(county):
    return open_scene(county.paths["before"]), open_scene(county.paths["after"])


def test_clouds_where_the_truth_planted_them(county, pair):
    before, after = pair
    truth = county.truth
    clouds = truth.loc[truth["case"] == "distractor_cloud"]
    assert len(clouds), "the county has clouds to find"
    f = county.frame
    planted, core, near = (rasterize([(g.buffer(d), 1) for g in clouds.geometry],
                                     out_shape=f.shape, transform=f.transform).astype(bool)
                           for d in (0, -8, 10))
    # pixel by pixel (no extent test) the cloud but its translucent rim is "cloud", and so is
    # every new white roof
    flat = MaskPolicy(reflectance_scale=10000, buffer_px=0, min_width_m=None)(before, after)
    assert flat.values[planted].mean() > 0.7 and (flat.values & ~near).sum() > planted.sum()
    # the county's cloud is ~70 m across: a 30 m extent test keeps it and drops the roofs
    policy = MaskPolicy(reflectance_scale=10000, buffer_px=0, min_width_m=30)
    mask = policy(before, after).values
    assert mask[core].mean() > 0.8
    assert (mask & ~near).sum() < 0.15 * (flat.values & ~near).sum()
    wide = MaskPolicy(reflectance_scale=10000, buffer_px=3, min_width_m=30)(before, after).values
    assert (mask <= wide).all() and wide[planted].mean() > mask[planted].mean()  # it widens


def test_nodata_of_a_real_scene_as_rasterio_reads_it(shared_data):
    path = shared_data / "geo/rasterio/RGB.byte.tif"
    scene = open_scene(path)
    with rasterio.open(path) as src:
        # GDAL's own per-band reading of the nodata; nodata in any band is outside the image
        oracle = (src.read_masks() == 0).any(axis=0)
    assert 0.1 < oracle.mean() < 0.9
    mask = MaskPolicy(clouds=False, nodata=True)(scene, scene)
    np.testing.assert_array_equal(mask.values, oracle)
    lazy = MaskPolicy(clouds=False, nodata=True)(scene.chunk({"y": 200, "x": 300}),
                                                 scene.chunk({"y": 200, "x": 300}))
    np.testing.assert_array_equal(lazy.values, oracle)


@pytest.mark.parametrize("chunks", [64, 100, 150])
def test_the_mask_does_not_depend_on_the_chunks(pair, chunks):
    before, after = (s.load() for s in pair)
    policy = MaskPolicy(reflectance_scale=10000, buffer_px=4, min_width_m=30, nodata=True)
    whole = policy(before, after).values
    tiled = policy(before.chunk({"y": chunks, "x": chunks}),
                   after.chunk({"y": chunks, "x": chunks}))
    assert tiled.chunks is not None  # lazy for dask scenes
    np.testing.assert_array_equal(tiled.values, whole)


def test_policy_array_and_function_give_one_score(pair):
    before, after = (s.load() for s in pair)
    policy = MaskPolicy(reflectance_scale=10000, min_width_m=None)
    by_policy = change_score(before, after, mask=policy, smooth=0).values
    by_array = change_score(before, after, mask=policy(before, after), smooth=0).values
    by_function = change_score(before, after, mask=lambda b, a: policy(b, a), smooth=0).values
    np.testing.assert_array_equal(by_policy, by_function)
    masked = policy(before, after).values
    assert np.isnan(by_policy[masked]).all()
    # the sample for the statistics is read per window for a policy, whole for an array
    np.testing.assert_allclose(by_policy, by_array, rtol=1e-5, equal_nan=True)


def test_nothing_to_exclude_is_no_mask(pair):
    assert MaskPolicy(clouds=False)(*pair) is None
    assert not MaskPolicy(clouds=False).excludes_anything


@pytest.mark.parametrize("kwargs, name", [
    ({"buffer_px": -1}, "buffer_px"), ({"buffer_px": 2.5}, "buffer_px"),
    ({"reflectance_scale": 0}, "reflectance_scale"), ({"reflectance_scale": "10000"},
                                                      "reflectance_scale"),
    ({"whiteness_max": float("nan")}, "whiteness_max"), ({"clouds": "yes"}, "clouds"),
    ({"min_width_m": -5}, "min_width_m"), ({"nodata": 1}, "nodata"),
])
def test_bad_parameters_name_the_argument(kwargs, name):
    with pytest.raises(DataError, match=f"MaskPolicy {name} must be") as info:
        MaskPolicy(**kwargs)
    assert info.value.feature == name


def test_the_policy_is_an_immutable_value():
    p = MaskPolicy(reflectance_scale=10000)
    assert p == MaskPolicy(reflectance_scale=10000.0) and hash(p) == hash(MaskPolicy(
        reflectance_scale=10000.0))
    with pytest.raises(AttributeError):
        p.buffer_px = 5  # type: ignore[misc]


def test_the_survey_builds_its_policy_from_the_toml(county, tmp_path):
    from onemap.config import load_config
    from onemap.demo import demo_config
    from onemap.survey_inputs import mask_policy

    cfg = demo_config(county, tmp_path / "out")
    assert mask_policy(load_config(cfg)) == MaskPolicy(reflectance_scale=10000.0, buffer_px=3)
    cfg["detect"]["options"].update(cloud_buffer_px=5)
    assert mask_policy(load_config(cfg)).buffer_px == 5
    cfg["detect"]["options"].update(cloud_mask=False)
    assert not mask_policy(load_config(cfg)).excludes_anything
    del cfg["detect"]["options"]["reflectance_scale"], cfg["detect"]["options"]["cloud_mask"]
    assert not mask_policy(load_config(cfg)).clouds  # no reflectance scale: no cloud test


def test_a_buffer_in_metres_is_the_same_on_any_pixel_size(pair):
    before, after = (s.load() for s in pair)  # 2 m pixels
    assert MaskPolicy(buffer_m=6.0).buffer_radius(before) == 3
    in_px = MaskPolicy(reflectance_scale=10000, min_width_m=30, buffer_px=3)(before, after)
    in_m = MaskPolicy(reflectance_scale=10000, min_width_m=30, buffer_m=6.0)(before, after)
    np.testing.assert_array_equal(in_m.values, in_px.values)
    coarse = before.coarsen(y=2, x=2).mean().rio.write_transform(
        before.rio.transform() @ before.rio.transform().scale(2))
    assert MaskPolicy(buffer_m=6.0).buffer_radius(coarse) == 2  # 4 m pixels: 1.5 -> 2
    bare = before.drop_vars("spatial_ref").copy()
    bare.attrs.clear()
    with pytest.raises(DataError, match="buffer_m needs georeferenced scenes"):
        MaskPolicy(buffer_m=6.0).buffer_radius(bare.drop_vars(["x", "y"]))
