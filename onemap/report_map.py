"""The interactive map of the survey report: Leaflet, inlined, offline.

Pan and zoom over the after-image (a PNG in the page, warped to Web Mercator so it sits exactly
under the patches), the change patches coloured by verdict (click one for its verdict and the land
it took), approvals and — when small enough — land use, each a layer to switch on and off.

Land bureaus' networks are often cut off from the internet, so nothing is fetched: Leaflet's
script and style (``onemap/_assets``, BSD-2-Clause, from the npm package) are inlined, with the
layer-control icons as data URIs, and there are no tiles. Values from the layers reach the page
only as JSON inside ``<script type="application/json">`` (``<``, ``>`` and ``&`` escaped) and are
shown with ``textContent``, so a name such as ``<script>`` is shown, never run.
"""

from __future__ import annotations

import base64
import html
import io
import json
import warnings
from importlib import resources
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from . import labels

__all__ = ["json_for_script", "leaflet_assets", "map_section"]

#: layers with more features than this are left out of the map (the page would grow too big)
MAX_FEATURES = {"approvals": 5_000, "landuse": 3_000}


def leaflet_assets() -> tuple[str, str]:
    """``(css, js)`` of the bundled Leaflet, the CSS images inlined as data URIs."""
    folder = resources.files("onemap") / "_assets"
    css = (folder / "leaflet.css").read_text(encoding="utf-8")
    for name in ("layers-2x.png", "layers.png"):
        uri = "data:image/png;base64," + base64.b64encode((folder / name).read_bytes()).decode(
            "ascii"
        )
        css = css.replace(f"url(images/{name})", f"url({uri})")
    css = css.replace("url(images/marker-icon.png)", "none")  # no markers: nothing to fetch
    js = (folder / "leaflet.js").read_text(encoding="utf-8")
    return css, js.replace("</script", "<\\/script")


