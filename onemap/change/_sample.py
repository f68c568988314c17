"""The global sample behind normalisation coefficients and noise scales.

Statistics must be global (one set of coefficients for the whole county, so the score of a pixel
does not depend on the tiling) but reading the county twice would double the decompression
cost, the floor of a survey. The sample is therefore a regular grid of square windows over the
whole grid, placed from the grid's shape alone (never from the chunks) and read window by window
straight from the files (:func:`onemap.ingest.window.read_windows`): 16 windows of 256² pixels
by default, a few percent of a county's compressed blocks. Scenes with at most ``max_pixels``
pixels are sampled whole.

An exclusion mask given as a function ``mask(before, after) -> DataArray`` (e.g. clouds) is
evaluated on each window with a halo of :data:`HALO` pixels, so neighbourhood tests (cloud extent,
dilation) see the same surroundings as on the full grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from .._compute import is_lazy

WINDOW = 256
HALO = 32


def sample_windows(shape: tuple[int, int], max_pixels: int,
                   size: int = WINDOW) -> list[tuple[slice, slice]]:
    """About ``max_pixels`` pixels as a regular grid of ``size``² windows (or the whole grid).

    Examples
    --------
    >>> sample_windows((100, 100), 10_000)
    [(slice(0, 100, None), slice(0, 100, None))]
    >>> w = sample_windows((4000, 2000), 4 * 256 * 256)   # 3 rows x 2 columns of windows
    >>> len(w), w[0]
    (6, (slice(539, 795, None), slice(372, 628, None)))
    """
    h, w = shape
    if h * w <= max_pixels or h < size or w < size:
        return [(slice(0, h), slice(0, w))]
    k = max(1, math.ceil(max_pixels / (size * size)))
    kr = max(1, min(h // size, round(math.sqrt(k * h / w))))
    kc = max(1, min(w // size, math.ceil(k / kr)))

    def starts(n: int, count: int) -> list[int]:
        return [min(n - size, max(0, round((i + 0.5) * n / count - size / 2)))
                for i in range(count)]

    return [(slice(r, r + size), slice(c, c + size)) for r in starts(h, kr) for c in starts(w, kc)]


def _padded(win: tuple[slice, slice], shape: tuple[int, int],
            halo: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The window grown by *halo* (clipped to the grid) and the core's position inside it."""
    (r, c), (h, w) = win, shape
    r0, c0 = max(0, r.start - halo), max(0, c.start - halo)
    r1, c1 = min(h, r.stop + halo), min(w, c.stop + halo)
    core = (slice(r.start - r0, r.stop - r0), slice(c.start - c0, c.stop - c0))
    return (slice(r0, r1), slice(c0, c1)), core


def _as_window(scene: xr.DataArray, win: tuple[slice, slice], data: np.ndarray) -> xr.DataArray:
    return scene.isel(y=win[0], x=win[1]).copy(data=data)


def read_pair(before: xr.DataArray, after: xr.DataArray, mask: Any, max_pixels: int,
              mask_fn: Callable[[xr.DataArray, xr.DataArray], Any] | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The sample of both dates as ``(band, n)`` arrays and the excluded pixels (or None).

    *mask* is a NumPy/dask ``(y, x)`` boolean array (True = exclude) or None; *mask_fn*, when
    given, is evaluated on each (haloed) window instead.
    """
    from ..ingest.window import read_windows

    shape = (before.shape[1], before.shape[2])  # (y, x) of the (band, y, x) scene
    windows = sample_windows(shape, max_pixels)
    halo = HALO if mask_fn is not None else 0
    grown = [_padded(w, shape, halo) for w in windows]
    outer = [g[0] for g in grown]
    raw_a, raw_b = read_windows(before, outer), read_windows(after, outer)
    cores = [g[1] for g in grown]
    nb = before.shape[0]
    a = np.concatenate([x[:, r, c].reshape(nb, -1)
                        for x, (r, c) in zip(raw_a, cores, strict=True)], axis=1)
    b = np.concatenate([x[:, r, c].reshape(after.shape[0], -1)
                        for x, (r, c) in zip(raw_b, cores, strict=True)], axis=1)
    excluded = None
    if mask_fn is not None:
        parts = []
        for win, (r, c), xa, xb in zip(outer, cores, raw_a, raw_b, strict=True):
            m = mask_fn(_as_window(before, win, xa), _as_window(after, win, xb))
            parts.append(None if m is None
                         else np.asarray(getattr(m, "values", m), bool)[r, c].ravel())
        if any(p is not None for p in parts):
            sizes = [(r.stop - r.start) * (c.stop - c.start) for r, c in windows]
            excluded = np.concatenate([np.zeros(n, bool) if p is None else p
                                       for p, n in zip(parts, sizes, strict=True)])
    elif mask is not None:
        sub = [mask[r, c] for r, c in windows]
        if is_lazy(sub[0]):
            import dask

            sub = list(dask.compute(*sub))
        excluded = np.concatenate([np.asarray(s, bool).ravel() for s in sub])
    return a, b, excluded
