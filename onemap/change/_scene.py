"""Scene plumbing shared by the change modules: checks, band roles, grids, sampling, blocks.

Scenes follow the onemap convention: ``xarray.DataArray`` with dims ``("band", "y", "x")``, a
``band`` coordinate of lower-case names, rioxarray georeferencing, ``attrs["nodata"]`` for integer
data (NaN marks nodata in float data), NumPy- or dask-backed. Per-pixel work runs block by block
with the same numba kernels (:func:`map_pair`); global statistics come from a sample of windows
over the whole grid (:mod:`onemap.change._sample`), which does not depend on the chunking.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from .._compute import is_lazy
from ..errors import DataError, FrameError
from ..frame import Frame

ROLES = ("blue", "green", "red", "nir", "swir1")

# a sample of about this many pixels (windows over the whole grid) gives the global statistics
SAMPLE_PIXELS = 1 << 20


def is_dask(da: xr.DataArray) -> bool:
    return is_lazy(da.data)


def as_scene(da: Any, name: str = "scene") -> xr.DataArray:
    """Check that *da* is a scene DataArray; a 2-D ``(y, x)`` array becomes one band."""
    if not isinstance(da, xr.DataArray):
        raise DataError(f"{name} must be an xarray.DataArray with dims (band, y, x), got "
                        f"{type(da).__name__}",
                        hint="open imagery with onemap.open_scene")
    if da.dims == ("y", "x"):
        da = da.expand_dims("band")
    if da.dims != ("band", "y", "x"):
        raise DataError(f"{name} has dims {da.dims}, expected ('band', 'y', 'x')",
                        hint="transpose it: scene.transpose('band', 'y', 'x')")
    if da.dtype.kind not in "uif":
        raise DataError(f"{name} has dtype {da.dtype}; scenes must be numeric")
    return da


def nodata_of(da: xr.DataArray) -> float:
    """The nodata value as float (NaN when none: NaN itself is always nodata)."""
    nd = da.attrs.get("nodata")
    if nd is None:
        nd = da.attrs.get("_FillValue")
    try:
        return float("nan") if nd is None else float(nd)
    except (TypeError, ValueError):
        return float("nan")


def band_position(scene: xr.DataArray, name: str) -> int:
    """0-based position of band *name* (canonical name or sensor suffix); DataError names it."""
    from ..ingest.sensors import band_index

    return band_index(scene, name)


def roles(scene: xr.DataArray, required: Sequence[str], what: str) -> np.ndarray:
    """Band positions of ``blue green red nir swir1`` (-1 when absent); *required* must exist."""
    out = np.full(len(ROLES), -1, np.int64)
    for k, role in enumerate(ROLES):
        try:
            out[k] = band_position(scene, role)
        except DataError as exc:
            if role in required:
                names = scene.coords["band"].values if "band" in scene.coords else []
                have = ", ".join(str(b) for b in names) or "(none)"
                raise DataError(f"{what} needs band {role!r}, the scene has: {have}", feature=role,
                                hint=f"pass imagery with a {role} band (name bands with "
                                     "open_scene(sensor=...)) or choose another method") from exc
    return out


def same_bands(before: xr.DataArray, after: xr.DataArray) -> xr.DataArray:
    """*after* with its bands in the order of *before*'s (DataError when a band is missing)."""
    b1 = [str(b) for b in before.coords["band"].values]
    b2 = [str(b) for b in after.coords["band"].values]
    if b1 == b2:
        return after
    missing = [b for b in b1 if b not in b2]
    if missing:
        raise DataError(f"the after scene lacks band(s) {', '.join(missing)} of the before scene",
                        feature=missing[0],
                        hint="select the common bands of both dates with .sel(band=[...])")
    return after.sel(band=b1)


def frame_of(da: xr.DataArray, name: str) -> Frame:
    try:
        return Frame.from_xarray(da)
    except Exception as exc:
        raise FrameError(f"{name} is not georeferenced ({exc})",
                         hint="open it with onemap.open_scene, or write a CRS and transform with "
                              "da.rio.write_crs(...).rio.write_transform(...)") from exc


