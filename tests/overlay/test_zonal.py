"""zonal_stats against exactextract, rasterstats, scipy.ndimage and NumPy oracles; bad input."""

from __future__ import annotations

import warnings

import dask.array as dsa
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rioxarray
import shapely
from scipy import ndimage

import onemap
from onemap.errors import ConfigError, CRSError, DataError, FrameError

from ._polygons import (
    X0,
    Y0,
    frame_at,
    random_layer,
    values_da,
    voronoi_parcels,
    write_tif,
)

exactextract = pytest.importorskip("exactextract")
rasterstats = pytest.importorskip("rasterstats")

STATS = ["count", "sum", "mean", "min", "max", "std"]
EE_NAMES = {"count": "count", "sum": "sum", "mean": "mean", "min": "min", "max": "max", "std": "stdev"}


def _exactextract(path, layer, stats):
    out = exactextract.exact_extract(path, layer.reset_index(drop=True), [EE_NAMES[s] for s in stats],
                                     output="pandas")
    return out.rename(columns={v: k for k, v in EE_NAMES.items()})


def _rasterstats(path, layer, stats, nodata, all_touched=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = rasterstats.zonal_stats(list(layer.geometry), path, stats=stats, nodata=nodata, all_touched=all_touched)
    return pd.DataFrame(got)


def _assert_close(ours, ref, cols, rtol):
    for c in cols:
        a, b = ours[c].to_numpy(float), ref[c].to_numpy(float)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=c)
        ok = ~np.isnan(b)
        np.testing.assert_allclose(a[ok], b[ok], rtol=rtol, atol=1e-300, err_msg=c)


def _raster(rng, frame, nodata=-9999.0, dtype="float64"):
    data = rng.normal(100.0, 20.0, frame.shape).astype(dtype)
    data[rng.random(frame.shape) < 0.03] = nodata
    return data


def test_fraction_weights_equal_exactextract_to_1e9_where_fractions_are_exact(tmp_path):
    # rectilinear polygons on a 1/8-pixel lattice: every coverage fraction is a multiple of 1/64,
    # exact in exactextract's float32 fractions as in our float64 ones
    rng = np.random.default_rng(1)
    frame = frame_at((40, 50), res=2.0)
    geoms = []
    for _ in range(40):
        x, y = rng.integers(-40, 400) * 0.25, rng.integers(-40, 320) * 0.25  # 1/8 of a 2 m pixel
        w, h = rng.integers(1, 160, 2) * 0.25
        g = shapely.box(X0 + x, Y0 - y - h, X0 + x + w, Y0 - y)
        if rng.random() < 0.4 and w > 2 and h > 2:
            g = g.difference(shapely.box(X0 + x + 0.25, Y0 - y - h + 0.5, X0 + x + w / 2, Y0 - y - 0.75))
        geoms.append(g)
    layer = gpd.GeoDataFrame(geometry=geoms, crs=frame.crs)
    path = write_tif(tmp_path / "v.tif", frame, _raster(rng, frame), nodata=-9999.0)
    ours = onemap.zonal_stats(rioxarray.open_rasterio(path), layer, STATS)
    _assert_close(ours, _exactextract(path, layer, STATS), STATS, rtol=1e-9)


def test_fraction_weights_agree_with_exactextract_on_voronoi_parcels(tmp_path):
    # exactextract keeps coverage fractions in float32 (~6e-8 relative per boundary pixel); ours
    # match shapely's exact intersections to 1e-12 (test_fractions.py), so agreement is ~1e-7
    rng = np.random.default_rng(2)
    frame = frame_at((60, 70), res=2.0)
    layer = voronoi_parcels(rng, frame, 70)
    path = write_tif(tmp_path / "v.tif", frame, _raster(rng, frame, dtype="float32"), nodata=-9999.0)
    ours = onemap.zonal_stats(rioxarray.open_rasterio(path), layer, STATS)
    assert ours.index.equals(layer.index)
    _assert_close(ours, _exactextract(path, layer, STATS), STATS, rtol=3e-7)


