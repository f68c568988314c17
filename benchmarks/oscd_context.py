"""Held-out folds: auto-context (stacked) pixel classification, against the pixel model alone.

Auto-context (Tu & Bai 2010): a second pixel model learns from the first model's features plus
statistics of the first model's probability map around the pixel (:func:`context`: the pixel's
own probability, the mean of the finite probabilities in the (2r+1)² square for r = 1, 2, 4, 8
and the maximum in the 5 x 5 square -- a fixed, general set, not chosen on any data). It is
trained on the first model's **out-of-fold** probability of the training pairs (the one
``train_change_model`` computes for its thresholds: each pair scored by the fold model that did
not see it), never on in-fold probabilities, which would be over-confident.

Per outer fold (OSCD leave one city out by default; ``--only sztaki|levir|landsat``: the folds
of ``eval_trained.py``):

1. model 1 = ``train_change_model(..., smooth="none")`` on the training pairs, its out-of-fold
   probabilities and patch channels captured (as ``oscd_smooth.py``);
2. model 2's training set: balanced samples of the training pairs (``samples_per_class`` per
   class, seeded), features = model 1's features + :func:`context` of model 1's OOF
   probability; model 2 = the same LightGBM parameters, one model per inner fold (the same
   folds as model 1: by pair, or by block for a single pair) and a final one on all samples;
3. model 2's out-of-fold probability of the training pairs: each pair from the model-2 fold
   model that did not see it. Approximation (documented, cheaper than nesting): the context
   inputs of the other folds' pairs came from model-1 fold models that saw this pair, so
   model 2's inner OOF is slightly optimistic; only the thresholds use it, the held-out city
   is never touched;
4. thresholds for both models exactly as ``train_change_model``: the smoothing (none / 3 x 3
   mean) and the pixel threshold by pooled inner OOF pixel F1, the patch stage trained on the
   OOF candidates, its threshold by pixel F1;
5. held out: model 1 dense on the city (no pre-screen), context of its probability, model 2 on
   top; the candidates and the patch stage as in ``detect_with_model``.

Rows: ``m1`` model 1 alone, ``m2`` auto-context (``-none`` / ``-mean3``: the probability
smoothed or not; without suffix: the smoothing chosen on the inner OOF, as the default path);
``m1f`` / ``m2f``: the held-out probability of model 1 (and the context built from it) from the
mean of model 1's inner fold models instead of its final model -- the models whose
probabilities model 2 learned its context from (thresholds and patch stage as ``m1`` / ``m2``).
``--context none``: a control, model 2 on the same sample without context features (what the
redrawn sample alone does); ``--context resid``: model 2 boosted from model 1's logit
(``init_score``), learning a correction only; ``--context only``: model 2 on the context
features alone (a learned smoothing of p).

``+hyst``: hysteresis candidates -- components of ``p >= low`` that hold a pixel ``>= t`` (*t*
the chosen pixel threshold), *low* from the threshold grid below *t* by the pooled inner OOF
pixel F1 of the hysteresis mask (ties: the higher, i.e. none); the patch stage then learns on
those candidates.

Usage::

    python benchmarks/oscd_context.py ../shared/data [--seed 0]
    python benchmarks/oscd_context.py ../shared/data --only sztaki
"""

from __future__ import annotations

import copy
import os
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

from onemap.change import _patch_stage as P  # noqa: E402
from onemap.change import _patch_training as PT  # noqa: E402
from onemap.change import train as T  # noqa: E402
from onemap.change._learner import _folds, _lgb_train  # noqa: E402
from onemap.change.model import ChangeModel  # noqa: E402
from tests.change import real_data as R  # noqa: E402

MEAN_RADII = (1, 2, 4, 8)
MAX_RADIUS = 2
# m1 / m2: model 1 alone / auto-context, the held-out context from model 1's final model;
# m1f / m2f: the same from the mean of model 1's inner fold models
STAGES = ("m1", "m2", "m1f", "m2f")
CONTEXT = "full"  # --context none: a control without context features
CONTEXT_NAMES = ["ctx_p"] + [f"ctx_mean{r}" for r in MEAN_RADII] + [f"ctx_max{MAX_RADIUS}"]


