"""Year over year: match_previous against a brute-force oracle, CRS independence, bad input,
reruns, the survey's [history]."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely import affinity

from onemap.errors import CRSError, DataError, GeometryError, RepairWarning
from onemap.history import HISTORY_COLUMNS, RESOLVED_DECISIONS, match_previous
from onemap.ingest.vector import write_layer
from onemap.summary import summarize

X0, Y0 = 39_500_000.0, 3_300_000.0  # CGCS2000 3-degree Gauss-Kruger zone 39 (EPSG:4527)
DECISIONS = ["", "已整改", "整改中", "已拆除", "立案查处", "resolved"]
VERDICTS = ["unapproved", "partly_approved", "approved", "existing_construction", "check"]


def random_patches(
    rng: np.random.Generator,
    n: int,
    *,
    x0: float = X0,
    y0: float = Y0,
    extent: float = 400.0,
    crs: object = 4527,
) -> gpd.GeoDataFrame:
    """Rotated rectangles of 5-60 m, crowded so that many overlap."""
    geoms = []
    for _ in range(n):
        w, h = rng.uniform(5, 60, 2)
        cx, cy = rng.uniform(0, extent, 2)
        box = shapely.box(x0 + cx - w / 2, y0 + cy - h / 2, x0 + cx + w / 2, y0 + cy + h / 2)
        geoms.append(affinity.rotate(box, float(rng.uniform(0, 90))))
    return gpd.GeoDataFrame({"patch_id": np.arange(1, n + 1)}, geometry=geoms, crs=crs)


def earlier_year(rng: np.random.Generator, n: int, year: int) -> gpd.GeoDataFrame:
    gdf = random_patches(rng, n)
    gdf["verdict"] = rng.choice(VERDICTS, n)
    gdf["decision"] = rng.choice(DECISIONS, n)
    gdf["date_after"] = f"{year}-09-01"
    return gdf


# ------------------------------------------------------------------------------------ the oracle
def geodesic_area(geom: shapely.Geometry, crs: object) -> float:
    """Area on the CRS's own ellipsoid, one geometry at a time (pyproj, not onemap)."""
    from pyproj import CRS

    crs = CRS.from_user_input(crs)
    to_geo = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    lonlat = shapely.transform(
        geom, lambda xy: np.column_stack(to_geo.transform(xy[:, 0], xy[:, 1]))
    )
    return abs(crs.geodetic_crs.get_geod().geometry_area_perimeter(lonlat)[0])


def oracle(new: gpd.GeoDataFrame, olds: list[gpd.GeoDataFrame], min_overlap: float) -> pd.DataFrame:
    """Every pair by brute force: intersection share, then the documented choice (plain Python)."""
    crs = new.crs
    rows = []
    for g in new.geometry:
        matches = []
        for order, old in enumerate(olds):
            old = old.to_crs(crs)
            for k in range(len(old)):
                h = old.geometry.iloc[k]
                inter = g.intersection(h)
                if inter.is_empty:
                    continue
                polys = [
                    p
                    for p in getattr(inter, "geoms", [inter])
                    if p.geom_type in ("Polygon", "MultiPolygon")
                ]
                shared = sum(geodesic_area(p, crs) for p in polys)
                share = shared / min(geodesic_area(g, crs), geodesic_area(h, crs))
                if share >= min_overlap:
                    flagged = old["verdict"].iloc[k] in ("unapproved", "partly_approved")
                    closed = str(old["decision"].iloc[k]) in RESOLVED_DECISIONS
                    rank = (1 if closed else 0) if flagged else 2
                    matches.append(
                        (
                            -int(old["date_after"].iloc[k][:4]),
                            -order,
                            rank,
                            -share,
                            str(old["patch_id"].iloc[k]),
                            old["decision"].iloc[k],
                        )
                    )
        if not matches:
            rows.append(
                {
                    "history": "new",
                    "prev_matches": 0,
                    "prev_patch_id": "",
                    "prev_year": 0,
                    "prev_overlap": 0.0,
                    "prev_decision": "",
                }
            )
            continue
        year, _, rank, share, pid, decision = min(matches)
        rows.append(
            {
                "history": ["repeat_unresolved", "repeat_resolved", "repeat_not_flagged"][rank],
                "prev_matches": len(matches),
                "prev_patch_id": pid,
                "prev_year": -year,
                "prev_overlap": -share,
                "prev_decision": decision,
            }
        )
    return pd.DataFrame(rows)