@pytest.mark.parametrize("rule", ["centre", "all_touched"])
def test_centre_and_all_touched_equal_rasterstats(tmp_path, rule):
    rng = np.random.default_rng(3)
    frame = frame_at((45, 55), res=2.0)
    layer = pd.concat([voronoi_parcels(rng, frame, 50), random_layer(rng, frame, 15).set_index(
        pd.Index([f"R{i}" for i in range(15)]))])  # overlapping and partly outside polygons too
    data = _raster(rng, frame)
    path = write_tif(tmp_path / "v.tif", frame, data, nodata=-9999.0)
    stats = ["count", "sum", "mean", "min", "max", "std", "majority", "minority", "nodata", "outside"]
    ours = onemap.zonal_stats(rioxarray.open_rasterio(path), layer, stats, weights=rule)
    ref = _rasterstats(path, layer, ["count", "sum", "mean", "min", "max", "std", "majority", "minority", "nodata"],
                       -9999.0, all_touched=rule == "all_touched")
    ref.loc[ref["count"] == 0, "sum"] = 0.0  # rasterstats says None, we say 0 for an empty sum
    _assert_close(ours, ref, ["count", "sum", "mean", "min", "max", "std", "majority", "minority"], rtol=1e-12)
    assert ours["count"].dtype == np.int64
    # rasterstats counts pixels beyond the raster as nodata; we count them apart
    if rule == "centre":
        np.testing.assert_array_equal(ours["nodata"] + ours["outside"], ref["nodata"].fillna(0))


def test_zone_raster_equals_scipy_ndimage():
    rng = np.random.default_rng(4)
    frame = frame_at((50, 60), res=2.0)
    data = rng.normal(10.0, 3.0, frame.shape)
    data[rng.random(frame.shape) < 0.05] = np.nan
    zones = rng.integers(-1, 30, frame.shape).astype(np.int32) * 7 + 3  # ids 3, 10, ..., -4 = nodata
    zones[10:20, :] = 1_000_003  # a large id
    ours = onemap.zonal_stats(values_da(frame, data), values_da(frame, zones, nodata=-4),
                              ["count", "sum", "mean", "min", "max", "std", "nodata"])
    labels = np.where((zones != -4) & ~np.isnan(data), zones, 0)
    ids = np.unique(zones[zones != -4])
    assert list(ours.index) == list(ids)
    ref = {"count": ndimage.sum_labels(np.ones_like(data), labels, ids), "sum": ndimage.sum_labels(np.nan_to_num(data), labels, ids),
           "mean": ndimage.mean(np.nan_to_num(data), labels, ids), "min": ndimage.minimum(np.nan_to_num(data), labels, ids),
           "max": ndimage.maximum(np.nan_to_num(data), labels, ids),
           "std": ndimage.standard_deviation(np.nan_to_num(data), labels, ids)}
    for k, v in ref.items():
        np.testing.assert_allclose(ours[k].to_numpy(float), v, rtol=1e-12, err_msg=k)
    nan_per_zone = ndimage.sum_labels(np.isnan(data), np.where(zones != -4, zones, 0), ids)
    np.testing.assert_array_equal(ours["nodata"], nan_per_zone)


def test_zone_ids_must_be_integers_and_grids_must_match():
    frame = frame_at((6, 6), res=1.0)
    values = values_da(frame, np.ones(frame.shape))
    ok = onemap.zonal_stats(values, values_da(frame, np.full(frame.shape, 2.0)), ["count"])
    assert list(ok.index) == [2] and ok["count"].iloc[0] == 36
    with pytest.raises(DataError, match=r"non-integer ids \(e.g. 1.5\)"):
        onemap.zonal_stats(values, values_da(frame, np.full(frame.shape, 1.5)))
    other = frame_at((6, 6), res=1.0, x0=X0 + 1)
    with pytest.raises(FrameError, match="differs from the values' grid"):
        onemap.zonal_stats(values, values_da(other, np.ones(other.shape, dtype=np.int32)))
    with pytest.raises(CRSError, match="zones CRS differs"):
        onemap.zonal_stats(values, values_da(frame_at((6, 6), res=1.0, crs=4528), np.ones((6, 6), np.int32)))
    with pytest.raises(ConfigError, match="needs polygon zones"):
        onemap.zonal_stats(values, values_da(frame, np.ones(frame.shape, np.int32)), weights="fraction")


