"""Year over year (历年图斑比对): was a change patch already flagged in an earlier survey?

The enforcement campaign runs every year over the same county; a patch flagged this year may be a
new case (新增) or an old one that was never put right (往年未整改). :func:`match_previous` compares
this year's verdicts with earlier years' results — verdict tables written by onemap
(``verdicts.gpkg``, ``verdicts.parquet``), any layer :func:`onemap.read_layer` reads (later a
database table), or GeoDataFrames — and adds to every patch what happened there before.

**Same place.** A new patch and an earlier patch are the same place when the area of their
intersection is at least ``min_overlap`` (default 0.3) of the area of the *smaller* of the two.
The smaller one, because a case that grew (a yard added to a house) or shrank (half demolished)
is still the same case, while a large new patch that only grazes an old small one is not. Areas
are ellipsoidal m² (:func:`onemap.ellipsoidal_area`) whatever the CRS; earlier results in
another CRS are reprojected onto the patches' CRS first, so the answer does not depend on the
CRS either table was stored in. Candidate pairs come from a shapely ``STRtree``; plane areas rule
out pairs that cannot reach the share (with a 1 % margin), the rest are measured on the
ellipsoid; every step is vectorised over pairs.

**Which earlier patch decides.** When several earlier patches match, the one from the most
recent survey decides (by ``year``, then by the order of *previous*: later entries are more
recent); within one survey an open case (flagged, not resolved) comes before a closed one, and
that before an unflagged patch, then the larger overlap, then the smaller ``patch_id``.

**Columns read from earlier results** (first candidate present, case-insensitive; ``columns=``
names others):

==============  =========================================  =====================================
column          candidates                                 when absent
==============  =========================================  =====================================
``verdict``     verdict, verdict_zh (onemap's codes or     :class:`~onemap.errors.DataError`
                their Chinese labels, ``VERDICTS_ZH``)     naming the source and the fix
``patch_id``    patch_id, JCBH, 监测编号, 图斑编号         the row's feature id
``decision``    decision, 核查结果, 核查结论, 整改情况     no field check recorded: unresolved
``year``        year, 年度, else the year of date_after    0 (unknown; sorts as the oldest)
``survey``      survey, survey_name                        the source's name (file path)
==============  =========================================  =====================================

A ``decision`` (the field check's outcome) *resolves* a case when it is one of
:data:`RESOLVED_DECISIONS` (exact text after trimming, e.g. ``已整改``, ``已拆除``, ``已完善用地手续``,
``伪变化``, ``resolved``); any other text, and a blank, leaves it unresolved — an unknown word
keeps a case open rather than closing it silently. Pass ``resolved=`` for a bureau's own words.

**Columns added** (machine names; text columns hold ``""`` and numbers ``0`` when nothing
matched, so GeoPackage, GeoParquet and CSV keep one type per column):

=======================  ====================================================================
``history``              ``new`` (no earlier patch here), ``repeat_unresolved`` (the deciding
                         earlier patch was flagged and not resolved), ``repeat_resolved``
                         (flagged then, resolved since), ``repeat_not_flagged`` (not flagged
                         then: approved or existing construction)
``prev_matches``         number of earlier patches (all sources) at the same place
``prev_survey``          survey (or source) of the deciding earlier patch
``prev_year``            its year (0: unknown)
``prev_patch_id``        its ``patch_id``, as text
``prev_verdict``         its verdict (onemap's code)
``prev_decision``        its field-check decision (``""``: none recorded)
``prev_overlap``         intersection / smaller area of the two
=======================  ====================================================================
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .enforce import VERDICTS_ZH
from .errors import CRSError, DataError, GeometryError, Repair, report_repairs
from .overlay.vector import _polygonal, ellipsoidal_area
from .summary import FLAGGED

__all__ = ["HISTORY_COLUMNS", "HISTORY_ZH", "RESOLVED_DECISIONS", "match_previous"]

#: columns :func:`match_previous` adds (replaced when present)
HISTORY_COLUMNS = ("history", "prev_matches", "prev_survey", "prev_year", "prev_patch_id", "prev_verdict",
                   "prev_decision", "prev_overlap")
#: the campaign's words for the ``history`` values
HISTORY_ZH = {"new": "新增", "repeat_unresolved": "往年违法未整改", "repeat_resolved": "往年违法已整改",
              "repeat_not_flagged": "往年合法"}
#: field-check decisions that close a case
RESOLVED_DECISIONS = frozenset({
    "resolved", "rectified", "demolished", "restored", "legalised", "legalized", "legal", "false_change",
    "已整改", "整改到位", "已拆除", "已复耕", "已复垦", "已补办手续", "已完善手续", "已完善用地手续", "合法", "不违法",
    "伪变化"})
_CANDIDATES = {
    "verdict": ("verdict", "verdict_zh"),
    "patch_id": ("patch_id", "JCBH", "监测编号", "图斑编号"),
    "decision": ("decision", "核查结果", "核查结论", "整改情况"),
    "year": ("year", "年度"),
    "survey": ("survey", "survey_name"),
}
_VERDICT_CODES = {**{code: code for code in VERDICTS_ZH}, **{zh: code for code, zh in VERDICTS_ZH.items()}}
_OPEN, _CLOSED, _LEGAL = 0, 1, 2  # rank of an earlier patch within its survey (lower decides)
_HISTORY = np.array(["repeat_unresolved", "repeat_resolved", "repeat_not_flagged"])

Source = Any  # a GeoDataFrame, a path or URL read_layer reads, or {"path": ..., **read_layer options}


def match_previous(
    verdicts: gpd.GeoDataFrame,
    previous: Source | Sequence[Source],
    *,
    min_overlap: float = 0.3,
    resolved: Iterable[str] | None = None,
    columns: Mapping[str, str] | None = None,
) -> gpd.GeoDataFrame:
    """Add to every patch whether an earlier survey flagged the same place, and what was decided.

    Parameters
    ----------
    verdicts
        This survey's patches (e.g. :func:`onemap.flag_unapproved`'s result), with a CRS.
    previous
        Earlier results: one source or a list of them, oldest first. A source is a GeoDataFrame, a
        path (GeoPackage, GeoParquet, shapefile …) or URL that :func:`onemap.read_layer` reads, or
        a mapping ``{"path": ..., **read_layer options}`` (e.g. ``layer=``, or ``table=`` and
        ``where=`` for a PostGIS URL). Only the earlier patches around this year's are read
        (``bbox=``: in a file's own CRS, for a database in the patches' CRS, found with the
        table's spatial index). An empty list or empty layers: every patch is ``new``.
    min_overlap
        Same place when the intersection is at least this share of the smaller patch (0 < x ≤ 1).
    resolved
        Decisions that close a case (default :data:`RESOLVED_DECISIONS`).
    columns
        ``{"verdict" | "patch_id" | "decision" | "year" | "survey": source column}`` for earlier
        results whose columns have other names.

    Returns
    -------
    geopandas.GeoDataFrame
        *verdicts* with the columns of :data:`HISTORY_COLUMNS` (replaced when already present, so
        a rerun gives the same table) and ``attrs["history"]`` (sources, rule, counts).

    Raises
    ------
    DataError, CRSError, GeometryError, FormatError
        An earlier table without a verdict column, with verdicts onemap does not know, without a
        CRS or with non-polygons — each naming the source and the fix.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> x, y = 39_500_000, 3_300_000
    >>> last_year = gpd.GeoDataFrame({"patch_id": [7, 8], "verdict": ["unapproved", "unapproved"],
    ...     "decision": ["", "已拆除"], "year": [2024, 2024]}, crs=4527,
    ...     geometry=[shapely.box(x, y, x + 40, y + 40), shapely.box(x + 100, y, x + 140, y + 40)])
    >>> now = gpd.GeoDataFrame({"patch_id": [1, 2, 3], "verdict": ["unapproved"] * 3}, crs=4527,
    ...     geometry=[shapely.box(x + 10, y, x + 50, y + 40), shapely.box(x + 100, y, x + 140, y + 40),
    ...               shapely.box(x + 300, y, x + 340, y + 40)])
    >>> out = match_previous(now, last_year)
    >>> out[["history", "prev_patch_id", "prev_year", "prev_decision"]].values.tolist()
    [['repeat_unresolved', '7', 2024, ''], ['repeat_resolved', '8', 2024, '已拆除'], ['new', '', 0, '']]
    >>> out["prev_overlap"].round(2).tolist()
    [0.75, 1.0, 0.0]
    """
    if not isinstance(verdicts, gpd.GeoDataFrame):
        raise DataError(f"verdicts must be a GeoDataFrame, got {type(verdicts).__name__}")
    if verdicts.crs is None:
        raise CRSError("verdicts have no CRS", hint="set one with verdicts.set_crs(...)")
    if not 0 < min_overlap <= 1:
        raise DataError(f"min_overlap must be in (0, 1], got {min_overlap!r}",
                        hint="a share of the smaller patch, e.g. 0.3")
    unknown = set(columns or {}) - set(_CANDIDATES)
    if unknown:
        raise DataError(f"columns= names unknown keys {sorted(unknown)}", hint=f"use {sorted(_CANDIDATES)}")
    closing = {str(d).strip().lower() for d in (RESOLVED_DECISIONS if resolved is None else resolved)}
    sources = [previous] if _is_single(previous) else list(previous)
    bounds = np.asarray(verdicts.total_bounds, dtype=float)  # NaN when empty: read everything
    prev = pd.concat([_earlier(src, i, verdicts.crs, dict(columns or {}), closing, bounds)
                      for i, src in enumerate(sources)], ignore_index=True) if sources else \
        _earlier_frame([], verdicts.crs)
    out = verdicts.drop(columns=[c for c in HISTORY_COLUMNS if c in verdicts.columns])
    added = _match(np.asarray(out.geometry.values), prev, out.crs, min_overlap)
    for name in HISTORY_COLUMNS:  # appended: the verdicts' own columns keep their order
        out[name] = added[name]
    out.attrs = dict(verdicts.attrs)
    out.attrs["history"] = {
        "sources": [_label(src, i) for i, src in enumerate(sources)], "min_overlap": min_overlap,
        "rule": "intersection >= min_overlap x the smaller patch's area (ellipsoidal m2)",
        "counts": {k: int(v) for k, v in out["history"].value_counts().sort_index().items()}}
    return out


# ------------------------------------------------------------------------------------ sources
def _is_single(previous: Any) -> bool:
    return isinstance(previous, (gpd.GeoDataFrame, str, PathLike, Mapping))


def _label(src: Source, i: int) -> str:
    if isinstance(src, gpd.GeoDataFrame):
        text = str(src.attrs.get("source") or f"previous[{i}]")
    elif isinstance(src, Mapping):
        text = str(src.get("path", f"previous[{i}]"))
    else:
        text = str(src)
    return re.sub(r"^([^:/]+://[^/:@]*):[^/@]*@", r"\1:***@", text)  # never a password in a record


def _read(src: Source, i: int, crs: Any, bounds: np.ndarray) -> gpd.GeoDataFrame:
    from .ingest.vector import read_layer

    label = _label(src, i)
    if isinstance(src, gpd.GeoDataFrame):
        if src.crs is None and len(src):
            raise CRSError("earlier results have no CRS", path=label, hint="set it with .set_crs(...)")
        return src.to_crs(crs) if len(src) and not src.crs.equals(crs) else src
    if not isinstance(src, (str, PathLike, Mapping)):
        raise DataError(f"cannot read earlier results from a {type(src).__name__}", path=label,
                        hint="pass a GeoDataFrame, a file path, a URL or a list of them")
    options = dict(src) if isinstance(src, Mapping) else {"path": src}
    if "path" not in options:
        raise DataError(f"earlier-results source {label!r} has no 'path'",
                        hint='give {"path": <file or URL>, ...read_layer options}')
    path = options.pop("path")
    from .db.source import is_database_url

    if "bbox" not in options and "crs" not in options:
        if is_database_url(path):  # a PostGIS table: the box in to_crs, found with its spatial index
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
            raise DataError(f"columns={{{key!r}: {columns[key]!r}}} but the earlier results have no such "
                            f"column (they have {', '.join(map(str, gdf.columns))})", path=label,
                            hint="name one of these columns")
        return columns[key]
    by_key = {str(c).strip().lower(): c for c in gdf.columns}
    return next((by_key[c.lower()] for c in _CANDIDATES[key] if c.lower() in by_key), None)


def _text(values: Any) -> np.ndarray:
    """Values as stripped text; missing ones as ``""``; integral floats without ``.0``."""
    s = pd.Series(values, dtype=object)
    out = [("" if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else
            str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer() else str(v).strip())
           for v in s]
    return np.array(out, dtype=object)


def _years(gdf: gpd.GeoDataFrame, year_col: str | None) -> np.ndarray:
    if year_col is not None:
        years = pd.to_numeric(gdf[year_col], errors="coerce")
    elif "date_after" in gdf.columns:
        years = pd.to_datetime(gdf["date_after"], errors="coerce", format="mixed").dt.year
    else:
        return np.zeros(len(gdf), np.int64)
    return years.fillna(0).to_numpy().astype(np.int64)


def _earlier(src: Source, i: int, crs: Any, columns: dict[str, str], closing: set[str],
             bounds: np.ndarray) -> pd.DataFrame:
    """One source's earlier patches, checked, as the columns _match needs."""
    label = _label(src, i)
    gdf = _read(src, i, crs, bounds)
    if len(gdf) == 0:
        return _earlier_frame([], crs)
    verdict_col = _column(gdf, "verdict", columns, label)
    if verdict_col is None:
        raise DataError(f"earlier results lack a verdict column (they have {', '.join(map(str, gdf.columns))})",
                        path=label, hint="pass a verdicts table onemap wrote (verdicts.gpkg, verdicts.parquet) "
                                         "or name the column with columns={'verdict': '<column>'}")
    verdict = _text(gdf[verdict_col])
    codes = np.array([_VERDICT_CODES.get(v) for v in verdict], dtype=object)
    unknown = sorted(set(verdict[pd.isna(codes)]))
    if unknown:
        raise DataError(f"column {verdict_col!r} holds verdicts onemap does not know: {unknown[:5]}", path=label,
                        hint=f"use onemap's codes ({', '.join(VERDICTS_ZH)}) or their Chinese labels")
    geoms = np.asarray(gdf.geometry.values)
    types = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~np.isin(types, (3, 6)) & ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms))
    if bad.size:
        raise GeometryError(f"earlier results hold {bad.size} non-polygon geometries", path=label,
                            feature=gdf.index[bad[0]], hint="earlier patches must be polygons")
    invalid = np.flatnonzero(~shapely.is_valid(geoms) & ~shapely.is_missing(geoms))
    if invalid.size:  # read_layer repairs files; GeoDataFrames passed in may still need it
        geoms = geoms.copy()
        geoms[invalid] = _polygonal(shapely.make_valid(geoms[invalid]))
        report_repairs([Repair(label, f"feature {gdf.index[k]}", "invalid polygon", "repaired with make_valid")
                        for k in invalid], stacklevel=4)
    pid_col = _column(gdf, "patch_id", columns, label)
    dec_col = _column(gdf, "decision", columns, label)
    survey_col = _column(gdf, "survey", columns, label)
    decision = _text(gdf[dec_col]) if dec_col is not None else np.full(len(gdf), "", dtype=object)
    flagged = np.isin(codes, FLAGGED)
    closed = np.array([d.lower() in closing for d in decision], dtype=bool)
    return _earlier_frame(geoms, crs, {
        "patch_id": _text(gdf[pid_col]) if pid_col is not None else _text(gdf.index.to_numpy()),
        "verdict": codes, "decision": decision, "year": _years(gdf, _column(gdf, "year", columns, label)),
        "survey": _text(gdf[survey_col]) if survey_col is not None else np.full(len(gdf), label, dtype=object),
        "order": np.full(len(gdf), i), "rank": np.where(flagged, np.where(closed, _CLOSED, _OPEN), _LEGAL)})


