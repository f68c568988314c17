"""onemap.testing.evaluate against figures worked out by hand from its definition.

Boxes of 100 m x 100 m on CGCS2000 / 3-degree Gauss-Kruger zone 39 (EPSG:4527); every overlap is
a rectangle whose area is read off the coordinates, so the expected counts and areas below need
no geometry library.
"""

from __future__ import annotations

import math

import geopandas as gpd
import pytest
import shapely

from onemap.errors import CRSError
from onemap.testing import Evaluation, evaluate

X0, Y0 = 39_500_000.0, 3_300_000.0


def box(x: float, width: float = 100.0) -> shapely.Polygon:
    return shapely.box(X0 + x, Y0, X0 + x + width, Y0 + 100.0)


# truth objects: (id, x, case, expected verdict, unapproved m²)
TRUTH = [
    ("T1", 0, "unapproved_cultivated", "unapproved", 10_000.0),
    ("T2", 1000, "partly_approved", "partly_approved", 5_000.0),
    ("T3", 2000, "approved_building", "approved", 0.0),
    ("T4", 3000, "unapproved_other", "unapproved", 10_000.0),
    ("T5", 4000, "unapproved_other", "unapproved", 10_000.0),
]
# patches: (x, width, verdict, unapproved m²) and what the definition makes of each
PATCHES = [
    (0, 60, "unapproved", 6_000.0),  # 60 % of T1: T1 found; overlap 6000 >= half of 6000: TP patch
    (990, 120, "partly_approved", 4_000.0),  # all of T2 (and more): T2 found, TP patch
    (2000, 100, "unapproved", 100.0),  # on T3, which is not positive: false positive
    (3000, 100, "approved", 0.0),  # not flagged: T4 stays missed by it
    (3000, 30, "unapproved", 3_000.0),  # 30 % of T4 (< 50 %): T4 not found, yet a TP patch
    (4000, 30, "unapproved", 3_000.0),  # T5: 30 % ...
    (4070, 30, "unapproved", 3_000.0),  # ... + 30 % = 60 %: T5 found; both TP patches
    (9000, 100, "unapproved", 10_000.0),  # nowhere near a truth object: false positive
]


def layers(crs: int = 4527) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    truth = gpd.GeoDataFrame(
        {"case": [t[2] for t in TRUTH], "expected_verdict": [t[3] for t in TRUTH],
         "truth_unapproved_m2": [t[4] for t in TRUTH]},
        geometry=[box(t[1]) for t in TRUTH], crs=crs)
    verdicts = gpd.GeoDataFrame(
        {"verdict": [p[2] for p in PATCHES], "unapproved_m2": [p[3] for p in PATCHES]},
        geometry=[box(p[0], p[1]) for p in PATCHES], crs=4527)
    return verdicts, truth


def test_counts_and_areas_follow_the_definition():
    verdicts, truth = layers()
    ev = evaluate(verdicts, truth)
    assert isinstance(ev, Evaluation)
    # positives T1 T2 T4 T5; found T1, T2, T5 -> tp 3, fn 1 (T4)
    # flagged patches that are not TP patches: the one on T3 and the far one -> fp 2
    assert (ev["tp"], ev["fn"], ev["fp"]) == (3, 1, 2)
    assert ev["precision"] == pytest.approx(3 / 5)
    assert ev["recall"] == pytest.approx(3 / 4)
    assert ev["f1"] == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))
    # flagged area of TP patches: 6000 + 4000 + 3000 (on T4) + 3000 + 3000; truth: 35 000
    assert ev["flagged_area_m2"] == pytest.approx(19_000.0)
    assert ev["truth_area_m2"] == pytest.approx(35_000.0)
    assert ev["area_error"] == pytest.approx(16_000.0 / 35_000.0)
    per_case = ev["per_case"].set_index("case")
    assert per_case.loc["unapproved_other", ["n", "flagged"]].tolist() == [2, 1]
    assert per_case.loc["approved_building", "positive"] == False  # noqa: E712
    assert per_case["n"].sum() == len(TRUTH)
    assert "precision=0.600" in repr(ev) and "fp=2" in repr(ev)


def test_min_overlap_moves_the_cut():
    verdicts, truth = layers()
    strict = evaluate(verdicts, truth, min_overlap=0.7)
    # T1 (60 %) and T5 (60 %) are no longer found; T2 (100 %) still is. TP patches need 70 % of
    # the smaller box: the T1 patch (100 % of itself) and the T2 patch (100 % of T2) stay, and so
    # do the three 30 m patches (their whole area lies in a positive box) -> fp still 2
    assert (strict["tp"], strict["fn"], strict["fp"]) == (1, 3, 2)
    loose = evaluate(verdicts, truth, min_overlap=0.25)
    assert (loose["tp"], loose["fn"], loose["fp"]) == (4, 0, 2)  # T4's 30 % now counts


def test_without_truth_areas_uses_ellipsoidal_areas_of_the_positives():
    from pyproj import Geod

    verdicts, truth = layers()
    ev = evaluate(verdicts, truth.drop(columns="truth_unapproved_m2"))
    geod = Geod(ellps="GRS80")  # the CGCS2000 ellipsoid, to within 0.1 mm on the semi-minor axis
    positive = truth[truth["expected_verdict"].isin(["unapproved", "partly_approved"])]
    lonlat = positive.to_crs(4490).geometry
    expected = sum(abs(geod.geometry_area_perimeter(g)[0]) for g in lonlat)
    assert ev["truth_area_m2"] == pytest.approx(expected, rel=1e-6)
    assert 39_000 < expected < 41_000  # four 1-ha boxes, scale factor ~1 near the meridian


def test_edge_cases():
    verdicts, truth = layers()
    none_flagged = verdicts.assign(verdict="approved")
    ev = evaluate(none_flagged, truth)
    assert (ev["tp"], ev["fp"], ev["fn"]) == (0, 0, 4) and math.isnan(ev["precision"])
    assert ev["recall"] == 0.0 and ev["f1"] == 0.0 and ev["area_error"] == pytest.approx(1.0)
    with pytest.raises(CRSError, match="one CRS"):
        evaluate(verdicts, truth.to_crs(4490))
