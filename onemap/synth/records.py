"""Attribute tables of approvals (建设用地审批), land supply (供地) and new 宗地.

Approvals of the planted cases are joined by historic approvals of existing industrial and town
land (2008-2019), as in a real approval database. Approvals travel in batches (批次); each batch
is also written as one land-boundary TXT file. Areas taken (农用地/耕地/建设用地/未利用地) come from
an exact overlay with the DLTB layer; all approval and supply areas are plane areas in hectares.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .site import COMPANY_NAMES, Site, code_info

__all__ = ["make_approvals", "make_supply", "new_parcels"]

_PROJECTS = (
    "年产10万件机械配件项目",
    "仓储物流中心项目",
    "农产品加工项目",
    "新型建材生产线项目",
    "标准化厂房建设项目",
    "乡镇卫生院迁建项目",
    "中学扩建项目",
    "汽车配件生产项目",
    "光伏组件生产项目",
)


def _taken(geoms, dltb: gpd.GeoDataFrame) -> np.ndarray:
    """Hectares of agricultural, cultivated, construction and unused land under each geometry."""
    dg = dltb.geometry.to_numpy()
    info = [code_info(c) for c in dltb["DLBM"]]
    groups = np.array([i[1] for i in info])
    cult = np.array([i[2] for i in info])
    out = np.zeros((len(geoms), 4))
    ai, di = shapely.STRtree(dg).query(np.asarray(geoms, dtype=object), predicate="intersects")
    area = shapely.area(shapely.intersection(np.asarray(geoms, dtype=object)[ai], dg[di]))
    for col, mask in enumerate(
        (groups == "agricultural", cult, groups == "construction", groups == "unused")
    ):
        np.add.at(out[:, col], ai[mask[di]], area[mask[di]])
    return out / 1e4


def make_approvals(
    planted: list[dict], dltb: gpd.GeoDataFrame, site: Site, rng
) -> gpd.GeoDataFrame:
    """The approval layer: planted approvals (2021-2023) and historic ones over existing land."""
    roles = dltb.attrs["roles"]
    rows = [dict(a) for a in planted]
    hist = np.nonzero(np.isin(roles, ["factory", "town"]))[0]
    hist = hist[rng.random(len(hist)) < np.where(roles[hist] == "factory", 0.5, 0.25)]
    for k, i in enumerate(hist):
        rows.append(
            {
                "approval_id": f"PZ{len(planted) + k + 1:05d}",
                "geometry": dltb.geometry.iat[i],
                "supplied": True,
                "built": True,
                "dltb_index": int(i),
                "historic": True,
            }
        )
    years = [
        int(rng.integers(2008, 2020)) if r["historic"] else int(rng.integers(2021, 2024))
        for r in rows
    ]
    order = np.lexsort((np.arange(len(rows)), np.asarray(years)))
    batch_of: dict[int, tuple[int, int, int]] = {}
    counter: dict[int, int] = {}
    per_batch: dict[tuple[int, int], int] = {}
    for k in order:  # batches of 1-4 parcels per year
        y = years[k]
        if y not in counter or per_batch[(y, counter[y])] >= int(rng.integers(1, 5)):
            counter[y] = counter.get(y, 0) + 1
            per_batch[(y, counter[y])] = 0
        per_batch[(y, counter[y])] += 1
        batch_of[k] = (y, counter[y], per_batch[(y, counter[y])])
    out = []
    for k, r in enumerate(rows):
        y, b, d = batch_of[k]
        month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
        company = COMPANY_NAMES[int(rng.integers(len(COMPANY_NAMES)))]
        out.append({
            "approval_id": r["approval_id"],
            "PC": f"{site.county_name}{y}年度第{b}批次城镇建设用地",
            "PCBH": f"PC{y}-{b:02d}",
            "XMMC": company.replace("有限公司", "") + _PROJECTS[int(rng.integers(len(_PROJECTS)))],
            "SRDW": company,
            "PZWH": f"{site.abbr}政土字〔{y}〕{int(rng.integers(10, 400))}号",
            "PZRQ": f"{y}-{month:02d}-{day:02d}",
            "PZJG": "省人民政府",
            "DKBH": f"{b:02d}-{d}",
            "DKMC": f"{y}年第{b}批次{d}号地块",
            "DKYT": "工业用地",
            "DLBM": dltb["DLBM"].iat[r["dltb_index"]],
            "PZMJ": round(float(shapely.area(r["geometry"])) / 1e4, 4),
            "GDZT": "已供" if r["supplied"] else "未供",
            "historic": bool(r["historic"]),
            "supplied": bool(r["supplied"]),
            "geometry": r["geometry"],
        })
    gdf = gpd.GeoDataFrame(out, geometry="geometry", crs=dltb.crs)
    taken = np.round(_taken(gdf.geometry.to_numpy(), dltb), 4)
    for col, v in zip(("NYDMJ", "GDMJ", "JSYDMJ", "WLYDMJ"), taken.T, strict=True):
        gdf.insert(list(gdf.columns).index("GDZT"), col, v)
    return gdf


def make_supply(approvals: gpd.GeoDataFrame, site: Site, rng) -> gpd.GeoDataFrame:
    """Land supply (供地) records of the supplied approvals; DZJGH is the 16-digit 电子监管号."""
    sup = approvals[approvals["supplied"]].reset_index(drop=True)
    rows = []
    for k, r in sup.iterrows():
        y = int(r["PZRQ"][:4]) + (0 if r["historic"] else int(rng.integers(0, 2)))
        y = min(y, 2023)
        rows.append({
            "DZJGH": f"{site.county_code}{y}{k + 1:06d}",
            "supply_id": f"GD{k + 1:05d}",
            "approval_id": r["approval_id"],
            "XMMC": r["XMMC"],
            "SRDW": r["SRDW"],
            "GDFS": "划拨" if "局" in r["SRDW"] else "挂牌出让",
            "TDYT": "工业用地",
            "GDMJ": r["PZMJ"],
            "HTQDRQ": f"{y}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}",
            "geometry": r.geometry,
        })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=approvals.crs)


def new_parcels(supply: gpd.GeoDataFrame, approvals: gpd.GeoDataFrame, cadastral: gpd.GeoDataFrame,
                towns: gpd.GeoDataFrame, site: Site) -> gpd.GeoDataFrame:
    """State construction-land 宗地 (GB) for supplied approvals that are not yet in the cadastre."""
    hist = set(approvals.loc[approvals["historic"], "approval_id"])
    new = supply[~supply["approval_id"].isin(hist)]
    if new.empty:
        return cadastral
    tg = towns.geometry.to_numpy()
    serial: dict[str, int] = {}
    for z in cadastral["ZDDM"]:
        key = z[6:9] + z[12:14]
        serial[key] = max(serial.get(key, 0), int(z[14:]))
    rows = []
    for _, r in new.iterrows():
        t = int(np.argmax(shapely.area(shapely.intersection(tg, r.geometry))))
        xzq = towns["XZQDM"].iat[t]
        key = xzq[6:9] + "GB"
        serial[key] = serial.get(key, 0) + 1
        zddm = f"{site.county_code}{xzq[6:9]}001GB{serial[key]:05d}"
        rows.append(
            {
                "ZDDM": zddm,
                "BDCDYH": zddm + "W00000000",
                "QLRMC": r["SRDW"],
                "QLXZ": "国有建设用地使用权",
                "TDYT": "0601",
                "ZDMJ": round(float(r.geometry.area), 2),
                "ZL": towns["XZQMC"].iat[t],
                "geometry": r.geometry,
            }
        )
    add = gpd.GeoDataFrame(rows, geometry="geometry", crs=cadastral.crs)
    return gpd.GeoDataFrame(pd.concat([cadastral, add], ignore_index=True), crs=cadastral.crs)