def test_nodata_nan_outside_and_subpixel_counts():
    frame = frame_at((4, 4), res=2.0)
    data = np.arange(16, dtype=np.float64).reshape(4, 4)
    data[0, 1] = np.nan
    data[2, 2] = -1.0
    zones = gpd.GeoDataFrame(geometry=[
        shapely.box(X0 + 1, Y0 - 4, X0 + 5, Y0),        # half of (0,0), (1,0); all of (0,1) NaN, (1,1); half (0,2),(1,2)
        shapely.box(X0 + 4.5, Y0 - 6.0, X0 + 10, Y0 - 4.0),  # row 2; cols 2 (nodata) 3 and 1 pixel beyond
        shapely.box(X0 + 6.2, Y0 - 1.8, X0 + 6.6, Y0 - 1.0),  # sub-pixel, inside pixel (0, 3)
        shapely.box(X0 + 50, Y0 - 4, X0 + 52, Y0 - 2),    # outside the raster
    ], index=["a", "b", "tiny", "far"], crs=frame.crs)
    got = onemap.zonal_stats(values_da(frame, data, nodata=-1.0), zones,
                             ["count", "nodata", "outside", "sum", "mean", "min"])
    assert got.loc["a", "nodata"] == pytest.approx(1.0)          # the NaN pixel
    assert got.loc["a", "count"] == pytest.approx(3.0)
    assert got.loc["a", "sum"] == pytest.approx(0.5 * 0 + 0.5 * 4 + 5 + 0.5 * 2 + 0.5 * 6)
    assert got.loc["b", "nodata"] == pytest.approx(0.75) and got.loc["b", "count"] == pytest.approx(1.0)
    assert got.loc["b", "outside"] == pytest.approx(1.0) and got.loc["b", "mean"] == 11.0
    assert got.loc["tiny", "count"] == pytest.approx(0.08) and got.loc["tiny", "mean"] == 3.0
    assert got.loc["far", "count"] == 0 and got.loc["far", "outside"] == pytest.approx(1.0)
    assert np.isnan(got.loc["far", "mean"]) and got.loc["far", "sum"] == 0.0
    centre = onemap.zonal_stats(values_da(frame, data, nodata=-1.0), zones, ["count", "nodata", "outside"],
                                weights="centre")
    assert centre.loc["tiny"].tolist() == [0, 0, 0]  # no pixel centre inside: nothing, by that rule
    assert centre.loc["far"].tolist() == [0, 0, 1]
    assert centre.loc["b"].tolist() == [1, 1, 1]


def test_majority_minority_with_fraction_weights_against_numpy():
    rng = np.random.default_rng(6)
    frame = frame_at((30, 30), res=1.0)
    classes = rng.integers(1, 5, frame.shape).astype(np.float32)
    layer = voronoi_parcels(rng, frame, 12)
    got = onemap.zonal_stats(values_da(frame, classes), layer, ["majority", "minority"])
    cov = onemap.coverage_fractions(layer, frame)
    for label in layer.index:
        w = cov.dense(label)
        sums = {v: w[classes == v].sum() for v in np.unique(classes[w > 0])}
        best = max(sums.values())
        worst = min(sums.values())
        assert got.loc[label, "majority"] == min(v for v, s in sums.items() if s == best)
        assert got.loc[label, "minority"] == min(v for v, s in sums.items() if s == worst)


@pytest.mark.parametrize("rule", ["fraction", "centre", "all_touched"])
def test_tiled_and_dask_equal_untiled(rule):
    rng = np.random.default_rng(8)
    frame = frame_at((47, 53), res=2.0)
    layer = voronoi_parcels(rng, frame, 30)
    data = _raster(rng, frame)
    stats = ["count", "nodata", "outside", "sum", "mean", "min", "max", "std", "majority"]
    whole = onemap.zonal_stats(values_da(frame, data, nodata=-9999.0), layer, stats, weights=rule)
    tiled = onemap.zonal_stats(values_da(frame, data, nodata=-9999.0), layer, stats, weights=rule, tile_size=(13, 17))
    lazy = values_da(frame, data, nodata=-9999.0).copy(data=dsa.from_array(data, chunks=(20, 25)))
    chunked = onemap.zonal_stats(lazy, layer, stats, weights=rule)
    for other in (tiled, chunked):
        exact = ["min", "max"] + ([] if rule == "fraction" else ["count", "nodata", "outside", "majority"])
        pd.testing.assert_frame_equal(other[exact], whole[exact])
        pd.testing.assert_frame_equal(other, whole, rtol=1e-12, check_exact=False)


