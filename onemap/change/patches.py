"""Change patches (图斑): labelled pixels -> a GeoDataFrame of polygons with statistics.

Polygons come from :func:`rasterio.features.shapes` run on the label raster with 4-connectivity
(pixel edges), so a component joined only through a corner becomes a MultiPolygon whose parts
touch at that corner (valid, and exactly its pixels). Patches smaller than ``min_area`` are
dropped *before* polygonising. Dask-backed inputs are labelled chunk by chunk with the seam
contract of :mod:`onemap.change.label` and polygonised per chunk; pieces of one patch in several
chunks are merged with :func:`shapely.union_all`. The result does not depend on the chunking.

Columns: ``id`` (1..n in raster order of each patch's first pixel), ``pixels``, ``area_m2``,
``score_mean``, ``score_max``, ``confidence``, ``date_before``, ``date_after``, ``geometry``.
``area_m2`` is the ellipsoidal area on the ellipsoid of the CRS's datum
(:func:`onemap.geometry.ellipsoidal_area`) whatever the CRS, as ``area_m2`` of the verdicts;
``pixels`` times the pixel size is the plane area (``min_area`` is applied to pixel counts).

``confidence`` in [0, 1) says how clearly a patch stands out of the unchanged background:
``1 - exp(-(score_mean - threshold) / noise)``, where ``noise`` is the spread (standard deviation)
of the score over the pixels below the threshold: 0 at the threshold, 0.63 one noise unit above,
0.95 three units above. NaN when no threshold is known.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import xarray as xr
from affine import Affine

from .._compute import is_lazy
from ..errors import DataError
from ..frame import Frame
from ..ingest._warp import _GEOREF_FILTER
from ._scene import frame_of, pixel_area_m2
from .label import border_pairs, label, label_block, label_stats, relabel, resolve

# rasterio's temporary datasets (polygonise, warp) say they have no geotransform: not for the user
warnings.filterwarnings("ignore", *_GEOREF_FILTER)

__all__ = ["patches_from_labels", "patches_from_mask", "COLUMNS"]

COLUMNS = ["id", "pixels", "area_m2", "score_mean", "score_max", "confidence", "date_before",
           "date_after", "geometry"]


def _shapes(lab: np.ndarray, keep: np.ndarray, transform: Affine,
            bbox: dict[str, np.ndarray] | None = None
            ) -> dict[int, list]:
    """Polygons of the labels with ``keep[label]`` True: id -> list of shapely polygons.

    With the labels' bounding boxes (``row_min`` ... ``col_max`` indexed by label - 1), each label
    is polygonised inside its own box: GDAL's polygoniser scans every pixel it is given, and a
    chunk holds a few patches in millions of pixels.
    """
    from rasterio import features

    out: dict[int, list] = {}
    ids = np.flatnonzero(keep)
    if not lab.size or not ids.size:
        return out
    import rasterio

    # no mask= argument: rasterio wraps a mask array into a dataset without a geotransform (and
    # warns). The background (value 0) is polygonised too and dropped; label polygons are the same.
    with rasterio.Env():  # one GDAL environment for all calls, not one each
        if bbox is None:
            src = np.where(keep[lab], lab, 0).astype(np.int32)
            for geom, value in features.shapes(src, connectivity=4, transform=transform):
                if value:
                    out.setdefault(int(value), []).append(shapely.geometry.shape(geom))
            return out
        for k in ids:
            r0, r1 = int(bbox["row_min"][k - 1]), int(bbox["row_max"][k - 1]) + 1
            c0, c1 = int(bbox["col_min"][k - 1]), int(bbox["col_max"][k - 1]) + 1
            sel = (lab[r0:r1, c0:c1] == k).view(np.uint8)
            at = transform @ Affine.translation(c0, r0)
            for geom, value in features.shapes(sel, connectivity=4, transform=at):
                if value:
                    out.setdefault(int(k), []).append(shapely.geometry.shape(geom))
    return out


def _merge(pieces: list) -> Any:
    if len(pieces) == 1:
        return pieces[0]
    return shapely.union_all(pieces)


def _chunk_result(lab: np.ndarray, n: int, score: np.ndarray | None, min_pixels: float,
                  transform: Affine) -> dict[str, Any]:
    """Statistics of the labels present in one chunk and polygons of those that may be kept.

    A label fully inside the chunk is polygonised only if it has ``min_pixels``; one touching
    the chunk's border may continue in a neighbour, so it is always polygonised (the final
    filter uses its global count).
    """
    st = label_stats(lab, n, score)
    present = np.flatnonzero(st["count"]) + 1
    count = st["count"][present - 1]
    mean = st["score_mean"][present - 1] if score is not None else np.full(present.size, np.nan)
    smax = st["score_max"][present - 1] if score is not None else np.full(present.size, np.nan)
    edge = np.zeros(n + 1, bool)
    if lab.size:
        for line in (lab[0], lab[-1], lab[:, 0], lab[:, -1]):
            edge[line] = True
    keep = np.zeros(n + 1, bool)
    keep[present] = (count >= min_pixels) | edge[present]
    keep[0] = False
    return {"ids": present, "count": count, "sum": np.nan_to_num(mean) * count,
            "has_score": ~np.isnan(mean), "max": smax, "shapes": _shapes(lab, keep, transform, st)}


def _assemble(results: list[dict[str, Any]], n: int, frame: Frame, min_pixels: float,
              threshold: float | None, noise: float | None, date_before: Any, date_after: Any,
              attrs: dict) -> gpd.GeoDataFrame:
    count = np.zeros(n + 1, np.int64)
    ssum = np.zeros(n + 1, np.float64)
    scnt = np.zeros(n + 1, np.int64)
    smax = np.full(n + 1, np.nan)
    pieces: dict[int, list] = {}
    for r in results:
        ids = r["ids"]
        count[ids] += r["count"]
        ssum[ids] += r["sum"]
        scnt[ids] += np.where(r["has_score"], r["count"], 0)
        smax[ids] = np.fmax(smax[ids], r["max"])
        for k, polys in r["shapes"].items():
            pieces.setdefault(k, []).extend(polys)
    kept = np.flatnonzero(count[1:] >= min_pixels) + 1 if n else np.empty(0, np.int64)
    kept = kept[count[kept] > 0]
    # canonical form (no collinear vertices, normalised ring order): a patch merged from pieces
    # of several chunks is then the same geometry, vertex for vertex, as one polygonised whole
    merged: Any = np.array([_merge(pieces[int(k)]) for k in kept], dtype=object)
    geoms = list(shapely.normalize(shapely.simplify(merged, 0.0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(scnt[kept] > 0, ssum[kept] / np.maximum(scnt[kept], 1), np.nan)
    area = _geodesic_areas(geoms, frame)  # area_m2 means one thing everywhere: ellipsoidal
    gdf = gpd.GeoDataFrame({
        "id": np.arange(1, kept.size + 1, dtype=np.int64),
        "pixels": count[kept],
        "area_m2": np.asarray(area, np.float64),
        "score_mean": mean,
        "score_max": smax[kept],
        "confidence": confidence(mean, threshold, noise),
        "date_before": date_before,
        "date_after": date_after,
    }, geometry=gpd.GeoSeries(geoms, crs=frame.crs), crs=frame.crs)
    gdf.attrs.update(attrs)
    gdf.attrs.update({"pixel_area_m2": pixel_area_m2(frame), "min_pixels": float(min_pixels)})
    return gdf[COLUMNS]


def confidence(score_mean: np.ndarray, threshold: float | None,
               noise: float | None) -> np.ndarray:
    """``1 - exp(-(score_mean - threshold) / noise)`` clipped to [0, 1); NaN without a threshold.

    Examples
    --------
    >>> confidence(np.array([1.0, 2.0, 4.0]), threshold=1.0, noise=1.0).round(3)
    array([0.   , 0.632, 0.95 ])
    """
    s = np.asarray(score_mean, np.float64)
    if threshold is None or not math.isfinite(float(threshold)):
        return np.full(s.shape, np.nan)
    excess = np.maximum(s - float(threshold), 0.0)
    if noise is None or not math.isfinite(float(noise)) or noise <= 0:
        return np.where(excess > 0, 1.0, 0.0)
    return 1.0 - np.exp(-excess / float(noise))


def _geodesic_areas(geoms: list, frame: Frame) -> np.ndarray:
    from ..geometry import ellipsoidal_area

    return ellipsoidal_area(np.array(geoms, dtype=object), frame.crs)


def _min_pixels(min_area: float, frame: Frame) -> float:
    if min_area is None or min_area <= 0:
        return 1.0
    if not math.isfinite(float(min_area)):
        raise DataError(f"min_area must be a finite area in m², got {min_area!r}")
    # tolerance: 4 pixels of 0.3 m meet a 0.36 m² unit despite rounding
    return max(1.0, float(min_area) / pixel_area_m2(frame) * (1 - 1e-9))


def _grid(da: Any, frame: Frame | None, name: str) -> tuple[Any, Frame]:
    if isinstance(da, xr.DataArray):
        if da.ndim != 2:
            raise DataError(f"{name} must be 2-D (y, x), got dims {da.dims}")
        return da.data, frame if frame is not None else frame_of(da, name)
    if frame is None:
        raise DataError(f"{name} is a plain array: pass frame= to place it",
                        hint="pass the Frame of the grid the array is on")
    return (da if is_lazy(da) else np.asarray(da)), frame  # dask stays lazy: chunk by chunk


def _score_like(score: Any, data: Any, name: str) -> Any:
    if score is None:
        return None
    s = score.data if isinstance(score, xr.DataArray) else score
    if tuple(s.shape) != tuple(data.shape):
        raise DataError(f"score has shape {tuple(s.shape)}, {name} has {tuple(data.shape)}",
                        hint="pass the score on the same grid")
    if is_lazy(data) and not is_lazy(s):
        import dask.array as dsa

        s = dsa.from_array(np.asarray(s), chunks=data.chunks)
    elif is_lazy(data):
        s = s.rechunk(data.chunks)
    return s


def _block_transforms(frame: Frame, chunks: tuple) -> list[list[Affine]]:
    r0 = np.concatenate([[0], np.cumsum(chunks[0])[:-1]])
    c0 = np.concatenate([[0], np.cumsum(chunks[1])[:-1]])
    return [[frame.transform @ Affine.translation(int(c), int(r)) for c in c0] for r in r0]


def patches_from_labels(labels: Any, frame: Frame | None = None, *, score: Any = None,
                        n: int | None = None, min_area: float = 0.0,
                        threshold: float | None = None, noise: float | None = None,
                        date_before: Any = None, date_after: Any = None) -> gpd.GeoDataFrame:
    """Polygons and statistics of labelled patches.

    Parameters
    ----------
    labels
        2-D integer labels (0 background, 1..n), a NumPy array (then pass *frame*) or a DataArray
        on a georeferenced grid (NumPy- or dask-backed).
    frame
        The grid of *labels* (default: from the DataArray).
    score
        Optional change score on the same grid for ``score_mean``/``score_max``/``confidence``.
    n
        Number of labels (default: the maximum label).
    min_area
        Smallest patch to keep, in m²; smaller ones are dropped before polygonising.
    threshold, noise
        The score threshold used and the background noise scale, for ``confidence``.
    date_before, date_after
        Dates written into every row.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per kept patch, renumbered ``1..m`` in label order, in the frame's CRS.

    Examples
    --------
    >>> from onemap import Frame
    >>> f = Frame.from_bounds((39_500_000, 3_300_000, 39_500_040, 3_300_030), res=10, crs=4527)
    >>> lab = np.array([[1, 1, 0, 2],
    ...                 [1, 0, 0, 0],
    ...                 [0, 0, 3, 3]], dtype=np.int32)
    >>> p = patches_from_labels(lab, f, min_area=150)
    >>> p[["id", "pixels", "area_m2"]].round(1).values.tolist()   # on the central meridian
    [[1.0, 3.0, 300.0], [2.0, 2.0, 200.0]]
    >>> p.geometry.area.tolist()
    [300.0, 200.0]
    """
    data, frame = _grid(labels, frame, "labels")
    if data.dtype.kind not in "iu":
        raise DataError(f"labels must be integers, got dtype {data.dtype}",
                        hint="label a boolean mask with onemap.label or use patches_from_mask")
    if tuple(data.shape) != frame.shape:
        raise DataError(f"labels have shape {tuple(data.shape)}, the frame {frame.shape}")
    sc = _score_like(score, data, "labels")
    if n is None:
        top: Any = data.max() if data.size else 0
        n = int(top.compute() if is_lazy(top) else top)
    min_pixels = _min_pixels(min_area, frame)
    attrs = {"threshold": threshold, "noise": noise}
    if not is_lazy(data):
        lab = np.ascontiguousarray(data)
        scv = None if sc is None else np.asarray(sc)
        res = _chunk_result(lab, n, scv, min_pixels, frame.transform)
        return _assemble([res], n, frame, min_pixels, threshold, noise, date_before, date_after,
                         attrs)
    import dask

    tfs = _block_transforms(frame, data.chunks)
    lab_blocks = data.to_delayed()
    sc_blocks = sc.to_delayed() if sc is not None else None
    tasks = [dask.delayed(_chunk_result)(lab_blocks[i, j], n,
                                         None if sc_blocks is None else sc_blocks[i, j],
                                         min_pixels, tfs[i][j])
             for i in range(lab_blocks.shape[0]) for j in range(lab_blocks.shape[1])]
    results = dask.compute(*tasks)
    return _assemble(list(results), n, frame, min_pixels, threshold, noise, date_before,
                     date_after, attrs)


def _seam_summary(block: np.ndarray, connectivity: int) -> dict[str, Any]:
    lab, n, rows, cols = label_block(np.asarray(block, bool), connectivity)
    return {"n": n, "rows": rows, "cols": cols,
            "top": lab[0].copy(), "bottom": lab[-1].copy(), "left": lab[:, 0].copy(),
            "right": lab[:, -1].copy()}


def _final_block(block: np.ndarray, score: np.ndarray | None, table: np.ndarray, offset: int,
                 n: int, connectivity: int, min_pixels: float,
                 transform: Affine) -> dict[str, Any]:
    lab, n_local = label_block(np.asarray(block, bool), connectivity)[:2]  # same labels as pass 1
    final = relabel(lab, table, offset, n_local)  # reads only this chunk's slice of the table
    return _chunk_result(final, n, score, min_pixels, transform)


def _label_tables(summaries: list[list[dict]], chunks: tuple, width: int,
                  connectivity: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Offsets, piece -> final label table and n from the per-chunk seam summaries."""
    nr, nc = len(summaries), len(summaries[0])
    r0 = np.concatenate([[0], np.cumsum(chunks[0])[:-1]]).astype(np.int64)
    c0 = np.concatenate([[0], np.cumsum(chunks[1])[:-1]]).astype(np.int64)
    offsets = np.zeros((nr, nc), np.int64)
    keys, off = [], 0
    for i in range(nr):
        for j in range(nc):
            s = summaries[i][j]
            offsets[i, j] = off
            keys.append((r0[i] + s["rows"]) * width + (c0[j] + s["cols"]))
            off += s["n"]

    def edge(i: int, j: int, side: str) -> np.ndarray:
        line = summaries[i][j][side].astype(np.int64)
        return np.where(line != 0, line + offsets[i, j], 0)

    pairs = [np.empty((0, 2), np.int64)]
    for i in range(1, nr):
        pairs.append(border_pairs(np.concatenate([edge(i - 1, j, "bottom") for j in range(nc)]),
                                  np.concatenate([edge(i, j, "top") for j in range(nc)]),
                                  connectivity))
    for j in range(1, nc):
        pairs.append(border_pairs(np.concatenate([edge(i, j - 1, "right") for i in range(nr)]),
                                  np.concatenate([edge(i, j, "left") for i in range(nr)]),
                                  connectivity))
    all_keys = np.concatenate(keys) if keys else np.empty(0, np.int64)
    table, n = resolve(np.concatenate(pairs), all_keys)
    return offsets, table, n


