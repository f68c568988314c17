"""Per-pixel change kernels on plain NumPy arrays (no xarray, no I/O).

Every kernel takes scenes as ``(band, row, col)`` arrays of any numeric dtype (uint8/uint16 stay
native: values are converted to float32 per pixel, so differences of unsigned integers never wrap)
and writes into caller-provided outputs. A pixel is invalid when any band the kernel reads (the
roles the scene has, all bands for CVA) equals the date's ``nodata`` value or is NaN -- nodata in
one band marks a pixel outside the image -- and invalid pixels get NaN scores.

Band roles are passed as ``roles = [blue, green, red, nir, swir1]`` band positions, ``-1`` where
the scene lacks that band; ``gain``/``offset`` of length 5 map date 2 onto date 1 per role (the
relative radiometric normalisation, fused into the same loop).

Every kernel works on the rows ``r0:r1`` of its output and releases the GIL (``nogil``), so one
compiled kernel serves all callers: a dask block calls it for all its rows, the in-memory path runs
row strips on a thread pool (:func:`onemap._compute.run_strips`), the benchmark does the same.
Compiling one version per dtype (no separate ``parallel=True`` copy) keeps first-call
compilation short.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

F32 = np.float32
NAN = np.float32(np.nan)

# spectral index codes (see onemap.change.indices.INDICES)
NDVI, NDBI, NDWI, MNDWI, BSI, BRIGHTNESS, GLI, REDNESS = range(8)

# component order of the construction evidence (features and sigma arrays)
N_COMPONENTS = 4  # vegetation loss, brightness gain, greying, built-up (NDBI) gain

# The gates of the construction score (fuzzy: a linear ramp between the two values).
# Still vegetated after: NDVI 0.3 (sparse cover, fields after harvest) gates nothing, 0.6 (dense
# canopy, crops in season) gates all -- a pixel that is green afterwards was not built over.
VEG_GATE_LO, VEG_GATE_HI = F32(0.3), F32(0.6)
STILL_VEGETATED_NDVI = (float(VEG_GATE_LO), float(VEG_GATE_HI))
# Water at either date: min(NDWI or MNDWI, -NDVI) from 0 (the water/land boundary of both
# indices) to 0.15 (open water) -- filling or draining a pond is not construction evidence.
WATER_GATE_LO, WATER_GATE_HI = F32(0.0), F32(0.15)
WATER_INDEX = (float(WATER_GATE_LO), float(WATER_GATE_HI))


@njit(cache=True, inline="always", error_model="numpy")
def _nd(a, b):
    s = a + b
    return (a - b) / s if s != F32(0) else F32(0)


@njit(cache=True, inline="always", error_model="numpy")
def _nd_pair(a, b, c, d):
    """``(_nd(a, b), _nd(c, d))`` with one division instead of two (divisions dominate the
    per-pixel cost). The product of the two sums stays far inside float32's range for image
    values (up to ~1e9 for 16-bit data)."""
    s = a + b
    t = c + d
    s1 = s if s != F32(0) else F32(1)
    t1 = t if t != F32(0) else F32(1)
    inv = F32(1) / (s1 * t1)
    x = (a - b) * t1 * inv if s != F32(0) else F32(0)
    y = (c - d) * s1 * inv if t != F32(0) else F32(0)
    return x, y


@njit(cache=True, inline="always", error_model="numpy")
def _ramp(x, lo, hi):
    """0 below lo, 1 above hi, linear between (lo, hi are constants: the division folds)."""
    return min(max((x - lo) * (F32(1) / (hi - lo)), F32(0)), F32(1))


@njit(cache=True, inline="always", error_model="numpy")
def _bad(x, nodata):
    """*x* and *nodata* are float32: comparing in float32 keeps the loop 8 lanes wide (uint16 and
    uint8 values are exact in float32; NaN nodata never compares equal)."""
    return (x == nodata) | (x != x)


@njit(cache=True, inline="always", error_model="numpy")
def _px(row, j, nodata, g, o):
    """Pixel *j* of a band row as float32 with gain/offset applied, and whether it is nodata."""
    x = F32(row[j])
    return x * g + o, _bad(x, nodata)


def _rows(img, roles, i):
    """1-D row views of the five roles; an absent role reads band 0 (its gain/offset are 0)."""
    k0 = max(roles[0], 0)
    k1 = max(roles[1], 0)
    k2 = max(roles[2], 0)
    k3 = max(roles[3], 0)
    k4 = max(roles[4], 0)
    return img[k0, i], img[k1, i], img[k2, i], img[k3, i], img[k4, i]


_rows = njit(cache=True, inline="always", error_model="numpy")(_rows)


def _role_coefficients(roles, gain, offset):
    """Gain/offset per role as float32, zero for absent roles so they read as 0."""
    g = np.zeros(5, np.float32)
    o = np.zeros(5, np.float32)
    for r in range(5):
        if roles[r] >= 0:
            g[r] = gain[r]
            o[r] = offset[r]
    return g, o


_role_coefficients = njit(cache=True)(_role_coefficients)


@njit(cache=True, inline="always", error_model="numpy")
def _role_scalars(roles, gain, offset):
    g, o = _role_coefficients(roles, gain, offset)
    return g[0], g[1], g[2], g[3], g[4], o[0], o[1], o[2], o[3], o[4]


@njit(cache=True, inline="always", error_model="numpy")
def _index_px(code, b, g, r, n, s, has_blue, has_nir, has_swir):
    if code == NDVI:
        return _nd(n, r)
    if code == NDBI:
        return _nd(s, n)
    if code == NDWI:
        return _nd(g, n)
    if code == MNDWI:
        return _nd(g, s)
    if code == BSI:
        if has_swir:
            return _nd(s + r, n + b)
        return _nd(r, b)
    if code == BRIGHTNESS:
        return (b + g + r) / F32(3) if has_blue else (g + r) / F32(2)
    if code == GLI:
        return _nd(g + g, r + b)
    return _nd(r, b)  # REDNESS


@njit(cache=True, inline="always", error_model="numpy")
def _brightness(b, g, r, has_blue):
    return (b + g + r) / F32(3) if has_blue else (g + r) / F32(2)


def _construction_terms(b1, g1, r1, n1, s1, b2, g2, r2, n2, s2, has_blue, has_nir, has_swir):
    """The construction features of one pixel before noise scaling -- the one place they are
    computed, for the score (:func:`_construction_px`) and for the noise scales the score is
    divided by (:func:`construction_features_kernel`).

    Returns the vegetation index of both dates (NDVI with NIR, the visible green-leaf index in
    RGB), the vegetation loss, the relative brightness gain, the greying (loss of ND(red, blue),
    0 without blue) and the built-up gain (NDBI, 0 without SWIR).
    """
    if has_nir:
        v1, v2 = _nd_pair(n1, r1, n2, r2)
    else:  # visible green-leaf index (RGB degraded mode)
        v1, v2 = _nd_pair(g1 + g1, r1 + b1, g2 + g2, r2 + b2)
    db = _nd(_brightness(b2, g2, r2, has_blue), _brightness(b1, g1, r1, has_blue))
    dq = F32(0)
    if has_blue:
        q1, q2 = _nd_pair(r1, b1, r2, b2)
        dq = q1 - q2
    du = F32(0)
    if has_swir:
        u2, u1 = _nd_pair(s2, n2, s1, n1)
        du = u2 - u1
    return v1, v2, v1 - v2, db, dq, du


_construction_terms = njit(cache=True, inline="always", error_model="numpy")(_construction_terms)


def _construction_px(b1, g1, r1, n1, s1, b2, g2, r2, n2, s2, iv, ib, ig, iu, has_blue, has_nir,
                     has_swir):
    """Evidence of new construction at one pixel, in units of the scene's change noise.

    New construction replaces vegetation (or soil) by an impervious surface. With NIR (and
    blue) the evidence is the length of the change vector of the positive vegetation loss, the
    positive relative brightness gain, the colour change ND(red, blue) (either way: soil
    greying under concrete, vegetation reddening under brick) and, with SWIR, the positive NDBI
    gain (:func:`_construction_terms`) -- each divided by its noise scale (``iv ib ig iu`` are
    1 / sigma). It is then gated by what the pixel is *after*: zero where it is still vegetated
    (NDVI ramp :data:`STILL_VEGETATED_NDVI`) or water at either date (:data:`WATER_INDEX`). So
    vegetation loss alone counts whatever the brightness (dark asphalt). A soil-line gate
    (hand-set red/green and green/blue limits for harvested fields) was measured on real
    imagery (OSCD, Landsat Taizhou) and removed: it did not raise F1 there.

    Without NIR (RGB) the gates cannot be tested: the evidence is the sum of
    the green-leaf index loss, the brightness gain and the signed greying (soil redness appearing
    counts against, which also counts against red roofs).
    """
    v1, v2, dv, db, dq, du = _construction_terms(b1, g1, r1, n1, s1, b2, g2, r2, n2, s2,
                                                 has_blue, has_nir, has_swir)
    dv = dv * iv
    db = db * ib
    dq = dq * ig
    du = max(du * iu, F32(0))
    if not has_nir:
        return max(max(dv, F32(0)) + max(db, F32(0)) + dq + du, F32(0))
    dv = max(dv, F32(0))
    db = max(db, F32(0))
    e = math.sqrt(dv * dv + db * db + dq * dq + du * du)
    still_veg = _ramp(v2, VEG_GATE_LO, VEG_GATE_HI)
    # fuzzy water: NDWI (MNDWI with SWIR) > 0 and NDVI < 0 -- requiring NDVI < 0 keeps blue
    # steel roofs (NDWI > 0 but NIR-bright) out of the water class
    if has_swir:
        w1, w2 = _nd_pair(g1, s1, g2, s2)
    else:
        w1, w2 = _nd_pair(g1, n1, g2, n2)
    water = max(_ramp(min(w1, -v1), WATER_GATE_LO, WATER_GATE_HI),
                _ramp(min(w2, -v2), WATER_GATE_LO, WATER_GATE_HI))
    return e * (F32(1) - still_veg) * (F32(1) - water)


_construction_px = njit(cache=True, inline="always", error_model="numpy")(_construction_px)


# No fastmath flags (not even FMA contraction or reciprocals): a vectorised loop and its scalar
# remainder would round differently, so a pixel's score would depend on its column in the block
# -- on the tiling -- on CPUs where the two differ (seen with AVX-512: 1e-7 at the last columns).
_FAST: set[str] = set()


@njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def index_kernel(img, roles, code, nodata, r0, r1, out):
    """One spectral index per pixel (NaN where a band is nodata)."""
    h, w = out.shape
    hb, hn, hs = roles[0] >= 0, roles[3] >= 0, roles[4] >= 0
    a0, a1, a2, a3, a4, _, _, _, _, _ = _role_scalars(roles, np.ones(5), np.zeros(5))
    nd, z = F32(nodata), F32(0)
    for i in range(r0, r1):
        rb, rg, rr, rn, rs = _rows(img, roles, i)
        o = out[i]
        for j in range(w):
            b, e0 = _px(rb, j, nd, a0, z)
            g, e1 = _px(rg, j, nd, a1, z)
            r, e2 = _px(rr, j, nd, a2, z)
            n, e3 = _px(rn, j, nd, a3, z)
            sw, e4 = _px(rs, j, nd, a4, z)
            v = _index_px(code, b, g, r, n, sw, hb, hn, hs)
            o[j] = NAN if (e0 | e1 | e2 | e3 | e4) else v


@njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def linear_kernel(img, gain, offset, nodata, r0, r1, out):
    """``out[k] = gain[k] * img[k] + offset[k]`` in float32, NaN where nodata."""
    nb, h, w = img.shape
    nd = F32(nodata)
    for i in range(r0, r1):
        for k in range(nb):
            g, o = F32(gain[k]), F32(offset[k])
            src = img[k, i]
            dst = out[k, i]
            for j in range(w):
                v, bad = _px(src, j, nd, g, o)
                dst[j] = NAN if bad else v


# The pair kernels share one pattern: per row, take 1-D views of the roles of both dates, then a
# branch-free inner loop (absent roles read band 0 times 0) that LLVM turns into SIMD code. The
# coefficients are scalars: loads from arrays inside the loop could alias the output and stop
# the vectoriser.

@njit(cache=True, inline="always", error_model="numpy")
def _pair(pb, pg, pr, pn, ps, qb, qg, qr, qn, qs, j, nd1, nd2, a0, a1, a2, a3, a4,
          c0, c1, c2, c3, c4, z0, z1, z2, z3, z4):
    zero = F32(0)
    xb1, e0 = _px(pb, j, nd1, a0, zero)
    xg1, e1 = _px(pg, j, nd1, a1, zero)
    xr1, e2 = _px(pr, j, nd1, a2, zero)
    xn1, e3 = _px(pn, j, nd1, a3, zero)
    xs1, e4 = _px(ps, j, nd1, a4, zero)
    xb2, f0 = _px(qb, j, nd2, c0, z0)
    xg2, f1 = _px(qg, j, nd2, c1, z1)
    xr2, f2 = _px(qr, j, nd2, c2, z2)
    xn2, f3 = _px(qn, j, nd2, c3, z3)
    xs2, f4 = _px(qs, j, nd2, c4, z4)
    bad = e0 | e1 | e2 | e3 | e4 | f0 | f1 | f2 | f3 | f4
    return xb1, xg1, xr1, xn1, xs1, xb2, xg2, xr2, xn2, xs2, bad


@njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def construction_kernel(b1, b2, roles, gain, offset, sigma, nodata1, nodata2, r0, r1, out):
    """Fused chain per pixel: normalise date 2, indices of both dates, construction score."""
    h, w = out.shape
    hb, hn, hs = roles[0] >= 0, roles[3] >= 0, roles[4] >= 0
    iv, ib, ig, iu = (F32(1) / F32(sigma[0]), F32(1) / F32(sigma[1]), F32(1) / F32(sigma[2]),
                      F32(1) / F32(sigma[3]))
    a0, a1, a2, a3, a4, _, _, _, _, _ = _role_scalars(roles, np.ones(5), np.zeros(5))
    c0, c1, c2, c3, c4, z0, z1, z2, z3, z4 = _role_scalars(roles, gain, offset)
    nd1, nd2 = F32(nodata1), F32(nodata2)
    for i in range(r0, r1):
        pb, pg, pr, pn, ps = _rows(b1, roles, i)
        qb, qg, qr, qn, qs = _rows(b2, roles, i)
        o = out[i]
        for j in range(w):
            xb1, xg1, xr1, xn1, xs1, xb2, xg2, xr2, xn2, xs2, bad = _pair(
                pb, pg, pr, pn, ps, qb, qg, qr, qn, qs, j, nd1, nd2, a0, a1, a2, a3, a4,
                c0, c1, c2, c3, c4, z0, z1, z2, z3, z4)
            e = _construction_px(xb1, xg1, xr1, xn1, xs1, xb2, xg2, xr2, xn2, xs2,
                                 iv, ib, ig, iu, hb, hn, hs)
            o[j] = NAN if bad else e


@njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def construction_mask_kernel(b1, b2, roles, gain, offset, sigma, nodata1, nodata2, threshold, r0,
                             r1, out):
    """The whole per-pixel chain to a mask: normalise -> score -> ``score > threshold`` (uint8).

    Not used by :func:`onemap.detect_changes` (which keeps the score for the patch statistics):
    ``benchmarks/bench_pixel_chain.py`` measures it as the memory-bandwidth bound of the chain.
    """
    h, w = out.shape
    hb, hn, hs = roles[0] >= 0, roles[3] >= 0, roles[4] >= 0
    iv, ib, ig, iu = (F32(1) / F32(sigma[0]), F32(1) / F32(sigma[1]), F32(1) / F32(sigma[2]),
                      F32(1) / F32(sigma[3]))
    t = F32(threshold)
    a0, a1, a2, a3, a4, _, _, _, _, _ = _role_scalars(roles, np.ones(5), np.zeros(5))
    c0, c1, c2, c3, c4, z0, z1, z2, z3, z4 = _role_scalars(roles, gain, offset)
    nd1, nd2 = F32(nodata1), F32(nodata2)
    for i in range(r0, r1):
        pb, pg, pr, pn, ps = _rows(b1, roles, i)
        qb, qg, qr, qn, qs = _rows(b2, roles, i)
        o = out[i]
        for j in range(w):
            xb1, xg1, xr1, xn1, xs1, xb2, xg2, xr2, xn2, xs2, bad = _pair(
                pb, pg, pr, pn, ps, qb, qg, qr, qn, qs, j, nd1, nd2, a0, a1, a2, a3, a4,
                c0, c1, c2, c3, c4, z0, z1, z2, z3, z4)
            e = _construction_px(xb1, xg1, xr1, xn1, xs1, xb2, xg2, xr2, xn2, xs2,
                                 iv, ib, ig, iu, hb, hn, hs)
            o[j] = np.uint8((e > t) & ~bad)


@njit(cache=True, nogil=True, error_model="numpy")
def construction_features_kernel(b1, b2, roles, gain, offset, nodata1, nodata2, r0, r1, out):
    """The construction features before noise scaling (:func:`_construction_terms`), for
    estimating the noise scales: ``out[0]`` vegetation loss, ``out[1]`` relative brightness gain,
    ``out[2]`` greying, ``out[3]`` NDBI gain; NaN where invalid or where the scene lacks the
    bands.
    """
    _, h, w = out.shape
    hb, hn, hs = roles[0] >= 0, roles[3] >= 0, roles[4] >= 0
    a0, a1, a2, a3, a4, _, _, _, _, _ = _role_scalars(roles, np.ones(5), np.zeros(5))
    c0, c1, c2, c3, c4, z0, z1, z2, z3, z4 = _role_scalars(roles, gain, offset)
    nd1, nd2 = F32(nodata1), F32(nodata2)
    for i in range(r0, r1):
        pb, pg, pr, pn, ps = _rows(b1, roles, i)
        qb, qg, qr, qn, qs = _rows(b2, roles, i)
        for j in range(w):
            xb1, xg1, xr1, xn1, xs1, xb2, xg2, xr2, xn2, xs2, bad = _pair(
                pb, pg, pr, pn, ps, qb, qg, qr, qn, qs, j, nd1, nd2, a0, a1, a2, a3, a4,
                c0, c1, c2, c3, c4, z0, z1, z2, z3, z4)
            _, _, dv, db, dq, du = _construction_terms(xb1, xg1, xr1, xn1, xs1, xb2, xg2, xr2,
                                                       xn2, xs2, hb, hn, hs)
            out[0, i, j] = NAN if bad else dv
            out[1, i, j] = NAN if bad else db
            out[2, i, j] = NAN if (bad or not hb) else dq
            out[3, i, j] = NAN if (bad or not hs) else du


@njit(cache=True, nogil=True, error_model="numpy", fastmath=_FAST)
def index_diff_kernel(b1, b2, roles, gain, offset, code, sign, nodata1, nodata2, r0, r1, out):
    """``sign * (index(date 2) - index(date 1))`` per pixel, date 2 normalised on the fly."""
    h, w = out.shape
    hb, hn, hs = roles[0] >= 0, roles[3] >= 0, roles[4] >= 0
    sgn = F32(sign)
    a0, a1, a2, a3, a4, _, _, _, _, _ = _role_scalars(roles, np.ones(5), np.zeros(5))
    c0, c1, c2, c3, c4, z0, z1, z2, z3, z4 = _role_scalars(roles, gain, offset)
    nd1, nd2 = F32(nodata1), F32(nodata2)
    for i in range(r0, r1):
        pb, pg, pr, pn, ps = _rows(b1, roles, i)
        qb, qg, qr, qn, qs = _rows(b2, roles, i)
        o = out[i]
        for j in range(w):
            xb1, xg1, xr1, xn1, xs1, xb2, xg2, xr2, xn2, xs2, bad = _pair(
                pb, pg, pr, pn, ps, qb, qg, qr, qn, qs, j, nd1, nd2, a0, a1, a2, a3, a4,
                c0, c1, c2, c3, c4, z0, z1, z2, z3, z4)
            d = (_index_px(code, xb2, xg2, xr2, xn2, xs2, hb, hn, hs)
                 - _index_px(code, xb1, xg1, xr1, xn1, xs1, hb, hn, hs))
            o[j] = NAN if bad else sgn * d


@njit(cache=True, nogil=True, error_model="numpy")
def cva_kernel(b1, b2, gain, offset, sigma, nodata1, nodata2, r0, r1, magnitude, direction):
    """Change-vector analysis over all bands of the pair.

    ``magnitude`` is the RMS of the per-band differences in noise units (date 2 normalised);
    ``direction`` is the angle (degrees) between the change vector and the all-bands-brighter
    diagonal: 0 = uniform brightening, 180 = uniform darkening, 90 = a change of spectral shape
    with no net brightness change (spherical CVA).
    """
    nb, h, w = b1.shape
    sq = math.sqrt(nb)
    nd1, nd2 = F32(nodata1), F32(nodata2)
    for i in range(r0, r1):
        ss = np.zeros(w, np.float32)
        sm = np.zeros(w, np.float32)
        bad = np.zeros(w, np.bool_)
        for k in range(nb):
            p = b1[k, i]
            q = b2[k, i]
            g, o, s = F32(gain[k]), F32(offset[k]), F32(1) / F32(sigma[k])
            for j in range(w):
                x1, e1 = _px(p, j, nd1, F32(1), F32(0))
                x2, e2 = _px(q, j, nd2, g, o)
                bad[j] |= e1 | e2
                d = (x2 - x1) * s
                ss[j] += d * d
                sm[j] += d
        for j in range(w):
            norm = math.sqrt(ss[j])
            if bad[j]:
                magnitude[i, j] = NAN
                direction[i, j] = NAN
            else:
                magnitude[i, j] = norm / sq
                c = sm[j] / (norm * sq) if norm > 0 else 1.0
                direction[i, j] = math.degrees(math.acos(min(max(c, -1.0), 1.0)))


@njit(cache=True, nogil=True, error_model="numpy")
def box_mean_kernel(src, radius, r0, r1, out):
    """Mean over the ``(2r+1)^2`` window of the valid (non-NaN) pixels; NaN stays NaN.

    Rows ``r0:r1`` of *out*; the window is clipped at the array's edges (as NaN padding would).
    """
    h, w = src.shape
    a0, a1 = max(0, r0 - radius), min(h, r1 + radius)
    rows = np.empty((a1 - a0, w), np.float64)
    cnts = np.empty((a1 - a0, w), np.float64)
    for i in range(a0, a1):  # horizontal window sums of the rows the strip needs
        for j in range(w):
            s = 0.0
            c = 0.0
            for jj in range(max(0, j - radius), min(w, j + radius + 1)):
                v = src[i, jj]
                if v == v:
                    s += v
                    c += 1.0
            rows[i - a0, j] = s
            cnts[i - a0, j] = c
    for i in range(r0, r1):  # vertical sums of the horizontal sums
        for j in range(w):
            if src[i, j] != src[i, j]:
                out[i, j] = np.nan
                continue
            s = 0.0
            c = 0.0
            for ii in range(max(a0, i - radius), min(a1, i + radius + 1)):
                s += rows[ii - a0, j]
                c += cnts[ii - a0, j]
            out[i, j] = s / c


@njit(cache=True, nogil=True)
def from_to_kernel(c1, c2, lut1, lut2, nclass, counts):
    """Pixel counts of (class before, class after) pairs; ``lut`` maps codes to 0..n-1 (-1 skip)."""
    h, w = c1.shape
    for i in range(h):
        for j in range(w):
            a = c1[i, j]
            b = c2[i, j]
            if a < 0 or b < 0 or a >= lut1.size or b >= lut2.size:
                continue
            ia = lut1[a]
            ib = lut2[b]
            if ia >= 0 and ib >= 0:
                counts[ia, ib] += 1
