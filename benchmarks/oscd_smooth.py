"""Held-out folds: the pixel probability smoothed before the candidates are labelled.

OSCD leave one city out by default; ``--only sztaki|levir|landsat`` the folds of
``eval_trained.py`` (pixel figures only). (The rank features measured with it, ``--ranks``,
were removed: see commit 0f2a739 and benchmarks/README.md.)

A development tool (issue 14): each fold's pixel model is trained once (as
``oscd_variants.py``); for each smoothing of the probability (none, 3x3 mean, ...) the
training cities' out-of-fold probability is smoothed, the pixel threshold chosen on it by pixel
F1 (as ``train_change_model`` does), the patch stage trained on its candidates, and the held-out
city's probability smoothed the same way before its candidates are labelled. Nothing is chosen
on the held-out city. "choice" picks, per fold, none or the 3x3 mean by the training cities'
inner pixel F1 after the patch stage ("choice-obj": by their inner object F1).

Usage::

    python benchmarks/oscd_smooth.py ../shared/data [--cities aguasclaras,...] [--seed 0]
    python benchmarks/oscd_smooth.py ../shared/data --only levir --max-folds 4
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import eval_trained as E  # noqa: E402
import oscd_variants as V  # noqa: E402

from onemap.change import _patch_training as PT  # noqa: E402
from onemap.change import train as T  # noqa: E402
from onemap.change.model import ChangeModel  # noqa: E402
from tests.change import real_data as R  # noqa: E402


def _weighted(prob: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Weighted mean of the finite neighbours (NaN stays NaN; the frame's edge: no padding)."""
    ok = np.isfinite(prob)
    v = np.where(ok, prob, 0).astype(np.float64)
    s = ndimage.correlate(v, kernel, mode="constant", cval=0.0)
    w = ndimage.correlate(ok.astype(np.float64), kernel, mode="constant", cval=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (s / w).astype(np.float32)
    out[~ok] = np.nan
    return out


SMOOTH = {
    "none": None,
    "mean3": np.ones((3, 3)),
    "binom3": np.outer([1, 2, 1], [1, 2, 1]).astype(float),
}


def smooth(prob: np.ndarray, name: str) -> np.ndarray:
    k = SMOOTH[name]
    return prob if k is None else _weighted(prob, k)


def pixel_threshold(oof, labels) -> tuple[float, float]:
    counts = np.zeros((len(T.THRESHOLDS), 3))
    for ch, lab in zip(oof, labels, strict=True):
        known = lab >= 0
        pr, t = ch[0][known], lab[known] == 1
        for i, thr in enumerate(T.THRESHOLDS):
            pred = pr >= thr
            counts[i] += [(pred & t).sum(), (pred & ~t).sum(), (~pred & t).sum()]
    f1s = [T._f1(*c)[2] for c in counts]
    best = int(np.argmax(f1s))
    return float(T.THRESHOLDS[best]), float(f1s[best])


def smoothed_tiles(tiles, name: str):
    from onemap.change.predict import PixelTiles

    if SMOOTH[name] is None:
        return tiles
    out = PixelTiles(tiles.frame, tiles.tile_size, None)
    full = np.empty(tiles.frame.shape, np.float32)
    for t in tiles.tiles:
        full[t.window] = tiles.prob(t)
    full = smooth(full, name)
    for t in tiles.tiles:
        prob, idx, vals = tiles._mem[t.index]
        out._mem[t.index] = (full[t.window].astype(np.float16), idx, vals)
    return out


def main() -> None:
    ap = E.fold_parser(__doc__)
    args = ap.parse_args()
    from onemap.change.features import FeaturePlan
    from onemap.change.predict import PixelTiles, pixel_stage

    sets = E.folds(args.data, {args.only})
    fold_list = [(tr, te) for v in sets.values() for tr, tes in v for te in tes][: args.max_folds]
    box = V._capture()
    names = list(SMOOTH) + ["choice", "choice-obj"]
    tot = {n: np.zeros(4, np.int64) for n in names}
    obj = {n: np.zeros(4, np.int64) for n in names}
    for train, test in fold_list:
        if args.only == "oscd" and not any(c in test.name.lower() for c in args.cities.split(",")):
            continue
        t0 = time.perf_counter()
        model = T.train_change_model([E.labelled(p) for p in train], seed=args.seed,
                                     num_threads=1, smooth="none")  # raw OOF captured
        t_train = time.perf_counter() - t0
        pairs, plans, labels, oof, header, seed, nt, folds, _fixed = box["args"][0][:9]
        plan = FeaturePlan(test.before, test.after)
        tiles = PixelTiles(plan.frame, 1024, None)
        # threshold 0: the patch channels kept at every pixel, whatever a variant's threshold
        pixel_stage(model, plan, tiles, prescreen=0.0, threshold=0.0)
        res = {}
        for name in SMOOTH:
            oof_s = [np.concatenate([smooth(ch[0], name)[None], ch[1:]]) for ch in oof]
            h = copy.deepcopy(header)
            thr, f1 = pixel_threshold(oof_s, labels)
            h["threshold"] = thr
            h["validation"]["pixel_f1"] = round(f1, 4)
            text = PT._train_patch_stage(pairs, plans, labels, oof_s, h, seed, nt, folds, None,
                                         "pixel")
            m = ChangeModel(h, model.pixel_model, text)
            patches = V.held_out(m, 0.0, test, smoothed_tiles(tiles, name), plan)
            c = R.confusion(R.predicted_mask(patches, test.frame), test)
            o = np.array(E.objects(test, patches) if args.only == "oscd" else (0, 0, 0, 0))
            v = h["validation"]
            res[name] = (c, o, v["pixel_f1_after_patches"], v["objects"]["object_f1"])
            print(f"  {test.name:>12} {name:>7} thr {m.threshold:.2f}/{m.patch_threshold:.1f} "
                  f"inner pf1 {f1:.4f} after patches {v['pixel_f1_after_patches']:.4f} "
                  f"lp {v['objects']['lead_precision']:.3f} sr {v['objects']['site_recall']:.3f}"
                  f" of1 {v['objects']['object_f1']:.3f} | held-out F1 {R.prf(c)[2]:.3f} "
                  f"objects {tuple(o)}", flush=True)
        pick = max(("none", "mean3"), key=lambda n: (round(res[n][2], 6), n == "none"))
        pick_o = max(("none", "mean3"), key=lambda n: (round(res[n][3], 6), n == "none"))
        res["choice"], res["choice-obj"] = res[pick], res[pick_o]
        print(f"  choice: {pick}, choice-obj: {pick_o}", flush=True)
        for n in names:
            tot[n] += res[n][0]
            obj[n] += res[n][1]
        print(f"{test.name}: train {t_train:.0f} s", flush=True)
        for n in names:
            V.print_pooled(n, tot[n], obj[n])


if __name__ == "__main__":
    main()
