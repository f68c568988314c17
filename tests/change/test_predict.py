"""Tiled, pre-screened prediction of the trained detector (onemap.change.predict)."""

from __future__ import annotations

import numpy as np
import pytest

from onemap.change import _feature_kernels as FK
from onemap.change import _model_patches as MP
from onemap.change import predict as PR
from onemap.change.features import FeaturePlan, _as_float, _f32
from onemap.change.model import detect_with_model
from onemap.errors import DataError
from tests.change.test_model import BANDS, make_pair, trained  # noqa: F401 - the module's fixture


def _cva(plan):
    b1 = _as_float(np.asarray(plan.before.values), plan.nodata1)
    b2 = _as_float(np.asarray(plan.after.values), plan.nodata2)
    return b1, b2


def test_cva_kernel_is_the_feature_cva():
    before, after, _, _ = make_pair(4)
    plan = FeaturePlan(before, after)
    b1, b2 = _cva(plan)
    b1[:, 3, 5] = np.nan  # nodata in one date
    cva = np.empty(b1.shape[1:], np.float32)
    FK.cva_kernel(b1, b2, _f32(plan.gain), _f32(plan.offset), _f32(plan.sigma), cva)
    feats = plan.block(b1, b2)
    np.testing.assert_array_equal(cva, feats[plan.names.index("cva")])
    assert np.isnan(cva[3, 5])


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.float32, np.float64])
def test_padded_tile_is_the_float_conversion_with_nan_at_nodata(dtype):
    rng = np.random.default_rng(0)
    x = (rng.random((3, 40, 50)) * 3000).astype(dtype)
    x[0, 3, 4] = 0
    if np.dtype(dtype).kind == "f":
        x[1, 5, 6] = np.nan
    for nodata in (0.0, np.nan):
        for pads in ((0, 0, 0, 0), (2, 0, 3, 1)):
            top, bottom, left, right = pads
            want = np.pad(_as_float(x, nodata), ((0, 0), (top, bottom), (left, right)),
                          constant_values=np.nan)
            np.testing.assert_array_equal(PR._padded(x, nodata, pads), want)
            # a strided view, as a window of a larger read
            view = np.pad(x, ((0, 0), (1, 1), (1, 1)))[:, 1:-1, 1:-1]
            np.testing.assert_array_equal(PR._padded(view, nodata, pads), want)


def _pixel_tiles(model, plan, prescreen, tile, threshold=None):
    out = PR.PixelTiles(plan.frame, tile)
    thr = model.threshold if threshold is None else threshold
    PR.pixel_stage(model, plan, out, threshold=thr, prescreen=prescreen)
    prob = np.zeros(plan.frame.shape, np.float32)
    for t in out.tiles:
        prob[t.window] = out.prob(t)
    return out, prob


def test_prescreen_scores_only_changed_pixels(trained):  # noqa: F811
    before, after, _, _ = make_pair(12)
    plan = FeaturePlan(before, after)
    _, full = _pixel_tiles(trained, plan, 0.0, 96)
    _, screened = _pixel_tiles(trained, plan, 2.0, 40)
    feats = plan.compute()
    cva = feats[plan.names.index("cva")]
    low = cva < 2.0
    assert low.any() and (~low).any()
    assert (screened[low] == 0).all()  # below the pre-screen: probability 0, model not run
    # the model, unsmoothed, stops early below the candidate threshold: the candidates and
    # their probabilities are the same bits everywhere, other pixels exact or 0
    assert trained.header["smooth"] == "none"
    thr = np.float16(trained.threshold)
    cand = full >= thr
    assert cand.any() and (~cand).any()
    np.testing.assert_array_equal(screened[~low] >= thr, cand[~low])
    np.testing.assert_array_equal(screened[~low & cand], full[~low & cand])
    # the same as the model on all features, to float16
    names = trained.header["features"]
    X = feats.reshape(len(names), -1).T
    p = trained.booster("pixel").predict(X).astype(np.float32).astype(np.float16)
    p = p.astype(np.float32).reshape(full.shape)
    np.testing.assert_array_equal(cand, p >= thr)
    np.testing.assert_array_equal(full[cand], p[cand])
    assert ((full == p) | (full == 0)).all() and (full[~cand] == 0).mean() > 0.2


