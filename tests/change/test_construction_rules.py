"""Physical rules of the construction score, one planted block per rule, under an illumination
change (per-band gain and offset on date 2) that the score must see through.

Spectra (blue, green, red, nir, swir1) are typical published values, independent of the
synthetic county's endmembers: vegetation -> fresh asphalt (darker in every band), red clay tile (red/green ~2.5) and
concrete are construction; crop -> another crop is not. Vegetation -> bare soil (harvest) is
*not* tested as "no construction": the soil-line gate that did that was removed because it did
not pay on real imagery (``benchmarks/README.md``, "Change detection on real data").
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from onemap import change_score, threshold_score

from . import synthetic as S

SPECTRA = {
    "crop": (0.035, 0.080, 0.045, 0.380, 0.200),
    "crop2": (0.045, 0.095, 0.060, 0.330, 0.190),     # another crop, still green
    "veg": (0.030, 0.070, 0.040, 0.400, 0.180),
    "soil": (0.080, 0.120, 0.160, 0.230, 0.300),      # brown loam: the harvested field
    "sand_soil": (0.140, 0.190, 0.240, 0.290, 0.380),  # brighter yellowish soil, ploughed
    "asphalt": (0.045, 0.048, 0.050, 0.058, 0.070),   # fresh asphalt: darker than the crop
    "red_tile": (0.070, 0.100, 0.250, 0.330, 0.400),
    "concrete": (0.200, 0.220, 0.230, 0.260, 0.280),
}
SHAPE = (160, 160)
# (row0, row1, col0, col1, after material): every block is a crop field on date 1
BLOCKS = {
    "asphalt": (20, 34, 20, 60),
    "red_tile": (60, 76, 20, 44),
    "concrete": (100, 116, 20, 44),
    "soil": (20, 50, 90, 130),
    "sand_soil": (70, 100, 90, 130),
    "crop2": (115, 145, 90, 130),
}


def _pair(bands: tuple[str, ...], seed: int = 3) -> tuple[xr.DataArray, xr.DataArray]:
    rng = np.random.default_rng(seed)
    c1 = np.full(SHAPE, "veg", dtype=object)
    c1[:, :80] = "crop"
    c1[:, 80:140] = "crop"
    c2 = c1.copy()
    for name, (r0, r1, q0, q1) in BLOCKS.items():
        c2[r0:r1, q0:q1] = name
    f = S.frame()
    f = type(f).from_bounds((f.bounds[0], f.bounds[1], f.bounds[0] + SHAPE[1] * S.RES, f.bounds[1] + SHAPE[0] * S.RES),
                            res=S.RES, crs=f.crs)
    pick = [S.BANDS.index(b) for b in bands]
    out = []
    for cover, gain, offset, date in (
        (c1, np.ones(5), np.zeros(5), "2021-05-01"),
        (c2, np.array([0.85, 0.9, 0.92, 1.1, 1.05]), np.array([0.025, 0.012, 0.006, -0.01, 0.0]), "2022-09-20"),
    ):
        img = np.zeros((5,) + SHAPE)
        for name, spec in SPECTRA.items():
            sel = cover == name
            for k in range(5):
                img[k][sel] = spec[k]
        img = img * (1.0 + 0.05 * rng.standard_normal(SHAPE)) + 0.003 * rng.standard_normal(img.shape)
        img = img * gain[:, None, None] + offset[:, None, None]
        img = np.clip(np.round(img * 10000), 1, 65535).astype(np.uint16)[pick]
        da = xr.DataArray(img, dims=("band", "y", "x"), coords={"band": list(bands), **f.coords()},
                          attrs={"date": date, "nodata": 0})
        out.append(da.rio.write_crs(f.crs).rio.write_transform(f.transform))
    return out[0], out[1]


def _block_median(score: np.ndarray, name: str) -> float:
    r0, r1, q0, q1 = BLOCKS[name]
    return float(np.nanmedian(score[r0 + 2:r1 - 2, q0 + 2:q1 - 2]))


@pytest.fixture(scope="module", params=[S.BANDS[:4], S.BANDS], ids=["gf2-4band", "with-swir"])
def scored(request):
    before, after = _pair(request.param)
    score = change_score(before, after, method="construction", smooth=0)
    threshold, _ = threshold_score(score, floor=2.0)
    return score.values, threshold


@pytest.mark.parametrize("material", ["asphalt", "red_tile", "concrete"])
def test_vegetation_to_impervious_scores_above_threshold(scored, material):
    score, threshold = scored
    m = _block_median(score, material)
    assert m > max(threshold, 3.0), (material, m, threshold)


@pytest.mark.parametrize("material", ["crop2"])
def test_crop_change_scores_near_zero(scored, material):
    score, threshold = scored
    m = _block_median(score, material)
    assert m < 1.0, (material, m, threshold)
    r0, r1, q0, q1 = BLOCKS[material]
    assert np.mean(score[r0:r1, q0:q1] > threshold) < 0.02


def test_asphalt_counts_although_it_darkens():
    before, after = _pair(S.BANDS[:4])
    # asphalt is no brighter than the crop in the visible and far darker in NIR ...
    r0, r1, q0, q1 = BLOCKS["asphalt"]
    br = change_score(before, after, method="brightness_diff", smooth=0).values[r0:r1, q0:q1]
    assert np.nanmedian(br) < 2.0
    # ... yet the vegetation it replaced is gone and it is not soil: construction
    s = change_score(before, after, method="construction", smooth=0).values
    assert _block_median(s, "asphalt") > 3.0