def patches_from_mask(mask: Any, frame: Frame | None = None, *, score: Any = None,
                      min_area: float = 0.0, connectivity: int = 8,
                      threshold: float | None = None, noise: float | None = None,
                      date_before: Any = None, date_after: Any = None) -> gpd.GeoDataFrame:
    """Connected components of a change mask as patches (see :func:`patches_from_labels`).

    NumPy masks are labelled with :func:`onemap.label`; dask masks chunk by chunk (two passes
    over the chunks, only seam lines and statistics travel), with the same result.

    Examples
    --------
    >>> from onemap import Frame
    >>> f = Frame.from_bounds((39_500_000, 3_300_000, 39_500_030, 3_300_030), res=10, crs=4527)
    >>> m = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=bool)
    >>> p = patches_from_mask(m, f)
    >>> len(p), p.geometry.iloc[0].geom_type, round(float(p.area_m2.iloc[0]), 1)
    (1, 'MultiPolygon', 200.0)
    """
    data, frame = _grid(mask, frame, "mask")
    if tuple(data.shape) != frame.shape:
        raise DataError(f"mask has shape {tuple(data.shape)}, the frame {frame.shape}")
    if not is_lazy(data):
        lab, n = label(np.asarray(data), connectivity)
        return patches_from_labels(lab, frame, score=_score_like(score, lab, "mask"), n=n,
                                   min_area=min_area, threshold=threshold, noise=noise,
                                   date_before=date_before, date_after=date_after)
    import dask

    sc = _score_like(score, data, "mask")
    blocks = data.to_delayed()
    nr, nc = blocks.shape
    summaries = dask.compute(*[dask.delayed(_seam_summary)(blocks[i, j], connectivity)
                               for i in range(nr) for j in range(nc)])
    grid = [list(summaries[i * nc:(i + 1) * nc]) for i in range(nr)]
    offsets, table, n = _label_tables(grid, data.chunks, frame.width, connectivity)
    min_pixels = _min_pixels(min_area, frame)
    tfs = _block_transforms(frame, data.chunks)
    sc_blocks = sc.to_delayed() if sc is not None else None
    tasks = [dask.delayed(_final_block)(blocks[i, j],
                                        None if sc_blocks is None else sc_blocks[i, j],
                                        table, int(offsets[i, j]), n, connectivity, min_pixels,
                                        tfs[i][j])
             for i in range(nr) for j in range(nc)]
    results = dask.compute(*tasks)
    attrs = {"threshold": threshold, "noise": noise}
    return _assemble(list(results), n, frame, min_pixels, threshold, noise, date_before,
                     date_after, attrs)
