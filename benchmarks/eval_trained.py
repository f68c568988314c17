"""Held-out accuracy of the trained change detector on the real samples in ``../shared/data``.

Every figure is on data the model did not see: OSCD leave-one-city-out (6 cities), SZTAKI Szada
leave-one-pair-out (7 pairs), LEVIR-CD leave-one-crop-out (11 labelled crops), Landsat Taizhou
split into a west and an east half (train on one, test on the other, both ways). Models are
trained with :func:`onemap.change.train_change_model` at its fixed defaults (seed 0, 20 000
pixels per class, 3 folds of inner validation -- by pair, or by spatial block for a single
pair -- choosing the pixel and patch thresholds, LightGBM with 1 thread): nothing is tuned on
the test folds. Pixel precision,
recall and F1 of the change class are pooled over the held-out pairs (the kept patches are
rasterised as in ``benchmarks/eval_change.py``), next to the default unsupervised detector
(``detect_changes(before, after)``) and the naive baseline (per-band standardised CVA magnitude,
Otsu, 3x3 opening) on the same pixels.

Object level on OSCD (the campaign's view): in each held-out city the true change sites are the
8-connected components of the truth; a seeded half of them (``numpy`` generator seeded 0) are
given as approval polygons, the land use is cultivated (``0101``) everywhere, and
:func:`onemap.flag_unapproved` judges the patches. Found = share of the other (unapproved) sites
that a flagged lead (verdict unapproved or partly approved) touches; real = share of flagged
leads with >= 30 % of their area on a true site.

With ``--s2-clouds`` the OSCD scenes (Sentinel-2 L1C, 10 000 digital numbers per unit
reflectance) are given the cloud mask a user of such scenes would pass,
``mask=MaskPolicy(reflectance_scale=10000)``, in the trained and the default detector alike.

Usage::

    python benchmarks/eval_trained.py ../shared/data [--only oscd,sztaki] [--s2-clouds] [--write]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from onemap import detect_changes
from onemap.change import MaskPolicy
from onemap.change.train import LabelledPair, train_change_model
from tests.change import real_data as R

BEGIN, END = "<!-- trained-accuracy:begin -->", "<!-- trained-accuracy:end -->"


def fold_parser(doc: str) -> argparse.ArgumentParser:
    """The arguments the held-out development scripts share (``oscd_smooth.py``,
    ``oscd_context.py``, ``oscd_calibrate.py``): data folder, OSCD cities, seed, which folds."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("data", type=Path, nargs="?", default=REPO.parent / "shared" / "data")
    ap.add_argument("--cities", default=",".join(R.OSCD_CITIES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="oscd", choices=("oscd", "sztaki", "levir", "landsat"))
    ap.add_argument("--max-folds", type=int, default=None)
    return ap


def naive_mask(pair: R.Pair) -> np.ndarray:
    """Per-band standardised CVA magnitude, Otsu threshold, 3x3 opening (the issue's baseline)."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    a = pair.before.values.astype(np.float64)
    b = pair.after.values.astype(np.float64)
    z = lambda x: (
        (x - x.mean(axis=(1, 2), keepdims=True)) / (x.std(axis=(1, 2), keepdims=True) + 1e-12)
    )
    mag = np.sqrt(((z(b) - z(a)) ** 2).sum(0))
    return ndimage.binary_opening(mag > threshold_otsu(mag), np.ones((3, 3), bool))


def half(pair: R.Pair, west: bool) -> R.Pair:
    w = pair.truth.shape[1] // 2
    sl = slice(0, w) if west else slice(w, None)
    return R.Pair(
        pair.name + (" west" if west else " east"),
        pair.before.isel(x=sl),
        pair.after.isel(x=sl),
        pair.truth[:, sl],
        pair.valid[:, sl],
    )


def labelled(pair: R.Pair) -> LabelledPair:
    ignore = None if pair.valid.all() else ~pair.valid
    return LabelledPair(pair.before, pair.after, pair.truth, ignore, name=pair.name)


def folds(root: Path, only: set[str]) -> dict[str, list[tuple[list[R.Pair], list[R.Pair]]]]:
    out = {}
    if "oscd" in only:
        cities = [R.oscd(root, c) for c in R.OSCD_CITIES]
        out["OSCD (S2, 4 bands), leave one city out"] = [
            ([p for p in cities if p is not t], [t]) for t in cities
        ]
    if "sztaki" in only:
        sz = [R.sztaki(root, i) for i in R.SZTAKI_PAIRS]
        out["SZTAKI Szada (RGB 1.5 m), leave one pair out"] = [
            ([p for p in sz if p is not t], [t]) for t in sz
        ]
    if "levir" in only:
        lv = [R.levir(root, n) for n in R.levir_names(root)]
        out["LEVIR-CD (RGB 0.5 m), leave one crop out"] = [
            ([p for p in lv if p is not t], [t]) for t in lv
        ]
    if "landsat" in only:
        tz = R.taizhou(root)
        west, east = half(tz, True), half(tz, False)
        out["Taizhou (Landsat, 6 bands), west/east halves"] = [([west], [east]), ([east], [west])]
    return out


def objects(pair: R.Pair, patches, seed: int = 0) -> tuple[int, int, int, int]:
    """(unapproved sites, found, flagged leads, real leads) on one OSCD city."""
    import geopandas as gpd
    import shapely
    from rasterio import features
    from scipy import ndimage

    from onemap import flag_unapproved

    frame = pair.frame
    lab, n = ndimage.label(pair.truth, structure=np.ones((3, 3), bool))
    geoms = {
        int(v): shapely.geometry.shape(g)
        for g, v in features.shapes(lab.astype(np.int32), mask=lab > 0, transform=frame.transform)
    }
    sites = gpd.GeoDataFrame(
        {"site": list(range(1, n + 1))},
        geometry=[shapely.union_all([geoms[i]]) if i in geoms else None for i in range(1, n + 1)],
        crs=frame.crs,
    )
    approved = np.random.default_rng(seed).permutation(n)[: n // 2] + 1
    utm = sites.estimate_utm_crs()
    sites = sites.to_crs(utm)
    appr = sites[sites.site.isin(approved)].rename(columns={"site": "approval_id"})
    unappr = sites[~sites.site.isin(approved)]
    landuse = gpd.GeoDataFrame(
        {"landuse_code": ["0101"]}, geometry=[shapely.box(*frame.bounds)], crs=frame.crs
    ).to_crs(utm)
    if len(patches) == 0:
        return len(unappr), 0, 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = flag_unapproved(patches.to_crs(utm), appr, landuse)
    leads = v[v.verdict.isin(["unapproved", "partly_approved"])]
    all_sites = shapely.union_all(sites.geometry.values)
    real = sum(
        1 for g in leads.geometry if g.area > 0 and g.intersection(all_sites).area >= 0.3 * g.area
    )
    found = sum(1 for g in unappr.geometry if leads.intersects(g).any())
    return len(unappr), found, len(leads), real


def evaluate(root: Path, only: set[str], seed: int = 0,
             s2_clouds: bool = False) -> tuple[list[dict], dict]:
    """Every held-out fold of the datasets *only*; *seed*: the models' training seed (the
    approved half of the OSCD sites stays seeded 0); *s2_clouds*: mask the OSCD scenes' clouds."""
    rows, obj = [], np.zeros(4, np.int64)
    for dataset, splits in folds(root, only).items():
        tot = {m: np.zeros(4, np.int64) for m in ("trained", "default", "naive")}
        t_train = t_pred = 0.0
        px = 0
        oscd = dataset.startswith("OSCD")
        mask = MaskPolicy(reflectance_scale=10000) if oscd and s2_clouds else None
        if mask is not None:
            dataset += ", S2 cloud mask"
        for train, test in splits:
            t0 = time.perf_counter()
            model = train_change_model([labelled(p) for p in train], seed=seed, num_threads=1)
            t_train += time.perf_counter() - t0
            for pair in test:
                t0 = time.perf_counter()
                patches = detect_changes(pair.before, pair.after, model=model, mask=mask)
                t_pred += time.perf_counter() - t0
                px += pair.truth.size
                tot["trained"] += R.confusion(R.predicted_mask(patches, pair.frame), pair)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    default = detect_changes(pair.before, pair.after, mask=mask)
                tot["default"] += R.confusion(R.predicted_mask(default, pair.frame), pair)
                tot["naive"] += R.confusion(naive_mask(pair), pair)
                if oscd:
                    o = objects(pair, patches)
                    obj += o
                    print(pair.name, "objects (unapproved, found, leads, real):", o, flush=True)
            print(
                dataset,
                train[0].name if len(test) == 1 else "",
                test[0].name,
                {m: round(R.prf(c)[2], 3) for m, c in tot.items()},
                flush=True,
            )
        row = {
            "dataset": dataset,
            "folds": len(splits),
            "train_s": t_train / len(splits),
            "predict_s_per_mpx": t_pred / (px / 1e6),
        }
        for m, c in tot.items():
            row[m] = R.prf(c)
        rows.append(row)
    return rows, {
        "sites": int(obj[0]),
        "found": int(obj[1]),
        "leads": int(obj[2]),
        "real": int(obj[3]),
    }


