"""Survey configuration: a TOML file, validated up front.

Every error names the file and the key (``[layers.landuse] path``) and says what to do; unknown
keys are errors with a "did you mean" suggestion, because a misspelt option that is silently
ignored is how a province-wide run goes wrong. Relative paths are resolved against the directory
of the TOML file. When ``[frame]`` names a Gauss-Kruger zone (``zone =``, or a Gauss-Kruger
``crs =``), the scenes' headers are read and their centre must lie in that zone or within 0.5° of
its edge: a config copied from the county next door fails here, not after the ingest.

Every key is declared once in :data:`SCHEMA` (type, default, what it does): the types of every
key, ``[detect.options]`` included, the change method, the threshold and the sensors are checked
at load, before any file is read. Defaults of the detector (``method``, ``threshold``, ``k`` and
the ``[detect.options]`` that are :func:`onemap.detect_changes` parameters) are read from the
library's own signature, so a survey and a call to ``detect_changes`` agree. ``min_area`` is the
survey's own default (200 m²: a county survey ignores smaller patches; ``detect_changes`` keeps
every patch unless told). Sensor names accept the aliases of :func:`onemap.ingest.sensors.sensor_preset`
(``"GF-2"``, ``"gf-2"``, ``"S2"``, ``"L8"`` ...) and are stored under the preset's name (``"gf2"``).

An approvals layer with no feature (a county that approved nothing that year) is refused unless
``[layers.approvals] allow_empty = true`` says so: then every new construction is unapproved, and
no warning is given (the TOML said it). :func:`keys_doc` lists every key with its default.

Example
-------
.. code-block:: toml

    [survey]
    name = "Sample county 2024-2025"
    output = "out"

    [frame]
    crs = 4527            # or zone = 39 (CGCS2000 3-degree, prefixed)
    res = 2.0
    extent = "scenes"     # or [left, bottom, right, top]

    [scenes.before]
    path = "before.tif"
    sensor = "gf2"
    date = "2024-09-01"

    [scenes.after]
    path = "after.tif"
    sensor = "gf2"
    date = "2025-09-01"

    [layers.landuse]
    path = "dltb.gpkg"

    [layers.approvals]
    path = "approvals"    # a GeoPackage/shapefile, a TXT file or a folder of TXT files

    [layers.farmland]     # any layer may come from PostGIS instead of a file:
    url = "postgresql://gis@yzt-db:5432/yzt"   # password: PGPASSWORD or ~/.pgpass, never here
    table = "jbnt.yjjbnt"                      # schema.table (or a view)
    where = "XZQDM LIKE '330102%'"             # optional SQL condition
    # only features touching the frame are fetched (the server's spatial index does the filter)

    [database]            # optional: results also go into PostGIS (onemap.db.write_results)
    url = "postgresql://gis@yzt-db:5432/yzt"
    schema = "wpzf"       # default "onemap"; tables verdicts, county_summary, approvals_status
    county = "330102"     # county code of the survey key (with [survey] name, the image dates and
                          # the onemap version): a rerun replaces exactly that survey's rows

    [detect]
    method = "construction"
    min_area = 200.0

    [detect.options]
    reflectance_scale = 10000.0   # digital numbers per unit reflectance: enables the cloud mask
    smooth = 1

    [enforce]
    tolerance_m = 1.0
    ratio_threshold = 0.15

    [report]
    lang = "zh"           # report and CSV headers: "zh" (default) or "en"

    [history]             # optional: year over year (onemap.history.match_previous)
    previous = ["../2023/out/verdicts.gpkg", "../2024/out/verdicts.parquet"]   # oldest first
    min_overlap = 0.3     # same place: intersection >= 30 % of the smaller patch
    resolved = ["已整改", "已拆除"]   # optional: decisions that close a case (default: the module's list)

``[history] previous`` lists earlier years' results: paths (GeoPackage, GeoParquet, any layer
:func:`onemap.read_layer` reads; relative to the TOML file), inline tables ``{path = "...",
layer = "...", crs = 4527}``, or database tables ``{url = "postgresql://gis@db/yzt", table =
"wpzf.verdicts", where = "county_code = '330102' AND survey_name = '2024 卫片执法'"}`` (the
password from ``PGPASSWORD`` or ``~/.pgpass``, never in the URL; only the rows around the
patches are fetched). This survey's own output is refused (a rerun would match itself). With
``[history]`` every patch gets the ``history``/``prev_*`` columns and the county table separates
new cases from old ones still unresolved; the files are hashed into the manifest like the inputs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .change.defaults import DEFAULTS
from .errors import ConfigError

if TYPE_CHECKING:
    from ._config_check import Validator

__all__ = ["SurveyConfig", "SceneSpec", "LayerSpec", "DatabaseSpec", "load_config", "LAYER_KINDS", "SCHEMA", "Key",
           "keys_doc"]

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
        "res": Key("float", None, "pixel size in frame units (default: the after-scene's)", 0, True),
        "extent": Key(("str", "list"), "scenes", '"scenes" or [left, bottom, right, top]'),
    },
    "scene": {
        "path": Key("str", None, "the raster (one multi-band file)"),
        "paths": Key("list", None, "one file per band (e.g. Sentinel-2)"),
        "sensor": Key("str", None, "sensor preset: gf1, gf2, gf6, sentinel2, landsat5-9, rgb, rgbn"),
        "date": Key(("str", "date"), None, "acquisition date (default: read from the files)"),
        "bands": Key("list", None, "band names in file order, e.g. [\"blue\", \"green\", \"red\", \"nir\"]"),
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
        "threshold": Key(("str", "float"), Lib("threshold"), '"otsu", "k_sigma" or a number (noise sigmas)',
                         choices=_THRESHOLDS),
        "min_area": Key("float", 200.0, "smallest patch in m² (survey default)", 0),
        "k": Key("float", Lib("k"), "multiplier of threshold = \"k_sigma\"", 0, True),
        "options": Key("table", {}, "[detect.options]"),
        "model": Key("str", None, "a trained change model file (onemap train), relative to this "
                                  "file; replaces method and threshold"),
    },
    "detect.options": {
        "normalize": Key("str", Lib("normalize"), "radiometric normalisation of the after-scene",
                         choices=_normalizations),
        "smooth": Key("int", Lib("smooth"), "box-mean radius on the score (pixels)", 0),
        "opening": Key("int", Lib("opening"), "binary opening radius of the change mask (pixels)", 0),
        "connectivity": Key("int", Lib("connectivity"), "8 or 4 neighbours join a patch",
                            check=lambda v, x, label: x if x in (4, 8) else v.fail(label, f"must be 4 or 8, got {x!r}")),
        "noise_floor": Key("float", Lib("noise_floor"), "lowest data-driven threshold (noise sigmas)", 0),
        "sample_pixels": Key("int", Lib("sample_pixels"), "pixels sampled for global statistics", 1),
        "index": Key("str", Lib("index"), "method = \"index_diff\" only: the spectral index",
                     choices=_indices),
        "direction": Key("str", Lib("direction"), "method = \"index_diff\" only: gain, loss or abs",
                         choices=("gain", "loss", "abs")),
        "reflectance_scale": Key("float", None, "digital numbers per unit reflectance (e.g. 10000): "
                                                "enables the cloud mask", 0, True),
        "cloud_mask": Key("bool", True, "mask clouds of both dates (needs reflectance_scale)"),
        "cloud_buffer_px": Key("int", 3, "cloud mask dilation (pixels): cloud edges are translucent", 0),
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
        "min_overlap": Key("float", 0.3, "same place: intersection share of the smaller patch", 0, True),
        "resolved": Key("list", None, "decisions that close a case (default: the module's list)"),
    },
    "database": {
        "url": Key("str", None, "postgresql://user@host:port/db (password from PGPASSWORD or ~/.pgpass)"),
        "county": Key("str", None, "county code of this survey (part of the key its rows are kept by)"),
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


@dataclass(frozen=True)
class SceneSpec:
    paths: tuple[Path, ...]
    sensor: str | None = None
    date: str | None = None
    bands: tuple[str, ...] | None = None
    crs: Any = None


@dataclass(frozen=True)
class LayerSpec:
    name: str
    kind: str
    path: Path | None
    layer: str | None = None
    encoding: str | None = None
    crs: Any = None
    allow_empty: bool = False
    url: str | None = None       # a PostGIS source instead of path (with table, where)
    table: str | None = None
    where: str | None = None


@dataclass(frozen=True)
class DatabaseSpec:
    """Where ``[database]`` puts the results (see :func:`onemap.db.write_results`)."""

    url: str
    county: str
    schema: str = "onemap"


@dataclass(frozen=True)
class SurveyConfig:
    """A validated survey description (see the module docstring for the TOML layout).

    Built by :func:`load_config`, which fills every field (defaults from :data:`SCHEMA`);
    ``detect_options`` holds every ``[detect.options]`` key, given or default.
    """

    source: Path | None
    name: str
    output: Path
    before: SceneSpec
    after: SceneSpec
    layers: dict[str, LayerSpec]
    frame_crs: Any = None
    frame_zone: int | None = None
    res: float | None = None
    extent: tuple[float, float, float, float] | None = None
    method: str = DEFAULTS.method
    threshold: Any = "otsu"
    min_area: float = 200.0
    k: float = DEFAULTS.k
    detect_options: dict[str, Any] = field(default_factory=dict)
    tolerance_m: float = 1.0
    ratio_threshold: float = 0.15
    tile_size: int = 2048
    scheduler: str | None = None
    workers: int | None = None
    report_lang: str = "zh"  # [report] lang: "zh" or "en" (report and CSV headers)
    history_previous: tuple[dict[str, Any], ...] = ()  # read_layer sources: {"path": ..., "layer": ...}
    history_min_overlap: float = 0.3
    history_resolved: tuple[str, ...] | None = None
    database: DatabaseSpec | None = None
    detect_model: Path | None = None  # a trained change model (onemap train); replaces method

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (recorded in the survey manifest)."""
        def conv(v: Any) -> Any:
            if isinstance(v, Path):
                return str(v)
            if isinstance(v, (SceneSpec, LayerSpec, DatabaseSpec)):
                return {k: conv(x) for k, x in v.__dict__.items()}
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            if isinstance(v, (tuple, list)):
                return [conv(x) for x in v]
            return v if isinstance(v, (str, int, float, bool, type(None))) else str(v)
        return {k: conv(v) for k, v in self.__dict__.items()}