def test_multiband_values_give_band_columns():
    rng = np.random.default_rng(9)
    frame = frame_at((20, 20), res=2.0)
    layer = voronoi_parcels(rng, frame, 8)
    cube = values_da(frame, rng.random((20, 20))).expand_dims(band=["red", "nir"]).copy()
    cube.values[1] *= 10
    got = onemap.zonal_stats(cube, layer, ["mean", "max"])
    assert list(got.columns) == [("red", "mean"), ("red", "max"), ("nir", "mean"), ("nir", "max")]
    alone = onemap.zonal_stats(cube.sel(band="nir"), layer, ["mean", "max"])
    pd.testing.assert_frame_equal(got["nir"], alone, check_names=False)


def test_empty_layer_and_crs_mismatch():
    frame = frame_at((5, 5), res=1.0)
    values = values_da(frame, np.ones(frame.shape))
    empty = onemap.zonal_stats(values, gpd.GeoDataFrame(geometry=[], crs=frame.crs), ["count", "mean"])
    assert empty.empty and list(empty.columns) == ["count", "mean"]
    layer = gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0 - 3, X0 + 3, Y0)], crs=frame.crs)
    with pytest.raises(CRSError, match="zones CRS EPSG:4326 differs"):
        onemap.zonal_stats(values, layer.to_crs(4326))
    again = onemap.zonal_stats(values, layer.to_crs(4326), ["count"], reproject=True)
    assert again["count"].iloc[0] == pytest.approx(9.0, rel=1e-6) and "reprojected" in again.attrs["notes"][0]
    with pytest.raises(ConfigError, match="unknown statistic 'median'"):
        onemap.zonal_stats(values, layer, ["median"])
    with pytest.raises(ConfigError, match="unknown pixel-inclusion rule"):
        onemap.zonal_stats(values, layer, weights="area")
    with pytest.raises(DataError, match="must be a georeferenced xarray.DataArray"):
        onemap.zonal_stats(np.ones((5, 5)), layer)


@pytest.mark.shared_data
def test_real_slope_raster_against_rasterstats_and_exactextract(shared_data):
    slope = shared_data / "geo" / "rasterstats" / "slope.tif"
    da = rioxarray.open_rasterio(slope)
    for name in ("polygons.shp", "polygons_partial_overlap.shp"):
        layer = gpd.read_file(shared_data / "geo" / "rasterstats" / name)
        ours = onemap.zonal_stats(da, layer, STATS + ["nodata", "outside"], weights="centre")
        ref = _rasterstats(str(slope), layer, STATS + ["nodata"], da.rio.nodata)
        _assert_close(ours, ref, STATS, rtol=1e-6)  # rasterstats sums float32 values in float32
        exact = onemap.zonal_stats(da, layer, STATS)
        _assert_close(exact, _exactextract(str(slope), layer, STATS), STATS, rtol=3e-7)
    assert (ours["outside"] > 0).any()  # the partial-overlap polygons stick out of the raster


def test_onemap_scene_dask_backed_with_named_bands(tmp_path):
    import rasterio

    rng = np.random.default_rng(10)
    frame = frame_at((40, 44), res=2.0)
    data = rng.integers(1, 3000, (2, *frame.shape)).astype(np.uint16)
    data[:, :5, :7] = 0  # nodata corner
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", height=frame.height, width=frame.width, count=2, dtype="uint16",
                       crs=frame.crs, transform=frame.transform, nodata=0) as dst:
        dst.write(data)
    layer = voronoi_parcels(rng, frame, 15)
    reference = onemap.zonal_stats(rioxarray.open_rasterio(path), layer, ["count", "nodata", "sum", "max"])
    for masked in (True, False):
        scene = onemap.open_scene(path, bands={1: "red", 2: "nir"}, masked=masked, chunks=16)
        assert scene.chunks is not None  # lazy: computed tile by tile
        got = onemap.zonal_stats(scene, layer, ["count", "nodata", "sum", "max"])
        assert list(got.columns.get_level_values(0).unique()) == ["red", "nir"]
        for band, label in ((0, "red"), (1, "nir")):
            ref = reference[band + 1] if isinstance(reference.columns, pd.MultiIndex) else reference
            pd.testing.assert_frame_equal(got[label], ref, check_names=False, rtol=1e-12)
