"""Warping helpers of :mod:`onemap.ingest.raster`: every resampling goes through GDAL's warper.

Two things make GDAL's output depend on how the destination is cut into pieces: the per-piece
resampling-kernel scale and the approximate coordinate transformer (error <= 0.125 pixel). The
kernel scale is fixed here (``XSCALE``/``YSCALE`` warp options computed once per source, see
:func:`warp_scale`) and the pieces are laid out on a fixed grid anchored at the target frame's
origin (WarpedVRT blocks for files, :data:`WARP_BLOCK` for arrays). So for one source and one
target frame the values do not depend on dask chunks or scheduling. Warping each tile of a frame
separately instead of the whole frame once may differ within the transformer's tolerance.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import xarray as xr
from rasterio.errors import NotGeoreferencedWarning

from ..frame import Frame

__all__ = ["WARP_BLOCK", "warp_scale", "rio_crs", "slice_pad", "warp_array", "reproject_block"]

# rasterio wraps the arrays it warps into temporary datasets and warns, from dask worker threads,
# that they have no geotransform (the transforms are given to it): not for the user. A filter for
# this one rasterio warning, installed once: catch_warnings around each call is process-wide and
# not thread-safe, so a concurrent thread let it through.
_GEOREF_FILTER = ("Dataset has no geotransform", NotGeoreferencedWarning, "rasterio")
warnings.filterwarnings("ignore", *_GEOREF_FILTER)

#: side of the fixed output pieces when warping an array lazily
WARP_BLOCK = 1024
_KERNEL_PAD = {"nearest": 1, "bilinear": 2, "cubic": 3, "cubic_spline": 3, "lanczos": 4}


def rio_crs(crs: Any) -> Any:
    """A rasterio CRS from a pyproj one (through WKT, so custom CRSs survive)."""
    from rasterio.crs import CRS

    return CRS.from_wkt(crs.to_wkt())


def warp_scale(src: Frame, dst: Frame) -> dict[str, float]:
    """GDAL ``XSCALE``/``YSCALE`` warp options: destination pixels per source pixel, measured once
    at the source's centre so that every piece of a warp uses the same resampling kernel."""
    from ..geometry import _transformer

    if src.crs == dst.crs:
        return {"XSCALE": src.res[0] / dst.res[0], "YSCALE": src.res[1] / dst.res[1]}
    left, bottom, right, top = src.bounds
    cx, cy = (left + right) / 2, (bottom + top) / 2
    # cached: a transformer between two datums takes seconds to build, and every window read
    # of a warped scene (the report's chips: hundreds) asks for the same one
    fwd = _transformer(src.crs.to_wkt(), dst.crs.to_wkt())
    X, Y = fwd.transform(cx, cy)
    hx, hy = dst.res[0] / 2, dst.res[1] / 2
    xs, ys = fwd.transform([X - hx, X + hx, X + hx, X - hx], [Y - hy, Y - hy, Y + hy, Y + hy],
                           direction="INVERSE")
    w, h = float(np.ptp(xs)), float(np.ptp(ys))
    if not (np.isfinite(w) and np.isfinite(h) and w > 0 and h > 0):
        return {}
    return {"XSCALE": src.res[0] / w, "YSCALE": src.res[1] / h}


def slice_pad(scene: xr.DataArray, src: Frame, frame: Frame, fill: float) -> xr.DataArray:
    """*scene* (on *src*) cut or padded with *fill* to *frame*, on the same pixel lattice."""
    dc = round((frame.transform.c - src.transform.c) / src.res[0])
    dr = round((src.transform.f - frame.transform.f) / src.res[1])
    h, w = frame.shape
    r0, r1 = max(dr, 0), min(dr + h, src.height)
    c0, c1 = max(dc, 0), min(dc + w, src.width)
    if r1 <= r0 or c1 <= c0:  # no overlap: all fill
        part = scene.isel(y=slice(0, 0), x=slice(0, 0))
        before_y, before_x = h, w
    else:
        part = scene.isel(y=slice(r0, r1), x=slice(c0, c1))
        before_y, before_x = max(0, -dr), max(0, -dc)
    pad = {
        "y": (before_y, h - before_y - part.sizes["y"]),
        "x": (before_x, w - before_x - part.sizes["x"]),
    }
    if any(any(v) for v in pad.values()):
        part = part.pad(pad, mode="constant", constant_values=fill)
    part = part.drop_vars(["y", "x"]).assign_coords(frame.coords())
    return part.astype(scene.dtype, copy=False)


