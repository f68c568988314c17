"""The report on real imagery in the CRS it comes in: OSCD Rennes (Sentinel-2, EPSG:4326) and
SpaceNet (WorldView, UTM 16N), rendered offline in headless Chromium."""

import glob
import re
import warnings

import geopandas as gpd
import numpy as np
import pytest
import shapely

import onemap
from onemap.enforce import flag_unapproved
from onemap.report import write_report
from onemap.summary import summarize

from .test_report import render

pytestmark = pytest.mark.shared_data


def _report(tmp_path, before, after, patches, approvals, lang="zh"):
    frame = onemap.Frame.from_xarray(after)
    landuse = gpd.GeoDataFrame(
        {"landuse_code": ["0101"]}, geometry=[shapely.box(*frame.bounds)], crs=frame.crs
    )
    verdicts = flag_unapproved(patches, approvals, landuse, frame=frame)
    path = write_report(
        tmp_path / "report.html", summarize(verdicts, by=None), verdicts, before, after, frame,
        title="实测", layers={"approvals": approvals, "landuse": landuse}, lang=lang,
    )
    return path, verdicts, frame


def _check_in_chromium(path, verdicts, tmp_path):
    dom = render(path, tmp_path)
    assert "map-ready" in dom and "leaflet-image-layer" in dom
    assert len(re.findall(r"<path[^>]*class=\"[^\"]*onemap-patch", dom)) == len(verdicts)
    shot = tmp_path / "shot.png"
    render(path, tmp_path, shot=shot)
    from PIL import Image

    assert shot.is_file()
    img = np.asarray(Image.open(shot).convert("RGB")).astype(float)
    assert img.std() > 10


def test_oscd_rennes_in_epsg4326(shared_data, tmp_path):
    city = shared_data / "change" / "oscd" / "rennes"

    def scene(k):
        files = sorted(glob.glob(str(city / f"imgs_{k}" / "*.tif")))
        return onemap.open_scene([f for f in files if f[-7:-4] in ("B02", "B03", "B04", "B08")])

    before, after = scene(1), scene(2)
    frame = onemap.Frame.from_xarray(after)
    import rasterio
    from rasterio import features

    with warnings.catch_warnings():  # the truth mask has no CRS: it is on the imgs_1 grid
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(city / "cm" / "rennes-cm.tif") as src:
            change = src.read(1) == 2
    geoms = [shapely.geometry.shape(g) for g, v in
             features.shapes(change.astype("uint8"), mask=change, transform=frame.transform) if v]
    patches = gpd.GeoDataFrame({"patch_id": range(1, len(geoms) + 1)}, geometry=geoms, crs=frame.crs)
    left, bottom, right, top = frame.bounds
    approvals = gpd.GeoDataFrame({"approval_id": ["west half"]},
                                 geometry=[shapely.box(left, bottom, (left + right) / 2, top)],
                                 crs=frame.crs)
    path, verdicts, frame = _report(tmp_path, before, after, patches, approvals)
    page = path.read_text(encoding="utf-8")
    assert "WGS 84 地理坐标（经纬度；EPSG:4326）" in page and "（约 8.48 × 12.6 m）" in page
    assert "Frame(" not in re.sub(r"<script.*?</script>", "", page, flags=re.DOTALL)
    # the overlay is placed on the frame's own corners (a geographic frame: degrees in, degrees out)
    data = page.split("id='onemap-map-data'>")[1].split("</script>")[0]
    (s, w), (n, e) = map(lambda p: map(float, p.split(",")),
                         re.search(r'"bounds":\[\[([^\]]+)\],\[([^\]]+)\]\]', data).groups())
    assert abs(w - left) < 2e-4 and abs(e - right) < 2e-4 and abs(s - bottom) < 2e-4
    assert abs(n - top) < 2e-4
    _check_in_chromium(path, verdicts, tmp_path)


def test_spacenet_in_utm16n(shared_data, tmp_path):
    folder = shared_data / "geo" / "spacenet"
    scene = onemap.open_scene(str(folder / "sample_geotiff.tif"))
    frame = onemap.Frame.from_xarray(scene)
    foot = gpd.read_file(folder / "geotiff_labels.geojson").to_crs(frame.crs)
    foot = foot[foot.geometry.area > 0].reset_index(drop=True)
    patches = gpd.GeoDataFrame({"patch_id": range(1, len(foot) + 1)}, geometry=foot.geometry.values,
                               crs=frame.crs)
    approvals = gpd.GeoDataFrame({"approval_id": [f"<b>{i}</b>" for i in range(0, len(foot), 2)]},
                                 geometry=foot.geometry.values[::2], crs=frame.crs)
    path, verdicts, frame = _report(tmp_path, scene, scene, patches, approvals, lang="en")
    page = path.read_text(encoding="utf-8")
    assert "UTM zone 16 (north; EPSG:32616)" in page
    assert (verdicts["verdict"] == "approved").sum() >= len(approvals) - 2
    _check_in_chromium(path, verdicts, tmp_path)
