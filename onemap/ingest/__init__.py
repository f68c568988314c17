"""Reading what a land bureau hands over: vector layers, boundary TXT files and imagery.

Vector layers (:func:`read_layer`, :func:`write_layer`, :func:`layer_info`), land-boundary TXT
(:func:`read_boundary_txt`, :func:`write_boundary_txt`, :func:`read_boundary_files`,
:func:`read_source`), scenes (:func:`open_scene`, :func:`align`, :func:`stack`, with their
provenance :class:`SceneSource` / :func:`scene_source`), windows of a scene
(:func:`read_window`, :func:`read_windows`), sensor presets and text encodings.
"""

from __future__ import annotations

# eager imports, like onemap.change and onemap.overlay: one rule for the subpackages
from .boundary_txt import read_boundary_txt, write_boundary_txt
from .encoding import decode_text, detect_encoding
from .provenance import SceneSource, scene_source
from .raster import align, open_scene, stack
from .sensors import SENSORS, SensorPreset, band_index, guess_date, guess_sensor, sensor_preset
from .sources import read_boundary_files, read_source
from .vector import KINDS, layer_info, read_layer, write_layer
from .window import read_window, read_windows

__all__ = [
    "KINDS", "SENSORS", "SceneSource", "SensorPreset", "align", "band_index", "decode_text",
    "detect_encoding", "guess_date", "guess_sensor", "layer_info", "open_scene",
    "read_boundary_files", "read_boundary_txt", "read_layer", "read_source", "read_window",
    "read_windows", "scene_source", "sensor_preset", "stack", "write_boundary_txt", "write_layer",
]
