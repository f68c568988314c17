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

import difflib
import inspect
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import ConfigError, OnemapError

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
    check: Callable[[_Validator, Any, str], Any] | None = None

    def default_value(self) -> Any:
        return self.default.value() if isinstance(self.default, Lib) else self.default


def _methods() -> tuple[str, ...]:
    from .change._plan import METHODS

    return tuple(METHODS)


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
        lines.append(f"[{table}]")
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
    method: str = "construction"
    threshold: Any = "otsu"
    min_area: float = 200.0
    k: float = 3.0
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
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text (byte offset {exc.start})", path=path,
                              line=exc.object[:exc.start].count(b"\n") + 1,
                              hint="save the TOML file as UTF-8") from exc
        except tomllib.TOMLDecodeError as exc:
            at = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
            raise ConfigError(f"not valid TOML: {exc}", path=path, line=int(at.group(1)) if at else None,
                              hint="check the syntax on that line (tables are [name], values key = value, "
                                   "strings in quotes)") from exc
        root = Path(base).resolve() if base else path.resolve().parent
    v = _Validator(path, root)

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
                          f"add {name} = ... under [detect.options] ({', '.join(_choices(SCHEMA['detect.options'][name]))})")

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
        if not (isinstance(extent, list) and len(extent) == 4 and all(_is_number(x) for x in extent)):
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
    if crs is not None or zone is not None:
        _check_frame_zone(v, crs, zone, scene_specs)
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
    )


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _choices(key: Key) -> tuple[str, ...]:
    return tuple(key.choices() if callable(key.choices) else key.choices or ())


_TYPE_WORDS = {"str": "a string", "float": "a number", "int": "a whole number", "bool": "true or false",
               "table": "a table", "list": "a list", "date": "a date"}


def _fits(value: Any, kind: str) -> bool:
    import datetime as dt

    if kind == "str":
        return isinstance(value, str)
    if kind == "float":
        return _is_number(value)
    if kind == "int":
        return _is_number(value) and float(value).is_integer()
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "table":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "date":
        return isinstance(value, (dt.date, dt.datetime))
    return kind == "any"


def _database_url(v: _Validator, value: Any, key: str) -> str:
    from .db.source import is_database_url, redact

    if not is_database_url(value):
        raise v.error(key, f"must be a postgresql:// URL, got {value!r}",
                      'write it as "postgresql://user@host:5432/dbname"')
    if redact(value) != value:  # the config goes into the manifest: no secrets in it
        raise v.error(key, "holds a password", "remove it from the URL and set PGPASSWORD or a "
                                                "~/.pgpass line host:port:dbname:user:password")
    return str(value)


def _database(v: _Validator, spec: dict[str, Any]) -> DatabaseSpec | None:
    for key in ("url", "county"):
        if spec[key] is None:
            raise v.error("[database]", f"needs {key}", 'e.g. url = "postgresql://gis@db/yzt", county = "330102"')
    return DatabaseSpec(_database_url(v, spec["url"], "[database] url"), spec["county"].strip(),
                        spec["schema"])


