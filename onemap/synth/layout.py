"""Assembly of the county's land-use partition from the pieces in :mod:`onemap.synth.landscape`.

Township seats (the county seat near the middle), the hills in one corner, the river, the road
grid and its blocks (town, industrial park, farm, village, factory), then the hills and the river
cut into the grid, and slivers are merged away.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from ..frame import Frame
from .landscape import (
    Grid,
    Pieces,
    _in_box,
    _quads,
    grid_roads,
    hill_patches,
    hill_zone,
    make_grid,
    merge_slivers,
    river,
    slab_polygons,
    subdivide_block,
)

__all__ = ["Layout", "build_layout"]

@dataclass
class Layout:
    """Everything the later steps need to know about the landscape's construction."""

    pieces: Pieces
    grid: Grid
    cell_quads: np.ndarray     # node-to-node quadrilaterals of the grid cells that touch the county
    hills: object              # hill-zone polygon
    hill_corner: int           # 0-3: bottom-left, bottom-right, top-left, top-right
    river_line: object
    seats: np.ndarray          # (n_townships, 2); seat 0 is the county seat
    seat_radii: np.ndarray


def _seats(rng, frame: Frame, hills, n: int) -> np.ndarray:
    left, bottom, right, top = frame.bounds
    w, h = right - left, top - bottom
    mind = 0.55 * math.sqrt(w * h / n)
    pts: list[tuple[float, float]] = []
    for attempt in range(4000):
        if not pts:
            p = (left + w * rng.uniform(0.4, 0.6), bottom + h * rng.uniform(0.4, 0.6))
        else:
            p = (left + w * rng.uniform(0.05, 0.95), bottom + h * rng.uniform(0.05, 0.95))
        if shapely.contains_xy(hills, *p) and attempt < 3000:
            continue
        if pts and min(math.hypot(p[0] - q[0], p[1] - q[1]) for q in pts) < mind * (
            1 - attempt / 4000
        ):
            continue
        pts.append(p)
        if len(pts) == n:
            break
    return np.array(pts)


