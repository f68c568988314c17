"""LightGBM training and the validation folds shared by both stages of the trained detector
(:mod:`onemap.change.train`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

BLOCK = 64  # side of the spatial validation folds' blocks (pixels) for a single training pair
EARLY_STOPPING = 30  # rounds without a better inner-fold score before a pixel model stops


def _folds(
    shape: tuple[int, int],
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    pair: int,
    seed: int,
    k: int,
    by_pair: bool = False,
) -> np.ndarray:
    if by_pair:  # the validation then sees scenes it did not learn from, as in use
        return np.full((r1 - r0, c1 - c0), pair % k, np.int8)
    return folds_at(np.arange(r0, r1)[:, None], np.arange(c0, c1)[None, :], pair, seed, k)


def folds_at(rows: np.ndarray, cols: np.ndarray, pair: int, seed: int, k: int,
             by_pair: bool = False) -> np.ndarray:
    """:func:`_folds` of the pixels ``(rows, cols)`` only (broadcast): no plane of the grid."""
    if by_pair:
        return np.full(np.broadcast(rows, cols).shape, pair % k, np.int8)
    rows = (np.asarray(rows) // BLOCK).astype(np.uint64)
    cols = (np.asarray(cols) // BLOCK).astype(np.uint64)
    h = (
        (rows * np.uint64(73856093))
        ^ (cols * np.uint64(19349663))
        ^ np.uint64(pair * 83492791 + seed * 2654435761)
    )
    h = (h * np.uint64(0x9E3779B1)) & np.uint64(0xFFFFFFFF)
    return ((h >> np.uint64(11)) % np.uint64(k)).astype(np.int8)


def _lgb_train(
    X: np.ndarray,
    y: np.ndarray,
    params: dict,
    seed: int,
    num_threads: int,
    names: Sequence[str],
    categorical: Sequence[int] = (),
    valid: tuple[np.ndarray, np.ndarray] | None = None,
) -> Any:
    """A LightGBM booster; with *valid* (X, y) training stops once the validation log loss has
    not improved for :data:`EARLY_STOPPING` rounds (the booster keeps its best iteration)."""
    import lightgbm as lgb

    p = {
        **params,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": num_threads,
        "verbosity": -1,
    }
    ds = lgb.Dataset(
        X,
        label=y,
        feature_name=list(names),
        categorical_feature=list(categorical) or "auto",
        free_raw_data=True,
        params={"verbosity": -1},
    )
    if valid is None:
        return lgb.train(p, ds)
    vs = lgb.Dataset(valid[0], label=valid[1], reference=ds, params={"verbosity": -1})
    stop = lgb.early_stopping(EARLY_STOPPING, first_metric_only=True, verbose=False)
    # log loss: on the OSCD cities' inner folds it gave better out-of-fold pixel and object F1
    # than average precision (a ranking metric)
    return lgb.train({**p, "metric": "binary_logloss"}, ds, valid_sets=[vs], callbacks=[stop])
