"""Imagery: open_scene, align and stack on GeoTIFFs (and ENVI) that went wrong on the way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from onemap import Frame, align, open_scene, stack
from onemap.errors import CRSError, DataError, FormatError, FrameError

from . import Case
from ._build import RES, SIZE, pixels, transform, write_text, write_tif


def _cut(path: Path, keep: float) -> Path:
    """Keep the first *keep* fraction of the file's bytes: a half-finished download."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _truncated_tiled(d: Path) -> Path:
    return _cut(write_tif(d / "GF2_20240901.tif", pixels(), tiled=True, compress="deflate"), 0.5)


def _truncated_strips(d: Path) -> Path:
    return _cut(write_tif(d / "GF2_20240901.tif", pixels()), 0.75)


def _corrupt_block(d: Path) -> Path:
    """Bytes in the middle of the compressed tiles overwritten: the header is fine, pixels are not."""
    path = write_tif(d / "GF2_20240901.tif", pixels(), tiled=True, compress="deflate")
    data = bytearray(path.read_bytes())
    start = len(data) // 3
    data[start:start + 2000] = b"\xab" * 2000
    path.write_bytes(bytes(data))
    return path


def _html_page(d: Path) -> Path:
    return write_text(d / "GF2_20240901.tif", "<html><head><title>403 Forbidden</title></head>"
                                               "<body>签名已过期 (signature expired)</body></html>\n")


def _envi_cut(d: Path) -> Path:
    path = d / "ZY3_20240901.dat"
    with rasterio.open(path, "w", driver="ENVI", width=SIZE, height=SIZE, count=4, dtype="uint16",
                       crs="EPSG:4527", transform=transform()) as dst:
        dst.write(pixels())
    return _cut(path, 0.6)


def _two_files(d: Path, crs_b: str, transform_b: Affine | None = None, bands_b: int = 4):
    write_tif(d / "GF2_20240901.tif", pixels(seed=1))
    write_tif(d / "GF2_20250901.tif", pixels(count=bands_b, seed=2), crs=crs_b, transform_=transform_b)
    return d


UTM = "EPSG:32650"  # where the image company delivered the second date
UTM_T = Affine(RES, 0, 500_000.0, 0, -RES, 3_300_128.0)


def _stack_dates(folder: Path, second: dict | None = None):
    a = open_scene(folder / "GF2_20240901.tif", sensor="gf2")
    b = open_scene(folder / "GF2_20250901.tif", **(second or {"sensor": "gf2"}))
    return stack([a, b])


def _stack_aligned_check(result) -> None:
    assert list(result.band.values) == ["blue", "green", "red"] and result.sizes["time"] == 2
    assert np.array_equal(result.isel(time=1).values, pixels(count=3, seed=2).astype("float32"))
    assert np.array_equal(result.isel(time=0).values, pixels(seed=1)[:3].astype("float32"))


def _band_files(d: Path) -> Path:
    write_tif(d / "S2_20240901_B02.tif", pixels(count=1, seed=3))
    write_tif(d / "S2_20240901_B03.tif", pixels(count=1, seed=4), crs=UTM, transform_=UTM_T)
    return d


def _open_band_files(folder: Path):
    return open_scene(sorted(folder.glob("*.tif")))


def _shifted_align_stack(folder: Path):
    a = open_scene(folder / "GF2_20240901.tif", sensor="gf2")
    b = open_scene(folder / "GF2_20250901.tif", sensor="gf2")
    frame = Frame.from_xarray(a)
    return stack([a, align(b, Frame(frame.crs, frame.transform @ Affine.translation(3, 0), frame.shape))])