class _Validator:
    def __init__(self, path: Path | None, root: Path) -> None:
        self.path, self.root = path, root
        self.given: dict[str, set[str]] = {}  # table -> keys the TOML gave

    def error(self, key: str, problem: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{key} {problem}", path=self.path, hint=hint)

    def fail(self, key: str, problem: str, hint: str | None = None) -> Any:
        raise self.error(key, problem, hint)

    def keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
                raise self.error(f"{where}{key}" if where else f"[{key}]", "is not a known key", hint)

    def table(self, raw: Mapping[str, Any], name: str, required: bool, allowed: set[str] | None = None,
              schema: str | None = None, where: str | None = None) -> dict[str, Any]:
        """Table *name* of *raw*: checked against ``SCHEMA[schema or name]`` (every key typed,
        defaults filled in), or only its names against *allowed*."""
        where = where or name
        if name not in raw:
            if required:
                example = {"scenes": "[scenes.before] and [scenes.after] tables", "layers": "a [layers.landuse] table"}
                raise self.error(f"[{name}]", "is required",
                                 f"add {example.get(name, f'a [{name}] table')} with a path (see onemap.config)")
            t: Any = {}
        else:
            t = raw[name]
        if not isinstance(t, dict):
            raise self.error(f"[{where}]", "must be a table", f"write it as [{where}] with key = value lines below")
        if allowed is not None:
            self.keys(t, allowed, f"[{where}] ")
            return t
        return self.typed(t, SCHEMA[schema or name], where)

    def typed(self, t: Mapping[str, Any], schema: Mapping[str, Key], where: str) -> dict[str, Any]:
        """Every key of *t* known and of its type (with choices and bounds); defaults filled in."""
        self.keys(t, set(schema), f"[{where}] ")
        self.given[where] = set(t)
        out = {}
        for name, key in schema.items():
            if name not in t:
                out[name] = key.default_value()
                continue
            out[name] = self.value(t[name], key, f"[{where}] {name}")
        return out

    def value(self, value: Any, key: Key, label: str) -> Any:
        kinds = (key.type,) if isinstance(key.type, str) else key.type
        kind = next((k for k in kinds if _fits(value, k)), None)
        if kind is None:
            words = dict(_TYPE_WORDS, int="a number" if not _is_number(value) else "a whole number")
            want = " or ".join(words.get(k, k) for k in kinds)
            if "str" in kinds and not isinstance(value, (dict, list)):
                fix = f'write it in quotes: {label.split()[-1]} = "{value}"'
            elif "bool" in kinds:
                fix = f"write {label.split()[-1]} = true or {label.split()[-1]} = false (no quotes)"
            elif {"float", "int"} & set(kinds) and isinstance(value, str):
                fix = f"write the number without quotes or units, e.g. {label.split()[-1]} = 2"
            else:
                fix = None
            raise self.error(label, f"must be {want}, got {value!r}", fix)
        if kind == "float":
            value = float(value)
        elif kind == "int":
            value = int(value)
        if kind in ("float", "int") and key.minimum is not None:
            if value < key.minimum or (key.above and value == key.minimum):
                bound = "positive" if key.minimum == 0 and key.above else (
                    "not be negative" if key.minimum == 0 else f"be at least {key.minimum:g}")
                raise self.error(label, f"must be {bound}, got {value!r}" if bound == "positive"
                                 else f"must {bound}, got {value!r}")
        if kind == "str" and key.choices is not None:
            choices = _choices(key)
            if value not in choices:
                close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.5)
                numbers = " or a number" if "float" in kinds else ""
                fix = f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(choices)}{numbers}"
                raise self.error(label, f"must be one of {', '.join(map(repr, choices))}{numbers}, "
                                        f"got {value!r}", fix)
        if key.check is not None:
            value = key.check(self, value, label)
        return value

    def existing(self, value: Any, label: str) -> Path:
        if not isinstance(value, str):
            raise self.error(label, f"must be a path string, got {value!r}")
        p = (self.root / value).resolve()
        if not p.exists():
            raise self.error(label, f"names a file that does not exist: {p}", "fix the path (relative paths start at the TOML file's folder)")
        return p

    def scene(self, spec: Any, where: str) -> SceneSpec:
        if not isinstance(spec, dict):
            raise self.error(f"[{where}]", "must be a table")
        given = set(spec)
        spec = self.typed(spec, SCHEMA["scene"], where)
        if ("path" in given) == ("paths" in given):
            raise self.error(f"[{where}]", "needs exactly one of path or paths")
        raw_paths = [spec["path"]] if "path" in given else spec["paths"]
        if not raw_paths:
            raise self.error(f"[{where}] paths", "must be a non-empty list of paths")
        paths = tuple(self.existing(p, f"[{where}] path") for p in raw_paths)
        bands = spec["bands"]
        if bands is not None and not all(isinstance(b, str) for b in bands):
            raise self.error(f"[{where}] bands", "must be a list of band names")
        date = spec["date"]
        if date is not None:
            from .ingest.sensors import guess_date

            date = str(date)
            if guess_date(date) is None:
                raise self.error(f"[{where}] date", f"is not a date: {date!r}", "write it as 2024-09-01")
            date = guess_date(date)
        self.crs(spec["crs"], where)
        return SceneSpec(paths, self.sensor(spec["sensor"], where), date, tuple(bands) if bands else None,
                         spec["crs"])

    def sensor(self, name: str | None, where: str) -> str | None:
        """The preset name of *name* (aliases such as ``"GF-2"`` accepted, see the module notes)."""
        if name is None:
            return None
        from .ingest.sensors import _ALIASES, SENSORS, sensor_preset

        try:
            return sensor_preset(name).name
        except ConfigError:
            names = sorted(SENSORS) + sorted(_ALIASES)
            close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.5)
            hint = (f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(SENSORS)}") + (
                " (or leave sensor out and name the bands with bands = [...])")
            raise self.error(f"[{where}] sensor", f"is not a known sensor: {name!r}", hint) from None

    def crs(self, value: Any, where: str) -> None:
        if value is not None:
            from .crs import as_crs

            try:
                as_crs(value)
            except OnemapError as exc:
                raise self.error(f"[{where}] crs", f"is not a valid CRS: {value!r}",
                                 "use an EPSG code such as 4527") from exc

    def layer(self, spec: Any, name: str) -> LayerSpec:
        where = f"layers.{name}"
        if not isinstance(spec, dict):
            raise self.error(f"[{where}]", "must be a table")
        if ("path" in spec) == ("url" in spec):
            self.keys(spec, set(SCHEMA["layer"]), f"[{where}] ")
            raise self.error(f"[{where}]", "needs a path (a file) or a url (a PostGIS database), not both"
                             if "path" in spec else "needs a path")
        given = set(spec)
        spec = self.typed(spec, SCHEMA["layer"], where)
        if "allow_empty" in given and name not in _MAY_BE_EMPTY:
            raise self.error(f"[{where}] allow_empty", f"applies to {', '.join(f'[layers.{n}]' for n in _MAY_BE_EMPTY)} "
                             "only", "remove it (leave out a layer you do not have)")
        if spec["url"] is not None:
            return _database_layer(self, spec, name, where)
        if spec["table"] is not None or spec["where"] is not None:
            raise self.error(f"[{where}]", "has table/where, which apply to a url (database) source only")
        self.crs(spec["crs"], where)
        return LayerSpec(name, LAYER_KINDS[name], self.existing(spec["path"], f"[{where}] path"),
                         spec["layer"], spec["encoding"], spec["crs"], spec["allow_empty"])


