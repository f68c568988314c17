import pandas as pd
import pytest

from onemap import codes


def test_cultivated_is_exactly_three_codes():
    t = codes.table()
    cultivated = {c for c in t.index if codes.is_cultivated(c)}
    assert cultivated == {"0101", "0102", "0103"}


@pytest.mark.parametrize("code,group", [
    ("0101", "agricultural"), (103, "agricultural"), ("0201K", "agricultural"), ("0301", "agricultural"),
    ("0702", "construction"), ("1001", "construction"), ("05H1", "construction"), ("203", "construction"),
    ("201A", "construction"), ("1206", "unused"),
    ("1107", "agricultural"), ("1203", "agricultural"), ("9999", "unknown"), (None, "unknown"),
])
def test_groups(code, group):
    assert codes.group(code) == group


def test_names_and_parents():
    assert codes.name("0101") == "水田" and codes.name_en("0101") == "Paddy field"
    assert codes.parent("0101") == "01" and codes.parent("01") is None
    assert codes.name("nope") is None
    assert codes.group_zh("0702") == "建设用地" and codes.group_zh("x") == "未知"
    assert codes.is_construction("0601") and not codes.is_construction("0101")


def test_vectorised_groups_match_scalar():
    sample = ["0101", "0702", "1206", "x", 103, "0201K"]
    assert list(codes.groups(sample)) == [codes.group(c) for c in sample]


def test_table_matches_shared_domain_copy(shared_data):
    shared = pd.read_csv(shared_data.parent / "domain" / "landuse_codes.csv", dtype=str,
                         keep_default_na=False).drop_duplicates("code").set_index("code")
    ours = codes.table()
    assert list(shared.index) == list(ours.index)
    assert (shared["name_zh"] == ours["name_zh"]).all()