def test_patch_windows_do_not_change_the_patches(trained, monkeypatch):  # noqa: F811
    before, after, _, _ = make_pair(12, size=160)
    plan = FeaturePlan(before, after)
    out, _ = _pixel_tiles(trained, plan, PR.PRESCREEN, 64, threshold=0.3)
    kw = {"threshold": 0.3, "patch_threshold": 0.0}
    whole, info = MP.model_patches(trained, plan, out, **kw)
    monkeypatch.setattr(MP, "WINDOW", 24)  # many windows, patches larger than a window
    monkeypatch.setattr(MP, "MARGIN", 5)
    small, _ = MP.model_patches(trained, plan, out, **kw)
    assert info["candidates"] > 5 and len(whole) == len(small) > 0
    assert whole.geometry.equals(small.geometry)
    np.testing.assert_array_equal(whole.probability.values, small.probability.values)


def test_prescreen_is_checked(trained):  # noqa: F811
    before, after, _, _ = make_pair(12)
    with pytest.raises(DataError, match="prescreen"):
        detect_with_model(before, after, trained, prescreen=-1)


def test_store_resumes(trained, tmp_path):  # noqa: F811
    before, after, _, _ = make_pair(12, size=120)
    a = detect_with_model(before, after, trained, store=tmp_path / "s", tile_size=50)
    tiles = sorted((tmp_path / "s").glob("r*.npy"))
    assert len(tiles) == 9
    tiles[4].unlink()
    stamp = {f: f.stat().st_mtime_ns for f in tiles if f.exists()}
    b = detect_with_model(before, after, trained, store=tmp_path / "s", tile_size=50)
    assert all(f.stat().st_mtime_ns == t for f, t in stamp.items()) and tiles[4].exists()
    assert a.geometry.equals(b.geometry)
    np.testing.assert_array_equal(a.probability.values, b.probability.values)


def test_patch_channels_are_kept_on_the_candidates_and_their_rings(trained):  # noqa: F811
    """Each tile keeps the channels of the pixels within RING of a candidate -- including the
    candidates of the neighbouring tiles -- and they are the features of those pixels."""
    from scipy import ndimage

    from onemap.change import _patch_stage as P

    before, after, _, _ = make_pair(12)
    plan = FeaturePlan(before, after)
    out, prob = _pixel_tiles(trained, plan, 0.0, 40)
    cand = prob >= np.float16(trained.threshold)
    assert 0 < cand.sum() < cand.size / 4
    near = ndimage.maximum_filter(cand.view(np.uint8), size=2 * P.RING + 1) > 0
    feats = plan.compute()
    kept = np.zeros(plan.frame.shape, bool)
    names = trained.header["features"]
    for t in out.tiles:
        idx, vals = out.sparse(t)
        rr, cc = np.divmod(idx, t.frame.width)
        rr, cc = rr + t.window[0].start, cc + t.window[1].start
        kept[rr, cc] = True
        for k, c in enumerate(P.CHANNELS[1:]):
            np.testing.assert_array_equal(vals[k], feats[names.index(c)][rr, cc])
    np.testing.assert_array_equal(kept, near)


def test_dask_scenes_and_mask_give_the_in_memory_patches(trained):  # noqa: F811
    """Dask scenes (not file-backed: each tile's window is computed by dask) and a dask mask:
    the in-memory result, whether the chunks are the tiles or not."""
    import dask.array as da
    import xarray as xr

    before, after, _, _ = make_pair(12, size=120)
    mask = xr.zeros_like(before.isel(band=0), dtype=bool)
    mask[50:58, 10:30] = True
    ref = detect_with_model(before, after, trained, mask=mask, tile_size=40)
    lazy = [x.chunk({"band": -1, "y": 40, "x": 40}) for x in (before, after)]
    dmask = mask.copy(data=da.from_array(mask.values, chunks=40))
    for tile in (40, 50):
        got = detect_with_model(*lazy, trained, mask=dmask, tile_size=tile)
        assert ref.geometry.equals(got.geometry)
        np.testing.assert_array_equal(ref.probability.values, got.probability.values)


def test_a_cluster_without_a_store_gives_the_in_memory_patches(trained):  # noqa: F811
    """Tiles computed in worker processes with no store folder come back to the caller (they
    are not kept in the workers' memory and lost)."""
    import distributed

    before, after, _, _ = make_pair(12, size=120)
    ref = detect_with_model(before, after, trained, tile_size=40)
    lazy = [x.chunk({"band": -1, "y": 40, "x": 40}) for x in (before, after)]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        got = detect_with_model(*lazy, trained, tile_size=40, client=client)
    assert len(ref) > 0 and ref.geometry.equals(got.geometry)
    np.testing.assert_array_equal(ref.probability.values, got.probability.values)


