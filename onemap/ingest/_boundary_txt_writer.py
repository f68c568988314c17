"""Writer of land-boundary coordinate exchange TXT files (see :mod:`onemap.ingest.boundary_txt`)."""

from __future__ import annotations

import codecs
import datetime as _dt
import math
import re
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._atomic import atomic_write_bytes
from ..crs import as_crs, gk_crs, infer_zone, zone_info
from ..errors import (
    CRSError,
    DataError,
    EncodingError,
    Fix,
    GeometryError,
    Repair,
    report_repairs,
)
from . import _boundary_txt_common as fmt

__all__ = ["write_boundary_txt", "boundary_txt_per_parcel"]

#: reader column -> source column names tried in order (case-insensitive for ASCII names)
_COLUMN_SOURCES = {
    "parcel_id": ("parcel_id", "DKBH", "地块编号"),
    "name": ("name", "DKMC", "地块名称", "XMMC", "项目名称"),
    "shape_type": ("shape_type", "TXSX", "图形属性"),
    "sheet": ("sheet", "TFH", "图幅号"),
    "use": ("use", "DKYT", "YT", "地块用途"),
    "landuse_code": ("landuse_code", "DLBM", "地类编码"),
}
#: header keys that describe the CRS and the coordinates, always derived from them
_DERIVED_KEYS = ("坐标系", "几度分带", "投影类型", "计量单位", "带号", "精度")
_EXTRA = re.compile(r"^extra_(\d+)$")
# characters a reader would take for binary data, a line break or nothing at all
_UNWRITABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029\ufeff\u200b]")


def write_boundary_txt(
    layer: gpd.GeoDataFrame | gpd.GeoSeries,
    path: str | PathLike,
    *,
    encoding: str = "gbk",
    newline: str = "\r\n",
    header: Mapping[str, Any] | None = None,
    area_unit: str = "ha",
    point_prefix: str = "J",
    id_column: str | None = None,
    name_column: str | None = None,
    crs: Any = None,
    precision: int = 3,
    area_decimals: int | None = None,
) -> Path:
    """Write Polygon/MultiPolygon parcels as a land-boundary coordinate exchange TXT file.

    Parameters
    ----------
    layer
        Parcels in a Gauss-Kruger CRS (CGCS2000, Xian 1980, Beijing 1954; prefixed or not).
    path
        Output file; written to a temporary file in the same directory, then renamed over *path*.
    encoding
        ``'gbk'`` (default, what most land-bureau software reads), ``'gb18030'``, ``'utf-8'``,
        ``'utf-8-sig'`` (with BOM) or ``'utf-16'`` (with BOM).
    newline
        ``'\\r\\n'`` (default) or ``'\\n'``. The file ends with a newline.
    header
        Header values overriding the defaults and ``layer.attrs["header"]`` (e.g.
        ``{"数据产生单位": "某某测绘院"}``); may override the CRS-derived keys too.
    area_unit
        Unit of 地块面积: ``'ha'`` (the standard's, 4 decimals) or ``'m2'`` (2 decimals). The value
        is the plane (Gauss) area.
    point_prefix
        Point names are ``J1, J2, ...`` numbered through each parcel; a ring's closing point
        repeats the name and coordinates of its first point.
    id_column, name_column
        Columns for 地块编号 and 地块名称. By default the reader's column names, then common
        source names (DKBH/DKMC, TXSX, TFH, DKYT, DLBM) are used; ``extra_1``... columns follow
        地类编码. Without an id column parcels are numbered from 1.
    crs
        Target Gauss-Kruger CRS. Layers in another CRS (e.g. lon/lat) are reprojected only when it
        is given.
    precision
        Decimals of the coordinates (3 = millimetres); also written as 精度.
    area_decimals
        Decimals of 地块面积 (default 4 for ha, 2 for m²).

    Returns
    -------
    pathlib.Path
        The written file.

    Notes
    -----
    X (first) is the northing, Y the easting with the zone number as prefix. Ring 1 is the outer
    ring of the first part; holes and further parts take 2, 3, ... (each part's exterior before
    its holes). Exteriors run clockwise on the map and holes counter-clockwise, as in surveyed
    files. 界址点数 counts every point line, closing points included. Commas inside attribute
    values would break the format and are written as full-width '，' (a reported repair).

    Raises
    ------
    CRSError
        No CRS, or not a Gauss-Kruger CRS and no ``crs=`` target.
    GeometryError
        Missing, empty, invalid or non-polygonal geometry (names the feature).
    EncodingError
        Text that *encoding* cannot represent (names the line); use ``'gb18030'`` or ``'utf-8'``.

    Examples
    --------
    >>> import tempfile, os, geopandas as gpd, shapely
    >>> from onemap.ingest.boundary_txt import read_boundary_txt
    >>> sq = shapely.box(39_500_000, 3_300_000, 39_500_100, 3_300_100)
    >>> layer = gpd.GeoDataFrame({"DKMC": ["示例"]}, geometry=[sq], crs=4527)
    >>> p = write_boundary_txt(layer, os.path.join(tempfile.mkdtemp(), "out.txt"))
    >>> back = read_boundary_txt(p)
    >>> (back.loc[0, "name"], float(back.loc[0, "declared_area"]), back.loc[0, "area_unit"],
    ...  back.crs.to_epsg())
    ('示例', 1.0, 'ha', 4527)
    """
    path = Path(path)
    data, repairs = _render(
        layer,
        [path],
        encoding=encoding,
        newline=newline,
        header=header,
        area_unit=area_unit,
        point_prefix=point_prefix,
        id_column=id_column,
        name_column=name_column,
        crs=crs,
        precision=precision,
        area_decimals=area_decimals,
        per_parcel=False,
    )
    atomic_write_bytes(path, data[0])
    report_repairs(repairs)
    return path


