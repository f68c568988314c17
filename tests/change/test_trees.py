"""The numba tree evaluator against LightGBM's own Booster.predict (the oracle)."""

from __future__ import annotations

import re

import lightgbm as lgb
import numpy as np
import pytest
import xarray as xr

from onemap import Frame
from onemap.change.features import FeaturePlan
from onemap.change.model import ChangeModel
from onemap.change.train import train_change_model
from onemap.change.trees import Ensemble, FeatureMatrixError, UnsupportedModelError
from onemap.errors import DataError, FormatError, OnemapError

TOL = 1e-12  # same leaves, same order: only the sigmoid's last bit may differ


def _training(seed: int = 0, n: int = 4000, k: int = 6):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, k))
    X[rng.random((n, k)) < 0.1] = np.nan
    X[rng.random((n, k)) < 0.1] = 0.0
    X[:, 3] = np.round(X[:, 3])  # few distinct values: thresholds between integers
    X[:, 5] = rng.normal(size=n)  # no NaN: missing type None with default missing handling
    z = X[:, 5] + np.nan_to_num(X[:, 0]) + np.where(np.isnan(X[:, 1]), 1.0, X[:, 1])
    z += X[:, 2] == 0
    y = z + rng.normal(0, 0.5, n) > 0.5
    return X.astype(np.float32), y


def _train(params: dict, X=None, y=None, rounds: int = 30) -> lgb.Booster:
    if X is None:
        X, y = _training()
    p = {"objective": "binary", "num_leaves": 15, "verbosity": -1, "min_data_in_leaf": 5, **params}
    return lgb.train(p, lgb.Dataset(X, y), num_boost_round=rounds)