def context(prob: np.ndarray) -> np.ndarray:
    """``(len(CONTEXT_NAMES), h, w)`` float32: the probability, the mean of its finite values in
    the (2r+1)² square (r in :data:`MEAN_RADII`; nothing outside the image) and its maximum in
    the (2 MAX_RADIUS + 1)² square. NaN where *prob* is NaN."""
    ok = np.isfinite(prob)
    v = np.where(ok, prob, 0).astype(np.float64)
    w = ok.astype(np.float64)
    out = [prob.astype(np.float32)]
    for r in MEAN_RADII:
        size = 2 * r + 1
        s = ndimage.uniform_filter(v, size, mode="constant", cval=0.0)
        n = ndimage.uniform_filter(w, size, mode="constant", cval=0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((s / np.maximum(n, 1e-12)).astype(np.float32))
    mx = ndimage.maximum_filter(np.where(ok, prob, -np.inf), 2 * MAX_RADIUS + 1,
                                mode="constant", cval=-np.inf)
    out.append(mx.astype(np.float32))
    res = np.stack(out)
    res[:, ~ok] = np.nan
    if CONTEXT == "none":  # control: model 2 without context (model 1 retrained on its sample)
        return res[:1] * np.nan
    return res


def dense(plan) -> np.ndarray:
    """Model 1's features of the whole pair, ``(n_features, h, w)``."""
    out = np.empty((len(plan.names),) + plan.frame.shape, np.float32)
    for r0, r1, c0, c1 in plan.windows():
        out[:, r0:r1, c0:c1] = plan.window(r0, r1, c0, c1)
    return out


def predict_dense(booster, feats: np.ndarray, ctx: np.ndarray, sel: np.ndarray | None = None):
    """Model 2's probability where the context is finite (NaN elsewhere); *sel* a pixel subset."""
    h, w = feats.shape[1:]
    ok = np.isfinite(ctx[0]) if CONTEXT != "none" else np.isfinite(feats[0])
    if sel is not None:
        ok &= sel
    out = np.full((h, w), np.nan, np.float32)
    if ok.any():
        X = (ctx[:, ok] if CONTEXT == "only" else np.concatenate([feats[:, ok], ctx[:, ok]])).T
        out[ok] = booster.predict(np.ascontiguousarray(X), num_threads=1)
    return out


def _capture_folds():
    """Capture model 1's inner fold models (the first argument of ``oof_channels``)."""
    box = {}
    orig = T.oof_channels

    def wrapped(models, *args, **kw):
        box["models"] = models
        return orig(models, *args, **kw)

    T.oof_channels = wrapped
    return box


def fold_mean(models, feats: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The mean probability of model 1's inner fold models (NaN where not *valid*)."""
    out = np.full(valid.shape, np.nan, np.float32)
    if valid.any():
        X = np.ascontiguousarray(feats[:, valid].T)
        out[valid] = np.mean([m.predict(X, num_threads=1) for m in models], axis=0)
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p.astype(np.float64), 1e-4, 1 - 1e-4)
    return np.log(q / (1 - q))


class Residual:
    """``--context resid``: model 2 boosted from model 1's logit (LightGBM ``init_score``), so
    its trees learn only a correction of model 1 from the features and the context; column
    *ip* of X is model 1's probability."""

    def __init__(self, X, y, params, seed, names, ip):
        import lightgbm as lgb

        self.ip = ip
        p = {**params, "seed": seed, "deterministic": True, "force_row_wise": True,
             "num_threads": 1, "verbosity": -1}
        ds = lgb.Dataset(X, label=y, init_score=_logit(X[:, ip]), feature_name=list(names),
                         params={"verbosity": -1})
        self.booster = lgb.train(p, ds)

    def predict(self, X, num_threads=1):
        z = self.booster.predict(X, raw_score=True, num_threads=num_threads) + _logit(X[:, self.ip])
        return 1 / (1 + np.exp(-z))


def fold_map(plan, k, seed, folds, by_pair):
    h, w = plan.frame.shape
    return _folds(plan.frame.shape, 0, h, 0, w, k, seed, folds, by_pair)


def train_model2(plans, labels, oof, feats, header, seed, folds, cap):
    """(fold boosters, final booster, OOF probability per pair) of the auto-context model."""
    by_pair = header["parameters"]["folds_by"] == "pair"
    npos = sum(int((lab == 1).sum()) for lab in labels)
    nneg = sum(int((lab == 0).sum()) for lab in labels)
    rate = {1: min(1.0, cap / npos), 0: min(1.0, cap / nneg)}
    ctxs = [context(ch[0]) for ch in oof]
    X, y, f = [], [], []
    for k, (lab, F, C) in enumerate(zip(labels, feats, ctxs, strict=True)):
        draw = np.random.default_rng([seed, k, 7919]).random(lab.shape)
        pick = ((lab == 1) & (draw < rate[1])) | ((lab == 0) & (draw < rate[0]))
        pick &= np.isfinite(oof[k][0]) & np.isfinite(F[header["features"].index("cva")])
        X.append((C[:, pick] if CONTEXT == "only" else np.concatenate([F[:, pick], C[:, pick]])).T)
        y.append(lab[pick])
        f.append(fold_map(plans[k], k, seed, folds, by_pair)[pick])
    X, y, f = np.concatenate(X), np.concatenate(y).astype(np.float32), np.concatenate(f)
    names = list(header["features"]) + (CONTEXT_NAMES if CONTEXT != "none" else ["ctx_none"])
    if CONTEXT == "only":  # a learned smoothing: model 2 sees the context of p only
        names = list(CONTEXT_NAMES)
    params = header["parameters"]["pixel"]
    if CONTEXT == "resid":
        ip = len(header["features"])
        models = [Residual(X[f != i], y[f != i], params, seed, names, ip) for i in range(folds)]
        final = Residual(X, y, params, seed, names, ip)
    else:
        models = [_lgb_train(X[f != i], y[f != i], params, seed, 1, names)
                  for i in range(folds)]
        final = _lgb_train(X, y, params, seed, 1, names)
    oof2 = []
    for k, (F, C) in enumerate(zip(feats, ctxs, strict=True)):
        fm = fold_map(plans[k], k, seed, folds, by_pair)
        p = np.full(fm.shape, np.nan, np.float32)
        for i in np.unique(fm):
            sel = fm == i
            q = predict_dense(models[i], F, C, sel)
            p[sel] = q[sel]
        oof2.append(p)
    return models, final, oof2


def pixel_threshold(probs, labels) -> tuple[float, float]:
    counts = T.threshold_counts(probs, labels)
    f1s = [T._f1(*c)[2] for c in counts]
    best = int(np.argmax(f1s))
    return float(T.THRESHOLDS[best]), float(f1s[best])


def hysteresis(prob: np.ndarray, low: float, high: float) -> np.ndarray:
    """*prob* with 0 on the pixels ``>= low`` whose component (8-connected) of ``>= low`` holds
    no pixel ``>= high``: its candidates at *low* are the hysteresis components."""
    p = np.nan_to_num(prob, nan=0.0)
    lab, n = ndimage.label(p >= low, structure=np.ones((3, 3), bool))
    if n == 0:
        return prob
    mx = ndimage.maximum(p, lab, index=np.arange(1, n + 1))
    keep = np.concatenate([[False], mx >= high])
    out = prob.copy()
    out[(lab > 0) & ~keep[lab]] = 0
    return out


def choose_low(probs, labels, high: float) -> tuple[float, float]:
    """The hysteresis low threshold (grid below *high*, and *high* = none) by pooled inner OOF
    pixel F1 of the hysteresis mask; ties to the higher."""
    best = (-1.0, 0.0)
    for low in [high] + [float(t) for t in T.THRESHOLDS[::-1] if t < high - 1e-9]:
        c = np.zeros(3)
        for pr, lab in zip(probs, labels, strict=True):
            m = np.nan_to_num(hysteresis(pr, low, high), nan=0.0) >= low
            known = lab >= 0
            t, pm = lab[known] == 1, m[known]
            c += [(pm & t).sum(), (pm & ~t).sum(), (~pm & t).sum()]
        f = round(T._f1(*c)[2], 6)
        if f > best[0]:
            best = (f, low)
    return best[1], best[0]


def tiles_with(tiles, full: np.ndarray):
    """A copy of *tiles* (every pixel's channels kept) with the probability *full*."""
    from onemap.change.predict import PixelTiles

    out = PixelTiles(tiles.frame, tiles.tile_size, None)
    for t in tiles.tiles:
        _, idx, vals = tiles._mem[t.index]
        out._mem[t.index] = (full[t.window].astype(np.float16), idx, vals)
    return out


def full_prob(tiles) -> np.ndarray:
    full = np.empty(tiles.frame.shape, np.float32)
    for t in tiles.tiles:
        full[t.window] = tiles.prob(t)
    return full


def main() -> None:
    ap = E.fold_parser(__doc__)
    ap.add_argument("--no-hyst", action="store_true")
    ap.add_argument("--context", default="full", choices=("full", "none", "resid", "only"))
    args = ap.parse_args()
    global CONTEXT
    CONTEXT = args.context
    from onemap.change.features import FeaturePlan
    from onemap.change.predict import PixelTiles, pixel_stage

    t_all = time.perf_counter()
    sets = E.folds(args.data, {args.only})
    fold_list = [(tr, te) for v in sets.values() for tr, tes in v for te in tes][: args.max_folds]
    box = V._capture()
    fbox = _capture_folds()
    names = [f"{s}{k}" for s in STAGES for k in ("-none", "-mean3", "")]
    if not args.no_hyst:
        names += ["m1+hyst", "m2+hyst"]
    tot = {n: np.zeros(4, np.int64) for n in names}
    obj = {n: np.zeros(4, np.int64) for n in names}
    for train, test in fold_list:
        if args.only == "oscd" and not any(c in test.name.lower() for c in args.cities.split(",")):
            continue
        t0 = time.perf_counter()
        model = T.train_change_model([E.labelled(p) for p in train], seed=args.seed,
                                     num_threads=1, smooth="none")  # raw OOF captured
        pairs, plans, labels, oof, header, seed, nt, folds, _fixed = box["args"][0][:9]
        t1 = time.perf_counter()
        feats = [dense(pl) for pl in plans]
        _, final2, oof2 = train_model2(plans, labels, oof, feats, header, seed, folds,
                                       header["parameters"]["samples_per_class"])
        t2 = time.perf_counter()
        # held out: model 1 dense (no pre-screen; threshold 0: channels kept everywhere)
        plan = FeaturePlan(test.before, test.after)
        tiles = PixelTiles(plan.frame, 1024, None)
        pixel_stage(model, plan, tiles, prescreen=0.0, threshold=0.0)
        p1 = full_prob(tiles)
        F = dense(plan)
        p2 = predict_dense(final2, F, context(p1))
        # the context from the mean of model 1's fold models, whose probabilities are what
        # model 2 learned its context from (each fold model saw as little of the scene)
        p1f = fold_mean(fbox["models"], F, np.isfinite(p1))
        p2f = predict_dense(final2, F, context(p1f))
        oofs = {"m1": [ch[0] for ch in oof], "m2": oof2, "m1f": [ch[0] for ch in oof],
                "m2f": oof2}
        held = {"m1": p1, "m2": p2, "m1f": p1f, "m2f": p2f}
        res, trained = {}, {}  # trained: (inner OOF, kind) -> (header, patch model)
        for stage in STAGES:
            inner = {}
            for kind in P.SMOOTHINGS:
                probs = [P.smooth(p, kind) for p in oofs[stage]]
                thr, f1 = pixel_threshold(probs, labels)
                inner[kind] = (thr, f1, probs)
            pick = max(inner, key=lambda k: (round(inner[k][1], 6), k == "none"))
            for kind in P.SMOOTHINGS + ("hyst",):
                if kind == "hyst" and (args.no_hyst or stage.endswith("f")):
                    continue
                base = pick if kind == "hyst" else kind
                thr, f1, probs = inner[base]
                held_p = P.smooth(held[stage], base)
                low, hf1 = thr, f1
                if kind == "hyst":
                    low, hf1 = choose_low(probs, labels, thr)
                    probs = [hysteresis(p, low, thr) for p in probs]
                    held_p = hysteresis(held_p, low, thr)
                oof_s = [np.concatenate([p[None], ch[1:]]) for p, ch in zip(probs, oof,
                                                                           strict=True)]
                key = (stage.rstrip("f"), kind)  # m1f / m2f: the same inner OOF as m1 / m2
                if key not in trained:
                    h = copy.deepcopy(header)
                    h["threshold"] = low
                    h["validation"]["pixel_f1"] = round(hf1, 4)
                    trained[key] = (h, PT._train_patch_stage(pairs, plans, labels, oof_s, h,
                                                             seed, nt, folds, None, "pixel"))
                h, text = trained[key]
                m = ChangeModel(h, model.pixel_model, text)
                patches = V.held_out(m, 0.0, test, tiles_with(tiles, held_p), plan)
                c = R.confusion(R.predicted_mask(patches, test.frame), test)
                o = np.array(E.objects(test, patches) if args.only == "oscd" else (0, 0, 0, 0))
                v = h["validation"]
                name = f"{stage}-{kind}" if kind != "hyst" else f"{stage}+hyst"
                res[name] = (c, o)
                if kind == pick:
                    res[stage] = (c, o)
                print(f"  {test.name:>12} {name:>9} thr {thr:.2f} low {low:.2f} "
                      f"patch {m.patch_threshold:.1f} inner pf1 {hf1:.4f} after patches "
                      f"{v['pixel_f1_after_patches']:.4f} | held-out F1 {R.prf(c)[2]:.3f} "
                      f"objects {tuple(int(x) for x in o)}", flush=True)
            print(f"  {stage}: smoothing chosen {pick}", flush=True)
        for n in names:
            tot[n] += res[n][0]
            obj[n] += res[n][1]
        print(f"{test.name}: model 1 {t1 - t0:.0f} s, model 2 {t2 - t1:.0f} s, "
              f"held out {time.perf_counter() - t2:.0f} s, load {os.getloadavg()[0]:.1f}",
              flush=True)
        for n in names:
            V.print_pooled(n, tot[n], obj[n])
    print(f"seed {args.seed}, {args.only}, {time.perf_counter() - t_all:.0f} s, load average "
          f"{os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
