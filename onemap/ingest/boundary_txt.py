"""Land-boundary coordinate exchange TXT (勘测定界界址点坐标交换格式, "报部格式"): reader and writer.

The format (``shared/domain/boundary_txt.md``)::

    [属性描述]
    坐标系=2000国家大地坐标系
    几度分带=3
    带号=39
    ...
    [地块坐标]
    界址点数,地块面积,地块编号,地块名称,图形属性,图幅号,地块用途,地类编码,@
    点号,圈号,X(northing),Y(zone-prefixed easting)
    ...

:func:`read_boundary_txt` reads what real land bureaus produce (GBK or UTF-8/16, any line ends,
full-width brackets and commas, rings that are holes or further parts, closing points under new
names, swapped X/Y, wrong 带号) and says what it repaired; :func:`write_boundary_txt` writes
layers back (atomically) in the form the ministry expects.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import FormatError, OnemapWarning, Repair, report_repairs
from . import _boundary_txt_common as fmt
from ._boundary_txt_crs import planar_crs_for, resolve_crs, swapped_points
from ._boundary_txt_writer import write_boundary_txt
from .encoding import decode_text

__all__ = ["read_boundary_txt", "write_boundary_txt"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# a point repeats another (closing point under any name, duplicate): 1 µm, or ~1 cm in degrees
_SAME_POINT = {False: 1e-6, True: 1e-7}
_POINT_HINT = "write point lines as 点号,圈号,X,Y (X = northing, Y = easting), e.g. J1,1,3353189.181,39456780.123"


@dataclass
class _Parcel:
    line: int
    fields: list[str]
    points: list[tuple[str, int, float, float, int]] = field(default_factory=list)  # name, ring, x, y, line


def read_boundary_txt(
    path: str | PathLike,
    *,
    encoding: str | None = None,
    crs: Any = None,
    zone: int | None = None,
) -> gpd.GeoDataFrame:
    """Read a land-boundary coordinate exchange TXT file into one row per parcel.

    Parameters
    ----------
    path
        The ``.txt`` file.
    encoding
        Text encoding; detected when ``None`` (BOM -> strict UTF-8 -> GBK/GB18030, see
        :mod:`onemap.ingest.encoding`).
    crs
        CRS of the coordinates (anything :func:`onemap.crs.as_crs` accepts); overrides the header.
    zone
        Gauss-Kruger zone number; overrides 带号 and the easting prefix (datum and zone width
        still come from the header or the prefix).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``parcel_id``, ``name``, ``point_count`` (declared 界址点数), ``declared_area``
        (地块面积 as written), ``shape_type``, ``sheet``, ``use``, ``landuse_code``, ``extra_1``...
        (further parcel-line fields), ``plane_area`` (computed plane Gauss area, m²),
        ``area_unit`` (``'m2'``, ``'ha'`` or ``None``: the unit in which the declared area
        matches the plane area within ``max(1e-3 × area, 2 m², half a unit of its last written
        decimal)``), ``area_check`` (``'ok'``, ``'mismatch'``, ``'missing'``) and ``geometry``
        (valid Polygon/MultiPolygon, exteriors counter-clockwise, holes clockwise). ``attrs`` holds
        ``header`` (dict of header keys, variants mapped to the canonical names), ``encoding``,
        ``repairs`` (list of :class:`~onemap.errors.Repair`), ``crs_source`` and ``source``.

    Notes
    -----
    * X (first coordinate) is the northing, Y the easting. Points whose X looks like an easting
      and Y like a northing are swapped back (a repair).
    * Rings are grouped by 圈号; a ring whose last point repeats the first coordinates (under any
      name) is closed, other rings are closed (a repair). Rings 2.. are holes or further parts by
      containment: a ring inside an odd number of other rings is a hole of the smallest one, else
      a part; so islands inside holes are parts.
    * The CRS comes from 坐标系 + 几度分带 + 带号 + whether eastings carry the zone prefix. When the
      prefix and 带号 disagree the coordinates win (a repair); eastings of different zones raise
      :class:`~onemap.errors.CRSError`. 带号 may also hold the central meridian (``117``).
    * 界址点数 counts closing points in some files and not in others; both are accepted silently,
      other differences give an :class:`~onemap.errors.OnemapWarning`, as do area mismatches.

    Raises
    ------
    FormatError
        Malformed input, with the 1-based line number and a fix (EncodingError for undecodable
        bytes).
    CRSError
        No zone anywhere, an unknown 坐标系, or eastings from different zones.

    Examples
    --------
    >>> import tempfile, os
    >>> text = ("[属性描述]\\r\\n坐标系=2000国家大地坐标系\\r\\n几度分带=3\\r\\n带号=39\\r\\n[地块坐标]\\r\\n"
    ...         "5,0.0100,1,示例,面,,,,@\\r\\nJ1,1,3300000,39500000\\r\\nJ2,1,3300000,39500100\\r\\n"
    ...         "J3,1,3300001,39500100\\r\\nJ4,1,3300001,39500000\\r\\nJ1,1,3300000,39500000\\r\\n")
    >>> p = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with open(p, "wb") as f:
    ...     _ = f.write(text.encode("gbk"))
    >>> gdf = read_boundary_txt(p)
    >>> gdf.crs.to_epsg(), gdf.attrs["encoding"], float(gdf.loc[0, "plane_area"]), gdf.loc[0, "area_unit"]
    (4527, 'gbk', 100.0, 'ha')
    """
    path = Path(path)
    data = path.read_bytes()
    if not data.strip():
        raise FormatError("the file is empty", path=path, line=1,
                          hint="export the parcels again; a boundary TXT needs [属性描述] and [地块坐标] sections")
    text, used = decode_text(data, path=path, encoding=encoding)
    text = text.rstrip("\x1a")  # DOS end-of-file mark
    if not text.strip():
        raise FormatError("the file holds no text", path=path, line=1,
                          hint="export the parcels again; a boundary TXT needs [属性描述] and [地块坐标] sections")
    repairs: list[Repair] = []
    header, parcels, header_lines = _parse(text, path, repairs)
    _check_parcels(parcels, path)
    swapped_points(parcels, path, repairs)
    crs_, crs_source = resolve_crs(header, header_lines, parcels, path, repairs, crs=crs, zone=zone)
    rows, geoms, count_issues = [], [], []
    for parcel in parcels:
        geom, count_ok = _parcel_geometry(parcel, path, repairs, _SAME_POINT[bool(crs_.is_geographic)])
        rows.append(_parcel_row(parcel, path))
        geoms.append(geom)
        if not count_ok:
            count_issues.append(parcel)
    gdf = _frame(rows, geoms, crs_, parcels, path)
    _warn_counts(count_issues, path)
    gdf.attrs.update(header=header, encoding=used, repairs=repairs, crs_source=crs_source,
                     source=str(path))
    report_repairs(repairs)
    return gdf


# ---------------------------------------------------------------------------------------------
# parsing

def _parse(text: str, path: Path, repairs: list[Repair]) -> tuple[dict[str, str], list[_Parcel], dict[str, int]]:
    """Split *text* into header key/values (with their line numbers) and parcels."""
    header: dict[str, str] = {}
    header_lines: dict[str, int] = {}
    parcels: list[_Parcel] = []
    section: str | None = None
    seen_coords = False
    last = 1
    fullwidth_lines: list[int] = []
    for lineno, raw in enumerate(_LINE_BREAK.split(text), start=1):
        line = raw.strip().strip("\u3000")
        if not line:
            continue
        last = lineno
        bad = _CONTROL.search(line)
        if bad:
            raise FormatError(f"control character {bad.group()!r} in the text: this is not a boundary TXT file",
                              path=path, line=lineno,
                              hint="check that the right file was given (binary or corrupt data), or pass encoding=")
        name = fmt.section_name(line)
        if name is not None:
            section = fmt.nfkc(name)
            seen_coords |= section == fmt.SECTION_COORDS
            continue
        if section == fmt.SECTION_COORDS:
            _parse_coord_line(line, lineno, parcels, path, fullwidth_lines)
            continue
        if "=" not in line and "＝" not in line and _looks_like_coords(line):
            raise FormatError("parcel or point line outside a [地块坐标] section", path=path, line=lineno,
                              hint="add a line [地块坐标] before the first parcel line (the one ending in ,@)")
        key, sep, value = line.replace("＝", "=").partition("=")
        if not sep:
            warnings.warn(f"{path}, line {lineno}: ignored header line without '=': {line!r}",
                          OnemapWarning, stacklevel=3)
            continue
        key = fmt.canonical_key(key)
        value = value.strip()
        if key == "几度分带" and fmt.first_int(value) in (3, 6):
            value = str(fmt.first_int(value))
        header.setdefault(key, value)
        header_lines.setdefault(key, lineno)
    if not seen_coords:
        raise FormatError("no [地块坐标] section", path=path, line=last,
                          hint="add a line [地块坐标] before the first parcel line (the one ending in ,@)")
    if not parcels:
        raise FormatError("[地块坐标] holds no parcel", path=path, line=last,
                          hint="each parcel starts with a line 界址点数,地块面积,地块编号,地块名称,面,图幅号,地块用途,地类编码,@")
    if fullwidth_lines:
        repairs.append(Repair(str(path), _lines_text(fullwidth_lines), "full-width comma '，' as separator",
                              "read as ','"))
    return header, parcels, header_lines


def _looks_like_coords(line: str) -> bool:
    fields = _split(line.replace("，", ","))
    return fields[-1] == "@" or (len(fields) == 4 and _is_number(fields[2]) and _is_number(fields[3]))


def _split(line: str) -> list[str]:
    fields = [f.strip() for f in line.split(",")]
    while len(fields) > 1 and not fields[-1]:
        fields.pop()  # a trailing comma after "@" or Y
    return fields


def _parse_coord_line(line: str, lineno: int, parcels: list[_Parcel], path: Path, fullwidth: list[int]) -> None:
    fields = _split(line)
    if fields[-1] == "@" and len(fields) > 1:  # parcel line: names may hold full-width commas
        parcels.append(_Parcel(lineno, fields[:-1]))
        return
    if "，" in line:
        fields = _split(line.replace("，", ","))
        fullwidth.append(lineno)
        if fields[-1] == "@":
            parcels.append(_Parcel(lineno, fields[:-1]))
            return
    if not parcels:
        raise FormatError("point line before any parcel line", path=path, line=lineno,
                          hint="start each parcel with a line 界址点数,地块面积,地块编号,地块名称,面,图幅号,地块用途,地类编码,@")
    if len(fields) != 4:
        raise FormatError(f"point line has {len(fields)} field(s), expected 4", path=path, line=lineno,
                          hint=_POINT_HINT + "; a parcel line must end with ,@")
    name, ring_text, x_text, y_text = fields
    ring = _to_int(ring_text)
    if ring is None or ring < 1:
        raise FormatError(f"ring number (圈号) {ring_text!r} is not a positive integer", path=path, line=lineno,
                          hint="number rings 1 (outer), 2, 3, ...")
    x, y = _to_float(x_text), _to_float(y_text)
    if x is None or y is None:
        bad = x_text if x is None else y_text
        raise FormatError(f"coordinate {bad!r} is not a number", path=path, line=lineno, hint=_POINT_HINT)
    parcels[-1].points.append((name, ring, x, y, lineno))


def _to_float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        try:  # full-width digits, inner spaces
            value = float(fmt.nfkc(text).replace(" ", ""))
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def _is_number(text: str) -> bool:
    return _to_float(text) is not None


def _to_int(text: str) -> int | None:
    value = _to_float(text)
    return int(value) if value is not None and value == int(value) else None


def _lines_text(lines: list[int]) -> str:
    head = ", ".join(str(n) for n in lines[:5])
    return f"line{'s' if len(lines) > 1 else ''} {head}" + (f" (+{len(lines) - 5} more)" if len(lines) > 5 else "")


def _check_parcels(parcels: list[_Parcel], path: Path) -> None:
    for parcel in parcels:
        if not parcel.points:
            raise FormatError("parcel line has no point lines", path=path, line=parcel.line,
                              hint="list the boundary points (点号,圈号,X,Y) after the parcel line, or delete it")


# ---------------------------------------------------------------------------------------------
# geometry

def _parcel_geometry(parcel: _Parcel, path: Path, repairs: list[Repair], tol: float) -> tuple[Any, bool]:
    """The parcel's (Multi)Polygon, and whether the declared point count fits a convention."""
    groups: dict[int, list[tuple[str, int, float, float, int]]] = {}
    for point in parcel.points:
        groups.setdefault(point[1], []).append(point)
    where = f"parcel {_parcel_label(parcel)} (line {parcel.line})"
    rings: list[np.ndarray] = []
    closing_points = 0
    for ring_no in sorted(groups):
        pts = groups[ring_no]
        xy = np.array([(p[3], p[2]) for p in pts])  # (easting, northing)
        keep = np.r_[True, np.any(np.abs(np.diff(xy, axis=0)) > tol, axis=1)]
        if not keep.all():
            dup = [pts[i][4] for i in np.flatnonzero(~keep)]
            repairs.append(Repair(str(path), f"{where}, ring {ring_no}",
                                  f"repeated point on {_lines_text(dup)}", "dropped"))
            xy, pts = xy[keep], [p for p, k in zip(pts, keep) if k]
        for sub, sub_pts in _split_closed(xy, pts, tol):
            closed = len(sub) > 1 and np.all(np.abs(sub[-1] - sub[0]) <= tol)
            closing_points += bool(closed)
            if closed:
                sub = sub[:-1]
            if len(sub) < 3 or (len(sub) < 5 and len(np.unique(sub, axis=0)) < 3):
                raise FormatError(f"ring {ring_no} of {where} has fewer than 3 distinct points",
                                  path=path, line=sub_pts[0][4],
                                  hint="a ring needs at least 3 different boundary points; fix or delete the ring")
            if not closed:
                repairs.append(Repair(str(path), f"{where}, ring {ring_no} (line {sub_pts[0][4]})",
                                      "ring not closed", "closed back to its first point"))
            ring = np.vstack([sub, sub[:1]])
            if _shoelace(ring) == 0.0 and shapely.MultiPoint(sub).convex_hull.area == 0.0:
                raise FormatError(f"ring {ring_no} of {where} has zero area (all points on one line)",
                                  path=path, line=sub_pts[0][4], hint="check the coordinates of this ring")
            rings.append(ring)
    geom = _assemble(rings, where, path, repairs)
    declared = fmt.first_int(parcel.fields[0]) if parcel.fields else None
    n_lines = len(parcel.points)
    ok = declared is None or declared in (n_lines, n_lines - closing_points, n_lines - closing_points + len(rings))
    return geom, ok


