"""Partitioned flag_unapproved (partition_size=, client=) gives the unpartitioned result, exactly.

The reference is the unpartitioned call, which tests/test_enforce.py checks against independent
shapely/pyproj.Geod overlays; here a small synthetic county (jittered land-use grid, rotated patches,
approvals around some of them) and real land-use polygons are judged whole and in partitions.
"""

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.affinity

from onemap._partition import layer_subsets, map_partitions, spatial_partitions
from onemap.enforce import flag_unapproved
from onemap.errors import DataError, OnemapWarning

CRS = 4527
X0, Y0 = 39_500_000.0, 3_300_000.0
CODES = np.array(["0101", "0103", "0301", "0702", "0601", "1101", "0404", "9999"], dtype=object)


def quads(rng, n, lo, hi, extent):
    cx, cy = X0 + rng.uniform(0, extent, n), Y0 + rng.uniform(0, extent, n)
    w, h, a = rng.uniform(lo, hi, n), rng.uniform(lo, hi, n), rng.uniform(0, np.pi / 2, n)
    return [shapely.affinity.rotate(shapely.box(x - u / 2, y - v / 2, x + u / 2, y + v / 2), t, use_radians=True)
            for x, y, u, v, t in zip(cx, cy, w, h, a)]


@pytest.fixture(scope="module")
def county():
    rng = np.random.default_rng(7)
    side, cell = 40, 50.0
    gx, gy = np.meshgrid(np.arange(side + 1) * cell, np.arange(side + 1) * cell)
    jit = rng.uniform(-15, 15, (2, side + 1, side + 1))
    nx, ny = X0 + gx + jit[0], Y0 + gy + jit[1]
    landuse_geoms = [shapely.Polygon([(nx[r, c], ny[r, c]), (nx[r, c + 1], ny[r, c + 1]),
                                      (nx[r + 1, c + 1], ny[r + 1, c + 1]), (nx[r + 1, c], ny[r + 1, c])])
                     for r in range(side) for c in range(side)]
    landuse = gpd.GeoDataFrame({"DLBM": rng.choice(CODES, len(landuse_geoms), p=[.2, .2, .2, .15, .1, .05, .05, .05])},
                               geometry=landuse_geoms, crs=CRS)
    extent = side * cell
    patch_geoms = quads(rng, 150, 10, 90, extent)
    # a long strip across the county: it straddles every partition border
    patch_geoms.append(shapely.box(X0 + 20, Y0 + 990, X0 + extent - 20, Y0 + 1010))
    patches = gpd.GeoDataFrame({"score": rng.uniform(size=len(patch_geoms))}, geometry=patch_geoms, crs=CRS,
                               index=pd.Index(rng.permutation(len(patch_geoms)) * 3 + 5, name="fid"))
    near = [shapely.affinity.scale(g, f, f) for g, f in zip(patch_geoms[:60], rng.uniform(0.6, 1.4, 60))]
    approvals = gpd.GeoDataFrame({"approval_id": [f"PZ{i}" for i in range(80)]},
                                 geometry=near + quads(rng, 20, 30, 200, extent), crs=CRS)
    farmland = gpd.GeoDataFrame(geometry=quads(rng, 25, 100, 400, extent), crs=CRS)
    redline = gpd.GeoDataFrame(geometry=quads(rng, 5, 200, 600, extent), crs=CRS)
    cadastral = gpd.GeoDataFrame({"ZDDM": [f"Z{i}" for i in range(100)]},
                                 geometry=[shapely.box(X0 + i * 200, Y0 + j * 200, X0 + (i + 1) * 200, Y0 + (j + 1) * 200)
                                           for j in range(10) for i in range(10)], crs=CRS)
    admin = gpd.GeoDataFrame({"admin_code": ["T1", "T2", "T3"], "admin_name": ["东镇", "西镇", "北镇"]},
                             geometry=[shapely.box(X0, Y0, X0 + 900, Y0 + 1000), shapely.box(X0 + 900, Y0, X0 + 2000, Y0 + 1000),
                                       shapely.box(X0, Y0 + 1000, X0 + 2000, Y0 + 2000)], crs=CRS)
    return {"patches": patches, "approvals": approvals, "landuse": landuse, "farmland": farmland, "redline": redline,
                "cadastral": cadastral, "admin": admin}


@pytest.fixture(scope="module")
def whole(county):
    return flag_unapproved(**county)


def assert_same(got, ref):
    """Same columns, dtypes, index, verdicts, ids and geometry; areas to 1e-9 relative."""
    assert list(got.columns) == list(ref.columns)
    pd.testing.assert_index_equal(got.index, ref.index, exact=True)
    pd.testing.assert_frame_equal(got, ref, check_exact=False, rtol=1e-9, atol=0, check_index_type=True)
    assert got.attrs == ref.attrs


