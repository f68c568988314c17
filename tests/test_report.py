"""The survey report: Chinese by default, offline, its map works in headless Chromium and nothing
from a layer runs as code."""

import os
import re
import subprocess

import geopandas as gpd
import numpy as np
import pytest
import shapely
import xarray as xr

from onemap import Frame
from onemap.enforce import flag_unapproved
from onemap.report import write_report
from onemap.summary import summarize

X0, Y0 = 39_500_000.0, 3_300_000.0
PAYLOADS = [
    "<script>document.body.setAttribute('data-pwned','script')</script>",
    "\"><img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">",
    "'><svg onload=\"document.body.setAttribute('data-pwned','svg')\">",
]


def box(x, y, w, h):
    return shapely.box(X0 + x, Y0 + y, X0 + x + w, Y0 + y + h)


@pytest.fixture(scope="module")
def case():
    """A 400 m square frame at 2 m, eight patches, layers whose names and ids carry HTML/JS."""
    frame = Frame.from_bounds((X0, Y0, X0 + 400, Y0 + 400), 2.0, 4527)
    rng = np.random.default_rng(3)
    coords = frame.coords()

    def scene(date, source):
        data = rng.uniform(0, 1000, size=(3, *frame.shape)).astype("float32")
        return xr.DataArray(
            data,
            dims=("band", "y", "x"),
            coords={"band": ["red", "green", "blue"], **coords},
            attrs={"date": date, "date_source": source, "crs": "EPSG:4527"},
        )

    before, after = scene("2022-05-06", "config"), scene("2023-09-22", "filename")
    patches = gpd.GeoDataFrame(
        {"id": range(1, 9)},
        geometry=[box(20 + 45 * i, 40 + 30 * (i % 3), 30, 24) for i in range(8)],
        crs=4527,
    )
    landuse = gpd.GeoDataFrame(
        {"landuse_code": ["0101", "0702"], "landuse_name": [PAYLOADS[0], "村庄"]},
        geometry=[box(0, 0, 400, 200), box(0, 200, 400, 200)],
        crs=4527,
    )
    approvals = gpd.GeoDataFrame(
        {"approval_id": [PAYLOADS[1]], "name": [PAYLOADS[2]]},
        geometry=[box(0, 0, 120, 400)],
        crs=4527,
    )
    admin = gpd.GeoDataFrame(
        {"admin_code": ["050801001000", "050801002000"], "admin_name": [PAYLOADS[0], PAYLOADS[1]]},
        geometry=[box(0, 0, 200, 400), box(200, 0, 200, 400)],
        crs=4527,
    )
    verdicts = flag_unapproved(
        patches.rename(columns={"id": "patch_id"}), approvals, landuse, admin=admin
    )
    summary = summarize(verdicts)
    layers = {"landuse": landuse, "approvals": approvals, "admin": admin}
    return frame, before, after, verdicts, summary, layers


def report(case, path, **kw):
    frame, before, after, verdicts, summary, layers = case
    return write_report(
        path,
        summary,
        verdicts,
        before,
        after,
        frame,
        title="测试县 变化监测报告",
        layers=layers,
        extra={"method": "construction", "patches": len(verdicts)},
        **kw,
    )