def _database_layer(v: _Validator, spec: dict[str, Any], name: str, where: str) -> LayerSpec:
    url = _database_url(v, spec["url"], f"[{where}] url")
    if spec["table"] is None:
        raise v.error(f"[{where}]", "needs a table with the url", 'add table = "schema.table"')
    if spec["encoding"] is not None:
        raise v.error(f"[{where}] encoding", "does not apply to a database (it sends UTF-8 text)")
    if spec["crs"] is not None:
        from .crs import as_crs

        try:
            as_crs(spec["crs"])
        except OnemapError as exc:
            raise v.error(f"[{where}] crs", f"is not a valid CRS: {spec['crs']!r}", "use an EPSG code") from exc
    return LayerSpec(name, LAYER_KINDS[name], None, spec["layer"], None, spec["crs"],
                     spec["allow_empty"], url=url, table=spec["table"], where=spec["where"])


def _centre_lon(path: Path) -> float | None:
    """Longitude of a raster's centre from its header, or None when it cannot tell (the scene
    reader reports unreadable files later, with the reason)."""
    import warnings

    import rasterio
    from pyproj import CRS, Transformer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(path) as src:
                if src.crs is None or src.transform.is_identity:
                    return None
                crs, (left, bottom, right, top) = CRS.from_user_input(src.crs.to_wkt()), src.bounds
        lon, _ = Transformer.from_crs(crs, 4490, always_xy=True).transform((left + right) / 2, (bottom + top) / 2)
    except (rasterio.errors.RasterioError, ValueError, RuntimeError):
        return None
    return float(lon) if -180 <= lon <= 180 else None


