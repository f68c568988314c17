"""Post-classification comparison: two class maps -> from-to matrix and change masks.

When both dates have been classified (e.g. a land-cover map per date, or the land-use survey
rasterised for date 1 and a classification for date 2), change is read directly from the class
pairs: a from-to (transition) matrix of pixel counts or areas, and the mask of pixels that went
from some classes to others (e.g. anything -> construction land).

Class maps are integer ``(y, x)`` DataArrays (NumPy or dask) on one grid; negative values and
``attrs["nodata"]`` mark pixels without a class.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataError
from . import _kernels as K
from ._scene import frame_of, is_dask, like_grid, pixel_area_m2

__all__ = ["from_to_matrix", "class_change"]


def _class_map(da: Any, name: str) -> xr.DataArray:
    if not isinstance(da, xr.DataArray):
        raise DataError(f"{name} must be an xarray.DataArray (y, x) of class codes, "
                        f"got {type(da).__name__}")
    if da.dims == ("band", "y", "x") and da.sizes["band"] == 1:
        da = da.isel(band=0, drop=True)
    if da.dims != ("y", "x"):
        raise DataError(f"{name} has dims {da.dims}, expected ('y', 'x')",
                        hint="pass one band of class codes")
    if da.dtype.kind not in "iu":
        raise DataError(f"{name} must hold integer class codes, got dtype {da.dtype}",
                        hint="classify first, or cast an integer-valued float map with "
                             ".astype('int32')")
    return da


def _pair(before: Any, after: Any) -> tuple[xr.DataArray, xr.DataArray]:
    b, a = _class_map(before, "before"), _class_map(after, "after")
    if b.shape != a.shape:
        raise DataError(f"class maps differ in shape: {b.shape} and {a.shape}",
                        hint="put both on one grid first (onemap.align with resampling='nearest')")
    if is_dask(b) or is_dask(a):
        ref = b if is_dask(b) else a
        b, a = b.chunk(ref.chunksizes), a.chunk(ref.chunksizes)  # {dim: chunk sizes}
    return b, a


def _valid(arr: np.ndarray, nodata: Any) -> np.ndarray:
    ok = arr >= 0
    if nodata is not None:
        ok &= arr != nodata
    return ok


def _codes(da: xr.DataArray) -> np.ndarray:
    nodata = da.attrs.get("nodata")
    if is_dask(da):
        import dask

        parts = dask.compute(*[dask.delayed(np.unique)(blk)
                               for blk in da.data.to_delayed().ravel()])
        u = np.unique(np.concatenate(parts))
    else:
        u = np.unique(da.values)
    return u[_valid(u, nodata)]


def _lut(top: int, classes: np.ndarray, nodata: Any) -> np.ndarray:
    """Class code -> row/column of the matrix (-1: not reported); codes 0..top."""
    top = int(max(top, classes.max(initial=0))) + 1
    lut = np.full(top, -1, np.int64)
    for i, c in enumerate(classes):
        lut[int(c)] = i
    if nodata is not None and 0 <= int(nodata) < top:
        lut[int(nodata)] = -1
    return lut


def from_to_matrix(before: xr.DataArray, after: xr.DataArray, classes: Iterable[int] | None = None,
                   area: bool = False) -> pd.DataFrame:
    """Transition matrix: rows = class before, columns = class after.

    Parameters
    ----------
    before, after
        Integer class maps ``(y, x)`` on one grid.
    classes
        Class codes to report (default: every code present in either map).
    area
        False: pixel counts (int64). True: areas in m² (needs georeferenced maps).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> b = xr.DataArray(np.array([[1, 1], [2, 2]]), dims=("y", "x"))
    >>> a = xr.DataArray(np.array([[1, 3], [2, 3]]), dims=("y", "x"))
    >>> from_to_matrix(b, a).values.tolist()
    [[1, 0, 1], [0, 1, 1], [0, 0, 0]]
    """
    b, a = _pair(before, after)
    if classes is None:
        cls = np.union1d(_codes(b), _codes(a))
    else:
        cls = np.asarray(list(classes), np.int64)
        if cls.size and cls.min() < 0:
            raise DataError("class codes must be >= 0")
    cls = cls.astype(np.int64)
    n = cls.size
    if is_dask(b):
        import dask

        def part(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            return _count(x, y, cls, b.attrs.get("nodata"), a.attrs.get("nodata"))

        blocks = zip(b.data.to_delayed().ravel(), a.data.to_delayed().ravel(), strict=True)
        parts = dask.compute(*[dask.delayed(part)(x, y) for x, y in blocks])
        counts = np.sum(parts, axis=0) if parts else np.zeros((n, n), np.int64)
    else:
        counts = _count(b.values, a.values, cls, b.attrs.get("nodata"), a.attrs.get("nodata"))
    df = pd.DataFrame(counts, index=pd.Index(cls, name="from"), columns=pd.Index(cls, name="to"))
    if area:
        df = df * pixel_area_m2(frame_of(b, "before"))
        df.attrs["unit"] = "m2"
    else:
        df.attrs["unit"] = "pixels"
    return df


def _count(x: np.ndarray, y: np.ndarray, cls: np.ndarray, nd1: Any, nd2: Any) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.int64)
    y = np.ascontiguousarray(y, dtype=np.int64)
    top = int(max(x.max(initial=0), y.max(initial=0)))
    counts = np.zeros((cls.size, cls.size), np.int64)
    if cls.size:
        K.from_to_kernel(x, y, _lut(top, cls, nd1), _lut(top, cls, nd2), cls.size, counts)
    return counts


def class_change(before: xr.DataArray, after: xr.DataArray, to_classes: Iterable[int],
                 from_classes: Iterable[int] | None = None) -> xr.DataArray:
    """Score of class transitions: 1.0 where a pixel went into *to_classes* (from
    *from_classes*, default any other class), 0.0 elsewhere, NaN where either map has no class.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> b = xr.DataArray(np.array([[1, 5], [2, 5]]), dims=("y", "x"))
    >>> a = xr.DataArray(np.array([[5, 5], [2, -1]]), dims=("y", "x"))
    >>> class_change(b, a, to_classes=[5]).values.tolist()
    [[1.0, 0.0], [0.0, nan]]
    """
    b, a = _pair(before, after)
    to = np.asarray(list(to_classes), np.int64)
    if to.size == 0:
        raise DataError("to_classes is empty",
                        hint="name the class codes a change goes into, e.g. [20]")
    frm = None if from_classes is None else np.asarray(list(from_classes), np.int64)
    nd1, nd2 = b.attrs.get("nodata"), a.attrs.get("nodata")

    def block(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ok = _valid(x, nd1) & _valid(y, nd2)
        hit = np.isin(y, to) & (~np.isin(x, to) if frm is None else np.isin(x, frm))
        return np.where(ok, hit.astype(np.float32), np.float32(np.nan))

    if is_dask(b):
        import dask.array as dsa

        data = dsa.map_blocks(block, b.data, a.data, dtype=np.float32)
    else:
        data = block(b.values, a.values)
    attrs = {"method": "post_classification", "to_classes": to.tolist(),
             "from_classes": None if frm is None else frm.tolist()}
    return like_grid(data, b, attrs).rename("change_score")