def check_against_oracle(
    got: gpd.GeoDataFrame, want: pd.DataFrame, skip: np.ndarray | None = None
) -> None:
    keep = np.ones(len(got), bool) if skip is None else ~skip
    for col in ("history", "prev_matches", "prev_patch_id", "prev_year", "prev_decision"):
        assert got[col].to_numpy()[keep].tolist() == want[col].to_numpy()[keep].tolist(), col
    np.testing.assert_allclose(
        got["prev_overlap"].to_numpy()[keep],
        want["prev_overlap"].to_numpy()[keep],
        rtol=1e-7,
        atol=1e-12,
    )


@pytest.fixture(scope="module")
def years():
    rng = np.random.default_rng(2025)
    return random_patches(rng, 60), [earlier_year(rng, 60, 2023), earlier_year(rng, 60, 2024)]


def test_matches_brute_force_oracle(years):
    new, olds = years
    got = match_previous(new, olds)
    want = oracle(new, olds, 0.3)
    check_against_oracle(got, want)
    # the data exercise every branch
    assert set(got["history"]) == {
        "new",
        "repeat_unresolved",
        "repeat_resolved",
        "repeat_not_flagged",
    }
    assert (got["prev_matches"] > 1).any() and set(got["prev_year"]) == {0, 2023, 2024}
    assert got.attrs["history"]["counts"] == got["history"].value_counts().sort_index().to_dict()


@pytest.mark.parametrize("min_overlap", [0.05, 0.5, 0.9])
def test_threshold_is_honoured(years, min_overlap):
    new, olds = years
    check_against_oracle(
        match_previous(new, olds, min_overlap=min_overlap), oracle(new, olds, min_overlap)
    )


def test_most_recent_survey_decides_then_open_cases():
    box = shapely.box(X0, Y0, X0 + 20, Y0 + 20)
    new = gpd.GeoDataFrame({"patch_id": [1]}, geometry=[box], crs=4527)
    older = gpd.GeoDataFrame(
        {"patch_id": [5], "verdict": ["unapproved"], "decision": [""], "year": [2023]},
        geometry=[box],
        crs=4527,
    )
    newer = gpd.GeoDataFrame(
        {
            "patch_id": [9, 10],
            "verdict": ["unapproved", "unapproved"],
            "decision": ["已拆除", "整改中"],
            "year": [2024, 2024],
        },
        geometry=[box, shapely.box(X0, Y0, X0 + 10, Y0 + 20)],
        crs=4527,
    )
    got = match_previous(new, [newer, older])  # listed out of order: the year decides
    assert got[["history", "prev_patch_id", "prev_year", "prev_matches"]].iloc[0].tolist() == [
        "repeat_unresolved",
        "10",
        2024,
        3,
    ]  # the open case of 2024 beats the closed one
    closed = match_previous(new, [older, newer.iloc[[0]]])
    assert (
        closed["history"].iloc[0] == "repeat_resolved"
        and closed["prev_decision"].iloc[0] == "已拆除"
    )
    bureau = match_previous(
        new, [older, newer.iloc[[0]]], resolved=["已办结"]
    )  # the bureau's own words
    assert bureau["history"].iloc[0] == "repeat_unresolved"