def boundary_txt_per_parcel(
    layer: gpd.GeoDataFrame, paths: list[Path], **options: Any
) -> list[bytes]:
    """The bytes of one land-boundary TXT file per parcel of *layer* (for ``paths[i]``).

    Same options and checks as :func:`write_boundary_txt`; the CRS and header work is done once,
    so thousands of single-parcel files (the field-check files of a survey) cost little each.
    Nothing is written: the caller stores the bytes (e.g. into a folder swapped in atomically).
    """
    data, repairs = _render(layer, [Path(p) for p in paths], per_parcel=True, **options)
    report_repairs(repairs)
    return data


def _render(layer: Any, paths: list[Path], *, encoding: str = "gbk", newline: str = "\r\n",
            header: Mapping[str, Any] | None = None, area_unit: str = "ha", point_prefix: str = "J",
            id_column: str | None = None, name_column: str | None = None, crs: Any = None,
            precision: int = 3, area_decimals: int | None = None,
            per_parcel: bool = False) -> tuple[list[bytes], list[Repair]]:
    """Encoded file contents: one for the whole layer, or one per parcel (``paths[i]`` each)."""
    path = paths[0] if paths else Path("<parcels>")
    layer = _as_frame(layer)
    if per_parcel and len(paths) != len(layer):
        raise DataError(f"{len(paths)} paths for {len(layer)} parcels")
    if newline not in ("\r\n", "\n", "\r"):
        raise DataError(f"newline must be '\\r\\n', '\\n' or '\\r', got {newline!r}")
    if area_unit not in ("ha", "m2"):
        raise DataError(f"area_unit must be 'ha' or 'm2', got {area_unit!r}")
    if (
        not isinstance(point_prefix, str)
        or re.search(r"[,，\r\n]", point_prefix)
        or _UNWRITABLE.search(point_prefix)
    ):
        raise DataError(
            f"point_prefix {point_prefix!r} may not hold commas, line breaks or control characters"
        )
    if area_decimals is None:
        area_decimals = 4 if area_unit == "ha" else 2
    for name, value, top in (("precision", precision, 9), ("area_decimals", area_decimals, 12)):
        if (
            not isinstance(value, (int, np.integer))
            or isinstance(value, bool)
            or not 0 <= value <= top
        ):
            raise DataError(
                f"{name} must be a whole number of decimals from 0 to {top}, got {value!r}"
            )
    _check_encoding(encoding, path)
    layer, info, datum = _gk_layer(layer, crs, path)
    repairs: list[Repair] = []
    head = ["[属性描述]"]
    head += [f"{k}={v}" for k, v in _header(layer, header, info, datum, precision).items()]
    head.append("[地块坐标]")
    values = _field_values(layer, _columns(layer, id_column, name_column))
    shift = 0.0 if info.prefixed else info.zone * 1_000_000.0
    factor = fmt.M2_PER_HA if area_unit == "ha" else 1.0
    parcels = []
    for i, geom in enumerate(layer.geometry.values):
        where = paths[i] if per_parcel else path
        rings = _rings(geom, layer.index[i])
        points = _point_lines(rings, point_prefix, precision, shift)
        fields = _parcel_fields(values, i, layer.index[i], repairs, where)
        area = f"{shapely.area(geom) / factor:.{area_decimals}f}"
        parcels.append([",".join([str(len(points)), area, *fields, "@"]), *points])
    if per_parcel:
        return [
            _encode(newline.join(head + lines) + newline, encoding, p)
            for lines, p in zip(parcels, paths, strict=True)
        ], repairs
    text = newline.join(head + [line for lines in parcels for line in lines]) + newline
    return [_encode(text, encoding, path)], repairs