def test_tiles_read_their_window_once_and_mask_clouds_per_tile(trained, tmp_path,  # noqa: F811
                                                                monkeypatch):
    """File-backed scenes: each tile reads its window once per date, straight from the file
    (no chunk read again for each neighbour), and a MaskPolicy is evaluated on those bands
    tile by tile: the patches are those of the policy's whole-grid mask."""
    import onemap.ingest.provenance as PV
    from onemap import open_scene
    from onemap.change import MaskPolicy

    before, after, _, _ = make_pair(12, size=120)
    after = after.copy()
    after[:, 30:72, 40:84] = 6000  # a thick cloud 84 m wide (bright, white)
    policy = MaskPolicy(reflectance_scale=10000)
    whole = policy(before, after).values
    assert whole[40:60, 50:70].all() and not whole[:, :20].any()
    ref = detect_with_model(before, after, trained, mask=whole, tile_size=40)
    unmasked = detect_with_model(before, after, trained, tile_size=40)
    assert ref.area_m2.sum() < 0.5 * unmasked.area_m2.sum()  # the cloud is a change
    scenes = []
    names = dict(enumerate(BANDS, start=1))
    for name, x in (("b", before), ("a", after)):
        x.rio.to_raster(tmp_path / f"{name}.tif", tiled=True, blockxsize=16, blockysize=16)
        scenes.append(open_scene(tmp_path / f"{name}.tif", names, chunks=48,
                                 date=x.attrs["date"]))
    reads, stage = [], []
    real_read, real_stage = PV.read_part, PR.pixel_stage
    monkeypatch.setattr(PV, "read_part", lambda *a, **k: (
        reads.append((a[0].path, a[3], a[4])) if stage else None) or real_read(*a, **k))
    monkeypatch.setattr(PR, "pixel_stage", lambda *a, **k: stage.append(1) or real_stage(*a, **k))
    got = detect_with_model(*scenes, trained, mask=policy, tile_size=40)
    assert ref.geometry.equals(got.geometry)
    np.testing.assert_array_equal(ref.probability.values, got.probability.values)
    frame, halo = scenes[0].onemap.frame, PR.MASK_RING + policy.reach(before)
    windows = [PR._halo_window(frame, t, halo)[0] for t in PR.PixelTiles(frame, 40).tiles]
    want = sorted((str(tmp_path / f), r.start, r.stop, c.start, c.stop)
                  for f in ("b.tif", "a.tif") for r, c in windows)
    assert sorted((str(p), r.start, r.stop, c.start, c.stop) for p, r, c in reads) == want


def _smoothed(model):
    import copy
    import dataclasses

    return dataclasses.replace(model, header={**copy.deepcopy(model.header), "smooth": "mean3"},
                               _boosters={}, _ensembles={})


def test_smoothed_probability_does_not_depend_on_the_tiles(trained):  # noqa: F811
    """With ``header["smooth"] = "mean3"`` the stored probability is the 3 x 3 mean of the
    whole image's (float32) probability, whatever the tiles: each tile scores a ring one pixel
    wider (the smoothing's halo)."""
    from onemap.change import _patch_stage as P

    m = _smoothed(trained)
    before, after, _, _ = make_pair(12)
    plan = FeaturePlan(before, after)
    feats = plan.compute()
    names = trained.header["features"]
    raw = trained.booster("pixel").predict(feats.reshape(len(names), -1).T)
    want = P.smooth(raw.astype(np.float32).reshape(plan.frame.shape), "mean3")
    for tile in (96, 40, 17):
        out, prob = _pixel_tiles(m, plan, 0.0, tile)
        np.testing.assert_array_equal(prob, want.astype(np.float16).astype(np.float32))
    # the patch channels: on the smoothed candidates and their rings (as without smoothing)
    test_patch_channels_are_kept_on_the_candidates_and_their_rings(m)


