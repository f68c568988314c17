"""Survey products on disk: verdict layer, tables and land-boundary TXT files for field checks."""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import uuid
import warnings
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ._atomic import remove_stale_temps
from .errors import OnemapWarning

__all__ = ["export_results", "sha256_file"]


def sha256_file(path: str | PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def export_results(out: str | PathLike, verdicts: gpd.GeoDataFrame,
                   summary: pd.DataFrame | None = None, status: gpd.GeoDataFrame | None = None,
                   *, produced: datetime.date | None = None, lang: str = "zh") -> dict[str, str]:
    """Write the survey products into *out* atomically; return ``{relative name: sha256}``.

    ``verdicts.gpkg`` (layer ``verdicts``), ``verdicts.parquet`` (GeoParquet, the same rows and
    columns), ``verdicts.csv``, ``summary.csv``,
    ``approvals_status.csv`` and ``flagged_txt/patch_NNNNNN.txt`` — one land-boundary TXT (GBK,
    hectares) per unapproved or partly approved patch, for the field check. The CSVs are for
    people (:mod:`onemap.people_csv`): UTF-8 with a BOM, headers in *lang* (``"zh"`` or ``"en"``)
    with units, codes kept as text, the county table in m², 亩 and 公顷; ``data_dictionary.csv``
    names every column (the GeoPackage keeps the machine names). Reruns give byte-identical files,
    and flagged TXT files of patches no longer flagged are removed.

    The TXT files are in the Gauss-Kruger CRS of the verdicts when that is one (the county's
    own), else each in the CGCS2000 3° Gauss-Kruger zone (prefixed) its patch lies in, as the
    format demands; their 数据产生日期 is *produced* (default: today).
    """
    from .labels import check_lang, data_dictionary
    from .people_csv import with_mu_ha, write_people_csv

    check_lang(lang)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # left by a run killed while writing (e.g. a half-written GeoPackage)
    import pyogrio

    from .ingest.vector import write_layer
    from .summary import FLAGGED

    written: dict[str, str] = {}
    # GeoPackages record their write time; a fixed one makes reruns byte-identical
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2000-01-01T00:00:00.000Z"})
    try:
        # no layer=: write_layer then writes a fresh file instead of replacing the layer inside the
        # old one (a GeoPackage edited in place is not byte-identical to a fresh one); layer = stem
        write_layer(verdicts, out / "verdicts.gpkg")
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})
    written["verdicts.gpkg"] = sha256_file(out / "verdicts.gpkg")
    write_layer(verdicts, out / "verdicts.parquet")  # the same table as GeoParquet
    written["verdicts.parquet"] = sha256_file(out / "verdicts.parquet")
    tables = {"verdicts.csv": pd.DataFrame(verdicts.drop(columns="geometry"))}
    if summary is not None:
        tables["summary.csv"] = with_mu_ha(summary)
    if status is not None:
        tables["approvals_status.csv"] = pd.DataFrame(status.drop(columns="geometry"))
    tables["data_dictionary.csv"] = data_dictionary(
        {n: list(t.columns) for n, t in tables.items()}, lang)
    for name, table in tables.items():
        write_people_csv(out / name, table, lang)
        written[name] = sha256_file(out / name)
    flagged = verdicts[verdicts["verdict"].isin(FLAGGED)]
    for name, digest in _write_flagged_txt(out / "flagged_txt", flagged,
                                           produced or datetime.date.today()).items():
        written[f"flagged_txt/{name}"] = digest
    return written


def _write_flagged_txt(folder: Path, flagged: gpd.GeoDataFrame,
                       produced: datetime.date) -> dict[str, str]:
    """One GBK land-boundary TXT per flagged patch, the folder replaced as a whole.

    The files are written into a temporary folder that then takes the final name (two renames),
    so the folder never mixes files of two runs and a rerun with fewer flags keeps no old file.
    """
    from .ingest._boundary_txt_writer import boundary_txt_per_parcel

    names = [f"patch_{int(i):06d}.txt" for i in flagged["patch_id"]]
    parcels = gpd.GeoDataFrame({"DKBH": [str(i) for i in flagged["patch_id"]],
                                "DKMC": [f"监测图斑{i}" for i in flagged["patch_id"]],
                                "DKYT": list(flagged["verdict_zh"])},
                               geometry=flagged.geometry.values, crs=flagged.crs)
    header = {"数据产生单位": "onemap",
              "数据产生日期": f"{produced.year}-{produced.month}-{produced.day}"}
    data: list[bytes | None] = [None] * len(names)
    for crs, pos in _txt_zones(parcels):
        contents = boundary_txt_per_parcel(parcels.iloc[pos], [folder / names[k] for k in pos],
                                           area_unit="ha", header=header, crs=crs)
        for k, content in zip(pos, contents, strict=True):
            data[k] = content
    skipped = sum(d is None for d in data)
    if skipped:
        warnings.warn(f"{skipped} flagged patch(es) lie outside China's Gauss-Kruger zones "
                      "(3° zones 25-45): no land-boundary TXT file can be written for them (the "
                      "format is CGCS2000 Gauss-Kruger only); they are in verdicts.gpkg and "
                      "verdicts.csv", OnemapWarning, stacklevel=3)
    kept = [(n, d) for n, d in zip(names, data, strict=True) if d is not None]
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    fresh = folder.parent / f".tmp-{folder.name}-{tag}"
    old = folder.parent / f".tmp-{folder.name}_old-{tag}"
    fresh.mkdir()
    for name, content in kept:
        (fresh / name).write_bytes(content)
    if folder.exists():
        os.rename(folder, old)
    os.rename(fresh, folder)
    shutil.rmtree(old, ignore_errors=True)
    return {name: hashlib.sha256(content).hexdigest() for name, content in kept}


def _txt_zones(parcels: gpd.GeoDataFrame) -> list[tuple[Any, list[int]]]:
    """(target CRS, positions) groups for the TXT writer: the layer's own CRS when it is a
    Gauss-Kruger zone CRS, else the CGCS2000 3° zone (prefixed) of each parcel; parcels outside
    China's zones (25-45) are left out."""
    from .crs import gk_crs, zone_info
    from .geometry import gk3_zone_of

    if not len(parcels):
        return []
    info = zone_info(parcels.crs)
    if info is not None and info.datum is not None and info.zone is not None:
        return [(None, list(range(len(parcels))))]
    zones = gk3_zone_of(parcels.geometry.values, parcels.crs)
    return [(gk_crs(int(z)), [int(k) for k in np.flatnonzero(zones == z)])
            for z in np.unique(zones) if 25 <= z <= 45]
