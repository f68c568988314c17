"""Survey configuration: a TOML file, validated up front.

Every error names the file and the key (``[layers.landuse] path``) and says what to do; unknown
keys are errors with a "did you mean" suggestion, because a misspelt option that is silently
ignored is how a province-wide run goes wrong. Relative paths are resolved against the directory
of the TOML file. When ``[frame]`` names a Gauss-Kruger zone (``zone =``, or a Gauss-Kruger
``crs =``), the scenes' headers are read and their centre must lie in that zone or within 0.5° of
its edge: a config copied from the county next door fails here, not after the ingest.

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

    [detect]
    method = "construction"
    min_area = 200.0

    [enforce]
    tolerance_m = 1.0
    ratio_threshold = 0.15
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError, OnemapError

__all__ = ["SurveyConfig", "SceneSpec", "LayerSpec", "load_config", "LAYER_KINDS"]

#: config layer name -> onemap.read_layer kind
LAYER_KINDS = {
    "landuse": "landuse", "approvals": "approval", "supply": "supply", "farmland": "farmland",
    "redline": "redline", "cadastral": "cadastral", "admin": "admin",
}
_REQUIRED_LAYERS = ("landuse",)
_SCHEMA: dict[str, set[str]] = {
    "survey": {"name", "output"},
    "frame": {"crs", "zone", "res", "extent"},
    "scene": {"path", "paths", "sensor", "date", "bands", "nodata"},
    "layer": {"path", "layer", "encoding", "crs"},
    "detect": {"method", "threshold", "min_area", "k", "options", "model"},
    "enforce": {"tolerance_m", "ratio_threshold"},
    "run": {"tile_size", "scheduler", "workers"},
}


@dataclass(frozen=True)
class SceneSpec:
    paths: tuple[Path, ...]
    sensor: str | None = None
    date: str | None = None
    bands: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LayerSpec:
    name: str
    kind: str
    path: Path
    layer: str | None = None
    encoding: str | None = None
    crs: Any = None


@dataclass(frozen=True)
class SurveyConfig:
    """A validated survey description (see the module docstring for the TOML layout)."""

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
    k: float = 2.0
    detect_options: dict[str, Any] = field(default_factory=dict)
    tolerance_m: float = 1.0
    ratio_threshold: float = 0.15
    tile_size: int = 2048
    scheduler: str | None = None
    workers: int | None = None
    detect_model: Path | None = None  # a trained change model (onemap train); replaces method

    def as_dict(self) -> dict[str, Any]:
        """Plain-JSON form (recorded in the survey manifest)."""
        def conv(v: Any) -> Any:
            if isinstance(v, Path):
                return str(v)
            if isinstance(v, (SceneSpec, LayerSpec)):
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

    v.keys(raw, {"survey", "frame", "scenes", "layers", "detect", "enforce", "run"}, "")
    survey = v.table(raw, "survey", _SCHEMA["survey"], required=False)
    frame = v.table(raw, "frame", _SCHEMA["frame"], required=False)
    scenes = v.table(raw, "scenes", {"before", "after"}, required=True)
    layers = v.table(raw, "layers", set(LAYER_KINDS), required=True)
    detect = v.table(raw, "detect", _SCHEMA["detect"], required=False)
    enforce = v.table(raw, "enforce", _SCHEMA["enforce"], required=False)
    run = v.table(raw, "run", _SCHEMA["run"], required=False)

    for name in _REQUIRED_LAYERS:
        if name not in layers:
            raise v.error(f"[layers.{name}]", "is required", f"add a [layers.{name}] table with a path")
    scene_specs = {}
    for when in ("before", "after"):
        if when not in scenes:
            raise v.error(f"[scenes.{when}]", "is required", f"add a [scenes.{when}] table with a path")
        scene_specs[when] = v.scene(scenes[when], f"scenes.{when}")
    layer_specs = {name: v.layer(spec, name) for name, spec in layers.items()}

    extent = frame.get("extent", "scenes")
    if extent != "scenes":
        if not (isinstance(extent, list) and len(extent) == 4 and all(isinstance(x, (int, float)) for x in extent)):
            raise v.error("[frame] extent", f"must be \"scenes\" or [left, bottom, right, top], got {extent!r}")
        extent = tuple(float(x) for x in extent)
        if not (extent[2] > extent[0] and extent[3] > extent[1]):
            raise v.error("[frame] extent", f"is empty or inverted: {list(extent)}", "order is [left, bottom, right, top]")
    else:
        extent = None
    res = v.number(frame, "res", "[frame] res", positive=True) if "res" in frame else None
    zone = frame.get("zone")
    if zone is not None and not (isinstance(zone, int) and 13 <= zone <= 45):
        raise v.error("[frame] zone", f"must be a Gauss-Kruger zone number (13-23 or 25-45), got {zone!r}")
    crs = frame.get("crs")
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
    threshold = detect.get("threshold", "otsu")
    if not (threshold in ("otsu", "k_sigma") or isinstance(threshold, (int, float))):
        raise v.error("[detect] threshold", f"must be \"otsu\", \"k_sigma\" or a number, got {threshold!r}")
    options = detect.get("options", {})
    if not isinstance(options, dict):
        raise v.error("[detect] options", "must be a table")
    if "model" in detect and not (isinstance(detect["model"], str) and (root / detect["model"]).is_file()):
        raise v.error("[detect] model", f"model file {detect['model']!r} not found",
                      "give the path (relative to this file) of a model written by `onemap train`")
    scheduler = run.get("scheduler")
    if scheduler is not None and not isinstance(scheduler, str):
        raise v.error("[run] scheduler", "must be a string: 'threads', 'synchronous' or a dask scheduler address")
    tile_size = v.count(run, "tile_size", "[run] tile_size") if "tile_size" in run else 2048
    workers = v.count(run, "workers", "[run] workers") if "workers" in run else None
    output = survey.get("output", "onemap_out")
    if not isinstance(output, str):
        raise v.error("[survey] output", "must be a path string")
    return SurveyConfig(
        source=path, name=str(survey.get("name", path.stem if path else "survey")),
        output=(root / output).resolve(), before=scene_specs["before"], after=scene_specs["after"],
        layers=layer_specs, frame_crs=crs, frame_zone=zone, res=res, extent=extent,
        method=str(detect.get("method", "construction")), threshold=threshold,
        min_area=v.number(detect, "min_area", "[detect] min_area", default=200.0),
        k=v.number(detect, "k", "[detect] k", default=2.0, positive=True), detect_options=dict(options),
        tolerance_m=v.number(enforce, "tolerance_m", "[enforce] tolerance_m", default=1.0),
        ratio_threshold=v.number(enforce, "ratio_threshold", "[enforce] ratio_threshold", default=0.15),
        tile_size=tile_size, scheduler=scheduler,
        workers=workers,
        detect_model=(root / detect["model"]).resolve() if "model" in detect else None,
    )


class _Validator:
    def __init__(self, path: Path | None, root: Path) -> None:
        self.path, self.root = path, root

    def error(self, key: str, problem: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{key} {problem}", path=self.path, hint=hint)

    def keys(self, table: Mapping[str, Any], allowed: set[str], where: str) -> None:
        for key in table:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
                raise self.error(f"{where}{key}" if where else f"[{key}]", "is not a known key", hint)

    def table(self, raw: Mapping[str, Any], name: str, allowed: set[str], required: bool) -> dict[str, Any]:
        if name not in raw:
            if required:
                example = {"scenes": "[scenes.before] and [scenes.after] tables", "layers": "a [layers.landuse] table"}
                raise self.error(f"[{name}]", "is required",
                                 f"add {example.get(name, f'a [{name}] table')} with a path (see onemap.config)")
            return {}
        t = raw[name]
        if not isinstance(t, dict):
            raise self.error(f"[{name}]", "must be a table")
        self.keys(t, allowed, f"[{name}] ")
        return t

    def number(self, table: Mapping[str, Any], key: str, label: str, default: float | None = None,
               positive: bool = False) -> float:
        value = table.get(key, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self.error(label, f"must be a number, got {value!r}")
        if positive and value <= 0:
            raise self.error(label, f"must be positive, got {value!r}")
        if value < 0:
            raise self.error(label, f"must not be negative, got {value!r}")
        return float(value)

    def count(self, table: Mapping[str, Any], key: str, label: str) -> int:
        value = self.number(table, key, label, positive=True)
        if not float(value).is_integer():
            raise self.error(label, f"must be a whole number, got {table[key]!r}")
        return int(value)

    def strings(self, spec: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
        for key in keys:
            if key in spec and not isinstance(spec[key], str):
                raise self.error(f"[{where}] {key}", f"must be a string, got {spec[key]!r}",
                                 f'write it in quotes: {key} = "{spec[key]}"')

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
        self.keys(spec, _SCHEMA["scene"], f"[{where}] ")
        if ("path" in spec) == ("paths" in spec):
            raise self.error(f"[{where}]", "needs exactly one of path or paths")
        raw_paths = [spec["path"]] if "path" in spec else spec["paths"]
        if not isinstance(raw_paths, list) or not raw_paths:
            raise self.error(f"[{where}] paths", "must be a non-empty list of paths")
        paths = tuple(self.existing(p, f"[{where}] path") for p in raw_paths)
        bands = spec.get("bands")
        if bands is not None and not (isinstance(bands, list) and all(isinstance(b, str) for b in bands)):
            raise self.error(f"[{where}] bands", "must be a list of band names")
        date = spec.get("date")
        if date is not None:
            from .ingest.sensors import guess_date

            date = str(date)
            if guess_date(date) is None:
                raise self.error(f"[{where}] date", f"is not a date: {date!r}", "write it as 2024-09-01")
        self.strings(spec, ("sensor",), where)
        return SceneSpec(paths, spec.get("sensor"), date, tuple(bands) if bands else None)

    def layer(self, spec: Any, name: str) -> LayerSpec:
        where = f"layers.{name}"
        if not isinstance(spec, dict):
            raise self.error(f"[{where}]", "must be a table")
        self.keys(spec, _SCHEMA["layer"], f"[{where}] ")
        if "path" not in spec:
            raise self.error(f"[{where}]", "needs a path")
        self.strings(spec, ("layer", "encoding"), where)
        if spec.get("crs") is not None:
            from .crs import as_crs

            try:
                as_crs(spec["crs"])
            except OnemapError as exc:
                raise self.error(f"[{where}] crs", f"is not a valid CRS: {spec['crs']!r}",
                                 "use an EPSG code such as 4527") from exc
        return LayerSpec(name, LAYER_KINDS[name], self.existing(spec["path"], f"[{where}] path"),
                         spec.get("layer"), spec.get("encoding"), spec.get("crs"))


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
