"""The trained change detector: a model file a bureau can keep and share, and prediction with it.

Learner: LightGBM gradient-boosted trees. Why LightGBM: its own plain-text model format
(``Booster.model_to_string`` / ``Booster(model_str=...)``) is safe to load (no pickle, no code)
and portable between machines and versions; it trains fast on multithreaded CPUs; and with
``seed``, ``deterministic=True``, ``force_row_wise=True`` and a fixed ``num_threads`` the same
inputs give the same model bytes.

Two stages: a pixel model turns :mod:`onemap.change.features` into a change probability; the
candidate patches (``probability >= threshold``, the probability first smoothed by its 3 x 3
mean when the header's ``smooth`` says ``"mean3"``; files without the entry: not smoothed) then go
to a patch model on per-patch features
(:mod:`onemap.change._patch_stage`) that keeps or drops each, and every kept patch carries its
probability.

Model file (``.json``, written atomically): one JSON object with a header -- ``format``
(``"onemap-change-model"``), ``format_version``, onemap version, feature set and feature names,
band names, sensor, resolution in metres, training parameters, the training data's hashes, the
scores of its own out-of-fold validation, the thresholds, the learned pre-screen's entry
``screen`` (:mod:`onemap.change._screen`: its features, level and out-of-fold cost) -- and the
LightGBM text models (pixel, patch, screen) as strings with their SHA-256. The screen is
optional and needs no new format version: a file written before it loads and predicts without
a screen, and an older reader of a newer file ignores the screen (it then scores every pixel,
which is the result the screen approximates). A model is refused on a scene whose bands differ
or whose resolution differs by more than :data:`RESOLUTION_FACTOR` (features are in pixels:
windows, texture).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import xarray as xr

from ..errors import DataError, FormatError
from ..frame import Frame
from . import _patch_stage as P
from ._scene import as_scene, check_mask, pixel_area_m2
from .features import FEATURE_SET, FeaturePlan
from .trees import Ensemble

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "RESOLUTION_FACTOR",
    "ChangeModel",
    "ModelFileError",
    "ModelMismatchError",
    "detect_with_model",
    "load_model",
]

FORMAT = "onemap-change-model"
FORMAT_VERSION = 1
RESOLUTION_FACTOR = 2.0  # a model is used on scenes within this factor of its training resolution


class ModelFileError(FormatError):
    """A model file that cannot be read: truncated, not a model, another format version."""


class ModelMismatchError(DataError):
    """A model used on a scene it was not trained for (other bands, resolution, feature set)."""


def resolution_m(frame: Frame) -> float:
    """Pixel size in metres (square root of the pixel area; geodesic for geographic CRSs)."""
    return float(np.sqrt(pixel_area_m2(frame)))


def _booster(text: str) -> Any:
    import lightgbm as lgb

    return lgb.Booster(model_str=text)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class ChangeModel:
    """A trained two-stage change detector (see the module docstring).

    Build one with :func:`onemap.change.train.train_change_model`, save it with :meth:`save`,
    read it with :func:`load_model`.
    """

    header: dict[str, Any]
    pixel_model: str
    patch_model: str | None = None
    path: str | None = None
    screen_model: str | None = None  # the learned pre-screen (files before it have none)
    _boosters: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _ensembles: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def threshold(self) -> float:
        return float(self.header["threshold"])

    @property
    def patch_threshold(self) -> float:
        return float(self.header["patch_threshold"])

    @property
    def screen(self) -> dict[str, Any] | None:
        """The learned pre-screen's header entry (features, level, out-of-fold cost), or None
        for a model file written before it."""
        return self.header.get("screen") if self.screen_model is not None else None

    def booster(self, stage: str) -> Any:
        if stage not in self._boosters:
            text = {"pixel": self.pixel_model, "patch": self.patch_model,
                    "screen": self.screen_model}[stage]
            if text is None:  # a header without this stage: not a model this version wrote
                raise ModelFileError(f"the model has no {stage} stage", hint="train it again")
            self._boosters[stage] = _booster(text)
        return self._boosters[stage]

    def ensemble(self, stage: str) -> Ensemble:
        """The *stage*'s (``"pixel"``, ``"patch"`` or ``"screen"``) model as a numba
        :class:`Ensemble`: the same probabilities as :meth:`booster`'s ``predict``, faster and
        without the GIL.

        Raises :class:`~onemap.change.trees.UnsupportedModelError` for a patch model with
        categorical splits (trained with land use): use :meth:`booster` for it.
        """
        texts = {"pixel": self.pixel_model, "patch": self.patch_model,
                 "screen": self.screen_model}
        if stage not in texts:
            raise DataError(f"a model's stages are 'pixel', 'patch' and 'screen', not {stage!r}",
                            hint="pass stage='pixel', 'patch' or 'screen'")
        if stage not in self._ensembles:
            text = texts[stage]
            if text is None:
                raise ModelFileError(f"the model has no {stage} stage", hint="train it again")
            self._ensembles[stage] = Ensemble.from_text(text)
        return self._ensembles[stage]

    def to_json(self) -> str:
        doc = {
            **self.header,
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "pixel_model_sha256": _sha(self.pixel_model),
            "patch_model_sha256": _sha(self.patch_model) if self.patch_model else None,
            "pixel_model": self.pixel_model,
            "patch_model": self.patch_model,
        }
        if self.screen_model is not None:  # files without a screen keep their old bytes
            doc["screen_model"] = self.screen_model
            doc["screen_model_sha256"] = _sha(self.screen_model)
        return json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n"

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model file atomically (the same model always gives the same bytes)."""
        from .._atomic import atomic_write_text

        atomic_write_text(path, self.to_json())
        self.path = str(path)
        return Path(path)

    # -- checks --------------------------------------------------------------------------------
    def check_scene(self, plan: FeaturePlan) -> None:
        """Raise :class:`ModelMismatchError` when *plan*'s scene does not fit the model."""
        where = self.path or "the model"
        h = self.header
        if plan.bands != list(h["bands"]):
            missing = [b for b in h["bands"] if b not in plan.bands]
            extra = [b for b in plan.bands if b not in h["bands"]]
            raise ModelMismatchError(
                f"the model was trained on bands {', '.join(h['bands'])}; the scene has "
                f"{', '.join(plan.bands)}"
                + (f" (missing: {', '.join(missing)})" if missing else "")
                + (f" (not in the model: {', '.join(extra)})" if extra else ""),
                path=self.path,
                hint="select the model's bands in its order with scene.sel(band=[...]), "
                "or train a model "
                "on imagery with these bands (onemap train)",
            )
        res, trained = resolution_m(plan.frame), float(h["resolution_m"])
        if not trained / RESOLUTION_FACTOR <= res <= trained * RESOLUTION_FACTOR:
            raise ModelMismatchError(
                f"the scene's pixels are {res:.3g} m, the model was trained at {trained:.3g} m "
                f"(usable within a factor {RESOLUTION_FACTOR:g})",
                path=self.path,
                hint=f"resample the scenes to about {trained:.3g} m with onemap.align, "
                "or train a model "
                "at this resolution",
            )
        if plan.names != list(h["features"]) or h["feature_set"] != FEATURE_SET:
            raise ModelMismatchError(
                f"{where} uses feature set {h['feature_set']} with "
                f"{len(h['features'])} features; this onemap computes {FEATURE_SET} "
                f"with {len(plan.names)} for this scene",
                path=self.path,
                hint="retrain the model with this onemap version",
            )

    # -- prediction ----------------------------------------------------------------------------
    def pixel_tile(self, num_threads: int = 1) -> Any:
        """``fn(features) -> (len(CHANNELS), h, w)``: probability and the patch stage's channels."""
        names = list(self.header["features"])
        take = [names.index(c) for c in P.CHANNELS[1:]]
        booster = self.booster("pixel")

        def fn(feats: np.ndarray) -> np.ndarray:
            f, h, w = feats.shape
            X = np.ascontiguousarray(feats.reshape(f, -1).T)
            valid = np.isfinite(X[:, names.index("cva")])
            prob = np.full(h * w, np.nan, np.float32)
            if valid.any():
                prob[valid] = booster.predict(X[valid], num_threads=num_threads)
            return np.concatenate([prob.reshape(1, h, w), feats[take]])

        return fn

    def patch_probability(self, table: np.ndarray) -> np.ndarray:
        if self.patch_model is None or len(table) == 0:
            return table[:, P.PATCH_FEATURES.index("prob_mean")] if len(table) else np.zeros(0)
        return self.booster("patch").predict(table, num_threads=1)


