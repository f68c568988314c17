"""The keys of a survey TOML, each declared once: type, default, meaning (:data:`SCHEMA`).

Defaults of the detector are read from :func:`onemap.detect_changes`' own signature
(:class:`Lib`), so a survey and a call to ``detect_changes`` agree; :func:`keys_doc` lists every
key with its default. :mod:`onemap.config` reads a TOML against this schema.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._config_check import Validator

__all__ = ["LAYER_KINDS", "SCHEMA", "Key", "Lib", "default", "keys_doc"]

#: config layer name -> onemap.read_layer kind
LAYER_KINDS = {
    "landuse": "landuse", "approvals": "approval", "supply": "supply", "farmland": "farmland",
    "redline": "redline", "cadastral": "cadastral", "admin": "admin",
}
_REQUIRED_LAYERS = ("landuse",)
_THRESHOLDS = ("otsu", "k_sigma")


@dataclass(frozen=True)
class Lib:
    """A default read from :func:`onemap.detect_changes`' signature (the library's own default)."""

    parameter: str

    def value(self) -> Any:
        from .change.detect import detect_changes

        return inspect.signature(detect_changes).parameters[self.parameter].default


@dataclass(frozen=True)
class Key:
    """One TOML key: its type, default and meaning.

    ``type`` is one of ``"str"``, ``"float"``, ``"int"``, ``"bool"``, ``"table"``, ``"any"`` or a
    tuple of them (``("str", "float")``: a name or a number). ``choices`` are the names a string
    may take (a misspelt one gets a "did you mean"); ``minimum`` a lower bound (``above``: strict);
    ``check(validator, value, label)`` a further check that returns the value to keep.
    """

    type: str | tuple[str, ...]
    default: Any = None
    doc: str = ""
    minimum: float | None = None
    above: bool = False
    choices: Callable[[], tuple[str, ...]] | tuple[str, ...] | None = None
    check: Callable[[Validator, Any, str], Any] | None = None

    def default_value(self) -> Any:
        return self.default.value() if isinstance(self.default, Lib) else self.default


def _methods() -> tuple[str, ...]:
    from .change._plan import METHODS

    return ("auto", *METHODS)  # "auto": the score picked from the scene (onemap.change.defaults)


def _normalizations() -> tuple[str, ...]:
    from .change.normalize import METHODS

    return tuple(METHODS)


def _indices() -> tuple[str, ...]:
    from .change.indices import INDICES

    return tuple(INDICES)


# One entry per line: branches that add keys add lines. Tables: the TOML table name; "scene" and
# "layer" are every [scenes.X] and [layers.X].
SCHEMA: dict[str, dict[str, Key]] = {
    "": {
        "survey": Key("table", doc="name and output folder"),
        "frame": Key("table", doc="CRS, resolution and extent of the survey grid"),
        "scenes": Key("table", doc="[scenes.before] and [scenes.after]"),
        "layers": Key("table", doc="[layers.landuse], [layers.approvals], ..."),
        "detect": Key("table", doc="change detection"),
        "enforce": Key("table", doc="verdicts and county figures"),
        "run": Key("table", doc="tiling and scheduler"),
        "report": Key("table", doc="report and CSV language"),
        "history": Key("table", doc="year over year: earlier years' results"),
        "database": Key("table", doc="PostGIS database the results are written into"),
    },
    "survey": {
        "name": Key("str", None, "title of the report (default: the TOML file's name)"),
        "output": Key("str", "onemap_out", "output folder, relative to the TOML file"),
    },
    "frame": {
        "crs": Key(("int", "str"), None, "frame CRS, e.g. 4527 (default: the after-scene's)"),
        "zone": Key("int", None, "CGCS2000 Gauss-Kruger zone (3°: 25-45, 6°: 13-23)"),
        "res": Key("float", None, "pixel size in frame units (default: the after-scene's)", 0,
                   True),
        "extent": Key(("str", "list"), "scenes", '"scenes" or [left, bottom, right, top]'),
    },
    "scene": {
        "path": Key("str", None, "the raster (one multi-band file)"),
        "paths": Key("list", None, "one file per band (e.g. Sentinel-2)"),
        "sensor": Key("str", None,
                      "sensor preset: gf1, gf2, gf6, sentinel2, landsat5-9, rgb, rgbn"),
        "date": Key(("str", "date"), None, "acquisition date (default: read from the files)"),
        "bands": Key("list", None,
                     "band names in file order, e.g. [\"blue\", \"green\", \"red\", \"nir\"]"),
        "crs": Key(("int", "str"), None, "CRS of files that declare none (no reprojection)"),
    },
    "layer": {
        "path": Key("str", None, "GeoPackage/shapefile/..., a TXT file or a folder of TXT files"),
        "layer": Key("str", None, "layer name inside a multi-layer file"),
        "encoding": Key("str", None, "attribute/text encoding, e.g. \"gbk\" (default: detected)"),
        "crs": Key(("int", "str"), None, "CRS of a file that declares none (or a wrong one)"),
        "allow_empty": Key("bool", False, "[layers.approvals] only: a layer with no feature is "
                                          "accepted (every new construction is then unapproved)"),
        "url": Key("str", None, "a PostGIS source instead of path: postgresql://user@host:port/db "
                                "(password from PGPASSWORD or ~/.pgpass)"),
        "table": Key("str", None, "with url: the table, \"schema.table\""),
        "where": Key("str", None, "with url: an SQL condition on the table's rows"),
    },
    "detect": {
        "method": Key("str", Lib("method"), "change score", choices=_methods),
        "threshold": Key(("str", "float"), Lib("threshold"),
                         '"otsu", "k_sigma" or a number (noise sigmas)', choices=_THRESHOLDS),
        "min_area": Key("float", 200.0, "smallest patch in m² (survey default)", 0),
        "k": Key("float", Lib("k"), "multiplier of threshold = \"k_sigma\"", 0, True),
        "options": Key("table", {}, "[detect.options]"),
        "model": Key("str", None, "a trained change model file (onemap train), relative to this "
                                  "file; replaces method and threshold"),
        "prescreen": Key("float", Lib("prescreen"), "with model: 0 scores every pixel, a number "
                                                    "> 0 is a fixed CVA level (noise sigmas); "
                                                    "default: the model's learned screen", 0),
    },
    "detect.options": {
        "normalize": Key("str", Lib("normalize"), "radiometric normalisation of the after-scene",
                         choices=_normalizations),
        "smooth": Key("int", Lib("smooth"), "box-mean radius on the score (pixels)", 0),
        "opening": Key("int", Lib("opening"), "binary opening radius of the change mask (pixels)",
                       0),
        "connectivity": Key("int", Lib("connectivity"), "8 or 4 neighbours join a patch",
                            check=lambda v, x, label: x if x in (4, 8)
                            else v.fail(label, f"must be 4 or 8, got {x!r}")),
        "noise_floor": Key("float", Lib("noise_floor"),
                           "lowest data-driven threshold (noise sigmas)", 0),
        "sample_pixels": Key("int", Lib("sample_pixels"), "pixels sampled for global statistics",
                             1),
        "index": Key("str", Lib("index"), "method = \"index_diff\" only: the spectral index",
                     choices=_indices),
        "direction": Key("str", Lib("direction"), "method = \"index_diff\" only: gain, loss or abs",
                         choices=("gain", "loss", "abs")),
        "reflectance_scale": Key("float", None, "digital numbers per unit reflectance "
                                                "(e.g. 10000): enables the cloud mask", 0, True),
        "cloud_mask": Key("bool", True, "mask clouds of both dates (needs reflectance_scale)"),
        "cloud_buffer_px": Key("int", 3,
                               "cloud mask dilation (pixels): cloud edges are translucent", 0),
    },
    "enforce": {
        "tolerance_m": Key("float", 1.0, "sliver tolerance in metres", 0),
        "ratio_threshold": Key("float", 0.15, "illegal-area ratio above which a county exceeds", 0),
    },
    "run": {
        "tile_size": Key("int", 2048, "tile side in pixels", 1),
        "scheduler": Key("str", None, "\"threads\", \"synchronous\" or a dask scheduler address"),
        "workers": Key("int", None, "threads of the local scheduler", 1),
    },
    "report": {
        "lang": Key("str", "zh", "language of the report and the CSVs: \"zh\" or \"en\"",
                    choices=("zh", "en")),
    },
    "history": {
        "previous": Key("list", None, "earlier years' results, oldest first: paths, "
                                      "{path, layer, crs} or {url, table, where} tables"),
        "min_overlap": Key("float", 0.3, "same place: intersection share of the smaller patch",
                           0, True),
        "resolved": Key("list", None, "decisions that close a case (default: the module's list)"),
    },
    "database": {
        "url": Key("str", None,
                   "postgresql://user@host:port/db (password from PGPASSWORD or ~/.pgpass)"),
        "county": Key("str", None,
                      "county code of this survey (part of the key its rows are kept by)"),
        "schema": Key("str", "onemap", "database schema of the result tables"),
    },
}
#: [detect.options] that only some methods use: option -> the methods
_METHOD_OPTIONS = {"index": ("index_diff",), "direction": ("index_diff",)}
#: layers that may be empty when the TOML says allow_empty = true
_MAY_BE_EMPTY = ("approvals",)


_TABLE_NAMES = {"scene": "scenes.before], [scenes.after", "layer": "layers.NAME"}


def default(table: str, key: str) -> Any:
    """The default of ``[table] key`` (library defaults resolved).

    Examples
    --------
    >>> import inspect, onemap
    >>> default("detect", "k") == inspect.signature(onemap.detect_changes).parameters["k"].default
    True
    """
    return SCHEMA[table][key].default_value()


def keys_doc() -> str:
    """Every key of a survey TOML with its type, default and meaning (one line each)."""
    lines = []
    for table, keys in SCHEMA.items():
        if not table:
            continue
        lines.append(f"[{_TABLE_NAMES.get(table, table)}]")
        for name, key in keys.items():
            t = key.type if isinstance(key.type, str) else " or ".join(key.type)
            lines.append(f"  {name} ({t}, default {key.default_value()!r}): {key.doc}")
    return "\n".join(lines)
