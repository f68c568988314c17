"""Scene provenance: the files behind a lazy scene, carried by the scene itself.

:func:`onemap.open_scene` and :func:`onemap.align` return scenes whose pixels are read from files
block by block. The recipe for those reads is a :class:`SceneSource`, kept in the scene's
``encoding["onemap_source"]`` (xarray's place for how an array relates to its storage, so it is
not mixed into ``attrs`` and is not written by ``to_netcdf``). It names the dask array it
describes, and :func:`scene_source` (also ``scene.onemap.source``) returns it only while the
scene's pixels are still exactly those reads: a copy, new attributes, renamed or relabelled
bands keep it, and a window of the scene (``.isel`` of ``y`` and ``x`` by slices,
``rio.clip_box``) gets the source of that window; arithmetic, ``.where``, a selection of bands
or rechunking give new pixels and it is ``None``.

With it, :func:`onemap.align` re-reads an untouched scene straight from its files onto a new
frame (one resampling, not two) and :func:`onemap.ingest.window.read_window` reads a window
without computing the chunks around it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import xarray as xr

from ..frame import Frame
from ._raster_files import FileInfo, file_window, read_part

__all__ = ["SceneSource", "scene_source"]

ENCODING_KEY = "onemap_source"


@dataclass(frozen=True)
class SceneSource:
    """How a scene's pixels are read from its files onto its frame.

    Attributes
    ----------
    parts
        The source files (one :class:`~onemap.ingest._raster_files.FileInfo` per file).
    indexes
        1-based band indexes read from each part, in the scene's band order.
    frame
        The frame the pixels are read onto (the scene's frame).
    masked
        True: float32 with NaN for nodata; False: the files' dtype with *fill* outside them.
    dtype
        The scene's dtype.
    fill
        The value outside the sources when ``masked=False``.
    resampling
        GDAL resampling used where the frame is not on a file's pixel lattice.
    array_name
        The dask name of the pixels this source describes (set by the scene's constructor).
    window
        True for the source of a window cut from a scene (:func:`scene_source`): reads stay in
        its frame, and :func:`onemap.align` warps the window's pixels rather than re-read the
        files beyond it.
    """

    parts: tuple[FileInfo, ...]
    indexes: tuple[tuple[int, ...], ...]
    frame: Frame
    masked: bool
    dtype: str
    fill: float | None
    resampling: str
    array_name: str | None = None
    window: bool = False

    @property
    def nbands(self) -> int:
        return sum(len(i) for i in self.indexes)

    @property
    def paths(self) -> list[str]:
        """The source files' paths."""
        return [str(p.path) for p in self.parts]

    def token(self) -> str:
        """A deterministic token of the reads (files, their modification times, the frame...)."""
        from dask.base import tokenize

        files = [(p.path, p.mtime, p.crs.to_wkt(), tuple(p.frame.transform)) for p in self.parts]
        f = self.frame
        return tokenize(files, self.indexes, f.crs.to_wkt(), tuple(f.transform), f.shape,
                        self.masked, self.dtype, self.fill, self.resampling)

    def read(self, bands: Any, rows: slice, cols: slice, cache: Any = None) -> np.ndarray:
        """The pixels ``[bands, rows, cols]`` read from the files (scene band indexes), through
        a :class:`~onemap.ingest._block_cache.BlockCache` when given."""
        out = [read_part(part, idx, self.frame, rows, cols, masked=self.masked, dtype=self.dtype,
                         fill=self.fill, resampling=self.resampling, cache=cache)
               for part, idx in zip(self.parts, self.indexes, strict=True)]
        data = out[0] if len(out) == 1 else np.concatenate(out, axis=0)
        return data[bands]

    def expect(self, cache: Any, rows: slice, cols: slice) -> None:
        """Tell *cache* (a :class:`~onemap.ingest._block_cache.BlockCache`) that the window
        ``[rows, cols]`` will be read through it."""
        for part, idx in zip(self.parts, self.indexes, strict=True):
            inside = file_window(part, self.frame, rows, cols)
            if inside is not None and cache.caches(part):
                (r0, r1), (c0, c1), _ = inside
                if r1 > r0 and c1 > c0:
                    cache.expect(part, idx, (r0, r1), (c0, c1))


class SourceBlocks:
    """Array-like over a :class:`SceneSource` for :func:`dask.array.from_array`."""

    def __init__(self, source: SceneSource) -> None:
        self.source = source
        self.shape = (source.nbands, *source.frame.shape)
        self.dtype = np.dtype(source.dtype)
        self.ndim = 3

    def __getitem__(self, key: tuple[Any, slice, slice]) -> np.ndarray:
        bands, rows, cols = key
        return self.source.read(bands, rows, cols)


def scene_source(scene: xr.DataArray) -> SceneSource | None:
    """The :class:`SceneSource` behind *scene*, or None when its pixels are no longer the files'.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> scene_source(xr.DataArray(np.zeros((1, 2, 2)), dims=("band", "y", "x"))) is None
    True
    """
    source = scene.encoding.get(ENCODING_KEY)
    if not isinstance(source, SceneSource) or scene.dims != ("band", "y", "x"):
        return None
    name = getattr(scene.data, "name", None)
    if name is None or source.array_name is None:
        return None
    if name == source.array_name:
        return source
    xs, ys = scene.coords.get("x"), scene.coords.get("y")
    if xs is None or ys is None or xs.size == 0 or ys.size == 0:
        return None
    key = (source.array_name, name, float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]))
    with _LOCK:  # read_window asks once a window, from the tile threads: decided once a scene
        if key not in _WINDOWS:
            if len(_WINDOWS) >= 256:
                _WINDOWS.pop(next(iter(_WINDOWS)))
            _WINDOWS[key] = _window_source(source, scene, name)
        return _WINDOWS[key]


