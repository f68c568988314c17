"""County figures of the enforcement campaign, the approve–supply–use chain, and accuracy.

* :func:`summarize` — per admin unit: new construction, unapproved construction, what cultivated
  land and basic farmland it took, and the illegal-occupation ratio of cultivated land
  (违法占用耕地比例) against the campaign threshold (15 % by default, a parameter);
* :func:`approvals_status` — per approval: built / partly built / not built, supplied or not
  (批而未供, 供而未用);
* :func:`evaluate` — object-level precision / recall / F1 of the unapproved flag and area error
  against a truth table, so accuracy is measured, not assumed.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import CRSError, DataError
from .geometry import ellipsoidal_area, pairs, polygonal, same_crs

__all__ = ["summarize", "approvals_status", "evaluate", "FLAGGED", "Evaluation"]

#: verdicts that count as illegal occupation (违法)
FLAGGED = ("unapproved", "partly_approved")
_SUM_COLUMNS = ["area_m2", "existing_m2", "new_m2", "approved_m2", "unapproved_m2",
                "new_cultivated_m2", "unapproved_cultivated_m2", "unapproved_farmland_m2",
                "unapproved_redline_m2"]


def summarize(verdicts: gpd.GeoDataFrame, by: str | None = "admin",
              threshold: float = 0.15) -> pd.DataFrame:
    """Statistics per admin unit with a total row last, or one total row with ``by=None``.

    ``illegal_ratio = unapproved_cultivated_m2 / new_cultivated_m2`` — the illegal occupation
    ratio of cultivated land; ``exceeds_threshold`` flags units above *threshold* (NaN ratio
    when no new construction took cultivated land). Totals add up to the patch table.
    ``n_unknown_landuse`` (when the verdicts have ``on_unknown_landuse``) counts the patches whose
    new construction lies partly on land the land-use layer does not classify.

    When the verdicts carry the year-over-year columns of :func:`onemap.history.match_previous`,
    the table also separates new cases from old ones still unresolved: ``n_new_cases``,
    ``n_repeat_unresolved``, ``n_repeat_other`` (adding up to ``n_flagged``),
    ``new_cases_unapproved_m2`` and ``repeat_unresolved_unapproved_m2``.

    Examples
    --------
    >>> import pandas as pd
    >>> v = pd.DataFrame({"admin_code": ["A", "A", "B"], "admin_name": ["甲", "甲", "乙"],
    ...     "verdict": ["unapproved", "approved", "approved"], "area_m2": [100., 200., 50.],
    ...     "existing_m2": [0., 0., 0.], "new_m2": [100., 200., 50.],
    ...     "approved_m2": [0., 200., 50.],
    ...     "unapproved_m2": [100., 0., 0.], "new_cultivated_m2": [100., 100., 0.],
    ...     "unapproved_cultivated_m2": [100., 0., 0.], "unapproved_farmland_m2": [0., 0., 0.],
    ...     "unapproved_redline_m2": [0., 0., 0.]})
    >>> s = summarize(v)
    >>> s[["illegal_ratio", "exceeds_threshold"]].round(2).to_dict("list")
    {'illegal_ratio': [0.5, nan, 0.5], 'exceeds_threshold': [True, False, True]}
    """
    missing = [c for c in _SUM_COLUMNS + ["verdict"] if c not in verdicts.columns]
    if missing:
        raise DataError(f"verdict table lacks columns {missing}",
                        hint="pass the output of onemap.flag_unapproved")
    df = pd.DataFrame(verdicts.drop(columns="geometry", errors="ignore"))
    df["n_patches"] = 1
    df["n_flagged"] = df["verdict"].isin(FLAGGED).astype(int)
    cols = ["n_patches", "n_flagged"] + _SUM_COLUMNS
    counts = ["n_patches", "n_flagged"]
    if "on_unknown_landuse" in df.columns:  # patches judged on land the land-use layer leaves blank
        df["n_unknown_landuse"] = df["on_unknown_landuse"].astype(bool).astype(int)
        cols.insert(2, "n_unknown_landuse")
        counts.append("n_unknown_landuse")
    if "history" in df.columns:  # year over year (onemap.history.match_previous)
        history = _history_columns(df)
        counts += history
        cols += history + ["new_cases_unapproved_m2", "repeat_unresolved_unapproved_m2"]
    if by is None:  # the whole area: the total row alone
        total = df[cols].sum()
        table = pd.DataFrame([{"admin_code": "total", **{c: total[c] for c in cols}}])
    else:
        if by == "admin":
            keys = ["admin_code", "admin_name"] if "admin_name" in df.columns else ["admin_code"]
            if "admin_code" not in df.columns:
                raise DataError("verdict table has no admin_code column",
                                hint="pass admin= to flag_unapproved or by=None")
            table = df.groupby(keys, dropna=False, sort=True)[cols].sum().reset_index()
        else:
            table = df.groupby(by, dropna=False, sort=True)[cols].sum().reset_index()
        total = table[cols].sum()
        total_row = {c: total[c] for c in cols}
        for key in table.columns[: len(table.columns) - len(cols)]:
            total_row[key] = ""
        total_row[table.columns[0]] = "total"
        table = pd.concat([table, pd.DataFrame([total_row])], ignore_index=True)
    table["illegal_ratio"] = np.divide(table["unapproved_cultivated_m2"],
                                       table["new_cultivated_m2"],
                                       out=np.full(len(table), np.nan),
                                       where=table["new_cultivated_m2"].to_numpy() > 0)
    table["exceeds_threshold"] = table["illegal_ratio"].fillna(0.0) > threshold
    for c in counts:
        table[c] = table[c].astype(int)
    table.attrs["threshold"] = threshold
    return table


def _history_columns(df: pd.DataFrame) -> list[str]:
    """Add the per-patch terms of the year-over-year columns to *df*; return the count columns.

    Among flagged patches: ``n_new_cases`` (no earlier patch at the same place),
    ``n_repeat_unresolved`` (an earlier flagged patch there, not resolved since) and
    ``n_repeat_other`` (resolved then, or not flagged then); the three add up to ``n_flagged``.
    ``new_cases_unapproved_m2`` and ``repeat_unresolved_unapproved_m2`` are their unapproved
    areas.
    """
    flagged = df["n_flagged"].to_numpy(bool)
    new = (df["history"] == "new").to_numpy()
    unresolved = (df["history"] == "repeat_unresolved").to_numpy()
    df["n_new_cases"] = (flagged & new).astype(int)
    df["n_repeat_unresolved"] = (flagged & unresolved).astype(int)
    df["n_repeat_other"] = (flagged & ~new & ~unresolved).astype(int)
    df["new_cases_unapproved_m2"] = np.where(flagged & new, df["unapproved_m2"], 0.0)
    df["repeat_unresolved_unapproved_m2"] = np.where(flagged & unresolved,
                                                     df["unapproved_m2"], 0.0)
    return ["n_new_cases", "n_repeat_unresolved", "n_repeat_other"]


def approvals_status(
    approvals: gpd.GeoDataFrame,
    patches: gpd.GeoDataFrame,
    supply: gpd.GeoDataFrame | None = None,
    built_fraction: float = 0.5,
    started_fraction: float = 0.05,
    supplied_fraction: float = 0.5,
) -> gpd.GeoDataFrame:
    """The approve–supply–use chain (批、供、用) of every approval.

    ``built`` when change patches cover at least *built_fraction* of the approval, ``partly_built``
    above *started_fraction*, else ``not_built``; ``supplied`` when supply polygons cover at least
    *supplied_fraction*. ``chain`` is ``批而未供`` (approved, not supplied), ``供而未用``
    (supplied, not built) or ``已供已用`` / ``已批已用`` (used). Areas are ellipsoidal m².
    """
    if approvals.crs is None or patches.crs is None or not same_crs(approvals.crs, patches.crs):
        raise CRSError("approvals and patches must share one CRS",
                       hint="read both onto the survey frame (to_crs=frame.crs)")
    geoms = np.asarray(approvals.geometry.values)
    crs = approvals.crs
    area = ellipsoidal_area(geoms, crs)
    built = _covered_area(geoms, patches, crs)
    out = approvals.copy()
    out["area_m2"] = area
    out["built_m2"] = built
    frac = np.divide(built, area, out=np.zeros(len(area)), where=area > 0)
    out["built_fraction"] = frac
    out["status"] = np.where(frac >= built_fraction, "built",
                             np.where(frac > started_fraction, "partly_built", "not_built"))
    if supply is not None and len(supply):
        if not same_crs(supply.crs, crs):
            raise CRSError("supply layer is in another CRS than the approvals",
                           hint="read it with to_crs=frame.crs")
        sfrac = np.divide(_covered_area(geoms, supply, crs), area, out=np.zeros(len(area)),
                          where=area > 0)
        out["supplied"] = sfrac >= supplied_fraction
    else:
        out["supplied"] = False
    used = out["status"] != "not_built"
    out["chain"] = np.where(~out["supplied"] & ~used, "批而未供",
                            np.where(out["supplied"] & ~used, "供而未用",
                                     np.where(out["supplied"], "已供已用", "已批已用")))
    return out


def _covered_area(geoms: np.ndarray, layer: gpd.GeoDataFrame, crs: Any) -> np.ndarray:
    others = np.asarray(layer.geometry.values)
    out = np.array([shapely.Polygon()] * len(geoms), dtype=object)
    if len(others) and len(geoms):
        p, o = pairs(geoms, others)
        for i in np.unique(p):
            out[i] = shapely.intersection(geoms[i], shapely.union_all(others[o[p == i]]))
    return ellipsoidal_area(polygonal(out), crs)


class Evaluation(dict):
    """Accuracy: ``precision``, ``recall``, ``f1``, ``area_error`` and a ``per_case`` table."""

    def __repr__(self) -> str:
        keys = ("precision", "recall", "f1", "area_error", "tp", "fp", "fn")
        return "Evaluation(" + ", ".join(
            f"{k}={self[k]:.3f}" if isinstance(self[k], float) else f"{k}={self[k]}"
            for k in keys) + ")"


def evaluate(verdicts: gpd.GeoDataFrame, truth: gpd.GeoDataFrame,
             min_overlap: float = 0.5) -> Evaluation:
    """Object-level precision / recall / F1 of the unapproved flag, and the unapproved-area error.

    A truth object is *positive* when its ``expected_verdict`` is ``unapproved`` or
    ``partly_approved``. It is found when flagged patches cover at least *min_overlap* of it. A
    flagged patch is a true positive when it overlaps a positive truth object by at least
    *min_overlap* of the smaller of the two, else a false positive. ``area_error`` is the relative
    error of the flagged unapproved area against the truth's unapproved area (the part of each
    positive truth object outside its approval, from ``truth_unapproved_m2`` when present, else
    its whole area). ``per_case`` reports, per truth ``case``, how many objects were flagged.
    """
    if not same_crs(verdicts.crs, truth.crs):
        raise CRSError("verdicts and truth must share one CRS")
    positive = truth["expected_verdict"].isin(FLAGGED).to_numpy()
    flagged = verdicts["verdict"].isin(FLAGGED).to_numpy()
    tg = np.asarray(truth.geometry.values)
    vg = np.asarray(verdicts.geometry.values)
    t_area = shapely.area(tg)
    v_area = shapely.area(vg)
    covered = np.zeros(len(tg))
    tp_patch = np.zeros(len(vg), bool)
    if len(tg) and len(vg):
        p, o = pairs(tg, vg)
        inter = shapely.area(shapely.intersection(tg[p], vg[o]))
        for t, v, a in zip(p, o, inter, strict=True):
            if flagged[v]:
                covered[t] += a
                if positive[t] and a >= min_overlap * min(t_area[t], v_area[v]):
                    tp_patch[v] = True
    found = covered >= min_overlap * t_area
    tp = int((found & positive).sum())
    fn = int((~found & positive).sum())
    fp = int((flagged & ~tp_patch).sum())
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    if "truth_unapproved_m2" in truth.columns:
        truth_area = float(truth.loc[positive, "truth_unapproved_m2"].sum())
    else:
        truth_area = float(ellipsoidal_area(truth[positive]).sum()) if positive.any() else 0.0
    flagged_area = float(verdicts.loc[flagged & tp_patch, "unapproved_m2"].sum())
    area_error = abs(flagged_area - truth_area) / truth_area if truth_area > 0 else float("nan")
    per_case = (pd.DataFrame({"case": truth["case"].to_numpy(), "flagged": found,
                              "positive": positive})
                .groupby("case").agg(n=("flagged", "size"), flagged=("flagged", "sum"),
                                     positive=("positive", "first")).reset_index())
    return Evaluation(precision=precision, recall=recall, f1=f1, area_error=area_error,
                      tp=tp, fp=fp, fn=fn, flagged_area_m2=flagged_area, truth_area_m2=truth_area,
                      per_case=per_case)
