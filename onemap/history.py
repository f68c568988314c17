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
:data:`RESOLVED_DECISIONS` (exact text after trimming, e.g. ``已整改``, ``已拆除``,
``已完善用地手续``, ``伪变化``, ``resolved``); any other text, and a blank, leaves it unresolved —
an unknown word keeps a case open rather than closing it silently. Pass ``resolved=`` for a
bureau's own words.

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

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._history_sources import CANDIDATES, Source, earlier_patches, is_single, source_label
from .errors import CRSError, DataError
from .overlay.vector import _polygonal, ellipsoidal_area

__all__ = ["HISTORY_COLUMNS", "HISTORY_ZH", "RESOLVED_DECISIONS", "match_previous"]

#: columns :func:`match_previous` adds (replaced when present)
HISTORY_COLUMNS = (
    "history",
    "prev_matches",
    "prev_survey",
    "prev_year",
    "prev_patch_id",
    "prev_verdict",
    "prev_decision",
    "prev_overlap",
)
#: the campaign's words for the ``history`` values
HISTORY_ZH = {
    "new": "新增",
    "repeat_unresolved": "往年违法未整改",
    "repeat_resolved": "往年违法已整改",
    "repeat_not_flagged": "往年合法",
}
#: field-check decisions that close a case
RESOLVED_DECISIONS = frozenset(
    {
        "resolved",
        "rectified",
        "demolished",
        "restored",
        "legalised",
        "legalized",
        "legal",
        "false_change",
        "已整改",
        "整改到位",
        "已拆除",
        "已复耕",
        "已复垦",
        "已补办手续",
        "已完善手续",
        "已完善用地手续",
        "合法",
        "不违法",
        "伪变化",
    }
)
_HISTORY = np.array(["repeat_unresolved", "repeat_resolved", "repeat_not_flagged"])


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
    ...     geometry=[shapely.box(x + 10, y, x + 50, y + 40),
    ...               shapely.box(x + 100, y, x + 140, y + 40),
    ...               shapely.box(x + 300, y, x + 340, y + 40)])
    >>> out = match_previous(now, last_year)
    >>> for row in out[["history", "prev_patch_id", "prev_year", "prev_decision"]].values.tolist():
    ...     print(row)
    ['repeat_unresolved', '7', 2024, '']
    ['repeat_resolved', '8', 2024, '已拆除']
    ['new', '', 0, '']
    >>> out["prev_overlap"].round(2).tolist()
    [0.75, 1.0, 0.0]
    """
    if not isinstance(verdicts, gpd.GeoDataFrame):
        raise DataError(f"verdicts must be a GeoDataFrame, got {type(verdicts).__name__}")
    if verdicts.crs is None:
        raise CRSError("verdicts have no CRS", hint="set one with verdicts.set_crs(...)")
    if not 0 < min_overlap <= 1:
        raise DataError(
            f"min_overlap must be in (0, 1], got {min_overlap!r}",
            hint="a share of the smaller patch, e.g. 0.3",
        )
    unknown = set(columns or {}) - set(CANDIDATES)
    if unknown:
        raise DataError(
            f"columns= names unknown keys {sorted(unknown)}", hint=f"use {sorted(CANDIDATES)}"
        )
    closing = {
        str(d).strip().lower() for d in (RESOLVED_DECISIONS if resolved is None else resolved)
    }
    sources = [previous] if is_single(previous) else list(previous)
    bounds = np.asarray(verdicts.total_bounds, dtype=float)  # NaN when empty: read everything
    prev = earlier_patches(sources, verdicts.crs, dict(columns or {}), closing, bounds)
    out = verdicts.drop(columns=[c for c in HISTORY_COLUMNS if c in verdicts.columns])
    added = _match(np.asarray(out.geometry.values), prev, out.crs, min_overlap)
    for name in HISTORY_COLUMNS:  # appended: the verdicts' own columns keep their order
        out[name] = added[name]
    out.attrs = dict(verdicts.attrs)
    out.attrs["history"] = {
        "sources": [source_label(src, i) for i, src in enumerate(sources)],
        "min_overlap": min_overlap,
        "rule": "intersection >= min_overlap x the smaller patch's area (ellipsoidal m2)",
        "counts": {k: int(v) for k, v in out["history"].value_counts().sort_index().items()},
    }
    return out


# ------------------------------------------------------------------------------------ matching
def _match(
    geoms: np.ndarray, prev: pd.DataFrame, crs: Any, min_overlap: float
) -> dict[str, np.ndarray]:
    """The history columns for *geoms* against the earlier patches *prev* (same CRS)."""
    n = len(geoms)
    out: dict[str, np.ndarray] = {
        "history": np.full(n, "new", dtype=object),
        "prev_matches": np.zeros(n, np.int64),
        "prev_survey": np.full(n, "", dtype=object),
        "prev_year": np.zeros(n, np.int64),
        "prev_patch_id": np.full(n, "", dtype=object),
        "prev_verdict": np.full(n, "", dtype=object),
        "prev_decision": np.full(n, "", dtype=object),
        "prev_overlap": np.zeros(n, np.float64),
    }
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
    best = pairs.sort_values(
        ["i", "year", "order", "rank", "share", "patch_id"],
        ascending=[True, False, False, True, False, True],
        kind="stable",
    ).drop_duplicates("i")
    bi, bj = best["i"].to_numpy(), best["j"].to_numpy()
    out["history"][bi] = _HISTORY[prev["rank"].to_numpy()[bj]]
    out["prev_overlap"][bi] = best["share"].to_numpy()
    for name, key in (
        ("prev_survey", "survey"),
        ("prev_year", "year"),
        ("prev_patch_id", "patch_id"),
        ("prev_verdict", "verdict"),
        ("prev_decision", "decision"),
    ):
        out[name][bi] = prev[key].to_numpy()[bj]
    return out


_MARGIN = 0.01  # planar and ellipsoidal shares of patch-sized polygons differ by far less


def _shares(
    new: np.ndarray, old: np.ndarray, i: np.ndarray, j: np.ndarray, crs: Any, min_overlap: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
