"""The out-of-fold pass's bounds: a large training set is validated on a seeded subset of whole
pairs (onemap.change._oof.validation_pairs), and the plans training keeps are light."""

from __future__ import annotations

import numpy as np
import pytest

from onemap import detect_changes
from onemap.change import _oof as oof
from onemap.change import train as T
from onemap.change.features import FeaturePlan
from onemap.change.train import train_change_model
from tests.change.real_data import predicted_mask
from tests.change.test_model import FAST, make_pair


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_validation_pairs_fill_the_budget_with_whole_pairs(seed):
    rng = np.random.default_rng(seed)
    shapes = [tuple(int(v) for v in rng.integers(10, 200, 2)) for _ in range(60)]
    sizes = np.array([h * w for h, w in shapes])
    budget = int(sizes.sum() // 5)
    got = oof.validation_pairs(shapes, seed, budget)
    assert got == sorted(set(got)) and sizes[got].sum() <= budget
    # whole pairs in the seeded order, each taken while it fits: none left out would still fit
    order = np.random.default_rng([seed, 0x5EED]).permutation(len(shapes))
    total, want = 0, []
    for i in order:
        if total + sizes[i] <= budget:
            want.append(int(i))
            total += sizes[i]
    assert got == sorted(want)
    assert oof.validation_pairs(shapes, seed, budget) == got  # the same on any machine
    assert oof.validation_pairs(shapes, seed, int(sizes.sum())) == list(range(60))
    one = oof.validation_pairs(shapes, seed, 1)  # every pair is larger: still one
    assert len(one) == 1


def test_training_keeps_no_scene_sample():
    before, after, _, _ = make_pair(0)
    light = FeaturePlan(before, after, keep_sample=False)
    full = FeaturePlan(before, after)
    assert light.sample is None and full.sample is not None
    assert light.sample_hash == full.sample_hash
    np.testing.assert_array_equal(light.compute(), full.compute())


def test_a_large_set_is_validated_on_a_subset(monkeypatch):
    """Six pairs, a validation budget of three: the out-of-fold pass scores exactly the pairs
    validation_pairs chose (each from the fold model that did not see it), the header says how
    many, and the model still learns from all six and finds the roofs of a seventh."""
    pairs = [make_pair(s)[:3] for s in range(6)]
    budget = 3 * 96 * 96
    seen = []
    real = T.oof_channels

    def spy(models, plan, k, *a, **kw):
        seen.append(k)
        return real(models, plan, k, *a, **kw)

    monkeypatch.setattr(T, "oof_channels", spy)
    model = train_change_model(pairs, samples_per_class=3000, params=FAST,
                               validation_pixels=budget)
    assert seen == oof.validation_pairs([(96, 96)] * 6, 0, budget) and len(seen) == 3
    assert model.header["validation"]["pairs"] == 3
    assert len(model.header["training"]) == 6
    before, after, truth, frame = make_pair(10)
    pred = predicted_mask(detect_changes(before, after, model=model), frame)
    t = truth.values
    tp, fp, fn = (pred & t).sum(), (pred & ~t).sum(), (~pred & t).sum()
    assert 2 * tp / (2 * tp + fp + fn) > 0.8
