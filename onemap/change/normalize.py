"""Relative radiometric normalisation of date 2 onto date 1.

Two dates never share illumination, atmosphere or sensor gain, so a change measure on raw values
sees the whole scene as changed. Normalisation maps each band of the *after* scene onto the
*before* scene's radiometry:

``"pif"`` (default)
    Linear regression on pseudo-invariant pixels. Start from mean/standard-deviation matching,
    then repeat: take the ``pif_fraction`` of pixels whose standardised change is smallest (the
    pixels that did not change), fit ``before = gain * after + offset`` per band on them by
    reduced-major-axis regression (symmetric in both dates, so noise in either does not bias the
    gain towards 0). Robust to the real changes, which are excluded from the fit.
``"moments"``
    Mean and standard deviation matching over all valid pixels.
``"histogram"``
    Per-band quantile mapping (1024 quantiles, linear between): matches the whole distribution,
    also non-linear differences, but absorbs part of real change when changes are widespread.
``None`` / ``"none"``
    No normalisation.

The coefficients are global: they come from a sample of the whole grid (a regular grid of
windows of about ``sample_pixels`` pixels; all pixels for smaller scenes) and are applied per
block, so the result does not depend on the chunking. The linear methods are fused into the change
kernels (:mod:`onemap.change._kernels`); :func:`normalize_radiometry` gives the normalised scene
itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._compute import apply_blocks, run_strips
from ..errors import DataError, FrameError
from ..frame import Frame
from . import _kernels as K
from ._sample import read_pair
from ._scene import (
    SAMPLE_PIXELS,
    as_scene,
    check_mask,
    chunked_like,
    nodata_of,
    on_one_grid,
    same_bands,
)

__all__ = ["radiometric_coefficients", "normalize_radiometry", "METHODS"]

METHODS = ("pif", "moments", "histogram", "none")
_QUANTILES = 1024


def _method(method: Any) -> str:
    m = "none" if method is None or method is False else str(method).lower()
    if m not in METHODS:
        raise DataError(f"unknown normalisation method {method!r}",
                        hint=f"use one of {', '.join(METHODS)}")
    return m


def pair_sample(before: xr.DataArray, after: xr.DataArray, mask: xr.DataArray | None,
                max_pixels: int, mask_fn: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample of both dates as float64 ``(band, n)`` arrays of pixels valid in both.

    The sample is a grid of windows over the whole scene (see :mod:`onemap.change._sample`);
    *mask_fn* ``(before, after) -> mask`` is evaluated per window instead of reading *mask*.
    """
    grid = (before.shape[1], before.shape[2])  # (y, x) of the (band, y, x) scene
    a, b, excluded = read_pair(before, after, check_mask(mask, grid) if mask_fn is None else None,
                               max_pixels, mask_fn)
    a, b = a.astype(np.float64), b.astype(np.float64)
    ok = np.isfinite(a).all(0) & np.isfinite(b).all(0)
    for arr, nd in ((a, nodata_of(before)), (b, nodata_of(after))):
        if not np.isnan(nd):
            ok &= ~(arr == nd).any(0)
    if excluded is not None:
        ok &= ~excluded
    return a[:, ok], b[:, ok], ok


