"""Parcel-line attributes of a land-boundary TXT file: fields, repeated parcels, declared areas."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from ..errors import OnemapWarning, Repair
from . import _boundary_txt_common as fmt
from ._boundary_txt_common import Parcel


def parcel_row(parcel: Parcel, path: Path) -> dict[str, Any]:
    f = parcel.fields
    row: dict[str, Any] = {}
    count = fmt.first_int(f[0]) if f and f[0] else None
    if f and f[0] and (count is None or fmt.nfkc(f[0]).strip() != str(count)):
        warnings.warn(
            f"{path}, line {parcel.line}: 界址点数 {f[0][:20]!r} is not an integer; ignored",
            OnemapWarning,
            stacklevel=4,
        )
        count = None
    row["parcel_id"] = f[2] if len(f) > 2 and f[2] else None
    row["name"] = f[3] if len(f) > 3 and f[3] else None
    row["point_count"] = count
    area_text = f[1] if len(f) > 1 else ""
    area = fmt.to_float(area_text) if area_text else None
    if area_text and area is None:
        warnings.warn(
            f"{path}, line {parcel.line}: 地块面积 {area_text[:20]!r} is not a number; treated as "
            "missing",
            OnemapWarning,
            stacklevel=4,
        )
    row["declared_area"] = area
    row["_area_decimals"] = min(fmt.decimals_of(area_text), 12) if area is not None else 0
    for key, idx in zip(fmt.TEXT_FIELDS[2:], range(4, 8), strict=True):
        row[key] = f[idx] if len(f) > idx and f[idx] else None
    for k, extra in enumerate(f[8:], start=1):
        row[f"extra_{k}"] = extra if extra else None
    return row


def drop_duplicates(
    parcels: list[Parcel], geoms: list, rows: list[dict], path: Path, repairs: list[Repair]
):
    """Drop exact repeats of a parcel (same 地块编号, fields and geometry).

    Other parcels that share a 地块编号 are reported.
    """
    seen: dict[str, int] = {}
    keep = []
    for i, row in enumerate(rows):
        pid = row["parcel_id"]
        j = seen.get(pid) if pid is not None else None
        if j is None:
            if pid is not None:
                seen[pid] = i
            keep.append(i)
            continue
        where = f"parcel {parcels[i].label} (line {parcels[i].line})"
        if parcels[i].fields == parcels[j].fields and shapely.equals_exact(
            geoms[i], geoms[j], tolerance=1e-6
        ):
            repairs.append(Repair(str(path), where, f"repeats the parcel at line {parcels[j].line}",
                                  "dropped the repeat"))
            continue
        repairs.append(
            Repair(
                str(path),
                where,
                f"地块编号 {pid!r} is also used by the parcel at line {parcels[j].line}",
                "kept both (parcel_id is not unique in this file)",
            )
        )
        keep.append(i)
    if len(keep) == len(rows):
        return parcels, geoms, rows
    return [parcels[i] for i in keep], [geoms[i] for i in keep], [rows[i] for i in keep]


def warn_areas(
    parcels: list[Parcel], rows: list[dict], plane: np.ndarray, matched: list, path: Path
) -> None:
    bad = [i for i, (_, c) in enumerate(matched) if c == "mismatch"]
    if bad:
        shown = "; ".join(
            f"parcel {parcels[i].label} (line {parcels[i].line}): declared "
            f"{rows[i]['declared_area']:g}, "
            f"plane area {plane[i]:.2f} m² = {plane[i] / fmt.M2_PER_HA:.4f} ha"
            for i in bad[:5]
        )
        more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
        warnings.warn(
            f"{path}: declared 地块面积 matches the plane area neither in m² nor in ha for "
            f"{len(bad)} parcel(s): {shown}{more}",
            OnemapWarning,
            stacklevel=4,
        )
