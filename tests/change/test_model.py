"""The trained change detector: training, the model file, prediction, bad input, real data."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
import xarray as xr

from onemap import Frame, detect_changes
from onemap.change.features import FEATURE_SET
from onemap.change.model import (
    ModelFileError,
    ModelMismatchError,
    detect_with_model,
    load_model,
)
from onemap.change.train import LabelledPair, TrainingDataError, train_change_model
from onemap.errors import CRSError, DataError, FrameError, OnemapError

BANDS = ("blue", "green", "red", "nir")
FAST = {"num_iterations": 40}


def _scene(a, frame, bands=BANDS, date="2020-01-01"):
    da = xr.DataArray(
        a,
        dims=("band", "y", "x"),
        coords={"band": list(bands), **frame.coords()},
        attrs={"date": date, "nodata": 0},
    )
    return da.rio.write_crs(frame.crs)


def make_pair(seed: int, size: int = 96, res: float = 2.0, crs=32650):
    """Fields (vegetation, some harvested to soil) with new roofs at date 2; truth = roofs."""
    rng = np.random.default_rng(seed)
    frame = Frame.from_bounds((0, 0, size * res, size * res), res=res, crs=crs)
    veg = np.array([300, 600, 400, 3500.0])[:, None, None]
    soil = np.array([900, 1200, 1500, 2200.0])[:, None, None]
    roof = np.array([2400, 2500, 2600, 2800.0])[:, None, None]
    a = veg * rng.normal(1, 0.05, (4, size, size))
    b = a * 1.1 + 30 + rng.normal(0, 20, a.shape)
    truth = np.zeros((size, size), bool)
    for _ in range(6):
        r, c, h, w = *rng.integers(4, size - 16, 2), *rng.integers(4, 10, 2)
        b[:, r : r + h, c : c + w] = roof * rng.normal(1, 0.03, (4, h, w))
        truth[r : r + h, c : c + w] = True
    for _ in range(3):  # harvested fields: real spectral change, not construction
        r, c = rng.integers(0, size - 20, 2)
        field = ~truth[r : r + 20, c : c + 20]
        b[:, r : r + 20, c : c + 20] = np.where(
            field, soil * rng.normal(1, 0.05, (4, 20, 20)), b[:, r : r + 20, c : c + 20]
        )
    to16 = lambda x: np.clip(x, 1, 60000).astype("uint16")
    return (
        _scene(to16(a), frame),
        _scene(to16(b), frame, date="2021-01-01"),
        xr.DataArray(truth, dims=("y", "x"), coords=frame.coords()).rio.write_crs(frame.crs),
        frame,
    )


@pytest.fixture(scope="module")
def trained():
    pairs = [make_pair(s)[:3] for s in range(3)]
    return train_change_model(pairs, samples_per_class=3000, params=FAST)


def test_model_finds_roofs_not_fields(trained):
    before, after, truth, frame = make_pair(10)
    p = detect_changes(before, after, model=trained)
    assert len(p) and {"probability", "confidence", "area_m2"} <= set(p.columns)
    assert p["probability"].between(0, 1).all() and p.attrs["method"] == "trained"
    from tests.change.real_data import predicted_mask

    pred = predicted_mask(p, frame)
    t = truth.values
    tp, fp, fn = (pred & t).sum(), (pred & ~t).sum(), (~pred & t).sum()
    assert 2 * tp / (2 * tp + fp + fn) > 0.8


def test_header_records_training(trained):
    h = trained.header
    assert h["bands"] == list(BANDS) and h["resolution_m"] == pytest.approx(2.0)
    assert len(h["training"]) == 3 and all(len(t["labels_sha256"]) == 64 for t in h["training"])
    assert 0 < h["validation"]["pixel_f1"] <= 1 and 0.2 <= h["threshold"] <= 0.95
    # thresholds chosen on the inner validation; its object scores recorded
    assert h["validation"]["selected_by"] == "pixel F1"
    assert {"lead_precision", "site_recall", "object_f1"} <= set(h["validation"]["objects"])
    assert 1 <= h["parameters"]["pixel"]["num_iterations"] <= FAST["num_iterations"]
    assert "cva_contrast" in h["parameters"]["patch_features"]
    # the smoothing of the probability: chosen on the inner validation (ties: none)
    by = h["validation"]["pixel_f1_by_smoothing"]
    assert set(by) == {"none", "mean3"} and h["smooth"] == h["validation"]["smooth"]
    assert by[h["smooth"]] == max(by.values()) == h["validation"]["pixel_f1"]


def test_probability_never_falls_as_the_change_grows(trained):
    # an independent check of the monotone prior: sweep each constrained feature over its
    # range at random feature rows (others held) and predict with LightGBM itself
    from onemap.change.train import INCREASING

    names = trained.header["features"]
    cons = trained.header["parameters"]["pixel"]["monotone_constraints"]
    assert [n for n, c in zip(names, cons) if c] == [n for n in names if n in INCREASING]
    assert {"cva", "mean2_cva", "construction"} <= {n for n, c in zip(names, cons) if c}
    rng = np.random.default_rng(0)
    rows = rng.normal(0, 3, (200, len(names)))
    booster = trained.booster("pixel")
    for name in ("cva", "mean6_cva", "construction"):
        sweep = np.repeat(rows, 30, axis=0)
        sweep[:, names.index(name)] = np.tile(np.linspace(-5, 40, 30), len(rows))
        p = booster.predict(sweep).reshape(len(rows), 30)
        assert (np.diff(p, axis=1) >= -1e-12).all(), name
    # the learner was given the constraint (the synthetic fields alone might not break it)
    assert "[monotone_constraints: " + ",".join(map(str, cons)) + "]" in trained.pixel_model


def test_smoothing_given_or_refused():
    pairs = [make_pair(s, size=64)[:3] for s in (4, 5)]
    m = train_change_model(pairs, samples_per_class=1500, params=FAST, smooth="mean3")
    assert m.header["smooth"] == "mean3"
    assert set(m.header["validation"]["pixel_f1_by_smoothing"]) == {"mean3"}
    with pytest.raises(DataError, match="smooth must be"):
        train_change_model(pairs, smooth="median")


def test_round_trip_and_path(trained, tmp_path):
    path = trained.save(tmp_path / "m.json")
    back = load_model(path)
    assert back.to_json() == trained.to_json()
    before, after, _, _ = make_pair(11)
    a = detect_changes(before, after, model=trained)
    b = detect_changes(before, after, model=str(path))
    assert a.geometry.equals(b.geometry) and np.array_equal(a.probability, b.probability)
    assert b.attrs["model"] == str(path)


def test_same_inputs_same_model_bytes():
    pairs = [make_pair(s, size=64)[:3] for s in (4, 5)]
    one = train_change_model(pairs, samples_per_class=1500, params=FAST, seed=3)
    two = train_change_model(pairs, samples_per_class=1500, params=FAST, seed=3)
    assert one.to_json() == two.to_json()


def test_prediction_is_tiling_independent(trained):
    before, after, _, _ = make_pair(12)
    whole = detect_with_model(before, after, trained)
    tiled = detect_with_model(
        before.chunk({"y": 40, "x": 50}), after.chunk({"y": 40, "x": 50}), trained
    )
    assert len(whole) == len(tiled) > 0
    assert whole.geometry.equals(tiled.geometry)
    np.testing.assert_array_equal(whole.probability.values, tiled.probability.values)


def test_trained_from_verified_patches():
    """Truth as the campaign's verified patches: roofs real, harvested fields false change."""
    pairs = []
    for s in range(3):
        before, after, truth, frame = make_pair(s)
        found = detect_changes(before, after, method="cva")  # the screen that made the patches
        lab = []
        for g in found.geometry:
            from rasterio import features

            m = features.rasterize(
                [(g, 1)], out_shape=frame.shape, transform=frame.transform
            ).astype(bool)
            lab.append("real" if truth.values[m].mean() >= 0.5 else "false")
        pairs.append((before, after, found.assign(verdict=lab)))
    model = train_change_model(pairs, label_column="verdict", samples_per_class=3000, params=FAST)
    before, after, truth, _ = make_pair(13)
    p = detect_changes(before, after, model=model)
    assert len(p) >= 3


