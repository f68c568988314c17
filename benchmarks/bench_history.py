"""GeoParquet vs GeoPackage, and year-over-year matching, side by side in one run.

Data: ``--n`` rotated, densified rectangles (5–60 m, 12–40 vertices) spread over a county-sized
square in CGCS2000 / 3-degree GK zone 39 (EPSG:4527), with a text code, an id and two numbers.

* **write / read**: ``onemap.write_layer`` and ``onemap.read_layer`` (same checks for both formats)
  on ``.gpkg`` and ``.parquet``; the plain peers ``geopandas.read_file`` (pyogrio) and
  ``geopandas.read_parquet``; file sizes;
* **bbox read**: 1 % of the extent, ``read_layer(bbox=...)`` on both formats, and on GeoParquet
  with the rows in scan order (250 m bands, as a survey's patches are): row groups skipped;
* **year over year**: ``--pairs`` new patches against as many earlier ones:
  ``onemap.match_previous`` vs the analyst's ``geopandas.overlay`` + area + groupby (planar
  areas), with the matches checked equal.

Times are the best of ``--repeats``. Usage::

    python benchmarks/bench_history.py --n 200000 --pairs 20000

Figures: ``benchmarks/README.md`` (GeoParquet and year over year).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

X0, Y0 = 39_500_000.0, 3_300_000.0


def polygons(n: int, seed: int, extent: float) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    w, h = rng.uniform(5, 60, (2, n))
    cx, cy = rng.uniform(0, extent, (2, n))
    boxes = shapely.box(X0 + cx - w / 2, Y0 + cy - h / 2, X0 + cx + w / 2, Y0 + cy + h / 2)
    angle = rng.uniform(0, np.pi / 2, n)
    xy, idx = shapely.get_coordinates(boxes, return_index=True)
    c = np.column_stack([X0 + cx, Y0 + cy])[idx]
    cos, sin = np.cos(angle)[idx], np.sin(angle)[idx]
    d = xy - c
    rot = np.column_stack(
        [c[:, 0] + d[:, 0] * cos - d[:, 1] * sin, c[:, 1] + d[:, 0] * sin + d[:, 1] * cos]
    )
    geoms = shapely.segmentize(shapely.set_coordinates(boxes, rot), 8.0)
    return gpd.GeoDataFrame(
        {
            "patch_id": np.arange(1, n + 1),
            "DLBM": rng.choice(["0101", "0702", "0201"], n),
            "verdict": rng.choice(["unapproved", "approved"], n),
            "score": rng.normal(size=n),
            "area_m2": shapely.area(geoms),
        },
        geometry=geoms,
        crs=4527,
    )


def best(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def overlay_matches(new: gpd.GeoDataFrame, old: gpd.GeoDataFrame, min_overlap: float) -> pd.Series:
    """The analyst's way: overlay, planar areas, share of the smaller, best match per new patch."""
    a = new[["patch_id", "geometry"]].assign(a_new=new.area)
    b = old[["patch_id", "geometry"]].rename(columns={"patch_id": "old_id"}).assign(a_old=old.area)
    pieces = gpd.overlay(a, b, how="intersection", keep_geom_type=True)
    pieces["share"] = pieces.area / np.minimum(pieces["a_new"], pieces["a_old"])
    hits = pieces[pieces["share"] >= min_overlap]
    hits = hits.sort_values(["patch_id", "share"], ascending=[True, False])
    return hits.drop_duplicates("patch_id").set_index("patch_id")[["old_id", "share"]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--pairs", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from onemap import match_previous, read_layer, write_layer

    warnings.simplefilter("ignore")
    extent = 60.0 * np.sqrt(args.n)  # about as crowded as a land-use layer
    layer = polygons(args.n, 0, extent)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        b = shapely.bounds(np.asarray(layer.geometry.values))
        scan = layer.iloc[np.lexsort((b[:, 0], np.floor((b[:, 1] - Y0) / 250.0)))]  # 250 m bands
        for name, ext, data in (
            ("gpkg", "gpkg", layer),
            ("parquet", "parquet", layer),
            ("parquet, rows in scan order", "parquet", scan),
        ):
            p = Path(tmp) / f"layer.{ext}"
            t_w, _ = best(lambda d=data, p=p: write_layer(d, p), args.repeats)
            t_r, got = best(lambda p=p: read_layer(p, "landuse"), args.repeats)
            plain = gpd.read_file if ext == "gpkg" else gpd.read_parquet
            t_p, _ = best(lambda p=p, f=plain: f(p), args.repeats)
            box = (X0, Y0, X0 + extent / 10, Y0 + extent / 10)
            t_b, sub = best(lambda p=p, b=box: read_layer(p, "landuse", bbox=b), args.repeats)
            assert len(got) == args.n
            rows.append(
                {
                    "format": name,
                    "MB": p.stat().st_size / 1e6,
                    "write_layer s": t_w,
                    "read_layer s": t_r,
                    "plain read s": t_p,
                    "bbox 1% read s": t_b,
                    "bbox rows": len(sub),
                }
            )
    print(f"{args.n} polygons")
    print(pd.DataFrame(rows).round(3).to_string(index=False))

    pextent = 60.0 * np.sqrt(args.pairs)
    new = polygons(args.pairs, 1, pextent)
    old = new.assign(verdict="unapproved")  # one rank: the largest share decides, as in the peer
    rng = np.random.default_rng(2)
    shift = rng.normal(0, 8, (args.pairs, 2))  # last year's detection of the same patch, moved
    geoms = np.asarray(new.geometry.values)
    xy, idx = shapely.get_coordinates(geoms, return_index=True)
    old["geometry"] = shapely.set_coordinates(geoms.copy(), xy + shift[idx])
    t_ours, ours = best(lambda: match_previous(new, old), args.repeats)
    t_peer, peer = best(lambda: overlay_matches(new, old, 0.3), 1)
    mine = ours.set_index("patch_id")
    mine = mine[mine["prev_patch_id"] != ""]
    # same patches matched; where the two picked different earlier patches, those are ties (a small
    # patch inside two earlier ones): equal shares. Shares: ellipsoidal vs planar, equal to 1e-6.
    same = mine.index.sort_values().equals(peer.index.sort_values())
    diff = np.abs(mine["prev_overlap"] - peer.loc[mine.index, "share"])
    share_diff = float(diff.max()) if len(mine) else 0.0
    picks = int((mine["prev_patch_id"].astype(int) != peer.loc[mine.index, "old_id"]).sum())
    print(
        f"\nyear over year, {args.pairs} x {args.pairs} patches: match_previous {t_ours:.2f} s, "
        f"geopandas.overlay + area + groupby {t_peer:.2f} s (peer/ours {t_peer / t_ours:.2f}); "
        f"{len(mine)} matched, same patches matched: {same}, other pick (ties) {picks}, "
        f"max share difference {share_diff:.1e}"
    )


if __name__ == "__main__":
    main()
