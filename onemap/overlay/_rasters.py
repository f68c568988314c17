"""Raster inputs of the zonal functions: values, zone rasters and class rasters as DataArrays.

Reads the grid from the DataArray (onemap scene or ``rioxarray.open_rasterio``), finds its nodata
(explicit argument, then ``attrs["nodata"]``, ``rio.nodata``, ``attrs["_FillValue"]``), and hands
out blocks of it per window as NumPy arrays — a dask-backed array is computed one block at a time,
never as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from ..errors import CRSError, DataError, FrameError
from ..frame import Frame
from . import _zonal_kernels as _z

__all__ = ["RasterInput", "raster_input", "default_tile_size", "zone_values", "dense_index"]


@dataclass(eq=False)
class RasterInput:
    """A 2-D or 3-D (``band, y, x``) raster with its frame and nodata."""

    da: xr.DataArray
    frame: Frame
    bands: list[Any] | None  # None for a 2-D array
    nodata: float | None

    @property
    def n_bands(self) -> int:
        return 1 if self.bands is None else len(self.bands)

    @property
    def is_dask(self) -> bool:
        return self.da.chunks is not None  # not .data: that would load a lazily opened file

    def block(self, window: tuple[int, int, int, int], *, as_float: bool = True) -> np.ndarray:
        """The ``(bands, h, w)`` block of the window in NumPy (float32/64 kept, others float64)."""
        r0, r1, c0, c1 = window
        # index the DataArray, not .data: a lazily opened file then reads only this window
        # (``.data`` would load the whole raster) and a dask array computes only these chunks
        block = np.asarray(self.da.isel(y=slice(r0, r1), x=slice(c0, c1)).values)
        if self.bands is None:
            block = block[np.newaxis]
        if as_float and block.dtype not in (np.float32, np.float64):
            block = block.astype(np.float64)
        return np.ascontiguousarray(block)

    def nodata_args(self) -> tuple[float, bool]:
        """``(nodata, has_nodata)`` for the kernels (NaN is always ignored)."""
        if self.nodata is None or (isinstance(self.nodata, float) and np.isnan(self.nodata)):
            return 0.0, False
        return float(self.nodata), True


def raster_input(values: Any, nodata: float | None = None, what: str = "values") -> RasterInput:
    """Validate a georeferenced DataArray and find its frame and nodata."""
    if not isinstance(values, xr.DataArray):
        raise DataError(f"{what} must be a georeferenced xarray.DataArray, "
                        f"got {type(values).__name__}",
                        hint="open rasters with onemap.open_scene or rioxarray.open_rasterio")
    if "y" not in values.dims or "x" not in values.dims:
        raise DataError(f"{what} needs dims 'y' and 'x', has {values.dims}")
    extra = [d for d in values.dims if d not in ("y", "x")]
    if len(extra) > 1:
        raise DataError(f"{what} has more than one non-spatial dimension: {extra}",
                        hint="select one date/time first, e.g. values.isel(time=0)")
    if extra:
        values = values.transpose(extra[0], "y", "x")
        bands = list(values[extra[0]].values)
    else:
        values = values.transpose("y", "x")
        bands = None
    if values.dtype.kind not in "biuf":
        raise DataError(f"{what} have dtype {values.dtype}, expected numbers")
    try:
        frame = Frame.from_xarray(values)
    except CRSError as exc:
        raise CRSError(f"{what}: {exc.message}", hint=exc.hint) from exc
    return RasterInput(values, frame, bands, _nodata(values) if nodata is None else nodata)


def _nodata(da: xr.DataArray) -> float | None:
    for value in (da.attrs.get("nodata"), _rio_nodata(da), da.attrs.get("_FillValue")):
        if value is not None:
            return value
    return None


def _rio_nodata(da: xr.DataArray) -> Any:
    try:
        return da.rio.nodata
    except Exception:  # rioxarray raises several kinds on unusual attrs
        return None


def default_tile_size(raster: RasterInput, tile_size: Any) -> Any:
    """Tile size for a zonal run: explicit, dask chunks, or 4096 for large in-memory frames."""
    if tile_size is not None:
        return tile_size
    chunks = raster.da.chunks  # None unless dask-backed (raster.is_dask)
    if chunks is not None:
        return (int(chunks[-2][0]), int(chunks[-1][0]))
    h, w = raster.frame.shape
    return None if h * w <= 4096 * 4096 else 4096


def same_grid(a: RasterInput, b: RasterInput, what: str) -> None:
    """Zone/class rasters must be on the values' grid."""
    if not a.frame.crs.equals(b.frame.crs, ignore_axis_order=True):
        raise CRSError(f"{what} CRS differs from the values' CRS",
                       hint="put both on one frame first (onemap.align)")
    if a.frame.shape != b.frame.shape or not a.frame.aligned_with(b.frame) or a.frame != b.frame:
        raise FrameError(f"{what} grid {b.frame!r} differs from the values' grid {a.frame!r}",
                         hint="put both on one frame first (onemap.align)")


