"""The trained detector at county scale: tiled, pre-screened, resumable prediction.

What :func:`onemap.change.model.detect_with_model` and the survey (``[detect] model``) run.
Nothing whole-scene is held in memory: per pixel only the probability (``float16``, 2 bytes)
and, at the few pixels the patch stage reads, its channels.

1. **Pixel stage** (:func:`pixel_stage`), tile by tile (the frame's tiles, :data:`READ` pixels
   read around each): the **pre-screen** (:func:`resolve_prescreen`) keeps the pixels worth the
   full model. By default the model's **learned screen** (:mod:`onemap.change._screen`): a
   small ensemble on channels computed densely at a few operations per band (normalised band
   differences, CVA, brightness change and levels), kept where its probability reaches the
   level recorded in the model file (chosen on the model's own out-of-fold validation to keep
   99 % of its true detections). ``prescreen=0`` turns it off (every pixel scored); a number >
   0 is instead a fixed CVA level in noise sigmas. The features
   (:meth:`~onemap.change.features.FeaturePlan.at`: window statistics from integral images,
   the rest per pixel) and the pixel model (a numba :class:`~onemap.change.trees.Ensemble`) run
   on the kept pixels only, of the tile and of a ring of
   :data:`~onemap.change._patch_stage.RING` pixels around it; elsewhere the probability is
   **0** (NaN on nodata and masked pixels), and so it is where an unsmoothed model's trees
   cannot reach the candidate threshold (they stop early: only candidates' values are read).
   The probability is stored as ``float16`` (3 significant digits) and compared with
   ``float16(threshold)``; a model trained with a
   smoothing (``header["smooth"] = "mean3"``, :func:`~onemap.change._patch_stage.smooth`)
   stores the 3 x 3 mean instead, computed from a ring one pixel wider (:data:`MASK_RING`), so
   it is the whole image's. The patch channels are kept on the candidates (``probability >=
   threshold``) and their rings only: all the patch stage reads, and the ring scored around the
   tile gives this tile the candidates of its neighbours whose ring reaches into it.
2. **Candidates** and 3. the **patch stage** (:mod:`onemap.change._model_patches`): candidates
   labelled tile by tile with stitched seams, the patch model on a fixed window grid.

Each tile reads its window once per date, straight from the files for file-backed scenes
(:func:`onemap.ingest.window.read_window`; dask's overlap of the chunks read every chunk again
for each neighbour that needs its edge: 147 of 160 s at 8 000², the imagery read 23 times) --
the halo strips of the file blocks two tiles read decoded once
(:class:`~onemap.ingest.window.BlockCache`: a 2 048² tile with its halo decodes 6 x 6 blocks of
512², 4 x 4 of them its own) -- and
evaluates a :class:`~onemap.change.MaskPolicy` on those bands (the window grown by the policy's
reach), so the clouds cost no second read either.

Features do not depend on the tiling (halos, global statistics, exact integer window sums), the
models score each pixel on its own, the labelling is seam-stitched and the patch windows are
fixed: the patches and their probabilities are the same whatever the tiles. With a ``store``
folder the pixel stage is kept in a :class:`~onemap.tilestore.TileStore`, so a killed run
resumes with the missing tiles.

Why a learned screen and not a fixed CVA level: what a fixed level costs depends on the
scene, measured on held-out real data with ``benchmarks/eval_prescreen.py``
(benchmarks/README.md): at 1 sigma pooled pixel F1 moved by +0.001 on Taizhou (Landsat) and
+0.004 on OSCD (Sentinel-2), but by -0.022 on SZTAKI (RGB 1.5 m) and by -0.329 on LEVIR-CD
(RGB 0.5 m, recall -0.45: new roofs on bare ground change the spectrum less than the noise).
The learned screen's level is chosen per model on its own training data, and its out-of-fold
cost is in the model file (``header["screen"]``). A model file written before the screen has
none: it then scores every pixel.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from .._atomic import atomic_path
from .._compute import is_lazy, run, threads
from ..frame import Frame
from . import _feature_kernels as FK
from . import _kernels as K
from . import _patch_stage as P
from ._screen import reject_box, resolve_prescreen, screen_block, screen_names, screen_walk
from .features import HALO, FeaturePlan, _f32

__all__ = [
    "PRESCREEN",
    "PixelTiles",
    "pixel_stage",
    "resolve_prescreen",
]

PRESCREEN = None  # the model's learned screen; 0: off; > 0: CVA level in noise sigmas
BAND = 256  # rows of screen channels or features computed at once (bounded memory)
# the ring of pixels around a tile whose probability is computed: the patch ring, and one more
# pixel when the model smooths the probability (its 3 x 3 halo); the mask is read on it
MASK_RING = P.RING + 1
READ = HALO + MASK_RING  # pixels read around a tile: the features of its ring
# the most bytes of decoded halo strips kept for the neighbouring tiles (a row of tiles' strips
# held under 20 MiB at 20 000², 4 uint16 bands, two dates)
READ_CACHE_BYTES = 512 << 20


# ---------------------------------------------------------------------------- pixel stage


class PixelTiles:
    """The pixel stage's output per tile: probability and sparse patch channels.

    In memory (``folder=None``) or in a :class:`~onemap.tilestore.TileStore` under *folder*
    (probability as the store's ``float16`` tiles, channels under ``channels/``).
    """

    def __init__(self, frame: Frame, tile_size: int, folder: Any = None) -> None:
        from ..tilestore import TileStore

        self.frame, self.tile_size = frame, int(tile_size)
        self.store = TileStore(folder or ".", frame, tile_size)
        self.tiles = self.store.tiles
        self.folder = None if folder is None else Path(folder)
        self._mem: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def open(self, key: str) -> None:
        if self.folder is not None:
            self.store.open(key)
            (self.folder / "channels").mkdir(exist_ok=True)

    def missing(self) -> list:
        if self.folder is None:
            return [t for t in self.tiles if t.index not in self._mem]
        return self.store.missing()

    def _side(self, tile: Any, what: str) -> Path:
        assert self.folder is not None
        return self.folder / "channels" / self.store.path(tile).name.replace(".npy", f".{what}.npy")

    def save(self, tile: Any, out: tuple, overview: np.ndarray | None = None) -> None:
        prob, idx, vals = out
        if self.folder is None:
            self._mem[tile.index] = out
            return
        from ..tilestore import save_tile

        for what, arr in (("idx", idx), ("val", vals)):
            with atomic_path(self._side(tile, what)) as tmp, open(tmp, "wb") as fh:
                np.save(fh, arr, allow_pickle=False)
        ov = np.zeros((3, 0, 0), np.float32) if overview is None else overview
        save_tile(prob, ov, self.store.path(tile))  # written last: marks the tile done

    def prob(self, tile: Any) -> np.ndarray:
        """float32 probability of *tile* (float16 values)."""
        return self.prob16(tile).astype(np.float32)

    def prob16(self, tile: Any) -> np.ndarray:
        """The probability of *tile* as stored (float16)."""
        if self.folder is None:
            return self._mem[tile.index][0]
        return np.load(self.store.path(tile))

    def sparse(self, tile: Any) -> tuple[np.ndarray, np.ndarray]:
        if self.folder is None:
            return self._mem[tile.index][1:]
        return np.load(self._side(tile, "idx")), np.load(self._side(tile, "val"))


def _padded(scene: np.ndarray, nodata: float, pads: tuple[int, int, int, int]) -> np.ndarray:
    """float32 bands with NaN at nodata, padded with NaN to the full halo at the frame's edges:
    one pass (:func:`onemap.change._kernels.linear_kernel` with gain 1, offset 0) straight into
    the padded array, no temporary copy or nodata mask."""
    x = np.asarray(scene)
    top, bottom, left, right = pads
    nb, h, w = x.shape
    out = np.empty((nb, h + top + bottom, w + left + right), np.float32)
    if any(pads):
        out.fill(np.nan)
    K.linear_kernel(x, np.ones(nb), np.zeros(nb), float(nodata), 0, h,
                    out[:, top:top + h, left:left + w])
    return out


class _TileFn:
    """Pixel stage of one tile: ``(b1, b2)`` bands with a NaN-padded halo of :data:`READ`
    pixels -> (float16 probability, sparse patch channels)."""

    def __init__(self, model: Any, plan: FeaturePlan, prescreen: float | None,
                 threshold: float) -> None:
        self.plan = plan
        self.kind, self.level = resolve_prescreen(model, prescreen)
        self.threshold = np.float16(threshold)  # what the labelling compares the float16 with
        names = list(model.header["features"])
        self.take = [names.index(c) for c in P.CHANNELS[1:]]
        self.pixel = model.ensemble("pixel")
        self.box = None  # of screen channels where the screen surely rejects (reject_box)
        self.smooth = str(model.header.get("smooth", "none"))
        P.smooth(np.zeros((1, 1), np.float32), self.smooth)  # a known smoothing
        self.halo = 0 if self.smooth == "none" else 1  # of the smoothing
        # unsmoothed, only the candidates' probabilities are read (the patch features'), so the
        # trees stop below the float16 just under the threshold: every probability that rounds
        # to a candidate is exact, the others are 0 (county model: 1.6 -> 0.6 s per million kept)
        self.at_least = 0.0
        if self.smooth == "none":
            self.at_least = float(np.nextafter(self.threshold, np.float16(-np.inf)))
        if self.kind == "learned":
            from .model import ModelMismatchError

            if list(model.screen["features"]) != screen_names(plan.bands):
                raise ModelMismatchError(
                    f"the model's screen uses {', '.join(model.screen['features'])}; this "
                    f"onemap computes {', '.join(screen_names(plan.bands))}",
                    path=model.path,
                    hint="retrain the model with this onemap version, or pass prescreen=0",
                )
            self.screen = model.ensemble("screen")
            if plan.sample is not None:  # the scene's sample: where most screen rejects are
                a, b = plan.sample
                ch = screen_block(plan, a[:, None, :], b[:, None, :])[:, 0, :].T
                self.box = reject_box(self.screen, self.level, ch)

    def _screen(self, b1: np.ndarray, b2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(valid, kept) of every pixel of *b1*, *b2*: valid in both dates, kept by the
        pre-screen (per pixel: no halo needed)."""
        plan = self.plan
        if self.kind != "learned":
            cva = np.empty(b1.shape[1:], np.float32)
            FK.cva_kernel(b1, b2, _f32(plan.gain), _f32(plan.offset), _f32(plan.sigma), cva)
            valid = np.isfinite(cva)
            with np.errstate(invalid="ignore"):
                return valid, cva >= self.level  # NaN (nodata) is not kept
        nb, hh, ww = b1.shape
        valid = np.empty(b1.shape[1:], bool)
        kept = np.zeros(b1.shape[1:], bool)
        m = min(BAND, hh) * ww
        buffers = (np.empty((m, nb + 4), np.float32), np.empty(m, np.int64),
                   np.empty(m, np.int64))
        for r0 in range(0, hh, BAND):  # bands of rows: bounded memory
            # inside the reject box the screen surely rejects: only the rest walk the trees
            n = screen_walk(plan, b1[:, r0:r0 + BAND], b2[:, r0:r0 + BAND], self.box,
                            valid[r0:r0 + BAND], buffers)
            if n:
                X, rr, cc = (b[:n] for b in buffers)
                p = self.screen.predict(X, at_least=self.level)  # stops early
                kept[r0 + rr, cc] = p >= self.level
        return valid, kept

    def _features(self, b1: np.ndarray, b2: np.ndarray, rows: np.ndarray,
                  cols: np.ndarray, names: list[str] | None = None) -> Any:
        """``(start, features)`` of the pixels ``(rows, cols)`` (raster order) of the block, by
        bands of :data:`BAND` rows read with their halo: the dense part of
        :meth:`~onemap.change.features.FeaturePlan.at` (integral images) is computed once per
        band and the features in memory are bounded by the band. *names*: only those features
        (:meth:`~onemap.change.features.FeaturePlan.channels_at`)."""
        H, hh = HALO, b1.shape[1]
        starts = np.searchsorted(rows, np.arange(H, hh - H, BAND))
        ends = np.append(starts[1:], rows.size)
        for k, (i, j) in enumerate(zip(starts, ends, strict=True)):
            if i == j:
                continue
            r0 = H + k * BAND  # the band's first row; read from r0 - H
            r1 = min(r0 + BAND, hh - H)
            c1, c2 = b1[:, r0 - H:r1 + H], b2[:, r0 - H:r1 + H]
            rr, cc = rows[i:j] - (r0 - H), cols[i:j]
            yield i, (self.plan.at(c1, c2, rr, cc) if names is None
                      else self.plan.channels_at(c1, c2, rr, cc, names))

    def __call__(self, b1: np.ndarray, b2: np.ndarray, masked: np.ndarray | None) -> tuple:
        """*masked*: True = left out, on the tile and a ring of :data:`MASK_RING` pixels
        around it."""
        H, R, s = HALO, P.RING, self.halo
        w = b1.shape[2] - 2 * READ
        # scored: the tile and a ring of R pixels, so that this tile knows the candidates of
        # its neighbours whose ring reaches into it (their probabilities are the same here),
        # and s more for the smoothing's halo; c1, c2: the bands with a halo of H around them
        e = READ - H - R - s
        c1, c2 = (b1, b2) if e == 0 else (b1[:, e:-e, e:-e], b2[:, e:-e, e:-e])
        if masked is not None and e:
            masked = masked[e:-e, e:-e]
        valid, kept = self._screen(c1[:, H:-H, H:-H], c2[:, H:-H, H:-H])
        prob = np.where(valid, np.float32(0), np.float32(np.nan))
        if masked is not None:
            kept &= ~masked
            prob[masked] = np.nan
        rr, cc = np.nonzero(kept)  # raster order
        have = np.empty((len(self.take), rr.size), np.float32)  # patch channels, kept pixels
        for k, X in self._features(c1, c2, rr + H, cc + H):
            prob[rr[k:k + len(X)], cc[k:k + len(X)]] = self.pixel.predict(X, self.at_least)
            have[:, k:k + len(X)] = X[:, self.take].T
        if s:  # smoothed on the tile and its ring of R from the probabilities around them
            prob = P.smooth(prob, self.smooth)[s:-s, s:-s]
            kept = kept[s:-s, s:-s]
            hh, ww = kept.shape
            inner = (rr >= s) & (rr < hh + s) & (cc >= s) & (cc < ww + s)
            rr, cc, have = rr[inner] - s, cc[inner] - s, have[:, inner]
        prob16 = prob.astype(np.float16)
        # patch channels on the candidates and their rings only: all the patch stage reads
        cand = (prob16 >= self.threshold).view(np.uint8)
        near = ndimage.maximum_filter(cand, size=2 * R + 1)[R:-R, R:-R] > 0
        nr, nc = np.nonzero(near)  # raster order
        vals = np.empty((len(self.take), nr.size), np.float32)
        # the candidates were kept pixels: their channels are known; the rest of the rings not
        W = kept.shape[1]
        flat, want = rr * W + cc, (nr + R) * W + (nc + R)
        pos = np.minimum(np.searchsorted(flat, want), max(flat.size - 1, 0))
        hit = flat[pos] == want if flat.size else np.zeros(want.size, bool)
        vals[:, hit] = have[:, pos[hit]]
        mr, mc = nr[~hit], nc[~hit]
        miss = np.flatnonzero(~hit)
        # (only the patch channels there: no window statistics, a few of the features' cost)
        for k, X in self._features(b1, b2, mr + READ, mc + READ, list(P.CHANNELS[1:])):
            vals[:, miss[k:k + len(X)]] = X.T
        idx = (nr * w + nc).astype(np.int32)
        return prob16[R:-R, R:-R], idx, vals


def _halo_window(frame: Frame, tile: Any, halo: int = READ
                 ) -> tuple[tuple[slice, slice], tuple[int, int, int, int]]:
    """The tile grown by *halo* pixels, clipped to the frame, and the padding that restores the
    full halo at the frame's edges (top, bottom, left, right)."""
    (rows, cols), (hh, ww) = tile.window, frame.shape
    R0, R1 = max(rows.start - halo, 0), min(rows.stop + halo, hh)
    C0, C1 = max(cols.start - halo, 0), min(cols.stop + halo, ww)
    pads = (halo - (rows.start - R0), halo - (R1 - rows.stop),
            halo - (cols.start - C0), halo - (C1 - cols.stop))
    return (slice(R0, R1), slice(C0, C1)), pads


def store_key(model: Any, plan: FeaturePlan, prescreen: float | None, tile_size: int,
              extra: Any = None) -> str:
    """Stamp of the pixel stage's inputs (model, scenes' sample, pre-screen, tiles)."""
    kind, level = resolve_prescreen(model, prescreen)
    screen: list[Any] = [kind, level]
    if kind == "learned":
        screen.append(hashlib.sha256(model.screen_model.encode()).hexdigest())
    inputs = ["predict-v3", model.header.get("pixel_model_sha256") or
              hashlib.sha256(model.pixel_model.encode()).hexdigest(), plan.sample_hash,
              repr(plan.frame), screen, int(tile_size), extra]
    if model.header.get("smooth", "none") != "none":  # the stored probability is smoothed
        inputs.append(["smooth", model.header["smooth"]])
    return hashlib.sha256(json.dumps(inputs, default=str).encode()).hexdigest()[:16]


def pixel_stage(model: Any, plan: FeaturePlan, out: PixelTiles, *,
                threshold: float | None = None, prescreen: float | None = PRESCREEN,
                mask: Any = None, overview: tuple[list[int], int] | None = None,
                client: Any = None, bar: Any = None) -> None:
    """Compute the missing tiles of *out* (dask scenes: one task per tile, each saved when
    ready; NumPy scenes: tiles spread over :func:`onemap._compute.threads` threads).

    The tiles are the unit of parallelism (:mod:`onemap._compute`'s policy): each reads its
    halo window once (file-backed scenes straight from the files, :func:`onemap.ingest.window.
    read_window`: dask's overlap of the chunks read each chunk again for every neighbour that
    needs its edge) and runs its kernels and the models' numba ensembles
    (:class:`~onemap.change.trees.Ensemble`) on one thread. *threshold* is the pixel
    probability of a candidate (default: the model's): the patch channels are kept on the
    candidates and their rings.

    *mask*: None, a ``(y, x)`` boolean array (True = left out) or a
    :class:`~onemap.change.MaskPolicy`, evaluated per tile on the bands the tile reads (its
    window grown by the policy's :meth:`~onemap.change.MaskPolicy.reach`), so the clouds cost
    no second read of the imagery. *overview* ``(rgb band indices, step)``: keep each tile's
    share of the after-image overview in the store (the survey's report map), so the imagery is
    read once.
    """
    from ..ingest.window import BlockCache, expect_window, read_window
    from ..tilestore import overview_share
    from ._sample import _as_window

    todo = out.missing()
    if not todo:
        return
    frame = plan.frame
    policy, reach, m = _mask_source(mask, plan)
    halo = max(READ, MASK_RING + reach)
    fn = _TileFn(model, plan, prescreen, model.threshold if threshold is None else threshold)
    # lazy scenes not backed by files: their windows are computed by dask as the task's inputs
    by_dask = [is_lazy(x.data) and x.onemap.source is None for x in (plan.before, plan.after)]
    # nothing for dask to compute and no cluster: the tiles run here, in raster order, so the
    # halo strips of the file blocks two tiles read are decoded once and kept between the reads
    here = client is None and not any(by_dask) and not is_lazy(m)
    cache = BlockCache(READ_CACHE_BYTES) if here else None
    if cache is not None:
        for t in todo:
            for x in (plan.before, plan.after):
                expect_window(x, *_halo_window(frame, t, halo)[0], cache)

    def one(t: Any, raw1: Any, raw2: Any, mk: Any) -> Any:
        """The tile from its window grown by *halo* (clipped at the frame's edges) as read, or
        None: read here; *mk*: the mask of the tile and its ring, or None. Saved here, or --
        in memory, where the task may run in another process -- returned for the caller to
        save."""
        (rs, cs), pads = _halo_window(frame, t, halo)
        raw1, raw2 = (np.asarray(read_window(x, rs, cs, cache) if r is None else r)
                      for x, r in ((plan.before, raw1), (plan.after, raw2)))
        if policy is not None:
            full = policy(_as_window(plan.before, (rs, cs), raw1),
                          _as_window(plan.after, (rs, cs), raw2))
            mk = None if full is None else np.asarray(full.values)[_inside(pads, halo,
                                                                           MASK_RING)]
        if mk is not None:
            _, ring_pads = _halo_window(frame, t, MASK_RING)
            mk = np.pad(np.asarray(mk, bool), ((ring_pads[0], ring_pads[1]),
                                               (ring_pads[2], ring_pads[3])),
                        constant_values=True)
        cut = _inside(pads, halo, READ)
        b1 = _padded(raw1[(slice(None), *cut)], plan.nodata1, _pads(pads, halo, READ))
        b2 = _padded(raw2[(slice(None), *cut)], plan.nodata2, _pads(pads, halo, READ))
        res = fn(b1, b2, mk)
        ov = None
        if overview is not None:
            core = raw2[(slice(None), *_inside(pads, halo, 0))]
            ov = overview_share(core, overview[0], overview[1], t.window[0].start,
                                t.window[1].start)
        if bar is not None:
            bar.update(1)
        if out.folder is None and not here:
            return t, res, ov
        out.save(t, res, ov)
        return None

    def inputs(t: Any) -> tuple:
        (rs, cs), _ = _halo_window(frame, t, halo)
        raws = [x.data[:, rs, cs] if d else None
                for x, d in ((plan.before, by_dask[0]), (plan.after, by_dask[1]))]
        mk = None if m is None else m[_halo_window(frame, t, MASK_RING)[0]]  # lazy on dask
        return (t, *raws, mk)

    if here:
        from .._compute import serial

        def job(t: Any) -> None:
            with serial():
                one(*inputs(t))

        run(job, [(t,) for t in todo], workers=threads())
        return
    import dask

    tasks = [dask.delayed(one, pure=True)(*inputs(t)) for t in todo]
    done = dask.compute(*tasks) if client is None else client.gather(client.compute(tasks))
    for r in done:
        if r is not None:
            out.save(*r)


def _mask_source(mask: Any, plan: FeaturePlan) -> tuple[Any, int, Any]:
    """(policy evaluated per tile or None, its reach in pixels, the mask as an array or None)."""
    from ._scene import check_mask
    from .policy import MaskPolicy

    if isinstance(mask, MaskPolicy):
        if not mask.excludes_anything:
            return None, 0, None
        reach = mask.reach(plan.before)
        if reach is not None:
            return mask, int(reach), None
    if callable(mask):  # other functions: evaluated on the whole grid (lazily on dask)
        mask = mask(plan.before, plan.after)
    return None, 0, check_mask(mask, plan.frame.shape)


def _inside(pads: tuple[int, int, int, int], halo: int, keep: int) -> tuple[slice, slice]:
    """Of a window grown by *halo* around a tile (clipped: *pads* missing on each side), the
    part grown by *keep* <= *halo* only (clipped as well)."""
    top, bottom, left, right = pads
    return (slice(max(halo - keep - top, 0), -max(halo - keep - bottom, 0) or None),
            slice(max(halo - keep - left, 0), -max(halo - keep - right, 0) or None))


def _pads(pads: tuple[int, int, int, int], halo: int, keep: int) -> tuple[int, int, int, int]:
    """The padding that restores a full *keep* halo from :func:`_inside`'s part."""
    return tuple(max(keep - (halo - p), 0) for p in pads)  # type: ignore[return-value]

