"""Zonal statistics and area by class: how much of each polygon is which value or class.

One pass over the pixels each zone covers (rasterise to runs, then accumulate), tile by tile, with
memory in the number of zones. Zones are polygons (a GeoDataFrame: results are indexed like it)
or a zone raster (an integer DataArray on the values' grid: results are indexed by zone id).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
import xarray as xr

from .._compute import threads
from ..errors import ConfigError, CRSError, DataError, Repair, report_repairs
from . import _zonal_kernels as _z
from ._area_kernels import pair_areas
from ._rasters import (
    RasterInput,
    default_tile_size,
    dense_index,
    raster_input,
    same_grid,
    unique_ids,
    zone_values,
)
from .geometry import flatten_polygons
from .runs import (
    check_rule,
    lattice_pixel_counts,
    layer_runs,
    prepare_layer,
    threads_for,
    windows,
)

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["zonal_stats", "area_by_class", "STATS", "DEFAULT_STATS"]

STATS = ("count", "nodata", "outside", "sum", "mean", "min", "max", "std", "majority", "minority")
DEFAULT_STATS = ("count", "nodata", "outside", "sum", "mean", "min", "max", "std")
_STAT_ALIASES = {"stdev": "std", "mode": "majority", "valid": "count", "nan": "nodata",
                 "total": "sum"}


def _check_stats(stats: Iterable[str] | str) -> list[str]:
    if isinstance(stats, str):
        stats = [stats]
    out = []
    for s in stats:
        key = _STAT_ALIASES.get(str(s).lower(), str(s).lower())
        if key not in STATS:
            raise ConfigError(f"unknown statistic {s!r}", hint=f"use any of {', '.join(STATS)}")
        if key not in out:
            out.append(key)
    if not out:
        raise ConfigError("no statistics requested", hint=f"use any of {', '.join(STATS)}")
    return out


class _Accumulator:
    """Moments and (for majority/minority) value weights of zones, filled window by window."""

    def __init__(self, n_bands: int, n_zones: int, want_modes: bool,
                 nodata: tuple[float, bool]) -> None:
        self.moments = _z.new_moments(n_bands, n_zones)
        self.want_modes = want_modes
        self.nodata, self.has_nodata = nodata
        self.modes: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, offsets, rows, c0, c1, weights, feats, block, r0, col0) -> None:
        with threads_for(block.size):
            _z.run_moments(offsets, rows, c0, c1, weights, feats, block, r0, col0, self.nodata,
                           self.has_nodata, self.moments, threads())
        if self.want_modes:
            for b in range(block.shape[0]):
                voff, vals, wts = _z.run_value_weights(offsets, rows, c0, c1, weights, block[b],
                                                       r0, col0, self.nodata, self.has_nodata)
                self.modes.append((b, np.repeat(feats, np.diff(voff)), vals, wts))

    def modes_of_band(self, b: int, n_zones: int) -> tuple[np.ndarray, np.ndarray]:
        """Majority and minority value per zone (ties: the smallest value; NaN: no valid pixel)."""
        majority = np.full(n_zones, np.nan)
        minority = np.full(n_zones, np.nan)
        parts = [m for m in self.modes if m[0] == b]
        if not parts:
            return majority, minority
        f = np.concatenate([p[1] for p in parts])
        v = np.concatenate([p[2] for p in parts])
        w = np.concatenate([p[3] for p in parts])
        if len(f) == 0:
            return majority, minority
        order = np.lexsort((v, f))
        f, v, w = f[order], v[order], w[order]
        start = np.flatnonzero(np.r_[True, (f[1:] != f[:-1]) | (v[1:] != v[:-1])])
        f, v, w = f[start], v[start], np.add.reduceat(w, start)
        for target, key in ((majority, -w), (minority, w)):
            o = np.lexsort((v, key, f))
            first = o[np.r_[True, f[o][1:] != f[o][:-1]]]
            target[f[first]] = v[first]
        return majority, minority


def zonal_stats(values: xr.DataArray, zones: gpd.GeoDataFrame | xr.DataArray,
                stats: Iterable[str] | str = DEFAULT_STATS, weights: str | None = None, *,
                nodata: float | None = None, reproject: bool = False,
                tile_size: int | tuple[int, int] | None = None) -> pd.DataFrame:
    """Statistics of raster *values* over each zone.

    Parameters
    ----------
    values
        Georeferenced DataArray (an onemap scene, or from ``rioxarray.open_rasterio``): dims
        ``(y, x)`` or ``(band, y, x)``; its CRS and transform are read from it.
    zones
        Polygons (GeoDataFrame in the values' CRS) or a zone raster (integer DataArray on the
        values' grid; nodata/NaN pixels belong to no zone).
    stats
        Any of ``count`` (weight of valid pixels), ``nodata`` (weight of NaN/nodata pixels),
        ``outside`` (weight of the zone's pixels beyond the raster), ``sum``, ``mean``, ``min``,
        ``max``, ``std`` (population), ``majority``/``minority`` (value with the largest/smallest
        weight; ties go to the smallest value).
    weights
        Pixel-inclusion rule for polygons: ``"fraction"`` (default; exact coverage fractions, as
        exactextract — a polygon smaller than a pixel still gets its share), ``"centre"`` (as
        rasterstats) or ``"all_touched"``. Overlapping polygons each get all their pixels. Zone
        rasters count whole pixels (``"centre"``).
    nodata
        Value to ignore besides NaN (default: read from the DataArray).
    reproject
        Reproject polygons in another CRS instead of raising ``CRSError``.
    tile_size
        Process in tiles of this size (default: the dask chunks, or 4096 for large frames);
        results do not depend on it.

    Returns
    -------
    pandas.DataFrame
        One row per zone (indexed like the GeoDataFrame, or by zone id), one column per
        statistic (``(band, stat)`` columns when there are several bands). Counts are float for
        ``"fraction"``, integers otherwise. Empty zones have count 0 and NaN statistics.
        ``attrs``: ``weights``, ``nodata``, ``repairs``, ``notes``.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd, shapely, xarray as xr
    >>> from onemap import Frame
    >>> frame = Frame.from_bounds((0, 0, 4, 2), res=1.0, crs=4527)
    >>> values = xr.DataArray(np.array([[1., 2, 3, 4], [5, 6, np.nan, 8]]), dims=("y", "x"),
    ...                       coords=frame.coords()).rio.write_crs(4527)
    >>> zones = gpd.GeoDataFrame({"name": ["a", "b"]}, index=[10, 20], crs=4527,
    ...                          geometry=[shapely.box(0, 0, 2, 2), shapely.box(2.5, 0, 4.5, 1)])
    >>> zonal_stats(values, zones, ["count", "nodata", "outside", "mean"])
        count  nodata  outside  mean
    10    4.0     0.0      0.0   3.5
    20    1.0     0.5      0.5   8.0
    >>> zonal_stats(values, zones, ["count", "sum"], weights="centre")
        count   sum
    10      4  14.0
    20      1   8.0
    """
    raster = raster_input(values, nodata)
    stats = _check_stats(stats)
    tile_size = default_tile_size(raster, tile_size)
    wins = list(windows(raster.frame, tile_size))
    want_modes = "majority" in stats or "minority" in stats
    repairs: list[Repair] = []
    notes: list[str] = []
    if isinstance(zones, xr.DataArray):
        if weights not in (None, "centre"):
            raise ConfigError(f"weights={weights!r} needs polygon zones; "
                              "a zone raster counts whole pixels",
                              hint="omit weights, or pass the zones as polygons")
        rule = "centre"
        zr = raster_input(zones, what="zones")
        same_grid(raster, zr, "zones")
        ids = unique_ids(zr, wins, "zones")
        acc = _Accumulator(raster.n_bands, len(ids), want_modes, raster.nodata_args())
        feats = np.arange(len(ids), dtype=np.int64)
        for win in wins:
            block, valid = zone_values(zr, win, "zones")
            zoff, rows, c0, c1 = _z.zone_runs(dense_index(block, valid, ids), len(ids),
                                              win[0], win[2])
            if len(rows):
                acc.add(zoff, rows, c0, c1, np.ones(len(rows)), feats, raster.block(win),
                        win[0], win[2])
        index = pd.Index(ids, name=zones.name or "zone")
        total = None
    else:
        rule = check_rule(weights or "fraction")
        prep = prepare_layer(zones, raster.frame, reproject=reproject, what="zones")
        repairs, notes = list(prep.repairs), list(prep.notes)
        acc = _Accumulator(raster.n_bands, len(prep), want_modes, raster.nodata_args())
        for win in wins:
            runs = layer_runs(prep, rule, win)
            if len(runs):
                acc.add(runs.offsets, runs.rows, runs.c0, runs.c1, runs.weights, runs.feats,
                        raster.block(win), win[0], win[2])
        index = prep.index
        total = lattice_pixel_counts(prep, rule) if "outside" in stats else None
    table = _finalize(acc, stats, raster, index, total, integer_counts=rule != "fraction")
    table.attrs.update(weights=rule, nodata=raster.nodata, notes=notes,
                       repairs=report_repairs(repairs, stacklevel=3) if repairs else [])
    return table


def _finalize(acc: _Accumulator, stats: list[str], raster: RasterInput, index: pd.Index,
              total: np.ndarray | None, integer_counts: bool) -> pd.DataFrame:
    m = acc.moments
    n = len(index)
    frames = []
    for b in range(raster.n_bands):
        w, s, m2 = m[b, :, _z.W_], m[b, :, _z.SUM_], m[b, :, _z.M2_]
        empty = w <= 0
        with np.errstate(invalid="ignore", divide="ignore"):
            cols = {
                "count": w,
                "nodata": m[b, :, _z.NODATA_],
                "sum": s,
                "mean": np.where(empty, np.nan, s / w),
                "min": np.where(empty, np.nan, m[b, :, _z.MIN_]),
                "max": np.where(empty, np.nan, m[b, :, _z.MAX_]),
                "std": np.where(empty, np.nan, np.sqrt(np.maximum(m2, 0.0) / w)),
            }
        if "outside" in stats:
            inside = m[0, :, _z.W_] + m[0, :, _z.NODATA_]
            out = np.zeros(n) if total is None else total - inside
            out[np.abs(out) <= 1e-9 * np.maximum(total if total is not None else 0.0, 1.0)] = 0.0
            cols["outside"] = np.maximum(out, 0.0)
        if acc.want_modes:
            cols["majority"], cols["minority"] = acc.modes_of_band(b, n)
        df = pd.DataFrame({k: cols[k] for k in stats}, index=index)
        if integer_counts:
            for k in ("count", "nodata", "outside"):
                if k in df:
                    df[k] = np.rint(df[k].to_numpy()).astype(np.int64)
        frames.append(df)
    if raster.bands is None or len(raster.bands) == 1:
        return frames[0]
    return pd.concat(frames, axis=1, keys=raster.bands, names=["band", "stat"])


# --------------------------------------------------------------------------- area by class


def area_by_class(polygons: gpd.GeoDataFrame | xr.DataArray,
                  classes: xr.DataArray | gpd.GeoDataFrame, column: str | None = None,
                  rule: str = "fraction", *,
                  nodata: float | None = None, reproject: bool = False,
                  tile_size: int | tuple[int, int] | None = None) -> pd.DataFrame:
    """Plane area of each polygon (or zone) per class of a class raster or class polygon layer.

    E.g. approvals x land-use codes: how much cultivated land (0101–0103) each approval took.

    Parameters
    ----------
    polygons
        GeoDataFrame of zones (results are indexed like it), or a zone raster (indexed by id).
    classes
        A class raster (integer DataArray; nodata pixels are unclassified) or a class polygon
        layer (GeoDataFrame). Polygon × polygon areas are exact (see ``_area_kernels``).
    column
        Class column of a class layer (default ``"landuse_code"``).
    rule
        For a class raster: ``"fraction"`` (default, exact pixel shares) or ``"centre"``.
    reproject
        Reproject the class layer (or the polygons, onto a raster's frame) instead of raising
        ``CRSError`` when CRSs differ.

    Returns
    -------
    pandas.DataFrame
        One column per class (sorted) plus ``"unclassified"`` (area over no class: outside the
        raster, nodata, or no class polygon), in CRS units² (m²). Rows sum to each polygon's area
        (for ``"centre"``, its pixel count x pixel area). Use :func:`onemap.overlay_area` with
        ``ellipsoidal=True`` for survey figures.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> landuse = gpd.GeoDataFrame({"landuse_code": ["0101", "0702", "0101"]}, crs=4527,
    ...     geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10),
    ...               shapely.box(0, 10, 20, 20)])
    >>> approvals = gpd.GeoDataFrame(index=["A1", "A2"], crs=4527,
    ...     geometry=[shapely.box(5, 5, 15, 15), shapely.box(18, 8, 25, 9)])
    >>> area_by_class(approvals, landuse)
        0101  0702  unclassified
    A1  75.0  25.0           0.0
    A2   0.0   2.0           5.0
    """
    if isinstance(classes, xr.DataArray):
        table = _by_class_raster(polygons, classes, check_rule(rule), nodata, reproject, tile_size)
    else:
        if isinstance(polygons, xr.DataArray):
            raise DataError("a zone raster can be cross-tabulated with a class raster only",
                            hint="pass the zones as polygons, or rasterize the class layer first")
        table = _by_class_layer(polygons, classes, column, reproject)
    return table


def _by_class_raster(polygons: Any, classes: xr.DataArray, rule: str, nodata: Any, reproject: bool,
                     tile_size: Any) -> pd.DataFrame:
    cr = raster_input(classes, nodata, what="classes")
    wins = list(windows(cr.frame, default_tile_size(cr, tile_size)))
    class_ids = unique_ids(cr, wins, "classes")
    repairs: list[Repair] = []
    notes: list[str] = []
    if isinstance(polygons, xr.DataArray):
        zr = raster_input(polygons, what="zones")
        same_grid(cr, zr, "zones")
        zone_ids = unique_ids(zr, wins, "zones")
        n, index, rule = len(zone_ids), pd.Index(zone_ids, name=polygons.name or "zone"), "centre"
    else:
        prep = prepare_layer(polygons, cr.frame, reproject=reproject, what="polygons")
        n, index, repairs, notes = len(prep), prep.index, list(prep.repairs), list(prep.notes)
    if n * max(len(class_ids), 1) > 200_000_000:
        raise DataError(f"{n} zones x {len(class_ids)} classes is too large a table",
                        hint="classes must be a classified raster (few distinct integer values)")
    table = np.zeros((n, len(class_ids)), dtype=np.float64)
    counted = np.zeros(n, dtype=np.float64)
    for win in wins:
        if isinstance(polygons, xr.DataArray):
            block, valid = zone_values(zr, win, "zones")
            zi = dense_index(block, valid, zone_ids)
            counted += np.bincount(zi[zi >= 0], minlength=n)
            off, rows, c0, c1 = _z.zone_runs(zi, n, win[0], win[2])
            feats, wts = np.arange(n, dtype=np.int64), np.ones(len(rows))
        else:
            runs = layer_runs(prep, rule, win)
            off, rows, c0, c1 = runs.offsets, runs.rows, runs.c0, runs.c1
            feats, wts = runs.feats, runs.weights
            counted[feats] += runs.pixel_counts()
        if len(rows) == 0:
            continue
        block, valid = zone_values(cr, win, "classes")
        _z.run_class_table(off, rows, c0, c1, wts, feats, dense_index(block, valid, class_ids),
                           win[0], win[2], table)
    pixel_area = cr.frame.pixel_area
    total = counted if isinstance(polygons, xr.DataArray) else lattice_pixel_counts(prep, rule)
    return _class_frame(table * pixel_area, total * pixel_area, index, list(class_ids), rule,
                        repairs, notes)


def _by_class_layer(polygons: Any, classes: Any, column: str | None,
                    reproject: bool) -> pd.DataFrame:
    if polygons.crs is None or classes.crs is None:
        raise CRSError("polygons and classes need a CRS", hint="set it with layer.set_crs(...)")
    notes = []
    if not polygons.crs.equals(classes.crs, ignore_axis_order=True):
        if not reproject:
            raise CRSError(f"class layer CRS {classes.crs.to_string()} differs from the polygons' "
                           f"{polygons.crs.to_string()}",
                           hint="pass reproject=True or classes.to_crs(...) first")
        classes = classes.to_crs(polygons.crs)
        notes.append("class layer reprojected to the polygons' CRS")
    column = column or "landuse_code"
    if column not in classes.columns:
        raise DataError(f"class layer has no column {column!r}",
                        hint="pass column= one of "
                             f"{[c for c in classes.columns if c != classes.geometry.name]}")
    fa = flatten_polygons(polygons, source="polygons")
    codes, labels = pd.factorize(classes[column], sort=True)
    table = np.zeros((len(fa), len(labels)), dtype=np.float64)
    repairs = list(fa.repairs)
    ok_a = np.flatnonzero(~fa.empty())
    if len(ok_a) and len(classes):
        # only class polygons near some zone are repaired and flattened (bounding boxes first)
        tree = shapely.STRtree(np.asarray(classes.geometry.values, dtype=object))
        # envelopes meet
        qa, qb = tree.query(np.asarray(polygons.geometry.values, dtype=object)[ok_a])
        is_near = np.zeros(len(classes), dtype=bool)
        is_near[qb] = True
        near = np.flatnonzero(is_near)
        fb = flatten_polygons(classes.geometry.iloc[near], source="classes")
        repairs += fb.repairs
        ia, ib = ok_a[qa], (np.cumsum(is_near) - 1)[qb]  # position among the near class polygons
        code = codes[near][ib]
        keep = ~fb.empty()[ib] & (code >= 0)
        ia, ib, code = ia[keep], ib[keep], code[keep]
        with threads_for(len(ia), 2000):
            areas = pair_areas(ia, ib, fa.x, fa.y, fa.ring_offsets, fa.part_offsets,
                               fa.feature_offsets, fa.bounds, fb.x, fb.y, fb.ring_offsets,
                               fb.part_offsets, fb.feature_offsets, fb.bounds)
        table += np.bincount(ia * len(labels) + code, weights=areas,
                             minlength=table.size).reshape(table.shape)
    over = table.sum(axis=1) - fa.area
    overlapping = over > 1e-9 * np.maximum(fa.area, 1.0)
    if overlapping.any():
        notes.append(f"class polygons overlap inside {int(overlapping.sum())} "
                     "polygon(s): their class areas add up to more than the polygon")
    return _class_frame(table, fa.area, fa.index, [str(v) for v in labels], "exact", repairs, notes)


def _class_frame(table: np.ndarray, total: np.ndarray, index: pd.Index, labels: list[Any],
                 rule: str, repairs: list[Repair], notes: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(table, index=index, columns=pd.Index(labels, name="class"))
    rest = total - table.sum(axis=1)
    rest[np.abs(rest) <= 1e-9 * np.maximum(total, 1.0)] = 0.0
    df["unclassified"] = np.maximum(rest, 0.0)
    df.columns.name = None
    df.attrs.update(rule=rule, unit="CRS units² (plane area)", notes=notes,
                    repairs=report_repairs(repairs, stacklevel=4) if repairs else [])
    return df