# -- bad input ---------------------------------------------------------------------------------
def test_other_bands_is_an_error(trained):
    before, after, _, _ = make_pair(1)
    rgb = lambda s: s.sel(band=["red", "green", "blue"])
    with pytest.raises(ModelMismatchError, match="nir.*Fix: ") as e:
        detect_changes(rgb(before), rgb(after), model=trained)
    assert "missing: nir" in str(e.value)


def test_other_resolution_is_an_error(trained):
    before, after, _, _ = make_pair(1, res=10.0)
    with pytest.raises(ModelMismatchError, match="10 m.*2 m"):
        detect_changes(before, after, model=trained)


def test_model_of_other_feature_set_is_refused(trained, tmp_path):
    """A model trained on v1 features (before the fixed-point window statistics) is refused
    with the fix: retrain."""
    doc = json.loads(trained.to_json())
    assert doc["feature_set"] == FEATURE_SET == "onemap-pixel-v2"
    doc["feature_set"] = "onemap-pixel-v1"
    (tmp_path / "v1.json").write_text(json.dumps(doc))
    model = load_model(tmp_path / "v1.json")
    with pytest.raises(ModelMismatchError, match="onemap-pixel-v1.*onemap-pixel-v2.*Fix: retrain"):
        detect_changes(*make_pair(1)[:2], model=model)