def test_crs_independence(years, tmp_path):
    """Earlier results stored in lon/lat or in another projection give the same matches."""
    new, olds = years
    same = match_previous(new, olds)
    for crs in (4490, 32650):
        moved = [o.to_crs(crs) for o in olds]
        got = match_previous(new, moved)
        assert got.crs == new.crs
        # reprojection bends straight edges by < 1 mm here: shares agree closely, matches exactly
        np.testing.assert_allclose(got["prev_overlap"], same["prev_overlap"], rtol=1e-5, atol=1e-9)
        assert got["history"].tolist() == same["history"].tolist()
        assert got["prev_patch_id"].tolist() == same["prev_patch_id"].tolist()
    # and the new patches themselves in lon/lat: ellipsoidal areas make the shares the same
    geo = match_previous(new.to_crs(4490), olds)
    np.testing.assert_allclose(geo["prev_overlap"], same["prev_overlap"], rtol=1e-5, atol=1e-9)
    assert geo["history"].tolist() == same["history"].tolist()


def test_files_and_frames_agree(years, tmp_path):
    new, olds = years
    paths = [
        write_layer(o, tmp_path / f"{2023 + k}.{ext}")
        for k, (o, ext) in enumerate(zip(olds, ("gpkg", "parquet"), strict=True))
    ]
    from_files = match_previous(new, [str(p) for p in paths])
    from_frames = match_previous(new, olds)
    pd.testing.assert_frame_equal(
        from_files.drop(columns="prev_survey"), from_frames.drop(columns="prev_survey")
    )
    assert set(from_files.loc[from_files["prev_year"] == 2024, "prev_survey"]) == {str(paths[1])}
    as_mapping = match_previous(new, [{"path": paths[0]}, {"path": paths[1]}])
    pd.testing.assert_frame_equal(as_mapping, from_files)


def test_empty_previous(years, tmp_path):
    new, olds = years
    empty_file = write_layer(olds[0].iloc[:0], tmp_path / "empty.gpkg")
    for previous in ([], olds[0].iloc[:0], str(empty_file), [str(empty_file)]):
        got = match_previous(new, previous)
        assert (got["history"] == "new").all() and (got["prev_matches"] == 0).all()
        assert (got["prev_patch_id"] == "").all() and len(got) == len(new)
    nothing_here = match_previous(new, affinity_shift(olds[0], 10_000))
    assert (nothing_here["history"] == "new").all()
    assert len(match_previous(new.iloc[:0], olds)) == 0


def affinity_shift(gdf: gpd.GeoDataFrame, dx: float, dy: float = 0.0) -> gpd.GeoDataFrame:
    return gdf.set_geometry(gdf.geometry.translate(dx, dy))


def test_missing_columns_and_bad_values_name_the_file_and_fix(years, tmp_path):
    new, olds = years
    path = write_layer(olds[0].drop(columns="verdict"), tmp_path / "2023_no_verdict.parquet")
    with pytest.raises(DataError, match="lack a verdict column") as err:
        match_previous(new, str(path))
    assert str(path) in str(err.value) and "columns={'verdict'" in str(err.value)
    renamed = olds[0].rename(columns={"verdict": "结论"})
    assert (
        match_previous(new, renamed, columns={"verdict": "结论"})["history"].tolist()
        == match_previous(new, olds[0])["history"].tolist()
    )
    with pytest.raises(DataError, match="no such column"):
        match_previous(new, olds[0], columns={"decision": "HCJG"})
    bad = olds[0].assign(verdict="违法")
    with pytest.raises(DataError, match="does not know.*违法"):
        match_previous(new, bad)
    with pytest.raises(CRSError, match="no CRS"):
        match_previous(new, olds[0].set_crs(None, allow_override=True))
    with pytest.raises(GeometryError, match="non-polygon"):
        match_previous(new, olds[0].set_geometry(olds[0].centroid))
    with pytest.raises(DataError, match="min_overlap"):
        match_previous(new, olds, min_overlap=0)


