import math

import numpy as np
import pyproj
import pytest

from onemap import crs as ocrs
from onemap.errors import CRSError


@pytest.mark.parametrize("zone", range(25, 46))
def test_gk3_prefixed_matches_epsg_definition(zone):
    c = ocrs.gk_crs(zone)
    assert c.to_epsg() == 4513 + zone - 25
    p = c.to_dict()
    assert p["lon_0"] == 3 * zone and p["x_0"] == zone * 1_000_000 + 500_000 and p["ellps"] == "GRS80"
    assert ocrs.gk_crs(central_meridian=3 * zone, prefix=False).to_epsg() == 4534 + zone - 25


@pytest.mark.parametrize("zone", range(13, 24))
def test_gk6(zone):
    assert ocrs.gk_crs(zone, width=6).to_epsg() == 4491 + zone - 13
    assert ocrs.gk_crs(central_meridian=6 * zone - 3, width=6, prefix=False).to_epsg() == 4502 + zone - 13


@pytest.mark.parametrize("datum,code", [("Xian1980", 2363), ("Beijing1954", 2415), ("CGCS2000", 4527)])
def test_datums(datum, code):
    assert ocrs.gk_crs(39, datum=datum).to_epsg() == code


def test_gk_out_of_china_zone_is_custom_tmerc():
    c = ocrs.gk_crs(50)
    assert c.to_epsg() is None
    x, _ = pyproj.Transformer.from_crs(4490, c, always_xy=True).transform(150.0, 30.0)
    assert abs(x - 50_500_000.0) < 1e-6


def test_gk_errors():
    with pytest.raises(CRSError):
        ocrs.gk_crs()
    with pytest.raises(CRSError):
        ocrs.gk_crs(39, central_meridian=117)
    with pytest.raises(CRSError, match="central meridian"):
        ocrs.gk_crs(central_meridian=118)
    with pytest.raises(CRSError):
        ocrs.gk_crs(39, width=4)
    with pytest.raises(CRSError, match="datum"):
        ocrs.gk_crs(39, datum="Tokyo")


def test_infer_zone_from_easting_and_lon():
    assert ocrs.infer_zone(easting=39_456_780.1) == 39
    assert ocrs.infer_zone(easting=20_456_780.1, width=None) == 20
    assert ocrs.infer_zone(easting=20_456_780.1, width=6) == 20
    with pytest.raises(CRSError, match="6° zone"):
        ocrs.infer_zone(easting=20_456_780.1, width=3)
    with pytest.raises(CRSError, match="no Gauss-Kruger zone prefix"):
        ocrs.infer_zone(easting=456_780.1)
    # longitude: the zone whose central meridian is nearest (3°) / whose strip contains it (6°)
    for lon in np.linspace(73.6, 134.9, 200):
        z3 = ocrs.infer_zone(lon=lon)
        assert abs(lon - 3 * z3) <= 1.5 + 1e-9
        z6 = ocrs.infer_zone(lon=lon, width=6)
        assert 6 * z6 - 6 <= lon < 6 * z6
    # a projected easting agrees with the zone inferred from its longitude
    t = pyproj.Transformer.from_crs(4490, 4527, always_xy=True)
    e, _ = t.transform(116.2, 36.0)
    assert ocrs.infer_zone(easting=e) == ocrs.infer_zone(lon=116.2) == 39


def test_is_prefixed():
    assert ocrs.is_prefixed([39_456_780.1, 39_457_000.0])
    assert not ocrs.is_prefixed([456_780.1, 457_000.0])
    assert not ocrs.is_prefixed([39_456_780.1, 40_456_780.1])  # mixed zones
    assert not ocrs.is_prefixed([])
    assert not ocrs.is_prefixed([24_500_000.0])  # 24 is no zone in China


def test_zone_info():
    zi = ocrs.zone_info(4527)
    assert (zi.datum, zi.width, zi.zone, zi.central_meridian, zi.prefixed) == ("CGCS2000", 3, 39, 117.0, True)
    zi = ocrs.zone_info(4548)  # 3-degree CM 117E: also a 6-degree meridian; the name decides
    assert (zi.width, zi.zone, zi.prefixed) == (3, 39, False)
    zi = ocrs.zone_info(4508)  # 6-degree CM 111E
    assert (zi.width, zi.zone) == (6, 19)
    assert ocrs.zone_info(2363).datum == "Xian1980"
    assert ocrs.zone_info(4326) is None
    assert ocrs.zone_info(32651) is None  # UTM has k0 = 0.9996