def _earlier_frame(geoms: Any, crs: Any, cols: dict[str, Any] | None = None) -> pd.DataFrame:
    cols = cols or {k: np.array([], dtype=object) for k in ("patch_id", "verdict", "decision", "survey")} | {
        "year": np.array([], np.int64), "order": np.array([], np.int64), "rank": np.array([], np.int64)}
    frame = pd.DataFrame(cols)
    frame["geometry"] = np.asarray(geoms, dtype=object) if len(geoms) else np.array([], dtype=object)
    return frame


# ------------------------------------------------------------------------------------ matching
def _match(geoms: np.ndarray, prev: pd.DataFrame, crs: Any, min_overlap: float) -> dict[str, np.ndarray]:
    """The history columns for *geoms* against the earlier patches *prev* (same CRS)."""
    n = len(geoms)
    out: dict[str, np.ndarray] = {
        "history": np.full(n, "new", dtype=object), "prev_matches": np.zeros(n, np.int64),
        "prev_survey": np.full(n, "", dtype=object), "prev_year": np.zeros(n, np.int64),
        "prev_patch_id": np.full(n, "", dtype=object), "prev_verdict": np.full(n, "", dtype=object),
        "prev_decision": np.full(n, "", dtype=object), "prev_overlap": np.zeros(n, np.float64)}
    old = prev["geometry"].to_numpy()
    if n == 0 or len(old) == 0:
        return out
    i, j = shapely.STRtree(old).query(geoms, predicate="intersects")
    if i.size == 0:
        return out
    i, j, share = _shares(geoms, old, i, j, crs, min_overlap)
    pairs = pd.DataFrame({"i": i, "j": j, "share": share})
    if pairs.empty:
        return out
    for key in ("year", "order", "rank", "patch_id"):
        pairs[key] = prev[key].to_numpy()[pairs["j"].to_numpy()]
    out["prev_matches"] = np.bincount(pairs["i"].to_numpy(), minlength=n).astype(np.int64)
    best = (pairs.sort_values(["i", "year", "order", "rank", "share", "patch_id"],
                              ascending=[True, False, False, True, False, True], kind="stable")
            .drop_duplicates("i"))
    bi, bj = best["i"].to_numpy(), best["j"].to_numpy()
    out["history"][bi] = _HISTORY[prev["rank"].to_numpy()[bj]]
    out["prev_overlap"][bi] = best["share"].to_numpy()
    for name, key in (("prev_survey", "survey"), ("prev_year", "year"), ("prev_patch_id", "patch_id"),
                      ("prev_verdict", "verdict"), ("prev_decision", "decision")):
        out[name][bi] = prev[key].to_numpy()[bj]
    return out


