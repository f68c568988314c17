"""The trained detector's learned pre-screen: a small model on cheap channels, its level chosen
on the detector's own out-of-fold validation.

A fixed CVA level as pre-screen cost LEVIR-CD (RGB 0.5 m) 0.33 of pixel F1 (benchmarks/README.md):
new roofs on bare ground change the spectrum less than the noise. The learned screen instead
trains a small LightGBM model (:data:`SCREEN_PARAMS`) on the same balanced samples and folds as
the pixel model, on channels computed densely at a few operations per band
(:func:`onemap.change._feature_kernels.screen_channels_kernel`): the normalised band differences
``dz_*``, the CVA magnitude, the brightness change and the brightness at both dates (the scene's
level: a bright new roof on bare ground has a small CVA but a high date-2 brightness). Its level
is the highest at which, out of fold, at least :data:`SCREEN_KEEP` of the pixels the full model
detects correctly (probability >= the chosen pixel threshold, truth change) pass the screen
(:func:`choose_level`) -- chosen on the training data's own validation, per model, never fixed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _feature_kernels as FK
from ._tree_kernels import ZERO

__all__ = [
    "SCREEN_KEEP",
    "SCREEN_PARAMS",
    "choose_level",
    "reject_box",
    "resolve_prescreen",
    "screen_block",
    "screen_names",
    "screen_walk",
]

SCREEN_KEEP = 0.99  # share of the out-of-fold true detections the screen must keep
SCREEN_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.2,
    "num_leaves": 15,
    "min_data_in_leaf": 50,
    "lambda_l2": 1.0,
    "num_iterations": 16,  # small: it runs on every pixel of a county
}


def screen_names(bands: Sequence[str]) -> list[str]:
    """Names (pixel-feature names) of the screen channels, in the kernel's order."""
    return [f"dz_{b}" for b in bands] + [
        "cva",
        "brightness_change",
        "brightness_1",
        "brightness_2",
    ]


