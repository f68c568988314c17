"""The learned pre-screen (onemap.change._screen): its channels, its level, its use."""

from __future__ import annotations

import numpy as np
import pytest

from onemap.change import _screen as S
from onemap.change.features import FeaturePlan, _as_float
from tests.change.test_model import make_pair


def _bands(plan):
    b1 = _as_float(np.asarray(plan.before.values), plan.nodata1)
    b2 = _as_float(np.asarray(plan.after.values), plan.nodata2)
    return b1, b2


@pytest.mark.parametrize("nodata_date", [0, 1])
def test_screen_channels_are_the_feature_columns(nodata_date):
    before, after, _, _ = make_pair(4)
    plan = FeaturePlan(before, after)
    b1, b2 = _bands(plan)
    (b1, b2)[nodata_date][2, 3, 5] = np.nan  # nodata in one band of one date
    screen = S.screen_block(plan, b1, b2)
    feats = plan.block(b1, b2)
    names = S.screen_names(plan.bands)
    assert screen.shape == (len(names),) + b1.shape[1:]
    cols = feats[[plan.names.index(n) for n in names]]
    np.testing.assert_array_equal(screen, cols)  # bit for bit
    assert np.isnan(screen[:, 3, 5]).all() and np.isfinite(screen[:, 4, 5]).all()


def _oracle(screen, hit, keep):
    """Highest level among every candidate (the values themselves and 0) that keeps >= keep."""
    s = screen[hit]
    if not s.size:
        return 0.0
    ok = [v for v in np.unique(np.concatenate([s, [0.0]])) if (s >= v).sum() / s.size >= keep]
    return float(max(ok))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("keep", [0.99, 0.9, 0.5, 1.0])
def test_level_matches_brute_force(seed, keep):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    screen = rng.random(n)
    if seed % 2:  # ties
        screen = np.round(screen, 1)
    hit = rng.random(n) < 0.6
    level = S.choose_level(screen, hit, keep)
    assert level == _oracle(screen, hit, keep)
    if hit.any():
        assert (screen[hit] >= level).mean() >= keep


def test_level_without_hits_keeps_everything():
    assert S.choose_level(np.array([0.3, 0.9]), np.array([False, False])) == 0.0


def test_validation_figures_against_direct_counts():
    rng = np.random.default_rng(3)
    prob = rng.random((40, 50)).astype(np.float32)
    lab = (rng.random((40, 50)) < 0.3).astype(np.int8)
    lab[:3] = -1  # unknown
    prob[5, 5] = np.nan
    screen = np.clip(prob + rng.normal(0, 0.2, prob.shape), 0, 1).astype(np.float32)
    screen[5, 5] = np.nan
    v = S.screen_validation([prob], [screen], [lab], 0.5, ["cva"], keep=0.9)
    hit = (lab == 1) & (prob >= 0.5)
    assert v["level"] == S.choose_level(screen[hit], np.ones(hit.sum(), bool), 0.9)
    ok = np.isfinite(prob)
    assert v["oof_pixels_kept"] == round(float((screen[ok] >= v["level"]).mean()), 4)
    known = ok & (lab >= 0)
    t = lab == 1
    r0 = (hit & known).sum() / (t & known).sum()
    det = hit & (screen >= v["level"])
    r1 = det.sum() / (t & known).sum()
    p1 = det.sum() / ((prob >= 0.5) & (screen >= v["level"]) & known).sum()
    assert v["oof_recall_cost"] == round(r0 - r1, 4) and 0 < v["oof_recall_cost"] <= 0.1 + 1e-4
    assert v["oof_f1_with_screen"] == round(2 * p1 * r1 / (p1 + r1), 4)