def _hard_rows(ens: Ensemble, k: int, seed: int = 1, dtype=np.float32) -> np.ndarray:
    """Random rows with NaN, exact and tiny zeros, infinities and values at every threshold
    (as the dtype rounds it) and one step either side."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(6000, k)).astype(dtype)
    special = np.array([np.nan, 0.0, -0.0, 1e-36, -1e-36, 1e-30, 1e-45, np.inf, -np.inf], dtype)
    hit = rng.random(X.shape) < 0.15
    X[hit] = rng.choice(special, hit.sum())
    rows = rng.integers(0, len(X), ens.feat.size * 3)
    for j, (f, t) in enumerate(zip(ens.feat, ens.thr, strict=True)):
        at = dtype(t)
        below, above = np.nextafter(at, dtype(-np.inf)), np.nextafter(at, dtype(np.inf))
        for s, v in enumerate((at, below, above)):
            X[rows[3 * j + s], f] = v
    return X


def _check(booster: lgb.Booster, X: np.ndarray) -> Ensemble:
    """Same as LightGBM on X and on its rows free of NaN and zeros (which the kernel walks in
    groups without the per-row missing-value path)."""
    ens = Ensemble.from_booster(booster)
    clean = ~(np.isnan(X) | (np.abs(X) <= 1e-35)).any(axis=1)
    for x in (X, X[clean], X[clean][:8 * (clean.sum() // 8) + 3]):
        want = booster.predict(x, num_threads=1)
        np.testing.assert_array_equal(ens.raw(x),
                                      booster.predict(x, raw_score=True, num_threads=1))
        assert np.abs(ens.predict(x) - want).max() <= TOL
    assert clean.sum() > 500
    return ens


def _missing_types(booster: lgb.Booster) -> set[str]:
    def walk(node):
        if "split_index" in node:
            yield node["missing_type"]
            yield from walk(node["left_child"])
            yield from walk(node["right_child"])

    return {m for t in booster.dump_model()["tree_info"] for m in walk(t["tree_structure"])}


@pytest.mark.parametrize(
    "params, missing",
    [({}, {"NaN", "None"}), ({"use_missing": False}, {"None"}), ({"zero_as_missing": True},
                                                                {"Zero"})],
    ids=["nan-missing", "no-missing", "zero-as-missing"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_as_lightgbm(params, missing, dtype):
    booster = _train(params)
    assert _missing_types(booster) == missing
    _check(booster, _hard_rows(Ensemble.from_booster(booster), 6, dtype=dtype))


def test_every_missing_type_and_direction_is_exercised():
    kinds = set()
    for params in ({}, {"use_missing": False}, {"zero_as_missing": True}):
        dec = Ensemble.from_booster(_train(params)).flags
        kinds |= {int(v) for v in np.unique(dec)}
    # NaN-left, zero-missing and default-left bits all occur in both states
    for bit in (1, 2, 4):
        assert any(v & bit for v in kinds) and any(not v & bit for v in kinds)


def test_constant_trees_and_sigmoid_parameter():
    X, y = _training(2)
    one_leaf = _train({"min_data_in_leaf": 10_000}, X, y, rounds=3)  # trees without splits
    ens = _check(one_leaf, X)
    assert (ens.depth == 0).all() and ens.n_leaves == ens.n_trees >= 1
    _check(_train({"sigmoid": 0.4}, X, y), _hard_rows(Ensemble.from_booster(one_leaf), 6))


def test_predict_at_reads_a_strided_stack():
    booster = _train({})
    ens = Ensemble.from_booster(booster)
    X = _hard_rows(ens, 6)[:4900]
    F = np.ascontiguousarray(X.T.reshape(6, 70, 70))
    F = np.pad(F, ((0, 0), (3, 3), (5, 5)))[:, 3:-3, 5:-5]  # a sliced view, as predict.py has
    mask = np.random.default_rng(3).random((70, 70)) < 0.4
    rr, cc = np.nonzero(mask)
    want = booster.predict(np.ascontiguousarray(F[:, rr, cc].T), num_threads=1)
    assert np.abs(ens.predict_at(F, rr, cc) - want).max() <= TOL
    assert ens.predict_at(F, rr[:0], cc[:0]).shape == (0,)
    with pytest.raises(FeatureMatrixError, match="outside"):
        ens.predict_at(F, rr + 70, cc)
    with pytest.raises(FeatureMatrixError, match=r"\(6, rows, cols\)"):
        ens.predict_at(F[:5], rr, cc)


@pytest.mark.parametrize("params", [{}, {"zero_as_missing": True}, {"sigmoid": 0.4}])
def test_predict_at_least_a_level_stops_early_and_keeps_the_decision(params):
    """With at_least, which pixels reach the level is exactly as without it (levels at and a
    hair either side of some pixels' own probabilities), and most pixels far below it stop
    before the last tree (probability 0)."""
    booster = _train(params, rounds=60)
    ens = Ensemble.from_booster(booster)
    X = _hard_rows(ens, 6)
    F, rr, cc = X.T[:, :, None], np.arange(len(X)), np.zeros(len(X), np.int64)
    full = ens.predict_at(F, rr, cc)
    qs = np.quantile(full, [0.3, 0.6, 0.9])
    for level in [0.0, 1.0, *qs, *np.nextafter(qs, 0), *np.nextafter(qs, 1), *full[:20]]:
        got = ens.predict_at(F, rr, cc, at_least=level)
        np.testing.assert_array_equal(ens.predict(X, at_least=level), got)  # rows: the same
        np.testing.assert_array_equal(got >= level, full >= level)
        np.testing.assert_array_equal(got[full >= level], full[full >= level])
        assert ((got == full) | (got == 0)).all()
    got = ens.predict_at(F, rr, cc, at_least=qs[2])
    assert (got[full < qs[0]] == 0).mean() > 0.3  # walked fewer trees (groups of 8 rows)


def test_trained_change_model():
    f = Frame.from_bounds((0, 0, 256, 256), res=2, crs=32650)
    rng = np.random.default_rng(0)
    veg = np.array([300, 600, 400, 3500.0])[:, None, None] * rng.normal(1, 0.05, (4, 128, 128))
    new = veg * 1.1 + rng.normal(0, 20, veg.shape)
    truth = np.zeros((128, 128), bool)
    for r in range(12, 128, 40):
        for c in range(20, 128, 40):
            new[:, r : r + 8, c : c + 9] = np.array([2400, 2500, 2600, 2800.0])[:, None, None]
            truth[r : r + 8, c : c + 9] = True
    new[:, :4, :] = 0  # nodata: NaN features at the edge

    def mk(a):
        return xr.DataArray(a.astype("uint16"), dims=("band", "y", "x"), attrs={"nodata": 0},
                            coords={"band": ["blue", "green", "red", "nir"], **f.coords()}
                            ).rio.write_crs(f.crs)

    model = train_change_model([(mk(veg), mk(new), truth)], samples_per_class=500,
                               params={"num_iterations": 25})
    feats = np.asarray(FeaturePlan(mk(veg), mk(new)).compute())
    X = np.ascontiguousarray(feats.reshape(len(feats), -1).T)
    assert np.isnan(X).any() and (X == 0).any()
    booster = model.booster("pixel")
    ens = model.ensemble("pixel")
    assert ens is model.ensemble("pixel")  # cached
    assert list(ens.feature_names) == list(model.header["features"])
    want = booster.predict(X, num_threads=1)
    assert np.abs(ens.predict(X) - want).max() <= TOL
    rr, cc = np.nonzero(np.ones(feats.shape[1:], bool))
    assert np.abs(ens.predict_at(feats, rr, cc) - want).max() <= TOL
    with pytest.raises(DataError, match="'pixel', 'patch' and 'screen'"):
        model.ensemble("pixels")


def test_refuses_what_it_cannot_evaluate():
    X, y = _training(4)
    X[:, 3] = np.arange(len(X)) % 5
    y = np.isin(X[:, 3], [1, 3]) ^ (X[:, 5] > 1.5)
    cat = lgb.train({"objective": "binary", "verbosity": -1, "num_leaves": 7},
                    lgb.Dataset(X, y, categorical_feature=[3]), num_boost_round=5)
    with pytest.raises(UnsupportedModelError, match="categorical"):
        Ensemble.from_text(cat.model_to_string())
    reg = lgb.train({"objective": "regression", "verbosity": -1}, lgb.Dataset(X, y.astype(float)),
                    num_boost_round=2)
    with pytest.raises(UnsupportedModelError, match="regression"):
        Ensemble.from_text(reg.model_to_string())
    lin = lgb.train({"objective": "binary", "verbosity": -1, "linear_tree": True},
                    lgb.Dataset(np.nan_to_num(X), y), num_boost_round=2)
    with pytest.raises(UnsupportedModelError, match="linear"):
        Ensemble.from_text(lin.model_to_string())
    with pytest.raises(OnemapError, match="not a LightGBM model"):
        Ensemble.from_text("hello")
    text = _train({}).model_to_string()
    for key, bad in (("split_feature", "6"), ("left_child", "40"), ("threshold", "x")):
        damaged = re.sub(key + r"=\S+", f"{key}={bad}", text, count=1)
        assert damaged != text
        with pytest.raises(FormatError, match="damaged"):  # would read outside the arrays
            Ensemble.from_text(damaged)
    with pytest.raises(UnsupportedModelError, match="categorical"):
        ChangeModel({}, cat.model_to_string()).ensemble("pixel")


def test_wrong_column_count_names_the_fix():
    ens = Ensemble.from_booster(_train({}))
    with pytest.raises(FeatureMatrixError, match=r"\(rows, 6\)") as e:
        ens.predict(np.zeros((10, 5), np.float32))
    assert "Fix:" in str(e.value) and isinstance(e.value, OnemapError)
    with pytest.raises(FeatureMatrixError):
        ens.raw(np.zeros(6, np.float32))
    assert ens.predict(np.zeros((0, 6), np.float32)).shape == (0,)
    ints = np.arange(60).reshape(10, 6)
    b = _train({})
    assert np.abs(ens.predict(ints) - b.predict(ints.astype(np.float64))).max() <= TOL


@pytest.mark.parametrize("params", [{}, {"zero_as_missing": True}])
def test_box_bound_holds_for_every_row_in_the_box_and_is_tight_in_one_cell(params):
    """``bound(lo, hi)`` is at least the raw score of every row in ``(lo, hi]`` (rows drawn
    at the box's own edges and at every threshold inside it) and equals it in a box that no
    threshold cuts."""
    from onemap.change import _tree_kernels as TK

    ens = Ensemble.from_booster(_train(params, rounds=40))
    k = ens.n_features
    X = _hard_rows(ens, k).astype(np.float64)
    X = X[np.isfinite(X).all(axis=1)]
    X[np.abs(X) <= float(np.float32(1e-35))] = 0.0  # as the trees load values
    rng = np.random.default_rng(2)
    raw = ens.raw(X)
    for _ in range(40):
        a, b = np.sort(rng.normal(0, 1.5, (2, k)), axis=0)
        a[rng.random(k) < 0.2], b[rng.random(k) < 0.2] = -np.inf, np.inf
        inside = ((X > a) & (X <= b)).all(axis=1)
        out = np.empty((1, len(X)), bool)
        TK.outside_box(X.T[:, None, :].astype(np.float32), a, b, out)
        # the kernel's test is the float32 value's: the same rows as float64's here
        np.testing.assert_array_equal(~out[0], ((X.astype(np.float32) > a)
                                                & (X.astype(np.float32) <= b)).all(axis=1))
        if inside.any():
            assert raw[inside].max() <= ens.bound(a, b)
    # one cell between thresholds: every row in it walks the same leaves
    cuts = [ens.thresholds(j) for j in range(k)]
    x = X[0]
    lo = np.array([c[c < v].max(initial=-np.inf) for c, v in zip(cuts, x, strict=True)])
    hi = np.array([c[c >= v].min(initial=np.inf) for c, v in zip(cuts, x, strict=True)])
    if not params:  # a zero-as-missing split may go either way with 0 in the cell
        assert ens.bound(lo, hi) == pytest.approx(raw[0], abs=1e-12)
    with pytest.raises(FeatureMatrixError, match="limits"):
        ens.bound(lo[:-1], hi)
