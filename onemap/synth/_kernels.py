"""Numba kernels that render the synthetic imagery, one tile at a time.

Every pixel is a pure function of its world position, the polygon and planted object that cover
it and the date's parameters; noise is hashed from the pixel's position in the county, so the
output does not depend on the tiling. Reflectances are in units of 1e-4 (GF-2 L2 ×10 000).
Bands are blue, green, red, nir.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

# render kinds of land-use polygons
K_CROP, K_ORCHARD, K_FOREST, K_SHRUB, K_GRASS = 1, 2, 3, 4, 5
K_VILLAGE, K_URBAN, K_COMMERCIAL, K_INDUSTRIAL, K_PUBLIC, K_PARK = 6, 7, 8, 9, 10, 11
K_ASPHALT, K_RURALROAD, K_RIVER, K_POND, K_DITCH, K_GREENHOUSE = 12, 13, 14, 15, 16, 17
K_BARE, K_MUD, K_PLOUGHED, K_ROCK = 18, 19, 20, 21
# materials of planted objects
M_WHITE, M_GREY, M_BLUE, M_RED, M_CONCRETE, M_ASPHALT, M_BARE, M_SHADOW = 1, 2, 3, 4, 5, 6, 7, 8

# endmember spectra (reflectance, blue green red nir)
VEG = np.array([0.030, 0.072, 0.036, 0.42])
DRY = np.array([0.060, 0.090, 0.120, 0.25])
SOIL = np.array([0.092, 0.132, 0.172, 0.232])
WATER = np.array([0.062, 0.078, 0.058, 0.028])
CONCRETE = np.array([0.165, 0.182, 0.192, 0.214])
ASPHALT = np.array([0.072, 0.078, 0.084, 0.098])
ROOF = np.array(
    [
        [0.0, 0.0, 0.0, 0.0],
        [0.420, 0.450, 0.468, 0.490],  # white (coated steel, membrane)
        [0.165, 0.176, 0.186, 0.206],  # grey concrete
        [0.168, 0.150, 0.082, 0.108],  # blue steel
        [0.070, 0.082, 0.152, 0.190],  # red brick / tile
        [0.175, 0.192, 0.202, 0.224],  # concrete (new road, yard)
        [0.072, 0.078, 0.084, 0.098],  # asphalt
        [0.105, 0.142, 0.182, 0.236],  # bare earth of a construction site
        [0.50, 0.42, 0.38, 0.34],
    ]
)  # cast shadow: factors on the ground (bluish skylight)
CLOUD = np.array([0.50, 0.515, 0.53, 0.55])


@njit(cache=True, inline="always")
def _hash(ix, iy, s):
    h = (ix * 374761393 + iy * 668265263 + s * 2246822519) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h = h ^ (h >> 16)
    return h * (1.0 / 4294967296.0)


@njit(cache=True, inline="always")
def _vnoise(x, y, s):
    fx, fy = math.floor(x), math.floor(y)
    ix, iy = np.int64(fx), np.int64(fy)
    tx, ty = x - fx, y - fy
    tx = tx * tx * (3.0 - 2.0 * tx)
    ty = ty * ty * (3.0 - 2.0 * ty)
    a = _hash(ix, iy, s)
    b = _hash(ix + 1, iy, s)
    c = _hash(ix, iy + 1, s)
    d = _hash(ix + 1, iy + 1, s)
    return (a + (b - a) * tx) * (1.0 - ty) + (c + (d - c) * tx) * ty


@njit(cache=True)
def fbm(x, y, s, octaves):
    """Fractal value noise in [0, 1)."""
    tot, amp, norm = 0.0, 1.0, 0.0
    for k in range(octaves):
        tot += amp * _vnoise(x, y, s + 101 * k)
        norm += amp
        amp *= 0.5
        x *= 2.03
        y *= 2.03
    return tot / norm


@njit(cache=True, inline="always")
def _gauss(a, b, c, s):
    # sum of four hashes ~ N(0, 1) (Irwin-Hall), cheap and deterministic per pixel
    return (
        _hash(a, b, s) + _hash(b, c, s + 1) + _hash(c, a, s + 2) + _hash(a + c, b, s + 3) - 2.0
    ) * 1.7320508


@njit(cache=True)
def _veg_mix(cover, season, soil_bright, out):
    # green vegetation (browner as the season fades) over soil
    dry = 1.0 - season
    for b in range(4):
        v = VEG[b] * (1.0 - dry) + DRY[b] * dry
        out[b] = cover * v + (1.0 - cover) * SOIL[b] * soil_bright


@njit(cache=True)
def _hillshade(x, y, seed, sun):
    e = 8.0  # forward differences of a 140 m relief
    h0 = fbm(x / 900.0, y / 900.0, seed, 3)
    hx = (fbm((x + e) / 900.0, y / 900.0, seed, 3) - h0) * 140.0 / e
    hy = (fbm(x / 900.0, (y + e) / 900.0, seed, 3) - h0) * 140.0 / e
    nx, ny, nz = -hx, -hy, 1.0
    norm = math.sqrt(nx * nx + ny * ny + 1.0)
    cosi = (nx * sun[0] + ny * sun[1] + nz * sun[2]) / norm
    return max(0.25, cosi / sun[2])


@njit(cache=True)
def _ground(kind, p, x, y, lu, lv, season, sun, seed, out):
    """Reflectance of a land-use kind at world position (x, y) (local rotated lu, lv)."""
    ps = np.int64(p[5])
    bright = p[2]
    if kind == K_CROP or kind == K_GRASS or kind == K_SHRUB:
        tex = fbm(x / 35.0, y / 35.0, ps, 3)
        fine = _vnoise(x / 5.0, y / 5.0, ps + 11)
        if kind == K_CROP:
            ca, sa = math.cos(p[3]), math.sin(p[3])
            rows = 0.5 + 0.5 * math.cos(2.0 * math.pi * (x * ca + y * sa) / p[4])
            c = p[0] * (0.8 + 0.4 * tex) * (0.9 + 0.1 * rows) + 0.06 * (fine - 0.5)
        elif kind == K_GRASS:
            c = p[0] * season * (0.7 + 0.5 * tex) + 0.08 * (fine - 0.5)
        else:
            c = p[0] * season * (0.55 + 0.7 * fbm(x / 12.0, y / 12.0, ps, 2))
        c = min(1.0, max(0.0, c))
        _veg_mix(c, season if kind != K_CROP else 1.0, bright * (0.85 + 0.3 * tex), out)
    elif kind == K_FOREST or kind == K_ORCHARD or kind == K_PARK:
        if kind == K_ORCHARD:
            gu, gv = lu / 5.0, lv / 5.0
            du, dv = gu - math.floor(gu) - 0.5, gv - math.floor(gv) - 0.5
            crown = 1.0 if du * du + dv * dv < 0.16 else 0.0
            c = (0.35 + 0.55 * crown) * p[0] * season
            shade = 0.9 + 0.15 * crown
        else:
            canopy = fbm(x / 6.0, y / 6.0, ps, 3)
            c = p[0] * season * (0.85 + 0.3 * canopy)
            shade = 0.72 + 0.5 * canopy
            if kind == K_PARK:
                clump = fbm(x / 25.0, y / 25.0, ps + 3, 2)
                c = c * (0.55 + 0.5 * clump)
        _veg_mix(min(1.0, c), season, bright, out)
        for b in range(4):
            out[b] *= shade
    elif (
        kind == K_VILLAGE
        or kind == K_URBAN
        or kind == K_COMMERCIAL
        or kind == K_INDUSTRIAL
        or kind == K_PUBLIC
    ):
        _built(kind, p, x, y, lu, lv, season, ps, out)
    elif kind == K_ASPHALT or kind == K_RURALROAD:
        t = 0.92 + 0.16 * _vnoise(x / 3.0, y / 3.0, ps)
        for b in range(4):
            out[b] = (ASPHALT[b] if kind == K_ASPHALT else CONCRETE[b] * bright) * t
    elif kind == K_RIVER or kind == K_POND or kind == K_DITCH:
        turb = fbm(x / 180.0, y / 180.0, ps, 3)
        for b in range(4):
            out[b] = WATER[b]
        if kind == K_RIVER:
            out[1] += 0.02 * turb
            out[2] += 0.03 * turb
        elif kind == K_POND:
            out[0] -= 0.02
            out[1] += 0.01 * p[7] - 0.008
            out[2] -= 0.012
            out[3] -= 0.008
        else:
            w = 0.5 + 0.4 * (_vnoise(x / 4.0, y / 4.0, ps) - 0.5)
            tmp = np.empty(4)
            _veg_mix(0.8, season, 1.0, tmp)
            for b in range(4):
                out[b] = w * out[b] + (1.0 - w) * tmp[b]
    elif kind == K_GREENHOUSE:
        f = lu / 9.0 - math.floor(lu / 9.0)
        for b in range(4):
            out[b] = ROOF[M_WHITE, b] * 0.58 * bright if f < 0.72 else SOIL[b] * 0.8
    elif kind == K_MUD:
        t = 0.8 + 0.4 * fbm(x / 8.0, y / 8.0, ps, 3)
        for b in range(4):
            out[b] = (0.72 * SOIL[b] + 0.28 * WATER[b]) * t
    elif kind == K_PLOUGHED:
        ca, sa = math.cos(p[3]), math.sin(p[3])
        lanes = 0.5 + 0.5 * math.cos(2.0 * math.pi * (x * ca + y * sa) / 12.0)
        t = (0.62 + 0.12 * lanes) * (0.85 + 0.3 * fbm(x / 20.0, y / 20.0, ps, 3)) * bright
        for b in range(4):
            out[b] = SOIL[b] * t
    elif kind == K_ROCK:
        t = 0.75 + 0.6 * fbm(x / 10.0, y / 10.0, ps, 3)
        for b in range(4):
            out[b] = (0.14, 0.16, 0.18, 0.21)[b] * t
    else:  # K_BARE and anything unknown
        t = 0.85 + 0.3 * fbm(x / 20.0, y / 20.0, ps, 3)
        for b in range(4):
            out[b] = SOIL[b] * bright * t
    if p[6] > 0.5:
        s = _hillshade(x, y, seed, sun)
        for b in range(4):
            out[b] *= s


@njit(cache=True)
def _roof(material, h, out):
    for b in range(4):
        out[b] = ROOF[material, b] * (0.88 + 0.24 * h)


@njit(cache=True)
def _built(kind, p, x, y, lu, lv, season, ps, out):
    """Procedural built-up land: house lots, apartment rows, malls, factories, schools."""
    if kind == K_VILLAGE:
        su, sv = 16.0, 20.0
    elif kind == K_URBAN:
        su, sv = 70.0, 45.0
    elif kind == K_COMMERCIAL:
        su, sv = 60.0, 50.0
    elif kind == K_INDUSTRIAL:
        su, sv = 120.0, 90.0
    else:
        su, sv = 150.0, 120.0
    gu, gv = (lu + p[3]) / su, (lv + p[4]) / sv
    cu, cv = math.floor(gu), math.floor(gv)
    fu, fv = gu - cu, gv - cv
    h = _hash(np.int64(cu), np.int64(cv), ps)
    h2 = _hash(np.int64(cu), np.int64(cv), ps + 7)
    tex = _vnoise(x / 4.0, y / 4.0, ps + 3)
    if kind == K_VILLAGE:
        if fv < 0.18:
            for b in range(4):
                out[b] = CONCRETE[b] * (0.8 + 0.3 * tex)
        elif fv > 0.55 and 0.06 < fu < 0.94:
            _roof(
                M_RED if h < 0.45 else M_GREY if h < 0.8 else M_WHITE if h < 0.9 else M_BLUE,
                h2,
                out,
            )
        elif h2 < 0.45 and (fu - 0.5) ** 2 + (fv - 0.36) ** 2 < 0.05:
            _veg_mix(0.85 * season + 0.1, season, 1.0, out)
        else:
            for b in range(4):
                out[b] = (0.6 * CONCRETE[b] + 0.4 * SOIL[b]) * (0.85 + 0.3 * tex)
    elif kind == K_URBAN:
        if 0.45 < fv < 0.72 and 0.08 < fu < 0.9:
            _roof(M_GREY if h < 0.65 else M_WHITE, h2, out)
        elif 0.72 <= fv < 0.8 and 0.08 < fu < 0.9:
            _veg_mix(0.3, season, 1.0, out)
            for b in range(4):
                out[b] *= 0.35
        elif tex > 0.45:
            _veg_mix(0.65 * season, season, 1.0, out)
        else:
            for b in range(4):
                out[b] = CONCRETE[b] * (0.85 + 0.2 * tex)
    elif kind == K_COMMERCIAL or kind == K_INDUSTRIAL:
        if 0.12 < fu < 0.8 and 0.18 < fv < 0.78:
            if kind == K_INDUSTRIAL:
                m = M_BLUE if h < 0.45 else M_WHITE if h < 0.65 else M_GREY
            else:
                m = M_GREY if h < 0.5 else M_WHITE if h < 0.85 else M_BLUE
            _roof(m, h2, out)
        else:
            bare = fbm(x / 30.0, y / 30.0, ps, 2) > 0.62
            for b in range(4):
                out[b] = (SOIL[b] if bare else CONCRETE[b] * 1.08) * (0.85 + 0.3 * tex)
    else:  # school / government: sports ground and buildings
        e = ((fu - 0.45) / 0.32) ** 2 + ((fv - 0.45) / 0.3) ** 2
        if e < 0.7:
            _veg_mix(0.75 * season, season, 1.0, out)
        elif e < 1.0:
            for b in range(4):
                out[b] = (0.11, 0.10, 0.19, 0.22)[b]
        elif fv > 0.82:
            _roof(M_GREY if h < 0.6 else M_RED, h2, out)
        else:
            for b in range(4):
                out[b] = CONCRETE[b] * (0.9 + 0.2 * tex)


@njit(cache=True, parallel=True, nogil=True)
def render_ground(
    pid, kinds, params, obj, obj_mat, obj_par, x0, y0, res, theta, season, sun, seed, out
):
    """Fill ``out`` (4, h, w) with reflectance ×1e4 for the pixels of a tile.

    pid / obj: polygon / planted-object index + 1 per pixel (0 = none); x0, y0: world position of
    the tile's top-left corner relative to the county origin (date shift included).
    """
    h, w = pid.shape
    ct, st = math.cos(theta), math.sin(theta)
    for r in prange(h):
        px = np.empty(4)
        y = y0 - (r + 0.5) * res
        for c in range(w):
            x = x0 + (c + 0.5) * res
            k = pid[r, c] - 1
            lu, lv = x * ct + y * st, -x * st + y * ct
            if k < 0:
                for b in range(4):
                    px[b] = SOIL[b]
            else:
                _ground(kinds[k], params[k], x, y, lu, lv, season, sun, seed, px)
            o = obj[r, c] - 1
            if o >= 0 and obj_mat[o] == M_SHADOW:
                for b in range(4):
                    px[b] *= ROOF[M_SHADOW, b]
            elif o >= 0:
                m = obj_mat[o]
                q = obj_par[o]
                # two roof planes either side of the ridge catch the sun differently
                side = (x - q[0]) * -math.sin(q[2]) + (y - q[1]) * math.cos(q[2])
                f = q[3] * (1.05 if side > 0 else 0.95) if m <= M_RED else q[3]
                t = 0.94 + 0.12 * _vnoise(x / 3.0, y / 3.0, np.int64(q[4]))
                for b in range(4):
                    px[b] = ROOF[m, b] * f * t
            for b in range(4):
                out[b, r, c] = px[b] * 10000.0


@njit(cache=True, nogil=True)
def disc_alpha(discs, row0, col0, soft, alpha):
    """Max over discs (row, col, radius in pixels, county coordinates) of a soft disc mask."""
    h, w = alpha.shape
    for i in range(discs.shape[0]):
        cr, cc, rad = discs[i, 0] - row0, discs[i, 1] - col0, discs[i, 2]
        r0, r1 = max(0, int(cr - rad - 1)), min(h, int(cr + rad + 2))
        c0, c1 = max(0, int(cc - rad - 1)), min(w, int(cc + rad + 2))
        for r in range(r0, r1):
            for c in range(c0, c1):
                d = math.sqrt((r + 0.5 - cr) ** 2 + (c + 0.5 - cc) ** 2)
                a = (rad - d) / soft
                if a > 0.0:
                    a = min(1.0, a)
                    a = a * a * (3.0 - 2.0 * a)
                    if a > alpha[r, c]:
                        alpha[r, c] = a


@njit(cache=True, parallel=True, nogil=True)
def finish(refl, core_r, core_c, cloud, shadow, gains, offsets, sigma, row0, col0, nodata_plane,
           noise_seed, cloud_seed, out):
    """Blur (sensor MTF), clouds, shadows, gain/offset, noise, nodata corner; uint16 into ``out``.

    ``refl`` is the tile with a one-pixel halo; ``core_r``/``core_c`` locate the core in it;
    ``row0``/``col0`` are the core's position in the county; a pixel is nodata where
    ``a*col + b*row + c > 0`` for ``nodata_plane = (a, b, c)``.
    """
    nb, H, W = refl.shape
    h, w = out.shape[1], out.shape[2]
    k = (0.14, 0.72, 0.14)
    for r in prange(h):
        for c in range(w):
            gr, gc = row0 + r, col0 + c
            if nodata_plane[0] * (gc + 0.5) + nodata_plane[1] * (gr + 0.5) + nodata_plane[2] > 0.0:
                for b in range(nb):
                    out[b, r, c] = 0
                continue
            a = cloud[r, c]
            s = shadow[r, c]
            ct = 0.0
            if a > 0.0:
                ct = 0.82 + 0.3 * fbm(gc / 40.0, gr / 40.0, cloud_seed, 4)
                a = a * min(1.0, 0.7 + 0.6 * fbm(gc / 25.0, gr / 25.0, cloud_seed + 5, 3))
            for b in range(nb):
                v = 0.0
                for i in range(3):
                    rr = min(max(core_r + r + i - 1, 0), H - 1)
                    for j in range(3):
                        cc = min(max(core_c + c + j - 1, 0), W - 1)
                        v += k[i] * k[j] * refl[b, rr, cc]
                if s > 0.0:
                    v = v * (1.0 - 0.62 * s)
                if a > 0.0:
                    v = a * CLOUD[b] * 10000.0 * ct + (1.0 - a) * v
                v = gains[b] * v + offsets[b]
                v += (sigma[b] + 0.008 * v) * _gauss(gr, gc, b, noise_seed)
                out[b, r, c] = np.uint16(min(65535.0, max(1.0, v + 0.5)))