def test_truncated_and_foreign_files(trained, tmp_path):
    text = trained.to_json()
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    with pytest.raises(ModelFileError, match="cut.json.*truncated"):
        load_model(tmp_path / "cut.json")
    doc = json.loads(text)
    doc["format_version"] = 99
    (tmp_path / "v99.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="v99.json.*version 99.*Fix: retrain"):
        load_model(tmp_path / "v99.json")
    doc["format_version"] = 1
    doc["pixel_model"] = doc["pixel_model"].replace("Tree=1", "Tree=x")
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"a": 1}')
    with pytest.raises(ModelFileError, match="not an onemap change model"):
        detect_changes(*make_pair(1)[:2], model=tmp_path / "other.json")
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.json")


def test_no_positives_is_an_error():
    before, after, truth, _ = make_pair(1)
    with pytest.raises(TrainingDataError, match="no changed pixel.*Fix: "):
        train_change_model([(before, after, truth & False)])


def test_too_small_training_set():
    before, after, truth, _ = make_pair(1)
    few = truth & False
    few[10:15, 10:15] = True  # 25 pixels
    with pytest.raises(TrainingDataError, match="too small to learn from: 25 changed"):
        train_change_model([(before, after, few)])


def test_pairs_too_large_for_the_memory_are_refused_first(monkeypatch):
    """A pair whose out-of-fold pass would need more memory than is available is refused
    before any sampling, naming the pairs and the fix (here the per-pixel need is raised,
    not the machine shrunk)."""
    import onemap.change._oof as oof
    import onemap.change.train as T

    before, after, truth, _ = make_pair(1)
    sampled = []
    monkeypatch.setattr(oof, "OOF_BYTES_PER_PIXEL", 1 << 40)
    monkeypatch.setattr(T, "_lgb_train", lambda *a, **k: sampled.append(1))
    with pytest.raises(TrainingDataError, match=r"GiB of memory.*Fix: pass a smaller validation_pixels="):
        train_change_model([LabelledPair(before, after, truth, name="county A")])
    assert not sampled


