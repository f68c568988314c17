"""Held-out folds: a label-free per-scene recalibration of the pixel probability.

The pixel model's probability *p* is calibrated differently in each city (on OSCD the median
*p* of true change pixels runs from 0.22 to 0.97 over the training cities, and each city's best
threshold from 0.65 to 0.97), while ``train_change_model`` applies one pooled threshold, chosen
on the training pairs' inner out-of-fold (OOF) probability, to every scene. This script measures
whether a rule that recalibrates *p* **within each scene, without labels**, transfers to the
held-out scene better than the one pooled threshold.

Per outer fold (OSCD leave one city out by default; ``--only sztaki|levir|landsat``: the folds
of ``eval_trained.py``), model 1 is trained once (``train_change_model(..., smooth="none")``, its
OOF probability and patch channels captured, as ``oscd_smooth.py``), and the held-out scene's
probability is computed densely (no pre-screen). Each rule maps a scene's *p* to a score *u* by
statistics of **that scene alone** (every finite pixel, labelled or not: each training pair's
OOF *p* by its own, the held-out scene by its own); one global threshold on *u* is chosen by the
pooled inner OOF pixel F1 of the training pairs (never on the held-out scene) and applied to the
held-out scene's *u*:

``raw``
    *u* = *p* on ``train.THRESHOLDS``: the default path (the baseline).
``rawfine``
    *u* = logit *p* on the fine grid of the rules below (a control: the grid alone).
``z``
    logit standardisation, *u* = (logit *p* - median) / (1.4826 MAD).
``em``
    Saerens, Latinne & Decaestecker (2002): the scene's change prior pi estimated by EM from the
    training prior 0.5 (the balanced sample's), *u* = logit *p* + logit pi - logit 0.5 (the
    logit of the prior-adjusted posterior).
``emcal``
    the same after Platt scaling: *a* logit *p* + *b* fitted (logistic regression) on the
    training pairs' pooled labelled OOF pixels, EM from their pooled change share (Saerens et
    al. assume calibrated posteriors; the balanced sample's *p* is not one: the EM of ``em``
    collapses to pi = 0 wherever the scene's mean likelihood ratio p / (1 - p) is below 1).
``shift``
    *u* = logit *p* - median (location only; the scale of ``z`` left out).
``otsu``
    *u* = logit *p* - Otsu's threshold of the scene's logit *p* (256 bins, between its 0.1 and
    99.9 percentiles); the global threshold on *u* is a margin above (or below) Otsu.
``plugin``
    no global parameter: each scene at the threshold that maximises its own *expected* F1
    (Jansche 2007; Lipton, Elkan & Naryanaswamy 2014), the expectation taken under the
    Platt-calibrated *p* of ``emcal`` (flag the top *n* pixels by *p*, expected F1 =
    2 sum q / (n + sum of all q)); *u* = logit *p* - logit of that threshold, flagged at 0.

Logit *p* is ``log(p / (1 - p))`` of *p* clipped to [1e-6, 1 - 1e-6].

Two figures per rule and fold: ``pixel`` -- the mask *u* >= threshold itself (the pixel stage
alone), and ``patch`` -- the full path: the patch stage trained on the OOF candidates of the
rule's score (``s = sigmoid(u - t + logit 0.9)``, so the chosen threshold *t* sits at s = 0.9,
near the raw path's usual one, and the patch features of the probability see a similar range)
and applied to the held-out scene, as ``detect_with_model`` does. ``oracle`` (pixel stage only,
an upper bound, never a method): each held-out scene at its own best threshold on raw *p*;
``oracle-joint`` (printed at the end): the per-scene thresholds that maximise the *pooled* F1
together (Dinkelbach on 2 TP / (TP + FP + positives); a scene may be switched off).

With ``--smooth mean3`` *p* is smoothed (3 x 3 mean) before any rule, as the default path may.
``--cache DIR`` keeps each fold's OOF / held-out probabilities and labels (``.npz``).

Usage::

    python benchmarks/oscd_calibrate.py ../shared/data [--seed 0] [--smooth none]
    python benchmarks/oscd_calibrate.py ../shared/data --only sztaki
"""