def _shoelace(ring: np.ndarray) -> float:
    x, y = ring[:, 0] - ring[0, 0], ring[:, 1] - ring[0, 1]
    return float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])) / 2.0


def _split_closed(xy: np.ndarray, pts: list, tol: float) -> list[tuple[np.ndarray, list]]:
    """Split a ring group that returns to its start and continues (several rings under one 圈号)."""
    back_at_start = np.all(np.abs(xy[3:-1] - xy[0]) <= tol, axis=1)
    if not back_at_start.any():  # the usual case: one ring
        return [(xy, pts)]
    out = []
    start = 0
    i = 1
    while i < len(xy):
        if i - start >= 3 and np.all(np.abs(xy[i] - xy[start]) <= tol) and i < len(xy) - 1:
            out.append((xy[start:i + 1], pts[start:i + 1]))
            start = i + 1
            i = start + 1
            continue
        i += 1
    if start < len(xy):
        out.append((xy[start:], pts[start:]))
    return out


def _assemble(rings: list[np.ndarray], where: str, path: Path, repairs: list[Repair]):
    """Even-odd nesting: a ring inside an odd number of rings is a hole of the smallest of them."""
    if len(rings) == 1:
        geom = shapely.Polygon(rings[0])
        if geom.is_valid:
            return shapely.orient_polygons(geom, exterior_cw=False)
    shells = np.array([shapely.Polygon(r) for r in rings], dtype=object)
    invalid = ~shapely.is_valid(shells)
    if invalid.any():  # a self-intersecting ring: repair it, then nest with boolean operations
        for i in np.flatnonzero(invalid):
            repairs.append(Repair(str(path), f"{where}, ring {i + 1}",
                                  f"invalid ring ({shapely.is_valid_reason(shells[i])})", "repaired with make_valid"))
        shells = shapely.make_valid(shells, method="structure", keep_collapsed=False)
    n = len(shells)
    inside = shapely.contains(shells[:, None], shells[None, :])  # inside[j, i]: ring j contains ring i
    np.fill_diagonal(inside, False)
    # identical rings contain each other: only the earlier one counts as the container
    inside &= ~(inside & inside.T & (np.arange(n)[:, None] > np.arange(n)[None, :]))
    depth = inside.sum(axis=0)
    areas = shapely.area(shells)
    holes: dict[int, list[int]] = {i: [] for i in range(n) if depth[i] % 2 == 0}
    for i in np.flatnonzero(depth % 2 == 1):
        parents = [j for j in np.flatnonzero(inside[:, i]) if depth[j] == depth[i] - 1]
        holes[min(parents, key=lambda j: areas[j])].append(int(i))
    if invalid.any():
        pieces = [shapely.difference(shells[i], shapely.union_all(shells[h])) if h else shells[i]
                  for i, h in holes.items()]
        geom = shapely.union_all(pieces)
    else:
        polys = [shapely.Polygon(rings[i], [rings[k] for k in h]) for i, h in sorted(holes.items())]
        geom = polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)
    if not shapely.is_valid(geom):  # overlapping parts, a hole crossing its shell, ...
        repairs.append(Repair(str(path), where, f"invalid geometry ({shapely.is_valid_reason(geom)})",
                              "repaired with make_valid"))
        geom = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    if geom.geom_type == "GeometryCollection":
        geom = shapely.MultiPolygon([g for g in geom.geoms if g.geom_type == "Polygon"])
    if geom.geom_type == "MultiPolygon" and len(geom.geoms) == 1:
        geom = geom.geoms[0]
    return shapely.orient_polygons(geom, exterior_cw=False)


