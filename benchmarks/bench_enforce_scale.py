"""Enforcement at scale: flag_unapproved on a county-sized land-use layer, whole vs partitioned.

Synthetic county in CGCS2000 / 3-degree GK zone 39 with zone-prefixed eastings (EPSG:4527):

* land use: a jittered grid of quadrilaterals (``--landuse`` polygons, default 10⁶ on a
  1 000 × 1 000 grid of ~50 m cells, nodes shared so the layer tiles the county without gaps)
  with random valid 三调 codes (drawn from :mod:`onemap.codes`, weighted like a farming county);
* ``--patches`` change patches (default 10⁴): rotated rectangles of 15–120 m;
* ``--approvals`` approvals (default 3 000): half drawn around patches (covering them fully or in
  part), half elsewhere;
* 2 000 farmland polygons, 200 red-line polygons, 4 × 4 admin towns.

Variants, each in its own subprocess so peak RSS is per variant (and only one memory-heavy
variant runs at a time):

* ``whole``: ``flag_unapproved(...)`` in one call (``partition_size=None``);
* ``threaded``: ``flag_unapproved(..., partition_size=N)`` on dask's threaded scheduler;
* ``cluster``: the same on a ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``
  (RSS: the client process plus the peak of each worker);
* ``gpd_overlay``: the peer pipeline an analyst writes, ``geopandas.overlay(patches, landuse,
  how="intersection")`` and an area sum per patch and code (it answers only the land-use part of
  the question: no construction/approval logic, plane area).

Before timing, a check run asserts that the partitioned result equals the whole one (a smaller
county, several partition sizes). Usage::

    python benchmarks/bench_enforce_scale.py                 # 10⁶ land-use polygons, 10⁴ patches
    python benchmarks/bench_enforce_scale.py --quick         # 10⁵ / 2 000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

import geopandas as gpd
import numpy as np
import shapely

CRS = 4527
X0, Y0 = 39_475_000.0, 3_300_000.0
# 三调 codes of a farming county, roughly weighted by how often they occur in DLTB layers
CODE_WEIGHTS = {"0101": 10, "0102": 6, "0103": 14, "0201": 3, "0301": 10, "0305": 3, "0307": 2, "0401": 1,
                "0404": 2, "0601": 1, "0602": 1, "0701": 2, "0702": 8, "1003": 1, "1004": 1, "1006": 3,
                "1101": 2, "1104": 2, "1107": 3, "1202": 1, "1206": 1, "0201K": 1}


def _quads(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray, angle: np.ndarray) -> np.ndarray:
    corners = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5]])
    dx = corners[None, :, 0] * w[:, None]
    dy = corners[None, :, 1] * h[:, None]
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    xy = np.stack([cx[:, None] + c * dx - s * dy, cy[:, None] + s * dx + c * dy], axis=-1)
    return shapely.polygons(xy)


def make_county(n_landuse: int = 1_000_000, n_patches: int = 10_000, n_approvals: int = 3_000,
                seed: int = 0) -> dict[str, gpd.GeoDataFrame]:
    """Synthetic layers for :func:`onemap.flag_unapproved` (deterministic for a seed)."""
    from onemap import codes

    rng = np.random.default_rng(seed)
    side = int(round(np.sqrt(n_landuse)))
    cell = 50.0
    extent = side * cell
    # jittered grid nodes shared by neighbouring cells: a gap-free coverage of valid quadrilaterals
    gx, gy = np.meshgrid(np.arange(side + 1) * cell, np.arange(side + 1) * cell)
    jit = rng.uniform(-0.3 * cell, 0.3 * cell, (2, side + 1, side + 1))
    jit[:, :, [0, -1]] = 0.0
    jit[:, [0, -1], :] = 0.0
    nx, ny = X0 + gx + jit[0], Y0 + gy + jit[1]
    ring = [(0, 0), (0, 1), (1, 1), (1, 0), (0, 0)]  # (row, col) offsets, counter-clockwise
    xs = np.stack([nx[r:r + side, c:c + side] for r, c in ring], axis=-1).reshape(-1, 5)
    ys = np.stack([ny[r:r + side, c:c + side] for r, c in ring], axis=-1).reshape(-1, 5)
    lu_geoms = shapely.polygons(np.stack([xs, ys], axis=-1))
    names = list(CODE_WEIGHTS)
    assert all(codes.group(c) != "unknown" for c in names)
    p = np.array(list(CODE_WEIGHTS.values()), float)
    lu_codes = np.array(names, dtype=object)[rng.choice(len(names), size=len(lu_geoms), p=p / p.sum())]
    landuse = gpd.GeoDataFrame({"landuse_code": lu_codes, "BSM": np.arange(len(lu_geoms))},
                               geometry=lu_geoms, crs=CRS)

    def spots(n: int, lo: float, hi: float) -> tuple:
        return (X0 + rng.uniform(0.02, 0.98, n) * extent, Y0 + rng.uniform(0.02, 0.98, n) * extent,
                rng.uniform(lo, hi, n), rng.uniform(lo, hi, n), rng.uniform(0, np.pi / 2, n))

    cx, cy, w, h, a = spots(n_patches, 15, 120)
    patches = gpd.GeoDataFrame({"score": rng.uniform(0, 1, n_patches)},
                               geometry=_quads(cx, cy, w, h, a), crs=CRS)
    k = n_approvals // 2
    pick = rng.choice(n_patches, size=min(k, n_patches), replace=False)
    grow = rng.uniform(0.6, 1.4, len(pick))  # < 1: the patch sticks out of its approval
    near = _quads(cx[pick] + rng.normal(0, 5, len(pick)), cy[pick] + rng.normal(0, 5, len(pick)),
                  w[pick] * grow, h[pick] * grow, a[pick])
    far = _quads(*spots(n_approvals - len(pick), 30, 300))
    approvals = gpd.GeoDataFrame({"approval_id": [f"PZ{i:05d}" for i in range(n_approvals)]},
                                 geometry=np.concatenate([near, far]), crs=CRS)
    farmland = gpd.GeoDataFrame(geometry=_quads(*spots(2_000, 100, 800)), crs=CRS)
    redline = gpd.GeoDataFrame(geometry=_quads(*spots(200, 200, 1_500)), crs=CRS)
    towns = 4
    t = extent / towns
    admin = gpd.GeoDataFrame(
        {"admin_code": [f"3201{i:02d}" for i in range(towns * towns)],
         "admin_name": [f"镇{i}" for i in range(towns * towns)]},
        geometry=[shapely.box(X0 + i * t, Y0 + j * t, X0 + (i + 1) * t, Y0 + (j + 1) * t)
                  for j in range(towns) for i in range(towns)], crs=CRS)
    return dict(patches=patches, approvals=approvals, landuse=landuse, farmland=farmland, redline=redline,
                admin=admin)
