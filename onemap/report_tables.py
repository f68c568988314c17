"""HTML tables of the survey report: narrow enough for the page, every cell escaped.

The county table is in 亩 (the campaign's unit for county tables) with ratios in %, the verdict
table in m², 亩 and 公顷; headers carry their units (:func:`onemap.labels.header`).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import pandas as pd

from . import labels

__all__ = [
    "coverage_table",
    "dictionary_section",
    "html_table",
    "run_table",
    "summary_table",
    "verdict_table",
]

_SUMMARY_AREAS = [
    "new",
    "unapproved",
    "new_cultivated",
    "unapproved_cultivated",
    "unapproved_farmland",
]


def _fmt(value: Any, unit: str | None, lang: str) -> str:
    if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return ""
    if unit == "bool" or isinstance(value, (bool, np.bool_)):
        return labels.text("yes" if value else "no", lang)
    if unit == "pct":
        return f"{value * 100:.1f} %"
    if unit == "m2":
        return f"{value:,.0f}".replace(",", "\u2009")
    if unit == "mu":
        return f"{value:,.2f}".replace(",", "\u2009")
    if unit == "ha":
        return f"{value:,.4f}".replace(",", "\u2009")
    if unit == "n" and isinstance(value, (int, np.integer, float, np.floating)):
        return f"{int(value)}"
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    if str(value) == "total":
        return labels.text("total", lang)
    return str(value)


def _align(column: Any, text_cols: set) -> str:
    if column not in text_cols:
        return "num"
    return "txt code" if labels.column(str(column))[2] == "code" else "txt"  # codes never wrap


def html_table(table: pd.DataFrame, lang: str = "zh", total_last: bool = False) -> str:
    """*table* (machine column names) as an HTML table with people's headers, cells escaped."""
    units = {c: labels.column(str(c))[2] for c in table.columns}
    text_cols = {
        c
        for c, u in units.items()
        if u in (None, "text", "code", "date") and table[c].dtype.kind not in "iufb"
    }
    head = "".join(
        f"<th class='{_align(c, text_cols)}'>{html.escape(labels.header(str(c), lang))}</th>"
        for c in table.columns
    )
    rows = []
    for i, (_, r) in enumerate(table.iterrows()):
        cls = " class='total'" if total_last and i == len(table) - 1 else ""
        cells = "".join(
            f"<td class='{_align(c, text_cols)}'>"
            f"{html.escape(_fmt(r[c], units[c], lang))}</td>"
            for c in table.columns
        )
        rows.append(f"<tr{cls}>{cells}</tr>")
    return f"<table class='t'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def summary_table(summary: pd.DataFrame, lang: str = "zh") -> str:
    """The table by admin unit: keys, patch counts, areas in 亩, the ratio in %, the verdict."""
    keys = (
        list(summary.columns[: list(summary.columns).index("n_patches")])
        if "n_patches" in summary
        else []
    )
    out = summary[keys].copy()
    if keys and (out[keys[0]] == "").all():
        out = out.drop(columns=keys[0])
    for c in ("n_patches", "n_flagged"):
        if c in summary:
            out[c] = summary[c]
    for stem in _SUMMARY_AREAS:
        if f"{stem}_m2" in summary:
            out[f"{stem}_mu"] = summary[f"{stem}_m2"] * labels.MU_PER_M2
    for c in ("illegal_ratio", "exceeds_threshold"):
        if c in summary:
            out[c] = summary[c]
    note = (
        f"<p class='note'>{labels.text('areas_in', lang)}；{labels.text('mu_note', lang)}</p>"
        if lang == "zh"
        else f"<p class='note'>{labels.text('areas_in', lang)}; {labels.text('mu_note', lang)}</p>"
    )
    total_last = len(summary) > 0 and str(summary.iloc[-1, 0]) == "total"
    return html_table(out, lang, total_last=total_last) + note


def verdict_table(verdicts: pd.DataFrame, lang: str = "zh") -> str:
    """Patches and areas per verdict in m², 亩 and 公顷, with a total row."""
    rows = []
    for verdict in labels.VERDICTS:
        sel = verdicts[verdicts["verdict"] == verdict]
        if len(sel):
            rows.append(
                {
                    "verdict_name": labels.verdict_name(verdict, lang),
                    "n_patches": len(sel),
                    "area_m2": sel["area_m2"].sum(),
                    "unapproved_m2": sel["unapproved_m2"].sum(),
                }
            )
    rows.append(
        {
            "verdict_name": "total",
            "n_patches": len(verdicts),
            "area_m2": verdicts["area_m2"].sum(),
            "unapproved_m2": verdicts["unapproved_m2"].sum(),
        }
    )
    t = pd.DataFrame(rows)
    t["area_mu"] = t["area_m2"] * labels.MU_PER_M2
    t["area_ha"] = t["area_m2"] * labels.HA_PER_M2
    t["unapproved_mu"] = t["unapproved_m2"] * labels.MU_PER_M2
    t["unapproved_ha"] = t["unapproved_m2"] * labels.HA_PER_M2
    t = t[
        [
            "verdict_name",
            "n_patches",
            "area_m2",
            "area_mu",
            "area_ha",
            "unapproved_m2",
            "unapproved_mu",
            "unapproved_ha",
        ]
    ]
    return html_table(t, lang, total_last=True)


def coverage_table(coverage: dict[str, float], lang: str = "zh") -> str:
    """Share of the frame each layer (or scene) covers, in %."""

    def name(layer: str) -> str:
        return labels.text(layer, lang) if layer in labels._TEXT else layer

    t = pd.DataFrame({"layer": [name(k) for k in coverage], "coverage": list(coverage.values())})
    head = (
        ("图层", "覆盖工作底图比例（%）")
        if lang == "zh"
        else ("layer", "share of the frame covered (%)")
    )
    body = "".join(
        f"<tr><td class='txt'>{html.escape(str(r.layer))}</td>"
        f"<td>{html.escape(_fmt(float(r.coverage), 'pct', lang))}</td></tr>"
        for r in t.itertuples()
    )
    return (
        f"<table class='t'><thead><tr><th class='txt'>{head[0]}</th><th>{head[1]}</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def run_table(extra: dict[str, Any], lang: str = "zh") -> str:
    """Run details (method, threshold, …) as a two-column table, keys in *lang*."""

    def key(k: str) -> str:
        return labels.text(k, lang) if k in labels._TEXT else k

    rows = "".join(
        f"<tr><th class='txt'>{html.escape(key(str(k)))}</th>"
        f"<td class='txt'>{html.escape(_fmt(v, None, lang))}</td></tr>"
        for k, v in extra.items()
    )
    return f"<table class='t' style='width:auto'>{rows}</table>"


def dictionary_section(verdicts: pd.DataFrame, summary: pd.DataFrame, lang: str = "zh") -> str:
    """The data dictionary of the verdict and county tables, folded."""
    cols = [c for c in verdicts.columns if c != "geometry"]
    dd = labels.data_dictionary({"verdicts": cols, "summary": list(summary.columns)}, lang)
    dd = dd.drop_duplicates(subset=dd.columns[1])
    head = "".join(f"<th class='txt'>{html.escape(str(c))}</th>" for c in dd.columns[1:])
    body = "".join(
        "<tr>" + "".join(f"<td class='txt'>{html.escape(str(v))}</td>" for v in r[1:]) + "</tr>"
        for r in dd.itertuples(index=False)
    )
    return (
        f"<details id='dictionary'><summary>{labels.text('dictionary', lang)}</summary>"
        f"<table class='t'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></details>"
    )
