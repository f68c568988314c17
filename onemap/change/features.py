"""Pixel features of two dates for the trained change detector (:mod:`onemap.change.model`).

From both dates on one grid, per pixel (numba kernels in :mod:`onemap.change._feature_kernels`):

* every band at both dates standardised by the scene's median and robust scale (1.4826 MAD);
* normalised band differences: date 2 mapped onto date 1 by the scene's relative radiometric
  normalisation (PIF, as :func:`onemap.normalize_radiometry`), minus date 1 in noise sigmas, and
  the normalised difference ``(b2 - b1) / (b2 + b1)``;
* indices at both dates and their change where the bands allow: NDVI (red, NIR), an NDBI-like
  ND(SWIR1, NIR), the green leaf index (RGB) and ND(red, blue); brightness at both dates;
* the existing change scores: CVA magnitude and, with green and red bands, ``construction``;
* local mean and spread of the CVA magnitude, brightness change and date-2 brightness in
  windows of radius 2, 6 and 15 pixels;
* PanTex texture (minimum GLCM contrast over 8 displacements in a 7 x 7 window) of the brightness
  at both dates and its change: a built-up texture measure for 0.5-2 m imagery (Pesaresi et al.).

Global statistics (medians, scales, normalisation, noise) come from one window sample of the
whole scene (:mod:`onemap.change._sample`), so they do not depend on the tiling; neighbourhood
features need a halo of :data:`HALO` pixels and give bit-identical values whole or by tiles.
Works with RGB-only imagery and with any number of named bands.

The window statistics and PanTex are sums of values quantised to exact fixed-point integers
(1/4096 of a noise sigma or z unit, clipped to +-32768: :mod:`onemap.change._window_kernels`),
so each costs O(1) per pixel from integral images and a direct sum at one pixel is the same
integer. :meth:`FeaturePlan.at` computes the features of chosen pixels only, bit-identical to
:meth:`FeaturePlan.block`. Feature set ``onemap-pixel-v2`` (v1 summed floats, separably).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import xarray as xr

from ..errors import DataError
from . import _feature_kernels as FK
from . import _kernels as K
from . import _window_kernels as WK
from ._plan import PIF_FRACTION, PIF_ITERATIONS, Plan, _mad_sigma
from ._scene import (
    ROLES,
    SAMPLE_PIXELS,
    as_scene,
    chunked_like,
    is_dask,
    like_grid,
    nodata_of,
    on_one_grid,
    same_bands,
)
from ._scene import roles as band_roles
from .normalize import _coefficients, pair_sample

__all__ = ["FEATURE_SET", "HALO", "FeaturePlan", "pixel_features"]

FEATURE_SET = "onemap-pixel-v2"  # bump when the features change: models record it
RADII = (2, 6, 15)
TEXTURE_RADIUS = 3
HALO = max(max(RADII), TEXTURE_RADIUS + 2)
# what the neighbourhood features of one scattered pixel cost, in dense pixels, where the choice
# matters (measured, load ~2: window look-ups 13 at 1 % of a 1 024² block, 7.5 at 10 %, 2.6 at
# 20 % -- denser is cache-friendlier; PanTex direct sums 14-18 at any share):
# FeaturePlan.at computes them densely beyond 1 / cost of the block (40 %, 6.7 %)
KEPT_SAMPLE = 1 << 15  # sample pixels a plan keeps (FeaturePlan.sample)
WINDOW_AT_COST = 2.5
PANTEX_AT_COST = 15
# channels (by name) whose local mean / spread are features
_WINDOW_CHANNELS = ("cva", "brightness_change", "brightness_1", "brightness_2")  # FK's order
_MEAN_OF = ("cva", "brightness_change", "brightness_2")
_STD_OF = ("cva", "brightness_2")


def _f32(v: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(v, np.float32)


def _as_float(x: np.ndarray, nodata: float) -> np.ndarray:
    """float32 copy with NaN at nodata (the kernels' convention)."""
    out = np.array(x, np.float32)  # always a copy
    if not np.isnan(nodata):
        out[np.asarray(x) == nodata] = np.nan
    return out


class FeaturePlan:
    """Global statistics of a pair of scenes and the feature computation of any window of it.

    Parameters
    ----------
    before, after
        Scenes on one grid (``band, y, x`` with named bands, georeferenced), NumPy or dask.
    mask
        Optional boolean ``(y, x)`` DataArray, True = left out of the global statistics, or a
        function ``mask(before, after)`` giving one (a :class:`~onemap.change.MaskPolicy`),
        evaluated on the sample's windows only.
    frame
        Align both scenes onto this :class:`~onemap.Frame` first (else they must share a grid).
    sample_pixels
        Size of the window sample for the global statistics.
    keep_sample
        Keep a share of that sample (``sample``, up to :data:`KEPT_SAMPLE` pixels: what
        prediction learns of the scene); False (training, which keeps a plan per pair and
        predicts with none of them): ``sample`` is None.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from onemap import Frame
    >>> f = Frame.from_bounds((0, 0, 64, 64), res=1, crs=32650)
    >>> rng = np.random.default_rng(0)
    >>> mk = lambda a: xr.DataArray(a, dims=("band", "y", "x"),
    ...                             coords={"band": ["red", "green", "blue"],
    ...                             **f.coords()}).rio.write_crs(f.crs)
    >>> a = rng.integers(50, 200, (3, 64, 64)).astype("uint8")
    >>> plan = FeaturePlan(mk(a), mk(a))
    >>> feats = plan.compute()
    >>> feats.shape == (len(plan.names), 64, 64), "pantex_2" in plan.names, "ndvi_1" in plan.names
    (True, True, False)
    """

    def __init__(
        self,
        before: xr.DataArray,
        after: xr.DataArray,
        *,
        mask: Any = None,
        sample_pixels: int = SAMPLE_PIXELS,
        frame: Any = None,
        keep_sample: bool = True,
    ) -> None:
        before, after = as_scene(before, "before"), as_scene(after, "after")
        before, after, self.frame = on_one_grid(before, after, frame)
        after = same_bands(before, after)
        self.before, self.after = chunked_like(before, after)
        self.bands = [str(b) for b in before.coords["band"].values]
        self.roles = band_roles(before, (), "the trained detector")
        self.nodata1, self.nodata2 = nodata_of(before), nodata_of(after)
        fn = mask if callable(mask) else None
        a, b, _ = pair_sample(self.before, self.after, None if fn else mask, sample_pixels, fn)
        if a.shape[1] < 2:
            raise DataError(
                "no pixel is valid in both dates: no features can be computed",
                hint="check the nodata values and that both scenes cover the same ground",
            )
        self.med1, self.med2 = np.median(a, axis=1), np.median(b, axis=1)
        self.scl1 = np.array([_mad_sigma(r) for r in a])
        self.scl2 = np.array([_mad_sigma(r) for r in b])
        self.gain, self.offset, *_ = _coefficients(a, b, "pif", PIF_FRACTION, PIF_ITERATIONS)
        self.sigma = np.array(
            [_mad_sigma(r) for r in (self.gain[:, None] * b + self.offset[:, None] - a)]
        )
        h = hashlib.sha256()
        for arr in (a, b):
            h.update(np.ascontiguousarray(arr, np.float64).tobytes())
        self.sample_hash = h.hexdigest()
        # a share of the sample kept for what prediction learns of the scene (the screen's box)
        self.sample: tuple[np.ndarray, np.ndarray] | None = None
        if keep_sample:
            keep = np.linspace(0, a.shape[1] - 1, min(a.shape[1], KEPT_SAMPLE)).astype(np.int64)
            self.sample = (a[:, keep].astype(np.float32), b[:, keep].astype(np.float32))
        self.construction = None
        if self.roles[1] >= 0 and self.roles[2] >= 0 and (self.roles[3] >= 0 or self.roles[0] >= 0):
            self.construction = Plan(
                self.before,
                self.after,
                None,
                "construction",
                "pif",
                mask,
                None,
                None,
                sample_pixels,
                sample=(a, b),  # the same sample: read once
                coefficients=(self.gain, self.offset),  # and normalised once
            )
        self._point_names, self._keep = self._channels()
        # where pixel_channels_kernel writes the index channels kept (-1: dropped)
        base = 4 * len(self.bands) + FK.N_POINT_EXTRA
        self._index_dst = np.full(12, -1, np.int64)
        for pos, c in enumerate(self._keep):
            if c >= base:
                self._index_dst[c - base] = pos
        self.names = self._point_names + self._neighbourhood_names()

    def _channels(self) -> tuple[list[str], list[int]]:
        nb = len(self.bands)
        names = (
            [f"z1_{b}" for b in self.bands]
            + [f"z2_{b}" for b in self.bands]
            + [f"dz_{b}" for b in self.bands]
            + [f"nd_{b}" for b in self.bands]
            + ["cva", "brightness_change", "brightness_1", "brightness_2"]
        )
        keep = list(range(len(names)))
        have = {r: self.roles[k] >= 0 for k, r in enumerate(ROLES)}
        avail = {
            "ndvi": have["red"] and have["nir"],
            "ndbi": have["nir"] and have["swir1"],
            "gli": have["blue"] and have["green"] and have["red"],
            "ndrb": have["red"] and have["blue"],
        }
        base = 4 * nb + FK.N_POINT_EXTRA
        for code, idx in enumerate(FK.INDEX_NAMES):
            if avail[idx]:
                names += [f"{idx}_1", f"{idx}_2", f"{idx}_change"]
                keep += [base + 3 * code + t for t in range(3)]
        if self.construction is not None:
            names.append("construction")
        return names, keep

    def _neighbourhood_names(self) -> list[str]:
        out = [f"mean{r}_{c}" for c in _MEAN_OF for r in RADII]
        out += [f"std{r}_{c}" for c in _STD_OF for r in RADII]
        return out + ["pantex_1", "pantex_2", "pantex_change"]

    # -- computation ---------------------------------------------------------------------------
    def _coefs(self) -> list[np.ndarray]:
        """The per-band statistics as the kernels take them: med1 scl1 med2 scl2 gain offset
        sigma."""
        v = (self.med1, self.scl1, self.med2, self.scl2, self.gain, self.offset, self.sigma)
        return [_f32(x) for x in v]

    def _construction_args(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        p = self.construction
        assert p is not None
        return p.roles, p.role_gain, p.role_offset, p.sigma.astype(np.float32)

    def block(self, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
        """Features ``(n_features, h, w)`` float32 of float32 bands (NaN = nodata).

        Neighbourhood features near the block's edge see only the block: pass a halo of
        :data:`HALO` pixels (or the image edge) around the pixels you keep.
        """
        b1, b2 = _f32(b1), _f32(b2)  # float32 arithmetic, as in at()
        nb, h, w = b1.shape
        out = np.empty((len(self.names), h, w), np.float32)
        m1, s1, m2, s2, g, o, sg = self._coefs()
        FK.pixel_channels_kernel(b1, b2, m1, s1, m2, s2, g, o, sg, self.roles, self._index_dst, out)
        k = len(self._keep)
        if self.construction is not None:
            ro, rg, rf, cs = self._construction_args()
            K.construction_kernel(b1, b2, ro, rg, rf, cs, np.nan, np.nan, 0, h, out[k])
        self._neighbourhood(out[4 * nb : 4 * nb + FK.N_WINDOW_CHANNELS], out, None, None)
        return out

    def at(self, b1: np.ndarray, b2: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Features ``(n_pixels, n_features)`` float32 (C order) of the pixels
        ``(rows[p], cols[p])`` of a block: bit for bit ``self.block(b1, b2)[:, rows, cols].T``.

        *rows*, *cols* index the block itself, halo included (as :meth:`block`'s output). The
        point channels and ``construction`` are computed at those pixels only. The window
        statistics come from integral images of the block's CVA and brightness channels (a
        few operations per block pixel), read at the pixels by 4-corner look-ups, and PanTex
        from direct sums at the pixels -- or, when the pixels exceed 1 / :data:`WINDOW_AT_COST`
        (1 / :data:`PANTEX_AT_COST`) of the block, densely and gathered, which is then cheaper
        (scattered look-ups miss the cache). The same exact integers either way.
        """
        b1, b2, rows, cols, chans = self._at_inputs(b1, b2, rows, cols)
        m1, s1, m2, s2, g, o, sg = self._coefs()
        out = np.empty((rows.size, len(self.names)), np.float32)
        FK.pixel_channels_at_kernel(
            b1, b2, m1, s1, m2, s2, g, o, sg, self.roles, self._index_dst, rows, cols, out
        )
        k = len(self._keep)
        if self.construction is not None:
            col = np.empty(rows.size, np.float32)
            ro, rg, rf, cs = self._construction_args()
            FK.construction_at_kernel(b1, b2, ro, rg, rf, cs, np.nan, np.nan, rows, cols, col)
            out[:, k] = col
        first = len(self._point_names)  # the neighbourhood features come last
        feats = np.empty((len(self.names) - first, rows.size), np.float32)
        self._neighbourhood(chans, feats, rows, cols, first)
        out[:, first:] = feats.T
        return out

    def channels_at(self, b1: np.ndarray, b2: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                    names: list[str]) -> np.ndarray:
        """Only the named features of the pixels, ``(n_pixels, len(names))`` float32: bit for
        bit those columns of :meth:`at`, for the features that need no window statistics --
        ``cva``, ``brightness_change``, ``brightness_1``, ``brightness_2`` and the PanTex
        ones (what the patch stage reads around the candidates: a few of :meth:`at`'s cost).
        """
        cheap = (*_WINDOW_CHANNELS, "pantex_1", "pantex_2", "pantex_change")
        if not set(names) <= set(cheap):
            raise DataError(f"channels_at computes {', '.join(cheap)} only, not "
                            f"{', '.join(sorted(set(names) - set(cheap)))}",
                            hint="use FeaturePlan.at for the other features")
        b1, b2, rows, cols, chans = self._at_inputs(b1, b2, rows, cols)
        got = dict(zip(_WINDOW_CHANNELS, (c[rows, cols] for c in chans), strict=True))
        if any(n.startswith("pantex") for n in names):
            first = self.names.index("pantex_1")  # the PanTex features come last
            tex = np.empty((3, rows.size), np.float32)
            self._neighbourhood(chans, tex, rows, cols, first, windows=False)
            got.update(zip(("pantex_1", "pantex_2", "pantex_change"), tex, strict=True))
        return np.stack([got[n] for n in names], axis=1) if names else np.empty((rows.size, 0))

    def _at_inputs(self, b1: np.ndarray, b2: np.ndarray, rows: np.ndarray, cols: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The checked float32 blocks and int64 pixel indices of :meth:`at`, and the block's
        window channels ``(cva, brightness_change, brightness_1, brightness_2)``."""
        if b1.ndim != 3 or b1.shape != b2.shape or b1.shape[0] != len(self.bands):
            raise DataError(
                f"blocks of shape {b1.shape} and {b2.shape} for {len(self.bands)} bands",
                hint="pass both dates as (band, row, col) arrays of the same shape",
            )
        b1, b2 = _f32(b1), _f32(b2)
        _, h, w = b1.shape
        rows = np.ascontiguousarray(rows, np.int64).ravel()
        cols = np.ascontiguousarray(cols, np.int64).ravel()
        if rows.shape != cols.shape:
            raise DataError(
                f"rows ({rows.size}) and cols ({cols.size}) differ in length",
                hint="pass one row and one column index per pixel",
            )
        if rows.size and (rows.min() < 0 or rows.max() >= h or cols.min() < 0 or cols.max() >= w):
            raise DataError(
                f"pixel indices outside the {h} x {w} block",
                hint="index the block passed (halo included), 0 <= row < h, 0 <= col < w",
            )
        chans = np.empty((FK.N_WINDOW_CHANNELS, h, w), np.float32)
        m1, s1, m2, s2, g, o, sg = self._coefs()
        FK.window_channels_kernel(b1, b2, m1, s1, m2, s2, g, o, sg, chans)
        return b1, b2, rows, cols, chans

    def _neighbourhood(
        self,
        chans: np.ndarray,
        out: np.ndarray,
        rows: np.ndarray | None,
        cols: np.ndarray | None,
        first: int = 0,
        windows: bool = True,
    ) -> None:
        """Window statistics (unless not *windows*) and PanTex from the window channels
        ``(cva, brightness_change, brightness_1, brightness_2)`` of a block into
        ``out[index - first]``: planes ``(h, w)`` densely, or values at ``(rows, cols)`` when
        given."""
        h, w = chans.shape[1:]
        idx = {n: i - first for i, n in enumerate(self.names)}
        src = dict(zip(_WINDOW_CHANNELS, chans, strict=True))
        n = h * w if rows is None else rows.size
        # scattered pixels: direct sums (PanTex) and corner look-ups (windows) cost several
        # dense pixels each, so beyond a share of the block the dense kernels are cheaper
        sparse_windows = n * WINDOW_AT_COST < h * w or not windows
        sparse_pantex = n * PANTEX_AT_COST < h * w
        q = np.empty((h, w), np.int64)
        gather = rows is not None and not (sparse_windows and sparse_pantex)
        plane = np.empty((2, h, w), np.float32) if gather else None  # dense, to gather from
        t = np.empty((h + 1, w + 1, 3) if windows else (1, 1, 3), np.uint64)
        if windows and sparse_windows:
            assert rows is not None and cols is not None
            for c in _MEAN_OF:
                WK.quantise_kernel(src[c], q)
                WK.integrals_kernel(q, t)
                for r in RADII:
                    mean = out[idx[f"mean{r}_{c}"]]
                    std = out[idx[f"std{r}_{c}"]] if c in _STD_OF else np.empty_like(mean)
                    WK.window_stats_at_kernel(q, t, r, rows, cols, mean, std)
        elif windows:
            scratch = np.empty((h, w), np.float32)
            for c in _MEAN_OF:
                WK.quantise_kernel(src[c], q)
                WK.integrals_kernel(q, t)
                for r in RADII:
                    mean = out[idx[f"mean{r}_{c}"]]
                    std = out[idx[f"std{r}_{c}"]] if c in _STD_OF else None
                    if plane is None:
                        WK.window_stats_kernel(q, t, r, mean, scratch if std is None else std)
                        continue
                    WK.window_stats_kernel(q, t, r, plane[0], plane[1])
                    mean[:] = plane[0][rows, cols]
                    if std is not None:
                        std[:] = plane[1][rows, cols]
        pad = TEXTURE_RADIUS + 2  # the largest PanTex displacement
        qp = np.full((h + 2 * pad, w + 2 * pad), WK.QNAN, np.int64) if sparse_pantex else q
        for k in (1, 2):
            dst = out[idx[f"pantex_{k}"]]
            if sparse_pantex:
                WK.quantise_kernel(src[f"brightness_{k}"], qp[pad:-pad, pad:-pad])
                WK.pantex_at_kernel(qp, pad, TEXTURE_RADIUS, WK.PANTEX_OFFSETS, rows, cols, dst)
            else:
                WK.quantise_kernel(src[f"brightness_{k}"], q)
                grey = dst if plane is None else plane[0]
                WK.pantex_kernel(q, TEXTURE_RADIUS, WK.PANTEX_OFFSETS, grey)
                if plane is not None:
                    dst[:] = grey[rows, cols]
        p1, p2, pc = (idx[f"pantex_{x}"] for x in ("1", "2", "change"))
        np.subtract(out[p2], out[p1], out=out[pc])

    def window(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """Features of rows ``r0:r1``, columns ``c0:c1`` (read with a halo clipped to the image)."""
        (R0, C0), b1, b2 = self._halo_read(r0, r1, c0, c1)
        return self.block(b1, b2)[:, r0 - R0 : r1 - R0, c0 - C0 : c1 - C0]

    def window_at(self, r0: int, r1: int, c0: int, c1: int, rows: np.ndarray,
                  cols: np.ndarray) -> np.ndarray:
        """``(n_pixels, n_features)`` of the pixels ``(rows, cols)`` of that window (indices
        within it): bit for bit ``self.window(r0, r1, c0, c1)[:, rows, cols].T``
        (:meth:`at` on the same read)."""
        (R0, C0), b1, b2 = self._halo_read(r0, r1, c0, c1)
        return self.at(b1, b2, np.asarray(rows) + (r0 - R0), np.asarray(cols) + (c0 - C0))

    def _halo_read(self, r0: int, r1: int, c0: int, c1: int) -> tuple:
        """``((R0, C0), b1, b2)``: both dates of the window grown by :data:`HALO` (clipped to
        the image, whose corner is ``(R0, C0)``) as float32 with NaN at nodata."""
        from ..ingest.window import read_window  # file-backed: that window, not whole chunks

        H, (hh, ww) = HALO, self.frame.shape
        R0, R1, C0, C1 = max(r0 - H, 0), min(r1 + H, hh), max(c0 - H, 0), min(c1 + H, ww)
        rows, cols = slice(R0, R1), slice(C0, C1)
        b1 = _as_float(read_window(self.before, rows, cols), self.nodata1)
        b2 = _as_float(read_window(self.after, rows, cols), self.nodata2)
        return (R0, C0), b1, b2

    def windows(self, size: int = 512):
        """``(r0, r1, c0, c1)`` of the square windows that tile the grid, in raster order."""
        h, w = self.frame.shape
        for r0 in range(0, h, size):
            for c0 in range(0, w, size):
                yield r0, min(r0 + size, h), c0, min(c0 + size, w)

    def map_tiles(self, fn: Any, nout: int) -> Any:
        """Apply ``fn(features) -> (nout, h, w)`` tile by tile: a lazy dask array for dask
        scenes (halo exchange with NaN at the grid's edge), a NumPy array otherwise."""
        if not is_dask(self.before):
            out = np.empty((nout,) + self.frame.shape, np.float32)
            for r0, r1, c0, c1 in self.windows():
                out[:, r0:r1, c0:c1] = fn(self.window(r0, r1, c0, c1))
            return out
        import dask.array as dsa

        H = HALO
        depth = {0: 0, 1: H, 2: H}
        x1 = self.before.data.map_blocks(_as_float, self.nodata1, dtype=np.float32)
        x2 = self.after.data.map_blocks(_as_float, self.nodata2, dtype=np.float32)
        g1 = dsa.overlap.overlap(x1, depth=depth, boundary={0: "none", 1: np.nan, 2: np.nan})
        g2 = dsa.overlap.overlap(x2, depth=depth, boundary={0: "none", 1: np.nan, 2: np.nan})

        def tile(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            feats = self.block(np.ascontiguousarray(a), np.ascontiguousarray(b))[:, H:-H, H:-H]
            return np.asarray(fn(feats), np.float32)

        # dask merges chunks thinner than the halo: take the chunks of the overlapped array
        chunks = ((nout,),) + tuple(tuple(c - 2 * H for c in ax) for ax in g1.chunks[1:])
        return dsa.map_blocks(tile, g1, g2, dtype=np.float32, chunks=chunks)

    def compute(self) -> Any:
        """All features ``(n_features, y, x)``: NumPy, or lazy dask for dask scenes."""
        return self.map_tiles(lambda f: f, len(self.names))


def pixel_features(
    before: xr.DataArray,
    after: xr.DataArray,
    *,
    mask: xr.DataArray | None = None,
    sample_pixels: int = SAMPLE_PIXELS,
) -> xr.DataArray:
    """The trained detector's pixel features as a ``(feature, y, x)`` float32 DataArray.

    Lazy (tile by tile with a halo) for dask scenes; the values do not depend on the tiling.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from onemap import Frame
    >>> f = Frame.from_bounds((0, 0, 40, 40), res=2, crs=32650)
    >>> rng = np.random.default_rng(1)
    >>> mk = lambda a: xr.DataArray(a, dims=("band", "y", "x"),
    ...                             coords={"band": ["blue", "green", "red", "nir"],
    ...                             **f.coords()}).rio.write_crs(f.crs)
    >>> a = rng.integers(100, 3000, (4, 20, 20)).astype("uint16")
    >>> fx = pixel_features(mk(a), mk(a))
    >>> float(fx.sel(feature="cva").max()), "ndvi_change" in fx.feature.values.tolist()
    (0.0, True)
    """
    plan = FeaturePlan(before, after, mask=mask, sample_pixels=sample_pixels)
    data = plan.compute()
    grid = like_grid(data[0], plan.before)
    return xr.DataArray(
        data,
        dims=("feature", "y", "x"),
        coords={"feature": plan.names, **{k: v for k, v in grid.coords.items()}},
        attrs={"feature_set": FEATURE_SET},
    ).rename("features")
