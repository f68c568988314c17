"""Parcel geometry of a land-boundary TXT file.

Rings from point lines, holes vs parts, point counts.

Rings are grouped by 圈号. A ring whose last point repeats the first coordinates (under any name)
is closed; other rings are closed by the reader (a repair). Rings 2.. are holes or further parts
by containment (even-odd nesting), which is what makes the declared areas of real files match.
Every step is linear in the number of points, except the containment test, which goes through an
STR tree (near-linear for the rings of real parcels).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from ..errors import FormatError, GeometryError, Repair
from . import _boundary_txt_common as fmt

_RING_HINT = "a ring needs at least 3 different boundary points; fix or delete the ring"


def lines_text(lines: list[int]) -> str:
    """``'line 5'`` / ``'lines 5, 6, 7 (+2 more)'``."""
    head = ", ".join(str(n) for n in lines[:5])
    return f"line{'s' if len(lines) > 1 else ''} {head}" + (
        f" (+{len(lines) - 5} more)" if len(lines) > 5 else ""
    )


def ring_groups(parcel: fmt.Parcel, path: Path, repairs: list[Repair]) -> dict[int, list]:
    """Points by 圈号 in ascending ring order.

    FormatError when a ring resumes after another began.
    """
    if len({p[1] for p in parcel.points}) == 1:  # the usual single ring
        return {parcel.points[0][1]: parcel.points}
    groups: dict[int, list] = {}
    previous = None
    for point in parcel.points:
        ring = point[1]
        if ring != previous and ring in groups:
            first = groups[ring][0][4]
            raise FormatError(
                f"ring {ring} of parcel {parcel.label} (line {parcel.line}) resumes after ring "
                f"{previous} began: its points are split (first at line {first})",
                path=path,
                line=point[4],
                hint="keep the points of each ring together and in boundary order, and give "
                "every ring its own 圈号 (1 = outer ring)",
            )
        groups.setdefault(ring, []).append(point)
        previous = ring
    order = list(groups)
    if order != sorted(order):
        repairs.append(
            Repair(
                str(path),
                f"parcel {parcel.label} (line {parcel.line})",
                f"ring numbers out of order ({', '.join(map(str, order))})",
                "rings read by their numbers; holes and parts told apart by containment",
            )
        )
    return {k: groups[k] for k in sorted(groups)}


def _closed(pts: list, tol: float) -> bool:
    return (
        len(pts) > 1 and abs(pts[-1][2] - pts[0][2]) <= tol and abs(pts[-1][3] - pts[0][3]) <= tol
    )


def check_point_count(
    parcel: fmt.Parcel,
    groups: dict[int, list],
    path: Path,
    repairs: list[Repair],
    tol: float,
    last_line: int,
) -> None:
    """Compare 界址点数 with the point lines: missing points raise, other differences are reported.

    Writers count closing points or not, and sometimes one closing point per ring: these are all
    accepted silently. A parcel that declares more points than it has and leaves a ring open has
    lost point lines (a truncated file, or lines deleted by hand): a FormatError, since closing
    the ring would invent a boundary. Any other difference is reported as a repair: the point
    lines are used, ``point_count`` keeps the declared value.
    """
    declared = fmt.first_int(parcel.fields[0]) if parcel.fields else None
    if declared is None:
        return
    n_lines = len(parcel.points)
    closed = sum(_closed(pts, tol) for pts in groups.values())
    rings = len(groups)
    if declared in (n_lines, n_lines - closed, n_lines - closed + rings):
        return
    open_rings = [r for r, pts in groups.items() if not _closed(pts, tol)]
    if open_rings and declared > n_lines + len(open_rings):
        ring = open_rings[-1]
        line = groups[ring][-1][4]
        what = (f"界址点数 declares {declared} point lines, {n_lines} are present "
                f"and ring {ring} is not closed")
        if parcel.points[-1][4] == last_line:
            raise FormatError(
                f"the file ends in the middle of parcel {parcel.label} (line {parcel.line}): "
                f"{what}",
                path=path,
                line=line,
                hint="the file is truncated: export or copy it again in full",
            )
        raise FormatError(
            f"parcel {parcel.label} (line {parcel.line}) has lost point lines: {what}",
            path=path,
            line=line,
            hint=("restore the missing point lines after this line (or correct 界址点数 and close "
                  "the ring)"),
        )
    repairs.append(Repair(str(path), f"parcel {parcel.label} (line {parcel.line})",
                          f"界址点数 declares {declared}, the parcel has {n_lines} point lines",
                          "used the point lines (point_count keeps the declared value)"))


def parcel_geometry(parcel: fmt.Parcel, groups: dict[int, list], path: Path, repairs: list[Repair],
                    tol: float) -> Any:
    """The parcel's valid (Multi)Polygon, exteriors counter-clockwise."""
    where = f"parcel {parcel.label} (line {parcel.line})"
    rings: list[np.ndarray] = []  # every ring counter-clockwise, closed
    for ring_no, pts in groups.items():
        xy = np.array([(p[3], p[2]) for p in pts])  # (easting, northing)
        moved = np.abs(np.diff(xy, axis=0)).max(axis=1, initial=0.0) > tol
        if not moved.all():
            keep = np.concatenate(([True], moved))
            dup = [pts[i][4] for i in np.flatnonzero(~keep)]
            repairs.append(Repair(str(path), f"{where}, ring {ring_no}",
                                  f"repeated point on {lines_text(dup)}", "dropped"))
            xy, pts = xy[keep], [p for p, k in zip(pts, keep, strict=True) if k]
        for sub, sub_pts in _split_closed(xy, pts, tol):
            closed = len(sub) > 1 and float(np.abs(sub[-1] - sub[0]).max()) <= tol
            if closed:
                sub = sub[:-1]
            if len(sub) < 3 or (len(sub) < 5 and len(set(map(tuple, sub.tolist()))) < 3):
                raise GeometryError(f"ring {ring_no} of {where} has fewer than 3 distinct points",
                                    path=path, line=sub_pts[0][4], hint=_RING_HINT)
            if not closed:
                repairs.append(Repair(str(path), f"{where}, ring {ring_no} (line {sub_pts[0][4]})",
                                      "ring not closed", "closed back to its first point"))
            ring = np.concatenate((sub, sub[:1]))
            area = _shoelace(ring)
            if not math.isfinite(area):
                raise GeometryError(
                    f"ring {ring_no} of {where} has coordinates too large to compute with",
                    path=path,
                    line=sub_pts[0][4],
                    hint="check the coordinates of this ring",
                )
            if area == 0.0 and shapely.MultiPoint(sub).convex_hull.area == 0.0:
                raise GeometryError(
                    f"ring {ring_no} of {where} has zero area (all points on one line)",
                    path=path,
                    line=sub_pts[0][4],
                    hint="check the coordinates of this ring, or delete it",
                )
            rings.append(ring if area >= 0.0 else ring[::-1])
    geom = _assemble(rings, where, path, repairs)
    if geom.is_empty:
        raise GeometryError(
            f"{where} has no area left after repairing its rings",
            path=path,
            line=parcel.line,
            hint="check the coordinates of the parcel's rings",
        )
    return geom


