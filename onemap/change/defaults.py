"""The detector's defaults in one place, and the rule that picks the default change score.

:func:`onemap.detect_changes` and the survey (:mod:`onemap.config`) both read :data:`DEFAULTS`,
so a survey without a ``[detect]`` table detects exactly what ``detect_changes(before, after)``
detects.

The default ``method="auto"`` resolves per scene pair to a concrete score by what the scene
*has*, never by where it comes from (:func:`choose_method`):

* **NIR band and pixels of at most** :data:`PURE_PIXEL_MAX_RES` **m** (very high resolution
  multispectral, e.g. GF-2 at 2 m) -> ``"construction"``. A new building of ~10 m covers several
  pure pixels, so a *directional* score (vegetation lost, brightening, greying, not still
  vegetated, not water) can tell it from other change; NIR is what the vegetation and water
  gates read.
* **No NIR, sub-metre pixels** (< :data:`SUB_METRE` m, e.g. 0.5 m aerial or Google Earth RGB)
  -> ``"construction"`` (its RGB mode). At this scale single cars, shadows and tree crowns are
  many pixels and change between dates in every direction, so they dominate an undirected
  magnitude; new roofs and paving brighten, grey or replace vegetation, which the one-sided
  construction evidence keeps while it ignores darkening (shadows). Measured on LEVIR-CD
  (0.5 m, the only sub-metre sample): the pixels CVA ranks highest are changed *less* often
  than average there.
* **Anything else** -> ``"cva"``, the change-vector magnitude over all bands in noise units.
  Coarser pixels (Sentinel-2 at 10 m, Landsat at 30 m) mix a new building with its surroundings,
  so construction shows up as a change of the mixture in any direction; RGB at 1-5 m has no NIR
  for the gates, and there groundwork (bare soil exposed) is part of what a campaign wants found.
  A scene whose resolution cannot be read in metres gets ``"cva"`` too (no claim of very high
  resolution is made for it).

The default smoothing (``smooth="auto"``, :func:`smooth_radius`) is a box mean of about
:data:`SMOOTH_RADIUS_M` m ground radius (at least 1 pixel): small enough that no building
disappears (a 3-4 m window), large enough that sub-metre texture, cars and one-pixel
misregistration are averaged out. It is 1 pixel for pixels of 1.2 m and larger, 2 at 1 m, 3 at
0.5 m.

The resolved method and smoothing are recorded in the result's ``attrs["method"]`` and
``attrs["smooth"]``, with ``attrs["method_requested"] = "auto"`` and the reason in
``attrs["method_rule"]``. Measured against a naive baseline on the shared real samples:
``benchmarks/README.md``, "Change detection on real data".

Examples
--------
>>> choose_method(["blue", "green", "red", "nir"], 2.0)
('construction', 'nir band and 2 m pixels (<= 5 m): construction score')
>>> choose_method(["blue", "green", "red", "nir"], 10.0)[0]
'cva'
>>> choose_method(["red", "green", "blue"], 0.5)[0]
'construction'
>>> choose_method(["red", "green", "blue"], 1.5)[0]
'cva'
>>> smooth_radius(0.5), smooth_radius(2.0), smooth_radius(30.0), smooth_radius(None)
(3, 1, 1, 1)
>>> choose_method(["blue", "green", "red", "nir"], None)[0]
'cva'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULTS",
    "PURE_PIXEL_MAX_RES",
    "SMOOTH_RADIUS_M",
    "SUB_METRE",
    "DetectDefaults",
    "choose_method",
    "resolve_method",
    "resolve_smooth",
    "smooth_radius",
]

# pixels at most this size (m) resolve a typical new building (>= ~10 m across) into pure pixels
PURE_PIXEL_MAX_RES = 5.0
# below this pixel size (m) cars, shadows and tree crowns are many pixels each
SUB_METRE = 1.0
# ground radius (m) of the default score smoothing; MAX_SMOOTH_PX bounds the window's cost
SMOOTH_RADIUS_M = 1.5
MAX_SMOOTH_PX = 8


@dataclass(frozen=True)
class DetectDefaults:
    """Defaults of the change detector (library and survey alike).

    ``method`` ``"auto"`` (see :func:`choose_method`); ``threshold`` Otsu on the whole score;
    ``k`` the multiplier of ``threshold="k_sigma"``; ``noise_floor`` the lowest data-driven
    threshold in noise sigmas (with rare change Otsu splits the unchanged background itself);
    ``smooth`` radius of the box mean on the score; ``opening`` radius of the mask opening;
    ``normalize`` the relative radiometric normalisation; ``connectivity`` of patches.
    """

    method: str = "auto"
    threshold: str = "otsu"
    k: float = 3.0
    noise_floor: float | None = 2.0
    smooth: int | str = "auto"
    opening: int = 0
    normalize: str = "pif"
    connectivity: int = 8


DEFAULTS = DetectDefaults()


def choose_method(bands: Sequence[str], res_m: float | None) -> tuple[str, str]:
    """The change score for a scene with these *bands* and pixel size *res_m* (m, None if unknown).

    Returns ``(method, reason)``; see the module docstring for the rule and why.
    """
    names = {str(b).lower() for b in bands}
    known = res_m is not None and res_m > 0
    res = res_m if res_m is not None else 0.0
    size = f"{res:g} m pixels" if known else "unknown pixel size"
    if "nir" in names:
        if known and res <= PURE_PIXEL_MAX_RES:
            return "construction", (f"nir band and {size} (<= {PURE_PIXEL_MAX_RES:g} m): "
                                    "construction score")
        return "cva", (f"nir band, {size} (not <= {PURE_PIXEL_MAX_RES:g} m: mixed pixels): "
                       "change-vector magnitude")
    if known and res < SUB_METRE and {"blue", "green", "red"} <= names:
        return "construction", (f"no nir band, {size} (< {SUB_METRE:g} m): "
                                "construction score, RGB mode")
    return "cva", f"no nir band, {size}: change-vector magnitude"


def smooth_radius(res_m: float | None) -> int:
    """Radius in pixels of the default score smoothing: ~:data:`SMOOTH_RADIUS_M` m, at least 1."""
    if res_m is None or not res_m > 0:
        return 1
    return int(min(MAX_SMOOTH_PX, max(1, round(SMOOTH_RADIUS_M / res_m))))


def _res_m(scene: Any) -> float | None:
    """Pixel size in metres of a georeferenced scene (geodesic for lon/lat); None if unknown."""
    from ..errors import OnemapError
    from ._scene import frame_of, pixel_area_m2

    try:
        frame = frame_of(scene, "scene")
        return float(pixel_area_m2(frame)) ** 0.5
    except (OnemapError, ValueError, TypeError):  # not georeferenced: resolution unknown
        return None


def resolve_method(method: str, scene: Any) -> tuple[str, dict[str, str]]:
    """*method* itself, or for ``"auto"`` the one :func:`choose_method` picks for *scene*; and
    the attrs that record the choice."""
    if str(method).lower() != "auto":
        return method, {}
    bands = [str(b) for b in scene.coords["band"].values] if "band" in scene.coords else []
    # canonical names only: a sensor suffix such as "B08" is resolved like the kernels do
    from ..errors import DataError
    from ._scene import band_position

    for role in ("blue", "green", "red", "nir"):
        try:
            band_position(scene, role)
        except DataError:
            continue  # the scene lacks this role
        bands.append(role)
    chosen, reason = choose_method(bands, _res_m(scene))
    return chosen, {"method_requested": "auto", "method_rule": reason}


def resolve_smooth(smooth: int | str, scene: Any) -> int:
    """*smooth* as an int radius; ``"auto"`` is :func:`smooth_radius` of *scene*'s pixel size."""
    if isinstance(smooth, str):
        if smooth.lower() != "auto":
            from ..errors import DataError

            raise DataError(f"smooth must be a radius in pixels or 'auto', got {smooth!r}")
        return smooth_radius(_res_m(scene))
    return int(smooth)
