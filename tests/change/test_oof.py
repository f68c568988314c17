"""The out-of-fold pass's bounds: a large training set is validated on a seeded subset of whole
pairs, or on a window of a pair larger than the budget (onemap.change._oof.validation_parts),
and the plans training keeps are light."""

from __future__ import annotations

import numpy as np
import pytest

import xarray as xr

from onemap import Frame, detect_changes
from onemap.change import _oof as oof
from onemap.change import train as T
from onemap.change.features import FeaturePlan
from onemap.change.train import train_change_model
from tests.change.real_data import predicted_mask
from tests.change.test_model import FAST, _scene, make_pair


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_validation_parts_fill_the_budget_with_whole_pairs(seed):
    rng = np.random.default_rng(seed)
    shapes = [tuple(int(v) for v in rng.integers(10, 200, 2)) for _ in range(60)]
    sizes = np.array([h * w for h, w in shapes])
    budget = int(sizes.sum() // 5)
    got = oof.validation_parts(shapes, seed, budget)
    pairs = [p.pair for p in got]
    assert pairs == sorted(set(pairs)) and sum(p.pixels for p in got) <= budget
    assert all((p.r0, p.c0, p.r1, p.c1) == (0, 0, *shapes[p.pair]) for p in got)
    # whole pairs in the seeded order, each taken while it fits: none left out would still fit
    order = np.random.default_rng([seed, 0x5EED]).permutation(len(shapes))
    total, want = 0, []
    for i in order:
        if total + sizes[i] <= budget:
            want.append(int(i))
            total += sizes[i]
    assert pairs == sorted(want)
    assert oof.validation_parts(shapes, seed, budget) == got  # the same on any machine
    assert [p.pair for p in oof.validation_parts(shapes, seed, int(sizes.sum()))] == list(range(60))


@pytest.mark.parametrize("shape", [(5000, 3000), (700, 90_000), (1100, 1100)])
def test_a_pair_larger_than_the_budget_gives_a_window_of_it(shape):
    budget = 1 << 20
    for seed in range(5):
        (part,) = oof.validation_parts([shape, shape], seed, budget)
        h, w = shape
        assert part.pixels <= budget and part.pixels >= min(budget // 4, h * w // 4)
        assert 0 <= part.r0 < part.r1 <= h and 0 <= part.c0 < part.c1 <= w
        assert part.r0 % 512 == part.c0 % 512 == 0
        assert part.r1 % 512 == 0 or part.r1 == h and part.c1 % 512 == 0 or part.c1 == w


def test_training_keeps_no_scene_sample():
    before, after, _, _ = make_pair(0)
    light = FeaturePlan(before, after, keep_sample=False)
    full = FeaturePlan(before, after)
    assert light.sample is None and full.sample is not None
    assert light.sample_hash == full.sample_hash
    np.testing.assert_array_equal(light.compute(), full.compute())


def _spy(monkeypatch):
    seen = []
    real = T.oof_channels

    def spy(models, plan, part, *a, **kw):
        seen.append(part)
        return real(models, plan, part, *a, **kw)

    monkeypatch.setattr(T, "oof_channels", spy)
    return seen


def _f1(model, before=None, after=None, truth=None) -> float:
    if before is None:
        before, after, truth, _ = make_pair(10)
    pred = predicted_mask(detect_changes(before, after, model=model), Frame.from_xarray(truth))
    t = truth.values
    tp, fp, fn = (pred & t).sum(), (pred & ~t).sum(), (~pred & t).sum()
    return 2 * tp / (2 * tp + fp + fn)


def test_a_large_set_is_validated_on_a_subset(monkeypatch):
    """Six pairs, a validation budget of three: the out-of-fold pass scores exactly the pairs
    validation_parts chose (each from the fold model that did not see it), the header says how
    many, and the model still learns from all six and finds the roofs of a seventh."""
    seen = _spy(monkeypatch)
    pairs = [make_pair(s)[:3] for s in range(6)]
    budget = 3 * 96 * 96
    model = train_change_model(pairs, samples_per_class=3000, params=FAST,
                               validation_pixels=budget)
    assert seen == oof.validation_parts([(96, 96)] * 6, 0, budget) and len(seen) == 3
    assert model.header["validation"]["pairs"] == 3
    assert model.header["validation"]["pixels"] == budget
    assert len(model.header["training"]) == 6
    assert _f1(model) > 0.8


def _mosaic(n: int, first: int, size: int = 128):
    """One pair of n x n make_pair tiles (6 roofs and 3 harvested fields each), seeds from
    *first* on."""
    tiles = [[make_pair(first + i * n + j, size=size) for j in range(n)] for i in range(n)]
    side = n * size
    frame = Frame.from_bounds((0, 0, side * 2.0, side * 2.0), res=2.0, crs=32650)
    stack = lambda k: np.concatenate(  # noqa: E731
        [np.concatenate([t[k].values for t in row], axis=-1) for row in tiles], axis=-2)
    truth = xr.DataArray(stack(2), dims=("y", "x"), coords=frame.coords()).rio.write_crs(frame.crs)
    return _scene(stack(0), frame), _scene(stack(1), frame, date="2021-01-01"), truth


def test_one_pair_larger_than_the_budget_is_validated_on_a_window(monkeypatch):
    """A 1 152² pair (spatial folds) with a budget of 512²: the pass scores a 512² window of
    it on the feature windows' grid, and the model works (on a scene like its own: the
    scene-wide statistics of a small make_pair differ)."""
    seen = _spy(monkeypatch)
    before, after, truth = _mosaic(9, first=100)
    model = train_change_model([(before, after, truth)], samples_per_class=3000, params=FAST,
                               validation_pixels=512 * 512)
    (part,) = seen
    assert (part.r1 - part.r0, part.c1 - part.c0) == (512, 512)
    assert model.header["validation"]["pixels"] == 512 * 512
    assert model.header["parameters"]["folds_by"] == "block"
    assert _f1(model, *_mosaic(3, first=0)) > 0.8  # another mosaic: scenes alike