def test_helmert7_geographic_matches_pyproj_towgs84():
    params = (15.8, -154.4, -82.3, 0.1, 0.2, -0.3, 1.5)
    ours = ocrs.helmert7_transformer(4214, 4490, params)
    ref = pyproj.Transformer.from_crs(
        "+proj=longlat +ellps=krass +towgs84=" + ",".join(map(str, params)) + " +no_defs",
        "+proj=longlat +ellps=GRS80 +towgs84=0,0,0 +no_defs", always_xy=True)
    for lon, lat in [(117.0, 35.0), (100.5, 25.1), (125.3, 45.9)]:
        a = ours.transform(lon, lat)
        b = ref.transform(lon, lat)
        assert a == pytest.approx(b, abs=1e-10)


def test_helmert7_projected_composes_and_inverts():
    params = (-12.3, 130.5, 70.2, -0.5, 1.1, 0.9, -3.2)
    proj = ocrs.helmert7_transformer(2415, 4527, params)  # Beijing 1954 GK 39 -> CGCS2000 GK 39
    geo = ocrs.helmert7_transformer(4214, 4490, params)
    x, y = 39_456_780.0, 3_353_189.0
    lon, lat = pyproj.Transformer.from_crs(2415, 4214, always_xy=True).transform(x, y)
    lon2, lat2 = geo.transform(lon, lat)
    ex, ny = pyproj.Transformer.from_crs(4490, 4527, always_xy=True).transform(lon2, lat2)
    px, py = proj.transform(x, y)
    assert (px, py) == pytest.approx((ex, ny), abs=1e-6)
    # the shift is real (tens of metres), and the inverse returns the input
    assert math.hypot(px - x, py - y) > 10
    # PROJ inverts the Helmert rotation to first order: millimetres at these magnitudes
    bx, by = proj.transform(px, py, direction="INVERSE")
    assert (bx, by) == pytest.approx((x, y), abs=5e-3)


def test_helmert7_conventions_differ_by_rotation_sign():
    p = (1.0, 2.0, 3.0, 0.3, -0.2, 0.5, 1.0)
    q = (1.0, 2.0, 3.0, -0.3, 0.2, -0.5, 1.0)
    a = ocrs.helmert7_transformer(4214, 4490, p, convention="coordinate_frame").transform(117.0, 35.0)
    b = ocrs.helmert7_transformer(4214, 4490, q, convention="position_vector").transform(117.0, 35.0)
    assert a == pytest.approx(b, abs=1e-10)
    with pytest.raises(CRSError):
        ocrs.helmert7_transformer(4214, 4490, (1, 2, 3))
    with pytest.raises(CRSError):
        ocrs.helmert7_transformer(4214, 4490, p, convention="bogus")


def test_planar4_fit_apply_inverse_roundtrip():
    truth = ocrs.Planar4(dx=-35.2, dy=112.9, rotation_arcsec=2.7, scale_ppm=-4.1)
    rng = np.random.default_rng(0)
    src = rng.uniform([450_000, 3_300_000], [470_000, 3_320_000], size=(12, 2))
    dst = np.column_stack(truth(src[:, 0], src[:, 1]))
    est = ocrs.Planar4.fit(src, dst)
    assert est.dx == pytest.approx(truth.dx, abs=1e-4)
    assert est.dy == pytest.approx(truth.dy, abs=1e-4)
    assert est.rotation_arcsec == pytest.approx(truth.rotation_arcsec, abs=1e-6)
    assert est.scale_ppm == pytest.approx(truth.scale_ppm, abs=1e-6)
    back = est.inverse()(dst[:, 0], dst[:, 1])
    np.testing.assert_allclose(np.column_stack(back), src, atol=1e-6)
    # the scalar helper is the same transform
    x, y = ocrs.planar4(src[:, 0], src[:, 1], -35.2, 112.9, 2.7, -4.1)
    np.testing.assert_allclose(np.column_stack([x, y]), dst, atol=1e-9)
    with pytest.raises(CRSError):
        ocrs.Planar4.fit(src[:1], dst[:1])