def _point_lines(rings: list[np.ndarray], prefix: str, precision: int, shift: float) -> list[str]:
    """点号,圈号,X,Y lines: names numbered through the parcel; a ring closes on its first point."""
    out = []
    k = 0
    for ring_no, ring in enumerate(rings, start=1):
        first = k + 1
        for e, n in ring[:-1]:
            k += 1
            out.append(f"{prefix}{k},{ring_no},{n:.{precision}f},{e + shift:.{precision}f}")
        e, n = ring[0]
        out.append(f"{prefix}{first},{ring_no},{n:.{precision}f},{e + shift:.{precision}f}")
    return out


def _as_frame(layer: Any) -> gpd.GeoDataFrame:
    if isinstance(layer, gpd.GeoSeries):
        layer = layer.to_frame("geometry")
    if not isinstance(layer, gpd.GeoDataFrame):
        raise DataError(f"expected a GeoDataFrame of parcels, got {type(layer).__name__}",
                        hint="build one with geopandas.GeoDataFrame(..., geometry=..., crs=...)")
    if len(layer) == 0:
        raise DataError(
            "the layer has no parcels", hint="filter less, or do not write an empty file"
        )
    return layer


def _gk_layer(layer: gpd.GeoDataFrame, crs: Any, path: Path):
    """The layer in its target Gauss-Kruger CRS, its ZoneInfo and datum key."""
    if layer.crs is None:
        raise CRSError("the layer has no CRS", path=path,
                       hint="set it with layer.set_crs(...) (e.g. 4527 for CGCS2000 3° zone 39)")
    if crs is not None:
        target = as_crs(crs)
        if not target.equals(layer.crs):
            layer = layer.to_crs(target)
    info = zone_info(layer.crs)
    datum = fmt.datum_of_crs(layer.crs)
    if info is None or info.zone is None or info.width is None or datum is None:
        zone = None
        try:
            minx, _, maxx, _ = layer.geometry.to_crs(4490).total_bounds
            zone = infer_zone(lon=(minx + maxx) / 2, width=3)
        except Exception:  # noqa: BLE001, S110 - only the hint depends on it
            pass
        epsg = f"EPSG:{gk_crs(zone).to_epsg()}" if zone else "e.g. EPSG:4527"
        hint = Fix(f"pass crs= with a Gauss-Kruger CRS, e.g. crs=onemap.crs.gk_crs({zone or 39})"
                   + (f" ({epsg})" if zone else ""),
                   toml=f"set [frame] zone = {zone or 39} (a CGCS2000 Gauss-Kruger frame; {epsg}) "
                        "and remove [frame] crs",
                   cli=f"pass --to-crs {epsg.removeprefix('e.g. ')} "
                       "(the CGCS2000 Gauss-Kruger zone of the layer)")
        raise CRSError(f"{layer.crs.name!r} is not a Gauss-Kruger zone CRS of CGCS2000, Xian 1980, "
                       "Beijing 1954 or WGS84", path=path, hint=hint)
    return layer, info, datum


