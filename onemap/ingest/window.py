"""Read a window of a lazy scene without computing the chunks around it.

Slicing a dask-backed scene and computing it reads every chunk the slice touches, whole. For a
few small windows spread over a county (global statistics, report chips) that is a full pass over
the imagery. :func:`read_window` reads file-backed scenes (from :func:`onemap.open_scene` or
:func:`onemap.align`) straight from their files, window by window; any other DataArray is sliced.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from .._compute import is_lazy, run
from ._block_cache import BlockCache
from .provenance import SourceBlocks, scene_source

__all__ = ["BlockCache", "expect_window", "read_window", "read_windows"]


def _recipe_reader(scene: xr.DataArray) -> SourceBlocks | None:
    source = scene_source(scene)
    return None if source is None else SourceBlocks(source)


def read_window(scene: xr.DataArray, rows: slice, cols: slice,
                cache: BlockCache | None = None) -> np.ndarray:
    """The pixels ``scene[..., rows, cols]`` as a NumPy array, reading only that window.

    Parameters
    ----------
    scene
        A ``(band, y, x)`` or ``(y, x)`` DataArray, NumPy- or dask-backed.
    rows, cols
        Slices with step 1 (or None) in pixel coordinates of the scene.
    cache
        A :class:`~onemap.ingest._block_cache.BlockCache` told of the reads to come
        (:func:`expect_window`): the file blocks that overlapping windows share are decoded
        once. The values are the same with or without it.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> s = xr.DataArray(np.arange(24).reshape(1, 4, 6), dims=("band", "y", "x"))
    >>> read_window(s, slice(1, 3), slice(2, 4)).tolist()
    [[[8, 9], [14, 15]]]
    """
    source = scene_source(scene) if scene.ndim == 3 else None
    if source is not None:
        return source.read(slice(None), rows, cols, cache=cache)
    sub = scene.data[..., rows, cols]
    return np.asarray(sub.compute() if is_lazy(sub) else sub)


def expect_window(scene: xr.DataArray, rows: slice, cols: slice, cache: BlockCache) -> None:
    """Tell *cache* that :func:`read_window` will read ``scene[..., rows, cols]`` through it
    (nothing for a scene not read from files)."""
    source = scene_source(scene) if scene.ndim == 3 else None
    if source is not None:
        source.expect(cache, rows, cols)


def read_windows(scene: xr.DataArray, windows: Sequence[tuple[slice, slice]],
                 threads: int | None = None) -> list[np.ndarray]:
    """:func:`read_window` for many windows; file-backed scenes are read on a thread pool.

    Other dask-backed scenes are computed in one graph, so a chunk under several windows is
    computed once.
    """
    reader = _recipe_reader(scene) if scene.ndim == 3 else None
    if reader is not None:
        # GDAL decompresses without the GIL
        return run(lambda w: reader[slice(None), w[0], w[1]], [(w,) for w in windows], threads)
    parts = [scene.data[..., r, c] for r, c in windows]
    if parts and is_lazy(parts[0]):
        import dask

        parts = list(dask.compute(*parts))
    return [np.asarray(p) for p in parts]
