"""CSV files for people: bytes Excel on a Chinese Windows machine reads right, and back."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from onemap.export import export_results
from onemap.labels import data_dictionary, header, name
from onemap.people_csv import (
    people_csv_text,
    read_people_csv,
    with_mu_ha,
    write_people_csv,
)


def table():
    return pd.DataFrame(
        {
            "admin_code": ["050801001000", "379901101000", "total"],
            "admin_name": ["城关镇", '=HYPERLINK("http://x")', ""],
            "landuse_code": ["0508", "0101", None],
            "n_patches": [3, 4, 7],
            "unapproved_m2": [1500.0, 666.6666667, 2166.6666667],
            "illegal_ratio": [0.2025, np.nan, 0.15],
            "exceeds_threshold": [True, False, False],
        }
    )


def test_bytes_bom_codes_as_text_units_and_no_formula(tmp_path):
    path = tmp_path / "t.csv"
    write_people_csv(path, with_mu_ha(table()))
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel does not fall back to GBK
    text = raw[3:].decode("utf-8")
    head, first, second, total = text.splitlines()
    assert head.split(",") == [
        "行政区代码",
        "行政区名称",
        "地类编码",
        "图斑数（个）",
        "违法用地面积（m²）",
        "违法用地面积（亩）",
        "违法用地面积（公顷）",
        "违法占用耕地比例（%）",
        "超过阈值（是/否）",
    ]
    # ="..." is what Excel keeps as text: leading zeros and all 12 digits survive
    assert first.startswith('="050801001000",城关镇,="0508",3,1500.0000,2.2500,0.150000,20.25,是')
    assert second.split(",")[1].startswith("\"'=HYPERLINK(")  # a layer's formula is shown, not run
    assert total.startswith("合计,,,7,")
    assert ",," in second  # NaN ratio: an empty cell
    assert "\r" not in text and text.endswith("\n")


def test_round_trip_to_machine_names(tmp_path):
    path = tmp_path / "t.csv"
    t = with_mu_ha(table())
    for lang in ("zh", "en"):
        write_people_csv(path, t, lang)
        back = read_people_csv(path)
        assert list(back.columns) == list(t.columns)
        assert back["admin_code"].tolist() == ["050801001000", "379901101000", "total"]
        assert back["landuse_code"].tolist() == ["0508", "0101", None]
        assert back["admin_name"].tolist()[1] == t["admin_name"][1]
        np.testing.assert_allclose(back["unapproved_m2"], t["unapproved_m2"], atol=1e-4)
        np.testing.assert_allclose(
            back["unapproved_mu"], t["unapproved_m2"] / 10_000 * 15, atol=1e-4
        )
        np.testing.assert_allclose(back["illegal_ratio"], t["illegal_ratio"], atol=1e-4)
        assert back["exceeds_threshold"].tolist() == [True, False, False]


def test_english_headers():
    text = people_csv_text(table(), lang="en")
    assert text.splitlines()[0].startswith(
        "admin code,admin name,land-use code,patches (count),unapproved construction (m²)"
    )
    assert "total," in text and ",yes" in text
    with pytest.raises(ValueError):
        people_csv_text(table(), lang="de")


def test_every_known_column_has_a_unit_or_is_text():
    dd = data_dictionary(
        {
            "verdicts.csv": [
                "area_m2",
                "area_mu",
                "area_ha",
                "illegal_ratio",
                "n_flagged",
                "confidence",
                "date_after",
                "verdict_zh",
            ]
        },
        "zh",
    )
    assert dict(zip(dd["字段名"], dd["单位"])) == {
        "area_m2": "m²",
        "area_mu": "亩",
        "area_ha": "公顷",
        "illegal_ratio": "%",
        "n_flagged": "个",
        "confidence": "0–1",
        "date_after": "年-月-日",
        "verdict_zh": "文本",
    }
    assert header("area_ha", "en") == "area (ha)"


def test_export_writes_people_csvs_and_keeps_machine_names_in_the_geopackage(tmp_path):
    import shapely

    from onemap.summary import summarize

    v = gpd.GeoDataFrame(
        {
            "patch_id": [1, 2],
            "verdict": ["unapproved", "approved"],
            "verdict_zh": ["违法（未批先建）", "合法（已批准）"],
            "admin_code": ["050801001000", "050801001000"],
            "admin_name": ["甲镇", "甲镇"],
            **{c: [100.0, 200.0] for c in ("area_m2", "new_m2")},
            "existing_m2": [0.0, 0.0],
            "approved_m2": [0.0, 200.0],
            "unapproved_m2": [100.0, 0.0],
            "new_cultivated_m2": [100.0, 0.0],
            "unapproved_cultivated_m2": [100.0, 0.0],
            "unapproved_farmland_m2": [0.0, 0.0],
            "unapproved_redline_m2": [0.0, 0.0],
        },
        geometry=[
            shapely.box(39_500_000, 3_300_000, 39_500_010, 3_300_010),
            shapely.box(39_500_020, 3_300_000, 39_500_040, 3_300_010),
        ],
        crs=4527,
    )
    s = summarize(v)
    first = export_results(tmp_path / "a", v, s)
    again = export_results(tmp_path / "a", v, s)
    assert first == again  # byte-identical rerun
    out = tmp_path / "a"
    assert "data_dictionary.csv" in first
    assert list(gpd.read_file(out / "verdicts.gpkg").columns)[:3] == [
        "patch_id",
        "verdict",
        "verdict_zh",
    ]
    head = (out / "verdicts.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert head.startswith("图斑编号,判定代码,判定结果,行政区代码")
    dd = read_people_csv(out / "data_dictionary.csv")
    assert {"verdicts.csv", "summary.csv"} <= set(dd["表"])
    summary = read_people_csv(out / "summary.csv")
    assert {"unapproved_m2", "unapproved_mu", "unapproved_ha"} <= set(summary.columns)
    en = export_results(tmp_path / "en", v, s, lang="en")
    assert en["verdicts.gpkg"] == first["verdicts.gpkg"]
    assert (
        (tmp_path / "en" / "summary.csv")
        .read_text(encoding="utf-8-sig")
        .startswith("admin code,admin name")
    )


def test_every_column_of_a_survey_table_has_a_chinese_header():
    """flag_unapproved + summarize columns, including those added only on unclassified land."""
    import re

    import shapely

    from onemap.enforce import flag_unapproved
    from onemap.summary import summarize

    def box(x, w):
        return shapely.box(39_500_000 + x, 3_300_000, 39_500_000 + x + w, 3_300_100)

    patches = gpd.GeoDataFrame({"patch_id": [1, 2]}, geometry=[box(0, 50), box(300, 50)], crs=4527)
    landuse = gpd.GeoDataFrame({"landuse_code": ["0101"]}, geometry=[box(0, 200)], crs=4527)
    approvals = gpd.GeoDataFrame({"approval_id": ["P1"]}, geometry=[box(0, 20)], crs=4527)
    v = flag_unapproved(patches, approvals, landuse)
    assert v["on_unknown_landuse"].any()  # the second patch lies off the land-use layer
    columns = [c for c in [*v.columns, *summarize(v).columns] if c != "geometry"]
    english = [c for c in columns if not re.search("[\u4e00-\u9fff]", name(c, "zh"))]
    assert english == []


@pytest.mark.parametrize("lang, word", [("zh", "部分建设"), ("en", "partly built")])
def test_status_values_in_peoples_words_and_back(tmp_path, lang, word):
    t = pd.DataFrame({"approval_id": ["P1", "P2"], "status": ["partly_built", "not_built"]})
    path = tmp_path / "approvals_status.csv"
    write_people_csv(path, t, lang)
    text = path.read_text(encoding="utf-8-sig")
    assert word in text and "partly_built" not in text
    assert read_people_csv(path)["status"].tolist() == ["partly_built", "not_built"]