def _linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Reduced-major-axis fit ``x ~ gain * y + offset``; moments matching when degenerate."""
    mx, my = x.mean(), y.mean()
    sx, sy = x.std(), y.std()
    if sy == 0 or sx == 0:
        return 1.0, float(mx - my)  # constant band: only the offset is defined
    gain = sx / sy  # RMA slope, positive: illumination never inverts a band
    return float(gain), float(mx - gain * my)


def _coefficients(a: np.ndarray, b: np.ndarray, method: str, pif_fraction: float,
                  iterations: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """gain, offset, correlation per band and the PIF mask, from valid sample pixels."""
    nb, n = a.shape
    gain, offset = np.ones(nb), np.zeros(nb)
    pif = np.ones(n, bool)
    if method == "none" or n == 0:
        return gain, offset, np.full(nb, np.nan), pif, n
    for k in range(nb):
        gain[k], offset[k] = _linear_fit(a[k], b[k])
    if method == "pif" and n >= 10:
        scale = a.std(axis=1)
        scale[scale == 0] = 1.0
        for _ in range(int(iterations)):
            resid = (gain[:, None] * b + offset[:, None] - a) / scale[:, None]
            dist = np.sqrt((resid * resid).mean(axis=0))
            pif = dist <= np.quantile(dist, pif_fraction)
            if pif.sum() < 10:
                break
            for k in range(nb):
                gain[k], offset[k] = _linear_fit(a[k, pif], b[k, pif])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.array([np.corrcoef(a[k, pif], b[k, pif])[0, 1] if pif.sum() > 1 else np.nan
                         for k in range(nb)])
    return gain, offset, corr, pif, int(pif.sum())


def radiometric_coefficients(before: xr.DataArray, after: xr.DataArray, method: str | None = "pif",
                             *, mask: xr.DataArray | None = None, pif_fraction: float = 0.5,
                             iterations: int = 3,
                             sample_pixels: int = SAMPLE_PIXELS) -> pd.DataFrame:
    """Per-band linear coefficients that map *after* onto *before*: ``gain * after + offset``.

    Parameters
    ----------
    before, after
        Scenes on one grid with the same bands (the after scene may list them in another order).
    method
        ``"pif"``, ``"moments"`` or ``"none"`` (see the module docstring). ``"histogram"`` is not
        linear: use :func:`normalize_radiometry` for it.
    mask
        Optional boolean ``(y, x)`` DataArray, True where pixels must not be used (clouds, known
        changes).
    pif_fraction
        Share of the valid pixels kept as pseudo-invariant in each iteration.
    iterations
        Number of select-and-fit rounds.
    sample_pixels
        About this many pixels are sampled for the fit (windows over the whole grid).

    Returns
    -------
    pandas.DataFrame
        Indexed by band: ``gain``, ``offset``, ``r`` (correlation of the dates on the invariant
        pixels) and ``n_pixels`` (pixels the final fit used).

    Raises
    ------
    DataError
        No pixel is valid in both dates.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(0)
    >>> b1 = rng.uniform(100, 2000, (2, 50, 50)).astype("float32")
    >>> dims, coords = ("band", "y", "x"), {"band": ["red", "nir"]}
    >>> before = xr.DataArray(b1, dims=dims, coords=coords)
    >>> after = xr.DataArray(b1 * 1.25 + 40, dims=dims, coords=coords)  # brighter illumination
    >>> coef = radiometric_coefficients(before, after)
    >>> coef["gain"].round(3).tolist(), coef["offset"].round(2).tolist()
    ([0.8, 0.8], [-32.0, -32.0])
    """
    m = _method(method)
    if m == "histogram":
        raise DataError("histogram matching is not linear and has no gain/offset",
                        hint="use normalize_radiometry(before, after, method='histogram')")
    before = as_scene(before, "before")
    after = same_bands(before, as_scene(after, "after"))
    a, b, _ = pair_sample(before, after, mask, sample_pixels)
    if a.shape[1] == 0:
        raise DataError("no pixel is valid in both dates: cannot normalise",
                        hint="check nodata/cloud masks, and that the scenes overlap")
    gain, offset, corr, _, n = _coefficients(a, b, m, pif_fraction, iterations)
    df = pd.DataFrame({"gain": gain, "offset": offset, "r": corr, "n_pixels": n},
                      index=pd.Index([str(v) for v in before.coords["band"].values], name="band"))
    df.attrs["method"] = m
    return df


def _quantile_knots(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q = np.linspace(0.0, 1.0, _QUANTILES)
    return np.quantile(b, q, axis=1), np.quantile(a, q, axis=1)  # (q, band): after -> before


def normalize_radiometry(before: xr.DataArray, after: xr.DataArray, method: str | None = "pif",
                         *, frame: Frame | None = None, mask: xr.DataArray | None = None,
                         pif_fraction: float = 0.5, iterations: int = 3,
                         sample_pixels: int = SAMPLE_PIXELS) -> xr.DataArray:
    """The *after* scene mapped onto the *before* scene's radiometry (float32, NaN at nodata).

    Parameters
    ----------
    before, after
        Scenes on one grid (or pass *frame* to align them onto it).
    method
        ``"pif"`` (default), ``"moments"``, ``"histogram"`` or ``None``.
    frame
        Optional :class:`~onemap.Frame` to align both scenes onto first.
    mask, pif_fraction, iterations, sample_pixels
        As in :func:`radiometric_coefficients`.

    Returns
    -------
    xarray.DataArray
        Same bands and grid as *after* (band order of *before*), lazy for dask input.
        ``attrs["normalization"]`` holds the method and, for linear methods, ``{band: (gain,
        offset)}``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> rng = np.random.default_rng(1)
    >>> b1 = rng.uniform(0.02, 0.4, (3, 40, 40)).astype("float32")
    >>> dims, coords = ("band", "y", "x"), {"band": ["green", "red", "nir"]}
    >>> before = xr.DataArray(b1, dims=dims, coords=coords)
    >>> after = xr.DataArray(0.9 * b1 + 0.03, dims=dims, coords=coords)
    >>> out = normalize_radiometry(before, after)
    >>> bool(abs(out - before).max() < 1e-5)
    True
    """
    m = _method(method)
    before, after = as_scene(before, "before"), as_scene(after, "after")
    if frame is not None or _has_georef(before):
        before, after, _ = on_one_grid(before, after, frame)
    elif before.shape[1:] != after.shape[1:]:
        raise FrameError("before and after differ in shape: "
                         f"{before.shape[1:]} and {after.shape[1:]}",
                         hint="put both on one grid first with onemap.align(scene, frame)")
    after = same_bands(before, after)
    before, after = chunked_like(before, after)
    attrs = {k: v for k, v in after.attrs.items() if k not in ("nodata", "_FillValue")}
    nodata = nodata_of(after)
    if m == "histogram":
        a, b, _ = pair_sample(before, after, mask, sample_pixels)
        if a.shape[1] == 0:
            raise DataError("no pixel is valid in both dates: cannot normalise",
                            hint="check nodata/cloud masks, and that the scenes overlap")
        src, dst = _quantile_knots(a, b)

        def block(img: np.ndarray) -> np.ndarray:
            out = np.empty(img.shape, np.float32)
            for k in range(img.shape[0]):
                x = img[k].astype(np.float64)
                y = np.interp(x, src[:, k], dst[:, k])
                bad = ~np.isfinite(x) if np.isnan(nodata) else (~np.isfinite(x)) | (x == nodata)
                out[k] = np.where(bad, np.nan, y)
            return out

        attrs["normalization"] = {"method": m, "quantiles": _QUANTILES}
    else:
        coef = radiometric_coefficients(before, after, m, mask=mask, pif_fraction=pif_fraction,
                                        iterations=iterations, sample_pixels=sample_pixels)
        gain = coef["gain"].to_numpy(np.float64)
        offset = coef["offset"].to_numpy(np.float64)

        def block(img: np.ndarray) -> np.ndarray:
            out = np.empty(img.shape, np.float32)
            run_strips(lambda r0, r1: K.linear_kernel(img, gain, offset, nodata, r0, r1, out),
                       img.shape[1], img.shape[2])
            return out

        attrs["normalization"] = {"method": m, **{
            b: (float(g), float(o)) for b, g, o in zip(coef.index, gain, offset, strict=True)}}
    data = apply_blocks(block, after.data, dtype=np.float32)
    return xr.DataArray(data, dims=after.dims, coords=after.coords, attrs=attrs, name=after.name)


def _has_georef(da: xr.DataArray) -> bool:
    try:
        return da.rio.crs is not None
    except Exception:
        return False
