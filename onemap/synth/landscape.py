"""The sample county's land-use map, vector first: a planar partition of the county.

Built in four steps, all deterministic from the seed:

1. a slightly rotated, jittered grid of roads and canals (county roads 1003, rural roads 1006,
   canals 1107; streets 1004 in towns). Every grid cell is inset by half the width of its four
   roads; the inset *blocks*, the road *edges* between two blocks and the *junctions* are
   quadrilaterals built from the same corner points, so they tile the plane exactly;
2. blocks are cut into strips (fields 0101/0102/0103, ditches, orchards, ponds, greenhouses) or
   carry a village (0702), a factory (0601) or, near the township seats, town land (0701, 05H1,
   0601, 08H1, 08H2, 0810, 0508);
3. a hilly corner replaces the grid with Voronoi patches of forest, shrub and grass;
4. a meandering river (1101) cuts everything but county roads (bridges).

Pieces are exploded to single polygons and slivers are merged into their longest-shared neighbour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely

from ..frame import Frame

__all__ = [
    "Pieces",
    "Grid",
    "make_grid",
    "grid_roads",
    "subdivide_block",
    "slab_polygons",
    "hill_zone",
    "river",
    "hill_patches",
    "merge_slivers",
    "value_noise",
    "LINE_CODES",
]

#: line class -> (DLBM, width range in metres, rank for junctions)
LINE_CODES = {0: ("1003", (14.0, 20.0), 3), 1: ("1006", (4.0, 7.0), 2), 2: ("1107", (5.0, 9.0), 1)}
_SLIVER_AREA = 60.0      # m²; smaller pieces are merged into a neighbour
_SLIVER_THICKNESS = 0.9  # m; area / perimeter below this is a sliver


def value_noise(x, y, seed: int, scale: float) -> np.ndarray:
    """Smooth value noise in [0, 1) on a lattice of spacing *scale* (vectorised, numpy)."""
    x = np.asarray(x, dtype="float64") / scale
    y = np.asarray(y, dtype="float64") / scale
    ix, iy = np.floor(x), np.floor(y)
    fx, fy = x - ix, y - iy
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    ix, iy = ix.astype(np.int64), iy.astype(np.int64)

    def h(i, j):
        v = (
            i.astype(np.uint64) * np.uint64(0x9E3779B1)
            + j.astype(np.uint64) * np.uint64(0x85EBCA77)
            + np.uint64(seed) * np.uint64(0xC2B2AE3D)
        ) & np.uint64(0xFFFFFFFF)
        v = ((v ^ (v >> np.uint64(15))) * np.uint64(0x2C1B3C6D)) & np.uint64(0xFFFFFFFF)
        v = ((v ^ (v >> np.uint64(12))) * np.uint64(0x297A2D39)) & np.uint64(0xFFFFFFFF)
        return (v ^ (v >> np.uint64(15))).astype(np.float64) / 4294967296.0

    a, b, c, d = h(ix, iy), h(ix + 1, iy), h(ix, iy + 1), h(ix + 1, iy + 1)
    return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy


@dataclass
class Pieces:
    """The partition as parallel arrays (one entry per polygon)."""

    geoms: np.ndarray          # shapely Polygons
    code: np.ndarray           # DLBM (str)
    czcs: np.ndarray  # CZCSXM (str, '' for none)
    role: np.ndarray  # field, village, factory, town, road, canal, ditch, river, hill, pond, ...
    hill: np.ndarray           # bool: lies in the hilly zone
    extra: dict = field(default_factory=dict)


@dataclass
class Grid:
    theta: float
    center: tuple[float, float]
    corners: np.ndarray  # (nu-1, nv-1, 4, 2) world coords of inset block corners C00 C10 C11 C01
    nodes: np.ndarray          # (nu, nv, 2) world coords
    ucls: np.ndarray           # class of u-lines
    vcls: np.ndarray


def _positions(rng, lo, hi, smin, smax):
    pos = [lo - rng.uniform(0.0, smax)]
    while pos[-1] < hi:
        pos.append(pos[-1] + rng.uniform(smin, smax))
    return np.array(pos)


def _line_classes(rng, pos):
    cls = np.ones(len(pos), dtype=np.int8)
    next_major = pos[0] + rng.uniform(500.0, 2500.0)
    for k, p in enumerate(pos):
        if p >= next_major:
            cls[k] = 0
            next_major = p + rng.uniform(2000.0, 4000.0)
        elif rng.random() < 0.12:
            cls[k] = 2
    return cls


def _intersect(p1, d1, p2, d2):
    cross = d1[..., 0] * d2[..., 1] - d1[..., 1] * d2[..., 0]
    w = p2 - p1
    t = (w[..., 0] * d2[..., 1] - w[..., 1] * d2[..., 0]) / cross
    return p1 + t[..., None] * d1


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def make_grid(rng, frame: Frame, town_seats: np.ndarray, town_radii: np.ndarray) -> Grid:
    """Jittered rotated road grid; lines in towns become streets (closer spacing not modelled)."""
    left, bottom, right, top = frame.bounds
    cx, cy = (left + right) / 2, (bottom + top) / 2
    half = 0.5 * math.hypot(right - left, top - bottom) + 900.0
    theta = math.radians(rng.uniform(-12.0, 12.0))
    us = _positions(rng, -half, half, 280.0, 720.0)
    vs = _positions(rng, -half, half, 280.0, 720.0)
    ucls, vcls = _line_classes(rng, us), _line_classes(rng, vs)
    uw = np.array([rng.uniform(*LINE_CODES[c][1]) for c in ucls]) / 2
    vw = np.array([rng.uniform(*LINE_CODES[c][1]) for c in vcls]) / 2
    nu, nv = len(us), len(vs)
    nodes = np.empty((nu, nv, 2))
    nodes[..., 0] = us[:, None] + np.clip(rng.normal(0, 5.0, (nu, nv)), -12, 12)
    nodes[..., 1] = vs[None, :] + np.clip(rng.normal(0, 5.0, (nu, nv)), -12, 12)
    a00, a10 = nodes[:-1, :-1], nodes[1:, :-1]
    a01, a11 = nodes[:-1, 1:], nodes[1:, 1:]
    dl, dr = _unit(a01 - a00), _unit(a11 - a10)      # left / right edges, ~ +v
    db, dt = _unit(a10 - a00), _unit(a11 - a01)      # bottom / top edges, ~ +u
    hl, hr = uw[:-1, None, None], uw[1:, None, None]
    hb, ht = vw[None, :-1, None], vw[None, 1:, None]

    def n_left(d):   # normal pointing to +u of a +v direction
        return np.stack([d[..., 1], -d[..., 0]], -1)

    def n_right(d):
        return np.stack([-d[..., 1], d[..., 0]], -1)

    pl, pr = a00 + hl * n_left(dl), a10 + hr * n_right(dr)
    pb, pt = a00 + hb * n_right(db), a01 + ht * n_left(dt)
    c00 = _intersect(pl, dl, pb, db)
    c10 = _intersect(pr, dr, pb, db)
    c11 = _intersect(pr, dr, pt, dt)
    c01 = _intersect(pl, dl, pt, dt)
    corners = np.stack([c00, c10, c11, c01], axis=2)
    cos, sin = math.cos(theta), math.sin(theta)

    def world(p):
        return np.stack(
            [cx + p[..., 0] * cos - p[..., 1] * sin, cy + p[..., 0] * sin + p[..., 1] * cos], -1
        )

    return Grid(theta, (cx, cy), world(corners), world(nodes), ucls, vcls)


def _quads(coords: np.ndarray) -> np.ndarray:
    ring = np.concatenate([coords, coords[:, :1]], axis=1)
    return shapely.polygons(ring)


def _in_box(coords: np.ndarray, bounds) -> np.ndarray:
    left, bottom, right, top = bounds
    x, y = coords[..., 0], coords[..., 1]
    return (x.max(-1) > left) & (x.min(-1) < right) & (y.max(-1) > bottom) & (y.min(-1) < top)


def grid_roads(grid: Grid, bounds, town_mask: np.ndarray):
    """Road edge polygons, junctions merged into the higher-ranked road: (geoms, codes, cells)."""
    C = grid.corners
    nu1, nv1 = C.shape[:2]
    geoms, codes = [], []
    # edges along u-lines i = 1..nu-2 between cells (i-1, j) and (i, j)
    ue = np.stack(
        [C[:-1, :, 1], C[1:, :, 0], C[1:, :, 3], C[:-1, :, 2]], axis=2
    )  # (nu1-1, nv1, 4, 2)
    ve = np.stack(
        [C[:, :-1, 3], C[:, :-1, 2], C[:, 1:, 1], C[:, 1:, 0]], axis=2
    )  # (nu1, nv1-1, 4, 2)
    jn = np.stack(
        [C[:-1, :-1, 2], C[1:, :-1, 3], C[1:, 1:, 0], C[:-1, 1:, 1]], axis=2
    )  # nodes (1.., 1..)
    urank = np.array([LINE_CODES[c][2] for c in grid.ucls])[1:-1]   # u-lines 1..nu-2
    vrank = np.array([LINE_CODES[c][2] for c in grid.vcls])[1:-1]
    ugeom = _quads(ue.reshape(-1, 4, 2)).reshape(ue.shape[:2])
    vgeom = _quads(ve.reshape(-1, 4, 2)).reshape(ve.shape[:2])
    jgeom = _quads(jn.reshape(-1, 4, 2)).reshape(jn.shape[:2])
    # junction at node (i, j) (i, j >= 1): into u-edge (i, j) [index i-1, j]
    # or v-edge (i, j) [index i, j-1]
    into_u = urank[:, None] >= vrank[None, :]
    ii, jj = np.nonzero(into_u)
    ugeom[ii, jj + 1] = shapely.union(ugeom[ii, jj + 1], jgeom[ii, jj])
    ii, jj = np.nonzero(~into_u)
    vgeom[ii + 1, jj] = shapely.union(vgeom[ii + 1, jj], jgeom[ii, jj])
    # town streets: a rural road or canal between two town blocks is a street 1004
    for g, arr, cls, axis in ((ugeom, ue, grid.ucls[1:-1], 0), (vgeom, ve, grid.vcls[1:-1], 1)):
        keep = _in_box(arr, bounds)
        for a, b in zip(*np.nonzero(keep), strict=True):
            c = cls[a] if axis == 0 else cls[b]
            code = LINE_CODES[int(c)][0]
            if axis == 0:
                townish = town_mask[a, b] and town_mask[a + 1, b]
            else:
                townish = town_mask[a, b] and town_mask[a, b + 1]
            if townish and code != "1003":
                code = "1004"
            geoms.append(g[a, b])
            codes.append(code)
    return geoms, codes


# ------------------------------------------------------------------------------------ blocks
_TOWN_MIX = (("0701", 0.46, "town"), ("05H1", 0.16, "town"), ("0601", 0.10, "factory"),
             ("08H2", 0.08, "town"), ("08H1", 0.05, "town"), ("0810", 0.08, "park"),
             ("0508", 0.07, "factory"))
_EXTRA_MIX = (("0201", 0.30, "orchard"), ("0404", 0.16, "grass"), ("0301", 0.10, "woodlot"),
              ("1202", 0.14, "greenhouse"), ("1104", 0.22, "pond"), ("1206", 0.08, "bare"))


def _pick(rng, mix):
    p = np.array([m[1] for m in mix])
    k = rng.choice(len(mix), p=p / p.sum())
    return mix[k][0], mix[k][2]


def _crop_code(rng, paddy: bool) -> str:
    r = rng.random()
    if paddy:
        return "0101" if r < 0.7 else "0103" if r < 0.9 else "0102"
    return "0103" if r < 0.58 else "0102" if r < 0.95 else "0101"


def _intervals(rng, lo, hi, wmin, wmax):
    cuts = [lo - 10.0]
    while cuts[-1] < hi:
        cuts.append(cuts[-1] + rng.uniform(wmin, wmax))
    if len(cuts) > 2 and hi - cuts[-2] < 0.4 * wmin:
        cuts.pop(-2)
    cuts[-1] = hi + 10.0
    return cuts


def subdivide_block(rng, kind: str, span_p, span_q, paddy: bool, near_water: bool):
    """Strips of one block in its local frame: list of (p0, p1, q0, q1, code, czcs, role)."""
    (plo, phi), (qlo, qhi) = span_p, span_q
    q0, q1 = qlo - 10.0, qhi + 10.0
    out = []
    if kind in ("town", "park_industry"):
        cuts = (
            _intervals(rng, plo, phi, 60.0, 220.0)
            if kind == "town"
            else _intervals(rng, plo, phi, 100.0, 250.0)
        )
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            if kind == "town":
                code, role = _pick(rng, _TOWN_MIX)
            else:
                code, role = ("0601", "factory") if rng.random() < 0.85 else ("0508", "factory")
            if rng.random() < 0.35 and qhi - qlo > 160:
                qs = qlo + (qhi - qlo) * rng.uniform(0.35, 0.65)
                code2, role2 = _pick(rng, _TOWN_MIX) if kind == "town" else (code, role)
                out += [(a, b, q0, qs, code, "202", role), (a, b, qs, q1, code2, "202", role2)]
            else:
                out.append((a, b, q0, q1, code, "202", role))
        return out
    wmin, wmax = (25.0, 70.0) if paddy else (40.0, 120.0)
    cuts = _intervals(rng, plo, phi, wmin, wmax)
    special: dict[int, tuple] = {}
    for _name, prob, lo_w, hi_w, code, czcs, role in (
        (
            "village",
            0.22 if kind == "farm" else 1.0 if kind == "village" else 0.0,
            140.0,
            300.0,
            "0702",
            "203",
            "village",
        ),
        (
            "factory",
            0.10 if kind == "farm" else 1.0 if kind == "factory" else 0.0,
            80.0,
            200.0,
            "0601",
            "203A",
            "factory",
        ),
    ):
        if rng.random() >= prob or len(cuts) < 3:
            continue
        start = int(rng.integers(0, len(cuts) - 1))
        width = rng.uniform(lo_w, hi_w)
        end = start + 1
        while end < len(cuts) - 1 and cuts[end] - cuts[start] < width:
            end += 1
        if any(k in special for k in range(start, end)):
            continue
        depth = rng.uniform(0.55, 0.9) if rng.random() < 0.5 else 1.0
        for k in range(start, end):
            special[k] = (code, czcs, role, depth, start, end)
    k = 0
    while k < len(cuts) - 1:
        a, b = cuts[k], cuts[k + 1]
        if k in special:
            code, czcs, role, depth, start, end = special[k]
            b = cuts[end]
            if depth < 1.0:
                qs = qlo + (qhi - qlo) * depth
                out += [
                    (a, b, q0, qs, code, czcs, role),
                    (a, b, qs, q1, _crop_code(rng, paddy), "", "field"),
                ]
            else:
                out.append((a, b, q0, q1, code, czcs, role))
            k = end
            continue
        code = _crop_code(rng, paddy)
        if rng.random() < (0.3 if near_water else 0.22) and qhi - qlo > 120:
            qs = qlo + (qhi - qlo) * rng.uniform(0.3, 0.7)
            code2, role2 = (
                _pick(rng, _EXTRA_MIX)
                if rng.random() < (0.75 if near_water else 0.5)
                else (_crop_code(rng, paddy), "field")
            )
            if near_water and rng.random() < 0.5:
                code2, role2 = "1104", "pond"
            out += [(a, b, q0, qs, code, "", "field"), (a, b, qs, q1, code2, "", role2)]
        else:
            out.append((a, b, q0, q1, code, "", "field"))
        if k + 2 < len(cuts) and rng.random() < 0.12:  # a ditch or field road on the next cut
            c = cuts[k + 1]
            w = rng.uniform(3.0, 5.0) / 2
            a2, b2, *rest = out[-1]
            out[-1] = (a2, c - w, *rest)
            if len(out) > 1 and out[-2][0] == a2:
                a3, b3, *rest3 = out[-2]
                out[-2] = (a3, c - w, *rest3)
            out.append(
                (c - w, c + w, q0, q1, "1107" if rng.random() < 0.7 else "1006", "", "ditch")
            )
            cuts[k + 1] = c + w
        k += 1
    return out


def slab_polygons(specs: list, axis: np.ndarray, theta: float, center) -> np.ndarray:
    """World polygons of local rectangles (p0, p1, q0, q1) along each spec's axis."""
    s = np.array([sp[:4] for sp in specs], dtype="float64").reshape(-1, 4)
    p0, p1, q0, q1 = s.T
    ax = np.asarray(axis)
    # local (u, v): along axis 0 the strip spans u in [p0, p1]; along axis 1 it spans v
    pu = np.where(ax[:, None] == 0, np.stack([p0, p1, p1, p0], 1), np.stack([q0, q1, q1, q0], 1))
    pv = np.where(ax[:, None] == 0, np.stack([q0, q0, q1, q1], 1), np.stack([p0, p0, p1, p1], 1))
    cos, sin = math.cos(theta), math.sin(theta)
    x = center[0] + pu * cos - pv * sin
    y = center[1] + pu * sin + pv * cos
    return _quads(np.stack([x, y], -1))


