"""summarize(by=None): the whole area as one clean total row (no blank row repeating it)."""

import pandas as pd
import pytest

from onemap import summarize
from onemap.errors import InvariantError
from onemap.invariants import check_invariants


def _verdicts() -> pd.DataFrame:
    return pd.DataFrame({
        "patch_id": [1, 2, 3],
        "admin_code": ["A", "A", "B"], "admin_name": ["甲", "甲", "乙"],
        "verdict": ["unapproved", "approved", "partly_approved"],
        "area_m2": [100.0, 200.0, 50.0], "existing_m2": [0.0, 0.0, 10.0],
        "new_m2": [100.0, 200.0, 40.0], "approved_m2": [0.0, 200.0, 30.0],
        "unapproved_m2": [100.0, 0.0, 10.0], "new_cultivated_m2": [100.0, 100.0, 0.0],
        "unapproved_cultivated_m2": [100.0, 0.0, 0.0], "unapproved_farmland_m2": [0.0, 0.0, 0.0],
        "unapproved_redline_m2": [0.0, 0.0, 0.0], "unapproved_unknown_m2": [0.0, 0.0, 0.0],
        "unapproved_by_code": ['{"0101": 100.0}', "{}", '{"0702": 10.0}'],
    })


def test_whole_area_is_one_total_row():
    v = _verdicts()
    whole = summarize(v, by=None)
    assert len(whole) == 1
    row = whole.iloc[0]
    assert row["admin_code"] == "total"
    assert row["n_patches"] == 3 and row["n_flagged"] == 2
    assert row["unapproved_m2"] == pytest.approx(110.0)
    assert row["illegal_ratio"] == pytest.approx(0.5)
    assert bool(row["exceeds_threshold"]) is True
    # the same figures as the total row of the table by admin unit
    by_admin = summarize(v).iloc[-1]
    for col in ("n_patches", "n_flagged", "new_m2", "unapproved_m2", "illegal_ratio"):
        assert row[col] == pytest.approx(by_admin[col])


def test_invariants_accept_a_whole_area_summary():
    v = _verdicts()
    record = check_invariants(v[["patch_id"]], v, summarize(v, by=None))
    assert record["admin_totals"]["max_relative_error"] == 0.0
    broken = summarize(v, by=None)
    broken.loc[0, "unapproved_m2"] += 5.0
    with pytest.raises(InvariantError, match="total row differs from the verdict table"):
        check_invariants(v[["patch_id"]], v, broken)
