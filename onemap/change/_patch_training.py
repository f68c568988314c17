"""The patch stage's training and the choice of both probability thresholds
(:func:`onemap.change.train.train_change_model`): candidate patches of the out-of-fold pixel
probability, their out-of-fold patch probability, and :func:`select_thresholds` by pixel or
object scores (:mod:`onemap.change._objects`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DataError
from . import _objects as O
from . import _patch_stage as P
from ._learner import _lgb_train, folds_at
from .model import _landuse_raster

MIN_PATCHES = 20
# smallest candidate sizes (pixels) tried on the out-of-fold validation with min_size=True
MIN_PIXELS = (0, 2, 3, 4, 6, 9, 16, 25, 36, 64)
PATCH_THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.0, 0.901, 0.1), 2))
SELECT_BY = ("object_f1", "recall_floor", "pixel")
MIN_SITE_RECALL = 0.7  # the campaign's requirement: at least 70 % of the true sites found
# pixel thresholds tried for the candidates when thresholds are chosen by objects
OBJECT_THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.2, 0.951, 0.05), 2))
PATCH_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_data_in_leaf": 10,
    "feature_fraction": 0.9,
    "lambda_l2": 1.0,
    "num_iterations": 150,
}


def _patch_candidates(pairs, plans, labels, oof, header, thr, seed, folds, origins=None) -> dict:
    """Candidate patches of the out-of-fold probability at pixel threshold *thr*: their
    features, training targets, folds and object bookkeeping, per pair (*plans*: anything with
    the pair's ``frame``; *origins*: ``(pair index, first row, first column)`` of each in the
    training set, whose folds they keep; default the whole pairs 0, 1, ...)."""
    from ._scene import pixel_area_m2

    by_pair = header["parameters"]["folds_by"] == "pair"
    tables, targets, known, pfold, objs = [], [], [], [], []
    for k, (p, plan, lab, ch) in enumerate(zip(pairs, plans, labels, oof, strict=False)):
        cand, n = P.candidates(ch[0], thr)
        objs.append(O.patch_objects(cand, n, lab))
        lu = _landuse_raster(p.landuse, plan.frame) if header["uses_landuse"] else None
        tables.append(P.patch_table(cand, n, ch, pixel_area_m2(plan.frame), lu))
        real, kn = P.patch_targets(cand, n, lab)
        targets.append(real)
        known.append(kn)
        inside = np.flatnonzero(cand)  # each candidate's first pixel (raster order)
        _, first = np.unique(cand.ravel()[inside], return_index=True)
        rows, cols = np.divmod(inside[first], plan.frame.shape[1])
        pair, r0, c0 = (k, 0, 0) if origins is None else origins[k]
        pfold.append(folds_at(rows + r0, cols + c0, pair, seed, folds, by_pair))
    return {
        "T": np.concatenate(tables),
        "y": np.concatenate(targets).astype(np.float32),
        "known": np.concatenate(known),
        "fold": np.concatenate(pfold),
        "objs": objs,
        "sizes": [len(t) for t in tables],
    }


def _too_few(known: np.ndarray, real: np.ndarray) -> bool:
    """Too few labelled candidates (or of one kind) for a patch model."""
    return bool(known.sum() < MIN_PATCHES or real.sum() < 5 or (1 - real).sum() < 5)


def _patch_oof(c: dict, header: dict, seed: int, num_threads: int, folds: int) -> np.ndarray | None:
    """Out-of-fold patch probability of every candidate, or None when too few labelled
    candidates (the model then keeps candidates by their mean pixel probability)."""
    T, y, kn, fo = c["T"], c["y"], c["known"], c["fold"]
    yk = y[kn]
    if _too_few(kn, yk):
        return None
    cat = [P.PATCH_FEATURES.index("landuse_before")] if header["uses_landuse"] else []
    names = list(P.PATCH_FEATURES)
    pred = np.ones(len(T))
    for fold in range(folds):
        train, test = kn & (fo != fold), fo == fold
        if test.any() and train.any() and y[train].min() != y[train].max():
            m = _lgb_train(T[train], y[train], PATCH_PARAMS, seed, num_threads, names, cat)
            pred[test] = m.predict(T[test], num_threads=num_threads)
    return pred


def select_thresholds(
    candidates: dict[float, tuple[list[O.PatchObjects], list[np.ndarray]]],
    patch_thresholds: Sequence[float],
    by: str = "object_f1",
    min_site_recall: float = MIN_SITE_RECALL,
) -> tuple[float, float, dict[tuple[float, float], dict[str, float]]]:
    """The (pixel, patch) threshold pair chosen by *by* and every pair's pooled scores.

    *candidates* maps a pixel threshold to its candidates' object bookkeeping and patch
    probabilities per pair; a candidate is kept when its probability >= the patch threshold.
    *by*: ``"object_f1"`` -- the best object F1, the harmonic mean of lead precision and site
    recall (:mod:`onemap.change._objects`); ``"recall_floor"`` -- the best lead precision among
    the pairs that find at least *min_site_recall* of the true sites (none does: the best site
    recall); ``"pixel"`` -- the best pixel F1 of the kept candidates.
    Ties go to the better pixel F1, then to the lower thresholds.
    """
    if by not in SELECT_BY:
        raise DataError(f"select_by must be one of {SELECT_BY}, got {by!r}")
    table: dict[tuple[float, float], dict[str, float]] = {}
    for thr, (objs, preds) in candidates.items():
        for pt in patch_thresholds:
            counts = sum(
                (O.object_counts(o, pr >= pt) for o, pr in zip(objs, preds, strict=True)),
                np.zeros(7),
            )
            table[float(thr), float(pt)] = O.scores(counts)

    def key(t: tuple[float, float]) -> tuple:
        s = table[t]
        r = lambda v: round(v, 6)  # noqa: E731 - float noise must not decide
        main: tuple
        if by == "recall_floor":
            meets = s["site_recall"] >= min_site_recall - 1e-9
            main = (meets, r(s["lead_precision"]) if meets else r(s["site_recall"]))
        elif by == "object_f1":
            main = (r(s["object_f1"]),)
        else:
            main = (r(s["pixel_f1"]), r(s["object_f1"]))
        return (*main, r(s["pixel_f1"]), -t[0], -t[1])

    best = max(table, key=key)
    return best[0], best[1], table


def select_min_pixels(
    objs: Sequence[O.PatchObjects],
    keeps: Sequence[np.ndarray],
    pixels: Sequence[np.ndarray],
    grid: Sequence[int] = MIN_PIXELS,
) -> tuple[int, dict[int, dict[str, float]]]:
    """The smallest kept candidate size (pixels, from *grid*) with the best pooled object F1.

    *keeps* and *pixels* give, per pair, which candidates the thresholds keep and their sizes in
    pixels; a size *m* also drops the kept candidates of fewer than *m* pixels. Ties go to the
    smaller size. Returns the size and every size's pooled scores.
    """
    table = {}
    for m in grid:
        counts = sum(
            (
                O.object_counts(o, k & (px >= m))
                for o, k, px in zip(objs, keeps, pixels, strict=True)
            ),
            np.zeros(7),
        )
        table[int(m)] = O.scores(counts)
    best = max(table, key=lambda m: (round(table[m]["object_f1"], 6), -m))
    return best, table


def _min_size(c: dict, pred: np.ndarray, patch_threshold: float, plans, v: dict) -> int:
    """:func:`select_min_pixels` on the chosen candidates; records the scores in *v*."""
    from ._scene import pixel_area_m2

    area = np.repeat([pixel_area_m2(p.frame) for p in plans], c["sizes"])
    px = np.rint(10 ** c["T"][:, P.PATCH_FEATURES.index("log_area_m2")] / area)
    cuts = np.cumsum(c["sizes"])[:-1]
    keeps = np.split(pred >= patch_threshold, cuts)
    best, table = select_min_pixels(c["objs"], keeps, np.split(px, cuts))
    v["min_pixels"] = best
    v["objects_by_min_pixels"] = {
        str(m): [round(float(s["lead_precision"]), 4), round(float(s["site_recall"]), 4)]
        for m, s in table.items()
    }
    v["objects"] = {k: round(x, 4) for k, x in table[best].items()}
    v["pixel_f1_after_patches"] = round(table[best]["pixel_f1"], 4)
    return best


def _train_patch_stage(
    pairs,
    plans,
    labels,
    oof,
    header,
    seed,
    num_threads,
    folds,
    fixed_threshold: float | None,
    select_by: str = "object_f1",
    min_site_recall: float = MIN_SITE_RECALL,
    min_size: bool = False,
    origins: list[tuple[int, int, int]] | None = None,
) -> str | None:
    """Patch model on the out-of-fold candidates. The pixel threshold (unless
    ``select_by="pixel"`` keeps the pixel-F1 one) and the patch threshold (unless fixed) are
    chosen together by :func:`select_thresholds` on the out-of-fold validation over
    :data:`OBJECT_THRESHOLDS` x :data:`PATCH_THRESHOLDS` (patch threshold 0 keeps every
    candidate, so the stage never scores below the pixel stage on its own validation). With
    *min_size*, then the smallest kept candidate size (``header["min_pixels"]``) by
    :func:`select_min_pixels`. *origins*: see :func:`_patch_candidates`."""
    pixel_grid = OBJECT_THRESHOLDS if select_by != "pixel" else [header["threshold"]]
    patch_grid = PATCH_THRESHOLDS if fixed_threshold is None else [float(fixed_threshold)]
    found, preds = {}, {}
    for thr in pixel_grid:
        c = _patch_candidates(pairs, plans, labels, oof, header, float(thr), seed, folds, origins)
        pred = _patch_oof(c, header, seed, num_threads, folds)
        if pred is None:  # no patch model at this threshold: keep by mean pixel probability
            pred = c["T"][:, P.PATCH_FEATURES.index("prob_mean")]
        found[float(thr)] = c
        preds[float(thr)] = (c["objs"], np.split(pred, np.cumsum(c["sizes"])[:-1]))
    thr, pt, table = select_thresholds(preds, patch_grid, select_by, min_site_recall)
    header["threshold"], header["patch_threshold"] = thr, pt
    c = found[thr]
    chosen = table[thr, pt]
    v = header["validation"]
    v["selected_by"] = (
        f"lead precision at site recall >= {min_site_recall:g}"
        if select_by == "recall_floor"
        else select_by.replace("_f1", "") + " F1"
    )
    v["objects"] = {k: round(x, 4) for k, x in chosen.items()}
    v["pixel_f1_after_patches"] = round(chosen["pixel_f1"], 4)
    v["objects_by_patch_threshold"] = {
        str(b): [round(s["lead_precision"], 4), round(s["site_recall"], 4)]
        for (a, b), s in table.items()
        if a == thr
    }
    header["min_pixels"] = (
        _min_size(c, np.concatenate(preds[thr][1]), pt, plans, v) if min_size else 0
    )
    T, y, kn = c["T"], c["y"], c["known"]
    yk = y[kn]
    if _too_few(kn, yk):
        v["patch"] = (
            f"{int(kn.sum())} candidate patches ({int(yk.sum())} real): too few for a "
            "patch model, candidates are kept by their mean pixel probability"
        )
        return None
    v["patch"] = {"candidates": int(kn.sum()), "real": int(yk.sum()), "threshold": pt}
    cat = [P.PATCH_FEATURES.index("landuse_before")] if header["uses_landuse"] else []
    names = list(P.PATCH_FEATURES)
    return _lgb_train(T[kn], y[kn], PATCH_PARAMS, seed, num_threads, names, cat).model_to_string()