def _shoelace(ring: np.ndarray) -> float:
    x, y = ring[:, 0] - ring[0, 0], ring[:, 1] - ring[0, 1]
    with np.errstate(over="ignore", invalid="ignore"):
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
        if i - start >= 3 and i < len(xy) - 1 and np.all(np.abs(xy[i] - xy[start]) <= tol):
            out.append((xy[start:i + 1], pts[start:i + 1]))
            start = i + 1
            i = start + 1
            continue
        i += 1
    if start < len(xy):
        out.append((xy[start:], pts[start:]))
    return out


def _containment(shells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(outer, inner) index pairs: ring *outer* contains ring *inner* (never a ring itself).

    Identical rings contain each other: only the earlier one counts as the container. Few rings
    are tested through their bounding boxes, many through an STR tree: no n x n matrix.
    """
    n = len(shells)
    if n < 64:  # bounding boxes first: most pairs of rings are disjoint
        lo_x, lo_y, hi_x, hi_y = shapely.bounds(shells).T
        maybe = ((lo_x[:, None] <= lo_x[None, :]) & (lo_y[:, None] <= lo_y[None, :])
                 & (hi_x[:, None] >= hi_x[None, :]) & (hi_y[:, None] >= hi_y[None, :]))
        np.fill_diagonal(maybe, False)
        outer, inner = np.nonzero(maybe)
        hit = (
            shapely.contains(shells[outer], shells[inner])
            if len(outer)
            else np.zeros(0, dtype=bool)
        )
        outer, inner = outer[hit], inner[hit]
    else:
        inner, outer = shapely.STRtree(shells).query(shells, predicate="within")
        keep = inner != outer
        outer, inner = outer[keep], inner[keep]
    key = outer.astype(np.int64) * n + inner
    mutual = np.isin(inner.astype(np.int64) * n + outer, key)
    keep = ~(mutual & (outer > inner))
    return outer[keep], inner[keep]


def _nesting(shells: np.ndarray) -> dict[int, list[int]]:
    """{shell ring: its hole rings}: a ring inside an odd number of rings is a hole of the smallest
    container one level up (any container when make_valid pieces do not nest strictly)."""
    n = len(shells)
    outer, inner = _containment(shells)
    depth = np.bincount(inner, minlength=n)
    areas = shapely.area(shells)
    holes: dict[int, list[int]] = {i: [] for i in range(n) if depth[i] % 2 == 0}
    odd = depth[inner] % 2 == 1
    outer, inner = outer[odd], inner[odd]
    level = depth[outer] == depth[inner] - 1
    # per inner ring: prefer containers one level up, then the smallest
    order = np.lexsort((areas[outer], ~level, inner))
    outer, inner = outer[order], inner[order]
    first = np.r_[True, inner[1:] != inner[:-1]] if len(inner) else np.zeros(0, dtype=bool)
    for parent, child in zip(outer[first].tolist(), inner[first].tolist(), strict=True):
        holes.setdefault(parent, []).append(child)
    return holes


def _assemble(rings: list[np.ndarray], where: str, path: Path, repairs: list[Repair]):
    """Rings nested even-odd into a valid (Multi)Polygon (see :func:`_nesting`).

    *rings* are counter-clockwise, so a valid result needs no re-orientation (holes are reversed).
    """
    if len(rings) == 1:
        geom = shapely.polygons(rings[0])
        if geom.is_valid:
            return geom
    shells = np.empty(len(rings), dtype=object)
    shells[:] = [shapely.polygons(r) for r in rings]
    invalid = ~shapely.is_valid(shells)
    if invalid.any():  # a self-intersecting ring: repair it, then nest with boolean operations
        for i in np.flatnonzero(invalid)[:20]:
            repairs.append(
                Repair(
                    str(path),
                    f"{where}, ring {i + 1}",
                    f"invalid ring ({shapely.is_valid_reason(shells[i])})",
                    "repaired with make_valid",
                )
            )
        if invalid.sum() > 20:
            repairs.append(Repair(str(path), where, f"{invalid.sum() - 20} more invalid rings",
                                  "repaired with make_valid"))
        shells = shapely.make_valid(shells, method="structure", keep_collapsed=False)
    holes = _nesting(shells)
    if invalid.any():
        pieces = [shapely.difference(shells[i], shapely.union_all(shells[h])) if h else shells[i]
                  for i, h in holes.items()]
        geom = shapely.union_all(pieces)
    else:
        polys = [
            shapely.Polygon(rings[i], [rings[k][::-1] for k in h]) for i, h in sorted(holes.items())
        ]
        geom = polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)
        if geom.is_valid:
            return geom
    if not geom.is_valid:  # overlapping parts, a hole crossing its shell, ...
        repairs.append(
            Repair(
                str(path),
                where,
                f"invalid geometry ({shapely.is_valid_reason(geom)})",
                "repaired with make_valid",
            )
        )
        geom = shapely.make_valid(geom, method="structure", keep_collapsed=False)
    if geom.geom_type == "GeometryCollection":
        polys = [g for g in geom.geoms if g.geom_type == "Polygon"]
        polys += [p for g in geom.geoms if g.geom_type == "MultiPolygon" for p in g.geoms]
        geom = shapely.MultiPolygon(polys)
    if geom.geom_type == "MultiPolygon" and len(geom.geoms) == 1:
        geom = geom.geoms[0]
    return shapely.orient_polygons(geom, exterior_cw=False)
