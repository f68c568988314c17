"""Object-level threshold selection of the trained detector against a brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from onemap.change import _objects as O
from onemap.change import _patch_stage as P
from onemap.change.train import select_thresholds


def _scene(seed: int, size: int = 48):
    """A smooth probability map, labels with change blobs and an ignored corner."""
    rng = np.random.default_rng(seed)
    prob = ndimage.gaussian_filter(rng.random((size, size)), 1.5)
    prob = (prob - prob.min()) / (prob.max() - prob.min())
    labels = np.zeros((size, size), np.int8)
    for _ in range(6):
        r, c, h, w = *rng.integers(0, size - 8, 2), *rng.integers(1, 8, 2)
        labels[r : r + h, c : c + w] = 1
    labels[: size // 5, : size // 5] = -1
    return prob, labels


def _oracle(prob, labels, thr, patch_prob, pt):
    """Leads, real leads, sites, found sites, tp / kept / changed pixels -- one patch at a time."""
    cand, n = ndimage.label(prob >= thr, structure=np.ones((3, 3), bool))
    sites, nsites = ndimage.label(labels == 1, structure=np.ones((3, 3), bool))
    kept = np.zeros(cand.shape, bool)
    leads = real = tp = kept_px = 0
    for i in range(1, n + 1):
        if patch_prob[i - 1] < pt:
            continue
        m = cand == i
        kept |= m
        lab = labels[m]
        known = (lab >= 0).sum()
        tp += (lab == 1).sum()
        kept_px += known
        if known >= 0.5 * m.sum():
            leads += 1
            real += bool(known) and (lab == 1).sum() / known >= 0.3
    found = sum(kept[sites == j].any() for j in range(1, nsites + 1))
    return np.array([leads, real, nsites, found, tp, kept_px, (labels == 1).sum()], float)


def _f1(a, b):
    return 2 * a * b / (a + b) if a + b else 0.0


@pytest.mark.parametrize(
    ("by", "floor"),
    [
        ("recall_floor", 0.7),
        ("recall_floor", 0.3),
        ("recall_floor", 1.0),
        ("object_f1", 0),
        ("pixel", 0),
    ],
)
def test_selection_matches_brute_force(by, floor):
    scenes = [_scene(s) for s in range(3)]
    grid, patch_grid = (0.4, 0.55, 0.7), (0.0, 0.3, 0.6)
    rng = np.random.default_rng(9)
    cands, probs = {}, {}
    for thr in grid:
        objs, preds = [], []
        for prob, labels in scenes:
            cand, n = P.candidates(prob, thr)
            objs.append(O.patch_objects(cand, n, labels))
            preds.append(rng.random(n))
        cands[thr], probs[thr] = objs, preds
    thr, pt, table = select_thresholds(
        {t: (cands[t], probs[t]) for t in grid}, patch_grid, by=by, min_site_recall=floor
    )
    best, best_key = None, None
    for t in grid:
        for q in patch_grid:
            c = sum(
                _oracle(prob, labels, t, pr, q)
                for (prob, labels), pr in zip(scenes, probs[t], strict=True)
            )
            prec, rec = (c[1] / c[0] if c[0] else 0.0), c[3] / c[2]
            obj = _f1(prec, rec)
            pix = _f1(c[4] / c[5] if c[5] else 0.0, c[4] / c[6])
            assert table[t, q]["lead_precision"] == pytest.approx(prec)
            assert table[t, q]["site_recall"] == pytest.approx(rec)
            assert table[t, q]["object_f1"] == pytest.approx(obj)
            assert table[t, q]["pixel_f1"] == pytest.approx(pix)
            if by == "recall_floor":  # best precision at the recall floor, else the best recall
                meets = rec >= floor - 1e-9
                main = (meets, round(prec if meets else rec, 6))
            else:
                main = (round(obj if by == "object_f1" else pix, 6),)
                main += () if by == "object_f1" else (round(obj, 6),)
            key = (*main, round(pix, 6), -t, -q)
            if best_key is None or key > best_key:
                best, best_key = (t, q), key
    assert (thr, pt) == best


def test_a_lead_is_real_at_30_percent_of_its_labelled_pixels():
    cand = np.zeros((4, 10), np.int32)
    cand[:, :5], cand[:, 5:] = 1, 2
    labels = np.zeros((4, 10), np.int8)
    labels[:, 3:5] = 1  # patch 1: 8 of 20 pixels on change (40 %)
    labels[0, 5] = 1  # patch 2: 1 of its 5 labelled pixels (20 %)
    labels[1:, 5:] = -1  # patch 2 mostly ignored: not counted as a lead
    o = O.patch_objects(cand, 2, labels)
    assert o.real.tolist() == [True, False] and o.counted.tolist() == [True, False]
    assert o.sites == 1 and o.link_patch.tolist() == [0, 1]  # the site touches both patches
    counts = O.object_counts(o, np.array([False, True]))
    assert counts[:4].tolist() == [0, 0, 1, 1]  # found by an uncounted patch, no lead


def test_early_stopping_is_deterministic_and_bounded():
    from onemap.change.train import train_change_model
    from tests.change.test_model import make_pair

    pairs = [make_pair(s, size=64)[:3] for s in (4, 5, 6)]
    kw = {"samples_per_class": 1500, "params": {"num_iterations": 40}, "early_stop": True}
    one, two = train_change_model(pairs, **kw), train_change_model(pairs, **kw)
    assert one.to_json() == two.to_json()
    assert 1 <= one.header["parameters"]["pixel"]["num_iterations"] <= 40


def test_folds_without_both_classes_are_an_error():
    """A scene of few validation blocks whose change all falls in one fold: the fold models
    cannot learn, which used to give out-of-fold F1 = 0 at every threshold, silently."""
    import xarray as xr

    from onemap import Frame
    from onemap.change.train import TrainingDataError, train_change_model

    f = Frame.from_bounds((0, 0, 160, 160), res=2, crs=32650)
    rng = np.random.default_rng(0)
    veg = np.array([300, 600, 400, 3500.0])[:, None, None] * rng.normal(1, 0.05, (4, 80, 80))
    new = veg * 1.1 + rng.normal(0, 20, veg.shape)
    truth = np.zeros((80, 80), bool)
    for r, c in [(8, 8), (8, 50), (40, 20), (50, 58), (28, 36), (64, 6), (66, 40)]:
        new[:, r:r + 8, c:c + 9] = np.array([2400, 2500, 2600, 2800.0])[:, None, None]
        truth[r:r + 8, c:c + 9] = True

    def mk(a):
        return xr.DataArray(a.astype("uint16"), dims=("band", "y", "x"),
                            coords={"band": ["blue", "green", "red", "nir"], **f.coords()}
                            ).rio.write_crs(f.crs)

    with pytest.raises(TrainingDataError, match="validation fold") as caught:
        train_change_model([(mk(veg), mk(new), truth)], samples_per_class=400,
                           params={"num_iterations": 20})
    assert "add labelled pairs" in caught.value.hint


def test_min_pixels_matches_brute_force():
    """The minimum candidate size by object F1, against the one-patch-at-a-time oracle on the
    candidates the oracle keeps (patch probability >= q and at least m pixels)."""
    from onemap.change._patch_training import select_min_pixels

    scenes = [_scene(s) for s in range(3)]
    thr, q, grid = 0.55, 0.3, (0, 2, 3, 5, 9, 30)
    rng = np.random.default_rng(4)
    objs, keeps, sizes, probs = [], [], [], []
    for prob, labels in scenes:
        cand, n = P.candidates(prob, thr)
        objs.append(O.patch_objects(cand, n, labels))
        pr = rng.random(n)
        probs.append(pr)
        keeps.append(pr >= q)
        sizes.append(np.bincount(cand.ravel(), minlength=n + 1)[1:])
    best, table = select_min_pixels(objs, keeps, sizes, grid)
    oracle = {}
    for m in grid:
        c = sum(
            _oracle(prob, labels, thr, np.where(px >= m, pr, -1.0), q)
            for (prob, labels), pr, px in zip(scenes, probs, sizes, strict=True)
        )
        prec, rec = (c[1] / c[0] if c[0] else 0.0), c[3] / c[2]
        oracle[m] = _f1(prec, rec)
        assert table[m]["lead_precision"] == pytest.approx(prec)
        assert table[m]["site_recall"] == pytest.approx(rec)
    top = max(round(v, 6) for v in oracle.values())
    assert best == min(m for m in grid if round(oracle[m], 6) == top)
    assert len({round(v, 6) for v in oracle.values()}) > 1  # the sizes do change the score


def test_min_size_is_learned_recorded_and_applied():
    """A model trained with min_size=True records its minimum size, and detection drops the
    smaller candidates unless told otherwise."""
    from onemap import detect_changes
    from onemap.change.train import train_change_model
    from tests.change.test_model import make_pair

    pairs = [make_pair(s, size=64)[:3] for s in (4, 5, 6)]
    kw = {"samples_per_class": 1500, "params": {"num_iterations": 30}}
    plain = train_change_model(pairs, **kw)
    sized = train_change_model(pairs, min_size=True, **kw)
    v = sized.header["validation"]
    assert plain.header["min_pixels"] == 0 and "min_pixels" not in plain.header["validation"]
    assert sized.header["min_pixels"] == v["min_pixels"]
    assert set(v["objects_by_min_pixels"]) == {"0", "2", "3", "4", "6", "9", "16", "25", "36", "64"}
    before, after = make_pair(7, size=64)[:2]
    forced = detect_changes(before, after, model=sized.__class__(
        {**sized.header, "min_pixels": 30}, sized.pixel_model, sized.patch_model))
    every = detect_changes(before, after, model=sized.__class__(
        {**sized.header, "min_pixels": 0}, sized.pixel_model, sized.patch_model))
    assert (every.pixels < 30).any() and (every.pixels >= 30).any() and (forced.pixels >= 30).all()
    assert set(every[every.pixels >= 30].area_m2) == set(forced.area_m2)