_WINDOWS: dict[tuple, SceneSource | None] = {}
_LOCK = threading.Lock()


def _window_source(source: SceneSource, scene: xr.DataArray, name: str) -> SceneSource | None:
    """The source of ``scene`` when it is a window of *source*'s scene (``.isel`` of ``y`` and
    ``x`` by slices, ``rio.clip_box``...), else None. Proven, not guessed: the window is read
    from the scene's coordinates, and dask must give the slice of the source's array by that
    window the very name the scene's pixels have (a slice's name is a hash of the array's name
    and the normalised index, so any other selection, step, band order or operation differs)."""
    import dask.array as dsa

    if scene.shape[0] != source.nbands:
        return None
    try:
        frame = Frame.from_xarray(scene)
    except Exception:  # no usable georeference: not a window of the source
        return None
    whole = source.frame
    if not whole.aligned_with(frame):
        return None
    r0 = round((frame.transform.f - whole.transform.f) / whole.transform.e)
    c0 = round((frame.transform.c - whole.transform.c) / whole.transform.a)
    (h, w), (hh, ww) = frame.shape, whole.shape
    if not (0 <= r0 and r0 + h <= hh and 0 <= c0 and c0 + w <= ww):
        return None
    rows, cols = slice(r0, r0 + h), slice(c0, c0 + w)
    try:
        like = dsa.Array({}, source.array_name, ((source.nbands,), (hh,), (ww,)),
                         dtype=source.dtype)
        if like[:, rows, cols].name != name:
            return None
    except Exception:  # a dask that cannot build the array so: no proof, the dask path reads
        return None
    sub = whole.subframe(rows, cols)
    if not sub.almost_equals(frame, 1e-6):
        return None
    return replace(source, frame=sub, array_name=name, window=True)


@xr.register_dataarray_accessor("onemap")
class OnemapAccessor:
    """``scene.onemap``: onemap's view of a DataArray (registered by importing onemap.ingest)."""

    def __init__(self, obj: xr.DataArray) -> None:
        self._obj = obj

    @property
    def source(self) -> SceneSource | None:
        """The files behind the scene while its pixels are untouched (see :func:`scene_source`)."""
        return scene_source(self._obj)

    @property
    def frame(self) -> Frame:
        """The scene's :class:`~onemap.Frame`."""
        return Frame.from_xarray(self._obj)
