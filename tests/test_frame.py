import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from onemap import Frame
from onemap.errors import CRSError, FormatError, FrameError


def test_from_bounds_snaps_outwards_to_lattice():
    f = Frame.from_bounds((500_001.0, 3_000_003.0, 500_099.0, 3_000_055.0), res=2.0, crs=4527)
    assert f.bounds == (500_000.0, 3_000_002.0, 500_100.0, 3_000_056.0)
    assert f.shape == (27, 50)
    assert f.res == (2.0, 2.0) and f.pixel_area == 4.0
    # two frames of one resolution share the lattice
    g = Frame.from_bounds((500_037.3, 3_000_011.1, 500_311.0, 3_000_099.9), res=2.0, crs="EPSG:4527")
    assert f.aligned_with(g) and g.aligned_with(f)
    h = Frame.from_bounds((500_001.0, 3_000_003.0, 500_099.0, 3_000_055.0), res=2.0, crs=4527, snap=False)
    assert not f.aligned_with(h)


def test_crs_accepts_user_input_forms():
    from pyproj import CRS

    a = Frame.from_bounds((0, 0, 10, 10), 1, 4527)
    b = Frame.from_bounds((0, 0, 10, 10), 1, "EPSG:4527")
    c = Frame.from_bounds((0, 0, 10, 10), 1, CRS.from_epsg(4527))
    assert a == b == c
    assert hash(a) == hash(b)
    with pytest.raises(CRSError):
        Frame.from_bounds((0, 0, 10, 10), 1, "not a crs")


def test_immutable_and_repr():
    f = Frame.from_bounds((0, 0, 10, 20), 2, 4527)
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        f.shape = (1, 1)
    assert repr(f) == "Frame(EPSG:4527, res=2, shape=(10, 5), bounds=(0, 0, 10, 20))"


def test_rejects_rotation_and_bad_sizes():
    with pytest.raises(FrameError):
        Frame(4527, Affine(1, 0.5, 0, 0, -1, 0), (2, 2))
    with pytest.raises(FrameError):
        Frame(4527, Affine(1, 0, 0, 0, 1, 0), (2, 2))  # south-up
    with pytest.raises(FrameError):
        Frame.from_bounds((0, 0, -1, 1), 1, 4527)
    with pytest.raises(FrameError):
        Frame.from_bounds((0, 0, 1, 1), 0, 4527)


@pytest.mark.parametrize("size,halo", [(7, 0), (7, 2), ((5, 11), 1), (100, 3), (1, 0)])
def test_tiles_cover_exactly(size, halo):
    f = Frame.from_bounds((0, 0, 46, 34), 2, 4527)  # 17 x 23
    cover = np.zeros(f.shape, dtype=int)
    base = np.arange(f.height * f.width).reshape(f.shape)
    for t in f.tiles(size, halo=halo):
        rows, cols = t.window
        block = base[rows, cols]
        assert block.shape == t.halo_frame.shape
        core = block[t.core]
        assert core.shape == t.frame.shape
        r, c = f.window(t.frame.bounds)
        np.testing.assert_array_equal(core, base[r, c])
        cover[r, c] += 1
        assert t.frame == f.subframe(r, c)
        assert t.halo_frame.aligned_with(f)
        # halo is clipped at the frame's edges and at most `halo` wide
        assert rows.start == max(0, r.start - halo) and rows.stop == min(f.height, r.stop + halo)
    assert (cover == 1).all()


def test_window_and_crop():
    f = Frame.from_bounds((0, 0, 100, 50), 10, 4527)  # 5 x 10
    rows, cols = f.window((15, 12, 41, 30))
    assert (rows, cols) == (slice(2, 4), slice(1, 5))
    sub = f.crop((15, 12, 41, 30))
    assert sub.bounds == (10.0, 10.0, 50.0, 30.0)
    rows, cols = f.window((500, 500, 600, 600))
    assert rows.stop - rows.start == 0 or cols.stop - cols.start == 0
    assert f.crop((-100, -100, 1000, 1000)) == f


def test_xy_rowcol_coords_roundtrip():
    f = Frame.from_bounds((1000, 2000, 1100, 2050), 5, 4527)
    r, c = np.array([0, 3, 9]), np.array([0, 7, 19])
    x, y = f.xy(r, c)
    rr, cc = f.rowcol(x, y)
    np.testing.assert_array_equal(rr, r)
    np.testing.assert_array_equal(cc, c)
    co = f.coords()
    assert co["x"][0] == 1002.5 and co["y"][0] == 2047.5
    assert len(co["x"]) == f.width and len(co["y"]) == f.height