def load_config(source: str | Path | Mapping[str, Any], base: str | Path | None = None) -> SurveyConfig:
    """Read and validate a survey configuration from a TOML file or a mapping.

    Parameters
    ----------
    source
        Path of a TOML file, or an already-parsed mapping of the same structure.
    base
        Directory that relative paths are resolved against (default: the TOML file's folder, or
        the current directory for a mapping).

    Raises
    ------
    ConfigError
        Naming the file, the key (``[detect.options] reflectence_scale``) and the fix: unknown
        keys (with a "did you mean"), wrong types, unknown methods, thresholds, sensors and
        options the method does not take, missing files.
    """
    path: Path | None = None
    if isinstance(source, Mapping):
        raw = dict(source)
        root = Path(base or ".").resolve()
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError("survey configuration not found", path=path, hint="give the path of a .toml file")
        from ._toml import load_toml  # syntax errors name the line, the column and the fix

        raw = load_toml(path)
        root = Path(base).resolve() if base else path.resolve().parent
    from ._config_check import (
        Validator,
        _database,
        _history,
        check_frame_res,
        check_frame_zone,
        choices_of,
        is_number,
    )

    v = Validator(path, root)

    v.keys(raw, set(SCHEMA[""]), "")
    survey = v.table(raw, "survey", required=False)
    frame = v.table(raw, "frame", required=False)
    scenes = v.table(raw, "scenes", required=True, allowed={"before", "after"})
    layers = v.table(raw, "layers", required=True, allowed=set(LAYER_KINDS))
    detect = v.table(raw, "detect", required=False)
    enforce = v.table(raw, "enforce", required=False)
    run = v.table(raw, "run", required=False)
    report = v.table(raw, "report", required=False)
    history = v.table(raw, "history", required=False)
    database = v.table(raw, "database", required=False)
    options = v.table(detect, "options", required=False, schema="detect.options", where="detect.options")

    # what the detector will be asked, before any file is read
    method = detect["method"]
    threshold = detect["threshold"]
    for name, methods in _METHOD_OPTIONS.items():
        if name in v.given["detect.options"] and method not in methods:
            raise v.error(f"[detect.options] {name}", f"is not used by method = {method!r}",
                          f"remove it, or set method = {methods[0]!r} under [detect]")
        if method in methods and options[name] is None:
            raise v.error("[detect.options]", f"method = {method!r} needs {name}",
                          f"add {name} = ... under [detect.options] ({', '.join(choices_of(SCHEMA['detect.options'][name]))})")

    if "cloud_mask" in v.given["detect.options"] and options["cloud_mask"] and options["reflectance_scale"] is None:
        raise v.error("[detect.options] cloud_mask = true", "needs reflectance_scale (the cloud test is on reflectance)",
                      "add reflectance_scale = 10000.0 (digital numbers per unit reflectance of the scenes)")
    for name in _REQUIRED_LAYERS:
        if name not in layers:
            raise v.error(f"[layers.{name}]", "is required", f"add a [layers.{name}] table with a path")
    scene_specs = {}
    for when in ("before", "after"):
        if when not in scenes:
            raise v.error(f"[scenes.{when}]", "is required", f"add a [scenes.{when}] table with a path")
        scene_specs[when] = v.scene(scenes[when], f"scenes.{when}")
    layer_specs = {name: v.layer(spec, name) for name, spec in layers.items()}

    extent = frame["extent"]
    if extent != "scenes":
        if not (isinstance(extent, list) and len(extent) == 4 and all(is_number(x) for x in extent)):
            raise v.error("[frame] extent", f"must be \"scenes\" or [left, bottom, right, top], got {extent!r}")
        extent = tuple(float(x) for x in extent)
        if not (extent[2] > extent[0] and extent[3] > extent[1]):
            raise v.error("[frame] extent", f"is empty or inverted: {list(extent)}", "order is [left, bottom, right, top]")
    else:
        extent = None
    zone = frame["zone"]
    if zone is not None and not 13 <= zone <= 45:
        raise v.error("[frame] zone", f"must be a Gauss-Kruger zone number (13-23 or 25-45), got {zone!r}")
    crs = frame["crs"]
    if crs is not None:
        from .crs import as_crs

        try:
            as_crs(crs)
        except Exception as exc:
            raise v.error("[frame] crs", f"is not a valid CRS: {crs!r}", "use an EPSG code such as 4527") from exc
    if crs is not None and zone is not None:
        raise v.error("[frame]", "give crs or zone, not both")
    if crs is not None:
        check_frame_res(v, crs, frame["res"])
    if crs is not None or zone is not None:
        check_frame_zone(v, crs, zone, scene_specs)
    model = detect["model"]
    if model is not None and not (root / model).is_file():
        raise v.error("[detect] model", f"model file {model!r} not found",
                      "give the path (relative to this file) of a model written by `onemap train`")
    output = (root / survey["output"]).resolve()
    history_fields = _history(v, history, output) if "history" in raw else {}
    return SurveyConfig(
        source=path, name=str(survey["name"] or (path.stem if path else "survey")),
        output=output, before=scene_specs["before"], after=scene_specs["after"],
        layers=layer_specs, frame_crs=crs, frame_zone=zone, res=frame["res"], extent=extent,
        method=method, threshold=threshold, min_area=detect["min_area"], k=detect["k"],
        detect_options=dict(options), tolerance_m=enforce["tolerance_m"],
        ratio_threshold=enforce["ratio_threshold"], tile_size=run["tile_size"], scheduler=run["scheduler"],
        workers=run["workers"], report_lang=report["lang"], **history_fields,
        database=_database(v, database) if "database" in raw else None,
        detect_model=(root / model).resolve() if model is not None else None,
    )
