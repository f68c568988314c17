"""onemap — China's land-and-resources "one map" (一张图) supervision in Python.

Load parcels, land-use survey layers, approvals, basic farmland, the ecological red line and
multi-date imagery into one :class:`Frame`; run numba overlay and change kernels; flag new
construction that no approval covers.

The public surface has three tiers:

* ``onemap.<name>`` — the pipeline: the frame, reading layers and scenes, overlay, change
  detection, enforcement, summaries and the survey (``__all__`` below);
* ``onemap.ingest``, ``onemap.overlay``, ``onemap.change`` — the building blocks each stage is
  made of (indices, thresholds, morphology, labelling, provenance, ...), exported by each
  subpackage; ``onemap.crs``, ``onemap.errors`` and ``onemap.codes`` likewise;
* ``onemap.testing`` — tools to test a pipeline: the synthetic county and the accuracy check.

Names are imported lazily (``onemap.read_layer`` loads only the ingest package), so
``import onemap`` is cheap in scripts and worker processes; type checkers and IDEs see them
through the ``TYPE_CHECKING`` imports at the end.
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
    # overlay
    "rasterize": "onemap.overlay.rasterize",
    "coverage_fractions": "onemap.overlay.rasterize",
    "zonal_stats": "onemap.overlay.zonal",
    "area_by_class": "onemap.overlay.zonal",
    "overlay_area": "onemap.overlay.vector",
    "ellipsoidal_area": "onemap.overlay.vector",
    # change
    "detect_changes": "onemap.change.detect",
    # enforce and survey
    "flag_unapproved": "onemap.enforce",
    "summarize": "onemap.summary",
    "approvals_status": "onemap.summary",
    "load_config": "onemap.config",
    "run_survey": "onemap.survey",
    "write_report": "onemap.report",
    "check_invariants": "onemap.invariants",
    "export_results": "onemap.export",
    "match_previous": "onemap.history",
}
# building blocks that callers (tests) reach as onemap.<name>: kept working, not advertised;
# their home is onemap.change
_ALIASES: dict[str, str] = {
    "label": "onemap.change.label",
    "label_tiled": "onemap.change.label",
    "normalize_radiometry": "onemap.change.normalize",
    "radiometric_coefficients": "onemap.change.normalize",
    "patches_from_labels": "onemap.change.patches",
    "patches_from_mask": "onemap.change.patches",
    "change_score": "onemap.change.detect",
    "cva": "onemap.change.detect",
    "threshold_score": "onemap.change.detect",
}
_SUBMODULES = {"crs", "errors", "codes", "frame", "history", "ingest", "overlay", "change",
               "synth", "enforce", "summary", "config", "survey", "report", "invariants",
               "export", "testing"}

# literal, so linters and type checkers read it; tests check it matches _API and _SUBMODULES
__all__ = [
    "Frame", "OnemapError", "Tile", "align", "approvals_status", "area_by_class",
    "check_invariants", "coverage_fractions", "detect_changes", "ellipsoidal_area",
    "export_results", "flag_unapproved", "layer_info", "load_config", "match_previous",
    "open_scene", "overlay_area", "rasterize", "read_boundary_txt", "read_layer", "run_survey",
    "stack", "summarize", "write_boundary_txt", "write_layer", "write_report", "zonal_stats",
    "change", "codes", "config", "crs", "enforce", "errors", "export", "frame", "history",
    "ingest", "invariants", "overlay", "report", "summary", "survey", "synth", "testing",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _API.get(name) or _ALIASES.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"onemap.{name}")
    raise AttributeError(f"module 'onemap' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # the same names, for type checkers and IDEs
    from . import (
        change,
        codes,
        config,
        crs,
        enforce,
        errors,
        export,
        frame,
        history,
        ingest,
        invariants,
        overlay,
        report,
        summary,
        survey,
        synth,
        testing,
    )
    from .change.detect import change_score as change_score
    from .change.detect import cva as cva
    from .change.detect import detect_changes
    from .change.detect import threshold_score as threshold_score
    from .change.label import label as label
    from .change.label import label_tiled as label_tiled
    from .change.normalize import normalize_radiometry as normalize_radiometry
    from .change.normalize import radiometric_coefficients as radiometric_coefficients
    from .change.patches import patches_from_labels as patches_from_labels
    from .change.patches import patches_from_mask as patches_from_mask
    from .config import load_config
    from .enforce import flag_unapproved
    from .errors import OnemapError
    from .export import export_results
    from .frame import Frame, Tile
    from .history import match_previous
    from .ingest.boundary_txt import read_boundary_txt, write_boundary_txt
    from .ingest.raster import align, open_scene, stack
    from .ingest.vector import layer_info, read_layer, write_layer
    from .invariants import check_invariants
    from .overlay.rasterize import coverage_fractions, rasterize
    from .overlay.vector import ellipsoidal_area, overlay_area
    from .overlay.zonal import area_by_class, zonal_stats
    from .report import write_report
    from .summary import approvals_status, summarize
    from .survey import run_survey