def load_model(path: str | os.PathLike | ChangeModel) -> ChangeModel:
    """Read a model file written by :meth:`ChangeModel.save` (a loaded model passes through).

    Raises
    ------
    ModelFileError
        The file is missing, truncated or damaged, not an onemap change model, or of another
        format version; the message names the file and what to do.
    """
    if isinstance(path, ChangeModel):
        return path
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(
            "model file not found",
            path=p,
            hint="train one with `onemap train` or benchmarks/train_models.py",
        )
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(
            f"not a readable model file (truncated or damaged: {exc})",
            path=p,
            hint="copy the file again or retrain the model",
        ) from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(
            "not an onemap change model (no format 'onemap-change-model')",
            path=p,
            hint="pass a file written by onemap's ChangeModel.save / `onemap train`",
        )
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"model file format version {doc.get('format_version')}, this onemap reads "
            f"version {FORMAT_VERSION}",
            path=p,
            hint="retrain the model with this onemap version (onemap train)",
        )
    for key in (
        "pixel_model",
        "bands",
        "features",
        "feature_set",
        "resolution_m",
        "threshold",
        "patch_threshold",
    ):
        if key not in doc:
            raise ModelFileError(f"model file lacks {key!r}", path=p, hint="retrain the model")
    if ("screen_model" in doc) != isinstance(doc.get("screen"), dict):
        raise ModelFileError(
            "the model file has a screen model without its header entry or the reverse "
            "(damaged file)",
            path=p,
            hint="copy the file again or retrain the model",
        )
    for stage in ("pixel_model", "patch_model", "screen_model"):
        text = doc.get(stage)
        if text is not None and _sha(text) != doc.get(stage + "_sha256"):
            raise ModelFileError(
                f"the {stage.replace('_', ' ')} does not match its checksum (damaged file)",
                path=p,
                hint="copy the file again or retrain the model",
            )
    header = {
        k: v
        for k, v in doc.items()
        if k
        not in (
            "pixel_model",
            "patch_model",
            "format",
            "format_version",
            "pixel_model_sha256",
            "patch_model_sha256",
            "screen_model",
            "screen_model_sha256",
        )
    }
    model = ChangeModel(header, doc["pixel_model"], doc.get("patch_model"), path=str(p),
                        screen_model=doc.get("screen_model"))
    try:
        model.booster("pixel")
        if model.patch_model:
            model.booster("patch")
        if model.screen_model:
            model.booster("screen")
    except Exception as exc:  # LightGBM's own parser: a damaged model string
        raise ModelFileError(
            f"the LightGBM model in the file cannot be read ({exc})",
            path=p,
            hint="copy the file again or retrain the model",
        ) from exc
    return model


