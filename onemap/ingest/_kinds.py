"""Per-kind column normalisation of vector layers (the ``kind=`` of :func:`onemap.read_layer`).

Each kind names the normalised columns it adds and, for each, the source columns it looks for,
in order of preference. Source columns are matched case-insensitively (``dlbm`` = ``DLBM``) and
with surrounding blanks ignored; the first candidate present wins. The normalised name itself is
always the first candidate, so a layer written by onemap reads back unchanged.

=========  =================  ==============================================================
kind       column             candidates (pinyin abbreviation, then Chinese field name)
=========  =================  ==============================================================
landuse    landuse_code       DLBM 地类编码, DLDM 地类代码
           landuse_name       DLMC 地类名称 (blank values and missing column: the code table)
           + landuse_group    agricultural / construction / unused / unknown (codes.group)
           + cultivated       code is 0101, 0102 or 0103 (codes.is_cultivated)
cadastral  parcel_id          ZDDM 宗地代码, ZDBH 宗地编号, BDCDYH 不动产单元号, DJH 地籍号
approval   approval_id        PZWH 批准文号, PFWH 批复文号, DKBH 地块编号, XMMC 项目名称
           approval_date      PZRQ 批准日期, PFRQ 批复日期
           approved_area      PZMJ 批准面积 (source unit kept, usually hectares)
supply     supply_id          GDBH 供地编号, DZJGH 电子监管号, HTBH 合同编号, DKBH 地块编号,
                              XMMC 项目名称
farmland   farmland_id        JBNTTBBH 基本农田图斑编号, YJJBNTTBBH 永久基本农田图斑编号, JBNTBH
                              基本农田编号, TBBH 图斑编号, BSM 标识码
redline    redline_id         HXBH 红线编号, STBHHXBH 生态保护红线编号, HXDM 红线代码, BSM 标识码
admin      admin_code         XZQDM 行政区代码, ZLDWDM 坐落单位代码, QSDWDM 权属单位代码
           admin_name         XZQMC 行政区名称, ZLDWMC 坐落单位名称, QSDWMC 权属单位名称
generic    (none)
=========  =================  ==============================================================

The id column of a kind (``parcel_id``, ``approval_id`` …, ``admin_code``) is always present in
the result: when no candidate column exists it is made from the feature id (``"#<fid>"``) and
``attrs["id_source"]`` says so; single missing values are filled the same way and listed in
``attrs["generated_ids"]``. Duplicate ids are *kept* (one approval document, 批准文号, often
covers several parcels; a cadastral code twice is a data error the bureau must settle, not onemap)
and reported: one :class:`~onemap.errors.Repair` per duplicated value (``attrs["repairs"]``), the
features of each in ``attrs["duplicate_ids"]``.

Geometry rules (:func:`onemap.ingest._layer_geometry.check_geometries`): every kind but
``generic`` needs polygons (points and lines are a :class:`~onemap.errors.GeometryError`; the
polygons of a GeometryCollection are kept); null and empty geometries are dropped and invalid
ones repaired with :func:`shapely.make_valid`, each reported as a :class:`~onemap.errors.Repair`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .. import codes
from ..errors import DataError, OnemapWarning, Repair

__all__ = ["KINDS", "Kind", "find_column", "normalize_columns", "POLYGON_KINDS"]


@dataclass(frozen=True)
class Kind:
    """What a layer kind needs: polygons or not, its id column, and column candidates."""

    name: str
    polygonal: bool
    id_column: str | None = None
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)


_DLBM = ("landuse_code", "DLBM", "地类编码", "DLDM", "地类代码")
KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        Kind("generic", polygonal=False),
        Kind(
            "landuse",
            True,
            None,
            {"landuse_code": _DLBM, "landuse_name": ("landuse_name", "DLMC", "地类名称")},
        ),
        Kind(
            "cadastral",
            True,
            "parcel_id",
            {
                "parcel_id": (
                    "parcel_id",
                    "ZDDM",
                    "宗地代码",
                    "ZDBH",
                    "宗地编号",
                    "BDCDYH",
                    "不动产单元号",
                    "DJH",
                    "地籍号",
                )
            },
        ),
        Kind(
            "approval",
            True,
            "approval_id",
            {
                "approval_id": (
                    "approval_id",
                    "PZWH",
                    "批准文号",
                    "PFWH",
                    "批复文号",
                    "DKBH",
                    "地块编号",
                    "XMMC",
                    "项目名称",
                ),
                "approval_date": ("approval_date", "PZRQ", "批准日期", "PFRQ", "批复日期"),
                "approved_area": ("approved_area", "PZMJ", "批准面积"),
            },
        ),
        Kind(
            "supply",
            True,
            "supply_id",
            {
                "supply_id": (
                    "supply_id",
                    "GDBH",
                    "供地编号",
                    "DZJGH",
                    "电子监管号",
                    "HTBH",
                    "合同编号",
                    "DKBH",
                    "地块编号",
                    "XMMC",
                    "项目名称",
                )
            },
        ),
        Kind(
            "farmland",
            True,
            "farmland_id",
            {
                "farmland_id": (
                    "farmland_id",
                    "JBNTTBBH",
                    "基本农田图斑编号",
                    "YJJBNTTBBH",
                    "永久基本农田图斑编号",
                    "JBNTBH",
                    "基本农田编号",
                    "TBBH",
                    "图斑编号",
                    "BSM",
                    "标识码",
                )
            },
        ),
        Kind(
            "redline",
            True,
            "redline_id",
            {
                "redline_id": (
                    "redline_id",
                    "HXBH",
                    "红线编号",
                    "STBHHXBH",
                    "生态保护红线编号",
                    "HXDM",
                    "红线代码",
                    "BSM",
                    "标识码",
                )
            },
        ),
        Kind(
            "admin",
            True,
            "admin_code",
            {
                "admin_code": (
                    "admin_code",
                    "XZQDM",
                    "行政区代码",
                    "ZLDWDM",
                    "坐落单位代码",
                    "QSDWDM",
                    "权属单位代码",
                ),
                "admin_name": (
                    "admin_name",
                    "XZQMC",
                    "行政区名称",
                    "ZLDWMC",
                    "坐落单位名称",
                    "QSDWMC",
                    "权属单位名称",
                ),
            },
        ),
    ]
}
POLYGON_KINDS = frozenset(k for k, spec in KINDS.items() if spec.polygonal)


def find_column(columns: Any, candidates: tuple[str, ...]) -> str | None:
    """The first of *candidates* present in *columns* (case- and blank-insensitive), or ``None``.

    >>> find_column(["bsm", " dlbm ", "DLMC"], ("landuse_code", "DLBM", "地类编码"))
    ' dlbm '
    >>> find_column(["地类编码"], _DLBM), find_column(["x"], _DLBM)
    ('地类编码', None)
    """
    by_key: dict[str, str] = {}
    for col in columns:
        by_key.setdefault(str(col).strip().upper(), col)
    for cand in candidates:
        if cand.upper() in by_key:
            return by_key[cand.upper()]
    return None


def _id_text(value: Any) -> str | None:
    """An id as text: integral numbers without ``.0``, strings stripped, blanks/NaN -> None."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    text = str(value).strip()
    return text or None


