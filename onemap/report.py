"""A self-contained HTML report of a survey: tables, maps and image chips, in Chinese or English.

One file, no external resources, works offline: the interactive map is Leaflet inlined
(:mod:`onemap.report_map`); the static overview (for printing) and the chips are drawn straight
into pixels (a figure with axes and fonts costs ~50x more) and embedded as base64 PNGs, so the
report can be mailed or archived with the survey outputs. Tables: :mod:`onemap.report_tables`.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from . import labels
from ._atomic import atomic_write_text
from .summary import FLAGGED

__all__ = ["write_report", "rgb_image", "VERDICT_COLOURS"]

VERDICT_COLOURS = {v: c for v, (_, _, c) in labels.VERDICTS.items()}
_MAX_CHIPS = 40


def rgb_bands(scene: Any) -> list[int]:
    """Indices of the red, green and blue bands of *scene* (the first bands when unnamed)."""
    names = [str(b) for b in scene["band"].values]
    order = [names.index(b) for b in ("red", "green", "blue") if b in names]
    if len(order) < 3:
        order = list(range(min(3, len(names))))
        while len(order) < 3:
            order.append(order[-1])
    return order


def rgb_image(
    scene: Any, max_pixels: int = 1600, window: tuple[slice, slice] | None = None
) -> np.ndarray:
    """An (h, w, 3) float image in [0, 1] of a scene (red, green, blue bands), decimated to fit.

    Works on NumPy- and dask-backed DataArrays; a *window* of a file-backed scene is read alone
    (:func:`onemap.ingest.window.read_window`). The stretch is the 2–98 % percentile of each band,
    NaN (nodata) shown black.
    """
    from .ingest.window import read_window

    order = rgb_bands(scene)
    if window is not None:
        arr = read_window(scene, *window)[order]
    else:
        arr = scene.isel(band=order)
    step = max(1, int(np.ceil(max(arr.shape[1:]) / max_pixels)))
    arr = np.asarray(arr[:, ::step, ::step], dtype="float64")
    return stretch(
        arr, scene.attrs.get("nodata") if not np.issubdtype(scene.dtype, np.floating) else None
    )


def stretch(arr: np.ndarray, nodata: float | None = None) -> np.ndarray:
    """(3, h, w) band values -> (h, w, 3) image in [0, 1], 2–98 % per band, nodata black."""
    arr = np.array(arr, dtype="float64")
    if nodata is not None:
        arr[arr == nodata] = np.nan
    out = np.zeros(arr.shape[1:] + (3,))
    for i in range(3):
        band = arr[i]
        ok = np.isfinite(band)
        if ok.any():
            lo, hi = np.percentile(band[ok], [2, 98])
            out[..., i] = np.clip((band - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    out[~np.isfinite(arr).all(axis=0)] = 0.0
    return out


def _png(pixels: np.ndarray) -> str:
    """(h, w, 3) floats in [0, 1] -> a PNG data URI."""
    from PIL import Image

    buf = io.BytesIO()
    image = Image.fromarray((np.clip(pixels, 0, 1) * 255).round().astype(np.uint8))
    image.save(buf, format="PNG", compress_level=1)  # fast zlib: the map is megapixels
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _outline(img: np.ndarray, geoms: Any, transform: Affine, colour: str) -> None:
    """Draw the boundaries of *geoms* into *img* (in place), at least one pixel wide."""
    from rasterio import features

    geoms = [
        g
        for g in shapely.boundary(np.asarray(geoms, dtype=object))
        if g is not None and not g.is_empty
    ]
    if not geoms:
        return
    hit = (
        features.rasterize(
            [(g, 1) for g in geoms],
            out_shape=img.shape[:2],
            transform=transform,
            all_touched=True,
            dtype="uint8",
        )
        > 0
    )
    img[hit] = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]


def _map_image(img: np.ndarray, verdicts: gpd.GeoDataFrame, frame: Any) -> str:
    """The static overview: *img* with every patch outlined in its verdict's colour."""
    img = img.copy()
    h, w = img.shape[:2]
    transform = frame.transform @ Affine.scale(frame.width / w, frame.height / h)
    for verdict, colour in reversed(
        list(VERDICT_COLOURS.items())
    ):  # flagged ones drawn last, on top
        _outline(
            img,
            verdicts.geometry.values[(verdicts["verdict"] == verdict).to_numpy()],
            transform,
            colour,
        )
    return _png(img)