from __future__ import annotations

import copy
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import eval_trained as E  # noqa: E402
import oscd_context as C  # noqa: E402
import oscd_variants as V  # noqa: E402

from onemap.change import _patch_stage as P  # noqa: E402
from onemap.change import _patch_training as PT  # noqa: E402
from onemap.change import train as T  # noqa: E402
from onemap.change.model import ChangeModel  # noqa: E402
from tests.change import real_data as R  # noqa: E402

RULES = ("raw", "rawfine", "z", "em", "emcal", "shift", "otsu", "plugin")
FINE = np.round(np.arange(-12.0, 20.0001, 0.05), 4)  # the rules' threshold grid on u
EPS = 1e-6
S_AT = float(np.log(0.9 / 0.1))  # the chosen threshold sits at s = 0.9
PT_TRAIN = 0.5  # the balanced training sample's prior


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(p.astype(np.float64), EPS, 1 - EPS)
    return np.log(q / (1 - q))


def em_prior(p: np.ndarray, prior: float = PT_TRAIN, iters: int = 5000, tol: float = 1e-9):
    """Saerens et al. (2002): the test prior of the positive class by EM on the posteriors *p*
    of a classifier trained at *prior* (on a 4000-bin histogram of the log likelihood ratio)."""
    q = np.clip(p.astype(np.float64), EPS, 1 - EPS)
    h, e = np.histogram(np.log(q / (1 - q)) + np.log((1 - prior) / prior), bins=4000)
    lr, w = np.exp((e[:-1] + e[1:]) / 2), h / h.sum()
    pi = prior
    for _ in range(iters):
        new = float(np.sum(w * pi * lr / (pi * lr + 1 - pi)))
        if abs(new - pi) < tol * max(pi, 1e-12):
            pi = new
            break
        pi = new
    return min(max(pi, EPS), 1 - EPS)


def platt(us, labels) -> tuple[float, float, float]:
    """(a, b, share of change): logistic regression of the label on logit p (Newton), over the
    pooled labelled pixels of the training pairs' OOF."""
    x = np.concatenate([u[lab >= 0] for u, lab in zip(us, labels, strict=True)])
    y = np.concatenate([lab[lab >= 0] == 1 for lab in labels]).astype(np.float64)
    ok = np.isfinite(x)
    x, y = x[ok], y[ok]
    a, b = 1.0, 0.0
    for _ in range(100):
        q = 1 / (1 + np.exp(-(a * x + b)))
        w = q * (1 - q)
        g = np.array([np.sum((q - y) * x), np.sum(q - y)])
        hess = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]])
        d = np.linalg.solve(hess + 1e-9 * np.eye(2), g)
        a, b = a - d[0], b - d[1]
        if np.abs(d).max() < 1e-9:
            break
    return float(a), float(b), float(y.mean())


def otsu(x: np.ndarray, bins: int = 256) -> float:
    lo, hi = np.percentile(x, [0.1, 99.9])
    if hi <= lo:
        return float(lo)
    h, edges = np.histogram(np.clip(x, lo, hi), bins=bins, range=(lo, hi))
    c = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(h).astype(np.float64)
    w1 = w0[-1] - w0
    m0 = np.cumsum(h * c)
    mu0 = m0 / np.maximum(w0, 1)
    mu1 = (m0[-1] - m0) / np.maximum(w1, 1)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(edges[1:][int(np.argmax(between))])


