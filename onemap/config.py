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
every patch unless told). Sensor names accept the aliases of
:func:`onemap.ingest.sensors.sensor_preset` (``"GF-2"``, ``"gf-2"``, ``"S2"``, ``"L8"`` ...) and
are stored under the preset's name (``"gf2"``).

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
    resolved = ["已整改", "已拆除"]   # optional: decisions closing a case (default: history's)

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from .change.defaults import DEFAULTS
from .config_schema import (
    _METHOD_OPTIONS,
    _REQUIRED_LAYERS,
    LAYER_KINDS,
    SCHEMA,
    Key,
    default,
    keys_doc,
)
from .errors import ConfigError

__all__ = ["SurveyConfig", "SceneSpec", "LayerSpec", "DatabaseSpec", "load_config", "LAYER_KINDS",
           "SCHEMA", "Key", "keys_doc", "default"]


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
    # read_layer sources: {"path": ..., "layer": ...}
    history_previous: tuple[dict[str, Any], ...] = ()
    history_min_overlap: float = 0.3
    history_resolved: tuple[str, ...] | None = None
    database: DatabaseSpec | None = None
    detect_model: Path | None = None  # a trained change model (onemap train); replaces method
    detect_prescreen: float | None = None  # with a model: None = its learned screen, 0 = off

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


def load_config(source: str | PathLike[str] | Mapping[str, Any],
                base: str | Path | None = None) -> SurveyConfig:
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
            raise ConfigError("survey configuration not found", path=path,
                              hint="give the path of a .toml file")
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
    options = v.table(detect, "options", required=False, schema="detect.options",
                      where="detect.options")

    # what the detector will be asked, before any file is read
    method = detect["method"]
    threshold = detect["threshold"]
    for name, methods in _METHOD_OPTIONS.items():
        if name in v.given["detect.options"] and method not in methods:
            raise v.error(f"[detect.options] {name}", f"is not used by method = {method!r}",
                          f"remove it, or set method = {methods[0]!r} under [detect]")
        if method in methods and options[name] is None:
            raise v.error("[detect.options]", f"method = {method!r} needs {name}",
                          f"add {name} = ... under [detect.options] "
                          f"({', '.join(choices_of(SCHEMA['detect.options'][name]))})")

    asked = "cloud_mask" in v.given["detect.options"] and options["cloud_mask"]
    if asked and options["reflectance_scale"] is None:
        raise v.error("[detect.options] cloud_mask = true",
                      "needs reflectance_scale (the cloud test is on reflectance)",
                      "add reflectance_scale = 10000.0 (digital numbers per unit reflectance of "
                      "the scenes)")
    for name in _REQUIRED_LAYERS:
        if name not in layers:
            raise v.error(f"[layers.{name}]", "is required",
                          f"add a [layers.{name}] table with a path")
    scene_specs: dict[str, SceneSpec] = {}
    for when in ("before", "after"):
        if when not in scenes:
            raise v.error(f"[scenes.{when}]", "is required",
                          f"add a [scenes.{when}] table with a path")
        scene_specs[when] = v.scene(scenes[when], f"scenes.{when}")
    layer_specs = {name: v.layer(spec, name) for name, spec in layers.items()}

    extent = frame["extent"]
    if extent != "scenes":
        four = isinstance(extent, list) and len(extent) == 4
        if not (four and all(is_number(x) for x in extent)):
            raise v.error("[frame] extent",
                          f"must be \"scenes\" or [left, bottom, right, top], got {extent!r}")
        extent = tuple(float(x) for x in extent)
        if not (extent[2] > extent[0] and extent[3] > extent[1]):
            raise v.error("[frame] extent", f"is empty or inverted: {list(extent)}",
                          "order is [left, bottom, right, top]")
    else:
        extent = None
    zone = frame["zone"]
    if zone is not None and not 13 <= zone <= 45:
        raise v.error("[frame] zone",
                      f"must be a Gauss-Kruger zone number (13-23 or 25-45), got {zone!r}")
    crs = frame["crs"]
    if crs is not None:
        from .crs import as_crs

        try:
            as_crs(crs)
        except Exception as exc:
            raise v.error("[frame] crs", f"is not a valid CRS: {crs!r}",
                          "use an EPSG code such as 4527") from exc
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
    if model is None and detect["prescreen"] is not None:
        raise v.error("[detect] prescreen", "applies to a trained model only",
                      "add [detect] model = \"...\" or remove prescreen")
    output = (root / survey["output"]).resolve()
    history_fields = _history(v, history, output) if "history" in raw else {}
    return SurveyConfig(
        source=path, name=str(survey["name"] or (path.stem if path else "survey")),
        output=output, before=scene_specs["before"], after=scene_specs["after"],
        layers=layer_specs, frame_crs=crs, frame_zone=zone, res=frame["res"], extent=extent,
        method=method, threshold=threshold, min_area=detect["min_area"], k=detect["k"],
        detect_options=dict(options), tolerance_m=enforce["tolerance_m"],
        ratio_threshold=enforce["ratio_threshold"], tile_size=run["tile_size"],
        scheduler=run["scheduler"],
        workers=run["workers"], report_lang=report["lang"], **history_fields,
        database=_database(v, database) if "database" in raw else None,
        detect_model=(root / model).resolve() if model is not None else None,
        detect_prescreen=detect["prescreen"],
    )
