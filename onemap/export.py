"""Survey products on disk: verdict layer, tables and land-boundary TXT files for field checks."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from os import PathLike
from pathlib import Path

import geopandas as gpd
import pandas as pd

from ._atomic import atomic_write_text, remove_stale_temps

__all__ = ["export_results", "sha256_file"]


def sha256_file(path: str | PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def export_results(out: str | PathLike, verdicts: gpd.GeoDataFrame, summary: pd.DataFrame | None = None,
                   status: gpd.GeoDataFrame | None = None) -> dict[str, str]:
    """Write the survey products into *out* atomically; return ``{relative name: sha256}``.

    ``verdicts.gpkg`` (layer ``verdicts``), ``verdicts.parquet`` (GeoParquet, the same rows and
    columns), ``verdicts.csv``, ``summary.csv``,
    ``approvals_status.csv`` and ``flagged_txt/patch_NNNNNN.txt`` — one land-boundary TXT (GBK,
    hectares) per unapproved or partly approved patch, for the field check. CSVs are UTF-8 with
    a BOM so that spreadsheet programs show the Chinese columns. Reruns give byte-identical files,
    and flagged TXT files of patches no longer flagged are removed.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # left by a run killed while writing (e.g. a half-written GeoPackage)
    from .ingest.vector import write_layer
    from .summary import FLAGGED

    import pyogrio

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
        tables["summary.csv"] = summary
    if status is not None:
        tables["approvals_status.csv"] = pd.DataFrame(status.drop(columns="geometry"))
    for name, table in tables.items():
        text = table.to_csv(index=False, float_format="%.4f", lineterminator="\n")
        atomic_write_text(out / name, text, encoding="utf-8-sig")  # BOM: Excel opens Chinese correctly
        written[name] = sha256_file(out / name)
    flagged = verdicts[verdicts["verdict"].isin(FLAGGED)]
    for name, digest in _write_flagged_txt(out / "flagged_txt", flagged).items():
        written[f"flagged_txt/{name}"] = digest
    return written


def _write_flagged_txt(folder: Path, flagged: gpd.GeoDataFrame) -> dict[str, str]:
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
    data = boundary_txt_per_parcel(parcels, [folder / n for n in names], area_unit="ha",
                                   header={"数据产生单位": "onemap", "数据产生日期": "1970-1-1"}) if names else []
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    fresh, old = folder.parent / f".tmp-{folder.name}-{tag}", folder.parent / f".tmp-{folder.name}_old-{tag}"
    fresh.mkdir()
    for name, content in zip(names, data):
        (fresh / name).write_bytes(content)
    if folder.exists():
        os.rename(folder, old)
    os.rename(fresh, folder)
    shutil.rmtree(old, ignore_errors=True)
    return {name: hashlib.sha256(content).hexdigest() for name, content in zip(names, data)}