def score(p: np.ndarray, rule: str, cal=None) -> tuple[np.ndarray, dict]:
    """The rule's score *u* of one scene (NaN where *p* is) and the scene statistics used;
    *cal*: ``emcal``'s Platt parameters (a, b, training share of change)."""
    ok = np.isfinite(p)
    if rule == "raw":
        return p, {}
    lp = np.full(p.shape, np.nan)
    lp[ok] = logit(p[ok])
    v = lp[ok]
    if rule == "rawfine":
        return lp, {}
    if rule in ("z", "shift"):
        med = float(np.median(v))
        mad = float(np.median(np.abs(v - med))) * 1.4826
        if rule == "shift":
            return lp - med, {"median": med}
        return (lp - med) / max(mad, 1e-6), {"median": med, "mad": mad}
    if rule == "em":
        pi = em_prior(p[ok])
        return lp + np.log(pi / (1 - pi)) - np.log(PT_TRAIN / (1 - PT_TRAIN)), {"prior": pi}
    if rule == "emcal":
        a, b, prior = cal
        z = a * lp + b
        pi = em_prior(1 / (1 + np.exp(-z[ok])), prior)
        return z + np.log(pi / (1 - pi)) - np.log(prior / (1 - prior)), {"prior": pi}
    if rule == "plugin":
        a, b, _ = cal
        q = 1 / (1 + np.exp(-(a * v + b)))
        o = np.argsort(-v, kind="stable")
        ef = 2 * np.cumsum(q[o]) / (np.arange(1, len(o) + 1) + q.sum())
        k = int(np.argmax(ef))
        return lp - v[o][k], {
            "threshold": float(1 / (1 + np.exp(-v[o][k]))),
            "expected_f1": float(ef[k]),
        }
    if rule == "otsu":
        t = otsu(v)
        return lp - t, {"otsu": t}
    raise ValueError(rule)


def grid(rule: str) -> np.ndarray:
    if rule == "plugin":  # no global parameter
        return np.array([0.0])
    return T.THRESHOLDS if rule == "raw" else FINE


def counts_by_threshold(us, labels, thresholds) -> np.ndarray:
    """``(len(thresholds), 3)`` pooled (tp, fp, fn) of ``u >= threshold`` over labelled pixels."""
    out = np.zeros((len(thresholds), 3))
    for u, lab in zip(us, labels, strict=True):
        known = lab >= 0
        uu, t = u[known], lab[known] == 1
        uu = np.where(np.isfinite(uu), uu, -np.inf)
        pos, neg = np.sort(uu[t]), np.sort(uu[~t])
        tp = len(pos) - np.searchsorted(pos, thresholds, side="left")
        fp = len(neg) - np.searchsorted(neg, thresholds, side="left")
        out += np.stack([tp, fp, len(pos) - tp], axis=1)
    return out


def choose(us, labels, rule: str) -> tuple[float, float]:
    g = grid(rule)
    c = counts_by_threshold(us, labels, g)
    f1s = [T._f1(*x)[2] for x in c]
    best = int(np.argmax(f1s))
    return float(g[best]), float(f1s[best])


def to_s(u: np.ndarray, rule: str, thr: float) -> tuple[np.ndarray, float]:
    """The probability-like score the patch stage sees, and its threshold."""
    if rule == "raw":
        return u.astype(np.float32), thr
    with np.errstate(over="ignore"):
        s = 1 / (1 + np.exp(-(u - thr + S_AT)))
    return s.astype(np.float32), 0.9


def oracle(p: np.ndarray, test) -> tuple[np.ndarray, float]:
    """The held-out scene at its own best threshold on raw p (an upper bound, not a method)."""
    g = np.unique(np.concatenate([T.THRESHOLDS, np.round(np.arange(0.005, 0.9951, 0.005), 3)]))
    pp = np.nan_to_num(p, nan=-1.0)
    best, bc, bt = -1.0, None, None
    for t in g:
        c = R.confusion(pp >= t, test)
        f = R.prf(c)[2]
        if f > best:
            best, bc, bt = f, c, float(t)
    return bc, bt


