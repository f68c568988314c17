"""onemap — China's land-and-resources "one map" (一张图) supervision in Python.

Load parcels, land-use survey layers, approvals, basic farmland, the ecological red line and
multi-date imagery into one :class:`Frame`; run numba overlay and change kernels; flag new
construction that no approval covers.

The public API is imported lazily (``onemap.read_layer`` loads only the ingest module), so
``import onemap`` is cheap in scripts and worker processes.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_API: dict[str, str] = {
    "Frame": "onemap.frame",
    "Tile": "onemap.frame",
    "OnemapError": "onemap.errors",
    # ingest
    "read_layer": "onemap.ingest.vector",
    "write_layer": "onemap.ingest.vector",
    "layer_info": "onemap.ingest.vector",
    "read_boundary_txt": "onemap.ingest.boundary_txt",
    "write_boundary_txt": "onemap.ingest.boundary_txt",
    "open_scene": "onemap.ingest.raster",
    "align": "onemap.ingest.raster",
    "stack": "onemap.ingest.raster",
    "band_index": "onemap.ingest.sensors",
    "sensor_preset": "onemap.ingest.sensors",
    # overlay
    "rasterize": "onemap.overlay.rasterize",
    "coverage_fractions": "onemap.overlay.rasterize",
    "zonal_stats": "onemap.overlay.zonal",
    "area_by_class": "onemap.overlay.zonal",
    "overlay_area": "onemap.overlay.vector",
    "ellipsoidal_area": "onemap.overlay.vector",
    # change
    "label": "onemap.change.label",
    "label_tiled": "onemap.change.label",
    "detect_changes": "onemap.change.detect",
    "normalize_radiometry": "onemap.change.normalize",
    "patches_from_labels": "onemap.change.patches",
    "patches_from_mask": "onemap.change.patches",
    "change_score": "onemap.change.detect",
    "cva": "onemap.change.detect",
    "threshold_score": "onemap.change.detect",
    "change_mask": "onemap.change.detect",
    "radiometric_coefficients": "onemap.change.normalize",
    "spectral_index": "onemap.change.indices",
    "water_mask": "onemap.change.indices",
    "cloud_mask": "onemap.change.indices",
    "make_county": "onemap.synth",
    # enforce and survey
    "flag_unapproved": "onemap.enforce",
    "summarize": "onemap.summary",
    "approvals_status": "onemap.summary",
    "evaluate": "onemap.summary",
    "load_config": "onemap.config",
    "run_survey": "onemap.survey",
    "write_report": "onemap.report",
    "check_invariants": "onemap.invariants",
    "export_results": "onemap.export",
    "match_previous": "onemap.history",
}
_SUBMODULES = {"crs", "errors", "codes", "frame", "ingest", "overlay", "change", "synth", "enforce",
               "summary", "config", "survey", "report", "invariants", "history"}

__all__ = sorted(_API) + sorted(_SUBMODULES) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"onemap.{name}")
    raise AttributeError(f"module 'onemap' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs
    from .errors import OnemapError
    from .frame import Frame, Tile
