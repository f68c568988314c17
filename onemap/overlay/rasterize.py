"""Rasterise polygon layers on a frame: id/value grids and exact coverage fractions.

:func:`rasterize` burns a layer into an ``xarray.DataArray`` on the frame under an explicit
pixel-inclusion rule; :func:`coverage_fractions` returns, for every polygon, the exact fraction of
each pixel it covers as sparse runs (memory in the number of boundary pixels, not the frame).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from ..errors import DataError, Repair, report_repairs
from ..frame import Frame
from . import _paint_kernels as _paint
from .geometry import as_frame
from .runs import check_rule, layer_runs, prepare_layer, threads_for, windows

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["rasterize", "coverage_fractions", "CoverageFractions"]


def rasterize(layer: gpd.GeoDataFrame | gpd.GeoSeries, frame: Frame | xr.DataArray,
              column: str | None = None, rule: str = "centre", *, fill: float | None = None,
              reproject: bool = False,
              tile_size: int | tuple[int, int] | None = None) -> xr.DataArray:
    """Burn a polygon layer into a grid on *frame*.

    Parameters
    ----------
    layer
        GeoDataFrame (or GeoSeries) of polygons, in the frame's CRS.
    frame
        A :class:`~onemap.Frame`, or a georeferenced DataArray whose grid to use.
    column
        What to burn. ``None``: the feature's *position* in the layer (``int32``, 0-based, ``-1``
        where no polygon; ``layer.index[value]`` gives the label). A numeric column: its values
        (``int32``/``int64``, or ``float64`` with NaN fill). A text/categorical column (e.g.
        land-use codes): category numbers ``int32`` with ``-1`` fill, the labels in
        ``attrs["classes"]``.
    rule
        ``"centre"`` (pixel centre inside; identical to ``rasterio.features.rasterize``),
        ``"all_touched"`` (identical to rasterio's ``all_touched=True``), or ``"fraction"``.
        For centre/all_touched, where polygons overlap the later one wins (as in GDAL).
        ``"fraction"`` returns ``float64``: the covered fraction of each pixel summed over all
        polygons (for a layer without overlaps, the fraction covered by the layer, in [0, 1]);
        with a numeric ``column``, ``Σ fraction x value`` (e.g. the population in each pixel of a
        layer of densities x pixel areas). Per-polygon fractions: :func:`coverage_fractions`.
    fill
        Value where no polygon burns (defaults: ``-1`` for positions and categories, ``0`` for
        integer columns, NaN for float columns; ``"fraction"``: pixels with nothing covered, ``0``).
    reproject
        Reproject a layer whose CRS differs from the frame's (otherwise that is a ``CRSError``).
    tile_size
        Compute tile by tile (``frame.tiles(tile_size)``); the result is identical.

    Returns
    -------
    xarray.DataArray
        dims ``("y", "x")`` on the frame's pixel centres, CRS and transform written with
        rioxarray; ``attrs``: ``rule``, ``nodata`` (the fill), ``repairs``, ``notes``.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from onemap import Frame
    >>> frame = Frame.from_bounds((0, 0, 4, 3), res=1.0, crs=4527)
    >>> layer = gpd.GeoDataFrame({"code": ["0101", "0702"]},
    ...     geometry=[shapely.box(0, 0, 2, 3), shapely.box(2.6, 0.6, 4, 3)], crs=4527)
    >>> rasterize(layer, frame).values
    array([[ 0,  0, -1,  1],
           [ 0,  0, -1,  1],
           [ 0,  0, -1, -1]], dtype=int32)
    >>> rasterize(layer, frame, rule="fraction").values.round(2)
    array([[1.  , 1.  , 0.4 , 1.  ],
           [1.  , 1.  , 0.4 , 1.  ],
           [1.  , 1.  , 0.16, 0.4 ]])
    >>> da = rasterize(layer, frame, column="code", rule="all_touched")
    >>> da.attrs["classes"], int(da[2, 3])
    (['0101', '0702'], 1)
    """
    frame = as_frame(frame)
    rule = check_rule(rule)
    prep = prepare_layer(layer, frame, reproject=reproject)
    values, fill, attrs = _burn_values(layer, column, rule, fill)
    tiles = list(windows(frame, tile_size))
    out: np.ndarray
    if rule == "fraction":
        vals = np.ones(len(prep), dtype=np.float64) if values is None else values.astype(np.float64)
        out = np.empty(frame.shape, dtype=np.float64)
        for win in tiles:
            runs = layer_runs(prep, rule, win)
            with threads_for(_pixels(win)):
                _paint.paint_fractions(runs.offsets, runs.rows, runs.c0, runs.c1, runs.weights,
                                       np.ascontiguousarray(vals[runs.feats]),
                                       _block(out, win, tiles), win[0], win[2])
        if fill is not None and fill != 0:
            out[out == 0.0] = fill  # pixels no polygon covers
    else:
        ids = np.empty(frame.shape, dtype=np.int32)
        for win in tiles:
            runs = layer_runs(prep, rule, win)
            with threads_for(_pixels(win)):
                _paint.paint_ids(runs.offsets, runs.rows, runs.c0, runs.c1,
                                 runs.feats.astype(np.int32), _block(ids, win, tiles),
                                 win[0], win[2], -1)
        if values is None:
            out = ids
        else:
            out = np.where(ids >= 0, values[np.maximum(ids, 0)],
                           np.asarray(fill, dtype=values.dtype))
    attrs.update(rule=rule, nodata=fill, repairs=_report(prep.repairs), notes=list(prep.notes))
    return _wrap(out, frame, attrs, name=column)


def _pixels(win: tuple[int, int, int, int]) -> int:
    return (win[1] - win[0]) * (win[3] - win[2])


def _block(out: np.ndarray, win: tuple[int, int, int, int], tiles: list) -> np.ndarray:
    """The part of *out* a window covers (a view; the kernels write rows of it)."""
    return out if len(tiles) == 1 else out[win[0]:win[1], win[2]:win[3]]


def _burn_values(layer: Any, column: str | None, rule: str,
                 fill: Any) -> tuple[np.ndarray | None, Any, dict]:
    """Per-feature values to burn, the fill, and attrs describing them."""
    if column is None:
        if fill is None:
            fill = 0 if rule == "fraction" else -1
        return None, fill, {}
    if not hasattr(layer, "columns") or column not in layer.columns:
        have = list(getattr(layer, "columns", []))
        raise DataError(f"layer has no column {column!r}", hint=f"use one of {have}")
    col = layer[column]
    if pd.api.types.is_bool_dtype(col.dtype):
        col = col.astype(np.int32)
    if pd.api.types.is_numeric_dtype(col.dtype):
        if rule == "fraction":
            fill = 0.0 if fill is None else fill
            return col.to_numpy(dtype=np.float64, na_value=np.nan), fill, {}
        if pd.api.types.is_integer_dtype(col.dtype) and not col.isna().any():
            arr = col.to_numpy(dtype=np.int64)
            fill = 0 if fill is None else fill
            lo, hi = min(arr.min(initial=0), fill), max(arr.max(initial=0), fill)
            dtype = np.int32 if -(2**31) <= lo and hi < 2**31 else np.int64
            return arr.astype(dtype), fill, {}
        fill = np.nan if fill is None else fill
        return col.to_numpy(dtype=np.float64, na_value=np.nan), fill, {}
    if rule == "fraction":
        raise DataError(f"column {column!r} is not numeric; "
                        "the fraction rule sums fraction x value",
                        hint="use rule='centre' or 'all_touched' to burn categories, "
                             "or coverage_fractions()")
    codes, labels = pd.factorize(col, sort=True)
    fill = -1 if fill is None else fill
    return codes.astype(np.int32), fill, {"classes": [str(v) for v in labels]}


def _report(repairs: list[Repair]) -> list[Repair]:
    return report_repairs(list(repairs), stacklevel=4) if repairs else []


def _wrap(data: np.ndarray, frame: Frame, attrs: dict, name: str | None = None) -> xr.DataArray:
    da = xr.DataArray(data, dims=("y", "x"), coords=frame.coords(), attrs=attrs, name=name)
    da.rio.write_crs(frame.crs, inplace=True)  # inplace: the default deep-copies the grid
    da.rio.write_transform(frame.transform, inplace=True)
    # xarray caches the accessor on the array and the accessor refers back to it: drop that
    # cycle, or the grid is only freed by the cyclic garbage collector, whenever it runs
    getattr(da, "_cache", {}).pop("rio", None)
    return da


# --------------------------------------------------------------------------- coverage fractions


@dataclass(frozen=True, eq=False)
class CoverageFractions:
    """Exact coverage fractions of every polygon of a layer on a frame, as sparse runs.

    Polygon ``i`` (position in the layer) covers, for ``k`` in ``offsets[i]:offsets[i + 1]``,
    the pixels ``(rows[k], col_start[k]:col_stop[k])`` each with fraction ``fraction[k]``.
    Interior pixels are long runs of fraction 1, so memory is O(boundary pixels + rows).
    """

    frame: Frame
    index: pd.Index
    offsets: np.ndarray
    rows: np.ndarray
    col_start: np.ndarray
    col_stop: np.ndarray
    fraction: np.ndarray
    repairs: list[Repair] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.index)

    def pixel_sums(self) -> pd.Series:
        """Σ fraction over each polygon's pixels (its area in pixels, inside the frame)."""
        per_run = self.fraction * (self.col_stop - self.col_start)
        cs = np.concatenate([[0.0], np.cumsum(per_run)])
        return pd.Series(cs[self.offsets[1:]] - cs[self.offsets[:-1]], index=self.index,
                         name="pixels")

    def area(self) -> pd.Series:
        """Σ fraction x pixel area: each polygon's plane area inside the frame (CRS units²)."""
        return (self.pixel_sums() * self.frame.pixel_area).rename("area")

    def to_dataframe(self) -> pd.DataFrame:
        """One row per run: ``zone`` (index label), ``row``, ``col_start``, ``col_stop``,
        ``fraction``."""
        owner = np.repeat(np.arange(len(self)), np.diff(self.offsets))
        return pd.DataFrame({"zone": self.index[owner], "row": self.rows,
                             "col_start": self.col_start, "col_stop": self.col_stop,
                             "fraction": self.fraction})

    def dense(self, zone: Any) -> np.ndarray:
        """The fractions of one polygon (by index label) as a float64 array of the frame's shape."""
        i = self.index.get_loc(zone)
        out = np.zeros(self.frame.shape, dtype=np.float64)
        for k in range(self.offsets[i], self.offsets[i + 1]):
            out[self.rows[k], self.col_start[k]:self.col_stop[k]] = self.fraction[k]
        return out


def coverage_fractions(layer: gpd.GeoDataFrame | gpd.GeoSeries, frame: Frame | xr.DataArray, *,
                       reproject: bool = False, tile_size: int | tuple[int, int] | None = None
                       ) -> CoverageFractions:
    """Exact fraction of each pixel of *frame* covered by each polygon of *layer*.

    For polygons inside the frame, ``Σ fraction x pixel area`` equals the polygon's area to
    about 1e-12 relative; a polygon smaller than a pixel still gets its fractional share.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> from onemap import Frame
    >>> frame = Frame.from_bounds((0, 0, 4, 4), res=2.0, crs=4527)
    >>> layer = gpd.GeoDataFrame(geometry=[shapely.box(1, 1, 4, 2), shapely.box(0.5, 3, 1, 3.5)],
    ...                          crs=4527)
    >>> cov = coverage_fractions(layer, frame)
    >>> cov.area().tolist()
    [3.0, 0.25]
    >>> cov.to_dataframe()
       zone  row  col_start  col_stop  fraction
    0     0    1          0         1    0.2500
    1     0    1          1         2    0.5000
    2     1    0          0         1    0.0625
    """
    frame = as_frame(frame)
    prep = prepare_layer(layer, frame, reproject=reproject)
    parts = []
    for win in windows(frame, tile_size):
        runs = layer_runs(prep, "fraction", win)
        owner = np.repeat(runs.feats, np.diff(runs.offsets))
        parts.append((owner, runs.rows, runs.c0, runs.c1, runs.weights))
    owner, rows, c0, c1, frac = (np.concatenate(a) for a in zip(*parts, strict=True))
    if len(parts) > 1:  # regroup tiles' runs by feature, then row and column
        order = np.lexsort((c0, rows, owner))
        owner, rows, c0, c1, frac = owner[order], rows[order], c0[order], c1[order], frac[order]
    offsets = np.zeros(len(prep) + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=len(prep)), out=offsets[1:])
    return CoverageFractions(frame, prep.index, offsets, rows, c0, c1, frac,
                             _report(prep.repairs), list(prep.notes))