ORACLE_GRID = np.unique(
    np.concatenate(
        [T.THRESHOLDS, np.round(np.arange(0.005, 0.9951, 0.005), 3), [0.997, 0.998, 0.999]]
    )
)


def oracle_curve(p: np.ndarray, test) -> tuple[np.ndarray, np.ndarray, int]:
    """(tp, fp) of raw p >= t over :data:`ORACLE_GRID` on the scene's labelled pixels, positives."""
    pp = np.nan_to_num(p, nan=-1.0)[test.valid]
    t = test.truth[test.valid]
    pos, neg = np.sort(pp[t]), np.sort(pp[~t])
    tp = len(pos) - np.searchsorted(pos, ORACLE_GRID, side="left")
    fp = len(neg) - np.searchsorted(neg, ORACLE_GRID, side="left")
    return tp.astype(np.float64), fp.astype(np.float64), int(len(pos))


def joint_oracle(curves) -> tuple[float, list[float]]:
    """The per-scene thresholds maximising the pooled F1 = 2 TP / (TP + FP + positives)
    (Dinkelbach); returns (pooled F1, thresholds)."""
    npos = sum(c[2] for c in curves)
    lam, idx = 0.0, []
    for _ in range(100):
        idx = [int(np.argmax(2 * tp - lam * (tp + fp))) for tp, fp, _ in curves]
        tp = sum(c[0][i] for c, i in zip(curves, idx, strict=True))
        fp = sum(c[1][i] for c, i in zip(curves, idx, strict=True))
        new = 2 * tp / (tp + fp + npos)
        if abs(new - lam) < 1e-12:
            break
        lam = new
    return lam, [float(ORACLE_GRID[i]) for i in idx]