def on_one_grid(before: xr.DataArray, after: xr.DataArray, frame: Frame | None,
                resampling: str = "bilinear") -> tuple[xr.DataArray, xr.DataArray, Frame]:
    """Both dates on one grid: checked when *frame* is None, aligned onto *frame* otherwise."""
    fb, fa = frame_of(before, "before"), frame_of(after, "after")
    if frame is None:
        if fb != fa:
            raise FrameError(f"before and after are on different grids: {fb!r} and {fa!r}",
                             hint="put both on one grid first with onemap.align(scene, frame), "
                                  "or pass frame= to align them here")
        return before, after, fb
    if not isinstance(frame, Frame):
        raise FrameError(f"frame must be an onemap.Frame, got {type(frame).__name__}")
    if fb != frame or fa != frame:
        from ..ingest.raster import align

        before = before if fb == frame else align(before, frame, resampling)
        after = after if fa == frame else align(after, frame, resampling)
    return before, after, frame


def chunked_like(before: xr.DataArray, after: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Both NumPy-backed, or both dask-backed with the same (y, x) chunks and one band chunk."""
    if not (is_dask(before) or is_dask(after)):
        return before, after
    ref = before if is_dask(before) else after
    ref_chunks = ref.chunks
    assert ref_chunks is not None  # dask-backed
    chunks: dict[str, Any] = {"band": -1, "y": ref_chunks[1], "x": ref_chunks[2]}
    return before.chunk(chunks), after.chunk(chunks)


def check_mask(mask: Any, shape: tuple[int, int]) -> Any:
    """A ``(y, x)`` exclusion mask (True = exclude) as a NumPy or dask array, or None."""
    if mask is None:
        return None
    m = mask.data if isinstance(mask, xr.DataArray) else mask
    if not is_lazy(m):
        m = np.asarray(m)
    if m.ndim != 2 or tuple(m.shape) != tuple(shape):
        raise DataError(f"mask has shape {tuple(m.shape)}, the scenes {tuple(shape)}",
                        hint="pass a boolean (y, x) mask on the scenes' grid, True = exclude")
    if m.dtype != bool:
        m = m != 0
    return m


def like_grid(data: Any, template: xr.DataArray, attrs: dict | None = None) -> xr.DataArray:
    """A 2-D DataArray on *template*'s grid (coords and georeferencing copied)."""
    coords = {k: template.coords[k] for k in ("y", "x", "spatial_ref") if k in template.coords}
    return xr.DataArray(data, dims=("y", "x"), coords=coords, attrs=dict(attrs or {}))


def area_unit_factor(frame: Frame) -> float | None:
    """Square metres per CRS area unit on a Transverse Mercator plane in metres (Gauss-Kruger,
    UTM), where plane area is true area to 1e-3; None for other CRSs (longitude/latitude, Web
    Mercator, whose "metres" are 1/cos(latitude) long), which measure on the ellipsoid."""
    from ..geometry import is_metric_plane

    crs = frame.crs
    if not is_metric_plane(crs):
        return None
    try:
        f = crs.axis_info[0].unit_conversion_factor
    except (IndexError, AttributeError):
        f = 1.0
    return float(f) ** 2


def pixel_area_m2(frame: Frame) -> float:
    """Area of one pixel in m²: plane area on a metric Transverse Mercator plane, else the
    ellipsoidal area of the frame's central pixel (used for minimum-area filtering only)."""
    f = area_unit_factor(frame)
    if f is not None:
        return frame.pixel_area * f
    import shapely

    from ..geometry import ellipsoidal_area

    r, c = frame.height // 2, frame.width // 2
    t = frame.transform
    x0, y0 = t.c + t.a * c, t.f + t.e * r
    pixel = np.array([shapely.box(x0, y0 + t.e, x0 + t.a, y0)])
    return float(ellipsoidal_area(pixel, frame.crs)[0])
