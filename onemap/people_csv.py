"""CSV files for people: they open right in Excel on a Chinese Windows machine.

* UTF-8 **with** a byte-order mark (without it Excel decodes the file as GBK and the Chinese
  comes out garbled);
* headers in Chinese (or English) with the unit in every header (:func:`onemap.labels.header`);
* codes stay text: a code cell is written ``="0508"`` — Excel ignores CSV quotes when it guesses
  types (``"0508"`` still becomes 508 and a 12-digit admin code 3.79901E+11), but it evaluates
  the formula to the text ``0508``;
* a text cell that Excel would run as a formula (``=``, ``+``, ``-``, ``@`` first) gets a leading
  ``'`` (CSV injection); ratios are percentages, booleans 是/否;
* written atomically; :func:`read_people_csv` reads such a file back into the machine table.

Examples
--------
>>> import pandas as pd
>>> t = pd.DataFrame({"admin_code": ["050801000"], "n_patches": [3], "unapproved_m2": [1500.0],
...                   "illegal_ratio": [0.2025], "exceeds_threshold": [True]})
>>> print(people_csv_text(t), end="")
行政区代码,图斑数（个）,违法用地面积（m²）,违法占用耕地比例（%）,超过阈值（是/否）
="050801000",3,1500.0000,20.25,是
"""

from __future__ import annotations

import csv
import re
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from . import labels
from ._atomic import atomic_write_text

__all__ = ["people_csv_text", "read_people_csv", "with_mu_ha", "write_people_csv"]

_DIGITS = re.compile(r"^[0-9]+$")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FLOAT_FORMAT = {"ha": "{:.6f}", "pct": "{:.2f}"}  # 0.000001 ha = 0.01 m²


def with_mu_ha(table: pd.DataFrame) -> pd.DataFrame:
    """*table* with ``_mu`` and ``_ha`` columns after every ``_m2`` column that lacks them."""
    out = {}
    for name in table.columns:
        out[name] = table[name]
        if isinstance(name, str) and name.endswith("_m2"):
            stem = name[:-3]
            for unit, factor in (("mu", labels.MU_PER_M2), ("ha", labels.HA_PER_M2)):
                if f"{stem}_{unit}" not in table.columns:
                    out[f"{stem}_{unit}"] = table[name] * factor
    return pd.DataFrame(out, index=table.index)


def _is_code(name: str, values: pd.Series) -> bool:
    """A text column of codes (integers have no leading zero to lose and stay numbers)."""
    if not (values.dtype.kind in "OSU" or isinstance(values.dtype, pd.StringDtype)):
        return False
    text = values.dropna().astype(str)
    if labels.column(name)[2] == "code":
        return True
    return len(text) > 0 and bool(text.map(lambda s: bool(_DIGITS.match(s))).all())


def _plain(value: str) -> str:
    """A CSV field: quoted when needed, a formula-looking text made inert with ``'``."""
    if value.startswith(_FORMULA_START):
        value = "'" + value
    if any(c in value for c in ',"\n\r') or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def _cells(name: str, values: pd.Series, lang: str) -> list[str]:
    unit = labels.column(name)[2]
    if name in labels.VALUES:  # verdicts and statuses as the campaign names them
        values = values.map(lambda v: labels.value_name(name, v, lang))
    if name in ("admin_code",) or values.dtype == object and (values == "total").any():
        values = values.replace("total", labels.text("total", lang))
    if _is_code(name, values):
        return [
            "" if pd.isna(v) else f'="{v}"' if _DIGITS.match(str(v)) else _plain(str(v))
            for v in values
        ]
    if values.dtype == bool or unit == "bool" and values.dropna().isin([True, False]).all():
        yes, no = labels.text("yes", lang), labels.text("no", lang)
        return ["" if pd.isna(v) else yes if v else no for v in values]
    if values.dtype.kind == "f":
        fmt = _FLOAT_FORMAT.get(unit or "", "{:.4f}")
        scale = 100.0 if unit == "pct" else 1.0
        return ["" if not np.isfinite(v) else fmt.format(v * scale) for v in values.to_numpy()]
    if values.dtype.kind in "iu":
        return [str(v) for v in values.to_numpy()]
    return [
        "" if v is None or (isinstance(v, float) and np.isnan(v)) else _plain(str(v))
        for v in values
    ]