def test_chinese_verdicts_and_invalid_polygons(years):
    new, olds = years
    from onemap.enforce import VERDICTS_ZH

    zh = olds[1].assign(verdict=olds[1]["verdict"].map(VERDICTS_ZH))
    assert (
        match_previous(new, zh)["prev_verdict"].tolist()
        == match_previous(new, olds[1])["prev_verdict"].tolist()
    )
    bow = olds[1].copy()
    g = bow.geometry.iloc[0]
    x0, y0, x1, y1 = g.bounds
    bow.loc[bow.index[0], "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    with pytest.warns(RepairWarning):
        match_previous(new, bow)


def test_rerun_is_idempotent_and_round_trips(years, tmp_path):
    new, olds = years
    once = match_previous(new, olds)
    twice = match_previous(once, olds)
    pd.testing.assert_frame_equal(once, twice)
    assert list(once.columns[-len(HISTORY_COLUMNS) :]) == list(HISTORY_COLUMNS)
    assert list(once.columns[: -len(HISTORY_COLUMNS)]) == list(new.columns)
    from onemap import read_layer

    g = read_layer(write_layer(once, tmp_path / "v.gpkg"))
    p = read_layer(write_layer(once, tmp_path / "v.parquet"))
    assert g.dtypes.to_dict() == p.dtypes.to_dict()
    for col in HISTORY_COLUMNS:
        assert g[col].tolist() == once[col].tolist() == p[col].tolist(), col


def test_summarize_separates_new_from_unresolved(years):
    new, olds = years
    v = match_previous(new, olds)
    n = len(v)
    rng = np.random.default_rng(1)
    v["verdict"] = rng.choice(["unapproved", "approved", "partly_approved"], n)
    v["admin_code"] = rng.choice(["A", "B"], n)
    for col in (
        "area_m2",
        "existing_m2",
        "new_m2",
        "approved_m2",
        "unapproved_m2",
        "new_cultivated_m2",
        "unapproved_cultivated_m2",
        "unapproved_farmland_m2",
        "unapproved_redline_m2",
    ):
        v[col] = rng.uniform(0, 100, n)
    s = summarize(v)
    total = s.iloc[-1]
    flagged = v["verdict"].isin(["unapproved", "partly_approved"])
    fresh, open_ = (
        flagged & (v["history"] == "new"),
        flagged & (v["history"] == "repeat_unresolved"),
    )
    assert total["n_new_cases"] == fresh.sum() and total["n_repeat_unresolved"] == open_.sum()
    assert (
        total["n_new_cases"] + total["n_repeat_unresolved"] + total["n_repeat_other"]
        == total["n_flagged"]
    )
    assert total["new_cases_unapproved_m2"] == pytest.approx(v.loc[fresh, "unapproved_m2"].sum())
    assert total["repeat_unresolved_unapproved_m2"] == pytest.approx(
        v.loc[open_, "unapproved_m2"].sum()
    )
    a = s[s["admin_code"] == "A"].iloc[0]
    assert a["n_new_cases"] == (fresh & (v["admin_code"] == "A")).sum()
    plain = summarize(v.drop(columns=list(HISTORY_COLUMNS)))
    assert not {"n_new_cases", "n_repeat_unresolved"} & set(plain.columns)
    assert list(plain.columns) == [c for c in s.columns if c in plain.columns]


# ------------------------------------------------------------------------------------ real data
@pytest.mark.shared_data
def test_spacenet_buildings_against_themselves_last_year(shared_data, tmp_path):
    """SpaceNet building footprints (UTM 16N) as this year's patches; "last year" the same
    buildings shifted 1.5 m / -1 m, shrunk 10 % and stored as GeoParquet in lon/lat, a fifth of
    them missing (built since) and decisions on the rest."""
    from onemap import read_layer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        buildings = read_layer(shared_data / "geo/spacenet/geotiff_labels.geojson")
    assert buildings.crs.to_epsg() == 32616 and len(buildings) == 43
    now = gpd.GeoDataFrame(
        {"patch_id": np.arange(1, len(buildings) + 1), "verdict": "unapproved"},
        geometry=buildings.geometry.to_numpy(),
        crs=buildings.crs,
    )
    rng = np.random.default_rng(16)
    gone = rng.choice(len(now), len(now) // 5, replace=False)
    last = now.drop(index=gone).copy()
    last["geometry"] = [
        affinity.scale(affinity.translate(g, 1.5, -1.0), 0.9, 0.9) for g in last.geometry
    ]
    last["decision"] = rng.choice(["", "已拆除", "整改中"], len(last))
    last["year"] = 2024
    path = write_layer(last.to_crs(4326), tmp_path / "2024_verdicts.parquet")
    got = match_previous(now, str(path))
    want = oracle(now, [last.to_crs(4326).assign(date_after="2024-09-01")], 0.3)
    check_against_oracle(got, want)
    assert set(got.loc[got.index[gone], "history"]) == {"new"}
    kept = got.drop(index=got.index[gone])
    assert (kept["prev_patch_id"] == kept["patch_id"].astype(str)).all()  # each found itself
    assert kept["history"].isin(["repeat_unresolved", "repeat_resolved"]).all()
    # shifted by 30 m, most buildings no longer meet their own footprint: fewer repeats, as the
    # oracle says
    far = affinity_shift(last, 30.0)
    check_against_oracle(
        match_previous(now, far), oracle(now, [far.assign(date_after="2024-09-01")], 0.3)
    )


# ------------------------------------------------------------------------------------ survey
def test_history_config(tmp_path):
    from onemap.config import load_config
    from onemap.errors import ConfigError

    for name in ("before.tif", "after.tif", "dltb.gpkg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "2024").mkdir()
    (tmp_path / "2024" / "verdicts.parquet").write_bytes(b"x")
    base = {
        "survey": {"output": "out"},
        "scenes": {"before": {"path": "before.tif"}, "after": {"path": "after.tif"}},
        "layers": {"landuse": {"path": "dltb.gpkg"}},
    }
    db = {
        "url": "postgresql://gis@db.example/onemap",
        "table": "wpzf.verdicts",
        "where": "county_code = '330102'",
    }
    cfg = load_config(
        {
            **base,
            "history": {
                "previous": ["2024/verdicts.parquet", {"path": "dltb.gpkg", "layer": "x"}, db],
                "min_overlap": 0.5,
                "resolved": ["已整改"],
            },
        },
        base=tmp_path,
    )
    assert cfg.history_previous[0]["path"] == (tmp_path / "2024" / "verdicts.parquet").resolve()
    assert cfg.history_previous[1] == {"path": (tmp_path / "dltb.gpkg").resolve(), "layer": "x"}
    assert cfg.history_previous[2] == {
        "path": db["url"],
        "table": "wpzf.verdicts",
        "where": db["where"],
    }
    assert cfg.history_min_overlap == 0.5 and cfg.history_resolved == ("已整改",)
    assert cfg.as_dict()["history_previous"][0]["path"] == str(
        (tmp_path / "2024" / "verdicts.parquet").resolve()
    )
    assert load_config(base, base=tmp_path).history_previous == ()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "verdicts.gpkg").write_bytes(b"x")
    for history, match in [
        ({"previous": "2024/verdicts.parquet"}, r"\[history\] previous must be a list"),
        (
            {"previous": ["2023/verdicts.gpkg"]},
            r"\[history\] previous\[0\] path names a file that does not exist",
        ),
        (
            {"previous": [{**db, "url": "postgresql://gis:secret@db/onemap"}]},
            r"holds a password.*PGPASSWORD",
        ),
        ({"previous": ["postgresql://gis@db/onemap"]}, r"is a URL: a database table is \{url"),
        ({"previous": [{"url": db["url"]}]}, r"needs table ="),
        ({"previous": ["out/verdicts.gpkg"]}, r"this survey's own output"),
        (
            {"previous": [{"path": "dltb.gpkg", "table": "t"}]},
            r"needs a path .*or a url with a table",
        ),
        (
            {"previous": [{"path": "dltb.gpkg", "encoding": "gbk"}]},
            r"previous\[0\] encoding is not a known key",
        ),
        ({"previous": [], "min_overlap": 1.5}, r"min_overlap is a share"),
        ({"previous": [], "resolved": "已整改"}, r"resolved must be a list"),
        ({"previus": []}, r"previus is not a known key.*did you mean 'previous'"),
    ]:
        with pytest.raises(ConfigError, match=match):
            load_config({**base, "history": history}, base=tmp_path)


@pytest.mark.slow
def test_survey_with_last_years_results(tmp_path):
    """A county surveyed, its verdicts.parquet kept as "2024", the survey rerun with [history] (and
    its land-use layer as GeoParquet): the same verdicts, every patch found at its own place, the
    county table splitting the flagged ones accordingly."""
    import json
    import shutil

    from onemap.survey import demo_config, run_survey
    from onemap.synth import make_county

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        county = make_county(tmp_path / "county", size=256, seed=8, n_changes=2)
        cfg = demo_config(county, tmp_path / "survey")
        cfg["run"]["tile_size"] = 128
        first = run_survey(cfg, progress=False)
        (tmp_path / "2024").mkdir()
        last = shutil.copy(
            first.output / "verdicts.parquet", tmp_path / "2024" / "verdicts.parquet"
        )
        cfg["history"] = {"previous": [str(last)]}
        dltb = gpd.read_file(county.paths["landuse"])
        dltb.to_parquet(tmp_path / "DLTB.parquet", index=False)  # written by geopandas, not onemap
        cfg["layers"]["landuse"]["path"] = str(tmp_path / "DLTB.parquet")
        again = run_survey(cfg, progress=False)
    v = again.verdicts
    assert len(v) == len(first.verdicts) > 0
    pd.testing.assert_frame_equal(
        pd.DataFrame(v.drop(columns=list(HISTORY_COLUMNS))), pd.DataFrame(first.verdicts)
    )  # GPKG or GeoParquet land use: same
    flagged = v["verdict"].isin(["unapproved", "partly_approved"])
    assert (
        v.loc[flagged, "history"] == "repeat_unresolved"
    ).all()  # no decision recorded: still open
    assert (v.loc[~flagged, "history"] == "repeat_not_flagged").all()
    assert (v["prev_patch_id"] == v["patch_id"].astype(str)).all()
    np.testing.assert_allclose(v["prev_overlap"], 1.0)
    total = again.summary.iloc[-1]
    assert (
        total["n_new_cases"] == 0
        and total["n_repeat_unresolved"] == flagged.sum() == total["n_flagged"]
    )
    assert "n_new_cases" not in first.summary.columns
    manifest = json.loads((again.output / "manifest.json").read_text(encoding="utf-8"))
    assert str(last) in manifest["inputs"] and "history" in manifest["timings_s"]
    assert manifest["history"]["sources"] == [str(last)]
    assert manifest["history"]["counts"] == v["history"].value_counts().sort_index().to_dict()
    back = gpd.read_parquet(again.output / "verdicts.parquet")
    assert back["history"].tolist() == v["history"].tolist()


def test_only_the_patches_surroundings_are_read(years, tmp_path):
    """A local file is read with bbox= around the new patches (in the file's own CRS): far-away
    earlier patches are not even loaded, and the matches are those of a full read."""
    from onemap._history_sources import _box_in_source
    from onemap._history_sources import source_label as _label

    new, olds = years
    far = affinity_shift(olds[0], 50_000).assign(patch_id=lambda d: d["patch_id"] + 1000)
    both = pd.concat([olds[0], far], ignore_index=True)
    path = write_layer(both.to_crs(4490), tmp_path / "2023_province.parquet")
    box = _box_in_source(path, None, new.crs, np.asarray(new.total_bounds))
    lon, lat = Transformer.from_crs(4527, 4490, always_xy=True).transform(*new.total_bounds[:2])
    assert box[0] < lon and box[1] < lat and box[2] - box[0] < 0.05  # degrees, around the patches
    from onemap import read_layer

    assert len(read_layer(path, bbox=box)) == len(olds[0])  # the far copies stay on disk
    got = match_previous(new, str(path))
    want = match_previous(new, olds[0])
    assert got["prev_patch_id"].tolist() == want["prev_patch_id"].tolist()
    assert (
        _box_in_source("postgresql://gis@db/onemap", None, new.crs, np.asarray(new.total_bounds))
        is None
    )
    assert _label("postgresql://gis:secret@db/onemap", 0) == "postgresql://gis:***@db/onemap"
