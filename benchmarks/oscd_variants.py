"""OSCD leave-one-city-out: the trained detector and variants of its patch stage, side by side.

A development tool for ``eval_trained.py``'s OSCD figures: each fold's pixel model is trained
once (``train_change_model`` with ``--samples`` / ``--trees``); the patch-stage variants are then
trained on the same out-of-fold candidates and applied to the same held-out pixel stage, so
their differences are the patch stage's alone. Every variant chooses its settings on the
training cities' out-of-fold validation only. Prints, per fold and pooled: inner (OOF) pixel F1,
held-out pixel F1 and the object figures of ``eval_trained.objects``, plus the held-out leads'
sizes (real / false) for the default variant.

Usage::

    python benchmarks/oscd_variants.py ../shared/data [--samples 20000] [--trees 120]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import eval_trained as E  # noqa: E402

from onemap.change import _patch_training as PT  # noqa: E402
from onemap.change import train as T  # noqa: E402
from onemap.change.model import ChangeModel  # noqa: E402
from tests.change import real_data as R  # noqa: E402

SIZE_BINS = (1, 2, 3, 5, 9, 17, 65, 10**9)


def print_pooled(name: str, pixels, objects) -> None:
    """One line: pooled pixel P / R / F1 and the object figures (sites found, leads real)."""
    p, r, f = R.prf(pixels)
    u, fd, ld, rl = objects
    print(f"  POOLED {name:>12}: P {p:.3f} R {r:.3f} F1 {f:.3f} | found {fd}/{u} "
          f"({100 * fd / max(u, 1):.0f} %) real {rl}/{ld} ({100 * rl / max(ld, 1):.0f} %)",
          flush=True)


def _capture():
    box = {}
    orig = T._train_patch_stage

    def wrapped(*args, **kw):
        box["args"] = (args, kw)
        return orig(*args, **kw)

    T._train_patch_stage = wrapped
    return box


def variants(box: dict, pixel_text: str) -> dict[str, tuple[ChangeModel, float]]:
    """name -> (model, min_area_m2) for every patch-stage variant, all chosen out of fold."""
    args, kw = box["args"]
    pairs, plans, labels, oof, header, seed, nt, folds, fixed = args[:9]
    out = {}
    for name in VARIANTS:
        h = copy.deepcopy(header)
        text, min_area = VARIANTS[name](pairs, plans, labels, oof, h, seed, nt, folds)
        out[name] = (ChangeModel(h, pixel_text, text), min_area)
    return out


def _default(pairs, plans, labels, oof, h, seed, nt, folds):
    return PT._train_patch_stage(pairs, plans, labels, oof, h, seed, nt, folds, None, "pixel"), 0.0


def _patch_objf1(pairs, plans, labels, oof, h, seed, nt, folds):
    """Pixel threshold by pixel F1 (fixed), only the patch threshold by object F1."""
    keep = PT.OBJECT_THRESHOLDS
    PT.OBJECT_THRESHOLDS = (h["threshold"],)
    try:
        text = PT._train_patch_stage(
            pairs, plans, labels, oof, h, seed, nt, folds, None, "object_f1"
        )
    finally:
        PT.OBJECT_THRESHOLDS = keep
    return text, 0.0


MIN_PIXELS = (0, 2, 3, 4, 6, 9, 16, 25, 36, 64)


def _min_area(pairs, plans, labels, oof, h, seed, nt, folds, floor=None):
    """Default patch stage, then a minimum candidate size (pixels) by OOF object F1 (or, with
    *floor*, the best site recall among sizes with lead precision >= floor)."""
    from onemap.change import _objects as O
    from onemap.change._scene import pixel_area_m2

    text = PT._train_patch_stage(pairs, plans, labels, oof, h, seed, nt, folds, None, "pixel")
    c = PT._patch_candidates(pairs, plans, labels, oof, h, h["threshold"], seed, folds)
    pred = PT._patch_oof(c, h, seed, nt, folds)
    if pred is None:
        pred = c["T"][:, 1 + 2]
    px = 10 ** c["T"][:, 0] / pixel_area_m2(plans[0].frame)
    keep = pred >= h["patch_threshold"]
    cuts = np.cumsum(c["sizes"])[:-1]
    best, best_f = 0, (-1.0,)
    for m in MIN_PIXELS:
        k = keep & (px >= m - 1e-6)
        counts = sum((O.object_counts(o, kk) for o, kk in zip(c["objs"], np.split(k, cuts),
                                                               strict=True)), np.zeros(7))
        sc = O.scores(counts)
        if floor is None:
            f = (round(sc["object_f1"], 9),)
        else:
            ok = sc["lead_precision"] >= floor
            f = (ok, round(sc["site_recall"] if ok else sc["lead_precision"], 9))
        if floor is None:
            print(f"    min {m} px: lp {sc['lead_precision']:.3f} sr {sc['site_recall']:.3f} "
                  f"of1 {sc['object_f1']:.3f} pf1 {sc['pixel_f1']:.3f}", flush=True)
        if f > best_f:
            best, best_f = m, f
    return text, best * pixel_area_m2(plans[0].frame)


def _min_floor(*args):
    return _min_area(*args, floor=0.3)


VARIANTS = {"default": _default, "min_area": _min_area, "min_floor": _min_floor}


def held_out(model: ChangeModel, min_area: float, pair: R.Pair, tiles, plan):
    from onemap.change.patches import COLUMNS
    from onemap.change._model_patches import model_patches

    out, _ = model_patches(model, plan, tiles, threshold=model.threshold,
                           patch_threshold=model.patch_threshold, min_area=min_area)
    out["confidence"] = out["probability"].to_numpy()
    return out[COLUMNS[:-1] + ["probability", "geometry"]]


def merged(patches, frame, gap: int):
    """Patches whose pixels lie within *gap* pixels of each other (8-connected after a
    *gap*-pixel dilation) dissolved into one lead each."""
    import geopandas as gpd
    from rasterio import features
    from scipy import ndimage

    if len(patches) < 2 or gap == 0:
        return patches
    idx = features.rasterize(((g, k + 1) for k, g in enumerate(patches.geometry)),
                             out_shape=frame.shape, transform=frame.transform, fill=0,
                             dtype="int32")
    st = np.ones((3, 3), bool)
    cl, _ = ndimage.label(ndimage.binary_dilation(idx > 0, st, iterations=gap), st)
    group = np.zeros(len(patches), np.int64)
    sel = idx > 0
    group[idx[sel] - 1] = cl[sel]
    lost = group == 0  # too small to rasterise: its own lead
    group[lost] = cl.max() + 1 + np.arange(lost.sum())
    g = gpd.GeoDataFrame({"group": group}, geometry=patches.geometry.values, crs=patches.crs)
    return g.dissolve(by="group").reset_index()


def lead_sizes(pair: R.Pair, patches) -> np.ndarray:
    """(2, bins) counts of flagged leads by pixel size: row 0 real, row 1 false (all leads,
    approvals ignored)."""
    import shapely
    from rasterio import features

    geoms = [shapely.geometry.shape(g) for g, v in features.shapes(
        pair.truth.astype(np.uint8), mask=pair.truth, transform=pair.frame.transform)]
    truth_geo = shapely.union_all(geoms) if geoms else shapely.Polygon()
    out = np.zeros((2, len(SIZE_BINS) - 1), np.int64)
    for g, px in zip(patches.geometry, patches.pixels, strict=True):
        real = g.area > 0 and g.intersection(truth_geo).area >= 0.3 * g.area
        b = int(np.searchsorted(SIZE_BINS, px, side="right")) - 1
        out[0 if real else 1, b] += 1
    return out


def fragments(mask: np.ndarray) -> tuple[int, ...]:
    from scipy import ndimage

    st = np.ones((3, 3), bool)
    return tuple(
        ndimage.label(ndimage.binary_dilation(mask, st, iterations=k) if k else mask, st)[1]
        for k in (0, 1, 2)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path, nargs="?", default=REPO.parent / "shared" / "data")
    ap.add_argument("--samples", type=int, default=20_000)
    ap.add_argument("--trees", type=int, default=120)
    ap.add_argument("--params", default="", help="extra pixel params k=v,k=v")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--cities", default=",".join(R.OSCD_CITIES))
    args = ap.parse_args()
    from onemap.change.features import FeaturePlan
    from onemap.change.predict import PixelTiles, pixel_stage

    params = {"num_iterations": args.trees}
    for kv in filter(None, args.params.split(",")):
        k, v = kv.split("=")
        params[k] = v if v in ("true", "false") else float(v) if "." in v else int(v)
    cities = [R.oscd(args.data, c) for c in R.OSCD_CITIES]
    box = _capture()
    tot: dict[str, np.ndarray] = {}
    obj: dict[str, np.ndarray] = {}
    sizes = np.zeros((2, len(SIZE_BINS) - 1), np.int64)
    inner = []
    for test in cities:
        if not any(c in test.name.lower() for c in args.cities.split(",")):
            continue
        train = [p for p in cities if p is not test]
        t0 = time.perf_counter()
        model = T.train_change_model([E.labelled(p) for p in train], seed=0, num_threads=1,
                                     samples_per_class=args.samples, params=params,
                                     folds=args.folds)
        t_train = time.perf_counter() - t0
        inner.append(model.header["validation"]["pixel_f1"])
        print("  inner F1 by threshold", model.header["validation"]["f1_by_threshold"], flush=True)
        plan = FeaturePlan(test.before, test.after)
        tiles = PixelTiles(plan.frame, 1024, None)
        pixel_stage(model, plan, tiles, prescreen=0.0)
        for name, (m, min_area) in variants(box, model.pixel_model).items():
            patches = held_out(m, min_area, test, tiles, plan)
            tot.setdefault(name, np.zeros(4, np.int64))
            tot[name] += R.confusion(R.predicted_mask(patches, test.frame), test)
            o = np.array(E.objects(test, patches))
            obj.setdefault(name, np.zeros(4, np.int64))
            obj[name] += o
            v = m.header["validation"]["objects"]
            print(f"  {test.name:>12} {name:>12} thr {m.threshold:.2f}/{m.patch_threshold:.1f} "
                  f"min {min_area:g} inner lp {v['lead_precision']:.3f} sr {v['site_recall']:.3f}"
                  f" | held-out F1 {R.prf(tot[name])[2]:.3f} objects {tuple(o)}", flush=True)
            for gap in (1, 2):
                mo = np.array(E.objects(test, merged(patches, test.frame, gap)))
                key = f"{name}+merge{gap}"
                obj.setdefault(key, np.zeros(4, np.int64))
                obj[key] += mo
                tot.setdefault(key, tot[name])  # same pixels
            if name == "default":
                sizes += lead_sizes(test, patches)
                print("  fragments: components kept / after 1-px / 2-px dilation",
                      fragments(R.predicted_mask(patches, test.frame)), flush=True)
        print(f"{test.name}: train {t_train:.0f} s, inner pixel F1 {inner[-1]:.4f}", flush=True)
        for name in tot:
            print_pooled(name, tot[name], obj[name])
    print("inner pixel F1 per fold", inner, "mean", float(np.mean(inner)))
    print("default leads by pixel size", SIZE_BINS)
    print(" real ", sizes[0].tolist())
    print(" false", sizes[1].tolist())


if __name__ == "__main__":
    main()
