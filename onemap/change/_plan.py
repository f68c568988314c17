"""The score plan shared by the change measures: scenes on one grid, band roles, global
normalisation coefficients and noise scales from one sample, and the per-block kernel call.

Scores are in noise units: every difference is divided by 1.4826 x its median absolute deviation
over the scene sample (the spread of the mostly unchanged pixels).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._compute import apply_blocks, is_lazy, run_strips
from ..errors import DataError
from ..frame import Frame
from . import _kernels as K
from ._scene import as_scene, chunked_like, nodata_of, on_one_grid, same_bands
from ._scene import roles as band_roles
from .defaults import resolve_method
from .indices import INDICES
from .normalize import _coefficients, _method, normalize_radiometry, pair_sample

# method -> (index code or None, sign, required bands)
METHODS: dict[str, tuple[int | None, float, tuple[str, ...]]] = {
    "construction": (None, 1.0, ("green", "red")),
    "cva": (None, 1.0, ()),
    "ndvi_diff": (K.NDVI, -1.0, ("red", "nir")),
    "ndbi_diff": (K.NDBI, 1.0, ("nir", "swir1")),
    "brightness_diff": (K.BRIGHTNESS, 1.0, ("green", "red")),
    "index_diff": (None, 1.0, ()),
}
_DIRECTIONS = {"gain": 1.0, "loss": -1.0, "abs": 1.0}

# MAD to standard deviation for normal noise: the noise scale ignores the changed minority
MAD_TO_SIGMA = 1.4826
# the normalisation's pseudo-invariant features: the half of the sample closest to the fitted
# line, refitted three times (as radiometric_coefficients' defaults; changes are a minority)
PIF_FRACTION, PIF_ITERATIONS = 0.5, 3


def _mad_sigma(x: np.ndarray) -> float:
    """Robust noise scale 1.4826 x MAD; the std when over half the values are identical; else 1."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 1.0
    s = MAD_TO_SIGMA * float(np.median(np.abs(x - np.median(x))))
    if s > 0:
        return s
    s = float(x.std())
    return s if s > 0 else 1.0