def warp_array(
    scene: xr.DataArray, src: Frame, frame: Frame, resampling: str, fill: float
) -> xr.DataArray:
    """*scene* warped onto *frame*: at once for NumPy data, lazily piece by piece for dask data
    (each piece from the source window that covers it, so memory stays bounded)."""
    lead = scene.shape[:-2]
    dtype = scene.dtype
    scale = warp_scale(src, frame)
    coords = {k: v for k, v in scene.coords.items() if set(v.dims) <= set(scene.dims[:-2])}
    if not type(scene.data).__module__.startswith("dask"):
        data = reproject_block(np.asarray(scene.data), src, frame, resampling, fill, scale)
    else:
        import dask
        import dask.array as dsa

        pad = _KERNEL_PAD.get(resampling, 1)
        rows = []
        for r0 in range(0, frame.height, WARP_BLOCK):
            row = []
            for c0 in range(0, frame.width, WARP_BLOCK):
                sub = frame.subframe(slice(r0, r0 + WARP_BLOCK), slice(c0, c0 + WARP_BLOCK))
                win, sub_src = source_window(src, sub, pad, scale)
                if win is None:
                    block = dsa.full((*lead, *sub.shape), fill, dtype=dtype)
                else:
                    task = dask.delayed(reproject_block, pure=True)(
                        scene.data[(..., *win)], sub_src, sub, resampling, fill, scale)
                    block = dsa.from_delayed(task, (*lead, *sub.shape), dtype=dtype)
                row.append(block)
            rows.append(row)
        data = dsa.block(rows)  # nested lists concatenate along the last two axes
    return xr.DataArray(data, dims=scene.dims, coords={**coords, **frame.coords()}, name=scene.name)


def source_window(
    src: Frame, sub: Frame, pad: int, scale: dict[str, float]
) -> tuple[tuple[slice, slice] | None, Frame]:
    """Rows and columns of *src* that can contribute to *sub*, grown by the kernel's reach."""
    from rasterio.warp import transform_bounds

    bbox = transform_bounds(sub.crs, src.crs, *sub.bounds, densify_pts=21)
    # a downsampling kernel reaches 1/scale source pixels
    grow = pad * max(1.0, 1.0 / min(scale.get("XSCALE", 1.0), scale.get("YSCALE", 1.0)))
    rows, cols = src.window(bbox)
    g = int(np.ceil(grow))
    rows = slice(max(0, rows.start - g), min(src.height, rows.stop + g))
    cols = slice(max(0, cols.start - g), min(src.width, cols.stop + g))
    if rows.stop <= rows.start or cols.stop <= cols.start:
        return None, src
    return (rows, cols), src.subframe(rows, cols)


def reproject_block(data: np.ndarray, src: Frame, dst: Frame, resampling: str, fill: float,
                    scale: dict[str, float]) -> np.ndarray:
    """:func:`rasterio.warp.reproject` of an array on *src* to *dst*; *fill* is nodata both ways."""
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    data = np.asarray(data)
    lead = data.shape[:-2]
    flat = data.reshape(-1, *data.shape[-2:])
    out = np.full((flat.shape[0], *dst.shape), fill, dtype=data.dtype)
    if flat.shape[0] and flat.shape[1] and flat.shape[2]:
        # the arrays are georeferenced by the transforms given (see _GEOREF_FILTER)
        reproject(flat, out, src_transform=src.transform, src_crs=rio_crs(src.crs),
                  dst_transform=dst.transform, dst_crs=rio_crs(dst.crs), src_nodata=fill,
                  dst_nodata=fill, resampling=Resampling[resampling], **scale)
    return out.reshape(*lead, *dst.shape)