def _header(
    layer, header: Mapping[str, Any] | None, info, datum: str, precision: int
) -> dict[str, str]:
    source = layer.attrs.get("header") or {}
    if not isinstance(source, Mapping):
        raise DataError(
            "layer.attrs['header'] must be a dict of header keys and values, got "
            f"{type(source).__name__}",
            hint="set it to a dict (e.g. the attrs['header'] of read_boundary_txt) or delete it",
        )
    source = {str(k).strip(): "" if v is None else str(v).strip() for k, v in source.items()}
    today = _dt.date.today()
    out = {k: "" for k in fmt.HEADER_KEYS}
    out.update({"格式版本号": "1.01版本", "数据产生日期": f"{today.year}-{today.month}-{today.day}",
                "转换参数": ",,,,,,"})
    out.update(
        {
            fmt.canonical_key(k): v
            for k, v in source.items()
            if fmt.canonical_key(k) not in _DERIVED_KEYS
        }
    )
    out.update(
        {
            "坐标系": fmt.DATUM_NAMES[datum],
            "几度分带": str(info.width),
            "投影类型": "高斯克吕格",
            "计量单位": "米",
            "带号": str(info.zone),
            "精度": f"{10.0**-precision:g}",
        }
    )
    old = source.get("精度", "").strip()
    if old in (str(precision), f"{10.0 ** -precision:.{precision}f}"):
        out["精度"] = old  # the source's way of writing the same precision ("3" or "0.001")
    for key, value in (header or {}).items():
        out[fmt.canonical_key(str(key))] = "" if value is None else str(value).strip()
    for key, value in out.items():
        if (not key or "=" in key or fmt.section_name(key) or re.search(r"[\r\n]", key + value)
                or _UNWRITABLE.search(key + value)):
            raise DataError(
                f"header entry {key!r}={value!r} cannot be written",
                hint="header keys need no '=', brackets or line breaks; values no line breaks "
                "or control characters",
            )
    return out


def _columns(
    layer: gpd.GeoDataFrame, id_column: str | None, name_column: str | None
) -> dict[str, str | None]:
    by_lower = {str(c).lower(): c for c in layer.columns if c != layer.geometry.name}
    out: dict[str, str | None] = {}
    for key, names in _COLUMN_SOURCES.items():
        explicit = {"parcel_id": id_column, "name": name_column}.get(key)
        if explicit is not None:
            if explicit not in layer.columns:
                raise DataError(
                    f"column {explicit!r} not in the layer",
                    hint=f"use one of {list(by_lower.values())}",
                )
            out[key] = explicit
            continue
        out[key] = next((by_lower[n.lower()] for n in names if n.lower() in by_lower), None)
    return out


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):  # arrays and other non-scalars
        pass
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _field_values(
    layer: gpd.GeoDataFrame, columns: dict[str, str | None]
) -> list[tuple[str, list[str]]]:
    """(column, texts) for the parcel-line fields after 面积, then the extra_N columns."""
    n = len(layer)
    out = []
    for key in fmt.TEXT_FIELDS:
        col = columns[key]
        texts = [_text(v) for v in layer[col]] if col is not None else [""] * n
        if key == "parcel_id":
            texts = [t or str(i + 1) for i, t in enumerate(texts)]
        elif key == "shape_type":
            texts = [t or "面" for t in texts]
        out.append((col or key, texts))
    numbered = {c: m for c in layer.columns if isinstance(c, str) and (m := _EXTRA.match(c))}
    extras = sorted(numbered, key=lambda c: int(numbered[c].group(1)))
    out += [(c, [_text(v) for v in layer[c]]) for c in extras]
    return out


