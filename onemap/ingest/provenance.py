"""Scene provenance: the files behind a lazy scene, carried by the scene itself.

:func:`onemap.open_scene` and :func:`onemap.align` return scenes whose pixels are read from files
block by block. The recipe for those reads is a :class:`SceneSource`, kept in the scene's
``encoding["onemap_source"]`` (xarray's place for how an array relates to its storage, so it is
not mixed into ``attrs`` and is not written by ``to_netcdf``). It names the dask array it
describes, and :func:`scene_source` (also ``scene.onemap.source``) returns it only while the
scene's pixels are still exactly those reads: a copy, new attributes, renamed or relabelled
bands keep it; arithmetic, ``.isel``, ``.where`` or rechunking give new pixels and it is ``None``.

With it, :func:`onemap.align` re-reads an untouched scene straight from its files onto a new
frame (one resampling, not two) and :func:`onemap.ingest.window.read_window` reads a window
without computing the chunks around it.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """

    parts: tuple[FileInfo, ...]
    indexes: tuple[tuple[int, ...], ...]
    frame: Frame
    masked: bool
    dtype: str
    fill: float | None
    resampling: str
    array_name: str | None = None

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
    return source if name is not None and name == source.array_name else None


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
