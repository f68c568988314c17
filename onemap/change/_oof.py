"""The out-of-fold pass of training (:func:`onemap.change.train.train_change_model`): each
validation pair's probability and patch channels from the fold model that did not see it, the
pooled counts the pixel threshold is chosen on, and the bounds that keep the pass in memory.

The pass keeps each validation pair's channels whole, about :data:`OOF_BYTES_PER_PIXEL` bytes a
pixel at its peak. Training sets of more than :data:`VALIDATION_PIXELS` pixels are validated on
a seeded subset of whole pairs up to that many pixels, or a window of a pair larger than that
(:func:`validation_parts`; a threshold and a patch model are learnt as well from 67 million
pixels as from more: a folder of ten thousand crops or a 20 000² county then fits in a few
GiB); the pixel and screen models still learn from the balanced sample of every pair.
Validation parts that would not fit in the memory available are refused before the work
(:func:`check_memory`), with the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import Fix
from . import _patch_stage as P
from ._labels import TrainingDataError
from ._learner import _folds
from .features import FeaturePlan
from .model import ChangeModel

# the out-of-fold pass's peak memory per pixel of the training pairs (county, 8 000²:
# benchmarks/README.md, "Training at county scale")
OOF_BYTES_PER_PIXEL = 40
COUNT_ROWS = 1024  # rows of a pair's probability counted at once
# pixels of the training pairs validated out of fold at most (~2.6 GiB at the bytes above)
VALIDATION_PIXELS = 1 << 26
WINDOW = 512  # the feature windows of the pass (FeaturePlan.windows)

# pixel thresholds tried on the out-of-fold validation: steps of 0.05, and finer in odds towards
# both ends -- the balanced sample (as many changed as unchanged pixels) raises the probability
# of the rare class, so where change is rare the best threshold can lie above 0.9
THRESHOLDS = np.round(
    np.concatenate([[0.01, 0.02, 0.03], np.arange(0.05, 0.951, 0.05), [0.97, 0.98, 0.99]]), 2
)


@dataclass(frozen=True)
class Part:
    """What the out-of-fold pass validates of pair *pair*: rows ``r0:r1``, columns ``c0:c1``
    (the whole pair, or a window of one too large for the budget)."""

    pair: int
    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def pixels(self) -> int:
        return (self.r1 - self.r0) * (self.c1 - self.c0)

    @property
    def rows(self) -> slice:
        return slice(self.r0, self.r1)

    @property
    def cols(self) -> slice:
        return slice(self.c0, self.c1)

    def whole(self, shape: tuple[int, int]) -> bool:
        """Whether the part is the whole of its pair (of *shape*)."""
        return self.pixels == shape[0] * shape[1]


def validation_parts(shapes: Sequence[tuple[int, int]], seed: int,
                     budget: int = VALIDATION_PIXELS, grid: int = WINDOW) -> list[Part]:
    """What the out-of-fold pass validates on, by pair (ascending): every pair whole while
    their pixels fit *budget*; else whole pairs in a seeded random order, each taken while it
    still fits; and when none fits whole, a window of the first pair in that order of at most
    *budget* pixels (on the *grid* of the pair's feature windows, at a seeded place; at least
    one grid cell). The same inputs give the same parts on any machine.

    Examples
    --------
    >>> [p.pair for p in validation_parts([(10, 10)] * 4, seed=0, budget=1000)]
    [0, 1, 2, 3]
    >>> len(validation_parts([(10, 10)] * 40, seed=0, budget=1000))
    10
    >>> part = validation_parts([(20_000, 20_000)], seed=0, budget=1 << 26)[0]
    >>> part.r1 - part.r0, part.c1 - part.c0, part.r0 % 512, part.c0 % 512
    (8192, 8192, 0, 0)
    """
    shapes = [(int(h), int(w)) for h, w in shapes]
    if sum(h * w for h, w in shapes) <= budget:
        return [Part(k, 0, h, 0, w) for k, (h, w) in enumerate(shapes)]
    rng = np.random.default_rng([seed, 0x5EED])
    order = [int(k) for k in rng.permutation(len(shapes))]
    chosen: list[Part] = []
    total = 0
    for k in order:
        h, w = shapes[k]
        if total + h * w <= budget:
            chosen.append(Part(k, 0, h, 0, w))
            total += h * w
    if not chosen:  # every pair is larger than the budget: a window of one
        k = order[0]
        h, w = shapes[k]
        side = max(grid, math.isqrt(budget) // grid * grid)
        rows = min(h, side)
        cols = min(w, max(grid, budget // rows // grid * grid))
        r0 = grid * int(rng.integers(0, (h - rows) // grid + 1))
        c0 = grid * int(rng.integers(0, (w - cols) // grid + 1))
        chosen.append(Part(k, r0, min(r0 + rows, h), c0, min(c0 + cols, w)))
    return sorted(chosen, key=lambda p: p.pair)


def threshold_counts(probs: Iterable[np.ndarray], labels: list[np.ndarray]) -> np.ndarray:
    """``(len(THRESHOLDS), 3)`` pooled (tp, fp, fn) of ``probability >= threshold`` (*probs*
    one pair at a time: an iterator holds one in memory), by strips of rows."""
    hist = np.zeros((2, len(THRESHOLDS) + 1), np.int64)  # [unchanged, changed] x thresholds met
    for pr_all, lab in zip(probs, labels, strict=True):
        for r0 in range(0, lab.shape[0], COUNT_ROWS):
            strip = lab[r0:r0 + COUNT_ROWS]
            known = strip >= 0
            pr, change = pr_all[r0:r0 + COUNT_ROWS][known], strip[known] == 1
            met = np.searchsorted(THRESHOLDS, pr, side="right")  # thresholds <= p
            met[np.isnan(pr)] = 0  # NaN meets none (searchsorted puts it past the end)
            for c in (0, 1):
                hist[c] += np.bincount(met[change == bool(c)], minlength=len(THRESHOLDS) + 1)
    at_least = hist[:, ::-1].cumsum(axis=1)[:, ::-1][:, 1:]  # pixels with p >= each threshold
    tp, fp = at_least[1], at_least[0]
    return np.stack([tp, fp, hist[1].sum() - tp], axis=1).astype(np.float64)


def check_memory(parts: Sequence[Part], names: Sequence[str]) -> None:
    """Refuse, before hours of work, validation parts (of the pairs *names*) whose out-of-fold
    pass cannot fit in the memory available (it keeps their probability and patch channels
    whole)."""
    import psutil

    pixels = sum(p.pixels for p in parts)
    need, have = pixels * OOF_BYTES_PER_PIXEL, psutil.virtual_memory().available
    if need > have:
        raise TrainingDataError(
            f"the out-of-fold validation of {', '.join(names)} "
            f"({pixels / 1e6:.1f} million pixels) needs about {need / 2**30:.1f} GiB of memory; "
            f"{have / 2**30:.1f} GiB is available",
            hint=Fix(
                "pass a smaller validation_pixels= (the pixels validated out of fold), train on "
                "windows of the pairs (e.g. onemap.align(scene, "
                "scene.onemap.frame.crop((xmin, ymin, xmax, ymax))) for both dates: still read "
                "from the files), or train on a machine with more memory",
                toml="set a smaller validation_pixels in [train], set bounds = [xmin, ymin, "
                "xmax, ymax] (the scenes' CRS) in each [[pair]] to train on a window of it, or "
                "train on a machine with more memory",
            ),
        )


def oof_channels(
    models,
    plan: FeaturePlan,
    part: Part,
    seed: int,
    folds: int,
    header: dict,
    num_threads: int,
    cache: dict | None = None,
    screens: list | None = None,
    scols: list[int] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Out-of-fold probability (each pixel from the model that did not see its block) + channels
    of the *part* of the pair *plan*, and with *screens* (fold screen models on feature columns
    *scols*) the out-of-fold screen probability (NaN where the probability is)."""
    tiles = [ChangeModel(header, m.model_to_string()).pixel_tile(num_threads) for m in models]

    def fn_window(r0, r1, c0, c1, feats):
        fold = _folds(
            plan.frame.shape,
            r0,
            r1,
            c0,
            c1,
            part.pair,
            seed,
            folds,
            header["parameters"]["folds_by"] == "pair",
        )
        out = np.full((len(P.CHANNELS) + 1,) + fold.shape, np.nan, np.float32)
        for i in np.unique(fold):  # each pixel from the model that did not see its fold
            sel = fold == i
            out[:-1, sel] = tiles[i](feats[:, sel][:, None, :])[:, 0, :]
            if screens is not None:
                Xs = np.ascontiguousarray(feats[scols][:, sel].T)
                ok = np.isfinite(out[0, sel])
                sp = np.full(Xs.shape[0], np.nan, np.float32)
                if ok.any():
                    sp[ok] = screens[i].predict(Xs[ok], num_threads=num_threads)
                out[-1, sel] = sp
        return out

    shape = (part.r1 - part.r0, part.c1 - part.c0)
    out = np.empty((len(P.CHANNELS),) + shape, np.float32)
    scr = None if screens is None else np.empty(shape, np.float32)
    for r0, r1, c0, c1 in plan.windows(WINDOW):
        if not (part.r0 <= r0 and r1 <= part.r1 and part.c0 <= c0 and c1 <= part.c1):
            continue  # the part is on the windows' grid: a window is in it or out of it
        feats = cache.pop((part.pair, r0, c0)) if cache else plan.window(r0, r1, c0, c1)
        res = fn_window(r0, r1, c0, c1, feats)
        at = np.s_[r0 - part.r0:r1 - part.r0, c0 - part.c0:c1 - part.c0]
        out[(slice(None), *at)] = res[:-1]
        if scr is not None:
            scr[at] = res[-1]
    return out, scr
