"""What the change score leaves out of a pair of scenes: the cloud and nodata mask, as a value.

A :class:`MaskPolicy` is a small immutable description (clouds on or off and how they are found,
how far their edges are widened, whether nodata pixels are part of the mask) that the caller
builds once and passes to :func:`~onemap.change.change_score` or
:func:`~onemap.change.detect_changes` as ``mask=``; the survey builds it from its TOML
(``[detect] options``). The policy gives the boolean mask of a pair of scenes, lazily for dask
scenes, and equal whatever the chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from .._compute import apply_blocks, halo
from ..errors import DataError

__all__ = ["MaskPolicy", "why_no_valid_pixels"]


@dataclass(frozen=True)
class MaskPolicy:
    """Which pixels of a pair of scenes the change score excludes (True = excluded).

    Parameters
    ----------
    clouds
        Mask the thick clouds of either date (:func:`onemap.change.cloud_mask`: bright, white
        and wider than *min_width_m*).
    reflectance_scale
        Digital numbers per unit reflectance (e.g. 10000 for Sentinel-2): the cloud test is on
        reflectance. None: the scene's ``attrs["reflectance_scale"]``, or reflectance when the
        scene is float; scenes in digital numbers without either are a
        :class:`~onemap.errors.DataError` when *clouds* is on.
    buffer_px
        Widen the clouds by this many pixels (a square dilation): cloud edges are translucent.
    buffer_m
        The widening in metres instead (when given, it replaces *buffer_px*): the scene's pixel
        size converts it, rounded to whole pixels, so one policy serves a 2 m and a 10 m scene.
        Needs georeferenced scenes.
    whiteness_max, min_width_m, blue_min
        Of the cloud test, as in :func:`onemap.change.cloud_mask`.
    nodata
        Also mask the pixels that are nodata in either date. The scores are NaN there anyway;
        this is for masks used elsewhere (a trained model's candidates, a map of what was seen).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> cloud, soil = [4500, 4600, 4700], [3000, 3600, 4500]
    >>> px = np.array([cloud, soil, soil, soil], "uint16").T[:, None, :]
    >>> s = xr.DataArray(px, dims=("band", "y", "x"), coords={"band": ["blue", "green", "red"]})
    >>> policy = MaskPolicy(reflectance_scale=10000, buffer_px=1, min_width_m=None)
    >>> policy(s, s).values.tolist()  # the cloud, widened by one pixel
    [[True, True, False, False]]
    >>> MaskPolicy(clouds=False)(s, s) is None  # nothing to exclude
    True
    """

    clouds: bool = True
    reflectance_scale: float | None = None
    buffer_px: int = 3
    whiteness_max: float = 0.25
    min_width_m: float | None = 60.0
    blue_min: float | None = None
    nodata: bool = False
    buffer_m: float | None = None

    def __post_init__(self) -> None:
        for name in ("clouds", "nodata"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                _bad(name, getattr(self, name), "True or False")
        _positive("reflectance_scale", self.reflectance_scale, none_ok=True)
        _positive("whiteness_max", self.whiteness_max)
        _positive("min_width_m", self.min_width_m, none_ok=True, zero_ok=True)
        _positive("blue_min", self.blue_min, none_ok=True, zero_ok=True)
        _positive("buffer_m", self.buffer_m, none_ok=True, zero_ok=True)
        b = self.buffer_px
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 0:
            _bad("buffer_px", b, "a whole number of pixels >= 0, e.g. 3")

    @property
    def excludes_anything(self) -> bool:
        """False when the policy masks nothing (clouds and nodata both off)."""
        return bool(self.clouds or self.nodata)

    def __call__(self, before: xr.DataArray, after: xr.DataArray) -> xr.DataArray | None:
        """The mask of the pair, see :meth:`mask`."""
        return self.mask(before, after)

    def mask(self, before: xr.DataArray, after: xr.DataArray) -> xr.DataArray | None:
        """Boolean ``(y, x)`` mask of the pair on their grid (True = excluded), lazy for dask
        scenes; None when the policy excludes nothing."""
        from .indices import cloud_mask, valid_mask

        out = None
        if self.clouds:
            c_before, c_after = (cloud_mask(self._scaled(s), blue_min=self.blue_min,
                                            whiteness_max=self.whiteness_max,
                                            min_width_m=self.min_width_m)
                                 for s in (before, after))
            out = c_before | c_after
            radius = self.buffer_radius(before)
            if radius > 0:
                out = out.copy(data=_dilate(out.data, radius))
        if self.nodata:
            gaps = ~valid_mask(before) | ~valid_mask(after)
            out = gaps if out is None else out | gaps
        if out is None:
            return None
        return out.rename("excluded").assign_attrs(mask=repr(self))

    def reach(self, scene: xr.DataArray) -> int | None:
        """How many pixels of *scene* around a pixel its mask depends on: a window grown by
        this much gives, on its core, the whole grid's mask (frame edges stay frame edges).
        None when the mask depends on the whole scene (the reflectance test is read off a
        sample of it: a float scene with neither *blue_min* nor a reflectance scale).

        >>> import numpy as np, xarray as xr
        >>> s = xr.DataArray(np.zeros((3, 4, 4), "uint16"), dims=("band", "y", "x"))
        >>> MaskPolicy(reflectance_scale=10000, buffer_px=2, min_width_m=None).reach(s)
        2
        """
        if not self.clouds:
            return 0
        if (self.blue_min is None and self.reflectance_scale is None
                and "reflectance_scale" not in scene.attrs):
            return None
        from .indices import _half_width_px

        # the extent test is an opening (erosion, then dilation) of the white pixels
        return 2 * _half_width_px(scene, self.min_width_m) + self.buffer_radius(scene)

    def buffer_radius(self, scene: xr.DataArray) -> int:
        """The widening of the clouds in pixels of *scene* (*buffer_m* converted, or
        *buffer_px*)."""
        if self.buffer_m is None:
            return int(self.buffer_px)
        from ..frame import Frame

        try:
            frame = Frame.from_xarray(scene)
        except Exception as exc:  # no transform or CRS: metres mean nothing here
            raise DataError("MaskPolicy buffer_m needs georeferenced scenes", feature="buffer_m",
                            hint="give buffer_px instead, or open the scenes with open_scene"
                            ) from exc
        res = min(abs(float(r)) for r in frame.res)
        if frame.crs is not None and frame.crs.is_geographic:
            res *= 111_320.0  # degrees to metres along a meridian: a buffer needs no more
        return int(round(float(self.buffer_m) / res))

    def _scaled(self, scene: xr.DataArray) -> xr.DataArray:
        if self.reflectance_scale is None:
            return scene
        return scene.assign_attrs(reflectance_scale=float(self.reflectance_scale))


def why_no_valid_pixels(scene: xr.DataArray, mask: MaskPolicy | None = None) -> str | None:
    """Why a scene leaves the change score no valid pixel: ``"nodata"`` when it has none (read
    on a sample of windows over the whole grid), ``"cloud"`` when *mask* excludes every pixel
    it has data at (on every 16th row and column), else None.

    What a caller says when :func:`~onemap.change.threshold_score` raises
    :class:`~onemap.errors.NoValidPixelsError`: which date, and why.

    >>> import numpy as np, xarray as xr
    >>> s = xr.DataArray(np.zeros((3, 4, 4), "uint16"), dims=("band", "y", "x"),
    ...                  coords={"band": ["blue", "green", "red"]}, attrs={"nodata": 0})
    >>> why_no_valid_pixels(s)
    'nodata'
    """
    from ..ingest.window import read_windows
    from ._sample import sample_windows
    from ._scene import as_scene, nodata_of

    scene = as_scene(scene)
    nodata = nodata_of(scene)

    def valid(pixels: np.ndarray) -> np.ndarray:
        ok = np.isfinite(pixels).all(0)
        return ok if np.isnan(nodata) else ok & ~(pixels == nodata).any(0)

    windows = sample_windows((int(scene.shape[1]), int(scene.shape[2])), 1 << 20)
    if not any(valid(w).any() for w in read_windows(scene, windows)):
        return "nodata"
    excluded = None if mask is None else mask(scene, scene)
    if excluded is None:
        return None
    import dask

    cloud, pixels = (np.asarray(a) for a in dask.compute(excluded.data[::16, ::16],
                                                         scene.data[:, ::16, ::16]))
    seen = valid(pixels)
    return "cloud" if seen.any() and bool(cloud[seen].all()) else None


def _dilate(data: Any, radius: int) -> Any:
    from .morphology import binary_dilation

    # the dilation reaches radius pixels; nothing is cloud beyond the frame
    return apply_blocks(lambda x: binary_dilation(x, radius), data, halo=halo(radius),
                        boundary=False, dtype=bool)


def _positive(name: str, value: Any, *, none_ok: bool = False, zero_ok: bool = False) -> None:
    if value is None and none_ok:
        return
    ok = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if ok and math.isfinite(float(value)) and (float(value) > 0 or (zero_ok and value == 0)):
        return
    _bad(name, value, ("a number >= 0" if zero_ok else "a number > 0")
         + (" or None" if none_ok else ""))


def _bad(name: str, value: Any, what: str) -> None:
    raise DataError(f"MaskPolicy {name} must be {what}, got {value!r}", feature=name,
                    hint=f"pass MaskPolicy({name}=...) with {what}")