def _legend(verdicts: gpd.GeoDataFrame, lang: str) -> str:
    counts = verdicts["verdict"].value_counts()
    return (
        "<p class='legend'>"
        + " ".join(
            f"<span style='border:2px solid {c};padding:0 6px;margin-right:8px'>"
            f"{html.escape(labels.verdict_name(v, lang))} {int(counts.get(v, 0))}</span>"
            for v, c in VERDICT_COLOURS.items()
        )
        + "</p>"
    )


def _chip_figure(before: Any, after: Any, frame: Any, geom: Any, size: int = 300) -> str:
    """Before | after chips of one patch with its outline in red, as a PNG data URI."""
    minx, miny, maxx, maxy = geom.bounds
    pad = max(maxx - minx, maxy - miny) * 0.6 + 10 * frame.res[0]
    rows, cols = frame.window((minx - pad, miny - pad, maxx + pad, maxy + pad))
    sub = frame.subframe(rows, cols)
    step = max(1, int(np.ceil(max(sub.shape) / size)))
    images = [rgb_image(scene, max_pixels=size, window=(rows, cols)) for scene in (before, after)]
    for img in images:
        _outline(img, [geom], sub.transform @ Affine.scale(step), "#ff2020")
    gap = np.ones((images[0].shape[0], max(2, images[0].shape[1] // 40), 3))
    return _png(np.hstack([images[0], gap, images[1]]))


# the phrases of onemap.ingest.dates / survey date sources, in Chinese (the rest kept as is)
_SOURCE_ZH = (
    ("tag ", "影像元数据标签 "),
    ("file name ", "文件名 "),
    ("product id in the file's metadata", "影像元数据中的产品号"),
    ("a date in the name ", "文件名中的日期（推测）："),
    (" (no known product name: guessed)", ""),
    ("TIFFTAG_DATETIME (when the file was written: guessed)",
     "文件写入时间 TIFFTAG_DATETIME（推测）"),
    ("given (date=)", "参数 date="),
    ("none found", "未找到"),
)


def _source_text(source: str, lang: str) -> str:
    """Where a scene date came from, in *lang*.

    >>> _source_text("tag ACQUISITION_DATE", "zh")
    '影像元数据标签 ACQUISITION_DATE'
    >>> _source_text("a date in the name x_20240901.tif (no known product name: guessed)", "zh")
    '文件名中的日期（推测）：x_20240901.tif'
    """
    if lang != "zh":
        return source
    for english, chinese in _SOURCE_ZH:
        source = source.replace(english, chinese)
    return source


def _scene_line(scene: Any, when: str, lang: str) -> str:
    """``前时相：2023-09-22（来源：文件名）`` from the scene's ``date`` / ``date_source`` attrs."""
    attrs = getattr(scene, "attrs", {}) or {}
    date = attrs.get("date")
    text = html.escape(str(date)) if date else labels.text("date_unknown", lang)
    source = attrs.get("date_source")
    if source:
        key = f"src_{str(source).split(':')[0].strip().lower()}"
        shown = labels.text(key, lang) if key in labels._TEXT else _source_text(str(source), lang)
        text += (
            f"（{labels.text('source', lang)}：{html.escape(shown)}）"
            if lang == "zh"
            else f" ({labels.text('source', lang)}: {html.escape(shown)})"
        )
    sensor = attrs.get("sensor")
    if sensor:
        text += f" · {html.escape(str(sensor))}"
    sep = "：" if lang == "zh" else ": "
    return f"<span class='scene'>{labels.text(when, lang)}{sep}{text}</span>"


def _ratio_section(total: pd.Series, threshold: float, lang: str) -> list[str]:
    ratio = total.get("illegal_ratio", np.nan)
    exceeds = bool(total.get("exceeds_threshold", False))
    ratio_text = labels.text("ratio_na", lang) if pd.isna(ratio) else f"{ratio:.1%}"
    status = "exceeds" if exceeds else "within"
    sep = "：" if lang == "zh" else ": "
    figures = [
        (key, total.get(key, np.nan))
        for key in ("new_m2", "unapproved_m2", "new_cultivated_m2", "unapproved_cultivated_m2")
    ]
    return [
        f"<h2>{labels.text('ratio_title', lang)}</h2>",
        f"<p class='ratio {status}' id='ratio'>{html.escape(ratio_text)}</p>",
        f"<p>{labels.text('ratio_note', lang, t=f'{threshold:.0%}', s=labels.text(status, lang))}"
        "</p>",
        "<ul class='figures'>"
        + "".join(
            f"<li>{html.escape(labels.name(k, lang))}{sep}"
            f"{html.escape(labels.format_area(v, lang))}</li>"
            for k, v in figures
            if not pd.isna(v)
        )
        + "</ul>",
    ]


def write_report(
    path: str | Path,
    summary: pd.DataFrame,
    verdicts: gpd.GeoDataFrame,
    before: Any,
    after: Any,
    frame: Any,
    title: str = "onemap",
    threshold: float = 0.15,
    extra: dict[str, Any] | None = None,
    overview: np.ndarray | None = None,
    *,
    layers: dict[str, gpd.GeoDataFrame] | None = None,
    coverage: dict[str, float] | None = None,
    lang: str = "zh",
) -> Path:
    """Write the survey report as one self-contained HTML file (atomically) and return its path.

    Contents, in Chinese (``lang="zh"``, default) or English (``lang="en"``): the frame in words
    and the dates of both images, the illegal-occupation ratio of cultivated land against
    *threshold*, an interactive map (:mod:`onemap.report_map`: the after-image, patches by
    verdict, approvals and land use from *layers*, click a patch for its figures) with a static
    overview for printing, the table by admin unit (亩, ratios in %), the verdicts in m², 亩 and
    公顷, a before/after chip of each unapproved patch (the largest ``40`` when there are more),
    the share of the frame each layer covers (*coverage*, ``{layer: share}``), run details
    (*extra*) and the data dictionary. Nothing is fetched from the network.

    *overview*: the after-image's red, green and blue bands decimated to about 1 600 px,
    ``(3, h, w)`` over the whole frame (a survey keeps it from its one pass over the imagery);
    default: read from *after*.
    """
    from ._compute import run
    from .report_map import map_section
    from .report_tables import (
        coverage_table,
        dictionary_section,
        run_table,
        summary_table,
        verdict_table,
    )

    labels.check_lang(lang)
    total = summary.iloc[-1]
    flagged = verdicts[verdicts["verdict"].isin(FLAGGED)].sort_values(
        "unapproved_m2", ascending=False
    )
    top = flagged.head(_MAX_CHIPS)
    fmt = labels.format_mu
    captions = [
        labels.text(
            "chip_caption",
            lang,
            id=row["patch_id"],
            v=labels.verdict_name(row["verdict"], lang),
            a=fmt(row["unapproved_m2"], lang),
            c=fmt(row["unapproved_cultivated_m2"], lang),
        )
        for _, row in top.iterrows()
    ]
    image = rgb_image(after) if overview is None else stretch(overview, after.attrs.get("nodata"))
    with (
        warnings.catch_warnings()
    ):  # rasterize's scratch raster has no CRS: nothing a user can act on
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        # window reads and PNG encoding release the GIL
        figures = run(lambda g: _chip_figure(before, after, frame, g),
                      [(g,) for g in top.geometry.values])
        chips = list(zip(captions, figures, strict=True))
        static_map = _map_image(image, verdicts, frame)
    map_head, map_body = map_section(verdicts, frame, image, layers, lang)
    sep = "：" if lang == "zh" else ": "
    parts = [
        f"<!DOCTYPE html><html lang='{'zh-CN' if lang == 'zh' else 'en'}'>",
        "<head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title>",
        map_head,
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'><b>{labels.text('frame', lang)}</b>{sep}"
        f"{html.escape(labels.describe_frame(frame, lang))}</p>",
        f"<p class='meta'><b>{labels.text('images', lang)}</b>{sep}"
        f"{_scene_line(before, 'before', lang)} · {_scene_line(after, 'after', lang)}</p>",
        *_ratio_section(total, threshold, lang),
        f"<h2>{labels.text('map', lang)}</h2>",
        f"<p class='note screen'>{labels.text('map_note', lang)}</p>",
        map_body,
        f"<figure class='static'><img id='map' alt='county map' src='{static_map}'>"
        f"<figcaption>{_legend(verdicts, lang)}</figcaption></figure>",
        f"<h2>{labels.text('summary', lang)}</h2>",
        summary_table(summary, lang),
        f"<h2>{labels.text('verdicts', lang)}</h2>",
        verdict_table(verdicts, lang),
    ]
    if coverage:
        parts += [f"<h2>{labels.text('coverage', lang)}</h2>", coverage_table(coverage, lang)]
    parts.append(
        f"<h2>{labels.text('flagged', lang)} ({len(flagged)})</h2>"
        f"<p class='note'>{labels.text('chips_note', lang)}</p><div class='chips'>"
    )
    parts += [
        f"<figure><img alt='chip' src='{src}'><figcaption>{html.escape(c)}</figcaption></figure>"
        for c, src in chips
    ]
    parts.append("</div>")
    if len(flagged) > len(top):
        parts.append(
            f"<p class='note'>{labels.text('more_chips', lang, n=len(flagged) - len(top))}</p>"
        )
    if extra:
        parts += [f"<h2>{labels.text('run', lang)}</h2>", run_table(extra, lang)]
    parts += [dictionary_section(verdicts, summary, lang), "</body></html>"]
    path = Path(path)
    atomic_write_text(path, "\n".join(parts))
    return path


_CSS = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:2em auto;
  max-width:1100px;padding:0 1em;color:#222}
h1{font-size:24px}h2{font-size:19px;margin-top:1.6em;border-bottom:1px solid #ccc}
.meta{margin:0.3em 0}.scene{white-space:nowrap}
table.t{border-collapse:collapse;font-size:13px;margin:0.8em 0;width:100%;table-layout:auto}
table.t td,table.t th{border-bottom:1px solid #ddd;padding:3px 6px;text-align:right}
table.t th{font-weight:600;vertical-align:bottom;background:#f4f4f4}
table.t td.txt,table.t th.txt{text-align:left}
table.t td.txt{max-width:16em;min-width:5em;overflow-wrap:anywhere}
table.t td.code{white-space:nowrap;overflow-wrap:normal;min-width:0}
table.t th{overflow-wrap:break-word;hyphens:auto}
table.t tr.total td{font-weight:bold;border-top:2px solid #888}
.ratio{font-size:28px;font-weight:bold;margin:0.2em 0}.exceeds{color:#c00}.within{color:#070}
.figures{font-size:14px;margin:0.3em 0}
.chips{display:flex;flex-wrap:wrap;gap:12px}.chips figure{margin:0;width:48%}
.chips img{width:100%;image-rendering:pixelated}figcaption{font-size:12px}
#map{width:100%;image-rendering:pixelated}.legend,.note{font-size:13px}
body.map-ready figure.static{display:none}
details{margin:1em 0}summary{cursor:pointer;font-weight:600}
@media print{
  body{margin:0;max-width:none;font-size:11px}
  #onemap-map,.leaflet-control-container,.screen{display:none !important}
  body.map-ready figure.static,figure.static{display:block !important}
  table.t{font-size:9.5px}table.t td,table.t th{padding:2px 3px}
  h2{break-after:avoid}tr,figure{break-inside:avoid}
  details{display:block}details>*{display:block}
}
"""