def test_chinese_by_default_with_units_dates_and_the_frame_in_words(case, tmp_path):
    page = report(case, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "CGCS2000 3° 高斯-克吕格投影 第 39 带" in page and "分辨率 2 m" in page
    assert "Frame(" not in re.sub(r"<script.*?</script>", "", page, flags=re.DOTALL)
    assert "2022-05-06（来源：配置文件）" in page and "2023-09-22（来源：文件名）" in page
    for words in (
        "违法（未批先建）",
        "合法（已批准）",
        "亩",
        "公顷",
        "m²",
        "违法占用耕地比例（%）",
        "合计",
    ):
        assert words in page, words
    assert re.search(r"\d+\.\d %", page)  # ratios as percentages
    # the summary of one unit has no blank row repeating the total
    one = summarize(case[3], by=None)
    page1 = write_report(tmp_path / "one.html", one, case[3], case[1], case[2], case[0]).read_text(
        "utf-8"
    )
    body = page1.split("<h2>分行政区统计</h2>")[1].split("</table>")[0]
    assert body.count("<tr") == 2  # header and the total


def test_coverage_and_date_sources_in_chinese(case, tmp_path):
    frame, before, after, verdicts, summary, layers = case
    before = before.assign_attrs(date_source="tag ACQUISITION_DATE")
    after = after.assign_attrs(
        date_source="a date in the name x_20230922.tif (no known product name: guessed)"
    )
    coverage = {"before": 1.0, "landuse": 1.0, "supply": 0.5, "farmland": 0.2, "redline": 0.1,
                "cadastral": 0.3, "admin": 1.0}
    extra = {"method": "construction", "unknown_landuse_patches": 0}  # as the survey passes it
    page = write_report(tmp_path / "c.html", summary, verdicts, before, after, frame,
                        coverage=coverage, extra=extra).read_text("utf-8")
    assert ">涉及未分类地图斑数<" in page and "unknown_landuse_patches" not in page
    table = page.split("<h2>图层覆盖</h2>")[1].split("</table>")[0]
    names = ("前时相", "土地利用现状", "供地", "永久基本农田", "生态保护红线", "宗地", "行政区")
    for name in names:
        assert f">{name}<" in table, name
    assert "（来源：影像元数据标签 ACQUISITION_DATE）" in page
    assert "（来源：文件名中的日期（推测）：x_20230922.tif）" in page
    assert "guessed" not in page.split("<h2>")[0]


def test_english_on_request(case, tmp_path):
    page = report(case, tmp_path / "r.html", lang="en").read_text(encoding="utf-8")
    assert "CGCS2000 3° Gauss-Kruger zone 39" in page and "illegal (built before approval)" in page
    assert "<html lang='en'>" in page and "mu" in page and "ha" in page
    with pytest.raises(ValueError, match="lang"):
        report(case, tmp_path / "x.html", lang="fr")


def test_nothing_is_fetched_and_layer_values_are_escaped_in_the_file(case, tmp_path):
    page = report(case, tmp_path / "r.html").read_text(encoding="utf-8")
    tags = re.findall(r"<(?:script|link|img|iframe|source)\b[^>]*>", page)
    assert not [t for t in tags if re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", t)], tags
    assert not re.search(r"url\((['\"]?)(https?:)?//", page)
    assert "<link" not in page and "@import" not in page
    assert all(p not in page for p in PAYLOADS)  # never verbatim: escaped in HTML, \u003c in JSON
    assert "&lt;script&gt;" in page


def _chromium():
    found = next(
        (c for c in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(c)), None
    )
    if found is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    return found


def render(html_path, tmp_path, shot=None, size="1200,1800"):
    """DOM after scripts ran, with the network unreachable (no DNS, a dead proxy)."""
    args = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--window-size={size}",
        "--virtual-time-budget=5000",
    ]
    args += [f"--screenshot={shot}"] if shot else ["--dump-dom"]
    proc = subprocess.run(args + [html_path.as_uri()], capture_output=True, timeout=180)
    return proc.stdout.decode("utf-8", "replace")


# opens every patch's popup and copies its text into the page, so the DOM dump shows it
_OPEN_POPUPS = """<script>
window.addEventListener("load", function () {
  var out = document.createElement("pre"); out.id = "popups";
  window.onemapMap.eachLayer(function (l) {
    if (l.feature && l.getPopup && l.getPopup()) {
      l.openPopup();
      var text = l.getPopup().getElement().textContent;
      out.appendChild(document.createTextNode("[" + text + "]\\n"));
    }
  });
  document.body.appendChild(out);
});
</script></body>"""


def test_map_works_offline_and_nothing_from_a_layer_runs(case, tmp_path):
    path = report(case, tmp_path / "r.html")
    probe = tmp_path / "probe.html"
    probe.write_text(
        path.read_text(encoding="utf-8").replace("</body>", _OPEN_POPUPS), encoding="utf-8"
    )
    dom = render(probe, tmp_path)
    assert 'id="onemap-map"' in dom and "leaflet-container" in dom and 'data-ready="' in dom
    assert "map-ready" in dom
    verdicts = case[3]
    assert len(re.findall(r"<path[^>]*class=\"[^\"]*onemap-patch", dom)) == len(verdicts)
    assert "leaflet-image-layer" in dom and "leaflet-control-layers" in dom
    popups = dom.split('<pre id="popups">')[1].split("</pre>")[0]
    assert popups.count("[") == len(verdicts) + 1 and "违法" in popups  # + the approval's popup
    assert "&lt;script&gt;document.body" in popups  # the admin name shown as text
    assert "data-pwned" not in dom.split("<body")[1].split(">")[0]
    assert '<img src="x"' not in dom and "<svg onload" not in dom


def test_screenshot_is_not_blank(case, tmp_path):
    path = report(case, tmp_path / "r.html")
    shot = tmp_path / "shot.png"
    render(path, tmp_path, shot=shot)
    from PIL import Image

    assert shot.is_file(), "chromium wrote no screenshot"
    img = np.asarray(Image.open(shot).convert("RGB")).astype(float)
    assert img.shape[0] >= 1000 and img.std() > 10
    # the map area (below the headline) holds the image: many distinct colours, not a grey box
    map_rows = img[450:1000, 100:1100].reshape(-1, 3)
    assert len(np.unique(map_rows.round(-1), axis=0)) > 50


def test_readme_explore_line_is_true(case):
    """README: ``verdicts.explore(column="verdict")`` — folium and mapclassify are dependencies."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    assert 'verdicts.explore(column="verdict")' in (root / "README.md").read_text(encoding="utf-8")
    deps = " ".join(tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"])
    assert "folium" in deps and "mapclassify" in deps
    import folium

    assert isinstance(case[3].explore(column="verdict"), folium.Map)


@pytest.mark.parametrize(
    "bounds,res,crs,zh,en",
    [
        (
            (-1.7, 48.1, -1.6, 48.15),
            0.0001,
            4326,
            "WGS 84 地理坐标（经纬度；EPSG:4326），分辨率 0.0001°（约 7.43 × 11.1 m）",
            "WGS 84 geographic (longitude/latitude; EPSG:4326), 0.0001° (about 7.43 × 11.1 m)",
        ),
        (
            (300000, 3200000, 310020, 3210000),
            30,
            32651,
            "WGS 84 UTM 投影 第 51 带（北半球；EPSG:32651），分辨率 30 m",
            "WGS 84 UTM zone 51 (north; EPSG:32651), 30 m pixels",
        ),
        (
            (500000, 3300000, 500100, 3300100),
            2,
            4549,
            "CGCS2000 3° 高斯-克吕格投影 第 40 带（中央经线 120°E；EPSG:4549）",
            "CGCS2000 3° Gauss-Kruger zone 40 (central meridian 120°E; EPSG:4549), 2 m pixels",
        ),
    ],
)
def test_frame_in_words(bounds, res, crs, zh, en):
    from onemap.labels import describe_frame

    frame = Frame.from_bounds(bounds, res, crs)
    assert describe_frame(frame).startswith(zh) and describe_frame(frame, "en").startswith(en)


@pytest.mark.parametrize("crs", [4527, 4326, 32650])
def test_image_overlay_sits_on_the_frame(crs):
    """The after-image, warped to Web Mercator, covers the frame's corners (in any frame CRS)."""
    from pyproj import Transformer

    from onemap.report_map import _image_overlay

    gk = (39_500_000.0, 3_300_000.0, 39_500_400.0, 3_300_400.0)
    to = Transformer.from_crs(4527, crs, always_xy=True)
    xs, ys = to.transform([gk[0], gk[2]], [gk[1], gk[3]])
    res = (xs[1] - xs[0]) / 200
    frame = Frame.from_bounds((xs[0], ys[0], xs[0] + 200 * res, ys[0] + 200 * res), res, crs)
    img = np.random.default_rng(0).uniform(size=(200, 200, 3))
    uri, ((south, west), (north, east)) = _image_overlay(img, frame)
    assert uri.startswith("data:image/png;base64,")
    left, bottom, right, top = frame.bounds
    lon, lat = Transformer.from_crs(crs, 4326, always_xy=True).transform(
        [left, right, left, right], [bottom, bottom, top, top]
    )
    tol = 3e-5  # ~3 m: the warp snaps to its own pixels (2 m here)
    assert (
        west <= min(lon) + tol
        and east >= max(lon) - tol
        and south <= min(lat) + tol
        and north >= max(lat) - tol
    )
    assert (east - west) < 1.2 * (max(lon) - min(lon)) and (north - south) < 1.2 * (
        max(lat) - min(lat)
    )
