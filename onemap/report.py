"""A self-contained HTML report of a survey: tables, the county map and image chips.

One file, no external resources: the map and the chips are drawn straight into pixels (a figure
with axes and fonts costs ~50x more) and embedded as base64 PNGs, so the report can be mailed or
archived with the survey outputs.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine

from ._atomic import atomic_write_text
from .summary import FLAGGED

__all__ = ["write_report", "rgb_image", "VERDICT_COLOURS"]

VERDICT_COLOURS = {
    "unapproved": "#e41a1c", "partly_approved": "#ff7f00", "check": "#984ea3",
    "approved": "#4daf4a", "existing_construction": "#377eb8",
}
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


def rgb_image(scene: Any, max_pixels: int = 1600, window: tuple[slice, slice] | None = None) -> np.ndarray:
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
    return stretch(arr, scene.attrs.get("nodata") if not np.issubdtype(scene.dtype, np.floating) else None)


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

    geoms = [g for g in shapely.boundary(np.asarray(geoms, dtype=object)) if g is not None and not g.is_empty]
    if not geoms:
        return
    hit = features.rasterize([(g, 1) for g in geoms], out_shape=img.shape[:2], transform=transform,
                             all_touched=True, dtype="uint8") > 0
    img[hit] = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]


def _map_image(after: Any, verdicts: gpd.GeoDataFrame, frame: Any, overview: np.ndarray | None = None) -> str:
    """The after-image overview with every patch outlined in its verdict's colour."""
    img = rgb_image(after) if overview is None else stretch(overview, after.attrs.get("nodata"))
    h, w = img.shape[:2]
    transform = frame.transform @ Affine.scale(frame.width / w, frame.height / h)
    for verdict, colour in reversed(list(VERDICT_COLOURS.items())):  # flagged ones drawn last, on top
        _outline(img, verdicts.geometry.values[(verdicts["verdict"] == verdict).to_numpy()], transform, colour)
    return _png(img)


def _legend() -> str:
    return "<p class='legend'>" + " ".join(
        f"<span style='border:2px solid {c};padding:0 6px;margin-right:8px'>{html.escape(v)}</span>"
        for v, c in VERDICT_COLOURS.items()) + "</p>"


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


def _table(df: pd.DataFrame) -> str:
    fmt = df.copy()
    for c in fmt.columns:
        if fmt[c].dtype.kind == "f":
            fmt[c] = fmt[c].map(lambda v: "" if pd.isna(v) else (f"{v:.3f}" if abs(v) < 10 else f"{v:,.1f}"))
    return fmt.to_html(index=False, border=0, classes="t", escape=True)


def write_report(
    path: str | Path,
    summary: pd.DataFrame,
    verdicts: gpd.GeoDataFrame,
    before: Any,
    after: Any,
    frame: Any,
    title: str = "onemap survey",
    threshold: float = 0.15,
    extra: dict[str, Any] | None = None,
    overview: np.ndarray | None = None,
) -> Path:
    """Write the survey report as one self-contained HTML file (atomically) and return its path.

    Contents: the county summary table, verdict counts and areas, the illegal-occupation ratio
    of cultivated land against *threshold*, a map of flagged patches over the after-image, and a
    before/after chip with the outline of each unapproved patch (the largest ``40`` when there are more).
    *overview*: the after-image's red, green and blue bands decimated to about 1 600 px, ``(3, h, w)``
    over the whole frame (a survey keeps it from its one pass over the imagery); default: read
    from *after*.
    """
    total = summary.iloc[-1]
    ratio = total.get("illegal_ratio", np.nan)
    exceeds = bool(total.get("exceeds_threshold", False))
    counts = (verdicts.groupby("verdict").agg(patches=("verdict", "size"), area_m2=("area_m2", "sum"),
                                              unapproved_m2=("unapproved_m2", "sum")).reset_index())
    flagged = verdicts[verdicts["verdict"].isin(FLAGGED)].sort_values("unapproved_m2", ascending=False)
    from concurrent.futures import ThreadPoolExecutor

    from .change._parallel import threads

    top = flagged.head(_MAX_CHIPS)
    captions = [f"patch {row['patch_id']} · {row['verdict']} · unapproved {row['unapproved_m2']:.0f} m² "
                f"(cultivated {row['unapproved_cultivated_m2']:.0f} m²)" for _, row in top.iterrows()]
    with ThreadPoolExecutor(threads()) as pool:  # window reads and PNG encoding release the GIL
        chips = list(zip(captions, pool.map(lambda g: _chip_figure(before, after, frame, g), top.geometry.values)))
    ratio_text = "n/a (no new construction on cultivated land)" if pd.isna(ratio) else f"{ratio:.1%}"
    status = "exceeds" if exceeds else "within"
    parts = [
        "<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}",
        "table.t{border-collapse:collapse;font-size:13px;margin:1em 0}",
        "table.t td,table.t th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}",
        ".ratio{font-size:28px;font-weight:bold}.exceeds{color:#c00}.within{color:#070}",
        ".chips{display:flex;flex-wrap:wrap;gap:12px}.chips figure{margin:0;width:48%}",
        ".chips img{width:100%;image-rendering:pixelated}figcaption{font-size:12px}",
        "#map{width:100%;image-rendering:pixelated}.legend,.note{font-size:13px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Frame {html.escape(repr(frame))}</p>",
        "<h2>Illegal occupation of cultivated land</h2>",
        f"<p class='ratio {status}' id='ratio'>{ratio_text}</p>",
        f"<p>Threshold {threshold:.0%}: the county is <b>{status}</b> the threshold. Ratio = unapproved new "
        "construction on cultivated land ÷ all new construction on cultivated land (ellipsoidal areas).</p>",
        "<h2>Summary by admin unit</h2>", _table(summary),
        "<h2>Verdicts</h2>", _table(counts),
        "<h2>Map</h2>", f"<img id='map' alt='county map' src='{_map_image(after, verdicts, frame, overview)}'>",
        _legend(), f"<p class='note'>Change patches over the after-image; bounds {html.escape(str(frame.bounds))}.</p>",
        f"<h2>Unapproved patches ({len(flagged)})</h2><div class='chips'>",
    ]
    parts += [f"<figure><img alt='chip' src='{src}'><figcaption>{html.escape(c)}</figcaption></figure>"
              for c, src in chips]
    parts.append("</div>")
    if extra:
        parts.append("<h2>Run</h2><table class='t'>" + "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in extra.items())
            + "</table>")
    parts.append("</body></html>")
    path = Path(path)
    atomic_write_text(path, "\n".join(parts))
    return path
