import warnings

import pytest

from onemap.errors import (CRSError, DataError, EncodingError, FormatError, OnemapError, Repair,
                           RepairWarning, report_repairs)


def test_message_names_place_and_fix():
    e = FormatError("bad coordinate 'abc'", path="/x/a.txt", line=7, hint="use decimal numbers")
    assert str(e) == "/x/a.txt, line 7: bad coordinate 'abc'. Fix: use decimal numbers"
    assert e.path == "/x/a.txt" and e.line == 7
    e = DataError("empty layer", path="b.gpkg", feature="BSM=12")
    assert "b.gpkg, feature BSM=12: empty layer" == str(e)


def test_hierarchy():
    for cls in (CRSError, FormatError, EncodingError, DataError):
        assert issubclass(cls, OnemapError)
    assert issubclass(EncodingError, FormatError)
    with pytest.raises(OnemapError):
        raise CRSError("no CRS")


def test_report_repairs_warns_once():
    reps = [Repair("a.shp", f"feature {i}", "Self-intersection", "make_valid") for i in range(7)]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = report_repairs(reps)
    assert out is reps
    assert len(rec) == 1 and issubclass(rec[0].category, RepairWarning)
    assert "7 repair(s)" in str(rec[0].message) and "(+2 more)" in str(rec[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report_repairs([])