def test_the_reference_is_a_real_mix(whole):
    # the county exercises every branch the partitions must reproduce
    assert set(whole["verdict"]) >= {"approved", "unapproved", "partly_approved", "check"}
    assert (whole["approval_ids"] != "").sum() > 40 and (whole["unapproved_farmland_m2"] > 0).sum() > 5
    assert (whole["unapproved_redline_m2"] > 0).any() and set(whole["admin_code"]) == {"T1", "T2", "T3"}


@pytest.mark.parametrize("size", [7, 40, 150, 151, 10_000])
def test_partitioned_equals_whole(county, whole, size):
    got = flag_unapproved(**county, partition_size=size)
    assert_same(got, whole)


def test_strip_across_partitions(county, whole):
    strip = county["patches"].index[-1]
    got = flag_unapproved(**county, partition_size=5)
    row, ref = got.loc[strip], whole.loc[strip]
    assert row["area_m2"] == pytest.approx(1960 * 20, rel=1e-3) and row["area_m2"] == ref["area_m2"]
    assert row["parcel_ids"] == ref["parcel_ids"] and len(row["parcel_ids"].split(";")) >= 10  # spans the county
    assert row["unapproved_by_code"] == ref["unapproved_by_code"]
    # its partition's land-use subset reaches far beyond the other patches of that partition
    geoms = np.asarray(county["patches"].geometry.values)
    parts = spatial_partitions(geoms, 5)
    k = next(k for k, p in enumerate(parts) if len(geoms) - 1 in p)
    sub = layer_subsets(geoms, parts, county["landuse"])[k]
    hit = shapely.intersects(np.asarray(county["landuse"].geometry.values), geoms[-1])
    assert set(np.flatnonzero(hit)) <= set(county["landuse"].index.get_indexer(sub.index))


def test_partitions_and_subsets_against_brute_force(county):
    geoms = np.asarray(county["patches"].geometry.values)
    parts = spatial_partitions(geoms, 20)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(geoms)))
    assert all(1 <= len(p) <= 20 and np.all(np.diff(p) > 0) for p in parts)
    landuse = county["landuse"]
    lu_boxes = shapely.box(*shapely.bounds(np.asarray(landuse.geometry.values)).T)
    for pos, sub in zip(parts, layer_subsets(geoms, parts, landuse)):
        boxes = shapely.box(*shapely.bounds(geoms[pos]).T)
        expect = np.flatnonzero(shapely.intersects(lu_boxes[:, None], boxes[None, :]).any(axis=1))
        np.testing.assert_array_equal(landuse.index.get_indexer(sub.index), expect)  # layer order kept
    # partitions are compact: their summed bounding-box area is far below random groups'
    def box_area(groups):
        return sum(shapely.area(shapely.envelope(shapely.union_all(shapely.centroid(geoms[g])))) for g in groups)
    random_groups = np.array_split(np.random.default_rng(0).permutation(len(geoms)), len(parts))
    assert box_area(parts) < 0.3 * box_area(random_groups)


def test_single_patch_partitions_with_empty_layer_subsets(county):
    # one patch per partition: most partitions meet no approval, farmland or red line at all
    sub = county | {"patches": county["patches"].iloc[55:85]}  # patches 60.. have no approval drawn around them
    ref = flag_unapproved(**sub)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an empty subset is not an empty layer: no warning
        got = flag_unapproved(**sub, partition_size=1)
    assert_same(got, ref)
    geoms = np.asarray(sub["patches"].geometry.values)
    parts = spatial_partitions(geoms, 1)
    assert any(len(s) == 0 for s in layer_subsets(geoms, parts, county["approvals"]))


def test_no_patches(county):
    empty = county | {"patches": county["patches"].iloc[0:0]}
    ref = flag_unapproved(**empty)
    got = flag_unapproved(**empty, partition_size=10)
    assert len(got) == 0 and list(got.columns) == list(ref.columns)
    assert spatial_partitions(np.empty(0, object), 10)[0].size == 0


