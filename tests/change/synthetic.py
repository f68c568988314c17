"""A synthetic two-date 4-band scene with planted new buildings and distractors.

Reflectance spectra (blue, green, red, nir, swir1) of typical surfaces, rendered as GF-2-like
uint16 (reflectance x 10000) on a 2 m CGCS2000 Gauss-Kruger frame, with per-pixel texture and
sensor noise. Date 2 differs from date 1 by:

* new buildings on vegetated land (truth): a concrete roof, a blue steel roof, a light grey roof
  and a concrete yard;
* distractors that are not construction: an illumination shift (per-band gain and offset),
  seasonal senescence of a crop field (NDVI 0.8 -> 0.55), a lake rising over its vegetated west
  shore and falling on its east shore (wet mud exposed).
"""

from __future__ import annotations

import numpy as np
import shapely
import xarray as xr

from onemap import Frame

BANDS = ("blue", "green", "red", "nir", "swir1")
SPECTRA = {
    "veg": (0.030, 0.070, 0.040, 0.400, 0.180),
    "crop": (0.035, 0.080, 0.045, 0.380, 0.200),
    "senescent": (0.050, 0.080, 0.080, 0.280, 0.250),
    "soil": (0.080, 0.120, 0.170, 0.230, 0.300),
    "concrete": (0.200, 0.220, 0.230, 0.260, 0.280),
    "blueroof": (0.250, 0.220, 0.150, 0.180, 0.220),
    "greyroof": (0.140, 0.150, 0.155, 0.175, 0.200),
    "water": (0.060, 0.050, 0.030, 0.020, 0.010),
    "mud": (0.060, 0.070, 0.080, 0.100, 0.120),
}
SHAPE = (240, 240)
RES = 2.0
# (row0, row1, col0, col1, material) of the planted buildings, all on vegetated land
BUILDINGS = [
    (40, 58, 120, 150, "concrete"),
    (150, 165, 100, 125, "blueroof"),
    (30, 50, 190, 215, "greyroof"),
    (100, 112, 150, 172, "concrete"),
]


def frame() -> Frame:
    return Frame.from_bounds((39_500_000, 3_300_000, 39_500_000 + SHAPE[1] * RES, 3_300_000 + SHAPE[0] * RES),
                             res=RES, crs=4527)


def _cover() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    h, w = SHAPE
    yy, xx = np.mgrid[:h, :w]
    c1 = np.full(SHAPE, "veg", dtype=object)
    c1[:, : w // 4] = "crop"
    c1[190:230, 10:50] = "soil"
    c1[5:25, 5:45] = "concrete"  # an existing built-up block: no change
    lake = ((yy - 195) / 28.0) ** 2 + ((xx - 190) / 36.0) ** 2 < 1
    c1[lake] = "water"
    c2 = c1.copy()
    truth = np.zeros(SHAPE, bool)
    for r0, r1, q0, q1, mat in BUILDINGS:
        c2[r0:r1, q0:q1] = mat
        truth[r0:r1, q0:q1] = True
    seasonal = (xx < w // 4) & (yy < 120)
    c2[seasonal] = "senescent"
    high = ((yy - 195) / 34.0) ** 2 + ((xx - 184) / 44.0) ** 2 < 1
    low = ((yy - 195) / 22.0) ** 2 + ((xx - 196) / 28.0) ** 2 < 1
    flooded = high & ~lake & (xx < 190)
    exposed = lake & ~low & (xx >= 190)
    c2[flooded] = "water"
    c2[exposed] = "mud"
    return c1, c2, {"truth": truth, "seasonal": seasonal, "flooded": flooded, "exposed": exposed}


def _render(cover: np.ndarray, rng: np.random.Generator, gain: np.ndarray, offset: np.ndarray,
            nbands: int) -> np.ndarray:
    img = np.zeros((nbands,) + SHAPE, np.float64)
    for name, spec in SPECTRA.items():
        sel = cover == name
        for k in range(nbands):
            img[k][sel] = spec[k]
    texture = 1.0 + 0.06 * rng.standard_normal(SHAPE)
    img = img * texture + 0.004 * rng.standard_normal(img.shape)
    img = img * gain[:nbands, None, None] + offset[:nbands, None, None]
    return np.clip(np.round(img * 10000), 1, 65535).astype(np.uint16)


def scene_pair(bands: tuple[str, ...] = BANDS[:4], seed: int = 0) -> tuple[xr.DataArray, xr.DataArray, dict]:
    """``before, after, regions``: uint16 scenes (nodata 0) and boolean masks of the truth and
    of each distractor region."""
    rng = np.random.default_rng(seed)
    c1, c2, regions = _cover()
    f = frame()
    out = []
    for cover, gain, offset, date in (
        (c1, np.ones(5), np.zeros(5), "2021-04-20"),
        (c2, np.array([1.30, 1.25, 1.20, 1.12, 1.08]), np.array([0.020, 0.015, 0.010, 0.000, 0.000]), "2022-04-25"),
    ):
        img = _render(cover, rng, gain, offset, 5)
        pick = [BANDS.index(b) for b in bands]
        da = xr.DataArray(img[pick], dims=("band", "y", "x"), coords={"band": list(bands), **f.coords()},
                          attrs={"date": date, "sensor": "gf2" if len(bands) == 4 else None, "nodata": 0})
        out.append(da.rio.write_crs(f.crs).rio.write_transform(f.transform))
    return out[0], out[1], regions


def building_polygons() -> list:
    """Exact outlines of the planted buildings in the frame's CRS."""
    t = frame().transform
    return [shapely.box(t.c + q0 * RES, t.f - r1 * RES, t.c + q1 * RES, t.f - r0 * RES)
            for r0, r1, q0, q1, _ in BUILDINGS]


def region_polygon(mask: np.ndarray):
    """Union of the pixels of a boolean region (exact)."""
    from rasterio import features

    geoms = [shapely.geometry.shape(g) for g, v in features.shapes(mask.astype(np.uint8), mask=mask,
                                                                 transform=frame().transform)]
    return shapely.union_all(geoms)


def iou(a, b) -> float:
    return a.intersection(b).area / a.union(b).area