_MARGIN = 0.01  # planar and ellipsoidal shares of patch-sized polygons differ by far less


def _shares(new: np.ndarray, old: np.ndarray, i: np.ndarray, j: np.ndarray, crs: Any,
            min_overlap: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i, j, share)`` of the candidate pairs that are the same place.

    Plane areas first rule out the pairs that cannot reach *min_overlap* (the overlap of the
    bounding boxes, then of the polygons, against the smaller plane area, with a 1 % margin for
    the CRS's scale), so the ellipsoidal areas are computed only for the pairs that may match;
    their shares decide.
    """
    floor = min_overlap * (1 - _MARGIN)
    smaller = np.minimum(shapely.area(new)[i], shapely.area(old)[j])
    bn, bo = shapely.bounds(new)[i], shapely.bounds(old)[j]
    w = np.minimum(bn[:, 2], bo[:, 2]) - np.maximum(bn[:, 0], bo[:, 0])
    h = np.minimum(bn[:, 3], bo[:, 3]) - np.maximum(bn[:, 1], bo[:, 1])
    may = np.clip(w, 0, None) * np.clip(h, 0, None) >= floor * smaller
    i, j, smaller = i[may], j[may], smaller[may]
    inter = _polygonal(shapely.intersection(new[i], old[j]))
    may = shapely.area(inter) >= floor * smaller
    i, j, inter = i[may], j[may], inter[may]
    ui, uj = np.unique(i), np.unique(j)
    a_new, a_old = np.zeros(len(new)), np.zeros(len(old))
    a_new[ui], a_old[uj] = _areas(new[ui], crs), _areas(old[uj], crs)
    smaller = np.minimum(a_new[i], a_old[j])
    share = np.divide(_areas(inter, crs), smaller, out=np.zeros(i.size), where=smaller > 0)
    keep = share >= min_overlap
    return i[keep], j[keep], share[keep]


def _areas(geoms: np.ndarray, crs: Any) -> np.ndarray:
    return ellipsoidal_area(gpd.GeoSeries(geoms, crs=crs)).to_numpy()