def screen_block(plan: Any, b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Screen channels ``(nb + 4, h, w)`` float32 of float32 bands (NaN = nodata): the values
    of the same channels of ``plan.block`` (a :class:`~onemap.change.features.FeaturePlan`)."""
    from .features import _f32

    nb, h, w = b1.shape
    if b2.shape != b1.shape or nb != len(plan.bands):
        raise ValueError(f"bands of shape {b1.shape} and {b2.shape} for {len(plan.bands)} bands")
    out = np.empty((nb + 4, h, w), np.float32)
    FK.screen_channels_kernel(
        np.asarray(b1, np.float32),  # a strided view is fine: no copy of the tile
        np.asarray(b2, np.float32),
        _f32(plan.med1),
        _f32(plan.scl1),
        _f32(plan.med2),
        _f32(plan.scl2),
        _f32(plan.gain),
        _f32(plan.offset),
        _f32(plan.sigma),
        out,
    )
    return out


def screen_walk(plan: Any, b1: np.ndarray, b2: np.ndarray, box: Any, valid: np.ndarray,
                buffers: tuple[np.ndarray, np.ndarray, np.ndarray]) -> int:
    """The screen channels of the pixels of float32 bands *b1*, *b2* whose trees must be
    walked -- valid in both dates and outside the reject *box* (:func:`reject_box`; None: no
    box) -- gathered into *buffers* ``(X (n, nb + 4), rows, cols)`` in raster order; *valid*
    ``(h, w)`` set. Returns n. The channels are :func:`screen_block`'s, bit for bit."""
    from .features import _f32

    k = len(plan.bands) + 4
    lo, hi = box if box is not None else (np.full(k, np.inf), np.full(k, -np.inf))
    X, rows, cols = buffers
    return int(FK.screen_walk_kernel(
        np.asarray(b1, np.float32), np.asarray(b2, np.float32), _f32(plan.med1),
        _f32(plan.scl1), _f32(plan.med2), _f32(plan.scl2), _f32(plan.gain), _f32(plan.offset),
        _f32(plan.sigma), np.asarray(lo, np.float64), np.asarray(hi, np.float64), valid, X,
        rows, cols))


def choose_level(screen: np.ndarray, hit: np.ndarray, keep: float = SCREEN_KEEP) -> float:
    """The highest level *L* with ``(screen[hit] >= L).sum() / hit.sum() >= keep``.

    *screen*: out-of-fold screen probabilities; *hit*: the pixels the full model detects
    correctly. No hit: 0.0 (the screen keeps every valid pixel).
    """
    s = np.sort(np.asarray(screen, np.float64)[np.asarray(hit, bool)])[::-1]
    n = s.size
    if n == 0:
        return 0.0
    k = min(max(int(np.ceil(keep * n)), 1), n)  # k-th largest keeps >= k pixels (ties: more)
    while k > 1 and (k - 1) / n >= keep:
        k -= 1
    while k < n and k / n < keep:
        k += 1
    return float(s[k - 1])


def reject_box(ensemble: Any, level: float, sample: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray] | None:
    """A box ``(lo, hi]`` of screen channels in which every pixel is surely below *level*.

    The screen keeps few pixels, and most of the rest sit in one region of the channel space
    (unchanged ground: small differences, common levels). The ensemble's decisions change only
    at its split thresholds, so a box between thresholds bounds the raw score of every pixel
    inside it (:meth:`~onemap.change.trees.Ensemble.bound`). Grown greedily on *sample*
    ``(n, k)`` (the scene's own sample pixels' screen channels), one threshold step at a time
    on the side that takes in the most sample pixels while the bound stays below the level,
    starting from the most populated cell that is. A pixel in the box needs no tree walk: its
    screen decision is exactly the walked one. None when no cell is surely below.
    """
    floor = ensemble._floor(level)
    X = np.asarray(sample, np.float64)
    X = X[np.isfinite(X).all(axis=1)]
    X[np.abs(X) <= ZERO] = 0.0  # as the trees load values
    if not np.isfinite(floor) or X.shape[0] == 0:
        return None
    k = X.shape[1]
    cuts = [ensemble.thresholds(j) for j in range(k)]
    cells = np.stack([np.searchsorted(cuts[j], X[:, j], side="left") for j in range(k)])

    def limits(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = np.array([cuts[j][a[j] - 1] if a[j] > 0 else -np.inf for j in range(k)])
        hi = np.array([cuts[j][b[j]] if b[j] < cuts[j].size else np.inf for j in range(k)])
        return lo, hi

    start, counts = np.unique(cells.T, axis=0, return_counts=True)
    for i in np.argsort(-counts, kind="stable")[:64]:
        if ensemble.bound(*limits(start[i], start[i])) < floor:
            a, b = start[i].copy(), start[i].copy()
            break
    else:
        return None
    while True:
        outside = (cells < a[:, None]) | (cells > b[:, None])
        one = outside.sum(axis=0) == 1  # pixels one step of one channel away
        moves = []
        for j in range(k):
            near = cells[j, one & outside[j]]
            if a[j] > 0:
                moves.append((int((near == a[j] - 1).sum()), j, -1))
            if b[j] < cuts[j].size:
                moves.append((int((near == b[j] + 1).sum()), j, 1))
        for gain, j, side in sorted(moves, reverse=True):
            if gain == 0:
                return limits(a, b)
            a2, b2 = a.copy(), b.copy()
            (a2 if side < 0 else b2)[j] += side
            if ensemble.bound(*limits(a2, b2)) < floor:
                a, b = a2, b2
                break
        else:
            return limits(a, b)


def _prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def screen_validation(
    probs: Sequence[np.ndarray],
    screens: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    threshold: float,
    names: Sequence[str],
    keep: float = SCREEN_KEEP,
) -> dict[str, Any]:
    """The header's ``"screen"`` entry: level chosen on the out-of-fold arrays of every pair
    (probability, screen probability, labels 1 / 0 / -1 unknown) and what it costs there."""
    hits = []
    for pr, sc, lab in zip(probs, screens, labels, strict=True):
        hit = (lab == 1) & (pr >= threshold) & np.isfinite(sc)
        hits.append(sc[hit])
    level = choose_level(np.concatenate(hits), np.ones(sum(h.size for h in hits), bool), keep)
    kept = valid = 0
    c0 = np.zeros(3)  # tp, fp, fn without the screen
    c1 = np.zeros(3)  # with it
    for pr, sc, lab in zip(probs, screens, labels, strict=True):
        ok = np.isfinite(pr) & np.isfinite(sc)
        valid += int(ok.sum())
        kept += int((sc[ok] >= level).sum())
        known = ok & (lab >= 0)
        t = lab[known] == 1
        det = pr[known] >= threshold
        det_s = det & (sc[known] >= level)
        for c, d in ((c0, det), (c1, det_s)):
            c += [(d & t).sum(), (d & ~t).sum(), (~d & t).sum()]
    _, r0, _ = _prf(*c0)
    p1, r1, f1 = _prf(*c1)
    return {
        "features": list(names),
        "level": level,
        "keep": keep,
        "oof_pixels_kept": round(kept / max(valid, 1), 4),
        "oof_recall_cost": round(r0 - r1, 4),
        "oof_f1_with_screen": round(f1, 4),
        "params": dict(SCREEN_PARAMS),
    }


def resolve_prescreen(model: Any, prescreen: float | None) -> tuple[str, float]:
    """``(kind, level)`` of a *prescreen* setting: ``("learned", level)`` for None with a model
    that has a learned screen, ``("off", 0.0)`` for 0 (or None without one), ``("cva", sigmas)``
    for a number > 0. Anything else is a :class:`~onemap.errors.DataError`."""
    from ..errors import DataError

    if prescreen is None:
        sc = getattr(model, "screen", None)
        return ("learned", float(sc["level"])) if sc is not None else ("off", 0.0)
    try:
        level = float(prescreen)
    except (TypeError, ValueError):
        level = float("nan")
    if isinstance(prescreen, bool) or not np.isfinite(level) or level < 0:
        raise DataError(
            f"prescreen must be None (the model's learned screen), 0 (off) or a CVA level > 0 "
            f"in noise sigmas, got {prescreen!r}",
            hint="leave it out to use the screen recorded in the model file",
        )
    return ("off", 0.0) if level == 0 else ("cva", level)
