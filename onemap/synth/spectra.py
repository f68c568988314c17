"""Surface reflectance of the county per land-use polygon and per date.

Each DLTB polygon gets a render *kind* per date (crop, forest, village, pond, ...) and a parameter
row: vegetation cover, soil brightness, crop-row direction and period, a texture seed, a hill flag
and, for ponds, an algae tint. The dates differ by season (all vegetation browner or greener),
illumination (per-band gain and offset of the whole scene, sun position for the hill shading),
a sub-pixel misregistration of the second date, clouds, and a clipped no-data corner.
The endmember spectra and the per-pixel texture live in :mod:`onemap.synth._kernels`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import _kernels as K

__all__ = ["DateParams", "KIND_OF_CODE", "ROOF_MATERIALS", "polygon_params", "date_params"]

KIND_OF_CODE = {
    "0101": K.K_CROP,
    "0102": K.K_CROP,
    "0103": K.K_CROP,
    "0201": K.K_ORCHARD,
    "0301": K.K_FOREST,
    "0305": K.K_SHRUB,
    "0401": K.K_GRASS,
    "0403": K.K_GRASS,
    "0404": K.K_GRASS,
    "0702": K.K_VILLAGE,
    "0701": K.K_URBAN,
    "05H1": K.K_COMMERCIAL,
    "0601": K.K_INDUSTRIAL,
    "0508": K.K_INDUSTRIAL,
    "08H1": K.K_PUBLIC,
    "08H2": K.K_PUBLIC,
    "0810": K.K_PARK,
    "1003": K.K_ASPHALT,
    "1004": K.K_ASPHALT,
    "1006": K.K_RURALROAD,
    "1101": K.K_RIVER,
    "1104": K.K_POND,
    "1107": K.K_DITCH,
    "1202": K.K_GREENHOUSE,
    "1206": K.K_BARE,
    "1207": K.K_ROCK,
}
#: roof / surface material names of planted objects -> kernel material ids
ROOF_MATERIALS = {"white": K.M_WHITE, "grey_concrete": K.M_GREY, "blue_steel": K.M_BLUE,
                  "red_brick": K.M_RED, "concrete": K.M_CONCRETE, "asphalt": K.M_ASPHALT,
                  "bare_earth": K.M_BARE, "shadow": K.M_SHADOW}
N_PARAMS = 8  # cover, brightness, angle, period, seed, hill, tint (+ cover of date 2 kept apart)


@dataclass
class DateParams:
    """Acquisition parameters of one date."""

    date: str
    season: float                     # 1 = full green, lower = browner vegetation
    gains: np.ndarray                 # per band
    offsets: np.ndarray               # per band, in 1e-4 reflectance
    sigma: np.ndarray                 # noise floor per band, in 1e-4
    sun: np.ndarray  # unit vector (east, north, up)
    shift_px: tuple[float, float]  # (dx, dy): the image shows the ground shifted by this (pixels)
    nodata_plane: np.ndarray          # (a, b, c): nodata where a*col + b*row + c > 0
    noise_seed: int
    meta: dict = field(default_factory=dict)


def polygon_params(
    codes2017, roles, hill, theta: float, rng
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Render kinds and parameters of every polygon: ``(kind1, kind2, params1, params2)``."""
    n = len(codes2017)
    kind = np.array([KIND_OF_CODE.get(c, K.K_BARE) for c in codes2017], dtype=np.int8)
    p = np.zeros((n, N_PARAMS), dtype=np.float64)
    crop = kind == K.K_CROP
    cover = np.select(
        [
            crop,
            kind == K.K_FOREST,
            kind == K.K_ORCHARD,
            kind == K.K_SHRUB,
            kind == K.K_GRASS,
            kind == K.K_PARK,
        ],
        [
            rng.uniform(0.45, 0.95, n),
            rng.uniform(0.82, 0.95, n),
            rng.uniform(0.75, 0.9, n),
            rng.uniform(0.55, 0.75, n),
            rng.uniform(0.5, 0.8, n),
            rng.uniform(0.7, 0.9, n),
        ],
        0.0,
    )
    p[:, 0] = cover
    p[:, 2] = rng.uniform(0.8, 1.2, n)
    built = np.isin(kind, [K.K_VILLAGE, K.K_URBAN, K.K_COMMERCIAL, K.K_INDUSTRIAL, K.K_PUBLIC])
    p[:, 3] = np.where(
        built,
        rng.uniform(0, 150, n),
        theta + np.where(rng.random(n) < 0.5, 0, np.pi / 2) + rng.normal(0, 0.02, n),
    )
    p[:, 4] = np.where(built, rng.uniform(0, 150, n), rng.uniform(6.0, 14.0, n))
    p[:, 5] = rng.integers(1, 2 ** 30, n)
    p[:, 6] = np.asarray(hill, dtype=bool)
    p[:, 7] = rng.uniform(0, 1, n)
    p2 = p.copy()
    # the same crop grows on: date-2 cover follows date 1 with some spread
    p2[:, 0] = np.where(
        crop, np.clip(cover * rng.uniform(0.8, 1.1, n) + rng.normal(0, 0.05, n), 0.3, 0.95), cover
    )
    return kind, kind.copy(), p, p2