def _fid_text(fid: Any) -> str:
    return f"#{fid}"


def normalize_columns(
    gdf: Any, kind: str, source: str, columns: dict[str, str] | None = None
) -> tuple[dict[str, pd.Series], dict[str, Any]]:
    """Normalised columns of *kind* for the attribute table *gdf* (indexed by feature id).

    Parameters
    ----------
    gdf
        The layer as read, index = feature id.
    kind
        One of :data:`KINDS`.
    source
        File name, for messages.
    columns
        Explicit ``{normalised name: source column}`` choices that override the candidates.

    Returns
    -------
    (new_columns, attrs)
        The columns to add (name -> Series on ``gdf.index``) and what to record in ``attrs``:
        ``columns_used``, ``id_source``, ``generated_ids``, ``duplicate_ids``, ``unknown_codes``,
        ``unparsed`` and ``repairs`` (a :class:`Repair` per duplicated id value, for the caller to
        report). Warnings (:class:`OnemapWarning`) are issued for unknown land-use codes and
        values that do not parse.
    """
    spec = KINDS[kind]
    columns = dict(columns or {})
    unknown_targets = set(columns) - set(spec.columns)
    if unknown_targets:
        raise DataError(
            f"columns= names {sorted(unknown_targets)}, which kind={kind!r} does not have",
            path=source,
            hint=f"kind={kind!r} normalises {sorted(spec.columns) or 'no columns'}",
        )
    used: dict[str, str | None] = {}
    for target, cands in spec.columns.items():
        if target in columns:
            if columns[target] not in gdf.columns:
                raise DataError(
                    f"columns= maps {target!r} to {columns[target]!r}, which the layer does not "
                    "have",
                    path=source,
                    hint=f"choose one of {list(gdf.columns.drop(gdf.geometry.name))}",
                )
            used[target] = columns[target]
        else:
            used[target] = find_column(gdf.columns, cands)
    out: dict[str, pd.Series] = {}
    info: dict[str, Any] = {"columns_used": {k: v for k, v in used.items() if v is not None}}
    if spec.id_column is not None:
        out[spec.id_column] = _ids(gdf, spec, used[spec.id_column], source, info)
    if kind == "landuse":
        out.update(_landuse(gdf, used, source, info))
    if kind == "approval":
        out.update(_approval_extras(gdf, used, source, info))
    if kind == "admin" and used["admin_name"] is not None:
        out["admin_name"] = gdf[used["admin_name"]].map(_id_text)
    return out, info