def _check_frame_zone(v: _Validator, crs: Any, zone: int | None, scenes: dict[str, SceneSpec]) -> None:
    """ConfigError when the frame's Gauss-Kruger zone is not where the scenes are.

    A frame one zone away works but puts every area in the wrong projection (plane areas are
    exact to 1e-4 only within the zone) and usually means a copied config: the scenes' centre must
    lie in the zone or the 0.5° strip beyond its edge that counties on a zone border use."""
    from .crs import as_crs, gk_crs, zone_info

    zi = zone_info(gk_crs(zone, width=6 if zone <= 23 else 3) if zone is not None else as_crs(crs))
    if zi is None or zi.central_meridian is None or zi.width is None:
        return
    key = "[frame] zone" if zone is not None else "[frame] crs"
    for when, spec in scenes.items():
        lon = _centre_lon(spec.paths[0])
        if lon is None or abs(lon - zi.central_meridian) <= zi.width / 2 + 0.5:
            continue
        fits = round(lon / 3) if zi.width == 3 else int(lon // 6) + 1
        fix = f"zone = {fits}" if zone is not None else (
            f"crs = {as_crs(gk_crs(fits, width=zi.width, prefix=bool(zi.prefixed))).to_epsg()}")
        raise v.error(key, f"is Gauss-Kruger zone {zi.zone} (central meridian {zi.central_meridian:g}°E), but "
                           f"[scenes.{when}] {spec.paths[0].name} is centred at {lon:.2f}°E, in zone {fits}",
                      f"use {fix} (or check that the scenes are the right ones)")


def _history(v: _Validator, table: Mapping[str, Any], output: Path) -> dict[str, Any]:
    """The ``history_*`` fields of :class:`SurveyConfig` from the ``[history]`` table."""
    entries = table["previous"]
    if not isinstance(entries, list):
        raise v.error("[history] previous", "must be a list of earlier results",
                      'e.g. previous = ["../2024/out/verdicts.gpkg"]')
    sources = []
    for k, entry in enumerate(entries):
        where = f"[history] previous[{k}]"
        spec = {"path": entry} if isinstance(entry, str) else entry
        if not isinstance(spec, dict):
            raise v.error(where, f"must be a path or a table {{path = ...}}, got {entry!r}")
        v.keys(spec, {"path", "layer", "crs", "url", "table", "where"}, f"{where} ")
        if "url" in spec and "path" not in spec:  # a PostGIS table, as in [layers.X]
            url = _database_url(v, spec["url"], f"{where} url")
            if not all(isinstance(spec.get(key, ""), str) for key in ("where", "layer")) or \
                    not isinstance(spec.get("table"), str):
                raise v.error(where, "needs table = \"schema.table\" with its url (where, if any, a string)",
                              'e.g. {url = "postgresql://gis@db/yzt", table = "onemap.verdicts"}')
            sources.append({"path": url, **{key: spec[key] for key in ("table", "where", "layer") if key in spec}})
            continue
        if not isinstance(spec.get("path"), str) or {"url", "table", "where"} & set(spec):
            raise v.error(where, "needs a path (a string), or a url with a table for a database",
                          'e.g. "../2024/out/verdicts.parquet" or {url = "postgresql://...", table = "..."}')
        if re.match(r"^[A-Za-z][\w+.-]*://", spec["path"]):
            raise v.error(where, "is a URL: a database table is {url = ..., table = ...}",
                          '{url = "postgresql://gis@db/yzt", table = "onemap.verdicts", where = "..."} '
                          "(password from PGPASSWORD or ~/.pgpass, never in the URL)")
        path = v.existing(spec["path"], f"{where} path")
        if path.parent == output and path.stem == "verdicts":
            raise v.error(where, f"is this survey's own output ({path})",
                          "list earlier years' results only (copy them elsewhere first)")
        if not isinstance(spec.get("layer", ""), str):
            raise v.error(f"{where} layer", "must be a string (a layer name)")
        sources.append({**spec, "path": path})
    resolved = table["resolved"]
    if resolved is not None and not all(isinstance(r, str) for r in resolved):
        raise v.error("[history] resolved", "must be a list of decision texts", 'e.g. resolved = ["已整改"]')
    overlap = table["min_overlap"]
    if overlap > 1:
        raise v.error("[history] min_overlap", f"is a share of the smaller patch (0-1], got {overlap!r}")
    return {"history_previous": tuple(sources), "history_min_overlap": overlap,
            "history_resolved": tuple(resolved) if resolved is not None else None}
