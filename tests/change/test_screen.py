"""The learned pre-screen (onemap.change._screen): its channels, its level, its use."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from onemap import detect_changes
from onemap.change import _screen as S
from onemap.change import predict as PR
from onemap.change.features import FeaturePlan, _as_float
from onemap.change.model import ChangeModel, ModelFileError, detect_with_model, load_model
from tests.change.test_model import (
    make_pair,
    trained,  # noqa: F401 - the module's fixture
)


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
    # the one-pass walk gathers the same channels: every valid pixel without a box, those
    # outside it with one (here: a box around the median pixel's channels)
    h, w = b1.shape[1:]
    bufs = (np.empty((h * w, len(names)), np.float32), np.empty(h * w, np.int64),
            np.empty(h * w, np.int64))
    valid = np.empty((h, w), bool)
    mid = np.nanmedian(screen.reshape(len(names), -1), axis=1)
    for box in (None, (mid - 1.0, mid + 1.0)):
        n = S.screen_walk(plan, b1, b2, box, valid, bufs)
        np.testing.assert_array_equal(valid, np.isfinite(screen).all(axis=0))
        out = np.ones((h, w), bool)
        if box is not None:
            out = ((screen <= box[0][:, None, None]) | (screen > box[1][:, None, None])).any(0)
        rr, cc = np.nonzero(valid & out)
        assert n == rr.size and (box is None or 0 < n < valid.sum())
        np.testing.assert_array_equal(bufs[1][:n], rr)
        np.testing.assert_array_equal(bufs[2][:n], cc)
        np.testing.assert_array_equal(bufs[0][:n], screen[:, rr, cc].T)  # bit for bit


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


# -- with a trained model --------------------------------------------------------------------


def _prob(model, plan, prescreen, tile):
    out = PR.PixelTiles(plan.frame, tile)
    PR.pixel_stage(model, plan, out, prescreen=prescreen)
    prob = np.zeros(plan.frame.shape, np.float32)
    for t in out.tiles:
        prob[t.window] = out.prob(t)
    return prob


def _screen_prob(model, plan):
    b1, b2 = _bands(plan)
    ch = S.screen_block(plan, b1, b2)
    X = ch.reshape(len(ch), -1).T
    return model.booster("screen").predict(X).reshape(plan.frame.shape)


def test_header_records_the_screen(trained, tmp_path):  # noqa: F811
    sc = trained.screen
    assert sc["features"] == S.screen_names(trained.header["bands"]) and sc["keep"] == 0.99
    assert 0 < sc["level"] < 1 and 0 < sc["oof_pixels_kept"] < 1
    assert 0 <= sc["oof_recall_cost"] <= 0.01 + 1e-4 and 0 < sc["oof_f1_with_screen"] <= 1
    back = load_model(trained.save(tmp_path / "m.json"))
    assert back.to_json() == trained.to_json() and back.screen == sc
    assert back.booster("screen").num_trees() == S.SCREEN_PARAMS["num_iterations"]


def _keeping_all(model, plan):
    """The model with its screen level lowered (if needed) to keep every pixel it detects."""
    full = _prob(model, plan, 0, 48)
    sp = _screen_prob(model, plan)
    det = full >= np.float32(np.float16(model.threshold))
    level = min(model.screen["level"], float(sp[det].min()))
    header = copy.deepcopy(model.header)
    header["screen"]["level"] = level
    return (
        ChangeModel(header, model.pixel_model, model.patch_model, screen_model=model.screen_model),
        full,
        sp >= level,
    )


def test_screen_keeping_all_detections_gives_the_same_patches(trained):  # noqa: F811
    before, after, _, _ = make_pair(12)
    plan = FeaturePlan(before, after)
    model, full, kept = _keeping_all(trained, plan)
    assert 0.005 < kept.mean() < 0.5  # the screen scores far fewer pixels
    screened = _prob(model, plan, None, 40)
    np.testing.assert_array_equal(screened[kept], full[kept])  # the same bits where scored
    assert (screened[~kept] == 0).all()  # elsewhere 0, the model not run
    on = detect_with_model(before, after, model)
    off = detect_with_model(before, after, model, prescreen=0)
    assert on.attrs["prescreen"] == "learned" and off.attrs["prescreen"] == "off"
    assert on.attrs["screen_level"] == model.screen["level"]
    assert len(on) == len(off) > 0 and on.geometry.equals(off.geometry)
    np.testing.assert_array_equal(on.probability.values, off.probability.values)


def test_screen_is_tiling_independent(trained):  # noqa: F811
    before, after, _, _ = make_pair(13, size=128)
    plan = FeaturePlan(before, after)
    np.testing.assert_array_equal(_prob(trained, plan, None, 128), _prob(trained, plan, None, 36))
    whole = detect_with_model(before, after, trained)
    tiled = detect_with_model(
        before.chunk({"y": 40, "x": 50}), after.chunk({"y": 40, "x": 50}), trained
    )
    assert whole.attrs["prescreen"] == "learned" and len(whole) > 0
    assert whole.geometry.equals(tiled.geometry)
    np.testing.assert_array_equal(whole.probability.values, tiled.probability.values)


def test_model_file_without_a_screen(trained, tmp_path):  # noqa: F811
    doc = json.loads(trained.to_json())
    for key in ("screen", "screen_model", "screen_model_sha256"):
        doc.pop(key)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(doc))
    old = load_model(path)
    assert old.screen is None and old.screen_model is None
    before, after, _, _ = make_pair(11)
    a = detect_with_model(before, after, old)  # no screen: every pixel scored
    b = detect_with_model(before, after, trained, prescreen=0)
    assert a.attrs["prescreen"] == "off" and a.attrs["screen_level"] is None
    assert len(a) > 0 and a.geometry.equals(b.geometry)
    np.testing.assert_array_equal(a.probability.values, b.probability.values)
    doc["screen_model"] = trained.screen_model  # a screen model without its header entry
    path.write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="screen"):
        load_model(path)


def test_prescreen_values(trained):  # noqa: F811
    from onemap.errors import DataError

    assert S.resolve_prescreen(trained, None) == ("learned", trained.screen["level"])
    assert S.resolve_prescreen(trained, 0) == ("off", 0.0)
    assert S.resolve_prescreen(trained, 1.5) == ("cva", 1.5)
    for bad in (-1, float("nan"), "fast", True):
        with pytest.raises(DataError, match="prescreen"):
            S.resolve_prescreen(trained, bad)
    before, after, _, _ = make_pair(11)
    p = detect_changes(before, after, model=trained, prescreen=2.0)
    assert p.attrs["prescreen"] == 2.0
    keys = {PR.store_key(trained, FeaturePlan(before, after), v, 64) for v in (None, 0, 2.0)}
    assert len(keys) == 3  # the store knows what screen made its tiles


def test_survey_prescreen_key(tmp_path, trained):  # noqa: F811
    from onemap.config import load_config
    from onemap.errors import ConfigError
    from tests.test_config import GOOD, write

    for name in ("before.tif", "after.tif", "dltb.gpkg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "txt").mkdir()
    trained.save(tmp_path / "m.json")
    with_model = GOOD.replace("threshold = 0.3", 'threshold = 0.3\nmodel = "m.json"')
    assert load_config(write(tmp_path, with_model)).detect_prescreen is None
    text = with_model.replace('model = "m.json"', 'model = "m.json"\nprescreen = 0')
    assert load_config(write(tmp_path, text)).detect_prescreen == 0
    for bad in ("-1", '"fast"'):
        text = with_model.replace('model = "m.json"', f'model = "m.json"\nprescreen = {bad}')
        with pytest.raises(ConfigError, match=r"\[detect\] prescreen"):
            load_config(write(tmp_path, text))
    text = GOOD.replace("threshold = 0.3", "threshold = 0.3\nprescreen = 1.0")
    with pytest.raises(ConfigError, match=r"\[detect\] prescreen.*model"):
        load_config(write(tmp_path, text))