def _landuse_raster(landuse: gpd.GeoDataFrame | None, frame: Frame) -> np.ndarray | None:
    """Land-use class before (first two code digits) on the grid, -1 outside any polygon."""
    if landuse is None:
        return None
    from rasterio import features

    from ..errors import CRSError

    col = (
        "landuse_code"
        if "landuse_code" in landuse.columns
        else "DLBM"
        if "DLBM" in landuse.columns
        else None
    )
    if col is None:
        raise DataError(
            "the land-use layer has no landuse_code (or DLBM) column",
            hint="read it with onemap.read_layer(kind='landuse')",
        )
    if landuse.crs is None or not frame.crs.equals(landuse.crs):
        raise CRSError(
            f"the land-use layer is in {landuse.crs}, the scenes in {frame.crs}",
            hint="reproject it with landuse.to_crs(...) first",
        )
    cls = P.landuse_class(landuse[col].to_numpy())
    if not len(landuse):
        return np.full(frame.shape, -1, np.int32)
    return features.rasterize(
        zip(landuse.geometry, cls, strict=False),
        out_shape=frame.shape,
        transform=frame.transform,
        fill=-1,
        dtype="int32",
    )


def detect_with_model(
    before: xr.DataArray,
    after: xr.DataArray,
    model: str | os.PathLike | ChangeModel,
    *,
    threshold: float | None = None,
    patch_threshold: float | None = None,
    min_area: float = 0.0,
    min_pixels: int | None = None,
    mask: Any = None,
    connectivity: int = 8,
    landuse: gpd.GeoDataFrame | None = None,
    frame: Frame | None = None,
    prescreen: float | None = None,
    store: str | os.PathLike | None = None,
    tile_size: int | None = None,
    overview: tuple[list[int], int] | None = None,
    client: Any = None,
    store_stamp: Any = None,
) -> gpd.GeoDataFrame:
    """Change patches with a trained model (what ``detect_changes(..., model=...)`` calls).

    *threshold* is the pixel probability that makes a candidate (default: the model's own,
    chosen on its out-of-fold validation, see ``header["threshold"]``); *patch_threshold* the
    patch probability to keep a candidate (default: the model's own, ``header["patch_threshold"]``,
    chosen the same way; 0 keeps every candidate); *min_pixels* the smallest candidate the patch
    stage keeps (default: the model's own, ``header["min_pixels"]``: 0 unless it was trained with
    ``min_size=True``). These defaults come from the training data's own validation, not from
    any test scene. *min_area* (m²) drops smaller patches on top. Output columns as
    :func:`onemap.detect_changes` plus ``probability`` (the patch model's probability that the
    patch is real change; ``confidence`` holds the same); ``score_mean``/``score_max`` are the
    mean and maximum pixel probability.

    Prediction is tiled and pre-screened (:mod:`onemap.change.predict`). *prescreen*: None
    (default) uses the model's learned screen (``header["screen"]``: a small model on cheap
    channels whose level keeps 99 % of the out-of-fold true detections; a model file without
    one scores every pixel); 0 turns the screen off (every pixel scored); a number > 0 is a
    fixed CVA magnitude in noise sigmas below which a pixel's probability is 0 (what it costs
    depends on the scene: benchmarks/README.md). *store*: a folder
    keeping the pixel stage tile by tile, so a killed run resumes (the survey's ``work/model``);
    *tile_size*: its tiles (default: the scenes' dask chunks, else 1024). The result does not
    depend on the tiles; they run in parallel, one thread each.
    *mask*: pixels left out (True), a ``(y, x)`` boolean array or a
    :class:`~onemap.change.MaskPolicy` (evaluated tile by tile on the bands each tile reads).
    *overview* ``(rgb, step)``, *client* and *store_stamp* (other inputs
    the stored tiles depend on, e.g. the mask's options) are the survey's.
    """
    from ._model_patches import model_patches
    from ._stored import mask_key
    from .patches import COLUMNS
    from .predict import PixelTiles, pixel_stage, resolve_prescreen, store_key

    model = load_model(model)
    before, after = as_scene(before, "before"), as_scene(after, "after")
    names = [str(b) for b in before.coords["band"].values]
    if sorted(names) == sorted(model.header["bands"]) and names != list(model.header["bands"]):
        before = before.sel(band=model.header["bands"])  # same bands, another order
    plan = FeaturePlan(before, after, mask=mask, frame=frame)
    model.check_scene(plan)
    thr = model.threshold if threshold is None else float(threshold)
    pthr = model.patch_threshold if patch_threshold is None else float(patch_threshold)
    if not (0.0 <= thr <= 1.0 and 0.0 <= pthr <= 1.0):
        raise DataError(f"probability thresholds must lie in [0, 1], got {thr} and {pthr}")
    mpx = int(model.header.get("min_pixels", 0)) if min_pixels is None else int(min_pixels)
    if mpx > 0:  # the patch stage's minimum size, on this scene's pixels
        from ._scene import pixel_area_m2

        min_area = max(float(min_area), mpx * pixel_area_m2(plan.frame))
    kind, level = resolve_prescreen(model, prescreen)  # checks the value
    if tile_size is None:
        chunks = getattr(plan.before.data, "chunks", None)
        tile_size = max(chunks[1][0], chunks[2][0]) if chunks else 1024
    tiles = PixelTiles(plan.frame, int(tile_size), store)
    tiles.open(store_key(model, plan, prescreen, int(tile_size),
                         [thr, mask_key(mask), store_stamp]))
    m = mask if mask is None or callable(mask) else check_mask(mask, plan.frame.shape)
    pixel_stage(model, plan, tiles, threshold=thr, prescreen=prescreen, mask=m, overview=overview,
                client=client)
    lu = landuse if model.header.get("uses_landuse") else None
    out, info = model_patches(model, plan, tiles, threshold=thr, patch_threshold=pthr,
                              min_area=min_area, connectivity=connectivity, landuse=lu)
    out["confidence"] = out["probability"].to_numpy()
    out = out[COLUMNS[:-1] + ["probability", "geometry"]]
    out.attrs.update(
        {
            "method": "trained",
            "model": model.path,
            "threshold": thr,
            "patch_threshold": pthr,
            "prescreen": kind if kind != "cva" else level,
            "screen_level": level if kind == "learned" else None,
            "candidates": info["candidates"],
            "min_area": float(min_area),
            "feature_set": model.header["feature_set"],
            "status": "ok",
            "date_before": plan.before.attrs.get("date"),
            "date_after": plan.after.attrs.get("date"),
        }
    )
    return out