def date_params(rng, shape: tuple[int, int], res: float, misregistration_px: float,
                hill_corner: int = -1) -> tuple[DateParams, DateParams]:
    """Parameters of the two dates (before: late spring; after: early autumn, drier).

    The no-data corner of the second date is never the hills' corner (0-3: bottom-left,
    bottom-right, top-left, top-right), so the red line stays visible.
    """
    h, w = shape

    def sun(az_deg, el_deg):
        az, el = math.radians(az_deg), math.radians(el_deg)
        return np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)])

    d1 = DateParams(
        "2022-05-06",
        1.0,
        1.0 + rng.normal(0, 0.01, 4),
        rng.normal(0, 20, 4),
        np.array([28.0, 24.0, 22.0, 30.0]),
        sun(rng.uniform(135, 155), rng.uniform(62, 70)),
        (0.0, 0.0),
        np.array([0.0, 0.0, -1.0]),
        int(rng.integers(1, 2**30)),
    )
    common = rng.uniform(0.9, 1.1)
    gains2 = common * (1.0 + rng.normal(0, 0.04, 4))
    offsets2 = np.array(
        [rng.uniform(80, 260), rng.uniform(40, 180), rng.uniform(0, 120), rng.uniform(-120, 60)]
    )
    phi = rng.uniform(0, 2 * math.pi)
    shift = (misregistration_px * math.cos(phi), misregistration_px * math.sin(phi))
    # a clipped corner of no data (the edge of the satellite's swath)
    # corner in image order (0-3: top-left, top-right, bottom-left, bottom-right)
    hill_img = {0: 2, 1: 3, 2: 0, 3: 1}.get(hill_corner, -1)
    corner = int(rng.choice([c for c in range(4) if c != hill_img]))
    a, b = rng.uniform(0.12, 0.25) * w, rng.uniform(0.12, 0.25) * h
    sc, sr = (
        (1.0, 0.0) if corner % 2 == 0 else (-1.0, float(w)),
        (1.0, 0.0) if corner < 2 else (-1.0, float(h)),
    )
    (scol, ccol), (srow, crow) = sc, sr
    plane = np.array([-scol / a, -srow / b, 1.0 + scol * ccol / a + srow * crow / b])
    d2 = DateParams(
        "2023-09-22",
        rng.uniform(0.72, 0.86),
        gains2,
        offsets2,
        np.array([32.0, 27.0, 25.0, 34.0]),
        sun(rng.uniform(150, 170), rng.uniform(42, 50)),
        shift,
        plane,
        int(rng.integers(1, 2**30)),
        {
            "nodata_corner": ("top-left", "top-right", "bottom-left", "bottom-right")[corner],
            "nodata_legs_px": (a, b),
        },
    )
    return d1, d2


def nodata_polygon(frame, plane: np.ndarray):
    """World polygon of the pixels a nodata half-plane removes (None if it removes nothing)."""
    import shapely

    h, w = frame.shape
    if plane[0] == 0 and plane[1] == 0:
        return None
    # sample the frame's corners: the half-plane cuts a triangle off one corner
    cols = np.array([0.0, w, w, 0.0])
    rows = np.array([0.0, 0.0, h, h])
    inside = plane[0] * cols + plane[1] * rows + plane[2] > 0
    if not inside.any():
        return None
    k = int(np.argmax(inside))
    # legs along the two frame edges from corner k
    t = frame.transform
    c0, r0 = cols[k], rows[k]
    c1 = -(plane[1] * r0 + plane[2]) / plane[0]
    r1 = -(plane[0] * c0 + plane[2]) / plane[1]
    pts = [(c0, r0), (c1, r0), (c0, r1)]
    return shapely.Polygon([t @ p for p in pts])
