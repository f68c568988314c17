"""Area invariants every survey checks before it writes a verdict: areas add up, nothing is lost.

A survey's figures go into enforcement reports, so a bug or a bad layer that breaks the bookkeeping
must stop the run, not slip into a table. :func:`check_invariants` verifies, within
:data:`RELATIVE_TOLERANCE` of the whole polygon's area (the patch, or the total; at least 1 m²):

``patches_kept``
    Every change patch has exactly one verdict row, and no verdict row comes from nowhere.
``verdict_areas``
    Per patch: ``existing_m2 + approved_m2 + unapproved_m2 == area_m2`` and
    ``approved_m2 + unapproved_m2 == new_m2``.
``landuse_pieces``
    Per patch: the land-use pieces of the unapproved part (``unapproved_by_code`` plus the part
    no land-use polygon covers) add up to ``unapproved_m2``. Overlapping land-use polygons would
    count land twice and break this.
``admin_totals``
    Per area column: the admin rows of the summary add up to its total row (a summary of the
    whole area is the total row alone), and the total row equals the sum over the verdict table.

Each check returns how many rows it compared and the largest relative error; the survey records
them in ``manifest.json`` and a violation raises :class:`~onemap.errors.InvariantError` naming the
check, the worst rows and their figures.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from .errors import InvariantError

__all__ = ["check_invariants", "RELATIVE_TOLERANCE"]

RELATIVE_TOLERANCE = 1e-6
_ABSOLUTE_M2 = 1e-6


def _compare(
    name: str, got: Any, want: Any, labels: Any, what: str, scale: Any = None
) -> dict[str, Any]:
    """Relative to *scale* (the whole polygon's area, default *want*), at least 1 m²."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    err = np.abs(got - want)
    scale = np.maximum(np.abs(want if scale is None else np.asarray(scale, np.float64)), 1.0)
    rel = err / scale
    bad = (
        (err > RELATIVE_TOLERANCE * scale) & (err > _ABSOLUTE_M2)
        | ~np.isfinite(got)
        | ~np.isfinite(want)
    )
    if bad.any():
        idx = np.flatnonzero(bad)[:5]
        rows = "; ".join(f"{labels[i]}: {got[i]:.6f} vs {want[i]:.6f}" for i in idx)
        raise InvariantError(
            f"invariant {name!r} violated for {int(bad.sum())} row(s): {what} ({rows})",
            hint="this is a bug or a broken input layer (e.g. overlapping land-use "
            "polygons); keep the output folder and report it",
        )
    return {"rows": int(got.size), "max_relative_error": float(rel.max()) if rel.size else 0.0}


def _merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rows": sum(r["rows"] for r in results),
            "max_relative_error": max((r["max_relative_error"] for r in results), default=0.0)}


def check_invariants(
    patches: pd.DataFrame, verdicts: pd.DataFrame, summary: pd.DataFrame
) -> dict[str, Any]:
    """Check the area invariants of one survey run; return the record for the manifest.

    Parameters
    ----------
    patches
        The change patches (``patch_id``) that went into enforcement.
    verdicts
        :func:`onemap.flag_unapproved` output for them.
    summary
        :func:`onemap.summarize` of *verdicts* (admin rows and a final ``total`` row).

    Returns
    -------
    dict
        ``{check: {"rows": n, "max_relative_error": e}}`` plus ``"tolerance"``.

    Raises
    ------
    InvariantError
        A check fails; the message names the check and the worst rows.

    Examples
    --------
    >>> import pandas as pd
    >>> from onemap import summarize
    >>> v = pd.DataFrame({"patch_id": [1, 2], "verdict": ["approved", "unapproved"],
    ...     "admin_code": ["A", "B"], "admin_name": ["甲", "乙"], "area_m2": [100.0, 50.0],
    ...     "existing_m2": [10.0, 0.0], "new_m2": [90.0, 50.0], "approved_m2": [90.0, 0.0],
    ...     "unapproved_m2": [0.0, 50.0], "new_cultivated_m2": [0.0, 50.0],
    ...     "unapproved_cultivated_m2": [0.0, 50.0], "unapproved_farmland_m2": [0.0, 0.0],
    ...     "unapproved_redline_m2": [0.0, 0.0], "unapproved_unknown_m2": [0.0, 0.0],
    ...     "unapproved_by_code": ["{}", '{"0101": 50.0}']})
    >>> record = check_invariants(v[["patch_id"]], v, summarize(v))
    >>> sorted(record), record["verdict_areas"]["rows"]
    (['admin_totals', 'landuse_pieces', 'patches_kept', 'tolerance', 'verdict_areas'], 4)
    >>> v.loc[1, "approved_m2"] = 5.0
    >>> check_invariants(v[["patch_id"]], v, summarize(v))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    onemap.errors.InvariantError: invariant 'verdict_areas' violated for 1 row(s): ...
    """
    record: dict[str, Any] = {"tolerance": RELATIVE_TOLERANCE}
    ids = verdicts["patch_id"].to_numpy()
    want = (
        patches["patch_id"].to_numpy()
        if "patch_id" in patches.columns
        else patches.index.to_numpy()
    )
    if (
        len(ids) != len(want)
        or len(set(ids.tolist())) != len(ids)
        or set(ids.tolist()) != set(want.tolist())
    ):
        lost = sorted(set(want.tolist()) - set(ids.tolist()))[:5]
        extra = sorted(set(ids.tolist()) - set(want.tolist()))[:5]
        raise InvariantError(
            f"invariant 'patches_kept' violated: {len(want)} patches, {len(ids)} verdict rows "
            f"(lost {lost}, unexpected {extra})",
            hint="this is a bug; report it",
        )
    record["patches_kept"] = {"rows": int(len(ids)), "max_relative_error": 0.0}
    labels = [f"patch {i}" for i in ids]
    area = verdicts["area_m2"].to_numpy()
    record["verdict_areas"] = _merge(
        [
            _compare(
                "verdict_areas",
                verdicts["existing_m2"] + verdicts["approved_m2"] + verdicts["unapproved_m2"],
                area,
                labels,
                "existing + approved + unapproved != area",
            ),
            _compare(
                "verdict_areas",
                verdicts["approved_m2"] + verdicts["unapproved_m2"],
                verdicts["new_m2"],
                labels,
                "approved + unapproved != new",
                area,
            ),
        ]
    )
    unappr = verdicts["unapproved_m2"].to_numpy()
    covered = np.array(
        [sum(json.loads(t).values()) for t in verdicts["unapproved_by_code"]], np.float64
    )
    uncovered = np.clip(unappr - covered, 0.0, None)
    record["landuse_pieces"] = _compare(
        "landuse_pieces",
        covered + uncovered,
        unappr,
        labels,
        "land-use pieces of the unapproved part != unapproved area",
        area,
    )
    body, total = summary.iloc[:-1], summary.iloc[-1]
    columns = [c for c in summary.columns if c.endswith("_m2") and c in verdicts.columns]
    # a summary by=None is its total row alone: no unit rows to add up
    units = [] if body.empty else [
        _compare(
            "admin_totals",
            [body[c].sum() for c in columns],
            [float(total[c]) for c in columns],
            columns,
            "admin rows do not add up to the total row",
        )
    ]
    record["admin_totals"] = _merge(
        [
            *units,
            _compare(
                "admin_totals",
                [float(total[c]) for c in columns],
                [verdicts[c].sum() for c in columns],
                columns,
                "the total row differs from the verdict table",
            ),
        ]
    )
    return record
