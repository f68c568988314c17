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
* **Anything else** -> ``"cva"``, the change-vector magnitude over all bands in noise units.
  Coarser pixels (Sentinel-2 at 10 m, Landsat at 30 m) mix a new building with its surroundings,
  so construction shows up as a change of the mixture in any direction; without NIR (RGB) the
  gates cannot be evaluated and the ungated RGB construction evidence measured worse than the
  plain magnitude (``benchmarks/README.md``, "Change detection on real data"). A scene whose
  resolution cannot be read in metres is treated as "not known to be very high resolution".

The resolved method is recorded in the result's ``attrs["method"]``, with
``attrs["method_requested"] = "auto"`` and the reason in ``attrs["method_rule"]``.

Examples
--------
>>> choose_method(["blue", "green", "red", "nir"], 2.0)
('construction', 'nir band and 2 m pixels (<= 5 m): construction score')
>>> choose_method(["blue", "green", "red", "nir"], 10.0)[0]
'cva'
>>> choose_method(["red", "green", "blue"], 0.5)[0]
'cva'
>>> choose_method(["blue", "green", "red", "nir"], None)[0]
'cva'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

__all__ = ["DetectDefaults", "DEFAULTS", "PURE_PIXEL_MAX_RES", "choose_method", "resolve_method"]

# pixels at most this size (m) resolve a typical new building (>= ~10 m across) into pure pixels
PURE_PIXEL_MAX_RES = 5.0


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
    smooth: int = 1
    opening: int = 0
    normalize: str = "pif"
    connectivity: int = 8


DEFAULTS = DetectDefaults()


def choose_method(bands: Sequence[str], res_m: float | None) -> tuple[str, str]:
    """The change score for a scene with these *bands* and pixel size *res_m* (m, None if unknown).

    Returns ``(method, reason)``; see the module docstring for the rule and why.
    """
    names = {str(b).lower() for b in bands}
    has_nir = "nir" in names
    if res_m is None or not res_m > 0:
        size = "unknown pixel size"
    else:
        size = f"{res_m:g} m pixels"
    if has_nir and res_m is not None and 0 < res_m <= PURE_PIXEL_MAX_RES:
        return "construction", f"nir band and {size} (<= {PURE_PIXEL_MAX_RES:g} m): construction score"
    why = "no nir band" if not has_nir else f"{size} (not <= {PURE_PIXEL_MAX_RES:g} m: mixed pixels)"
    return "cva", f"{why}: change-vector magnitude"


def _res_m(scene: Any) -> float | None:
    """Pixel size in metres of a georeferenced scene (geodesic for lon/lat); None if unknown."""
    from ._scene import frame_of, pixel_area_m2

    try:
        frame = frame_of(scene, "scene")
        return float(pixel_area_m2(frame)) ** 0.5
    except Exception:  # not georeferenced, or a CRS without metres: resolution unknown
        return None


def resolve_method(method: str, scene: Any) -> tuple[str, dict[str, str]]:
    """*method* itself, or for ``"auto"`` the one :func:`choose_method` picks for *scene*; and
    the attrs that record the choice."""
    if str(method).lower() != "auto":
        return method, {}
    bands = [str(b) for b in scene.coords["band"].values] if "band" in scene.coords else []
    # canonical names only: a sensor suffix such as "B08" is resolved like the kernels do
    from ._scene import band_position

    try:
        band_position(scene, "nir")
        bands = bands + ["nir"]
    except Exception:
        pass
    chosen, reason = choose_method(bands, _res_m(scene))
    return chosen, {"method_requested": "auto", "method_rule": reason}
