"""The unified frame: one CRS and one pixel grid that every layer and scene is put on.

A :class:`Frame` is a small immutable value (like odc-geo's ``GeoBox``): a CRS, a north-up affine
transform and a shape. Pixel *edges* lie on multiples of the resolution (``from_bounds`` snaps
outwards), so two frames of the same resolution and CRS always align and a sub-frame's pixels are
exactly its parent's pixels. Pixel *centres* are at half-pixel offsets; :meth:`Frame.coords`
gives them, as xarray and rioxarray expect.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import numpy as np
from affine import Affine
from pyproj import CRS

from .crs import as_crs
from .errors import FormatError, FrameError

if TYPE_CHECKING:
    import shapely
    import xarray as xr

__all__ = ["Frame", "Tile"]

_N = TypeVar("_N", int, float)

_EPS = 1e-9  # relative tolerance for snapping and alignment, in pixels


class Tile(NamedTuple):
    """One tile of a frame.

    ``frame`` is the tile's core (tiles' cores cover the parent exactly, without overlap);
    ``halo_frame`` is the core grown by the halo and clipped to the parent; ``core`` is the pair of
    slices that cut the core out of an array on ``halo_frame``; ``window`` is the pair of slices of
    ``halo_frame`` in the parent array; ``index`` is (tile row, tile column).
    """

    index: tuple[int, int]  # type: ignore[assignment]  # shadows tuple.index, a public name
    frame: Frame
    halo_frame: Frame
    window: tuple[slice, slice]
    core: tuple[slice, slice]


@dataclass(frozen=True, eq=False)
class Frame:
    """A CRS, a north-up affine transform and a ``(height, width)`` shape.

    Parameters
    ----------
    crs
        Anything :meth:`pyproj.CRS.from_user_input` accepts.
    transform
        An :class:`affine.Affine` (or 6/9 coefficients) with no rotation and a negative y scale.
    shape
        ``(height, width)`` in pixels.

    Examples
    --------
    >>> f = Frame.from_bounds((500_001, 3_000_003, 500_099, 3_000_055), res=2.0, crs=4527)
    >>> f.shape, f.bounds
    ((27, 50), (500000.0, 3000002.0, 500100.0, 3000056.0))
    >>> f.res, f.pixel_area
    ((2.0, 2.0), 4.0)
    >>> [t.frame.shape for t in f.tiles(32)]
    [(27, 32), (27, 18)]
    """

    crs: CRS
    transform: Affine
    shape: tuple[int, int]

    def __post_init__(self) -> None:
        crs = as_crs(self.crs)
        t = (
            self.transform
            if isinstance(self.transform, Affine)
            else Affine(*list(self.transform)[:6])
        )
        if abs(t.b) > _EPS * abs(t.a) or abs(t.d) > _EPS * abs(t.e):
            raise FrameError(f"rotated or sheared grids are not supported: {tuple(t)[:6]}",
                             hint="warp the raster to a north-up grid first (onemap.align)")
        if not all(math.isfinite(v) for v in tuple(t)[:6]):
            raise FrameError(f"frame transform has a non-finite coefficient: {tuple(t)[:6]}")
        if t.a <= 0 or t.e >= 0:
            raise FrameError(
                f"frame transform must have positive x and negative y pixel size, got {t.a}, {t.e}",
                hint="flip the raster so that row 0 is north",
            )
        h, w = (int(v) for v in self.shape)
        if h < 0 or w < 0:
            raise FrameError(f"negative frame shape {self.shape}")
        object.__setattr__(self, "crs", crs)
        object.__setattr__(self, "transform", Affine(t.a, 0.0, t.c, 0.0, t.e, t.f))
        object.__setattr__(self, "shape", (h, w))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_bounds(
        cls,
        bounds: tuple[float, float, float, float],
        res: float | tuple[float, float],
        crs: Any,
        snap: bool = True,
    ) -> Frame:
        """Frame covering *bounds* ``(left, bottom, right, top)`` at resolution *res*.

        With ``snap=True`` (default) edges are moved outwards to multiples of the resolution,
        so that all frames of one resolution share one pixel lattice.
        """
        xres, yres = _pair(res, float)
        if not (xres > 0 and yres > 0):
            raise FrameError(f"resolution must be positive, got {res}")
        left, bottom, right, top = (float(v) for v in bounds)
        if not (right > left and top > bottom):
            raise FrameError(
                f"empty or inverted bounds {bounds}", hint="bounds are (left, bottom, right, top)"
            )
        if snap:
            left = _snap(left, xres, math.floor)
            bottom = _snap(bottom, yres, math.floor)
            right = _snap(right, xres, math.ceil)
            top = _snap(top, yres, math.ceil)
        width = (
            max(1, int(round((right - left) / xres)))
            if snap
            else max(1, math.ceil((right - left) / xres - _EPS))
        )
        height = (
            max(1, int(round((top - bottom) / yres)))
            if snap
            else max(1, math.ceil((top - bottom) / yres - _EPS))
        )
        return cls(crs, Affine(xres, 0.0, left, 0.0, -yres, top), (height, width))

    @classmethod
    def from_raster(cls, path: str | PathLike) -> Frame:
        """Frame of a raster file (its CRS, transform and shape)."""
        import rasterio

        try:
            with rasterio.open(path) as src:
                crs, transform, shape = src.crs, src.transform, (src.height, src.width)
        except rasterio.errors.RasterioIOError as exc:
            raise FormatError(
                f"cannot open raster ({exc})",
                path=path,
                hint="check that the file exists and is a complete GeoTIFF/raster",
            ) from exc
        if crs is None:
            from .errors import CRSError

            raise CRSError(
                "raster has no CRS",
                path=path,
                hint="pass crs= explicitly or fix the file (gdal_edit.py -a_srs EPSG:....)",
            )
        return cls(CRS.from_user_input(crs), transform, shape)

    @classmethod
    def from_xarray(cls, da: xr.DataArray | xr.Dataset) -> Frame:
        """Frame of a georeferenced DataArray (a scene, or from ``rioxarray.open_rasterio``)."""
        frame = da.attrs.get("frame") if hasattr(da, "attrs") else None
        if isinstance(frame, Frame):
            return frame
        try:
            with warnings.catch_warnings():  # rioxarray's own Affine `*` deprecation noise
                warnings.simplefilter("ignore", PendingDeprecationWarning)
                crs = da.rio.crs
                transform = da.rio.transform(recalc=True)
                # the written transform is exact; the one rebuilt from pixel-centre coordinates
                # carries float noise. Keep the written one when it still describes the grid
                # (it goes stale after .isel, which moves the grid by whole pixels).
                written = da.rio.transform(recalc=False)
                tol = 1e-6 * abs(transform.a)
                if all(abs(p - q) <= tol for p, q in
                       zip(tuple(written)[:6], tuple(transform)[:6], strict=True)):
                    transform = written
        except (
            AttributeError,
            KeyError,
            ValueError,
            TypeError,
            RuntimeError,
        ) as exc:  # rioxarray's kinds
            raise FrameError(
                f"DataArray is not georeferenced ({exc})",
                hint="open it with onemap.open_scene or rioxarray.open_rasterio",
            ) from exc
        if crs is None:
            from .errors import CRSError

            raise CRSError("DataArray has no CRS", hint="set it with da.rio.write_crs(...)")
        return cls(CRS.from_user_input(crs), transform, (da.sizes["y"], da.sizes["x"]))

    # ------------------------------------------------------------------ properties
    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    @property
    def res(self) -> tuple[float, float]:
        """``(xres, yres)``, both positive."""
        return (self.transform.a, -self.transform.e)

    @property
    def pixel_area(self) -> float:
        """Plane area of one pixel in CRS units squared."""
        return self.transform.a * -self.transform.e

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the outer pixel edges."""
        t = self.transform
        return (t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f)

    def coords(self) -> dict[str, np.ndarray]:
        """Pixel-centre coordinates ``{"y": ..., "x": ...}`` for xarray."""
        t = self.transform
        return {
            "y": t.f + t.e * (np.arange(self.height) + 0.5),
            "x": t.c + t.a * (np.arange(self.width) + 0.5),
        }

    def footprint(self) -> shapely.Polygon:
        """The frame's outline as a shapely box (in the frame's CRS)."""
        import shapely

        return shapely.box(*self.bounds)

    # ------------------------------------------------------------------ sub-frames
    def window(self, bbox: tuple[float, float, float, float]) -> tuple[slice, slice]:
        """Row and column slices of the pixels touched by *bbox*, clipped to the frame.

        Edges are snapped outwards to pixel edges; an empty intersection gives empty slices.
        """
        left, bottom, right, top = bbox
        t = self.transform
        c0 = math.floor((left - t.c) / t.a + _EPS)
        c1 = math.ceil((right - t.c) / t.a - _EPS)
        r0 = math.floor((t.f - top) / -t.e + _EPS)
        r1 = math.ceil((t.f - bottom) / -t.e - _EPS)
        c0, c1 = max(c0, 0), min(c1, self.width)
        r0, r1 = max(r0, 0), min(r1, self.height)
        return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))

    def subframe(self, rows: slice, cols: slice) -> Frame:
        """The frame of ``array[rows, cols]`` for an array on this frame."""
        r0, r1, _ = rows.indices(self.height)
        c0, c1, _ = cols.indices(self.width)
        t = self.transform @ Affine.translation(c0, r0)
        return Frame(self.crs, t, (max(0, r1 - r0), max(0, c1 - c0)))

    def crop(self, bbox: tuple[float, float, float, float]) -> Frame:
        """Sub-frame of the pixels touched by *bbox* (on the same pixel lattice)."""
        return self.subframe(*self.window(bbox))

    def tiles(self, size: int | tuple[int, int], halo: int = 0) -> Iterator[Tile]:
        """Tiles of at most ``size`` pixels whose cores cover the frame exactly, row-major.

        Parameters
        ----------
        size
            Tile size in pixels, one int or ``(rows, cols)``.
        halo
            Pixels of overlap added on every side of the core (clipped at the frame's edges), for
            neighbourhood operations such as morphology.
        """
        th, tw = _pair(size, int)
        if th <= 0 or tw <= 0 or halo < 0:
            raise FrameError(
                f"tile size must be positive and halo >= 0, got size={size}, halo={halo}"
            )
        for i, r0 in enumerate(range(0, self.height, th)):
            for j, c0 in enumerate(range(0, self.width, tw)):
                r1, c1 = min(r0 + th, self.height), min(c0 + tw, self.width)
                hr0, hc0 = max(0, r0 - halo), max(0, c0 - halo)
                hr1, hc1 = min(self.height, r1 + halo), min(self.width, c1 + halo)
                rows, cols = slice(hr0, hr1), slice(hc0, hc1)
                yield Tile(
                    (i, j),
                    self.subframe(slice(r0, r1), slice(c0, c1)),
                    self.subframe(rows, cols),
                    (rows, cols),
                    (slice(r0 - hr0, r1 - hr0), slice(c0 - hc0, c1 - hc0)),
                )

    # ------------------------------------------------------------------ pixels <-> coordinates
    def xy(self, row: Any, col: Any) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates of pixel centres."""
        t = self.transform
        return t.c + t.a * (np.asarray(col) + 0.5), t.f + t.e * (np.asarray(row) + 0.5)

    def rowcol(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Integer row and column of the pixels containing points (may fall outside the frame)."""
        t = self.transform
        col = np.floor((np.asarray(x, dtype="float64") - t.c) / t.a).astype(np.int64)
        row = np.floor((np.asarray(y, dtype="float64") - t.f) / t.e).astype(np.int64)
        return row, col

    def aligned_with(self, other: Frame) -> bool:
        """Same CRS, same resolution and pixel edges on the same lattice (extents may differ)."""
        if self.crs != other.crs or not np.allclose(self.res, other.res, rtol=_EPS, atol=0):
            return False
        dx = (self.transform.c - other.transform.c) / self.res[0]
        dy = (self.transform.f - other.transform.f) / self.res[1]
        return abs(dx - round(dx)) < 1e-6 and abs(dy - round(dy)) < 1e-6

    # ------------------------------------------------------------------ value semantics
    # One rule: frames are equal when their CRSs are equal (pyproj's equality), their transforms
    # are equal coefficient for coefficient and their shapes are equal. The hash leaves the CRS
    # out because two equal CRSs may serialise differently (an EPSG code and its WKT); it hashes
    # exactly what equality compares exactly, so ``a == b`` implies ``hash(a) == hash(b)``.
    # Grids that differ by float noise (one rebuilt from pixel-centre coordinates) are equal
    # under :meth:`almost_equals`, which callers name when that is what they mean.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frame):
            return NotImplemented
        return (self.shape == other.shape
                and tuple(self.transform)[:6] == tuple(other.transform)[:6]
                and self.crs == other.crs)

    def __hash__(self) -> int:
        return hash((self.shape, tuple(self.transform)[:6]))

    def almost_equals(self, other: Frame, tol: float = 1e-9) -> bool:
        """Same CRS and shape, transform coefficients within *tol* (CRS units) of each other.

        Examples
        --------
        >>> f = Frame.from_bounds((0, 0, 10, 10), 1.0, 4527)
        >>> g = Frame(f.crs, f.transform * Affine.translation(1e-12, 0), f.shape)
        >>> f == g, f.almost_equals(g)
        (False, True)
        """
        return (self.shape == other.shape and self.crs == other.crs
                and all(abs(a - b) <= tol for a, b in
                        zip(tuple(self.transform)[:6], tuple(other.transform)[:6], strict=True)))

    def __repr__(self) -> str:
        epsg = self.crs.to_epsg()
        crs = f"EPSG:{epsg}" if epsg else (self.crs.name or "custom CRS")
        xr, yr = self.res
        res = f"{xr:g}" if xr == yr else f"({xr:g}, {yr:g})"
        b = ", ".join(f"{v:.3f}".rstrip("0").rstrip(".") for v in self.bounds)
        return f"Frame({crs}, res={res}, shape={self.shape}, bounds=({b}))"


def _pair(value: Any, kind: Callable[[Any], _N]) -> tuple[_N, _N]:
    """``(v, v)`` for a scalar, ``(v[0], v[1])`` for a pair, each converted by *kind*."""
    if np.isscalar(value):
        return kind(value), kind(value)
    return kind(value[0]), kind(value[1])


def _snap(v: float, res: float, rounding: Callable[[float], int]) -> float:
    q = v / res
    r = round(q)
    if abs(q - r) < 1e-6:  # already on the lattice up to float noise
        return r * res
    return rounding(q) * res
