"""The steps of :func:`onemap.synth.make_county`, in order (landscape → layers → plants → files)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import __version__
from ..errors import InvariantError
from . import layers as L
from . import records
from .layout import build_layout
from .plant import CASES, Planter, case_counts
from .render import render_scenes
from .site import county_frame, make_site
from .spectra import date_params, nodata_polygon, polygon_params
from .writers import write_csv, write_gpkg, write_json, write_shapefile

# whole-polygon distractors first (they need particular polygons), then the tightest cases
_ORDER = ("distractor_pond", "distractor_harvest", "distractor_crop", "unapproved_redline",
          "unapproved_farmland", "unapproved_road", "partly_approved", "approved_building",
          "unapproved_cultivated", "unapproved_other", "rebuild_existing", "approved_unbuilt")
_FILES = {
    "landuse": "landuse/DLTB.gpkg",
    "cadastral": "cadastral/ZD.gpkg",
    "approvals_gpkg": "approvals/JSYDSP.gpkg",
    "approvals_txt_dir": "approvals/txt",
    "supply": "supply/GDXX.gpkg",
    "farmland": "farmland/YJJBNT.gpkg",
    "redline": "redline/STBHHX.gpkg",
    "admin": "admin/XZQ.shp",
    "truth": "truth/truth.gpkg",
    "truth_csv": "truth/truth.csv",
    "meta": "county.json",
}


def _rngs(seed: int, n: int):
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def build_county(
    root: Path,
    size,
    res,
    seed,
    zone,
    clouds,
    misregistration_px,
    n_changes,
    scheme,
    tile,
    compress,
    County,
):
    r_layout, r_layers, r_spectra, r_dates, r_plant, r_records = _rngs(seed, 6)
    site = make_site(zone)
    frame = county_frame(site, size, res)
    area_km2 = frame.width * frame.height * frame.pixel_area / 1e6
    counts = case_counts(area_km2, n_changes, clouds)
    n = max(counts[c] for c in _ORDER)
    needs = {"pond": counts["distractor_pond"] + 4, "other": counts["unapproved_other"] + 3,
             "village": max(2, math.ceil(n / 3)), "factory": max(2, math.ceil(n / 4))}
    layout = build_layout(r_layout, frame, site.paddy, seed, needs)
    towns = L.make_townships(layout, site, frame)
    pieces, twp = L.split_by_township(layout.pieces, towns)
    dltb = L.make_dltb(pieces, twp, towns, site, frame, r_layers, scheme)
    farmland = L.make_farmland(dltb, layout, seed)
    redline = L.make_redline(dltb, layout, site)
    cadastral = L.make_cadastral(dltb, towns, layout.grid.theta, site, r_layers)
    kind1, kind2, par1, par2 = polygon_params(
        pieces.code, pieces.role, pieces.hill, layout.grid.theta, r_spectra
    )
    d1, d2 = date_params(r_dates, frame.shape, res, misregistration_px, layout.hill_corner)
    nodata = nodata_polygon(frame, d2.nodata_plane)

    fmask = np.zeros(len(dltb), dtype=bool)
    fmask[farmland.attrs["dltb_index"]] = True
    planter = Planter(r_plant, dltb, dltb.attrs["roles"], fmask, redline.attrs["dltb_mask"],
                      layout.grid.theta, nodata, sun=tuple(d2.sun))
    placed = {c: 0 for c in CASES}
    pools = {
        "unapproved_cultivated": "cult",
        "unapproved_farmland": "farm",
        "unapproved_redline": "red",
        "unapproved_other": "other",
        "approved_building": "cult",
        "partly_approved": "cult",
    }
    for _ in range(n):
        for case in _ORDER:
            if placed[case] >= counts[case]:
                continue
            if case in pools:
                ok = planter.building(case, pools[case])
            elif case == "unapproved_road":
                ok = planter.road()
            elif case == "rebuild_existing":
                ok = planter.rebuild()
            elif case == "approved_unbuilt":
                ok = planter.unbuilt()
            else:
                pool = "pond" if case == "distractor_pond" else "field"
                ok = planter.whole_polygon(case, pool, kind2, par1, par2)
            placed[case] += bool(ok)
    valid = (
        frame.footprint()
        if nodata is None
        else shapely.difference(frame.footprint(), shapely.buffer(nodata, 20.0))
    )
    discs = []
    for _ in range(counts["distractor_cloud"]):
        d = planter.cloud(frame, valid, d2.sun)
        if d is not None:
            discs.append(d)
            placed["distractor_cloud"] += 1
            placed["distractor_shadow"] += 1
    missing = [c for c in CASES if placed[c] == 0 and counts[c] > 0 and c != "distractor_shadow"]
    if missing:
        if frame.width * frame.height >= 512 * 512:
            raise InvariantError(
                f"could not place any object of case(s) {missing} in the sample county",
                hint="use another seed or a larger size",
            )
        warnings.warn(f"county too small to plant {missing}", stacklevel=3)

    approvals = records.make_approvals(planter.approvals, dltb, site, r_records)
    supply = records.make_supply(approvals, site, r_records)
    cadastral = records.new_parcels(supply, approvals, cadastral, towns, site)
    truth = _truth_frame(planter.truth, frame.crs)
    sup_of = dict(zip(supply["approval_id"], supply["supply_id"], strict=True))
    truth["supply_id"] = [sup_of.get(a, "") for a in truth["approval_id"]]

    # ------------------------------------------------------------------ files
    root.mkdir(parents=True, exist_ok=True)
    paths = {k: root / v for k, v in _FILES.items()}
    paths["before"] = root / f"imagery/GF2_PMS_{d1.date.replace('-', '')}_L2_4band.tif"
    paths["after"] = root / f"imagery/GF2_PMS_{d2.date.replace('-', '')}_L2_4band.tif"
    paths["root"] = root
    for p in paths.values():
        (p if p.suffix == "" else p.parent).mkdir(parents=True, exist_ok=True)
    write_gpkg(dltb, paths["landuse"], "DLTB")
    write_gpkg(cadastral, paths["cadastral"], "ZD")
    approvals_out = approvals.drop(columns=["historic", "supplied"])
    write_gpkg(approvals_out, paths["approvals_gpkg"], "JSYDSP")
    _write_txt(approvals_out, paths["approvals_txt_dir"], site)
    write_gpkg(supply, paths["supply"], "GDXX")
    write_gpkg(farmland, paths["farmland"], "YJJBNT")
    write_gpkg(redline, paths["redline"], "STBHHX")
    write_shapefile(towns, paths["admin"], encoding="GBK")
    write_gpkg(truth, paths["truth"], "truth")
    write_csv(truth, paths["truth_csv"])
    objects = {d: planter.objects[d] for d in (1, 2)}
    render_scenes(
        frame,
        (paths["before"], paths["after"]),
        dltb.geometry.to_numpy(),
        (kind1, kind2),
        (par1, par2),
        objects,
        np.concatenate(discs) if discs else None,
        (d1, d2),
        layout.grid.theta,
        seed,
        tile=tile,
        compress=compress,
    )
    meta = {
        "generator": f"onemap {__version__} onemap.synth.make_county",
        "seed": seed,
        "size": list(frame.shape),
        "res": res,
        "zone": zone,
        "epsg": frame.crs.to_epsg(),
        "bounds": list(frame.bounds),
        "scheme": scheme,
        "county_code": site.county_code,
        "county_name": site.county_name,
        "tbmj": "ellipsoidal area (CGCS2000/GRS80 geodesic area of the inverse-projected vertices)",
        "dates": {
            name: {
                "date": d.date,
                "season": d.season,
                "gains": list(d.gains),
                "offsets": list(d.offsets),
                "sun": list(d.sun),
                "shift_px": list(d.shift_px),
                **d.meta,
            }
            for name, d in (("before", d1), ("after", d2))
        },
        "nodata_after_wkt": None if nodata is None else nodata.wkt,
        "planted": {c: placed[c] for c in CASES},
        "files": {k: str(v.relative_to(root)) for k, v in paths.items() if k != "root"},
    }
    write_json(meta, paths["meta"])
    return County(paths, truth, frame, meta)


def _write_txt(approvals, folder: Path, site) -> None:
    """One land-boundary TXT (GBK, 报部格式) per approval batch."""
    from ..ingest.boundary_txt import write_boundary_txt

    for old in folder.glob("*.txt"):
        old.unlink()
    for pcbh, batch in approvals.groupby("PCBH", sort=True):
        y, m, d = (int(v) for v in batch["PZRQ"].min().split("-"))
        header = {"数据产生单位": f"{site.county_name}自然资源局", "数据产生日期": f"{y}-{m}-{d}"}
        layer = batch[["DKBH", "DKMC", "DKYT", "DLBM", "geometry"]].reset_index(drop=True)
        write_boundary_txt(layer, folder / f"{pcbh}.txt", encoding="gbk", header=header,
                           id_column="DKBH", name_column="DKMC")


def _truth_frame(rows: list[dict], crs) -> gpd.GeoDataFrame:
    cols = [
        "truth_id",
        "case",
        "expected_verdict",
        "change_kind",
        "roof",
        "before_material",
        "prior_code",
        "prior_name",
        "prior_group",
        "dltb_bsm",
        "approval_id",
        "supply_id",
        "in_farmland",
        "in_redline",
        "outside_fraction",
        "truth_unapproved_m2",
        "area_m2",
    ]
    df = pd.DataFrame(rows)
    df.insert(0, "truth_id", [f"T{k + 1:05d}" for k in range(len(df))])
    if "supply_id" not in df:
        df["supply_id"] = ""
    return gpd.GeoDataFrame(df[cols], geometry=list(df["geometry"]), crs=crs)


def open_built_county(root: Path, County):
    import json

    import geopandas as gpd

    from ..errors import DataError
    from ..frame import Frame

    if not (root / _FILES["meta"]).is_file():
        raise DataError("not a county written by make_county (no county.json)", path=root,
                        hint="write one with onemap.synth.make_county(path, size=...)")
    meta = json.loads((root / _FILES["meta"]).read_text(encoding="utf-8"))
    paths = {k: root / v for k, v in meta["files"].items()}
    paths["root"] = root
    truth = gpd.read_file(paths["truth"], engine="pyogrio")
    return County(paths, truth, Frame.from_raster(paths["before"]), meta)
