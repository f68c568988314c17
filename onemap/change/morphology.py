"""Binary morphology for change masks: erosion, dilation, opening, closing, hole filling and
removal of patches below a minimum mapping unit.

Structures
----------
``structure="square"`` with ``radius=r`` is the ``(2r+1) x (2r+1)`` square (8-neighbourhood for
r = 1), computed separably: for small r as one pass of SIMD row operations, for larger r as two
running-window passes (cost independent of r).
``structure="cross"`` with ``radius=r`` is the 3x3 cross (4-neighbourhood) applied r times, i.e.
the diamond ``|dr| + |dc| <= r`` — ``scipy.ndimage`` with
``generate_binary_structure(2, 1)`` and ``iterations=r``. A 2-D boolean array of odd shape is
used as the structure itself (centred), applied ``radius`` times.

Borders
-------
As ``scipy.ndimage``'s defaults (``border_value=0``): pixels outside the array are background.
Erosion therefore clears foreground whose structure reaches outside the array, and
:func:`binary_closing` (dilation then erosion) can clear foreground within ``radius`` of the
edge, exactly as ``scipy.ndimage.binary_closing`` does. Pad the mask first if that is unwanted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _compute as P
from ..errors import DataError
from . import _label_kernels as K
from . import _mask_kernels as MK
from ._label_strips import provisional
from .label import _as_mask, _nstrips
from .label import _check_connectivity as _conn8

__all__ = [
    "binary_erosion",
    "binary_dilation",
    "binary_opening",
    "binary_closing",
    "fill_holes",
    "remove_small",
    "min_mapping_unit",
]


# up to this radius one pass of 2r+1 SIMD row operations beats two running-count passes
_SMALL_RADIUS = 4


def _structure(structure: str | np.ndarray, radius: int) -> tuple[str, Any]:
    if isinstance(radius, bool) or int(radius) != radius or radius < 0:
        raise DataError(f"radius must be an integer >= 0, got {radius!r}")
    if isinstance(structure, str):
        if structure not in ("square", "cross"):
            raise DataError("structure must be 'square', 'cross' or a boolean array, "
                            f"got {structure!r}")
        return structure, None
    s = np.asarray(structure, dtype=bool)
    if s.ndim != 2 or s.shape[0] % 2 == 0 or s.shape[1] % 2 == 0:
        raise DataError(f"structure array must be 2-D with odd sides, got shape {s.shape}",
                        hint="pad the structure with a row/column of False to make it centred")
    rr, cc = np.nonzero(s)
    if rr.size == 0:
        raise DataError("structure array has no True element",
                        hint="use e.g. np.ones((3, 3), bool)")
    return "array", (rr - s.shape[0] // 2, cc - s.shape[1] // 2)


def _rows(kernel, *args: Any, height: int) -> None:
    """kernel(*args, r0, r1) over row strips, spread over threads."""
    starts = P.strips(height)
    P.run(kernel, [(*args, starts[i], starts[i + 1]) for i in range(starts.size - 1)])


def _apply(mask: np.ndarray, radius: int, structure: str | np.ndarray, erode: bool) -> np.ndarray:
    kind, offsets = _structure(structure, radius)
    src = _as_mask(mask).view(np.uint8)
    if radius == 0 or src.size == 0:
        return src.view(bool).copy()
    h = src.shape[0]
    r = int(radius)
    if kind == "square" and r <= _SMALL_RADIUS:
        out = np.empty_like(src)
        _rows(MK._square_small, src, r, erode, out, height=h)
        return out.view(bool)
    if kind == "square":  # running window counts: cost independent of the radius
        tmp = np.empty_like(src)
        out = np.empty_like(src)
        _rows(MK._window_rows, src, r, erode, tmp, height=h)
        _rows(MK._window_cols, tmp, r, erode, out, height=h)
        return out.view(bool)
    a, b = src, np.empty_like(src)
    if kind == "cross":
        for i in range(r):
            _rows(MK._cross_op, a, erode, b, height=h)
            a, b = b, (np.empty_like(src) if i == 0 else a)
        return a.view(bool)
    dr, dc = offsets
    if not erode:  # scipy dilates with the reflected structure
        dr, dc = -dr, -dc
    dr = np.ascontiguousarray(dr, np.int64)
    dc = np.ascontiguousarray(dc, np.int64)
    for i in range(r):
        _rows(MK._offsets_op, a, dr, dc, erode, b, height=h)
        a, b = b, (np.empty_like(src) if i == 0 else a)
    return a.view(bool)


def binary_erosion(mask: np.ndarray, radius: int = 1,
                   structure: str | np.ndarray = "square") -> np.ndarray:
    """Erode a boolean mask (outside the array counts as background).

    Examples
    --------
    >>> m = np.zeros((5, 5), bool); m[1:4, 1:4] = True
    >>> binary_erosion(m).astype(int)[2]
    array([0, 0, 1, 0, 0])
    """
    return _apply(mask, radius, structure, True)


def binary_dilation(mask: np.ndarray, radius: int = 1,
                    structure: str | np.ndarray = "square") -> np.ndarray:
    """Dilate a boolean mask (nothing grows in from outside the array).

    Examples
    --------
    >>> m = np.zeros((3, 5), bool); m[1, 2] = True
    >>> binary_dilation(m, structure="cross").astype(int)
    array([[0, 0, 1, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 1, 0, 0]])
    """
    return _apply(mask, radius, structure, False)


def binary_opening(mask: np.ndarray, radius: int = 1,
                   structure: str | np.ndarray = "square") -> np.ndarray:
    """Erosion then dilation: removes specks and thin bridges narrower than the structure.

    Equals ``scipy.ndimage.binary_opening`` with the same structure (see the module docstring).

    Examples
    --------
    >>> m = np.zeros((6, 6), bool); m[1:5, 1:5] = True; m[0, 0] = True
    >>> int(binary_opening(m).sum())  # the 4x4 block stays, the speck goes
    16
    """
    return _apply(_apply(mask, radius, structure, True), radius, structure, False)


def binary_closing(mask: np.ndarray, radius: int = 1,
                   structure: str | np.ndarray = "square") -> np.ndarray:
    """Dilation then erosion: closes gaps and notches narrower than the structure.

    Equals ``scipy.ndimage.binary_closing`` with the same structure: with ``border_value=0``
    foreground within ``radius`` of the array edge can be cleared (see the module docstring).

    Examples
    --------
    >>> m = np.zeros((5, 7), bool); m[1:4, 1:3] = True; m[1:4, 4:6] = True
    >>> binary_closing(m).astype(int)[2]
    array([0, 1, 1, 1, 1, 1, 0])
    """
    return _apply(_apply(mask, radius, structure, False), radius, structure, True)


def _keep(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    out = np.empty(labels.shape, bool)
    _rows(K._keep_rows, labels, keep, out, height=labels.shape[0])
    return out


def fill_holes(mask: np.ndarray, connectivity: int = 4) -> np.ndarray:
    """Fill background regions that do not reach the array border.

    Parameters
    ----------
    mask
        2-D boolean array.
    connectivity
        Connectivity of the *background*: 4 (default, as ``scipy.ndimage.binary_fill_holes``;
        the dual of 8-connected foreground) or 8 (background leaks through diagonal gaps, so
        fewer holes are filled).

    Examples
    --------
    >>> m = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], bool)
    >>> fill_holes(m).all()
    np.True_
    """
    arr = _as_mask(mask)
    if arr.size == 0:
        return arr.copy()
    p = provisional(~arr, _conn8(connectivity), _nstrips(arr.size, arr.shape[0]))
    keep = np.zeros(p.table.size, bool)
    K._hole_table(p.labels, p.table, p.bases, p.ends, p.n, keep)
    return _keep(p.labels, keep)


def remove_small(mask: np.ndarray, min_pixels: int, connectivity: int = 8) -> np.ndarray:
    """Remove connected components with fewer than ``min_pixels`` pixels.

    Same as ``skimage.morphology.remove_small_objects(mask, min_size=min_pixels)`` (which keeps
    components of exactly ``min_size`` pixels), with ``connectivity`` 8 or 4.

    Examples
    --------
    >>> m = np.array([[1, 1, 0, 1], [1, 0, 0, 0]], bool)
    >>> remove_small(m, 2).astype(int)
    array([[1, 1, 0, 0],
           [1, 0, 0, 0]])
    """
    if isinstance(min_pixels, bool) or int(min_pixels) != min_pixels or min_pixels < 0:
        raise DataError(f"min_pixels must be an integer >= 0, got {min_pixels!r}")
    arr = _as_mask(mask)
    if min_pixels <= 1 or arr.size == 0:
        return arr.copy()
    # sizes are counted during the labelling scan and the mask is written straight from the
    # provisional labels: no final-label pass, no separate bincount
    p = provisional(arr, _conn8(connectivity), _nstrips(arr.size, arr.shape[0]), want_sizes=True)
    keep = np.zeros(p.table.size, bool)
    K._size_keep_table(p.table, p.bases, p.ends, p.sizes, int(min_pixels), keep)
    return _keep(p.labels, keep)


def min_mapping_unit(mask: np.ndarray, min_area_m2: float, pixel_area: Any,
                     connectivity: int = 8) -> np.ndarray:
    """Remove patches smaller than a minimum mapping unit given as an area.

    Parameters
    ----------
    mask
        2-D boolean array on a frame's grid.
    min_area_m2
        Smallest patch area to keep, in the frame's area unit (m² for projected CRSs).
    pixel_area
        Area of one pixel, or the :class:`~onemap.Frame` itself (its ``pixel_area`` is used).
    connectivity
        8 or 4.

    Notes
    -----
    A patch of ``k`` pixels is kept when ``k * pixel_area >= min_area_m2`` up to a relative
    tolerance of 1e-9, so 4 pixels of 0.3 m × 0.3 m meet a 0.36 m² unit despite rounding.

    Examples
    --------
    >>> m = np.array([[1, 1, 0, 1], [1, 1, 0, 0]], bool)
    >>> min_mapping_unit(m, 400.0, pixel_area=100.0).astype(int)  # 10 m pixels, 400 m² unit
    array([[1, 1, 0, 0],
           [1, 1, 0, 0]])
    """
    area = getattr(pixel_area, "pixel_area", pixel_area)
    area = float(area)
    if not (math.isfinite(area) and area > 0):
        raise DataError(f"pixel_area must be a positive number, got {pixel_area!r}",
                        hint="pass frame.pixel_area of a projected frame (m²)")
    if not math.isfinite(float(min_area_m2)) or min_area_m2 < 0:
        raise DataError(f"min_area_m2 must be a finite number >= 0, got {min_area_m2!r}")
    min_pixels = math.ceil(float(min_area_m2) / area * (1 - 1e-9))
    return remove_small(mask, max(min_pixels, 0), connectivity)
