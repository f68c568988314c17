"""The bureau's layers derived from the landscape: townships, DLTB, basic farmland, red line, 宗地.

All of them are built from the same partition, so they agree exactly: townships are unions of
grid cells and every DLTB polygon lies in one township (roads on a township boundary are split
along their centre line, as 三调 splits polygons at 坐落单位 boundaries); basic farmland polygons
are copies of cultivated DLTB polygons; the red line is the union of hill and river DLTB
polygons; 宗地 subdivide construction-land DLTB polygons.

``TBMJ`` is the **ellipsoidal** area (CGCS2000/GRS80 geodesic area of the inverse-projected
vertices), as the land survey requires; ``ZDMJ`` of 宗地 and the TXT areas are plane areas.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .landscape import Pieces, value_noise
from .layout import Layout
from .site import COMPANY_NAMES, TOWNSHIP_NAMES, Site, code_info

__all__ = ["ellipsoidal_area", "make_townships", "split_by_township", "make_dltb", "make_farmland",
           "make_redline", "make_cadastral", "OLD_SCHEME"]

#: construction codes written as 二调-style 20x codes when ``scheme="erdiao"``
OLD_SCHEME = {"202": "202", "203": "203", "203A": "203", "201": "201", "201A": "201", "202A": "202"}
_STATE_CODES = {"1003", "1004", "1101", "1107", "0810", "08H1", "08H2"}
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "建国秀英志强桂兰海军明华丽娟永红春梅德胜玉珍文"


def ellipsoidal_area(geoms, crs) -> np.ndarray:
    """Ellipsoidal area in m² of polygons (:func:`onemap.geometry.ellipsoidal_area`).

    >>> import shapely
    >>> a = ellipsoidal_area([shapely.box(39_500_000, 4_000_000, 39_500_100, 4_000_100)], 4527)
    >>> bool(abs(a[0] - 10_000) < 2)
    True
    """
    from ..geometry import ellipsoidal_area as area

    return area(geoms, crs)


def make_townships(layout: Layout, site: Site, frame) -> gpd.GeoDataFrame:
    """Townships (乡镇): grid cells given to their nearest seat, unioned, clipped to the county."""
    cq = layout.cell_quads
    c = shapely.centroid(cq)
    cx, cy = shapely.get_x(c), shapely.get_y(c)
    seats = layout.seats
    owner = np.argmin(np.hypot(cx[:, None] - seats[:, 0], cy[:, None] - seats[:, 1]), axis=1)
    left, bottom, right, top = frame.bounds
    geoms, names, dm = [], [], []
    n_zhen = n_xiang = 0
    for k in range(len(seats)):
        mine = cq[owner == k]
        if len(mine) == 0:
            continue
        g = shapely.clip_by_rect(shapely.coverage_union_all(mine), left, bottom, right, top)
        if g.is_empty:
            continue
        name = TOWNSHIP_NAMES[k] if k < len(TOWNSHIP_NAMES) else f"第{k + 1}乡"
        if name.endswith("镇"):
            n_zhen += 1
            num = 100 + n_zhen
        else:
            n_xiang += 1
            num = 200 + n_xiang
        geoms.append(g)
        names.append(name)
        dm.append(f"{site.county_code}{num:03d}000")
    return gpd.GeoDataFrame({"XZQDM": dm, "XZQMC": names, "XZQJB": ["乡镇"] * len(dm)},
                            geometry=geoms, crs=frame.crs)


def split_by_township(pieces: Pieces, towns: gpd.GeoDataFrame) -> tuple[Pieces, np.ndarray]:
    """Split pieces that cross township boundaries; return the new pieces and their townships."""
    tg = towns.geometry.to_numpy()
    tree = shapely.STRtree(tg)
    pi, ti = tree.query(pieces.geoms, predicate="intersects")
    inter = shapely.intersection(pieces.geoms[pi], tg[ti])
    parts, k = shapely.get_parts(inter, return_index=True)
    ok = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 1e-4)
    parts, src, twp = parts[ok], pi[k[ok]], ti[k[ok]]
    new = Pieces(parts, pieces.code[src], pieces.czcs[src], pieces.role[src], pieces.hill[src])
    return new, twp


def make_dltb(pieces: Pieces, twp: np.ndarray, towns: gpd.GeoDataFrame, site: Site, frame, rng,
              scheme: str = "sandiao") -> gpd.GeoDataFrame:
    """The DLTB layer with the 三调 fields; ``scheme="erdiao"`` writes town/village land as 20x."""
    n = len(pieces.geoms)
    code = pieces.code.astype(object).copy()
    if scheme == "erdiao":
        for k in range(n):
            if code_info(code[k])[3] and pieces.czcs[k] in OLD_SCHEME and code[k] != "1004":
                code[k] = OLD_SCHEME[pieces.czcs[k]]
    tbmj = np.round(ellipsoidal_area(pieces.geoms, frame.crs), 2)
    cult = np.array([code_info(c)[2] for c in code])
    kcxs = np.where(cult, np.round(rng.uniform(0.02, 0.09, n), 4), 0.0)
    kcmj = np.round(tbmj * kcxs, 2)
    zldwdm = towns["XZQDM"].to_numpy()[twp]
    zldwdm = np.array([d + "0000000" for d in zldwdm], dtype=object)
    tbbh = np.zeros(n, dtype=np.int64)
    order = np.lexsort((shapely.get_x(shapely.centroid(pieces.geoms)), twp))
    counts: dict[int, int] = {}
    for k in order:
        counts[twp[k]] = counts.get(twp[k], 0) + 1
        tbbh[k] = counts[twp[k]]
    state = np.array([c in _STATE_CODES or cz.startswith("202")
                      for c, cz in zip(pieces.code, pieces.czcs, strict=True)])
    df = pd.DataFrame({
        "BSM": [f"{site.county_code}{k + 1:012d}" for k in range(n)],
        "YSDM": "2001010100",
        "TBBH": [str(v) for v in tbbh],
        "DLBM": code,
        "DLMC": [code_info(c)[0] for c in code],
        "QSXZ": np.where(state, "10", "30"),
        "QSDWDM": zldwdm,
        "QSDWMC": towns["XZQMC"].to_numpy()[twp],
        "ZLDWDM": zldwdm,
        "ZLDWMC": towns["XZQMC"].to_numpy()[twp],
        "TBMJ": tbmj,
        "KCDLBM": np.where(cult, "1203", ""),
        "KCXS": kcxs,
        "KCMJ": kcmj,
        "TBDLMJ": np.round(tbmj - kcmj, 2),
        "GDLX": np.where(cult, np.where(pieces.hill, "TT", "PD"), ""),
        "GDPDJB": np.where(cult, np.where(pieces.hill, "3", "1"), ""),
        "CZCSXM": pieces.czcs,
        "SJNF": 2021,
    })
    gdf = gpd.GeoDataFrame(df, geometry=pieces.geoms, crs=frame.crs)
    gdf.attrs["roles"] = pieces.role
    gdf.attrs["hill"] = pieces.hill
    return gdf


def make_farmland(dltb: gpd.GeoDataFrame, layout: Layout, seed: int) -> gpd.GeoDataFrame:
    """Permanent basic farmland: about 70 % of cultivated DLTB polygons, away from the towns."""
    cult = np.array([code_info(c)[2] for c in dltb["DLBM"]])
    c = shapely.centroid(dltb.geometry.to_numpy())
    x, y = shapely.get_x(c), shapely.get_y(c)
    nz = value_noise(x, y, seed + 7, 900.0)
    b = dltb.total_bounds
    keep_out = min(300.0, 0.08 * min(b[2] - b[0], b[3] - b[1]))  # land kept for the towns to grow
    near_town = (np.hypot(x[:, None] - layout.seats[:, 0], y[:, None] - layout.seats[:, 1])
                 < layout.seat_radii + keep_out).any(1)
    pick = cult & (nz < 0.68) & ~near_town
    f = dltb.loc[pick, ["DLBM", "DLMC", "ZLDWDM", "ZLDWMC", "TBMJ", "TBDLMJ", "geometry"]].copy()
    f.insert(0, "JBNTTBBH", [f"JBNT{k + 1:06d}" for k in range(len(f))])
    f["JBNTLX"] = "永久基本农田"
    f = f.rename(columns={"TBDLMJ": "JBNTMJ"}).reset_index(drop=True)
    f.attrs["dltb_index"] = np.nonzero(pick)[0]
    return f


def make_redline(dltb: gpd.GeoDataFrame, layout: Layout, site: Site) -> gpd.GeoDataFrame:
    """Ecological red line: the core of the hills (水源涵养) and the river corridor (河流湿地)."""
    roles = dltb.attrs["roles"]
    geoms = dltb.geometry.to_numpy()
    natural = np.isin(dltb["DLBM"].to_numpy(), ["0301", "0305", "0404", "0201", "1207", "0103"])
    hill = (roles == "hill") & natural
    inner = shapely.difference(shapely.boundary(layout.hills), shapely.buffer(shapely.boundary(
        shapely.envelope(shapely.union_all(geoms))), 1.0))
    d = shapely.distance(shapely.centroid(geoms), inner)
    sel = np.zeros(len(dltb), dtype=bool)
    idx = np.nonzero(hill)[0]
    if len(idx):
        sel[idx[d[idx] >= np.quantile(d[idx], 0.35)]] = True
    riv = roles == "river"
    rows: list[dict[str, Any]] = []
    gs: list[Any] = []
    for name, kind, mask in (("山地水源涵养", "水源涵养", sel),
                             ("河流湿地", "生物多样性维护", riv)):
        if mask.any():
            g = shapely.union_all(geoms[mask])
            gs.append(g)
            rows.append({"HXBH": f"{site.county_code}-{len(rows) + 1:02d}",
                         "HXMC": f"{site.county_name}{name}生态保护红线",
                         "HXLX": kind, "MJ": round(float(g.area), 2)})
    out = gpd.GeoDataFrame(rows, geometry=gs, crs=dltb.crs)
    out.attrs["dltb_mask"] = sel | riv
    return out


def _person(rng) -> str:
    return _SURNAMES[int(rng.integers(len(_SURNAMES)))] + "".join(
        _GIVEN[int(i)] for i in rng.integers(len(_GIVEN), size=2))


def lots(poly, theta: float, lot_w: float, lot_h: float, rng):
    """Cut a polygon into lots of about lot_w x lot_h metres on a grid rotated by theta."""
    c = poly.centroid
    cos, sin = math.cos(theta), math.sin(theta)
    xy = np.asarray(poly.exterior.coords) - (c.x, c.y)
    u, v = xy[:, 0] * cos + xy[:, 1] * sin, -xy[:, 0] * sin + xy[:, 1] * cos
    u0, v0 = u.min() - rng.uniform(0, lot_w), v.min() - rng.uniform(0, lot_h)
    us = np.arange(u0, u.max() + lot_w, lot_w)
    vs = np.arange(v0, v.max() + lot_h, lot_h)
    grid_u, grid_v = np.meshgrid(us[:-1], vs[:-1], indexing="ij")
    U, V = grid_u.ravel(), grid_v.ravel()
    pu = np.stack([U, U + lot_w, U + lot_w, U, U], 1)
    pv = np.stack([V, V, V + lot_h, V + lot_h, V], 1)
    x, y = c.x + pu * cos - pv * sin, c.y + pu * sin + pv * cos
    rects = shapely.polygons(np.stack([x, y], -1))
    out = shapely.get_parts(shapely.intersection(rects, poly))
    return out[(shapely.get_type_id(out) == 3) & (shapely.area(out) > 30.0)]


def make_cadastral(dltb: gpd.GeoDataFrame, towns: gpd.GeoDataFrame, theta: float, site: Site,
                   rng) -> gpd.GeoDataFrame:
    """宗地 of existing construction land: homesteads (JC), collective (JB) and state (GB) lots."""
    roles = dltb.attrs["roles"]
    rows, geoms = [], []
    serial: dict[str, int] = {}
    town_of = dict(zip(towns["XZQDM"], towns["XZQMC"], strict=True))
    geoms_all, czcs_all = dltb.geometry.to_numpy(), dltb["CZCSXM"].to_numpy()
    dlbm_all, zl_all = dltb["DLBM"].to_numpy(), dltb["ZLDWDM"].to_numpy()
    for k in np.nonzero(np.isin(roles, ["village", "town", "factory", "park"]))[0]:
        r = {"geometry": geoms_all[k], "CZCSXM": czcs_all[k], "DLBM": dlbm_all[k],
             "ZLDWDM": zl_all[k]}
        role = roles[k]
        if role == "village":
            size, feat, qlxz = (24.0, 30.0), "JC", "宅基地使用权"
        elif r["CZCSXM"].startswith("203"):
            size, feat, qlxz = (110.0, 90.0), "JB", "集体建设用地使用权"
        else:
            size = (70.0, 90.0) if role == "town" else (140.0, 110.0)
            feat, qlxz = "GB", "国有建设用地使用权"
        g0 = r["geometry"]
        parts = lots(g0, theta, *size, rng) if g0.area > 1.6 * size[0] * size[1] else [g0]
        xzq = r["ZLDWDM"][:12]
        for g in parts:
            key = xzq[6:9] + feat
            serial[key] = serial.get(key, 0) + 1
            zddm = f"{site.county_code}{xzq[6:9]}001{feat}{serial[key]:05d}"
            if feat == "JC":
                owner = _person(rng)
            elif feat == "JB":
                owner = f"{town_of.get(xzq, '')}村民委员会"
            elif role == "factory":
                owner = COMPANY_NAMES[int(rng.integers(len(COMPANY_NAMES)))]
            else:
                owner = f"{town_of.get(xzq, '')}人民政府"
            rows.append({"ZDDM": zddm, "BDCDYH": zddm + "W00000000", "QLRMC": owner,
                         "QLXZ": qlxz, "TDYT": r["DLBM"], "ZDMJ": round(float(g.area), 2),
                         "ZL": town_of.get(xzq, "")})
            geoms.append(g)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=dltb.crs)