# ------------------------------------------------------------------------------------ hills, river
def hill_zone(rng, frame: Frame):
    """A smooth blob of hills in one corner (about 12-16 % of the county), and the corner
    (0-3: bottom-left,
    bottom-right, top-left, top-right)."""
    left, bottom, right, top = frame.bounds
    corner = int(rng.integers(4))
    cx, cy = (left, right)[corner % 2], (bottom, top)[corner // 2]
    radius = 0.42 * min(right - left, top - bottom)
    ang = np.linspace(0, 2 * np.pi, 181)[:-1]
    r = np.ones_like(ang)
    for k in (2, 3, 5, 7):
        r += rng.uniform(0.02, 0.09) * np.sin(k * ang + rng.uniform(0, 2 * np.pi))
    poly = shapely.Polygon(
        np.stack([cx + radius * r * np.cos(ang), cy + radius * r * np.sin(ang)], 1)
    )
    return shapely.intersection(poly, frame.footprint()), corner


def river(rng, frame: Frame):
    """Meandering river polygon (30-70 m wide) and its centre line, crossing the county."""
    left, bottom, right, top = frame.bounds
    w, h = right - left, top - bottom
    cx = left + w * rng.uniform(0.35, 0.65)
    cy = bottom + h * rng.uniform(0.35, 0.65)
    phi = rng.uniform(-np.pi / 3, np.pi / 3) + (np.pi / 2 if rng.random() < 0.5 else 0.0)
    d = np.array([math.cos(phi), math.sin(phi)])
    n = np.array([-d[1], d[0]])
    length = math.hypot(w, h) * 0.6 + 200
    s = np.arange(-length, length, 10.0)
    amp = min(1.0, min(w, h) / 6000.0)
    off = np.zeros_like(s)
    for _ in range(3):
        off += (
            amp
            * rng.uniform(60, 260)
            * np.sin(2 * np.pi * s / rng.uniform(900, 4200) + rng.uniform(0, 2 * np.pi))
        )
    pts = np.array([cx, cy]) + s[:, None] * d + off[:, None] * n
    line = shapely.LineString(pts)
    width = rng.uniform(30.0, 70.0)
    poly = shapely.buffer(line, width / 2, cap_style="flat", quad_segs=4)
    return shapely.intersection(poly, frame.footprint()), line


def hill_patches(rng, zone, seed: int, spacing: float = 150.0):
    """Voronoi patches of the hill zone, with codes (forest, shrub, grass, orchard, ...)."""
    area = zone.area
    n = max(8, int(area / spacing ** 2))
    minx, miny, maxx, maxy = zone.bounds
    pts = np.stack([rng.uniform(minx, maxx, 4 * n), rng.uniform(miny, maxy, 4 * n)], 1)
    pts = pts[shapely.contains_xy(zone, pts[:, 0], pts[:, 1])][:n]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=zone))
    cells = shapely.intersection(cells, zone)
    c = shapely.centroid(cells)
    nz = value_noise(shapely.get_x(c), shapely.get_y(c), seed, 700.0)
    r = rng.random(len(cells))
    code = np.where(nz > 0.42, "0301", np.where(nz > 0.3, "0305", "0404")).astype(object)
    code[(r < 0.06)] = "0201"
    code[(r > 0.97)] = "0103"
    code[(r > 0.955) & (r <= 0.97)] = "1207"
    return cells, code