def build_layout(rng, frame: Frame, paddy: bool, seed: int, needs: dict[str, int]) -> Layout:
    """Build the partition of the county (see the module docstring)."""
    left, bottom, right, top = frame.bounds
    area_km2 = (right - left) * (top - bottom) / 1e6
    hills, hill_corner = hill_zone(rng, frame)
    river_poly, river_line = river(rng, frame)
    n_town = int(np.clip(round(area_km2 / 60.0), 3, 30))
    seats = _seats(rng, frame, hills, n_town)
    short = min(right - left, top - bottom)
    radii = np.full(len(seats), float(np.clip(0.05 * short, 120.0, 500.0)))
    radii[0] = float(np.clip(0.15 * short, 200.0, 1800.0))
    grid = make_grid(rng, frame, seats, radii)
    C = grid.corners
    inbox = _in_box(C, frame.bounds)
    inside_hills = np.all(shapely.contains_xy(hills, C[..., 0], C[..., 1]), axis=-1)
    centers = C.mean(axis=2)
    dist = np.hypot(centers[..., None, 0] - seats[:, 0], centers[..., None, 1] - seats[:, 1])
    # small samples keep most of their land rural: only the county seat is a town there
    n_towns = len(seats) if area_km2 > 24 else 1
    town_mask = (dist[..., :n_towns] < radii[:n_towns]).any(-1)
    for s in seats[:n_towns]:  # the cell holding a seat is always town
        d = np.hypot(centers[..., 0] - s[0], centers[..., 1] - s[1])
        town_mask[np.unravel_index(np.argmin(d), d.shape)] = True
    d0 = dist[..., 0]
    park_dir = rng.uniform(0, 2 * np.pi)
    ang = np.arctan2(centers[..., 1] - seats[0, 1], centers[..., 0] - seats[0, 0])
    park = (~town_mask) & (d0 < radii[0] + 900.0) & (np.cos(ang - park_dir) > 0.75) & (area_km2 > 8)
    cells = np.argwhere(inbox & ~inside_hills)
    kinds = np.array(["town" if town_mask[i, j] else "park_industry" if park[i, j] else "farm"
                      for i, j in cells], dtype=object)
    farm = np.nonzero(kinds == "farm")[0]
    forced = rng.permutation(farm)
    # villages and factories happen at random (22 % and 10 % of farm blocks); force only the deficit
    nv = max(0, needs.get("village", 2) - int(0.22 * len(farm)))
    nf = max(0, needs.get("factory", 2) - int(0.10 * len(farm)))
    kinds[forced[:nv]] = "village"
    kinds[forced[nv:nv + nf]] = "factory"
    river_dist = shapely.distance(river_line, shapely.points(centers[cells[:, 0], cells[:, 1]]))
    cos, sin = math.cos(grid.theta), math.sin(grid.theta)
    specs, axes, owner = [], [], []
    for k, (i, j) in enumerate(cells):
        q = C[i, j] - np.array(grid.center)
        lu, lv = q[:, 0] * cos + q[:, 1] * sin, -q[:, 0] * sin + q[:, 1] * cos
        su, sv = (lu.min(), lu.max()), (lv.min(), lv.max())
        axis = 0 if su[1] - su[0] >= sv[1] - sv[0] else 1
        sp = subdivide_block(rng, kinds[k], su if axis == 0 else sv, sv if axis == 0 else su,
                             paddy, river_dist[k] < 600.0)
        specs += sp
        axes += [axis] * len(sp)
        owner += [k] * len(sp)
    _ensure(rng, specs, needs)
    blocks = _quads(C[cells[:, 0], cells[:, 1]])
    geoms = shapely.intersection(slab_polygons(specs, np.array(axes), grid.theta, grid.center),
                                 blocks[np.array(owner)])
    # lists while pieces are collected, object arrays from the river cut on
    code: Any = [s[4] for s in specs]
    czcs: Any = [s[5] for s in specs]
    role: Any = [s[6] for s in specs]
    rg, rc = grid_roads(grid, frame.bounds, town_mask)
    geoms = np.concatenate([geoms, np.array(rg, dtype=object)])
    code += rc
    czcs += ["202" if c == "1004" else "" for c in rc]
    role += ["road" if c != "1107" else "canal" for c in rc]
    hill: Any = [False] * len(geoms)
    geoms = shapely.clip_by_rect(geoms, left, bottom, right, top)
    # hills replace the grid in their zone
    hit = shapely.intersects(geoms, hills)
    geoms[hit] = shapely.difference(geoms[hit], hills)
    hcells, hcodes = hill_patches(rng, hills, seed)
    geoms = np.concatenate([geoms, hcells])
    code += list(hcodes)
    czcs += [""] * len(hcells)
    role += ["hill"] * len(hcells)
    hill += [True] * len(hcells)
    code, czcs, role, hill = (np.array(a, dtype=object) for a in (code, czcs, role, hill))
    # the river cuts everything but county roads (bridges)
    hit = shapely.intersects(geoms, river_poly)
    bridge = hit & (code == "1003")
    cut = hit & ~bridge
    geoms[cut] = shapely.difference(geoms[cut], river_poly)
    rpoly = (
        shapely.difference(river_poly, shapely.union_all(geoms[bridge]))
        if bridge.any()
        else river_poly
    )
    rparts = shapely.get_parts(rpoly)
    geoms = np.concatenate([geoms, rparts])
    n = len(rparts)
    code = np.concatenate([code, np.array(["1101"] * n, dtype=object)])
    czcs = np.concatenate([czcs, np.array([""] * n, dtype=object)])
    role = np.concatenate([role, np.array(["river"] * n, dtype=object)])
    hill = np.concatenate([hill, shapely.intersects(rparts, hills).astype(object)])
    geoms, attrs = merge_slivers(geoms, {"code": code, "czcs": czcs, "role": role, "hill": hill})
    pieces = Pieces(
        geoms,
        attrs["code"].astype(str),
        attrs["czcs"].astype(str),
        attrs["role"].astype(str),
        attrs["hill"].astype(bool),
    )
    N = grid.nodes
    quads = np.stack([N[:-1, :-1], N[1:, :-1], N[1:, 1:], N[:-1, 1:]], axis=2)
    ii, jj = np.nonzero(_in_box(quads, frame.bounds))
    cq = _quads(quads[ii, jj])
    return Layout(pieces, grid, cq, hills, hill_corner, river_line, seats, radii)


def _ensure(rng, specs: list, needs: dict[str, int]) -> None:
    """Turn field segments into ponds / other farm land until the planted cases have enough."""
    for role, codes, need in (("pond", ("1104",), needs.get("pond", 0)),
                              ("other", ("0201", "0404", "0301"), needs.get("other", 0))):
        roles = ("pond",) if role == "pond" else ("orchard", "grass", "woodlot")
        have = sum(1 for s in specs if s[6] in roles)
        cand = [
            k
            for k, s in enumerate(specs)
            if s[6] == "field" and s[3] - s[2] < 400 and s[1] - s[0] > 35
        ]
        for k in rng.permutation(cand)[:max(0, need - have)]:
            s = specs[k]
            specs[k] = (
                *s[:4],
                codes[int(rng.integers(len(codes)))],
                "",
                roles[0] if role == "pond" else "orchard",
            )