class Plan:
    """Everything one score computation needs: scenes, roles, coefficients, noise scales."""

    def __init__(self, before: xr.DataArray, after: xr.DataArray, frame: Frame | None, method: str,
                 normalize: Any, mask: Any, index: str | None, direction: str | None,
                 sample_pixels: int, sample: tuple[np.ndarray, np.ndarray] | None = None,
                 coefficients: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """*sample*: the pair's ``pair_sample`` already read with the same mask (a caller that
        has it saves a second read); *coefficients*: the PIF ``(gain, offset)`` of that sample
        when the caller has them (``normalize="pif"`` only)."""
        before, after = as_scene(before, "before"), as_scene(after, "after")
        method, self.method_attrs = resolve_method(method, before)  # "auto" -> a concrete score
        if method not in METHODS:
            raise DataError(f"unknown change method {method!r}",
                            hint=f"use 'auto' or one of {', '.join(METHODS)}")
        before, after, self.frame = on_one_grid(before, after, frame)
        after = same_bands(before, after)
        self.norm = _method(normalize)
        if self.norm == "histogram":  # not linear: normalise first, then identity coefficients
            m = mask(before, after) if callable(mask) else mask
            after = normalize_radiometry(before, after, "histogram", mask=m,
                                         sample_pixels=sample_pixels)
        self.before, self.after = chunked_like(before, after)
        self.method = method
        self.code, self.sign, required = METHODS[method]
        self.absolute = False
        if method == "index_diff":
            key = str(index).lower() if index is not None else None
            if key not in INDICES:
                raise DataError(f"index_diff needs index= one of {', '.join(INDICES)}, "
                                f"got {index!r}")
            if direction not in _DIRECTIONS:
                raise DataError("index_diff needs direction= 'gain', 'loss' or 'abs', "
                                f"got {direction!r}")
            self.code, required = INDICES[key]
            self.sign, self.absolute = _DIRECTIONS[direction], direction == "abs"
        what = f"change method {method!r}"
        self.roles = band_roles(self.before, required, what)
        if method == "construction" and self.roles[3] < 0 and self.roles[0] < 0:
            band_roles(self.before, ("nir",), what + " (nir, or blue for the RGB mode)")
        self.nodata1, self.nodata2 = nodata_of(self.before), nodata_of(self.after)
        # a mask function is evaluated lazily on the whole grid and, for the sample, per window
        mask_fn = mask if callable(mask) else None
        self.mask = mask_fn(self.before, self.after) if mask_fn is not None else mask
        if sample is None or self.norm == "histogram":
            a, b, _ = pair_sample(self.before, self.after, self.mask, sample_pixels, mask_fn)
        else:
            a, b = sample
        self.n_valid_sample = a.shape[1]
        nb = a.shape[0]
        if self.norm == "histogram" or self.n_valid_sample == 0:
            self.gain, self.offset = np.ones(nb), np.zeros(nb)
        elif coefficients is not None and self.norm == "pif" and sample is not None:
            self.gain, self.offset = coefficients
        else:
            self.gain, self.offset, *_ = _coefficients(a, b, self.norm, PIF_FRACTION,
                                                       PIF_ITERATIONS)
        self.role_gain = np.array([self.gain[k] if k >= 0 else 1.0 for k in self.roles], np.float64)
        self.role_offset = np.array([self.offset[k] if k >= 0 else 0.0 for k in self.roles],
                                    np.float64)
        self.sigma = self._noise(a, b)
        if self.norm == "histogram":
            self.nodata2 = float("nan")

    def _noise(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.shape[1] == 0:
            return np.ones(max(a.shape[0], K.N_COMPONENTS))  # no data: scores are NaN anyway
        if self.method == "construction":
            feats = np.empty((K.N_COMPONENTS, 1, a.shape[1]), np.float32)
            a32, b32 = a[:, None, :].astype(np.float32), b[:, None, :].astype(np.float32)
            K.construction_features_kernel(a32, b32, self.roles, self.role_gain, self.role_offset,
                                           np.nan, np.nan, 0, 1, feats)
            return np.array([_mad_sigma(f.ravel()) for f in feats])
        if self.method == "cva":
            d = self.gain[:, None] * b + self.offset[:, None] - a
            return np.array([_mad_sigma(row) for row in d])
        diff = np.empty((1, a.shape[1]), np.float32)
        a32, b32 = a[:, None, :].astype(np.float32), b[:, None, :].astype(np.float32)
        K.index_diff_kernel(a32, b32, self.roles, self.role_gain, self.role_offset, self.code, 1.0,
                            np.nan, np.nan, 0, 1, diff)
        return np.array([_mad_sigma(diff.ravel())])

    def block(self, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
        """Score of one block (or of the whole in-memory scene), shape ``(1, h, w)``."""
        h, w = b1.shape[1:]
        out = np.empty((1, h, w), np.float32)
        o = out[0]
        if self.method == "construction":
            sigma = self.sigma.astype(np.float32)

            def call(r0: int, r1: int) -> None:
                K.construction_kernel(b1, b2, self.roles, self.role_gain, self.role_offset, sigma,
                                      self.nodata1, self.nodata2, r0, r1, o)
        elif self.method == "cva":
            direction = np.empty((h, w), np.float32)

            def call(r0: int, r1: int) -> None:
                K.cva_kernel(b1, b2, self.gain, self.offset, self.sigma, self.nodata1, self.nodata2,
                             r0, r1, o, direction)
        else:
            factor = self.sign / self.sigma[0]

            def call(r0: int, r1: int) -> None:
                K.index_diff_kernel(b1, b2, self.roles, self.role_gain, self.role_offset,
                                    self.code, factor, self.nodata1, self.nodata2, r0, r1, o)
        run_strips(call, h, w)
        if self.absolute:
            np.abs(out, out=out)
        return out

    def attrs(self) -> dict[str, Any]:
        bands = [str(v) for v in self.before.coords["band"].values]
        return {"method": self.method, **self.method_attrs, "normalization": self.norm,
                "gain": dict(zip(bands, self.gain.round(6).tolist(), strict=True)),
                "offset": dict(zip(bands, self.offset.round(6).tolist(), strict=True)),
                "noise_sigma": self.sigma.round(6).tolist(),
                "date_before": self.before.attrs.get("date"),
                "date_after": self.after.attrs.get("date")}


def map_plan(plan: Plan, fn: Any, nout: int) -> Any:
    """``fn(before, after)`` on the plan's scenes, block by block when they are lazy."""
    b, a = plan.before.data, plan.after.data
    chunks = ((nout,),) + b.chunks[1:] if is_lazy(b) else None
    return apply_blocks(fn, b, a, dtype=np.float32, chunks=chunks)