# ------------------------------------------------------------------------------------ cleaning
def merge_slivers(geoms: np.ndarray, attrs: dict[str, np.ndarray]):
    """Explode multi-part pieces; merge slivers into the neighbour with the longest shared edge."""
    geoms = np.asarray(geoms, dtype=object)
    parts, idx = shapely.get_parts(geoms, return_index=True)
    parts = shapely.make_valid(parts)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    parts, idx = parts[keep], idx[keep]
    attrs = {k: np.asarray(v, dtype=object)[idx] for k, v in attrs.items()}
    area = shapely.area(parts)
    thin = area / np.maximum(shapely.length(parts), 1e-9)
    small = np.nonzero((area < _SLIVER_AREA) | (thin < _SLIVER_THICKNESS))[0]
    if len(small):
        tree = shapely.STRtree(parts)
        alive = np.ones(len(parts), dtype=bool)
        for i in small[np.argsort(area[small])]:
            cand = [j for j in tree.query(parts[i], predicate="intersects") if j != i and alive[j]]
            if not cand:
                continue
            shared = shapely.length(
                shapely.intersection(shapely.boundary(parts[i]), shapely.boundary(parts[cand]))
            )
            j = cand[int(np.argmax(shared))]
            if shared.max() <= 0:
                continue
            parts[j] = shapely.union(parts[j], parts[i])
            alive[i] = False
        parts = parts[alive]
        attrs = {k: v[alive] for k, v in attrs.items()}
        # a merge can leave a MultiPolygon when pieces only touched at a point: explode again
        parts, idx = shapely.get_parts(parts, return_index=True)
        attrs = {k: v[idx] for k, v in attrs.items()}
    return parts, attrs
