"""PostGIS read and write: onemap.db against geopandas.read_postgis / GeoDataFrame.to_postgis.

One throwaway cluster (``tests/db/_cluster.py``: initdb in a temporary folder, a free port) serves
both sides. The land-use table is generated on the server with ``generate_series``: ``--rows``
DLTB-like polygons (17-vertex, ~40 m across, on a 50 m lattice in CGCS2000 zone 39 with
zone-prefixed eastings, EPSG:4527; BSM primary key, DLBM/DLMC codes and names, TBMJ numeric,
ZLDWDM, SJNF) with a GiST index. Workloads, each in its own subprocess (peak RSS per side):

* **read**: the features whose boxes touch a county's bounding box (``--county-share`` of the
  table, ~10 %): ``onemap.db.fetch_layer`` (binary COPY/cursor, WKB) and ``onemap.read_layer``
  (the same plus every check and the land-use columns) vs ``geopandas.read_postgis`` of
  ``SELECT * … WHERE geom && ST_MakeEnvelope(…)`` (the same server-side filter);
* **write**: ``--write-rows`` verdicts (a verdict table's columns: ids, text, Chinese text,
  floats, booleans, polygons) into a fresh table: ``onemap.db.write_results`` (one transaction,
  binary COPY, key/GiST indexes, comments) vs ``to_postgis(if_exists="append")`` (CSV COPY of
  hex EWKB, GiST index).

Ratios are geopandas time / onemap time (> 1: onemap is faster); times are medians of
``--repeats``, each after a warm-up on a few rows (imports, numba's cached kernels, sqlalchemy's
pool) that is not timed, for both sides. Usage::

    python benchmarks/bench_postgis.py --quick
    python benchmarks/bench_postgis.py --rows 1000000 --write-rows 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CELL = 50.0
X0, Y0 = 39_500_000.0, 3_300_000.0


def make_landuse(url: str, rows: int) -> None:
    import psycopg

    side = int(rows ** 0.5 + 0.999)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS dltb")
        conn.execute(f"""
            CREATE TABLE dltb AS
            SELECT i + 1 AS bsm,
                   (ARRAY['0101','0102','0201','0301','0702','1001','0601','1101'])[1 + i % 8] AS dlbm,
                   (ARRAY['水田','水浇地','果园','乔木林地','农村宅基地','铁路用地','工业用地','河流水面'])
                       [1 + i % 8] AS dlmc,
                   round((1000 + (i % 997))::numeric, 2)::numeric(15, 2) AS tbmj,
                   '330102' || lpad(((i / 5000) % 300)::text, 6, '0') AS zldwdm,
                   2023 AS sjnf,
                   ST_Buffer(ST_SetSRID(ST_MakePoint({X0} + {CELL} * (i % {side}) + 25,
                                                     {Y0} + {CELL} * (i / {side}) + 25), 4527),
                             20, 4)::geometry(Polygon, 4527) AS geom
            FROM generate_series(0, {rows - 1}) AS i""")
        conn.execute("ALTER TABLE dltb ADD PRIMARY KEY (bsm)")
        conn.execute("CREATE INDEX dltb_geom ON dltb USING gist (geom)")
        conn.execute("VACUUM ANALYZE dltb")


def county_box(rows: int, share: float) -> tuple[float, float, float, float]:
    side = int(rows ** 0.5 + 0.999) * CELL
    w = side * share ** 0.5
    return (X0 + 0.3 * side, Y0 + 0.3 * side, X0 + 0.3 * side + w, Y0 + 0.3 * side + w)


def verdicts(n: int):
    import geopandas as gpd
    import numpy as np
    import shapely

    from onemap.enforce import VERDICTS_ZH

    rng = np.random.default_rng(0)
    kinds = np.array(list(VERDICTS_ZH))
    v = kinds[rng.integers(0, len(kinds), n)]
    area = rng.uniform(200, 5_000, n)
    x = X0 + rng.uniform(0, 50_000, n)
    y = Y0 + rng.uniform(0, 50_000, n)
    geoms = shapely.buffer(shapely.points(x, y), 15, quad_segs=4)
    cols = {"patch_id": np.arange(1, n + 1), "verdict": v, "verdict_zh": [VERDICTS_ZH[k] for k in v],
            "date_before": "2024-09-01", "date_after": "2025-09-01"}
    for name in ("area_m2", "existing_m2", "new_m2", "approved_m2", "unapproved_m2", "new_cultivated_m2",
                 "unapproved_cultivated_m2", "unapproved_farmland_m2", "unapproved_redline_m2"):
        cols[name] = area * rng.random(n)
    cols.update(area_mu=area * 0.0015, area_ha=area * 1e-4, at_frame_edge=rng.random(n) < 0.05,
                unapproved_by_code=['{"0101": 120.5}'] * n,
                approval_ids=[None if i % 3 else f"浙土字〔2024〕{i}号" for i in range(n)],
                parcel_ids=[f"330102001001GB{i:05d}" for i in range(n)],
                admin_code=["330102001"] * n, admin_name=["某某街道"] * n)
    return gpd.GeoDataFrame(cols, geometry=geoms, crs=4527)


# ------------------------------------------------------------------------------------ children
def child(op: str, url: str, args: argparse.Namespace) -> dict:
    import psutil

    box = county_box(args.rows, args.county_share)
    payload = verdicts(args.write_rows) if op.startswith("write") else None
    if op == "write_gpd":
        from sqlalchemy import create_engine

        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    if op == "read_gpd":
        import geopandas as gpd
        from sqlalchemy import create_engine

        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    import onemap.db
    import onemap.ingest.vector  # noqa: F401

    # warm-up on a few rows, off the clock, for both sides: imports, numba's cached kernels,
    # sqlalchemy's pool and dialect
    tiny = (X0, Y0, X0 + 100, Y0 + 100)
    if op in ("read_ours", "read_layer"):
        onemap.db.fetch_layer(url, table="dltb", bbox=tiny)
    elif op == "read_gpd":
        gpd.read_postgis(f"SELECT * FROM dltb WHERE geom && ST_MakeEnvelope({', '.join(map(str, tiny))}, 4527)",
                         engine, geom_col="geom")
    elif op == "write_ours":
        onemap.db.write_results(url, onemap.db.SurveyKey("warm", "0"), verdicts=payload.head(10),
                                schema="bench_warm")
    elif op == "write_gpd":
        payload.head(10).to_postgis("warm", engine, schema="bench_gpd", if_exists="append")
    base = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    if op == "read_ours":
        from onemap.db import fetch_layer

        gdf, _ = fetch_layer(url, table="dltb", bbox=box)
    elif op == "read_layer":
        from onemap.ingest.vector import read_layer

        gdf = read_layer(url, "landuse", table="dltb", bbox=box)
    elif op == "read_gpd":
        gdf = gpd.read_postgis(f"SELECT * FROM dltb WHERE geom && ST_MakeEnvelope({', '.join(map(str, box))}, 4527)",
                               engine, geom_col="geom")
    elif op == "write_ours":
        from onemap.db import SurveyKey, write_results

        write_results(url, SurveyKey("bench", "330102", "2024-09-01", "2025-09-01"), verdicts=payload,
                      schema="bench_ours")
        gdf = payload
    elif op == "write_gpd":
        payload.to_postgis("verdicts", engine, schema="bench_gpd", if_exists="append")
        gdf = payload
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    ids = sorted(int(i) for i in gdf["bsm"]) if op.startswith("read") else []
    return {"seconds": seconds, "rows": len(gdf), "base_mb": base / 2**20, "peak_mb": peak / 2**20,
            "ids_hash": hash(tuple(ids))}


def run_child(op: str, url: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", op, "--url", url, "--rows", str(args.rows),
           "--write-rows", str(args.write_rows), "--county-share", str(args.county_share)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{op} failed: {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def versions() -> str:
    import importlib.metadata as md

    import psycopg

    pkgs = ["geopandas", "shapely", "pandas", "psycopg", "sqlalchemy", "geoalchemy2"]
    return ", ".join(f"{p} {md.version(p)}" for p in pkgs) + f", libpq {psycopg.pq.version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--write-rows", type=int, default=100_000)
    ap.add_argument("--county-share", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="100 000 rows, 10 000 verdicts, 1 repeat")
    ap.add_argument("--child")
    ap.add_argument("--url")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.url, args)))
        return
    if args.quick:
        args.rows, args.write_rows, args.repeats = 100_000, 10_000, 1
    from tests.db._cluster import Cluster

    cluster = Cluster()
    os.environ["PGPASSFILE"] = str(cluster.pgpass)
    try:
        cluster.start()
        t0 = time.perf_counter()
        make_landuse(cluster.url, args.rows)
        server = cluster.psql("SELECT version()").split(",")[0]
        postgis = cluster.psql("SELECT postgis_lib_version()").strip()
        print(f"{args.rows:,} polygons generated on the server in {time.perf_counter() - t0:.1f} s; "
              f"{server}, PostGIS {postgis}; {versions()}; Python {platform.python_version()}, "
              f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
        results: dict[str, list[dict]] = {}
        ops = ["read_ours", "read_layer", "read_gpd", "write_ours", "write_gpd"]
        for _ in range(args.repeats):
            for op in ops:
                if op.startswith("write"):
                    cluster.psql("DROP SCHEMA IF EXISTS bench_ours CASCADE; DROP SCHEMA IF EXISTS bench_gpd CASCADE; "
                                 "DROP SCHEMA IF EXISTS bench_warm CASCADE; CREATE SCHEMA bench_gpd AUTHORIZATION onemap")
                results.setdefault(op, []).append(run_child(op, cluster.url, args))
        reads = {op: results[op][0]["ids_hash"] for op in ("read_ours", "read_layer", "read_gpd")}
        assert len(set(reads.values())) == 1, f"the reads returned different features: {reads}"
        print(f"\n| workload | tool | rows | time (s) | peak RSS (MB) | RSS before (MB) | ratio |\n|---|---|---|---|---|---|---|")
        med = {op: statistics.median(r["seconds"] for r in results[op]) for op in ops}
        for op, tool, peer in [("read_ours", "onemap.db.fetch_layer", "read_gpd"),
                               ("read_layer", "onemap.read_layer (checks + columns)", "read_gpd"),
                               ("read_gpd", "geopandas.read_postgis", None),
                               ("write_ours", "onemap.db.write_results", "write_gpd"),
                               ("write_gpd", "GeoDataFrame.to_postgis", None)]:
            r = results[op][-1]
            ratio = f"{med[peer] / med[op]:.1f}×" if peer else ""
            work = "read county box" if op.startswith("read") else "write verdicts"
            print(f"| {work} | {tool} | {r['rows']:,} | {med[op]:.2f} | {max(x['peak_mb'] for x in results[op]):.0f} "
                  f"| {r['base_mb']:.0f} | {ratio} |")
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
