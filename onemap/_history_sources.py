"""Earlier years' results for :func:`onemap.history.match_previous`: read, checked, normalised.

A source is a GeoDataFrame, a path or URL :func:`onemap.read_layer` reads, or a mapping
``{"path": ..., **read_layer options}``; only the rows around this year's patches are read. The
columns looked for (``verdict``, ``patch_id``, ``decision``, ``year``, ``survey``) are documented
in :mod:`onemap.history`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from os import PathLike
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .enforce import VERDICTS_ZH
from .errors import CRSError, DataError, GeometryError, Repair, report_repairs
from .overlay.vector import _polygonal
from .summary import FLAGGED

__all__ = ["CANDIDATES", "Source", "earlier_patches", "is_single", "source_label"]

CANDIDATES = {
    "verdict": ("verdict", "verdict_zh"),
    "patch_id": ("patch_id", "JCBH", "监测编号", "图斑编号"),
    "decision": ("decision", "核查结果", "核查结论", "整改情况"),
    "year": ("year", "年度"),
    "survey": ("survey", "survey_name"),
}
_VERDICT_CODES = {
    **{code: code for code in VERDICTS_ZH},
    **{zh: code for code, zh in VERDICTS_ZH.items()},
}
_OPEN, _CLOSED, _LEGAL = 0, 1, 2  # rank of an earlier patch within its survey (lower decides)

Source = (
    Any  # a GeoDataFrame, a path or URL read_layer reads, or {"path": ..., **read_layer options}
)


def earlier_patches(
    sources: list[Source], crs: Any, columns: dict[str, str], closing: set[str], bounds: np.ndarray
) -> pd.DataFrame:
    """All sources' earlier patches in *crs*, one row each: ``patch_id``, ``verdict`` (code),
    ``decision``, ``year``, ``survey``, ``order`` (position in *sources*), ``rank`` (0 open case,
    1 closed, 2 not flagged) and ``geometry``."""
    if not sources:
        return _earlier_frame([], crs)
    frames = [_earlier(src, i, crs, columns, closing, bounds) for i, src in enumerate(sources)]
    return pd.concat(frames, ignore_index=True)


def is_single(previous: Any) -> bool:
    return isinstance(previous, (gpd.GeoDataFrame, str, PathLike, Mapping))


def source_label(src: Source, i: int) -> str:
    if isinstance(src, gpd.GeoDataFrame):
        text = str(src.attrs.get("source") or f"previous[{i}]")
    elif isinstance(src, Mapping):
        text = str(src.get("path", f"previous[{i}]"))
    else:
        text = str(src)
    return re.sub(r"^([^:/]+://[^/:@]*):[^/@]*@", r"\1:***@", text)  # never a password in a record


def _read(src: Source, i: int, crs: Any, bounds: np.ndarray) -> gpd.GeoDataFrame:
    from .ingest.vector import read_layer

    label = source_label(src, i)
    if isinstance(src, gpd.GeoDataFrame):
        if src.crs is None and len(src):
            raise CRSError(
                "earlier results have no CRS", path=label, hint="set it with .set_crs(...)"
            )
        return src.to_crs(crs) if len(src) and not src.crs.equals(crs) else src
    if not isinstance(src, (str, PathLike, Mapping)):
        raise DataError(
            f"cannot read earlier results from a {type(src).__name__}",
            path=label,
            hint="pass a GeoDataFrame, a file path, a URL or a list of them",
        )
    options = dict(src) if isinstance(src, Mapping) else {"path": src}
    if "path" not in options:
        raise DataError(
            f"earlier-results source {label!r} has no 'path'",
            hint='give {"path": <file or URL>, ...read_layer options}',
        )
    path = options.pop("path")
    from .db.source import is_database_url

    if "bbox" not in options and "crs" not in options:
        box: tuple[float, ...] | None
        if is_database_url(path):  # PostGIS: the box in to_crs, found with the spatial index
            box = _padded(bounds) if np.isfinite(bounds).all() else None
        else:
            box = _box_in_source(path, options.get("layer"), crs, bounds)
        options.update({"bbox": box} if box is not None else {})
    return read_layer(path, **{"allow_empty": True, "to_crs": crs, **options})


def _padded(box: Any) -> tuple[float, float, float, float]:
    pad = 0.01 * max(box[2] - box[0], box[3] - box[1], 1e-9)  # curved edges of a reprojected box
    return (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)


def _box_in_source(path: Any, layer: Any, crs: Any, bounds: np.ndarray) -> tuple[float, ...] | None:
    """The new patches' bounds in a local file's own CRS (a little larger), so that only the
    earlier patches near them are read; ``None`` (read everything) for files without a CRS, or
    when the file cannot be asked (read_layer then says why)."""
    if not np.isfinite(bounds).all() or re.match(r"^[A-Za-z][\w+.-]*:", str(path)):
        return None
    from pyproj import CRS
    from pyproj.exceptions import CRSError as ProjCRSError
    from rasterio.warp import transform_bounds

    from .errors import OnemapError
    from .ingest._parquet import is_parquet, parquet_info

    try:
        if is_parquet(path):
            source_crs = parquet_info(path)["crs"]
        else:
            import pyogrio

            wkt = pyogrio.read_info(path, layer=layer)["crs"]
            source_crs = CRS.from_user_input(wkt) if wkt else None
        if source_crs is None:
            return None
        box = transform_bounds(CRS.from_user_input(crs), source_crs, *bounds, densify_pts=21)
    except (OnemapError, RuntimeError, ValueError, ProjCRSError):
        return None
    return _padded(box)


def _column(gdf: gpd.GeoDataFrame, key: str, columns: dict[str, str], label: str) -> str | None:
    if key in columns:
        if columns[key] not in gdf.columns:
            raise DataError(
                f"columns={{{key!r}: {columns[key]!r}}} but the earlier results have no such "
                f"column (they have {', '.join(map(str, gdf.columns))})",
                path=label,
                hint="name one of these columns",
            )
        return columns[key]
    by_key = {str(c).strip().lower(): c for c in gdf.columns}
    return next((by_key[c.lower()] for c in CANDIDATES[key] if c.lower() in by_key), None)


def _text(values: Any) -> np.ndarray:
    """Values as stripped text; missing ones as ``""``; integral floats without ``.0``."""
    s = pd.Series(values, dtype=object)
    out = [
        (
            ""
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA
            else str(int(v))
            if isinstance(v, (float, np.floating)) and float(v).is_integer()
            else str(v).strip()
        )
        for v in s
    ]
    return np.array(out, dtype=object)


def _years(gdf: gpd.GeoDataFrame, year_col: str | None) -> np.ndarray:
    if year_col is not None:
        years = pd.to_numeric(gdf[year_col], errors="coerce")
    elif "date_after" in gdf.columns:
        years = pd.to_datetime(gdf["date_after"], errors="coerce", format="mixed").dt.year
    else:
        return np.zeros(len(gdf), np.int64)
    return years.fillna(0).to_numpy().astype(np.int64)


def _earlier(
    src: Source, i: int, crs: Any, columns: dict[str, str], closing: set[str], bounds: np.ndarray
) -> pd.DataFrame:
    """One source's earlier patches, checked, as the columns _match needs."""
    label = source_label(src, i)
    gdf = _read(src, i, crs, bounds)
    if len(gdf) == 0:
        return _earlier_frame([], crs)
    verdict_col = _column(gdf, "verdict", columns, label)
    if verdict_col is None:
        raise DataError(
            f"earlier results lack a verdict column (they have {', '.join(map(str, gdf.columns))})",
            path=label,
            hint="pass a verdicts table onemap wrote (verdicts.gpkg, verdicts.parquet) "
            "or name the column with columns={'verdict': '<column>'}",
        )
    verdict = _text(gdf[verdict_col])
    codes = np.array([_VERDICT_CODES.get(v) for v in verdict], dtype=object)
    unknown = sorted(set(verdict[pd.isna(codes)]))
    if unknown:
        raise DataError(
            f"column {verdict_col!r} holds verdicts onemap does not know: {unknown[:5]}",
            path=label,
            hint=f"use onemap's codes ({', '.join(VERDICTS_ZH)}) or their Chinese labels",
        )
    geoms = np.asarray(gdf.geometry.values)
    types = shapely.get_type_id(geoms)
    bad = np.flatnonzero(
        ~np.isin(types, (3, 6)) & ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)
    )
    if bad.size:
        raise GeometryError(
            f"earlier results hold {bad.size} non-polygon geometries",
            path=label,
            feature=gdf.index[bad[0]],
            hint="earlier patches must be polygons",
        )
    invalid = np.flatnonzero(~shapely.is_valid(geoms) & ~shapely.is_missing(geoms))
    if invalid.size:  # read_layer repairs files; GeoDataFrames passed in may still need it
        geoms = geoms.copy()
        geoms[invalid] = _polygonal(shapely.make_valid(geoms[invalid]))
        report_repairs(
            [
                Repair(
                    label, f"feature {gdf.index[k]}", "invalid polygon", "repaired with make_valid"
                )
                for k in invalid
            ],
            stacklevel=5,
        )
    pid_col = _column(gdf, "patch_id", columns, label)
    dec_col = _column(gdf, "decision", columns, label)
    survey_col = _column(gdf, "survey", columns, label)
    decision = _text(gdf[dec_col]) if dec_col is not None else np.full(len(gdf), "", dtype=object)
    flagged = np.isin(codes, FLAGGED)
    closed = np.array([d.lower() in closing for d in decision], dtype=bool)
    return _earlier_frame(
        geoms,
        crs,
        {
            "patch_id": _text(gdf[pid_col]) if pid_col is not None else _text(gdf.index.to_numpy()),
            "verdict": codes,
            "decision": decision,
            "year": _years(gdf, _column(gdf, "year", columns, label)),
            "survey": _text(gdf[survey_col])
            if survey_col is not None
            else np.full(len(gdf), label, dtype=object),
            "order": np.full(len(gdf), i),
            "rank": np.where(flagged, np.where(closed, _CLOSED, _OPEN), _LEGAL),
        },
    )


def _earlier_frame(geoms: Any, crs: Any, cols: dict[str, Any] | None = None) -> pd.DataFrame:
    cols = cols or {
        k: np.array([], dtype=object) for k in ("patch_id", "verdict", "decision", "survey")
    } | {
        "year": np.array([], np.int64),
        "order": np.array([], np.int64),
        "rank": np.array([], np.int64),
    }
    frame = pd.DataFrame(cols)
    frame["geometry"] = (
        np.asarray(geoms, dtype=object) if len(geoms) else np.array([], dtype=object)
    )
    return frame
