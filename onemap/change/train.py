"""Train the two-stage change detector (:mod:`onemap.change.model`) from labelled pairs.

Labels: per pair a truth mask on the pair's grid (True = change), or a GeoDataFrame of verified
patches with a column saying real (True / "real" / 1) or false change -- e.g. last year's
``verdicts.gpkg`` after field checks. With patches, pixels inside real patches are change, pixels
inside false ones unchanged, and pixels outside every patch unchanged too (the campaign's screen
found nothing there) unless ``outside="ignore"``. Optional ignore areas (mask or polygons) are
left out.

Sampling is balanced and bounded: the pair is read window by window (512² pixels plus a halo),
and in each window every changed pixel is drawn with probability ``min(1, cap / N_change)`` and
every unchanged one with ``min(1, cap / N_unchanged)`` (*cap* = ``samples_per_class``, N over all
pairs), from a generator seeded by (seed, pair, window): about *cap* pixels per class in all,
whatever the county's size, and the same draw every time. The out-of-fold pass (below,
:mod:`onemap.change._oof`) keeps each validation pair's probability and patch channels whole,
about :data:`~onemap.change._oof.OOF_BYTES_PER_PIXEL` bytes a pixel at its peak: sets of more
than *validation_pixels* pixels are validated on a seeded subset of whole pairs up to that
many, and validation pairs that would not fit in the memory available are refused first, with
the fix (train on windows of them).

Validation and thresholds: with at least ``folds`` pairs, pair k goes to fold ``k % folds`` (the
validation then sees scenes it did not learn from, as in use); with fewer pairs the pixels are
split into spatial folds (blocks of :data:`BLOCK` pixels assigned by a seeded hash). Small
training sets (< :data:`FEATURE_CACHE_BYTES` of features) are featurised once and the features
kept for the out-of-fold pass. One pixel model per fold is trained on the other folds (with
``early_stop=True`` it stops once its held-out fold's log loss has not improved for
:data:`EARLY_STOPPING` rounds, and the file's pixel model gets the median of the folds' best
iteration counts); the file's pixel model is trained on all samples. The fold models'
out-of-fold probabilities give the validation scores recorded in the file and the candidate
patches (``probability >= t``) on which the patch model learns, out of fold as well. The
pixel threshold *t* and the patch threshold are then chosen on these out-of-fold candidates
(:func:`select_thresholds`); first, unless ``smooth=`` is given, whether the probability is
smoothed (3 x 3 mean) before its candidates are labelled -- the better out-of-fold pixel F1
(``header["smooth"]``, applied by prediction); by default the pixel threshold
with the best pooled out-of-fold pixel F1, then the patch threshold with the best pixel F1 of
the kept candidates; with ``select_by="object_f1"`` (or ``"recall_floor"``) both together by
what the campaign judges -- objects (:mod:`onemap.change._objects`): the share of kept patches
that are real (>= 30 % of a lead on true change) and the share of true sites a kept patch
touches. The object scores are recorded in the file either way.
A small screen model (:mod:`onemap.change._screen`) learns on the same samples and folds from
cheap channels only; its level, chosen on the out-of-fold pass to keep
:data:`~onemap.change._screen.SCREEN_KEEP` of the true detections at the final pixel threshold,
and its out-of-fold cost are recorded in ``header["screen"]``: prediction then runs the full
features and pixel model only where the screen passes.
Nothing is tuned on data outside the training set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DataError
from . import _patch_stage as P
from ._labels import LabelledPair, TrainingDataError, _as_pair, pair_labels
from ._learner import BLOCK, _folds, _lgb_train
from ._oof import (
    THRESHOLDS,
    VALIDATION_PIXELS,
    check_memory,
    oof_channels,
    threshold_counts,
    validation_parts,
)
from ._patch_training import (
    MIN_SITE_RECALL,
    PATCH_PARAMS,
    SELECT_BY,
    _train_patch_stage,
    select_thresholds,
)
from ._screen import SCREEN_PARAMS, screen_names, screen_validation
from .features import FEATURE_SET, RADII, FeaturePlan
from .model import ChangeModel, resolution_m

__all__ = [
    "PATCH_PARAMS",
    "PIXEL_PARAMS",
    "LabelledPair",
    "select_thresholds",
    "TrainingDataError",
    "train_change_model",
]

SMOOTH: str | None = None  # train_change_model's default smoothing: chosen out of fold
MIN_PER_CLASS = 100  # fewer labelled pixels of a class than this is too little to learn from
FEATURE_CACHE_BYTES = 1 << 30  # training sets with fewer feature bytes are featurised once
PIXEL_PARAMS = {
    "objective": "binary",
    "learning_rate": 0.08,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_iterations": 120,  # at most this many with early_stop=True
    # the probability of change never falls as the change vector grows (its magnitude, its
    # local means) or as the construction score rises: a prior every sensor shares, which keeps
    # the trees from learning a training city's quirks (held out on OSCD, leave one city out,
    # six seeds' mean pooled pixel F1 0.340 -> 0.349; benchmarks/README.md)
    "monotone_constraints_method": "advanced",
}
# pixel features the probability rises with (LightGBM's monotone constraints, by name)
INCREASING = ("cva", *(f"mean{r}_cva" for r in RADII), "construction")


@dataclass(frozen=True)
class _Grid:
    """A window of a pair as the patch stage reads it: its own grid."""

    frame: Any


def _f1(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def train_change_model(
    pairs: Iterable[Any],
    *,
    label_column: str = "real",
    outside: str = "unchanged",
    seed: int = 0,
    samples_per_class: int = 20_000,
    folds: int = 3,
    num_threads: int = 1,
    patch_threshold: float | None = None,
    select_by: str = "pixel",
    min_site_recall: float = MIN_SITE_RECALL,
    early_stop: bool = False,
    min_size: bool = False,
    smooth: str | None = SMOOTH,
    validation_pixels: int = VALIDATION_PIXELS,
    sensor: str | None = None,
    params: dict[str, Any] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> ChangeModel:
    """Train a pixel model and a patch model from labelled pairs.

    Parameters
    ----------
    pairs
        ``(before, after, truth)`` or ``(before, after, truth, ignore)`` tuples or
        :class:`LabelledPair` objects; *truth* a boolean mask on the pair's grid (DataArray or
        array) or a GeoDataFrame of verified patches with *label_column*.
    label_column
        Column of the verified patches saying real (True, 1, "real") or false change.
    outside
        Pixels outside every verified patch: ``"unchanged"`` (default) or ``"ignore"``.
    seed, num_threads
        Same seed, threads and inputs give the same model file, byte for byte. One thread by
        default: LightGBM's OpenMP threads spin while they wait, and on a shared, loaded CPU two
        threads trained 10x slower than one (measured: 35 s against 2.4 s).
    samples_per_class
        Pixels drawn per class over all pairs (bounds memory and training time).
    folds
        Spatial folds of the out-of-fold validation (>= 2).
    patch_threshold
        Patch probability to keep a candidate, stored as the model's default; None (default):
        chosen on the out-of-fold validation (0 = keep every candidate).
    select_by, min_site_recall
        What the pixel and patch thresholds are chosen by, together, on the out-of-fold
        validation (:func:`select_thresholds`): ``"pixel"`` (default: the pixel threshold with
        the pixel stage's best pooled F1, then the patch threshold with the best pixel F1 of
        the kept candidates), ``"object_f1"`` (both together by the harmonic mean of the share
        of real leads and the share of true sites found, the campaign's view) or
        ``"recall_floor"`` (the best share of real leads among the settings that find at least
        *min_site_recall* of the true sites). Why pixel by default: the object criteria pick
        one of 16 x 10 threshold pairs on a few scenes' noisy object counts and over-fit them;
        held out on OSCD (leave one city out, benchmarks/README.md) they lost to pixel F1 on
        both pixels and objects.
    early_stop
        Stop each inner fold's pixel model once its held-out fold's log loss stops improving
        (after :data:`EARLY_STOPPING` rounds; at most ``num_iterations``) and give the final
        model the median of the folds' best iterations. False: ``num_iterations`` as given.
    min_size
        Also choose the smallest candidate size to keep (pixels, ``header["min_pixels"]``,
        applied by :func:`~onemap.change.model.detect_with_model` unless it is given
        ``min_area``) by the out-of-fold object F1 of the kept candidates
        (:func:`~onemap.change._patch_training.select_min_pixels`). Off by default: held out on
        OSCD it raised pixel F1 and the share of real leads but found fewer sites
        (benchmarks/README.md).
    smooth
        What the pixel probability is smoothed by before its candidates are labelled
        (``header["smooth"]``, applied by prediction): ``"none"``, ``"mean3"`` (the mean of the
        pixel's 3 x 3 neighbourhood: fewer single-pixel candidates) or None (the one with the
        better out-of-fold pixel F1 at its best threshold, ties to ``"none"``).
    validation_pixels
        Pixels of the out-of-fold validation at most: a larger training set is validated on a
        seeded subset of whole pairs up to that many, a pair larger than that on a seeded
        window of it (``header["validation"]`` records ``pairs`` and ``pixels``), which bounds
        the pass's memory (about 40 bytes a pixel). The pixel and screen models learn from the
        sample of every pair either way.
    sensor
        Recorded in the header (default: the before scene's ``attrs["sensor"]``).
    params
        LightGBM parameters replacing those of :data:`PIXEL_PARAMS` (e.g. fewer iterations).
        By default the probability is constrained to rise with the features of
        :data:`INCREASING`; ``{"monotone_constraints": [0] * n_features}`` lifts that.
    progress
        Optional ``progress(step, done, total)`` callback (the CLI draws a bar with it).

    Returns
    -------
    ChangeModel
        ``header["validation"]`` holds the out-of-fold scores.

    Raises
    ------
    TrainingDataError
        No changed pixel, fewer than 100 pixels of a class, a bad label column.
    FrameError, CRSError
        Labels on another grid or CRS than their scenes; pairs with other bands or resolutions.

    Examples
    --------
    Fields with nine new roofs, one in each 64-pixel validation block (a scene smaller than a
    few blocks leaves folds without change to validate on); a small, fast model, then detection
    with it:

    >>> import numpy as np, xarray as xr
    >>> from onemap import Frame, detect_changes
    >>> f = Frame.from_bounds((0, 0, 384, 384), res=2, crs=32650)
    >>> rng = np.random.default_rng(0)
    >>> veg = np.array([300, 600, 400, 3500.0])[:, None, None] * rng.normal(1, 0.05, (4, 192, 192))
    >>> new = veg * 1.1 + rng.normal(0, 20, veg.shape)
    >>> truth = np.zeros((192, 192), bool)
    >>> for r in range(12, 192, 64):
    ...     for c in range(20, 192, 64):
    ...         new[:, r:r + 8, c:c + 9] = np.array([2400, 2500, 2600, 2800.0])[:, None, None]
    ...         truth[r:r + 8, c:c + 9] = True
    >>> mk = lambda a: xr.DataArray(a.astype("uint16"), dims=("band", "y", "x"),
    ...     coords={"band": ["blue", "green", "red", "nir"], **f.coords()}).rio.write_crs(f.crs)
    >>> model = train_change_model([(mk(veg), mk(new), truth)], samples_per_class=400,
    ...                            params={"num_iterations": 20})
    >>> model.header["bands"], float(model.header["validation"]["pixel_f1"])
    (['blue', 'green', 'red', 'nir'], 1.0)
    >>> roofs = detect_changes(mk(veg), mk(new), model=model).query("area_m2 > 100")
    >>> len(roofs), bool(roofs.probability.min() > 0.5)
    (9, True)
    """
    pairs = [_as_pair(item, k) for k, item in enumerate(pairs)]
    if not pairs:
        raise TrainingDataError(
            "no training pairs given", hint="pass a list of (before, after, truth)"
        )
    if select_by not in SELECT_BY:
        raise DataError(f"select_by must be one of {SELECT_BY}, got {select_by!r}")
    if smooth is not None and smooth not in P.SMOOTHINGS:
        raise DataError(f"smooth must be None or one of {P.SMOOTHINGS}, got {smooth!r}")
    if outside not in ("unchanged", "ignore"):
        raise DataError(f"outside must be 'unchanged' or 'ignore', got {outside!r}")
    if (isinstance(validation_pixels, bool) or not isinstance(validation_pixels, int)
            or validation_pixels < 1):
        raise DataError(f"validation_pixels must be a positive int, got {validation_pixels!r}",
                        hint="e.g. validation_pixels=2**26 (about 2.6 GiB of memory)")
    folds = max(2, int(folds))
    pixel_params = {**PIXEL_PARAMS, **(params or {})}
    tick = progress or (lambda step, done, total: None)
    plans: list[Any] = []
    labels: list[Any] = []
    for k, p in enumerate(pairs):
        tick("features", k, len(pairs))
        plan = FeaturePlan(p.before, p.after, keep_sample=False)  # one per pair: kept light
        if plans and plan.bands != plans[0].bands:
            raise TrainingDataError(
                f"{p.name} has bands {', '.join(plan.bands)}, {pairs[0].name} has "
                f"{', '.join(plans[0].bands)}",
                feature=p.name,
                hint="train one model per sensor / band set",
            )
        res0 = resolution_m(plans[0].frame) if plans else resolution_m(plan.frame)
        if not 0.5 <= resolution_m(plan.frame) / res0 <= 2.0:
            raise TrainingDataError(
                f"{p.name} has {resolution_m(plan.frame):.3g} m pixels, {pairs[0].name} "
                f"{res0:.3g} m",
                feature=p.name,
                hint="train one model per resolution",
            )
        plans.append(plan)
        labels.append(pair_labels(p, plan.frame, label_column, outside))
    parts = validation_parts([plan.frame.shape for plan in plans], seed, validation_pixels)
    check_memory(parts, [pairs[v.pair].name for v in parts])
    npos = sum(int((lab == 1).sum()) for lab in labels)
    nneg = sum(int((lab == 0).sum()) for lab in labels)
    names = ", ".join(p.name for p in pairs)
    if npos == 0:
        raise TrainingDataError(
            f"the truth of {names} marks no changed pixel: nothing to learn from",
            hint="check the truth layer (True / 'real' = change) and label_column=, or "
            "add pairs with verified real change",
        )
    if npos < MIN_PER_CLASS or nneg < MIN_PER_CLASS:
        raise TrainingDataError(
            f"the training set is too small to learn from: {npos} changed and {nneg} "
            f"unchanged labelled pixels ({names}); at least {MIN_PER_CLASS} of each "
            "are needed",
            hint="add labelled pairs or larger verified patches",
        )
    rate = {1: min(1.0, samples_per_class / npos), 0: min(1.0, samples_per_class / nneg)}
    by_pair = len(pairs) >= folds
    X: Any = []
    y: Any = []
    f: Any = []
    # small training sets keep their window features for the out-of-fold pass (no second read)
    total = sum(len(p.names) * p.frame.shape[0] * p.frame.shape[1] * 4 for p in plans)
    cache: dict | None = {} if total <= FEATURE_CACHE_BYTES and len(parts) == len(plans) else None
    for k, (plan, lab) in enumerate(zip(plans, labels, strict=False)):
        tick("sampling", k, len(plans))
        for w, (r0, r1, c0, c1) in enumerate(plan.windows()):
            sub = lab[r0:r1, c0:c1]
            rng = np.random.default_rng([seed, k, w])
            draw = rng.random(sub.shape)
            pick = ((sub == 1) & (draw < rate[1])) | ((sub == 0) & (draw < rate[0]))
            if not pick.any() and cache is None:
                continue
            if cache is not None:
                feats = cache[k, r0, c0] = plan.window(r0, r1, c0, c1)
                X.append(feats[:, pick].T)
            else:  # the drawn pixels only (a few of the window's): the same values
                X.append(plan.window_at(r0, r1, c0, c1, *np.nonzero(pick)))
            y.append(sub[pick])
            f.append(_folds(plan.frame.shape, r0, r1, c0, c1, k, seed, folds, by_pair)[pick])
    X, y, f = np.concatenate(X), np.concatenate(y).astype(np.float32), np.concatenate(f)
    ok = np.isfinite(X[:, plans[0].names.index("cva")])
    X, y, f = X[ok], y[ok], f[ok]
    feat_names = plans[0].names
    pixel_params.setdefault("monotone_constraints", [int(n in INCREASING) for n in feat_names])
    models = []
    for fold in range(folds):
        tick("validation models", fold, folds + 1)
        sel, held = f != fold, f == fold
        if held.any() and (y[sel].min() == y[sel].max()):  # its model would learn one class
            raise TrainingDataError(
                f"outside validation fold {fold + 1} of {folds} every sample is of one class "
                "(all changed or all unchanged): the model validated on that fold cannot learn, "
                "so the thresholds cannot be chosen",
                hint="add labelled pairs (one fold per pair from "
                f"{folds} pairs on), larger scenes (folds are {BLOCK}-pixel blocks), or "
                "change spread over the scene",
            )
        valid = (X[held], y[held]) if held.any() and early_stop else None
        models.append(
            _lgb_train(X[sel], y[sel], pixel_params, seed, num_threads, feat_names, valid=valid)
        )
    # the learned pre-screen: a small model on the cheap channels, same samples and folds
    scols = [feat_names.index(n) for n in screen_names(plans[0].bands)]
    snames = [feat_names[c] for c in scols]
    Xs = np.ascontiguousarray(X[:, scols])
    screens = [
        _lgb_train(Xs[f != fold], y[f != fold], SCREEN_PARAMS, seed, num_threads, snames)
        for fold in range(folds)
    ]
    screen_final = _lgb_train(Xs, y, SCREEN_PARAMS, seed, num_threads, snames)
    del Xs
    tick("pixel model", folds, folds + 1)
    if early_stop:  # the final model gets the iterations the inner folds chose (median)
        iters = [m.best_iteration or m.current_iteration() for m in models]
        pixel_params = {**pixel_params, "num_iterations": int(np.median(iters))}
    final = _lgb_train(X, y, pixel_params, seed, num_threads, feat_names)
    del X
    header = _header(
        pairs,
        plans,
        labels,
        feat_names,
        seed,
        samples_per_class,
        folds,
        sensor,
        patch_threshold,
        pixel_params,
    )
    header["parameters"]["folds_by"] = "pair" if by_pair else "block"
    oof: list[np.ndarray] = []
    oof_screen: list[np.ndarray] = []
    for v in parts:
        ch, sc = oof_channels(models, plans[v.pair], v, seed, folds, header, num_threads, cache,
                              screens, scols)
        oof.append(ch)
        assert sc is not None  # asked for with screens=
        oof_screen.append(sc)
    # what the patch stage reads of each part: its pair, grid (a window's own) and labels
    vpairs = [pairs[v.pair] for v in parts]
    vplans = [plans[v.pair] if v.whole(plans[v.pair].frame.shape)
              else _Grid(plans[v.pair].frame.subframe(v.rows, v.cols)) for v in parts]
    vlabels = [labels[v.pair][v.rows, v.cols] for v in parts]
    # the smoothing of the probability (chosen unless given) and the pixel threshold: the best
    # pooled out-of-fold pixel F1 (ties to no smoothing, then to the lower threshold)
    by_kind = {}
    for kind in P.SMOOTHINGS if smooth is None else (smooth,):
        counts = threshold_counts((P.smooth(ch[0], kind) for ch in oof), vlabels)
        f1s = [_f1(*c)[2] for c in counts]
        by_kind[kind] = (counts, f1s, int(np.argmax(f1s)))
    kind = max(by_kind, key=lambda k: (round(by_kind[k][1][by_kind[k][2]], 6), k == "none"))
    counts, f1s, best = by_kind[kind]
    if kind != "none":
        for ch in oof:  # in place: no second copy of every pair's channels
            ch[0] = P.smooth(ch[0], kind)
    header["smooth"] = kind
    header["threshold"] = float(THRESHOLDS[best])
    p_, r_, f_ = _f1(*counts[best])
    header["validation"] = {
        "pixel_precision": round(p_, 4),
        "pixel_recall": round(r_, 4),
        "pixel_f1": round(f_, 4),
        "folds": folds,
        "threshold": header["threshold"],
        "f1_by_threshold": {str(t): round(v, 4) for t, v in zip(THRESHOLDS, f1s, strict=False)},
        "smooth": kind,
        "pixel_f1_by_smoothing": {k: round(float(v[1][v[2]]), 4) for k, v in by_kind.items()},
        "pairs": len(parts),
        "pixels": sum(v.pixels for v in parts),
    }
    tick("patch model", 0, 1)
    patch_model = _train_patch_stage(
        vpairs,
        vplans,
        vlabels,
        oof,
        header,
        seed,
        num_threads,
        folds,
        patch_threshold,
        select_by,
        min_site_recall,
        min_size,
        origins=[(v.pair, v.r0, v.c0) for v in parts],
    )
    # the screen's level: at the final pixel threshold (the patch stage may have moved it)
    header["screen"] = screen_validation(
        [ch[0] for ch in oof], oof_screen, vlabels, header["threshold"], snames
    )
    tick("done", 1, 1)
    return ChangeModel(
        header, final.model_to_string(), patch_model, screen_model=screen_final.model_to_string()
    )


def _header(
    pairs, plans, labels, names, seed, cap, folds, sensor, patch_threshold, pixel_params
) -> dict[str, Any]:
    import lightgbm

    import onemap

    training = []
    crs_names: dict[Any, str] = {}  # CRS.to_string searches the database: once per CRS
    for p, plan, lab in zip(pairs, plans, labels, strict=False):
        if plan.frame.crs not in crs_names:
            crs_names[plan.frame.crs] = plan.frame.crs.to_string()
        training.append(
            {
                "name": p.name,
                "shape": list(plan.frame.shape),
                "crs": crs_names[plan.frame.crs],
                "labels_sha256": hashlib.sha256(
                    np.packbits(lab == 1).tobytes() + np.packbits(lab == -1).tobytes()
                ).hexdigest(),
                "scene_sample_sha256": plan.sample_hash,
                "changed_pixels": int((lab == 1).sum()),
                "unchanged_pixels": int((lab == 0).sum()),
            }
        )
    return {
        "onemap_version": onemap.__version__,
        "lightgbm_version": lightgbm.__version__,
        "feature_set": FEATURE_SET,
        "features": list(names),
        "bands": list(plans[0].bands),
        "sensor": sensor if sensor is not None else pairs[0].before.attrs.get("sensor"),
        "resolution_m": round(resolution_m(plans[0].frame), 6),
        "training": training,
        "parameters": {
            "seed": seed,
            "samples_per_class": cap,
            "folds": folds,
            "block": BLOCK,
            "pixel": pixel_params,
            "patch": PATCH_PARAMS,
            "ring": P.RING,
            "real_share": P.REAL_SHARE,
            "patch_features": list(P.PATCH_FEATURES),
        },
        "threshold": 0.5,
        "patch_threshold": 0.0,
        "uses_landuse": any(p.landuse is not None for p in pairs),
    }


