"""Land-use codes: GB/T 21010-2017 classes and the 三调 working classification, as data.

The table lives in ``landuse_codes.csv`` next to this module (code, Chinese and English name,
level, parent, group). Lookups accept codes as strings or integers (``101`` → ``"0101"``) and the
``K`` suffix of restorable former cultivated land (``0201K`` stays agricultural, like ``0201``).

Groups (三大类): ``agricultural`` 农用地, ``construction`` 建设用地, ``unused`` 未利用地,
and ``unknown`` for codes not in the table. Cultivated land 耕地 is exactly 0101, 0102, 0103.

Examples
--------
>>> from onemap import codes
>>> codes.name("0103"), codes.group("0103"), codes.is_cultivated(103)
('旱地', 'agricultural', True)
>>> codes.group("0702"), codes.group("203"), codes.group("0201K"), codes.group("9999")
('construction', 'construction', 'agricultural', 'unknown')
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "table",
    "normalize",
    "name",
    "name_en",
    "parent",
    "group",
    "group_zh",
    "is_cultivated",
    "is_construction",
    "groups",
    "CULTIVATED",
    "GROUPS",
]

CULTIVATED = frozenset({"0101", "0102", "0103"})
GROUPS = {"农用地": "agricultural", "建设用地": "construction", "未利用地": "unused"}
_GROUPS_ZH = {v: k for k, v in GROUPS.items()} | {"unknown": "未知"}
# the older (二调) 20x town/village/mining attribute codes are construction land
_IMPLIED_GROUP = {"20": "construction"}


@lru_cache(maxsize=1)
def table() -> pd.DataFrame:
    """The code table as a DataFrame indexed by code.

    Columns: name_zh, name_en, level, parent, group.
    """
    with (
        resources.files(__package__).joinpath("landuse_codes.csv").open("r", encoding="utf-8") as fh
    ):
        df = pd.read_csv(fh, dtype=str, keep_default_na=False)
    df = df.drop_duplicates("code").set_index("code")
    grp = df["group"].map(GROUPS).fillna("")
    implied = df["parent"].map(_IMPLIED_GROUP).fillna("")
    df["group"] = grp.where(grp != "", implied)
    return df


def normalize(code: Any) -> str:
    """Canonical string form of a land-use code: strip blanks, zero-pad numbers to 4 digits.

    >>> normalize(101), normalize(" 0101 "), normalize("1104a"), normalize(203), normalize(None)
    ('0101', '0101', '1104A', '203', '')
    """
    if code is None or (isinstance(code, float) and np.isnan(code)):
        return ""
    if isinstance(code, (int, np.integer)) or (
        isinstance(code, float) and float(code).is_integer()
    ):
        s = str(int(code))
        if s in _rows():  # 201..205 are genuine 3-digit codes
            return s
        return s.zfill(4) if len(s) in (3, 4) else s.zfill(2)
    s = str(code).strip().upper()
    if s.isdigit() and len(s) == 3 and s not in _rows():
        s = s.zfill(4)
    return s


@lru_cache(maxsize=1)
def _rows() -> dict[str, dict[str, str]]:
    # plain dicts: a pandas .loc per lookup costs ~100 µs, a dict lookup ~0.1 µs
    return {code: row for code, row in table().to_dict("index").items()}


def _lookup(code: Any) -> dict[str, str] | None:
    c = normalize(code)
    rows = _rows()
    if c in rows:
        return rows[c]
    if c.endswith("K") and c[:-1] in rows:  # restorable former cultivated land
        return rows[c[:-1]]
    return None


def name(code: Any) -> str | None:
    """Chinese name of a code (``None`` if unknown)."""
    row = _lookup(code)
    return None if row is None else row["name_zh"]


def name_en(code: Any) -> str | None:
    """English name of a code (``None`` if unknown)."""
    row = _lookup(code)
    return None if row is None else row["name_en"]


def parent(code: Any) -> str | None:
    """Parent (first-level) code, or ``None`` for a first-level or unknown code."""
    row = _lookup(code)
    return None if row is None or not row["parent"] else row["parent"]


def group(code: Any) -> str:
    """``agricultural``, ``construction``, ``unused`` or ``unknown``."""
    row = _lookup(code)
    if row is None or not row["group"]:
        return "unknown"
    return row["group"]


def group_zh(code: Any) -> str:
    """Chinese group name: 农用地 / 建设用地 / 未利用地 / 未知."""
    return _GROUPS_ZH[group(code)]


def is_cultivated(code: Any) -> bool:
    """True for cultivated land 耕地 (0101 paddy, 0102 irrigated, 0103 dry land)."""
    return normalize(code) in CULTIVATED


def is_construction(code: Any) -> bool:
    """True for construction land 建设用地."""
    return group(code) == "construction"


def groups(codes: Iterable[Any]) -> np.ndarray:
    """Vectorised :func:`group` (cached per distinct code)."""
    arr = pd.Series(list(codes), dtype=object)
    uniq = {c: group(c) for c in arr.map(normalize).unique()}
    return arr.map(normalize).map(uniq).to_numpy(dtype=object)