def test_smoothed_patches_with_a_mask_do_not_depend_on_the_tiles(trained):  # noqa: F811
    import xarray as xr

    from onemap.change import _patch_stage as P

    m = _smoothed(trained)
    before, after, _, _ = make_pair(12, size=120)
    mask = xr.zeros_like(before.isel(band=0), dtype=bool)
    mask[50:58, 10:30] = True
    mask[39:41, :] = True  # along a tile seam
    ref = detect_with_model(before, after, m, mask=mask, tile_size=120)
    raw = detect_with_model(before, after, trained, mask=mask, tile_size=120)
    assert len(ref) and not ref.geometry.equals(raw.geometry)  # smoothing changes the patches
    import dask.array as da

    lazy = [x.chunk({"band": -1, "y": 40, "x": 40}) for x in (before, after)]
    dmask = mask.copy(data=da.from_array(mask.values, chunks=40))
    for got in (detect_with_model(before, after, m, mask=mask, tile_size=40),
                detect_with_model(before, after, m, mask=mask, tile_size=33),
                detect_with_model(*lazy, m, mask=dmask, tile_size=40)):  # dask
        assert ref.geometry.equals(got.geometry)
        np.testing.assert_array_equal(ref.probability.values, got.probability.values)
    with pytest.raises(ValueError, match="smoothing"):
        P.smooth(np.zeros((2, 2), np.float32), "median")


def test_ring_labels_against_a_brute_force_oracle_and_the_distance_transform():
    """The ring: background pixels within RING (Euclidean) of a patch, labelled by the nearest
    patch, ties to the smaller label (a brute force over all patch pixels); the same pixels as
    scipy's distance transform, and its labels wherever the nearest patch is unique."""
    from scipy import ndimage

    from onemap.change import _patch_stage as P

    rng = np.random.default_rng(4)
    lab, n = ndimage.label(rng.random((60, 70)) < 0.05)
    lab = lab.astype(np.int32)
    got = P.ring_labels(lab)
    pr, pc = np.nonzero(lab)
    want = np.zeros_like(lab)
    unique = np.zeros(lab.shape, bool)
    for i, j in zip(*np.nonzero(lab == 0), strict=True):
        d2 = (pr - i) ** 2 + (pc - j) ** 2
        near = d2 == d2.min()
        if d2.min() <= P.RING**2:
            want[i, j] = lab[pr[near], pc[near]].min()
            unique[i, j] = len(set(lab[pr[near], pc[near]])) == 1
    np.testing.assert_array_equal(got, want)
    dist, (ii, jj) = ndimage.distance_transform_edt(lab == 0, return_indices=True)
    edt = np.where((dist <= P.RING) & (lab == 0), lab[ii, jj], 0)
    np.testing.assert_array_equal(got > 0, edt > 0)
    np.testing.assert_array_equal(got[unique], edt[unique])
    assert (~unique & (want > 0)).any()  # some ties were exercised
    assert not P.ring_labels(np.zeros((4, 4), np.int32)).any()


def test_the_screen_box_rejects_surely_and_changes_no_decision(trained):  # noqa: F811
    """Pixels in the screen's reject box skip the tree walk; what the screen keeps is the
    same bit for bit, and every sample pixel in the box is below the level when walked."""
    from onemap.change import _tree_kernels as TK
    from onemap.change._screen import reject_box

    before, after, _, _ = make_pair(12)
    plan = FeaturePlan(before, after)
    fn = PR._TileFn(trained, plan, None, trained.threshold)
    assert fn.kind == "learned" and fn.box is not None
    lo, hi = fn.box
    a, b = plan.sample
    ch = PR.screen_block(plan, a[:, None, :], b[:, None, :])
    out = np.empty(ch.shape[1:], bool)
    TK.outside_box(ch, lo, hi, out)
    inside = ~out[0]
    assert 0.2 < inside.mean() < 1  # most of the unchanged ground, not the changes
    p = fn.screen.predict(ch[:, 0, inside].T)
    assert (p < fn.level).all()
    assert fn.screen.bound(lo, hi) < fn.screen._floor(fn.level)
    b1, b2 = _cva(plan)
    with_box = fn._screen(b1, b2)
    fn.box = None
    without = fn._screen(b1, b2)
    for x, y in zip(with_box, without, strict=True):
        np.testing.assert_array_equal(x, y)
    assert with_box[1].any() and not with_box[1].all()
    # no box when nothing is surely below the level
    assert reject_box(fn.screen, 1e-9, ch[:, 0, :].T) is None