def test_from_raster_matches_rasterio(tmp_path):
    path = tmp_path / "a.tif"
    t = Affine(0.5, 0, 39_500_000.0, 0, -0.5, 3_300_000.0)
    with rasterio.open(path, "w", driver="GTiff", width=40, height=30, count=1, dtype="uint8",
                       crs="EPSG:4527", transform=t) as dst:
        dst.write(np.zeros((1, 30, 40), "uint8"))
    f = Frame.from_raster(path)
    assert f.shape == (30, 40) and f.crs.to_epsg() == 4527 and f.transform == t
    with rasterio.open(path) as src:
        assert f.bounds == tuple(src.bounds)
        sub = f.subframe(slice(3, 13), slice(5, 25))
        assert sub.transform == src.window_transform(Window(5, 3, 20, 10))


def test_from_raster_errors(tmp_path):
    with pytest.raises(FormatError, match="missing.tif"):
        Frame.from_raster(tmp_path / "missing.tif")
    path = tmp_path / "nocrs.tif"
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8",
                       transform=Affine(1, 0, 0, 0, -1, 4)) as dst:
        dst.write(np.zeros((1, 4, 4), "uint8"))
    with pytest.raises(CRSError, match="no CRS"):
        Frame.from_raster(path)


def test_from_xarray_rioxarray(tmp_path):
    import rioxarray

    path = tmp_path / "b.tif"
    t = Affine(10, 0, 400_000.0, 0, -10, 3_000_000.0)
    with rasterio.open(path, "w", driver="GTiff", width=8, height=6, count=2, dtype="float32",
                       crs="EPSG:32651", transform=t) as dst:
        dst.write(np.ones((2, 6, 8), "float32"))
    da = rioxarray.open_rasterio(path)
    assert Frame.from_xarray(da) == Frame.from_raster(path)


# ---------------------------------------------------------------- equality and hash: one rule
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from pyproj import CRS as _CRS  # noqa: E402

_CRS_FORMS = {  # spellings of one CRS that pyproj holds equal
    4527: [4527, "EPSG:4527", _CRS.from_epsg(4527), _CRS.from_epsg(4527).to_wkt()],
    4326: [4326, "EPSG:4326", _CRS.from_epsg(4326), _CRS.from_epsg(4326).to_wkt()],
}
_coef = st.floats(-1e7, 1e7, allow_nan=False, allow_infinity=False)
_res = st.floats(1e-4, 1e4, allow_nan=False, allow_infinity=False)


@st.composite
def _frame_pairs(draw):
    """Two frames: each part either equal (maybe spelt differently) or nudged by one ulp."""
    epsg = draw(st.sampled_from(sorted(_CRS_FORMS)))
    other_epsg = draw(st.sampled_from(sorted(_CRS_FORMS)))
    coefs = [draw(_res), draw(_coef), -draw(_res), draw(_coef)]  # a, c, e, f
    shape = (draw(st.integers(0, 50)), draw(st.integers(0, 50)))
    nudge = draw(st.sampled_from([None, 0, 1, 2, 3]))
    coefs2 = list(coefs)
    if nudge is not None:
        coefs2[nudge] = float(np.nextafter(coefs2[nudge], np.inf))
    shape2 = shape if draw(st.booleans()) else (shape[0] + 1, shape[1])
    a, c, e, f = coefs
    a2, c2, e2, f2 = coefs2
    one = Frame(draw(st.sampled_from(_CRS_FORMS[epsg])), Affine(a, 0, c, 0, e, f), shape)
    two = Frame(draw(st.sampled_from(_CRS_FORMS[other_epsg])), Affine(a2, 0, c2, 0, e2, f2), shape2)
    same = epsg == other_epsg and nudge is None and shape2 == shape
    return one, two, same


@settings(max_examples=300, deadline=None)
@given(_frame_pairs())
def test_frame_eq_hash_contract(pair):
    one, two, same = pair
    assert one == one and hash(one) == hash(Frame(one.crs, one.transform, one.shape))
    assert (one == two) == (two == one) == same  # symmetric, and exact: one ulp is a difference
    if one == two:
        assert hash(one) == hash(two)
        assert len({one, two}) == 1
    # almost_equals is the named approximate rule: one ulp passes, other CRS or shape never does
    close = one.crs == two.crs and one.shape == two.shape
    assert one.almost_equals(two, tol=1e-6 * max(1.0, *map(abs, tuple(one.transform)[:6]))) == close


def test_frame_rejects_non_finite_transform():
    with pytest.raises(FrameError, match="non-finite"):
        Frame(4527, Affine(float("nan"), 0, 0, 0, -1, 0), (2, 2))
