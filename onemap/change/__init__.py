"""Change detection: scores, thresholds, masks, connected components and change patches.

The chain (:func:`detect_changes` runs it end to end): spectral indices (:mod:`.indices`) and
radiometric normalisation (:mod:`.normalize`) → a change score (:func:`change_score`, :func:`cva`)
→ a threshold (:func:`threshold_score`, :mod:`.threshold`) → a cleaned mask
(:func:`change_mask`, :mod:`.morphology`; clouds and nodata left out by a :class:`MaskPolicy`)
→ labels (:func:`label`, :func:`label_tiled`) →
patch polygons (:func:`patches_from_mask`, :func:`patches_from_labels`). Post-classification
comparison is :func:`class_change` / :func:`from_to_matrix`. Numba kernels live in the ``_*``
modules and are not public.
"""

from __future__ import annotations

# eager imports: a function shares its module's name (label, rasterize), so a lazy
# __getattr__ would hand back the module once anything had imported it
from .detect import change_score, cva, detect_changes
from .indices import (
    INDICES,
    bare_soil_index,
    brightness,
    cloud_mask,
    mndwi,
    ndbi,
    ndvi,
    ndwi,
    spectral_index,
    valid_mask,
    water_mask,
)
from .label import label, label_stats, label_tiled
from .morphology import (
    binary_closing,
    binary_dilation,
    binary_erosion,
    binary_opening,
    fill_holes,
    min_mapping_unit,
    remove_small,
)
from .normalize import normalize_radiometry, radiometric_coefficients
from .patches import COLUMNS, patches_from_labels, patches_from_mask
from .policy import MaskPolicy, why_no_valid_pixels
from .postclass import class_change, from_to_matrix
from .stages import (
    DetectionStatus,
    ThresholdResult,
    change_mask,
    patches_above,
    threshold_score,
)
from .threshold import fixed, k_sigma, otsu

# the trained detector's public names, imported on first use (LightGBM loads only when needed)
_TRAINED = {"ChangeModel": "model", "load_model": "model", "detect_with_model": "model",
            "ModelFileError": "model", "ModelMismatchError": "model", "train_change_model": "train",
            "LabelledPair": "train", "TrainingDataError": "train", "pixel_features": "features",
            "FeaturePlan": "features"}

__all__ = [
    "COLUMNS", "DetectionStatus", "INDICES", "MaskPolicy", "ThresholdResult", "bare_soil_index",
    "binary_closing", "binary_dilation", "binary_erosion",
    "binary_opening", "brightness", "change_mask", "change_score", "class_change", "cloud_mask",
    "cva", "detect_changes", "fill_holes", "fixed", "from_to_matrix", "k_sigma", "label",
    "label_stats", "label_tiled", "min_mapping_unit", "mndwi", "ndbi", "ndvi", "ndwi",
    "normalize_radiometry", "otsu", "patches_above", "patches_from_labels", "patches_from_mask",
    "radiometric_coefficients", "remove_small", "spectral_index", "threshold_score", "valid_mask",
    "water_mask", "why_no_valid_pixels", *_TRAINED,
]


def __getattr__(name: str) -> object:
    if name in _TRAINED:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_TRAINED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
