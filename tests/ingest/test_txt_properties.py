"""Property tests: write_boundary_txt -> read_boundary_txt keeps geometry, attributes and header.

Random parcels are valid by construction: each part is a rotated rectangle, its holes are smaller
rotated rectangles inside disjoint cells of it (with a margin), parts sit side by side with gaps.
Random text (Chinese included) goes into the parcel fields and the header; files are written in
GBK, GB18030, UTF-8, UTF-8 with BOM or UTF-16 with random line ends, precisions and area units.
The oracle is the input itself: ``shapely.equals_exact`` within half a unit of the written
precision, identical attributes, the plane area within the rounding. Hypothesis runs
derandomized (the same examples on every run), with a modest number of examples.
"""

from __future__ import annotations

import math
import warnings

import geopandas as gpd
import numpy as np
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onemap.crs import gk_crs
from onemap.ingest.boundary_txt import read_boundary_txt, write_boundary_txt

PROFILE = settings(max_examples=40, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# GBK-encodable text: common characters of land records, letters, digits, full-width punctuation
_GBK_CHARS = "测绘院地块项目甲乙丙丁城东西南北片区建设用地农村宅基集体国有住宅工业仓储商服（）·－＃，ABCXYZabcxyz0123456789-_/#() "
_EXTRA_CHARS = "\U00020000\U0002a6a5𠀀"  # CJK extension B: GB18030 / UTF-8 / UTF-16 only
_ENCODINGS = {"gbk": {"gbk", "utf-8"}, "gb18030": {"gbk", "gb18030", "utf-8"}, "utf-8": {"utf-8"},
              "utf-8-sig": {"utf-8-sig"}, "utf-16": {"utf-16"}}


def _text(alphabet: str, max_size: int = 14):
    return st.text(alphabet=alphabet, max_size=max_size).map(str.strip)


def rotated_rect(cx: float, cy: float, w: float, h: float, angle: float) -> np.ndarray:
    """Closed ring of a w x h rectangle centred on (cx, cy), rotated by *angle* radians."""
    c, s = math.cos(angle), math.sin(angle)
    local = np.array([(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2), (-w / 2, -h / 2)])
    return np.column_stack([cx + local[:, 0] * c - local[:, 1] * s, cy + local[:, 0] * s + local[:, 1] * c])


@st.composite
def part(draw, cx: float, cy: float):
    """A rotated rectangle with 0-3 rotated rectangular holes in disjoint cells along its width."""
    w, h = draw(st.floats(30, 400)), draw(st.floats(30, 400))
    angle = draw(st.floats(0, math.pi))
    n_holes = draw(st.integers(0, 3))
    c, s = math.cos(angle), math.sin(angle)
    holes = []
    cell = w / max(n_holes, 1)
    for k in range(n_holes):
        # the hole's centre in the rectangle's own frame, its size at most 60 % of the cell
        hw, hh = draw(st.floats(0.15, 0.6)) * cell, draw(st.floats(0.15, 0.6)) * h
        lx = -w / 2 + cell * (k + 0.5)
        ly = draw(st.floats(-0.15, 0.15)) * h
        holes.append(rotated_rect(cx + lx * c - ly * s, cy + lx * s + ly * c, hw, hh, angle))
    poly = shapely.Polygon(rotated_rect(cx, cy, w, h, angle), holes)
    assert poly.is_valid, shapely.is_valid_reason(poly)
    return poly


@st.composite
def parcel_geometry(draw, x0: float, y0: float):
    """Polygon or MultiPolygon of 1-3 parts placed 600 m apart (no overlaps)."""
    n = draw(st.integers(1, 3))
    parts = [draw(part(x0 + 600 * k, y0)) for k in range(n)]
    return parts[0] if n == 1 and draw(st.booleans()) else shapely.MultiPolygon(parts)


@st.composite
def layers(draw):
    width = draw(st.sampled_from([3, 6]))
    zone = draw(st.integers(25, 45) if width == 3 else st.integers(13, 23))
    datum = draw(st.sampled_from(["CGCS2000", "Xian1980", "Beijing1954"]))
    prefixed = draw(st.booleans())
    encoding = draw(st.sampled_from(sorted(_ENCODINGS)))
    alphabet = _GBK_CHARS + ("" if encoding == "gbk" else _EXTRA_CHARS)
    n = draw(st.integers(1, 4))
    x0 = draw(st.floats(400_000, 560_000)) + (zone * 1_000_000 if prefixed else 0)
    y0 = draw(st.floats(2_000_000, 5_000_000))
    geoms = [draw(parcel_geometry(x0, y0 + 1_000 * i)) for i in range(n)]
    columns = {key: [draw(_text(alphabet)) or None for _ in range(n)]
               for key in ("DKBH", "DKMC", "TFH", "DKYT", "DLBM")}
    layer = gpd.GeoDataFrame(columns, geometry=geoms,
                             crs=gk_crs(zone, width=width, prefix=prefixed, datum=datum))
    header = {"数据产生单位": draw(_text(alphabet, 30)), "数据产生日期": draw(_text("0123456789-年月日", 10)),
              "格式版本号": draw(st.sampled_from(["1.01版本", "1．01版本", "1.0", ""])),
              "备注": draw(_text(alphabet + "=：[]【】@", 20))}
    options = {"encoding": encoding, "newline": draw(st.sampled_from(["\r\n", "\n"])),
               "area_unit": draw(st.sampled_from(["ha", "m2"])), "precision": draw(st.integers(2, 4)),
               "point_prefix": draw(st.sampled_from(["J", "", "P", "界址"])), "header": header}
    return layer, zone, gk_crs(zone, width=width, prefix=True, datum=datum), options


def _read(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        back = read_boundary_txt(path)
    return back, caught


@PROFILE
@given(case=layers())
def test_write_read_round_trip(tmp_path_factory, case):
    layer, zone, crs, options = case
    path = tmp_path_factory.mktemp("txt") / "parcels.txt"
    write_boundary_txt(layer, path, **options)
    back, caught = _read(path)

    assert back.crs == crs and len(back) == len(layer)
    assert back.attrs["encoding"] in _ENCODINGS[options["encoding"]]
    # only the guessed encoding may be reported: nothing else was wrong with the file
    assert [r.where for r in back.attrs["repairs"]] in ([], ["encoding"])
    assert not [w for w in caught if "repair" not in str(w.message)], [str(w.message) for w in caught]

    # geometry: the input moved to prefixed eastings, oriented as the reader returns it (a
    # one-part MultiPolygon is a Polygon: the format does not tell them apart)
    shift = 0.0 if layer.crs == crs else zone * 1_000_000.0
    expected = shapely.orient_polygons(shapely.transform(layer.geometry.values, lambda xy: xy + [shift, 0.0]))
    expected = np.array([g.geoms[0] if g.geom_type == "MultiPolygon" and len(g.geoms) == 1 else g
                         for g in expected], dtype=object)
    half_unit = 0.5 * 10.0 ** -options["precision"]
    tol = half_unit * math.sqrt(2) + 1e-7  # equals_exact compares point distances
    assert shapely.equals_exact(back.geometry.values, expected, tolerance=tol).all()
    assert list(back.geom_type) == [g.geom_type for g in expected]
    assert shapely.is_valid(back.geometry.values).all()
    np.testing.assert_allclose(back["plane_area"], shapely.area(back.geometry.values), rtol=1e-12)
    assert (np.abs(back["plane_area"] - shapely.area(expected)) <= 2 * half_unit * shapely.length(expected)).all()

    # attributes: text exactly as written, parcels without an id numbered from 1
    ids = [v if isinstance(v, str) else str(i + 1) for i, v in enumerate(layer["DKBH"])]
    assert list(back["parcel_id"]) == ids
    for src, col in (("DKMC", "name"), ("TFH", "sheet"), ("DKYT", "use"), ("DLBM", "landuse_code")):
        assert list(back[col]) == [v if isinstance(v, str) else None for v in layer[src]], col
    assert (back["shape_type"] == "面").all()
    rings = [sum(1 + len(p.interiors) for p in getattr(g, "geoms", [g])) for g in layer.geometry]
    points = [len(shapely.get_coordinates(g)) for g in layer.geometry]  # closing points included
    assert list(back["point_count"]) == points and all(p >= 5 * r for p, r in zip(points, rings))
    assert (back["area_unit"] == options["area_unit"]).all() and (back["area_check"] == "ok").all()
    header = back.attrs["header"]
    assert all(header[k] == v for k, v in options["header"].items()), header
    assert header["带号"] == str(zone)


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=layers(), second=st.sampled_from(["gb18030", "utf-8", "utf-8-sig", "utf-16"]))
def test_encoding_does_not_change_the_result(tmp_path_factory, case, second):
    layer, _, _, options = case
    folder = tmp_path_factory.mktemp("enc")
    first = write_boundary_txt(layer, folder / "a.txt", **options)
    other = write_boundary_txt(layer, folder / "b.txt", **{**options, "encoding": second})
    a, b = _read(first)[0], _read(other)[0]
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert shapely.equals_exact(a.geometry.values, b.geometry.values, tolerance=0).all()
    assert a.attrs["header"] == b.attrs["header"]