def _parcel_fields(values: list[tuple[str, list[str]]], i: int, label: Any, repairs: list[Repair],
                   path: Path) -> list[str]:
    row = [(col, texts[i]) for col, texts in values]
    while len(row) > len(fmt.TEXT_FIELDS) and not row[-1][1]:
        row.pop()  # no trailing empty extras
    out = []
    for col, value in row:
        clean = _UNWRITABLE.sub(" ", re.sub(r"[\r\n]+", " ", value)).replace(",", "，")
        if clean != value:
            repairs.append(
                Repair(
                    str(path),
                    f"feature {label!r}, column {col!r}",
                    "comma, line break or control character in the value",
                    "written as '，' / space",
                )
            )
        out.append(clean)
    return out


def _rings(geom: Any, label: Any) -> list[np.ndarray]:
    """(easting, northing) rings: exteriors clockwise then their holes counter-clockwise."""
    if geom is None or geom.is_empty:
        raise GeometryError("missing or empty geometry", feature=label,
                            hint="drop parcels without geometry before writing")
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise GeometryError(
            f"{geom.geom_type} cannot be written as a parcel",
            feature=label,
            hint="boundary TXT holds polygons only; buffer or drop other geometries",
        )
    coords = shapely.get_coordinates(geom)
    if not (np.isfinite(coords).all() and (np.abs(coords) < 1e9).all()):
        raise GeometryError(
            "coordinates are not finite or lie far outside any Gauss-Kruger zone",
            feature=label,
            hint="check the layer's CRS and coordinates (metres in a Gauss-Kruger zone)",
        )
    if not shapely.is_valid(geom):
        raise GeometryError(
            f"invalid geometry ({shapely.is_valid_reason(geom)})",
            feature=label,
            hint="repair it first, e.g. layer.geometry = shapely.make_valid(layer.geometry)",
        )
    geom = shapely.orient_polygons(shapely.force_2d(geom), exterior_cw=True)
    parts = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
    rings = []
    for part in parts:
        rings.append(np.asarray(part.exterior.coords))
        rings += [np.asarray(h.coords) for h in part.interiors]
    return rings


def _check_encoding(encoding: str, path: Path) -> None:
    """Refuse codecs no reader can detect: UTF-16/32 without BOM, UTF-32, non-text codecs."""
    try:
        name = codecs.lookup(encoding).name
        "a".encode(encoding)
    except (LookupError, TypeError) as exc:
        raise EncodingError(f"unknown encoding {encoding!r}", path=path,
                            hint="use 'gbk', 'gb18030', 'utf-8', 'utf-8-sig' or 'utf-16'") from exc
    if name in ("utf-16-le", "utf-16-be") or name.startswith("utf-32"):
        raise EncodingError(
            f"{encoding!r} files cannot be recognised when read back (no byte-order mark, "
            "or UTF-32)",
            path=path,
            hint="use encoding='utf-16' (with BOM), 'utf-8' or 'gbk'",
        )


def _encode(text: str, encoding: str, path: Path) -> bytes:
    try:
        return text.encode(encoding)
    except LookupError as exc:
        raise EncodingError(f"unknown encoding {encoding!r}", path=path,
                            hint="use 'gbk', 'gb18030', 'utf-8', 'utf-8-sig' or 'utf-16'") from exc
    except UnicodeEncodeError as exc:
        line = (
            text.count("\n", 0, exc.start) + 1
            if "\n" in text
            else text.count("\r", 0, exc.start) + 1
        )
        raise EncodingError(
            f"character {text[exc.start]!r} cannot be written in {encoding}",
            path=path,
            line=line,
            hint="pass encoding='gb18030' or encoding='utf-8'",
        ) from exc