def _ids(gdf: Any, spec: Kind, col: str | None, source: str, info: dict[str, Any]) -> pd.Series:
    name = spec.id_column
    assert name is not None  # called for kinds that have an id column
    if col is None:
        ids = pd.Series([_fid_text(f) for f in gdf.index], index=gdf.index, dtype=object)
        info["id_source"] = {name: "generated from the feature id (no column among "
                                   f"{', '.join(spec.columns[name][1:])})"}
        warnings.warn(
            f"{source}: no {name} column (looked for {', '.join(spec.columns[name][1:])}); "
            f"made {name} from the feature id ('#<fid>')",
            OnemapWarning,
            stacklevel=4,
        )
        return ids
    info["id_source"] = {name: col}
    ids = gdf[col].map(_id_text)
    missing = ids.isna()
    if missing.any():
        info["generated_ids"] = [_json_scalar(f) for f in gdf.index[missing]]
        ids[missing] = [_fid_text(f) for f in gdf.index[missing]]
        warnings.warn(
            f"{source}: {int(missing.sum())} feature(s) have no {col} value; made {name} from "
            f"the feature id (features {_few(gdf.index[missing])})",
            OnemapWarning,
            stacklevel=4,
        )
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):  # kept (one approval document covers several parcels), reported as Repairs
        groups = dup.groupby(dup, sort=True).groups
        info["duplicate_ids"] = {str(k): [_json_scalar(f) for f in v] for k, v in groups.items()}
        info["repairs"] = [Repair(source, f"features {_few(v)}", f"duplicate {name} {k!r} ({col})",
                                  f"all {len(v)} features kept; {name} is not unique in this layer")
                           for k, v in groups.items()]
    return ids.astype(object)


def _landuse(
    gdf: Any, used: dict[str, str | None], source: str, info: dict[str, Any]
) -> dict[str, pd.Series]:
    col = used["landuse_code"]
    if col is None:
        raise DataError(
            f"land-use layer has no land-use code column (looked for {', '.join(_DLBM[1:])})",
            path=source,
            hint="rename the column to DLBM, pass columns={'landuse_code': '<name>'}, "
            "or read it with kind='generic'",
        )
    raw = gdf[col]
    uniq = pd.unique(raw.astype(object))
    norm = {v: codes.normalize(_id_text(v)) for v in uniq}
    code = raw.astype(object).map(norm).fillna("").astype(object)
    per_code = {
        c: (codes.group(c), codes.is_cultivated(c), codes.name(c)) for c in set(norm.values())
    }
    group = code.map(lambda c: per_code[c][0])
    out = {"landuse_code": code, "landuse_group": group.astype(object),
           "cultivated": code.map(lambda c: per_code[c][1]).astype(bool)}
    table_name = code.map(lambda c: per_code[c][2])
    if used["landuse_name"] is not None:
        given = gdf[used["landuse_name"]].map(_id_text)
        out["landuse_name"] = given.where(given.notna(), table_name).astype(object)
    else:
        out["landuse_name"] = table_name.astype(object)
    unknown = code[group == "unknown"]
    if len(unknown):
        counts = unknown.value_counts(sort=False)
        info["unknown_codes"] = {str(c): int(n) for c, n in sorted(counts.items())}
        head = ", ".join(
            f"{c or '(blank)'!r} x{n} (e.g. feature {_few(unknown.index[unknown == c], 1)})"
            for c, n in list(sorted(counts.items()))[:5]
        )
        warnings.warn(
            f"{source}: {len(unknown)} feature(s) have land-use codes ({col}) that are not in "
            "the code "
            f"table or have no single group; kept with landuse_group='unknown': {head}",
            OnemapWarning,
            stacklevel=4,
        )
    return out


def _approval_extras(gdf: Any, used: dict[str, str | None], source: str,
                     info: dict[str, Any]) -> dict[str, pd.Series]:
    out: dict[str, pd.Series] = {}
    unparsed: dict[str, list[Any]] = {}
    if used["approval_date"] is not None:
        raw = gdf[used["approval_date"]]
        if pd.api.types.is_datetime64_any_dtype(raw):
            out["approval_date"] = raw
        else:
            text = raw.map(_id_text)
            clean = (
                text.str.replace("年", "-")
                .str.replace("月", "-")
                .str.replace("日", "")
                .str.replace(".", "-")
            )
            out["approval_date"] = pd.to_datetime(clean, errors="coerce", format="mixed")
            bad = text.notna() & out["approval_date"].isna()
            if bad.any():
                unparsed["approval_date"] = [_json_scalar(f) for f in gdf.index[bad]]
    if used["approved_area"] is not None:
        raw = gdf[used["approved_area"]]
        out["approved_area"] = pd.to_numeric(raw.map(_id_text), errors="coerce").astype("float64")
        bad = raw.map(_id_text).notna() & out["approved_area"].isna()
        if bad.any():
            unparsed["approved_area"] = [_json_scalar(f) for f in gdf.index[bad]]
    if unparsed:
        info["unparsed"] = unparsed
        what = "; ".join(f"{k} ({used[k]}) at features {_few(v)}" for k, v in unparsed.items())
        warnings.warn(
            f"{source}: values that do not parse were left empty: {what}",
            OnemapWarning,
            stacklevel=4,
        )
    return out


def _json_scalar(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _few(values: Any, n: int = 5) -> str:
    values = list(values)
    text = ", ".join(str(_json_scalar(v)) for v in values[:n])
    return text + (f" … (+{len(values) - n})" if len(values) > n else "")