def zone_values(raster: RasterInput, window: tuple[int, int, int, int],
                what: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer ids of a zone/class raster block and the mask of pixels that have one.

    Raises :class:`DataError` for ids that are not integers (e.g. 1.5).
    """
    block = raster.block(window, as_float=False)[0]
    valid = np.ones(block.shape, dtype=bool)
    if block.dtype.kind == "f":
        valid &= ~np.isnan(block)
    nan_nodata = isinstance(raster.nodata, float) and np.isnan(raster.nodata)
    if raster.nodata is not None and not nan_nodata:
        valid &= block != raster.nodata
    if block.dtype.kind == "f":
        v = block[valid]
        bad = v != np.round(v)
        if bad.any():
            raise DataError(f"{what} raster holds non-integer ids (e.g. {float(v[bad][0])!r})",
                            hint="zone and class rasters need integer ids; round or classify "
                                 "them first")
        if v.size and (np.abs(v).max() >= 2**53):
            raise DataError(f"{what} ids exceed 2**53 and cannot be held exactly")
    if block.dtype.kind == "b":
        block = block.astype(np.int64)
    return block, valid


def dense_index(block: np.ndarray, valid: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Position of each pixel's id in the sorted array *ids* (``-1`` where invalid or not listed).

    *ids* never holds the nodata value, so a look-up table over the id range needs no mask.
    """
    if len(ids) == 0:
        return np.full(block.shape, -1, dtype=np.int32)
    if ids.dtype.kind in "iu" and int(ids[-1]) - int(ids[0]) < 1 << 24:
        lut = np.full(int(ids[-1]) - int(ids[0]) + 1, -1, dtype=np.int32)
        lut[ids - ids[0]] = np.arange(len(ids), dtype=np.int32)
        return _z.lut_index(np.ascontiguousarray(block), np.int64(ids[0]), lut, 0.0, False)
    out = np.full(block.shape, -1, dtype=np.int32)
    v = (block[valid].astype(np.int64) if block.dtype.kind in "biu"
         else block[valid].astype(np.float64))
    pos = np.searchsorted(ids, v)
    pos = np.minimum(pos, len(ids) - 1)
    found = ids[pos] == v
    out[valid] = np.where(found, pos, -1).astype(np.int32)
    return out


def unique_ids(raster: RasterInput, windows: list[tuple[int, int, int, int]],
               what: str) -> np.ndarray:
    """Sorted distinct ids of a zone/class raster over all windows."""
    found: list[np.ndarray] = []
    for win in windows:
        block, valid = zone_values(raster, win, what)
        v = block[valid]
        if v.dtype.kind in "iu" and v.size:
            lo, hi = int(v.min()), int(v.max())
            if hi - lo < 1 << 24:  # bincount beats sorting for compact id ranges
                counts = np.bincount(v.astype(np.int64) - lo, minlength=hi - lo + 1)
                found.append(np.flatnonzero(counts) + lo)
                continue
        found.append(np.unique(v))
    if not found:
        return np.zeros(0, dtype=np.int64)
    ids = np.unique(np.concatenate(found))
    whole = ids.dtype.kind in "biuf" and np.all(ids == np.round(ids))
    return ids.astype(np.int64) if whole else ids
