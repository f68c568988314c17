"""Exact coverage fractions: shapely oracle per pixel, area conservation, properties (hypothesis)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import onemap
from onemap.overlay.runs import layer_runs, prepare_layer

from ._polygons import (
    X0,
    Y0,
    frame_at,
    pixel_boxes_local,
    random_layer,
    star,
    to_local,
    voronoi_parcels,
)


def _oracle(geom, frame):
    """Exact fraction of every pixel covered by geom, by shapely intersection in local coordinates."""
    rows, cols = np.mgrid[0:frame.height, 0:frame.width]
    boxes = pixel_boxes_local(frame, rows.ravel(), cols.ravel())
    return (shapely.area(shapely.intersection(to_local(geom, frame), boxes)) / frame.pixel_area).reshape(frame.shape)


@pytest.mark.parametrize("seed", range(4))
def test_fractions_equal_shapely_intersections(seed):
    rng = np.random.default_rng(seed)
    frame = frame_at((23, 27), res=float(rng.choice([2.0, 0.5])))
    layer = random_layer(rng, frame, 6, snap=frame.res[0] * 0.5 if seed % 2 else None)
    cov = onemap.coverage_fractions(layer, frame)
    for label, geom in layer.geometry.items():
        np.testing.assert_allclose(cov.dense(label), _oracle(geom, frame), rtol=0, atol=1e-12)


def test_area_conservation_for_polygons_inside_the_frame():
    rng = np.random.default_rng(7)
    frame = frame_at((80, 90), res=2.0)
    inner = shapely.box(*frame.bounds).buffer(-10)
    parcels = voronoi_parcels(rng, frame, 60)
    parcels = parcels[parcels.within(inner)]
    assert len(parcels) > 20
    cov = onemap.coverage_fractions(parcels, frame)
    rel = np.abs(cov.area().to_numpy() - parcels.area.to_numpy()) / parcels.area.to_numpy()
    assert rel.max() < 1e-9
    assert cov.area().index.equals(parcels.index)


def test_partial_polygons_keep_only_the_inside_share():
    frame = frame_at((10, 10), res=1.0)
    poly = shapely.box(X0 - 5, Y0 - 4, X0 + 3.5, Y0 + 2)  # 3.5 x 4 inside
    cov = onemap.coverage_fractions(gpd.GeoDataFrame(geometry=[poly], crs=frame.crs), frame)
    assert cov.area().iloc[0] == pytest.approx(14.0, rel=1e-12)
    df = cov.to_dataframe()
    assert set(df.columns) == {"zone", "row", "col_start", "col_stop", "fraction"}
    assert (df.col_start >= 0).all() and (df.row >= 0).all()


def test_tiny_polygon_inside_one_pixel():
    frame = frame_at((3, 3), res=2.0)
    tiny = shapely.Polygon([(X0 + 2.1, Y0 - 3.9), (X0 + 2.4, Y0 - 3.2), (X0 + 2.05, Y0 - 3.1)])
    cov = onemap.coverage_fractions(gpd.GeoDataFrame(geometry=[tiny], crs=frame.crs), frame)
    assert len(cov.rows) == 1 and (cov.rows[0], cov.col_start[0]) == (1, 1)
    assert cov.fraction[0] * 4.0 == pytest.approx(tiny.area, rel=1e-12)


def test_interior_runs_are_whole_and_memory_is_sparse():
    frame = frame_at((200, 200), res=1.0)
    disk = shapely.Point(X0 + 100, Y0 - 100).buffer(90, quad_segs=64)
    cov = onemap.coverage_fractions(gpd.GeoDataFrame(geometry=[disk], crs=frame.crs), frame)
    runs = cov.to_dataframe()
    assert len(runs) < 6 * 2 * np.pi * 90  # O(boundary pixels), not O(pixels) (~25 000 here)
    assert runs.fraction.max() == 1.0 and (runs.col_stop - runs.col_start).max() > 100


def test_tiled_coverage_equals_untiled():
    rng = np.random.default_rng(5)
    frame = frame_at((41, 57), res=2.0)
    layer = voronoi_parcels(rng, frame, 25)
    whole = onemap.coverage_fractions(layer, frame)
    tiled = onemap.coverage_fractions(layer, frame, tile_size=(9, 14))
    np.testing.assert_allclose(tiled.area().to_numpy(), whole.area().to_numpy(), rtol=1e-12)
    for label in layer.index[:8]:
        np.testing.assert_allclose(tiled.dense(label), whole.dense(label), atol=1e-12)


# --------------------------------------------------------------------------- properties

_coords = st.floats(min_value=-6.0, max_value=26.0, allow_nan=False, allow_infinity=False)


@st.composite
def _polygons(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    cx, cy = draw(_coords), draw(_coords)
    scale = draw(st.floats(min_value=0.05, max_value=14.0))
    geom = star(np.random.default_rng(seed), (X0 + cx, Y0 - cy), scale)
    if draw(st.booleans()):  # snap to a coarse lattice: vertices and edges on pixel lines
        geom = shapely.make_valid(shapely.set_precision(geom, draw(st.sampled_from([0.25, 0.5, 1.0]))))
    parts = [p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and p.area > 0]
    return shapely.MultiPolygon(parts) if len(parts) > 1 else (parts[0] if parts else shapely.box(X0, Y0 - 1, X0 + 1, Y0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geom=_polygons(), tile=st.tuples(st.integers(3, 25), st.integers(3, 25)))
def test_properties_fractions_conservation_tiling(geom, tile):
    frame = frame_at((20, 20), res=1.0)
    layer = gpd.GeoDataFrame(geometry=[geom], crs=frame.crs)
    prep = prepare_layer(layer, frame)
    runs = layer_runs(prep, "fraction")
    # fractions in (0, 1], runs disjoint and inside the frame
    assert ((runs.weights > 0) & (runs.weights <= 1.0)).all()
    assert ((runs.c0 >= 0) & (runs.c1 <= 20) & (runs.c0 < runs.c1) & (runs.rows >= 0) & (runs.rows < 20)).all()
    dense = np.zeros(frame.shape)
    for r, a, b, w in zip(runs.rows, runs.c0, runs.c1, runs.weights):
        assert (dense[r, a:b] == 0).all()
        dense[r, a:b] = w
    # conservation: Σ fraction x pixel area == area of the polygon inside the frame
    inside = to_local(geom, frame).intersection(shapely.box(0, -20, 20, 0)).area
    assert dense.sum() == pytest.approx(inside, rel=1e-9, abs=1e-11)
    # tiling independence
    tiled = np.zeros(frame.shape)
    for t in frame.tiles(tile):
        rows, cols = t.window
        tr = layer_runs(prep, "fraction", (rows.start, rows.stop, cols.start, cols.stop))
        for r, a, b, w in zip(tr.rows, tr.c0, tr.c1, tr.weights):
            tiled[r, a:b] = w
    np.testing.assert_allclose(tiled, dense, rtol=0, atol=1e-12)
    # pixels whose centre is inside are covered; touched pixels include every covered one
    centre = layer_runs(prep, "centre")
    for r, a, b in zip(centre.rows, centre.c0, centre.c1):
        assert (dense[r, a:b] > 0).all()
    touched = np.zeros(frame.shape, dtype=bool)
    at = layer_runs(prep, "all_touched")
    for r, a, b in zip(at.rows, at.c0, at.c1):
        touched[r, a:b] = True
    assert touched[dense > 1e-9].all()


def test_windows_from_tiles_and_subframes_match():
    from onemap.overlay.runs import as_window

    rng = np.random.default_rng(12)
    frame = frame_at((30, 34), res=2.0)
    prep = prepare_layer(voronoi_parcels(rng, frame, 10), frame)
    for tile in frame.tiles(12, halo=2):
        a = layer_runs(prep, "fraction", tile)
        b = layer_runs(prep, "fraction", tile.frame)
        c = layer_runs(prep, "fraction", as_window(frame, tile.frame))
        for r in (b, c):
            np.testing.assert_array_equal(r.rows, a.rows)
            np.testing.assert_array_equal(r.weights, a.weights)
    with pytest.raises(onemap.errors.FrameError, match="not on the pixel lattice"):
        layer_runs(prep, "centre", frame_at((5, 5), res=2.0, x0=X0 + 1.0))