def main() -> None:
    ap = E.fold_parser(__doc__)
    ap.add_argument("--smooth", default="none", choices=P.SMOOTHINGS)
    ap.add_argument("--rules", default=",".join(RULES))
    ap.add_argument("--no-patch", action="store_true", help="pixel-stage figures only")
    ap.add_argument("--cache", type=Path, default=None)
    args = ap.parse_args()
    from onemap.change.features import FeaturePlan
    from onemap.change.predict import PixelTiles, pixel_stage

    rules = args.rules.split(",")
    t_all = time.perf_counter()
    sets = E.folds(args.data, {args.only})
    fold_list = [(tr, te) for v in sets.values() for tr, tes in v for te in tes][: args.max_folds]
    box = V._capture()
    names = [f"{r}-{k}" for r in rules for k in ("pixel", "patch")] + ["oracle-pixel"]
    tot = {n: np.zeros(4, np.int64) for n in names}
    curves, tested = [], []
    obj = {n: np.zeros(4, np.int64) for n in names}
    for train, test in fold_list:
        if args.only == "oscd" and not any(c in test.name.lower() for c in args.cities.split(",")):
            continue
        t0 = time.perf_counter()
        model = T.train_change_model(
            [E.labelled(p) for p in train], seed=args.seed, num_threads=1, smooth="none"
        )  # raw OOF captured
        pairs, plans, labels, oof, header, seed, nt, folds, _fixed = box["args"][0][:9]
        t1 = time.perf_counter()
        plan = FeaturePlan(test.before, test.after)
        tiles = PixelTiles(plan.frame, 1024, None)
        pixel_stage(model, plan, tiles, prescreen=0.0, threshold=0.0)  # channels everywhere
        held_p = P.smooth(C.full_prob(tiles), args.smooth)
        oof_p = [P.smooth(ch[0], args.smooth) for ch in oof]
        if args.cache is not None:
            args.cache.mkdir(parents=True, exist_ok=True)
            stem = f"{args.only}-s{args.seed}-{args.smooth}-{test.name.replace('/', '_')}"
            np.savez_compressed(
                args.cache / f"{stem}.npz",
                held=held_p.astype(np.float32),
                truth=test.truth,
                valid=test.valid,
                names=np.array(
                    [p.name if hasattr(p, "name") else str(i) for i, p in enumerate(train)]
                ),
                **{f"oof{i}": o.astype(np.float32) for i, o in enumerate(oof_p)},
                **{f"lab{i}": lab.astype(np.int8) for i, lab in enumerate(labels)},
            )
        res = {}
        c_or, t_or = oracle(held_p, test)
        res["oracle-pixel"] = (c_or, np.zeros(4, np.int64))
        curves.append(oracle_curve(held_p, test))
        tested.append(test.name)
        print(f"  {test.name:>12} oracle threshold {t_or:.3f} F1 {R.prf(c_or)[2]:.3f}", flush=True)
        cal = platt([logit(p) for p in oof_p], labels) if {"emcal", "plugin"} & set(rules) else None
        for rule in rules:
            scored = [score(p, rule, cal) for p in oof_p]
            us = [s[0] for s in scored]
            held_u, held_stats = score(held_p, rule, cal)
            thr, f1 = choose(us, labels, rule)
            stats = "; ".join(" ".join(f"{k} {v:.3g}" for k, v in s[1].items()) for s in scored)
            c_px = R.confusion(np.nan_to_num(held_u, nan=-np.inf) >= thr, test)
            res[f"{rule}-pixel"] = (c_px, np.zeros(4, np.int64))
            line = (
                f"  {test.name:>12} {rule:>7} thr {thr:.3f} inner pf1 {f1:.4f} | held-out "
                f"pixel F1 {R.prf(c_px)[2]:.3f}"
            )
            if args.no_patch:
                res[f"{rule}-patch"] = res[f"{rule}-pixel"]
            else:
                pairs_s = [to_s(u, rule, thr) for u in us]
                oof_s = [
                    np.concatenate([s[None], ch[1:]])
                    for (s, _), ch in zip(pairs_s, oof, strict=True)
                ]
                h = copy.deepcopy(header)
                h["threshold"] = pairs_s[0][1]
                h["validation"]["pixel_f1"] = round(f1, 4)
                text = PT._train_patch_stage(
                    pairs, plans, labels, oof_s, h, seed, nt, folds, None, "pixel"
                )
                m = ChangeModel(h, model.pixel_model, text)
                held_s, _ = to_s(held_u, rule, thr)
                patches = V.held_out(m, 0.0, test, C.tiles_with(tiles, held_s), plan)
                c = R.confusion(R.predicted_mask(patches, test.frame), test)
                o = np.array(E.objects(test, patches) if args.only == "oscd" else (0, 0, 0, 0))
                res[f"{rule}-patch"] = (c, o)
                line += (
                    f" patch {m.patch_threshold:.1f} after patches "
                    f"{h['validation']['pixel_f1_after_patches']:.4f} held-out F1 "
                    f"{R.prf(c)[2]:.3f} objects {tuple(int(x) for x in o)}"
                )
            hs = " ".join(f"{k} {v:.3g}" for k, v in held_stats.items())
            print(
                line + (f"\n      train scenes: {stats}\n      held out: {hs}" if hs else ""),
                flush=True,
            )
        for n in names:
            tot[n] += res[n][0]
            obj[n] += res[n][1]
        print(
            f"{test.name}: model 1 {t1 - t0:.0f} s, rules {time.perf_counter() - t1:.0f} s, "
            f"load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        for n in names:
            V.print_pooled(n, tot[n], obj[n])
    f_j, t_j = joint_oracle(curves)
    print(
        f"  oracle-joint (pixel stage): pooled F1 {f_j:.3f} at "
        + ", ".join(f"{n} {t:.3f}" for n, t in zip(tested, t_j, strict=True)),
        flush=True,
    )
    print(
        f"seed {args.seed}, {args.only}, smooth {args.smooth}, "
        f"{time.perf_counter() - t_all:.0f} s, load average {os.getloadavg()}",
        flush=True,
    )


if __name__ == "__main__":
    main()