def json_for_script(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``</script>``, no ``<!--``."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(ch, esc)
    return text


def _image_overlay(img: np.ndarray, frame: Any) -> tuple[str, list[list[float]]]:
    """(h, w, 3) image over *frame* -> (PNG data URI in Web Mercator, [[S, W], [N, E]] in °)."""
    from affine import Affine
    from PIL import Image
    from pyproj import Transformer
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    h, w = img.shape[:2]
    src_transform = frame.transform @ Affine.scale(frame.width / w, frame.height / h)
    left, bottom, right, top = frame.bounds
    with warnings.catch_warnings():  # rasterio composes affines with `*` inside: not ours to fix
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        dst_transform, dw, dh = calculate_default_transform(
            frame.crs, "EPSG:3857", w, h, left, bottom, right, top
        )
    rgba = np.concatenate([img, np.ones((h, w, 1))], axis=2).transpose(2, 0, 1).astype("float32")
    out = np.zeros((4, dh, dw), dtype="float32")
    reproject(
        rgba,
        out,
        src_transform=src_transform,
        src_crs=frame.crs,
        dst_transform=dst_transform,
        dst_crs="EPSG:3857",
        resampling=Resampling.nearest,
        src_nodata=None,
        dst_nodata=0,
    )
    pixels = (np.clip(out.transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="RGBA").save(buf, format="PNG", compress_level=6)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    x0, y0 = dst_transform.c, dst_transform.f
    x1, y1 = x0 + dst_transform.a * dw, y0 + dst_transform.e * dh
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    (west, east), (south, north) = to_ll.transform([x0, x1], [y1, y0])
    return uri, [[south, west], [north, east]]


def _features(layer: gpd.GeoDataFrame, rows: list[list[list[str]]], tolerance: float) -> list[dict]:
    """GeoJSON features in EPSG:4326 (7 decimals, ~1 cm) with popup rows as properties."""
    geoms = np.asarray(layer.geometry.values)
    if tolerance > 0:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    geoms = gpd.GeoSeries(geoms, crs=layer.crs).to_crs(4326).values
    geoms = shapely.set_precision(np.asarray(geoms), 1e-7)
    feats = []
    for g, r in zip(geoms, rows, strict=False):
        if g is None or g.is_empty:
            continue
        feats.append(
            {
                "type": "Feature",
                "geometry": json.loads(shapely.to_geojson(g)),
                "properties": {"rows": r},
            }
        )
    return feats


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def _name(column: str, lang: str) -> str:
    """A column's name without its unit (popups give the unit with each value)."""
    return labels.name(column, lang)


def _patch_rows(v: gpd.GeoDataFrame, lang: str) -> list[list[list[str]]]:
    area = labels.format_area
    out = []
    for _, r in v.iterrows():
        rows = [
            [_name("patch_id", lang), _cell(r.get("patch_id"))],
            [_name("verdict_name", lang), labels.verdict_name(r["verdict"], lang)],
        ]
        for col in ("area_m2", "new_m2", "unapproved_m2", "unapproved_cultivated_m2"):
            if col in v.columns:
                rows.append([_name(col, lang), area(r[col], lang)])
        for col in ("unapproved_farmland_m2", "unapproved_redline_m2"):
            if col in v.columns and r[col] > 0:
                rows.append([_name(col, lang), area(r[col], lang)])
        for col in ("admin_name", "admin_code", "approval_ids", "date_before", "date_after"):
            if col in v.columns and _cell(r[col]):
                rows.append([_name(col, lang), _cell(r[col])])
        out.append(rows)
    return out


def _attribute_rows(
    layer: gpd.GeoDataFrame, columns: list[str], lang: str
) -> list[list[list[str]]]:
    cols = [c for c in columns if c in layer.columns]
    return [
        [[_name(c, lang), _cell(r[c])] for c in cols if _cell(r[c])]
        for _, r in layer[cols].iterrows()
    ]



#: context layers of the interactive map: style, and the columns shown in their popups
_CONTEXT_LAYERS: dict[str, dict[str, Any]] = {
    "landuse": {"colour": "#a0a0a0", "weight": 1, "fill": 0.0, "shown": False, "rank": 11,
                "cls": "onemap-landuse",
                "columns": ["landuse_code", "landuse_name", "DLBM", "DLMC"]},
    "approvals": {"colour": "#00e5ff", "weight": 1.5, "fill": 0.0, "shown": True, "rank": 10,
                  "dash": "4 3", "cls": "onemap-approval",
                  "columns": ["approval_id", "name", "use", "landuse_code", "batch", "remark",
                              "source_file"]},
}


def _too_many(key: str, n: int, zh: bool) -> str:
    """The report's note for a context layer left out of the map (too many features to embed)."""
    if zh:
        what = {"landuse": ("土地利用图层", "图斑"), "approvals": ("批文图层", "地块")}[key]
        return f"{what[0]}有 {n} 个{what[1]}，超过 {MAX_FEATURES[key]}，未放入交互地图"
    name = {"landuse": "land use", "approvals": "approvals"}[key]
    return f"{name} has {n} features (over {MAX_FEATURES[key]}): left out of the interactive map"


def _swatch(colour: str, label: str, dashed: bool = False) -> str:
    style = f"border:2px {'dashed' if dashed else 'solid'} {colour}"
    return f"<span class='sw' style='{style}'></span>{html.escape(label)}"


def map_data(
    verdicts: gpd.GeoDataFrame,
    frame: Any,
    image: np.ndarray,
    layers: dict[str, gpd.GeoDataFrame] | None,
    lang: str,
) -> tuple[dict, list[str]]:
    """The map's JSON (image, bounds, layers) and notes on layers left out."""
    uri, bounds = _image_overlay(image, frame)
    tol = 0.5 * frame.res[0]
    data: dict[str, Any] = {
        "image": uri,
        "bounds": bounds,
        "image_label": html.escape(labels.text("image_layer", lang)),
        "layers": [],
    }
    notes = []
    layers = layers or {}
    zh = lang == "zh"
    for key, style in _CONTEXT_LAYERS.items():  # land use and approvals, when small enough
        layer = layers.get(key)
        if layer is None or not len(layer):
            continue
        if len(layer) > MAX_FEATURES[key]:
            notes.append(_too_many(key, len(layer), zh))
            continue
        label = _swatch(style["colour"], labels.text(key, lang), "dash" in style)
        data["layers"].append(
            {
                "label": label,
                **{k: v for k, v in style.items() if k != "columns"},
                "features": _features(layer, _attribute_rows(layer, style["columns"], lang), tol),
            }
        )
    for verdict in reversed(list(labels.VERDICTS)):  # flagged verdicts last: drawn on top
        sel = verdicts[verdicts["verdict"] == verdict]
        if not len(sel):
            continue
        colour = labels.VERDICTS[verdict][2]
        name = f"{labels.verdict_name(verdict, lang)} ({len(sel)})"
        data["layers"].append(
            {
                "label": _swatch(colour, name),
                "colour": colour,
                "weight": 2,
                "fill": 0.15,
                "shown": True,
                "cls": f"onemap-patch onemap-{verdict}",
                "rank": list(labels.VERDICTS).index(verdict),
                "features": _features(sel, _patch_rows(sel, lang), 0.0),
            }
        )
    return data, notes


_SCRIPT = """
(function () {
  "use strict";
  var el = document.getElementById("onemap-map");
  var data = JSON.parse(document.getElementById("onemap-map-data").textContent);
  var map = L.map(el, {zoomSnap: 0.25, attributionControl: false});
  window.onemapMap = map;
  var bounds = L.latLngBounds(data.bounds);
  var overlays = {};
  overlays[data.image_label] = L.imageOverlay(data.image, bounds).addTo(map);
  function popup(rows) {  // textContent only: values from layers are shown, never parsed
    var table = document.createElement("table");
    table.className = "onemap-popup";
    rows.forEach(function (r) {
      var tr = table.insertRow(), th = document.createElement("th");
      th.textContent = r[0];
      tr.appendChild(th);
      tr.insertCell().textContent = r[1];
    });
    return table;
  }
  var entries = [];
  data.layers.forEach(function (spec) {
    var group = L.geoJSON(spec.features, {
      style: function () {
        return {color: spec.colour, weight: spec.weight, fillOpacity: spec.fill,
                fill: spec.fill > 0, dashArray: spec.dash || null, className: spec.cls};
      },
      onEachFeature: function (f, layer) {
        layer.bindPopup(function () { return popup(f.properties.rows); }, {maxWidth: 420});
      }
    });
    if (spec.shown) { group.addTo(map); }
    entries.push([spec.rank, spec.label, group]);
  });
  entries.sort(function (a, b) { return a[0] - b[0]; });  // flagged verdicts first in the list
  entries.forEach(function (e) { overlays[e[1]] = e[2]; });  // labels built and escaped by onemap
  L.control.layers(null, overlays, {collapsed: false, position: "bottomright"}).addTo(map);
  L.control.scale({imperial: false}).addTo(map);
  map.fitBounds(bounds);
  el.setAttribute("data-ready", String(data.layers.length));
  document.body.classList.add("map-ready");
})();
"""

_CSS = """
#onemap-map{height:600px;width:100%;background:#222;margin:0.5em 0}
.sw{display:inline-block;width:12px;height:10px;margin:0 4px -1px 0}
table.onemap-popup{border-collapse:collapse;font-size:12px}
table.onemap-popup th{text-align:left;padding:1px 8px 1px 0;font-weight:normal;color:#555}
table.onemap-popup td{padding:1px 0}
.leaflet-control-layers{font-size:12px}
"""


def map_section(
    verdicts: gpd.GeoDataFrame,
    frame: Any,
    image: np.ndarray,
    layers: dict[str, gpd.GeoDataFrame] | None = None,
    lang: str = "zh",
) -> tuple[str, str]:
    """``(head, body)`` HTML of the interactive map: styles for ``<head>``, the map for ``<body>``.

    *image*: the after-image as ``(h, w, 3)`` floats in [0, 1] over the whole *frame*.
    """
    data, notes = map_data(verdicts, frame, image, layers, lang)
    css, js = leaflet_assets()
    head = f"<style>{css}\n{_CSS}</style>"
    body = [
        "<div id='onemap-map'></div>",
        f"<script type='application/json' id='onemap-map-data'>{json_for_script(data)}</script>",
        f"<script>{js}</script>",
        f"<script>{_SCRIPT}</script>",
    ]
    body += [f"<p class='note'>{html.escape(n)}</p>" for n in notes]
    return head, "\n".join(body)