# ---------------------------------------------------------------------------------------------
# attributes

def _parcel_label(parcel: _Parcel) -> str:
    pid = parcel.fields[2] if len(parcel.fields) > 2 and parcel.fields[2] else None
    return repr(pid) if pid else f"at line {parcel.line}"


def _parcel_row(parcel: _Parcel, path: Path) -> dict[str, Any]:
    f = parcel.fields
    row: dict[str, Any] = {}
    count = fmt.first_int(f[0]) if f and f[0] else None
    if f and f[0] and (count is None or fmt.nfkc(f[0]).strip() != str(count)):
        warnings.warn(f"{path}, line {parcel.line}: 界址点数 {f[0]!r} is not an integer; ignored",
                      OnemapWarning, stacklevel=3)
        count = None
    row["parcel_id"] = f[2] if len(f) > 2 and f[2] else None
    row["name"] = f[3] if len(f) > 3 and f[3] else None
    row["point_count"] = count
    area_text = f[1] if len(f) > 1 else ""
    area = _to_float(area_text) if area_text else None
    if area_text and area is None:
        warnings.warn(f"{path}, line {parcel.line}: 地块面积 {area_text!r} is not a number; treated as missing",
                      OnemapWarning, stacklevel=3)
    row["declared_area"] = area
    row["_area_decimals"] = fmt.decimals_of(area_text) if area is not None else 0
    for key, idx in zip(fmt.TEXT_FIELDS[2:], range(4, 8)):
        row[key] = f[idx] if len(f) > idx and f[idx] else None
    for k, extra in enumerate(f[8:], start=1):
        row[f"extra_{k}"] = extra if extra else None
    return row