def test_labels_on_another_grid_or_crs():
    before, after, truth, frame = make_pair(1)
    shifted = truth.assign_coords(x=truth.x + 2.0).rio.write_crs(frame.crs)
    with pytest.raises(FrameError, match="another grid"):
        train_change_model([(before, after, shifted)])
    with pytest.raises(FrameError, match="shape"):
        train_change_model([(before, after, truth.values[:50])])
    patches = gpd.GeoDataFrame({"real": [True]}, geometry=[shapely.box(10, 10, 50, 50)], crs=4326)
    with pytest.raises(CRSError, match="to_crs"):
        train_change_model([(before, after, patches)])
    with pytest.raises(TrainingDataError, match="column 'verdict'"):
        train_change_model([(before, after, patches.to_crs(32650))], label_column="verdict")


def test_all_errors_are_onemap_errors():
    assert issubclass(ModelFileError, OnemapError) and issubclass(ModelMismatchError, OnemapError)
    assert issubclass(TrainingDataError, OnemapError)


# -- real data ---------------------------------------------------------------------------------
def test_trained_beats_naive_on_held_out_levir(shared_data):
    """Train on three LEVIR crops, test on a fourth: the trained detector beats CVA + Otsu."""
    from tests.change import real_data as R

    names = R.levir_names(shared_data)
    if len(names) < 4:
        pytest.skip("LEVIR sample incomplete")
    pairs = [R.levir(shared_data, n) for n in names]
    test = max(pairs, key=lambda p: p.truth.sum())  # the crop with most change is held out
    train = [p for p in pairs if p is not test][:3]
    model = train_change_model(
        [(p.before, p.after, p.truth) for p in train],
        samples_per_class=5000,
        params={"num_iterations": 60},
    )
    patches = detect_changes(test.before, test.after, model=model)
    f_model = R.prf(R.confusion(R.predicted_mask(patches, test.frame), test))[2]
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    z = lambda x: (x - x.mean((1, 2), keepdims=True)) / x.std((1, 2), keepdims=True)
    mag = np.sqrt(
        ((z(test.after.values.astype(float)) - z(test.before.values.astype(float))) ** 2).sum(0)
    )
    naive = ndimage.binary_opening(mag > threshold_otsu(mag), np.ones((3, 3), bool))
    f_naive = R.prf(R.confusion(naive, test))[2]
    assert f_model > f_naive, (f_model, f_naive)


# -- command line --------------------------------------------------------------------------------
def test_cli_train_writes_model_and_table(tmp_path):
    from typer.testing import CliRunner

    from onemap.cli import app

    lines = ["[train]", 'out = "models/m.json"', "samples_per_class = 2000",
             "validation_pixels = 8192", ""]  # two of the three 64² pairs
    for s in range(3):
        before, after, truth, _ = make_pair(s, size=64)
        before.rio.to_raster(tmp_path / f"b{s}.tif")
        after.rio.to_raster(tmp_path / f"a{s}.tif")
        truth.astype("uint8").rio.to_raster(tmp_path / f"t{s}.tif")
        lines += [
            "[[pair]]",
            f'before = "b{s}.tif"',
            f'after = "a{s}.tif"',
            f'truth = "t{s}.tif"',
            "",
        ]
    cfg = tmp_path / "train.toml"
    cfg.write_text("\n".join(lines))
    res = CliRunner().invoke(app, ["train", str(cfg), "-q"])
    assert res.exit_code == 0, res.output
    assert "pixel F1" in res.output and (tmp_path / "models" / "m.json").is_file()
    assert "pre-screen (learned)" in res.output
    header = load_model(tmp_path / "models" / "m.json").header
    assert len(header["bands"]) == 4 and header["validation"]["pairs"] == 2
    cfg.write_text("\n".join(lines).replace("8192", "0"))
    res = CliRunner().invoke(app, ["train", str(cfg), "-q"])
    assert res.exit_code == 1 and "validation_pixels = 0 is not a positive" in res.output
    cfg.write_text("\n".join(lines).replace('truth = "t0.tif"', 'truth = "nope.tif"'))
    res = CliRunner().invoke(app, ["train", str(cfg), "-q"])
    assert res.exit_code == 1 and "nope.tif" in res.output


