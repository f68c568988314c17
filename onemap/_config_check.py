"""Checks behind :func:`onemap.config.load_config`: types, choices, files, sensors, the frame zone.

The keys themselves (type, default, meaning) are declared in :data:`onemap.config_schema.SCHEMA`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import DatabaseSpec, LayerSpec, SceneSpec
from .config_schema import _MAY_BE_EMPTY, LAYER_KINDS, SCHEMA, Key
from .errors import ConfigError, OnemapError


def is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def choices_of(key: Key) -> tuple[str, ...]:
    return tuple(key.choices() if callable(key.choices) else key.choices or ())


_TYPE_WORDS = {
    "str": "a string",
    "float": "a number",
    "int": "a whole number",
    "bool": "true or false",
    "table": "a table",
    "list": "a list",
    "date": "a date",
}


def _fits(value: Any, kind: str) -> bool:
    import datetime as dt

    if kind == "str":
        return isinstance(value, str)
    if kind == "float":
        return is_number(value)
    if kind == "int":
        return is_number(value) and float(value).is_integer()
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "table":
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "date":
        return isinstance(value, (dt.date, dt.datetime))
    return kind == "any"


class Validator:
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
                hint = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"allowed keys: {', '.join(sorted(allowed))}"
                )
                raise self.error(
                    f"{where}{key}" if where else f"[{key}]", "is not a known key", hint
                )

    def table(
        self,
        raw: Mapping[str, Any],
        name: str,
        required: bool,
        allowed: set[str] | None = None,
        schema: str | None = None,
        where: str | None = None,
    ) -> dict[str, Any]:
        """Table *name* of *raw*: checked against ``SCHEMA[schema or name]`` (every key typed,
        defaults filled in), or only its names against *allowed*."""
        where = where or name
        if name not in raw:
            if required:
                example = {
                    "scenes": "[scenes.before] and [scenes.after] tables",
                    "layers": "a [layers.landuse] table",
                }
                raise self.error(
                    f"[{name}]",
                    "is required",
                    f"add {example.get(name, f'a [{name}] table')} with a path (see onemap.config)",
                )
            t: Any = {}
        else:
            t = raw[name]
        if not isinstance(t, dict):
            raise self.error(
                f"[{where}]",
                "must be a table",
                f"write it as [{where}] with key = value lines below",
            )
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
            words = dict(_TYPE_WORDS, int="a number" if not is_number(value) else "a whole number")
            want = " or ".join(words.get(k, k) for k in kinds)
            if "str" in kinds and not isinstance(value, (dict, list)):
                fix = f'write it in quotes: {label.split()[-1]} = "{value}"'
            elif "bool" in kinds:
                fix = f"write {label.split()[-1]} = true or {label.split()[-1]} = false (no quotes)"
            elif {"float", "int"} & set(kinds) and isinstance(value, str):
                # the user's own number when there is one ("512", "2 m"), else an example
                number = re.match(r"\s*([-+]?\d+(?:\.\d+)?)", value)
                example = f"{label.split()[-1]} = {number.group(1) if number else 2}"
                fix = f"write the number without quotes or units, e.g. {example}"
            else:
                fix = None
            raise self.error(label, f"must be {want}, got {value!r}", fix)
        if kind == "float":
            value = float(value)
        elif kind == "int":
            value = int(value)
        if kind in ("float", "int") and key.minimum is not None:
            if value < key.minimum or (key.above and value == key.minimum):
                bound = (
                    "positive"
                    if key.minimum == 0 and key.above
                    else ("not be negative" if key.minimum == 0 else f"be at least {key.minimum:g}")
                )
                raise self.error(
                    label,
                    f"must be {bound}, got {value!r}"
                    if bound == "positive"
                    else f"must {bound}, got {value!r}",
                )
        if kind == "str" and key.choices is not None:
            choices = choices_of(key)
            if value not in choices:
                close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.5)
                numbers = " or a number" if "float" in kinds else ""
                fix = (
                    f"did you mean {close[0]!r}?"
                    if close
                    else f"use one of {', '.join(choices)}{numbers}"
                )
                raise self.error(
                    label,
                    f"must be one of {', '.join(map(repr, choices))}{numbers}, got {value!r}",
                    fix,
                )
        if key.check is not None:
            value = key.check(self, value, label)
        return value

    def existing(self, value: Any, label: str) -> Path:
        if not isinstance(value, str):
            raise self.error(label, f"must be a path string, got {value!r}")
        p = (self.root / value).resolve()
        if not p.exists():
            raise self.error(
                label,
                f"names a file that does not exist: {p}",
                "fix the path (relative paths start at the TOML file's folder)",
            )
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
                raise self.error(
                    f"[{where}] date", f"is not a date: {date!r}", "write it as 2024-09-01"
                )
            date = guess_date(date)
        self.crs(spec["crs"], where)
        return SceneSpec(
            paths,
            self.sensor(spec["sensor"], where),
            date,
            tuple(bands) if bands else None,
            spec["crs"],
        )

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
            hint = (
                f"did you mean {close[0]!r}?" if close else f"use one of {', '.join(SENSORS)}"
            ) + (" (or leave sensor out and name the bands with bands = [...])")
            raise self.error(
                f"[{where}] sensor", f"is not a known sensor: {name!r}", hint
            ) from None

    def crs(self, value: Any, where: str) -> None:
        if value is not None:
            from .crs import as_crs

            try:
                as_crs(value)
            except OnemapError as exc:
                raise self.error(
                    f"[{where}] crs",
                    f"is not a valid CRS: {value!r}",
                    "use an EPSG code such as 4527",
                ) from exc

    def layer(self, spec: Any, name: str) -> LayerSpec:
        where = f"layers.{name}"
        if not isinstance(spec, dict):
            raise self.error(f"[{where}]", "must be a table")
        if ("path" in spec) == ("url" in spec):
            self.keys(spec, set(SCHEMA["layer"]), f"[{where}] ")
            raise self.error(
                f"[{where}]",
                "needs a path (a file) or a url (a PostGIS database), not both"
                if "path" in spec
                else "needs a path",
            )
        given = set(spec)
        spec = self.typed(spec, SCHEMA["layer"], where)
        if "allow_empty" in given and name not in _MAY_BE_EMPTY:
            raise self.error(
                f"[{where}] allow_empty",
                f"applies to {', '.join(f'[layers.{n}]' for n in _MAY_BE_EMPTY)} only",
                "remove it (leave out a layer you do not have)",
            )
        self.crs(spec["crs"], where)
        if spec["url"] is not None:
            return _database_layer(self, spec, name, where)
        if spec["table"] is not None or spec["where"] is not None:
            raise self.error(
                f"[{where}]", "has table/where, which apply to a url (database) source only"
            )
        return LayerSpec(
            name,
            LAYER_KINDS[name],
            self.existing(spec["path"], f"[{where}] path"),
            spec["layer"],
            spec["encoding"],
            spec["crs"],
            spec["allow_empty"],
        )


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
        lon, _ = Transformer.from_crs(crs, 4490, always_xy=True).transform(
            (left + right) / 2, (bottom + top) / 2
        )
    except (rasterio.errors.RasterioError, ValueError, RuntimeError):
        return None
    return float(lon) if -180 <= lon <= 180 else None


def check_frame_zone(
    v: Validator, crs: Any, zone: int | None, scenes: dict[str, SceneSpec]
) -> None:
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
        fix = (
            f"zone = {fits}"
            if zone is not None
            else (
                f"crs = {as_crs(gk_crs(fits, width=zi.width, prefix=bool(zi.prefixed))).to_epsg()}"
            )
        )
        raise v.error(
            key,
            f"is Gauss-Kruger zone {zi.zone} (central meridian {zi.central_meridian:g}°E), but "
            f"[scenes.{when}] {spec.paths[0].name} is centred at {lon:.2f}°E, in zone {fits}",
            f"use {fix} (or check that the scenes are the right ones)",
        )


# ------------------------------------------------------------------ PostGIS sources and [history]


def check_frame_res(v: Validator, crs: Any, res: float | None) -> None:
    """ConfigError when ``[frame] crs`` has no datum (no area can be measured on it) or
    ``[frame] res`` is plainly in the wrong unit for it: metres on a longitude/latitude frame
    (2-degree pixels) or degrees on a projected one."""
    from .crs import as_crs

    c = as_crs(crs)
    if c.geodetic_crs is None:
        raise v.error(
            "[frame] crs",
            f"{crs!r} has no geodetic datum: areas in m² cannot be measured on it",
            "use a CRS with a datum, e.g. crs = 4527 (CGCS2000 3° Gauss-Kruger zone 39)",
        )
    if res is None:
        return
    if c.is_geographic and res > 0.01:
        raise v.error(
            "[frame] res",
            f"is {res:g} degrees: [frame] crs = {crs!r} is longitude/latitude, so res "
            "is in degrees (0.01° is about 1 km)",
            f"write it in degrees, e.g. res = {res / 111_320:.2g} for about {res:g} m, "
            "or leave res out to keep the scenes' pixel size",
        )
    if c.is_projected and res < 0.01:
        unit = c.axis_info[0].unit_name if c.axis_info else "metre"
        raise v.error(
            "[frame] res",
            f"is {res:g} {unit}s: [frame] crs = {crs!r} is projected, so res is in "
            f"{unit}s, not degrees",
            "e.g. res = 2.0, or leave res out to keep the scenes' pixel size",
        )


def _database_url(v: Validator, value: Any, key: str) -> str:
    from .db.source import is_database_url, redact

    if not is_database_url(value):
        raise v.error(
            key,
            f"must be a postgresql:// URL, got {value!r}",
            'write it as "postgresql://user@host:5432/dbname"',
        )
    if redact(value) != value:  # the config goes into the manifest: no secrets in it
        raise v.error(
            key,
            "holds a password",
            "remove it from the URL and set PGPASSWORD or a "
            "~/.pgpass line host:port:dbname:user:password",
        )
    return str(value)


def _database(v: Validator, spec: dict[str, Any]) -> DatabaseSpec | None:
    for key in ("url", "county"):
        if spec[key] is None:
            raise v.error(
                "[database]",
                f"needs {key}",
                'e.g. url = "postgresql://gis@db/yzt", county = "330102"',
            )
    return DatabaseSpec(
        _database_url(v, spec["url"], "[database] url"), spec["county"].strip(), spec["schema"]
    )


def _database_layer(v: Validator, spec: dict[str, Any], name: str, where: str) -> LayerSpec:
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
            raise v.error(
                f"[{where}] crs", f"is not a valid CRS: {spec['crs']!r}", "use an EPSG code"
            ) from exc
    return LayerSpec(
        name,
        LAYER_KINDS[name],
        None,
        spec["layer"],
        None,
        spec["crs"],
        spec["allow_empty"],
        url=url,
        table=spec["table"],
        where=spec["where"],
    )


def _history(v: Validator, table: Mapping[str, Any], output: Path) -> dict[str, Any]:
    """The ``history_*`` fields of :class:`SurveyConfig` from the ``[history]`` table."""
    entries = table["previous"]
    if not isinstance(entries, list):
        raise v.error(
            "[history] previous",
            "must be a list of earlier results",
            'e.g. previous = ["../2024/out/verdicts.gpkg"]',
        )
    sources = []
    for k, entry in enumerate(entries):
        where = f"[history] previous[{k}]"
        spec = {"path": entry} if isinstance(entry, str) else entry
        if not isinstance(spec, dict):
            raise v.error(where, f"must be a path or a table {{path = ...}}, got {entry!r}")
        v.keys(spec, {"path", "layer", "crs", "url", "table", "where"}, f"{where} ")
        if "url" in spec and "path" not in spec:  # a PostGIS table, as in [layers.X]
            url = _database_url(v, spec["url"], f"{where} url")
            if not all(
                isinstance(spec.get(key, ""), str) for key in ("where", "layer")
            ) or not isinstance(spec.get("table"), str):
                raise v.error(
                    where,
                    'needs table = "schema.table" with its url (where, if any, a string)',
                    'e.g. {url = "postgresql://gis@db/yzt", table = "onemap.verdicts"}',
                )
            sources.append(
                {
                    "path": url,
                    **{key: spec[key] for key in ("table", "where", "layer") if key in spec},
                }
            )
            continue
        if not isinstance(spec.get("path"), str) or {"url", "table", "where"} & set(spec):
            raise v.error(
                where,
                "needs a path (a string), or a url with a table for a database",
                'e.g. "../2024/out/verdicts.parquet" or {url = "postgresql://...", table = "..."}',
            )
        if re.match(r"^[A-Za-z][\w+.-]*://", spec["path"]):
            raise v.error(
                where,
                "is a URL: a database table is {url = ..., table = ...}",
                '{url = "postgresql://gis@db/yzt", table = "onemap.verdicts", where = "..."} '
                "(password from PGPASSWORD or ~/.pgpass, never in the URL)",
            )
        path = v.existing(spec["path"], f"{where} path")
        if path.parent == output and path.stem == "verdicts":
            raise v.error(
                where,
                f"is this survey's own output ({path})",
                "list earlier years' results only (copy them elsewhere first)",
            )
        if not isinstance(spec.get("layer", ""), str):
            raise v.error(f"{where} layer", "must be a string (a layer name)")
        sources.append({**spec, "path": path})
    resolved = table["resolved"]
    if resolved is not None and not all(isinstance(r, str) for r in resolved):
        raise v.error(
            "[history] resolved", "must be a list of decision texts", 'e.g. resolved = ["已整改"]'
        )
    overlap = table["min_overlap"]
    if overlap > 1:
        raise v.error(
            "[history] min_overlap", f"is a share of the smaller patch (0-1], got {overlap!r}"
        )
    return {
        "history_previous": tuple(sources),
        "history_min_overlap": overlap,
        "history_resolved": tuple(resolved) if resolved is not None else None,
    }
