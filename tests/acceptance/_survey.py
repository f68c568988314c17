"""Helpers of the acceptance suite: write small layers and a TOML, run ``onemap survey``, read back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

REPO = Path(__file__).resolve().parents[2]
FLAGGED = ("unapproved", "partly_approved")


@dataclass
class Run:
    out: Path
    verdicts: gpd.GeoDataFrame
    manifest: dict[str, Any]
    stderr: str

    @property
    def flagged(self) -> gpd.GeoDataFrame:
        return self.verdicts[self.verdicts["verdict"].isin(FLAGGED)]


def toml_value(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(v, ensure_ascii=False)


def write_toml(path: Path, tables: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def survey(toml: Path) -> Run:
    """``python -m onemap survey TOML -q`` in a fresh process; the outputs read back."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "onemap", "survey", str(toml), "-q"], check=False,
                          capture_output=True,
                          text=True, env=env, cwd=toml.parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import tomllib

    out = (toml.parent / tomllib.loads(toml.read_text(encoding="utf-8"))["survey"]["output"]).resolve()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return Run(out, gpd.read_file(out / "verdicts.gpkg"), manifest, proc.stderr)


def footprint(path: Path, crs: Any) -> shapely.Polygon:
    """A raster's outline (densified) in *crs*."""
    import rasterio

    with rasterio.open(path) as src:
        box = shapely.segmentize(shapely.box(*src.bounds), max(src.res) * 16)
        return gpd.GeoSeries([box], crs=src.crs.to_wkt()).to_crs(crs).iloc[0]


def geod_area(geoms: Any, crs: Any) -> np.ndarray:
    """Hand-computed ellipsoidal areas: vertices to lon/lat on the CRS's own datum, pyproj.Geod."""
    crs = CRS.from_user_input(crs)
    geod = crs.geodetic_crs.get_geod()
    tr = Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True)
    out = []
    for g in np.asarray(geoms, dtype=object):
        ll = shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
        out.append(abs(geod.geometry_area_perimeter(ll)[0]) if not ll.is_empty else 0.0)
    return np.array(out)


def check_books(run: Run) -> None:
    """Areas add up per patch and are ellipsoidal: area_m2 is the hand-computed Geod area."""
    v = run.verdicts
    total = v["existing_m2"] + v["approved_m2"] + v["unapproved_m2"]
    np.testing.assert_allclose(total, v["area_m2"], rtol=1e-6)
    np.testing.assert_allclose(v["area_m2"], geod_area(v.geometry.values, v.crs), rtol=1e-6)


def hand_unapproved(run: Run, approvals: gpd.GeoDataFrame, construction: gpd.GeoDataFrame) -> float:
    """Σ over patches of the Geod area of patch − construction land − approvals, computed here."""
    v = run.verdicts
    appr = shapely.union_all(approvals.to_crs(v.crs).geometry.values)
    built = shapely.union_all(construction.to_crs(v.crs).geometry.values)
    rest = shapely.difference(shapely.difference(v.geometry.values, built), appr)
    return float(geod_area(rest, v.crs).sum())


def txt_dates(run: Run) -> set[str]:
    from onemap import read_boundary_txt

    return {read_boundary_txt(f).attrs["header"].get("数据产生日期", "")
            for f in sorted((run.out / "flagged_txt").glob("*.txt"))}