@pytest.mark.parametrize("approvals", ["none", "empty"])
def test_no_approvals(county, approvals):
    data = county | {"approvals": None if approvals == "none" else county["approvals"].iloc[0:0]}
    with pytest.warns(OnemapWarning, match="empty"):
        ref = flag_unapproved(**data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = flag_unapproved(**data, partition_size=16)
    assert len([w for w in caught if issubclass(w.category, OnemapWarning)]) == 1  # once, not per partition
    assert_same(got, ref)
    assert set(got["verdict"]) <= {"unapproved", "existing_construction", "check"}


def test_layers_in_other_crs_reprojected(county):
    other = county | {"landuse": county["landuse"].to_crs(4548), "approvals": county["approvals"].to_crs(4490),
                      "admin": county["admin"].to_crs(4548)}
    ref = flag_unapproved(**other, reproject=True)
    got = flag_unapproved(**other, reproject=True, partition_size=30)
    assert_same(got, ref)
    assert got.attrs["reprojected"] == ["approvals", "landuse", "admin"]


def test_frame_edge_and_patch_ids_survive_partitioning(county):
    from onemap import Frame

    frame = Frame.from_bounds((X0, Y0, X0 + 1500, Y0 + 1500), 2.0, CRS)
    patches = county["patches"].reset_index(drop=True)
    patches.index = patches.index.astype(str)  # non-integer index: patch_id numbers the rows
    data = county | {"patches": patches}
    ref = flag_unapproved(**data, frame=frame)
    got = flag_unapproved(**data, frame=frame, partition_size=11)
    assert_same(got, ref)
    assert got["patch_id"].tolist() == list(range(1, len(patches) + 1))
    assert 0 < got["at_frame_edge"].sum() < len(got)


def test_bad_partition_size(county):
    for bad in (0, -3, 2.5, True):
        with pytest.raises(DataError, match="partition_size"):
            flag_unapproved(**county, partition_size=bad)


def test_map_partitions_restores_order():
    feats = gpd.GeoDataFrame({"v": np.arange(50)}, geometry=shapely.points(np.arange(50) % 7 * 100.0, np.arange(50) // 7 * 100.0),
                             index=pd.Index(np.arange(50)[::-1], name="k"))
    zones = gpd.GeoDataFrame(geometry=[shapely.box(-50, -50, 350, 350)])

    def count_zones(f, zones):
        return f.assign(n=shapely.intersects(np.asarray(f.geometry.values)[:, None],
                                             np.asarray(zones.geometry.values)[None, :]).sum(axis=1))

    got = map_partitions(count_zones, feats, {"zones": zones}, partition_size=6)
    pd.testing.assert_index_equal(got.index, feats.index, exact=True)
    assert got["v"].tolist() == list(range(50))
    assert got["n"].tolist() == [int(x <= 300 and y <= 300) for x, y in zip(np.arange(50) % 7 * 100, np.arange(50) // 7 * 100)]


def test_real_landuse_polygons(shared_data):
    lulc = gpd.read_file(shared_data / "geo/eolearn_patch/TestEOPatch/vector_timeless/LULC.gpkg")
    names = {"cultivated land": "0103", "forest": "0301", "grassland": "0404", "schrubland": "0305",
             "artificial surface": "0702"}
    landuse = gpd.GeoDataFrame({"landuse_code": lulc["LULC_NAME"].map(names).fillna("")},
                               geometry=lulc.geometry, crs=lulc.crs)
    rng = np.random.default_rng(3)
    x0, y0, x1, y1 = landuse.total_bounds
    cx, cy = rng.uniform(x0, x1, 120), rng.uniform(y0, y1, 120)
    s = rng.uniform(10, 80, 120)
    patches = gpd.GeoDataFrame(geometry=shapely.box(cx, cy, cx + s, cy + s), crs=lulc.crs)
    approvals = gpd.GeoDataFrame({"approval_id": ["A", "B"]}, geometry=[shapely.box(x0, y0, (x0 + x1) / 2, (y0 + y1) / 2),
                                                                         shapely.box((x0 + x1) / 2, (y0 + y1) / 2, x1, y1)],
                                 crs=lulc.crs)
    ref = flag_unapproved(patches, approvals, landuse)
    for size in (9, 60):
        assert_same(flag_unapproved(patches, approvals, landuse, partition_size=size), ref)
    assert len(set(ref["verdict"])) >= 3


def test_distributed_local_cluster(county, whole):
    distributed = pytest.importorskip("distributed")
    from onemap import Frame

    frame = Frame.from_bounds((X0, Y0, X0 + 1500, Y0 + 1500), 2.0, CRS)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        with distributed.get_task_stream(client) as stream:
            got = flag_unapproved(**county, partition_size=25, client=client)
        framed = flag_unapproved(**county, frame=frame, client=client)  # default partition size
    assert_same(got, whole)
    assert_same(framed, flag_unapproved(**county, frame=frame))
    runs = [t for t in stream.data if t["key"].startswith("_run")]
    assert len(runs) == len(spatial_partitions(np.asarray(county["patches"].geometry.values), 25)) == 7
    assert len({t["worker"] for t in runs}) == 2  # the partitions ran on both worker processes
