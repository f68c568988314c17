"""Thresholds for change measures: Otsu, mean + k·sigma, fixed; histograms that merge per chunk.

:func:`otsu` equals ``skimage.filters.threshold_otsu`` on the same (non-NaN) values, for float
and integer input: floats are binned like ``numpy.histogram(values, bins, range=(min, max))``
(the same arithmetic, in the values' dtype), integers get one bin per integer value as skimage
does (``bins`` is then ignored), and the between-class variance is evaluated with skimage's
float32 expressions.

Chunked (dask) contract
-----------------------
A global Otsu threshold over many chunks: reduce ``nanmin``/``nanmax`` over the chunks, fix
``edges = histogram_edges(bins, (lo, hi), dtype)``, compute ``histogram(chunk, edges)`` per chunk
(same bins everywhere, so counts add), sum the counts and call
``otsu_from_histogram(counts, edges)``. For integer data use ``integer_edges(lo, hi)`` (one bin
per value; counted with ``numpy.bincount``, float values with a numba kernel that reproduces
``numpy.histogram``). The result equals :func:`otsu` on the whole array.

Undefined cases
---------------
All-NaN (or empty, or fully masked) input raises :class:`~onemap.errors.DataError`. Constant
input has no Otsu split: :func:`otsu` returns that value (as skimage does) and issues an
:class:`~onemap.errors.OnemapWarning`, so ``values > threshold`` selects nothing — a caller
thresholding a change measure gets "no change" and can turn the warning into an error with
``warnings.simplefilter("error", OnemapWarning)``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import _compute as P
from ..errors import DataError, OnemapWarning
from . import _mask_kernels as K

__all__ = [
    "otsu",
    "otsu_from_histogram",
    "histogram",
    "histogram_edges",
    "integer_edges",
    "k_sigma",
    "fixed",
]


def _values(values: np.ndarray, valid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, bool]:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf" and arr.dtype != np.bool_:
        raise DataError(f"values must be numeric, got dtype {arr.dtype}")
    if arr.dtype == np.float16 or arr.dtype == np.bool_:
        arr = arr.astype(np.float32)
    flat = np.ascontiguousarray(arr).ravel()
    if valid is None:
        return flat, np.empty(0, np.bool_), False
    v = np.asarray(valid, dtype=bool)
    if v.shape != arr.shape:
        raise DataError(f"valid has shape {v.shape}, values have {arr.shape}",
                        hint="pass a boolean mask on the same grid as the values")
    return flat, np.ascontiguousarray(v).ravel(), True


def _slices(n: int) -> list[tuple[int, int]]:
    # a few slices per thread; one for small inputs
    k = 1 if n < 1 << 18 else 4 * P.threads()
    return [(i * n // k, (i + 1) * n // k) for i in range(k)]


def _range(flat: np.ndarray, valid: np.ndarray, use_valid: bool) -> tuple[Any, Any, int]:
    if flat.size == 0:
        raise DataError("no values to threshold (empty array)")
    # no NaN in integers: NumPy's SIMD reductions (and no numba compile per int type)
    if flat.dtype.kind in "iu":
        sel = flat[valid] if use_valid else flat
        if sel.size == 0:
            lo, hi, k = 0, 0, 0
        else:
            lo, hi, k = sel.min(), sel.max(), sel.size
    else:
        lo0, hi0 = flat.dtype.type(np.inf), flat.dtype.type(-np.inf)
        parts = P.run(K._nan_minmax, [(flat, valid, use_valid, lo0, hi0, a, b)
                                      for a, b in _slices(flat.size)])
        k = sum(p[2] for p in parts)
        lo = min(p[0] for p in parts)
        hi = max(p[1] for p in parts)
    if k == 0:
        raise DataError("all values are NaN or masked: no threshold can be computed",
                        hint="check the nodata handling of the inputs, or the valid mask")
    return lo, hi, int(k)


def histogram_edges(bins: int, range: tuple[float, float], dtype=np.float64) -> np.ndarray:
    """Bin edges exactly as ``numpy.histogram(values_of_dtype, bins, range)`` makes them.

    Examples
    --------
    >>> histogram_edges(4, (0.0, 1.0))
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    if int(bins) < 1:
        raise DataError(f"bins must be >= 1, got {bins!r}")
    dt = np.dtype(dtype)
    lo, hi = range
    if dt.kind == "f":
        lo, hi = dt.type(lo), dt.type(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise DataError(f"histogram range must be finite with min <= max, got {range!r}")
    if lo == hi:  # as numpy: widen an empty range by half a unit on each side
        lo, hi = lo - 0.5, hi + 0.5
    bin_type = np.result_type(lo, hi, np.empty(0, dt))
    if bin_type.kind != "f":
        bin_type = np.result_type(bin_type, float)
    return np.linspace(lo, hi, int(bins) + 1, endpoint=True, dtype=bin_type)


def integer_edges(lo: int, hi: int) -> np.ndarray:
    """Edges of one bin per integer value in ``lo..hi`` (skimage's binning of integer images).

    Examples
    --------
    >>> integer_edges(3, 5)
    array([2.5, 3.5, 4.5, 5.5])
    """
    lo, hi = int(lo), int(hi)
    return np.arange(hi - lo + 2, dtype=np.float64) + (lo - 0.5)


def histogram(values: np.ndarray, bins: int | np.ndarray = 256,
              range: tuple[float, float] | None = None,
              valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Counts of values per bin, NaN and values outside the range skipped (numba kernel).

    With ``bins`` an int and ``range`` given, the counts equal ``numpy.histogram``'s for the
    non-NaN values; ``bins`` may also be edges from :func:`histogram_edges` or
    :func:`integer_edges` (uniform), which is how chunks share bins. Without ``range`` the
    non-NaN min and max are used (for one chunk only: chunks must share a range to be merged).

    Returns
    -------
    counts, edges
        int64 counts and the edges used.

    Examples
    --------
    >>> counts, edges = histogram(np.array([0.0, 0.1, np.nan, 0.9, 1.0]), 2, (0.0, 1.0))
    >>> counts
    array([2, 2])
    """
    flat, vmask, use_valid = _values(values, valid)
    if isinstance(bins, np.ndarray):
        edges = np.asarray(bins)
        if edges.ndim != 1 or edges.size < 2:
            raise DataError("bin edges must be a 1-D array of at least 2 values")
        # the kernel estimates the bin from uniform spacing and corrects it by one bin at most
        e64 = edges.astype(np.float64)
        step = np.diff(e64)
        uniform = e64[0] + np.arange(e64.size) * ((e64[-1] - e64[0]) / (e64.size - 1))
        if not (step > 0).all() or np.abs(e64 - uniform).max() > 0.5 * step.min():
            raise DataError("bin edges must be increasing and evenly spaced",
                            hint="make them with histogram_edges or integer_edges")
    else:
        if range is None:
            lo, hi, _ = _range(flat, vmask, use_valid)
            range = (lo, hi)
        edges = histogram_edges(bins, range, flat.dtype)
    nb = edges.size - 1
    if flat.size == 0:
        return np.zeros(nb, np.int64), edges
    first, last = edges[0], edges[-1]
    unit_bins = first % 1 == 0.5 and last - first == nb and np.all(np.diff(edges) == 1)
    if flat.dtype.kind in "iu" and unit_bins:
        # integer_edges: one bin per value, no float arithmetic needed
        lo = int(first + 0.5)
        sel = flat[vmask] if use_valid else flat
        if sel.size and (sel.min() < lo or sel.max() >= lo + nb):
            sel = sel[(sel >= lo) & (sel < lo + nb)]
        counts = np.bincount((sel.astype(np.int64) - lo), minlength=nb)[:nb].astype(np.int64)
    else:
        ftype = edges.dtype.type
        args = (flat, vmask, use_valid, edges, first, ftype(last - first), ftype(nb))
        counts = sum(P.run(K._histogram_uniform, [(*args, a, b) for a, b in _slices(flat.size)]))
    return counts, edges


def otsu_from_histogram(counts: np.ndarray, bin_edges: np.ndarray) -> float:
    """Otsu threshold of a histogram (e.g. summed per-chunk histograms): the bin centre that
    maximises the between-class variance, computed as ``skimage.filters.threshold_otsu`` does.

    Empty bins at both ends are trimmed first (skimage's ``hist=`` behaviour), so a range wider
    than the data gives the same threshold.

    Examples
    --------
    >>> otsu_from_histogram(np.array([5, 1, 0, 0, 1, 5]), np.arange(7.0))
    1.5
    """
    counts = np.asarray(counts)
    edges = np.asarray(bin_edges)
    if counts.ndim != 1 or edges.shape != (counts.size + 1,):
        raise DataError(f"need n counts and n + 1 edges, got {counts.shape} and {edges.shape}")
    centers = (edges[:-1] + edges[1:]) / 2.0
    nz = np.flatnonzero(counts > 0)
    if nz.size == 0:
        raise DataError("histogram is empty: no values to threshold")
    counts = counts[nz[0]:nz[-1] + 1].astype("float32")
    centers = centers[nz[0]:nz[-1] + 1]
    if counts.size == 1:
        raise DataError("all values fall into one bin: the Otsu threshold is undefined",
                        hint="use more bins or a fixed threshold")
    # skimage.filters.threshold_otsu, same expressions and dtypes
    weight1 = np.cumsum(counts)
    weight2 = np.cumsum(counts[::-1])[::-1]
    mean1 = np.cumsum(counts * centers) / weight1
    mean2 = (np.cumsum((counts * centers)[::-1]) / weight2[::-1])[::-1]
    variance12 = weight1[:-1] * weight2[1:] * (mean1[:-1] - mean2[1:]) ** 2
    return float(centers[np.argmax(variance12)])


def otsu(values: np.ndarray, bins: int = 256, valid: np.ndarray | None = None) -> float:
    """Otsu's threshold of the non-NaN (and ``valid``) values.

    Parameters
    ----------
    values
        Array of any shape, float or integer.
    bins
        Number of bins for float input; integer input gets one bin per integer value, like
        ``skimage.filters.threshold_otsu`` (which ignores ``nbins`` for integers too).
    valid
        Optional boolean mask of the same shape: only True positions count.

    Returns
    -------
    float
        The threshold; foreground is ``values > threshold``. Constant input returns the
        constant with an :class:`~onemap.errors.OnemapWarning` (see the module docstring).

    Raises
    ------
    DataError
        No usable value (empty, all NaN or all masked).

    Examples
    --------
    >>> otsu(np.array([1.0, 1.1, 0.9, np.nan, 5.0, 5.2, 4.9]), bins=8)
    1.16875
    >>> otsu(np.array([3, 3, 4, 10, 11], dtype=np.uint16))
    4.0
    """
    flat, vmask, use_valid = _values(values, valid)
    lo, hi, _ = _range(flat, vmask, use_valid)
    if lo == hi:
        warnings.warn(f"all values equal {lo}: the Otsu threshold is undefined; returning that "
                      "value, so values > threshold selects nothing", OnemapWarning, stacklevel=2)
        return float(lo)
    if flat.dtype.kind in "iu":
        edges = integer_edges(int(lo), int(hi))
    else:
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise DataError(f"values contain infinity (range {lo}..{hi}): Otsu needs finite values",
                            hint="mask infinite values with valid= or replace them with NaN")
        edges = histogram_edges(bins, (lo, hi), flat.dtype)
    counts, _ = histogram(flat, edges, valid=vmask if use_valid else None)
    return otsu_from_histogram(counts, edges)


def k_sigma(values: np.ndarray, k: float = 2.0, valid: np.ndarray | None = None) -> float:
    """Mean plus ``k`` standard deviations of the non-NaN (and ``valid``) values.

    The classic change-vector threshold: pixels more than ``k`` sigma above the mean change are
    taken as changed. Computed in float64 (population standard deviation, ``ddof=0``).

    Examples
    --------
    >>> k_sigma(np.array([1.0, 2.0, 3.0, np.nan]), k=1.0)
    2.8164965809277263
    """
    flat, vmask, use_valid = _values(values, valid)
    _range(flat, vmask, use_valid)
    x = flat[vmask] if use_valid else flat
    x = x.astype(np.float64)
    x = x[~np.isnan(x)]
    if not np.isfinite(x).all():
        raise DataError("values contain infinity: mean and sigma are undefined",
                        hint="mask infinite values with valid= or replace them with NaN")
    return float(x.mean() + float(k) * x.std())


def fixed(values: np.ndarray | None, value: float) -> float:
    """A fixed threshold (e.g. from a survey configuration), with the same call shape as
    :func:`otsu` and :func:`k_sigma`; ``values`` is not used.

    Examples
    --------
    >>> fixed(None, 0.25)
    0.25
    """
    t = float(value)
    if math.isnan(t):
        raise DataError("a fixed threshold must be a number, got NaN")
    return t