def _frame(rows: list[dict], geoms: list, crs_: Any, parcels: list[_Parcel], path: Path) -> gpd.GeoDataFrame:
    """The result frame in reader column order, with the area check."""
    geometry = gpd.GeoSeries(geoms, crs=crs_)
    plane = _plane_areas(geometry)
    matched = [fmt.match_area_unit(r["declared_area"], r.pop("_area_decimals"), s) for r, s in zip(rows, plane)]
    df = pd.DataFrame(rows)
    extras = sorted((c for c in df.columns if c.startswith("extra_")), key=lambda c: int(c[6:]))
    for col in (*fmt.TEXT_FIELDS, *extras):  # missing text is None (not NaN) in every text column
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    columns = {
        "parcel_id": df["parcel_id"], "name": df["name"],
        "point_count": df["point_count"].astype("Int64"),
        "declared_area": df["declared_area"].astype("float64"),
        **{c: df[c] for c in ("shape_type", "sheet", "use", "landuse_code", *extras)},
        "plane_area": plane, "area_unit": [u for u, _ in matched], "area_check": [c for _, c in matched],
    }
    gdf = gpd.GeoDataFrame(columns, geometry=geometry.values, crs=crs_)
    bad = [i for i, (_, c) in enumerate(matched) if c == "mismatch"]
    if bad:
        shown = "; ".join(
            f"parcel {_parcel_label(parcels[i])} (line {parcels[i].line}): declared {rows[i]['declared_area']:g}, "
            f"plane area {plane[i]:.2f} m² = {plane[i] / fmt.M2_PER_HA:.4f} ha" for i in bad[:5])
        more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
        warnings.warn(f"{path}: declared 地块面积 matches the plane area neither in m² nor in ha for "
                      f"{len(bad)} parcel(s): {shown}{more}", OnemapWarning, stacklevel=3)
    return gdf


def _plane_areas(geometry: gpd.GeoSeries) -> np.ndarray:
    """Plane Gauss-Kruger areas in m² (geographic coordinates go through their GK zone)."""
    if geometry.crs is not None and geometry.crs.is_geographic:
        geometry = geometry.to_crs(planar_crs_for(geometry))
    return shapely.area(np.asarray(geometry.values, dtype=object)).astype("float64")


def _warn_counts(parcels: list[_Parcel], path: Path) -> None:
    if parcels:
        shown = "; ".join(f"parcel {_parcel_label(p)} (line {p.line}) declares {p.fields[0]}, has "
                          f"{len(p.points)} point lines" for p in parcels[:5])
        warnings.warn(f"{path}: 界址点数 disagrees with the point lines for {len(parcels)} parcel(s): {shown}",
                      OnemapWarning, stacklevel=3)
