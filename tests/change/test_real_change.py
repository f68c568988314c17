"""Accuracy floors on the real two-date samples (``../shared/data/change``).

The floors are pixel F1 scores measured with the default detector on these subsets (see
``benchmarks/README.md``, "Change detection", for the full table from
``benchmarks/eval_change.py``), lowered by about 15 %: a regression in normalisation, scoring,
thresholding or polygonising fails here. They are not targets: classical pixel methods are weak on
these datasets (see the README for where and why).

OSCD and Taizhou are opened with :func:`onemap.open_scene` (lazy, dask-backed), so these tests also
run the chunked path end to end; LEVIR and SZTAKI are NumPy-backed RGB (the degraded mode).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from onemap import detect_changes
from onemap.errors import DataError

from . import real_data as R

pytestmark = pytest.mark.shared_data

# (subset, method) -> F1 floor; measured: oscd .31/.48, taizhou .63/.94, sztaki .28/.40, levir .23
FLOORS = {
    ("oscd", "construction"): 0.26,
    ("oscd", "cva"): 0.40,
    ("taizhou", "construction"): 0.54,
    ("taizhou", "cva"): 0.85,
    ("sztaki", "construction"): 0.23,
    ("sztaki", "cva"): 0.34,
    ("levir", "construction"): 0.19,
}


@pytest.fixture(scope="module")
def subsets(shared_data):
    if not (shared_data / "change").is_dir():
        pytest.skip("no change samples in the shared data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "oscd": [R.oscd(shared_data, c) for c in ("bercy", "paris", "rennes")],
            "taizhou": [R.taizhou(shared_data)],
            "sztaki": [R.sztaki(shared_data, i) for i in (1, 2)],
            "levir": [R.levir(shared_data, n) for n in R.levir_names(shared_data)[:4]],
        }


def _run(pairs, method):
    total = np.zeros(4, np.int64)
    results = []
    for pair in pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            patches = detect_changes(pair.before, pair.after, method=method)
        total += R.confusion(R.predicted_mask(patches, pair.frame), pair)
        results.append(patches)
    return R.prf(total), results


@pytest.mark.parametrize("subset,method", sorted(FLOORS))
def test_pixel_f1_floor(subsets, subset, method):
    (precision, recall, f1), results = _run(subsets[subset], method)
    assert f1 >= FLOORS[subset, method], f"{subset}/{method}: P={precision:.3f} R={recall:.3f} F1={f1:.3f}"
    for pair, patches in zip(subsets[subset], results):
        assert patches.crs == pair.frame.crs
        assert patches.geometry.is_valid.all() and (patches.area_m2 > 0).all()
        assert patches.attrs["status"] == "ok" and patches.attrs["threshold"] >= 2.0


def test_oscd_patches_carry_dates_and_geodesic_areas(subsets):
    pair = subsets["oscd"][1]  # paris, EPSG:4326 as shipped
    patches = detect_changes(pair.before, pair.after, min_area=500)
    assert (patches.date_before == "2016-11-30").all() and (patches.date_after == "2017-11-07").all()
    # 10 m Sentinel-2 pixels: the geodesic area of a patch is about 100 m² per pixel
    per_pixel = patches.area_m2 / patches.pixels
    assert per_pixel.between(70, 130).all() and (patches.area_m2 >= 500).all()


def test_rgb_pairs_need_no_nir_for_construction_but_do_for_ndvi(subsets):
    pair = subsets["levir"][0]
    assert "nir" not in pair.before.band.values
    with pytest.raises(DataError, match="needs band 'nir'"):
        detect_changes(pair.before, pair.after, method="ndvi_diff")