def test_train_config_bounds_cut_the_pair_and_the_cli_speaks_toml(tmp_path, monkeypatch):
    """``bounds`` in a ``[[pair]]`` trains on that window (scenes and raster labels cut alike);
    a bad window is a ConfigError; under ``onemap train`` the memory refusal's fix is a key."""
    from typer.testing import CliRunner

    import onemap.change._oof as oof
    from onemap.change.train_config import load_pairs
    from onemap.cli import app
    from onemap.errors import ConfigError

    before, after, truth, _ = make_pair(0, size=64)
    before.rio.to_raster(tmp_path / "b.tif")
    after.rio.to_raster(tmp_path / "a.tif")
    truth.astype("uint8").rio.to_raster(tmp_path / "t.tif")
    x0, y1 = float(before.x[0]), float(before.y[0])  # pixel centres; 2 m pixels
    window = [x0 + 19, y1 - 49, x0 + 59, y1 - 9]  # columns 10..29, rows 5..24
    cfg = tmp_path / "train.toml"
    body = '[train]\nout = "m.json"\n[[pair]]\nbefore = "b.tif"\nafter = "a.tif"\n' \
           'truth = "t.tif"\nbounds = {}\n'
    cfg.write_text(body.format(window))
    _, (pair,) = load_pairs(cfg)
    assert pair.before.shape[1:] == pair.after.shape[1:] == pair.truth.shape == (20, 20)
    assert pair.before.onemap.source is not None  # still read window by window from the file
    np.testing.assert_array_equal(pair.before.values, before.values[:, 5:25, 10:30])
    np.testing.assert_array_equal(pair.truth.values, truth.values[5:25, 10:30])
    for bad in ("[1, 2, 3]", "[10, 0, 0, 10]", f"[{x0 + 1e6}, 0, {x0 + 2e6}, 10]"):
        cfg.write_text(body.format(bad))
        with pytest.raises(ConfigError, match="bounds"):
            load_pairs(cfg)
    cfg.write_text(body.format(window))
    monkeypatch.setattr(oof, "OOF_BYTES_PER_PIXEL", 1 << 40)
    res = CliRunner().invoke(app, ["train", str(cfg), "-q"])
    assert res.exit_code == 1 and "set bounds = [xmin, ymin, xmax, ymax]" in res.output


def test_survey_config_takes_a_model(tmp_path, trained):
    from onemap.config import load_config
    from onemap.errors import ConfigError
    from tests.test_config import GOOD, write

    for name in ("before.tif", "after.tif", "dltb.gpkg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "txt").mkdir()
    text = GOOD.replace("threshold = 0.3", 'threshold = 0.3\nmodel = "m.json"')
    with pytest.raises(ConfigError, match=r"\[detect\] model.*m.json.*not found"):
        load_config(write(tmp_path, text))
    trained.save(tmp_path / "m.json")
    cfg = load_config(write(tmp_path, text))
    assert cfg.detect_model == (tmp_path / "m.json").resolve()
    assert load_config(write(tmp_path, GOOD)).detect_model is None


def test_threshold_counts_against_comparing_every_threshold():
    """The out-of-fold counts by strips and one histogram are those of ``p >= t`` for every
    threshold (values at the thresholds, NaN, ignored pixels, pairs of odd shapes)."""
    from onemap.change import train as T

    rng = np.random.default_rng(0)
    probs, labels = [], []
    for h, w in ((2500, 3), (7, 11), (1, 1)):
        p = rng.random((h, w)).astype(np.float32)
        p[rng.random((h, w)) < 0.2] = np.float32(rng.choice(T.THRESHOLDS))
        p[rng.random((h, w)) < 0.1] = np.nan
        probs.append(p)
        labels.append(rng.integers(-1, 2, (h, w)).astype(np.int8))
    want = np.zeros((len(T.THRESHOLDS), 3))
    for p, lab in zip(probs, labels, strict=True):
        known = lab >= 0
        for i, t in enumerate(T.THRESHOLDS):
            hit, real = p[known] >= t, lab[known] == 1
            want[i] += [(hit & real).sum(), (hit & ~real).sum(), (~hit & real).sum()]
    np.testing.assert_array_equal(T.threshold_counts(iter(probs), labels), want)