def people_csv_text(table: pd.DataFrame, lang: str = "zh") -> str:
    """The CSV text of *table* for people (see the module docs); no byte-order mark."""
    labels.check_lang(lang)
    table = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
    names = [str(c) for c in table.columns]
    heads = [labels.header(n, lang) for n in names]
    seen: dict[str, int] = {}
    for h in heads:
        seen[h] = seen.get(h, 0) + 1
    heads = [f"{h} [{n}]" if seen[h] > 1 else h for h, n in zip(heads, names, strict=False)]
    columns = [_cells(n, table[c], lang) for n, c in zip(names, table.columns, strict=False)]
    lines = [",".join(_plain(h) for h in heads)]
    lines += [",".join(row) for row in zip(*columns, strict=False)]
    return "\n".join(lines) + "\n"


def write_people_csv(path: str | PathLike, table: pd.DataFrame, lang: str = "zh") -> None:
    """Write *table* as a CSV for people (UTF-8 with BOM, atomically)."""
    atomic_write_text(path, people_csv_text(table, lang), encoding="utf-8-sig")


def read_people_csv(path: str | PathLike, lang: str | None = None) -> pd.DataFrame:
    """Read a CSV written by :func:`write_people_csv` back into machine column names and values.

    Headers map back through :mod:`onemap.labels` (either language unless *lang* is given),
    ``="0508"`` cells to ``"0508"``, percentages to ratios, 是/否 to booleans; numbers are parsed
    and codes stay text.
    """
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return pd.DataFrame()
    langs = [lang] if lang else list(labels.LANGS)
    back = {}
    for name in _known_names():
        for lg in langs:
            back[labels.header(name, lg)] = name
    names = [back.get(h) or re.sub(r"^.* \[(.+)\]$", r"\1", h) for h in rows[0]]
    data: dict[str, Any] = {}
    for i, name in enumerate(names):
        raw = [r[i] if i < len(r) else "" for r in rows[1:]]
        data[name] = _parse(name, raw)
    return pd.DataFrame(data)


def _known_names() -> list[str]:
    names = list(labels._COLUMNS)
    for n in list(names):
        if n.endswith("_m2"):
            names += [n[:-3] + "_mu", n[:-3] + "_ha"]
    return names


def _parse(name: str, raw: list[str]) -> pd.Series:
    totals = {labels.text("total", lg) for lg in labels.LANGS}
    vals, wrapped = [], False
    for v in raw:
        if v.startswith('="') and v.endswith('"'):
            v, wrapped = v[2:-1], True
        elif v.startswith("'") and v[1:].startswith(_FORMULA_START):
            v = v[1:]
        vals.append(v)
    text = pd.Series(
        [None if v == "" else "total" if v in totals else labels.machine_value(name, v)
         for v in vals],
        dtype=object,
    )
    unit = labels.column(name)[2]
    if wrapped or unit in ("text", "date", "json") or name == "admin_name":
        return text
    yes = {labels.text("yes", lg) for lg in labels.LANGS}
    no = {labels.text("no", lg) for lg in labels.LANGS}
    nonempty = [v for v in vals if v != ""]
    if nonempty and all(v in yes | no for v in nonempty):
        return pd.Series(
            [None if v == "" else v in yes for v in vals], dtype=object if "" in vals else bool
        )
    try:
        num = pd.to_numeric(pd.Series(vals).replace("", np.nan))
    except (ValueError, TypeError):
        return text
    return num / 100.0 if unit == "pct" else num