CASES = [
    # ---------------------------------------------------------------- files
    Case("raster_missing_file", lambda d: d / "GF2_20240901.tif", open_scene, FormatError,
         ("GF2_20240901.tif", "not found", "check the path")),
    Case("raster_zero_byte_file", lambda d: write_text(d / "GF2_20240901.tif", ""), open_scene, FormatError,
         ("GF2_20240901.tif", "empty (0 bytes)", "download it again")),
    Case("raster_not_a_tiff", _html_page, open_scene, FormatError,
         ("GF2_20240901.tif", "cannot open raster", "not recognized", "complete raster")),
    Case("raster_truncated_tiled_compressed", _truncated_tiled, open_scene, FormatError,
         ("GF2_20240901.tif", "file is truncated", "but the file has", "download the file again")),
    Case("raster_truncated_strips", _truncated_strips, open_scene, FormatError,
         ("GF2_20240901.tif", "file is truncated", "download the file again")),
    Case("raster_truncated_in_header", lambda d: _cut(write_tif(d / "GF2_20240901.tif", pixels()), 0.001),
         open_scene, FormatError, ("GF2_20240901.tif", "cannot open raster", "complete raster")),
    Case("raster_corrupt_compressed_block", _corrupt_block, lambda p: open_scene(p).compute(), FormatError,
         ("GF2_20240901.tif", "cannot read pixels (rows", "corrupt", "copy it again")),
    Case("raster_envi_truncated", _envi_cut, open_scene, FormatError,
         ("ZY3_20240901.dat", "file is truncated", "the header describes", "copy the data file again")),
    # ---------------------------------------------------------------- georeferencing
    Case("raster_without_crs", lambda d: write_tif(d / "GF2_20240901.tif", pixels(), crs=None), open_scene,
         CRSError, ("GF2_20240901.tif", "has no CRS", "crs=", "gdal_edit.py -a_srs")),
    Case("raster_without_georeferencing",
         lambda d: write_tif(d / "GF2_20240901.tif", pixels(), crs=None, transform_=Affine.identity()),
         open_scene, CRSError, ("GF2_20240901.tif", "no georeferencing", "gdal_translate -a_ullr")),
    Case("raster_prefixed_eastings_labelled_geographic",
         lambda d: write_tif(d / "GF2_20240901.tif", pixels(), crs="EPSG:4490"), open_scene, CRSError,
         ("GF2_20240901.tif", "zone-prefixed Gauss-Kruger eastings of zone 39", ("'China Geodetic Coordinate System "
                                                                             "2000' (declared by the file)"), "crs=onemap.crs.gk_crs(39) (EPSG:4527)")),
    Case("raster_projected_labelled_geographic",
         lambda d: write_tif(d / "GF2_20240901.tif", pixels(), crs="EPSG:4490", transform_=transform(x0=500_000.0)),
         open_scene, CRSError, ("GF2_20240901.tif", "look projected", "is geographic", "pass crs=")),
    Case("raster_unprefixed_eastings_under_prefixed_crs_argument",
         lambda d: write_tif(d / "GF2_20240901.tif", pixels(), crs=None, transform_=transform(x0=500_000.0)),
         lambda p: open_scene(p, crs=4527), CRSError,
         ("GF2_20240901.tif", "carry no zone prefix", "(given with crs=)", "gk_crs(39, prefix=False) (EPSG:4548)")),
    Case("raster_dates_in_different_crs_stack", lambda d: _two_files(d, UTM, UTM_T), _stack_dates, FrameError,
         ("GF2_20250901.tif", "another CRS than scene 0 (GF2_20240901.tif", "align")),
    Case("raster_dates_on_shifted_grid_stack", lambda d: _two_files(d, "EPSG:4527"), _shifted_align_stack,
         FrameError, ("GF2_20250901.tif", "another grid", "align every scene to one frame")),
    Case("raster_band_files_in_different_crs", _band_files, _open_band_files, FrameError,
         ("S2_20240901_B03.tif", "bands are in different CRSs", "S2_20240901_B02.tif", "align")),
    # ---------------------------------------------------------------- bands and dates
    # a date delivered without its NIR band: stack keeps the common bands and reports the one dropped
    Case("raster_dates_with_different_band_counts", lambda d: _two_files(d, "EPSG:4527", bands_b=3),
         lambda d: _stack_dates(d, {"bands": {1: "blue", 2: "green", 3: "red"}}), None,
         ("GF2_20240901.tif", "scene 0 bands"), repair="band(s) nir missing from other scenes",
         check=_stack_aligned_check),
    Case("raster_dates_share_no_band", lambda d: _two_files(d, "EPSG:4527", bands_b=3),
         lambda d: _stack_dates(d, {"bands": {1: "band1", 2: "band2", 3: "band3"}}), DataError,
         ("GF2_20240901.tif", "share no band", "blue, green, red, nir", "band1, band2, band3",
          "bands={position: name}")),
    Case("raster_sensor_band_count_mismatch", lambda d: write_tif(d / "GF2_20250901.tif", pixels(count=3)),
         lambda p: open_scene(p, sensor="gf2"), DataError,
         ("GF2_20250901.tif", "file has 3 bands; sensor 'gf2' expects 4", "bands={1: 'blue'")),
    Case("raster_requested_band_missing", lambda d: write_tif(d / "GF2_20240901.tif", pixels()),
         lambda p: open_scene(p, sensor="gf2", bands=["red", "swir1"]), DataError,
         ("GF2_20240901.tif", "no band 'swir1'", "blue, green, red, nir", "sensor=")),
    Case("raster_unreadable_date_argument", lambda d: write_tif(d / "scene.tif", pixels()),
         lambda p: open_scene(p, date="去年秋天"), DataError, ("scene.tif", "cannot read a date", "YYYY-MM-DD")),
    Case("raster_stack_without_dates", lambda d: write_tif(d / "scene.tif", pixels()),
         lambda p: stack([open_scene(p), open_scene(p)]), DataError,
         ("scene.tif", "has no date", "date=")),
]

