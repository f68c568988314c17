"""Render the two scenes tile by tile and stream them into GeoTIFFs.

For each tile (1024² by default, plus a one-pixel halo for the sensor blur) and each date: the
land-use polygons and planted objects that touch the tile are rasterised (polygon index per
pixel, at pixel centres; the second date's grid is shifted by the misregistration, so the scene is
rendered shifted, never resampled), the kernels fill in reflectance, blur, clouds and shadows,
illumination, noise and the no-data corner, and the tile is written into its window.

Memory bound: per tile ``(tile+2)² × (4 bands × 4 B float + 2 × 4 B labels) + tile² × 4 × 2 B``
≈ 34 MB at 1024², independent of the county size; the vector layers (≈ 70 000 polygons for a
20 000² county) add a few hundred MB at most.
"""

from __future__ import annotations

import math
import threading
from queue import Queue

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.features import rasterize
from rasterio.windows import Window

from . import _kernels as K
from .writers import gtiff_profile, gtiff_target

__all__ = ["render_scenes", "BANDS"]

BANDS = ("blue", "green", "red", "nir")
_CLOUD_SOFT, _SHADOW_SOFT = 8.0, 5.0


def _object_arrays(objs, left, top, seed):
    """Objects of one date as geoms, material ids, params (cx, cy, ridge angle, gain, seed)."""
    if not objs:
        return np.empty(0, dtype=object), np.zeros(0, np.int8), np.zeros((0, 5))
    geoms = np.array([o[0] for o in objs], dtype=object)
    mats = np.array([o[1] for o in objs], dtype=np.int8)
    par = np.zeros((len(objs), 5))
    env = shapely.oriented_envelope(geoms)
    for k, (g, e) in enumerate(zip(geoms, env, strict=True)):
        xy = np.asarray(e.exterior.coords)
        d1, d2 = xy[1] - xy[0], xy[2] - xy[1]
        d = d1 if np.hypot(*d1) >= np.hypot(*d2) else d2
        c = g.centroid
        par[k] = (c.x - left, c.y - top, math.atan2(d[1], d[0]), objs[k][2], seed + 7919 * k)
    return geoms, mats, par


def _labels(tree, geoms, base, out_shape, transform):
    """Index + 1 of the geometry covering each pixel centre (0 where none)."""
    idx = tree.query(shapely.box(*base)) if len(geoms) else []
    if len(idx) == 0:
        return np.zeros(out_shape, dtype=np.int32)
    idx = np.sort(idx)
    return rasterize(
        ((geoms[i], int(i) + 1) for i in idx),
        out_shape=out_shape,
        transform=transform,
        fill=0,
        dtype="int32",
    )


def render_scenes(frame, paths, dltb_geoms, kinds, params, objects, discs, dates, theta: float,
                  seed: int, tile: int = 1024, compress: str = "deflate") -> None:
    """Write the before/after GeoTIFFs (see the module docstring)."""
    left, bottom, right, top = frame.bounds
    tree = shapely.STRtree(dltb_geoms)
    # shadows first: a footprint drawn later wins where a neighbour's shadow would reach it
    objs = {
        d: _object_arrays(sorted(objects[d], key=lambda o: o[1] != K.M_SHADOW), left, top, seed + d)
        for d in (1, 2)
    }
    otree = {d: shapely.STRtree(objs[d][0]) if len(objs[d][0]) else None for d in (1, 2)}
    no_discs = np.zeros((0, 3))
    cloud = discs[discs[:, 2] > 0] if discs is not None and len(discs) else no_discs
    shade = np.abs(discs[discs[:, 2] < 0]) if discs is not None and len(discs) else no_discs
    profile = gtiff_profile(frame, compress)
    with gtiff_target(paths[0]) as t1, gtiff_target(paths[1]) as t2:
        with rasterio.open(t1, "w", **profile) as dst1, rasterio.open(t2, "w", **profile) as dst2:
            for dst, dp in ((dst1, dates[0]), (dst2, dates[1])):
                dst.descriptions = BANDS
                dst.update_tags(
                    ACQUISITION_DATE=dp.date,
                    SENSOR="GF-2 PMS (synthetic)",
                    SCALE_FACTOR="0.0001",
                    PRODUCT="surface reflectance x 10000",
                    SOURCE="onemap.synth.make_county",
                )
            # one writer thread compresses and writes tile k while the kernels render tile k+1
            # (GDAL and the kernels release the GIL); writes stay in order: deterministic files
            queue: Queue = Queue(maxsize=2)
            errors: list[BaseException] = []
            writer = threading.Thread(target=_writer, args=(queue, errors), daemon=True)
            writer.start()
            try:
                for t in frame.tiles(tile, halo=1):
                    if errors:
                        break
                    for d, dst, dp in ((1, dst1, dates[0]), (2, dst2, dates[1])):
                        out, window = _render_tile(
                            t,
                            frame,
                            d,
                            dp,
                            tree,
                            dltb_geoms,
                            objs[d],
                            otree[d],
                            kinds[d - 1],
                            params[d - 1],
                            cloud,
                            shade,
                            theta,
                            seed,
                        )
                        queue.put((dst, out, window))
            finally:
                queue.put(None)
                writer.join()
            if errors:
                raise errors[0]


def _writer(queue: Queue, errors: list) -> None:
    while True:
        item = queue.get()
        if item is None:
            return
        dst, out, window = item
        try:
            if not errors:
                dst.write(out, window=window)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the rendering thread
            errors.append(exc)


def _render_tile(
    t, frame, d, dp, tree, dltb_geoms, objs, otree, kinds, params, cloud, shade, theta, seed
):
    """One date of one tile: labels, reflectance, finishing; returns (uint16 array, window)."""
    left, top = frame.bounds[0], frame.bounds[3]
    res = frame.res[0]
    rows, cols = t.window
    core_r, core_c = t.core[0].start, t.core[1].start
    h, w = t.frame.shape
    row0, col0 = rows.start + core_r, cols.start + core_c
    dx, dy = dp.shift_px
    hf = t.halo_frame
    transform = hf.transform @ Affine.translation(dx, dy)  # the ground seen by this date's pixels
    hb = hf.bounds
    base = (hb[0] + dx * res, hb[1] - dy * res, hb[2] + dx * res, hb[3] - dy * res)
    pid = _labels(tree, dltb_geoms, base, hf.shape, transform)
    og, om, op = objs
    obj = (
        _labels(otree, og, base, hf.shape, transform)
        if otree is not None
        else np.zeros(hf.shape, np.int32)
    )
    refl = np.empty((4,) + hf.shape, dtype=np.float32)
    K.render_ground(
        pid,
        kinds,
        params,
        obj,
        om,
        op,
        transform.c - left,
        transform.f - top,
        res,
        theta,
        dp.season,
        dp.sun,
        seed,
        refl,
    )
    alpha_c = np.zeros((h, w), np.float32)
    alpha_s = np.zeros((h, w), np.float32)
    if d == 2:
        K.disc_alpha(cloud, row0, col0, _CLOUD_SOFT, alpha_c)
        K.disc_alpha(shade, row0, col0, _SHADOW_SOFT, alpha_s)
    out = np.empty((4, h, w), dtype=np.uint16)
    K.finish(refl, core_r, core_c, alpha_c, alpha_s, dp.gains, dp.offsets, dp.sigma, row0, col0,
             dp.nodata_plane, dp.noise_seed, seed + 17, out)
    return out, Window(col0, row0, w, h)