def table(rows: list[dict], obj: dict) -> str:
    lines = [
        (
            "| dataset | folds | trained P | trained R | **trained F1** | default F1 | naive F1 | "
            "train s / fold | predict s / Mpx |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        p, rc, f = r["trained"]
        lines.append(
            f"| {r['dataset']} | {r['folds']} | {p:.3f} | {rc:.3f} | **{f:.3f}** | "
            f"{r['default'][2]:.3f} | {r['naive'][2]:.3f} | {r['train_s']:.1f} | "
            f"{r['predict_s_per_mpx']:.1f} |"
        )
    if obj["sites"]:
        lines += [
            "",
            (
                "OSCD objects (leave one city out, a seeded half of the true sites approved): "
                f"{obj['found']} of {obj['sites']} unapproved sites found "
                f"({100 * obj['found'] / max(obj['sites'], 1):.0f} %), {obj['real']} of "
                f"{obj['leads']} flagged leads real ({100 * obj['real'] / max(obj['leads'], 1):.0f} %)."
            ),
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path, nargs="?", default=REPO.parent / "shared" / "data")
    ap.add_argument("--only", default="oscd,sztaki,levir,landsat")
    ap.add_argument("--seed", type=int, default=0, help="the models' training seed (0: the table's)")
    ap.add_argument("--s2-clouds", action="store_true",
                    help="mask the clouds of the OSCD scenes (Sentinel-2 L1C, scale 10 000)")
    ap.add_argument("--write", action="store_true", help="put the table into benchmarks/README.md")
    args = ap.parse_args()
    if args.write and args.s2_clouds:  # the README's table is the default path, unmasked
        ap.error("--write keeps the default path's table: run --s2-clouds without --write")
    t0 = time.perf_counter()
    rows, obj = evaluate(args.data, set(args.only.split(",")), args.seed, args.s2_clouds)
    import lightgbm
    import numba

    import onemap

    text = table(rows, obj) + (
        f"\n\nonemap {onemap.__version__}, LightGBM {lightgbm.__version__}, "
        f"numba {numba.__version__}, "
        f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()} "
        f"({platform.processor() or 'cpu'}), 1 LightGBM thread, load average "
        f"{os.getloadavg()[0]:.0f} at the end; {time.perf_counter() - t0:.0f} s in all."
    )
    print(text)
    if args.write:
        path = REPO / "benchmarks" / "README.md"
        content = path.read_text(encoding="utf-8")
        head, rest = content.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        path.write_text(head + BEGIN + "\n" + text + "\n" + END + tail, encoding="utf-8")


if __name__ == "__main__":
    main()
