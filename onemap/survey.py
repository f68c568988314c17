"""The annual change survey as one resumable batch run: config → outputs.

:func:`run_survey` runs ingest → align → detect → flag → summarize → export; this module only
orders the stages, each done by the module that owns it:

1. **ingest** every layer onto the frame's CRS and **align** both scenes lazily onto the frame
   (:mod:`onemap.survey_inputs`: scenes, dates, layers, coverage, and the
   :class:`onemap.change.MaskPolicy` of ``[detect] options``);
2. **score** the change with the public chain, ``change_score(..., mask=policy, store=...)``:
   tile by tile into a resumable :class:`onemap.tilestore.TileStore` under ``work/score/`` (a
   run killed midway and started again skips the finished tiles; the score of a tile does not
   depend on the tiling: global normalisation statistics, halos for smoothing);
3. **patches**: one *global* threshold from the histogram of the whole score
   (:func:`onemap.change.threshold_score`, its typed status), then mask, labelling with
   stitched tile seams, polygons (:func:`onemap.change.patches_above`) — or a trained model's
   patches;
4. **flag** every patch (:func:`onemap.flag_unapproved`), with ``[history]`` match it against
   earlier years' results (:func:`onemap.history.match_previous`), **summarize** per admin unit,
   the approve–supply–use chain of every approval;
5. **export** atomically (:func:`onemap.export.export_results`): ``verdicts.gpkg``,
   ``verdicts.parquet``, ``verdicts.csv``, ``summary.csv``, ``approvals_status.csv``,
   ``data_dictionary.csv`` (CSVs for people: Chinese or ``[report] lang`` headers),
   ``flagged_txt/`` (one land-boundary TXT per flagged patch for the field check),
   ``report.html`` (:func:`onemap.report.write_report`) and ``manifest.json`` (inputs with
   hashes, parameters, versions, timings, counts, output hashes: :mod:`onemap.manifest`).

Outputs are identical whether the run was interrupted or not, and between reruns. The sample
county's survey (``onemap demo``) is in :mod:`onemap.demo`.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from . import __version__
from ._atomic import atomic_write_text
from .cluster import connect
from .config import SurveyConfig, load_config
from .demo import demo_config, run_demo
from .errors import NoValidPixelsError, OnemapError, OnemapWarning, speaking
from .export import export_results, sha256_file
from .frame import Frame
from .manifest import StageTimer, build_manifest, n_unknown_landuse, production_date
from .survey_inputs import (
    explain_no_valid_pixels,
    layer_coverage,
    mask_policy,
    native_res,
    open_scenes,
    read_layers,
    scene_dates,
    survey_frame,
)

__all__ = ["run_survey", "run_demo", "SurveyResult", "survey_frame", "native_res", "demo_config",
           "connect"]

log = logging.getLogger("onemap.survey")


@dataclass
class SurveyResult:
    """What a survey produced: the output folder, the verdicts, the summary and the manifest."""

    output: Path
    verdicts: gpd.GeoDataFrame
    summary: pd.DataFrame
    approvals: gpd.GeoDataFrame | None
    manifest: dict[str, Any]

    def __repr__(self) -> str:
        counts = self.verdicts["verdict"].value_counts().to_dict() if len(self.verdicts) else {}
        return f"SurveyResult({self.output}, {len(self.verdicts)} patches {counts})"


def run_survey(config: str | PathLike | Mapping[str, Any] | SurveyConfig, client: Any = None,
               progress: bool = True) -> SurveyResult:
    """Run the change survey described by *config* and write its outputs.

    Parameters
    ----------
    config
        A TOML path, a mapping of the same structure, or a :class:`~onemap.config.SurveyConfig`.
    client
        A ``dask.distributed.Client`` to compute on; default: ``[run] scheduler`` of the config
        (``"threads"``, ``"synchronous"`` or a scheduler address), else dask's threaded scheduler
        with ``[run] workers`` threads.
    progress
        Show progress bars (only on a terminal).

    Returns
    -------
    SurveyResult
    """
    # the survey's user writes TOML: fixes name its keys, also for errors raised in worker threads
    with speaking("toml"):
        try:
            cfg = config if isinstance(config, SurveyConfig) else load_config(config)
            if client is not None:
                return _run(cfg, client, progress)
            if cfg.scheduler not in (None, "threads", "synchronous"):  # a dask.distributed address
                with connect(cfg.scheduler, "[run] scheduler") as remote:
                    return _run(cfg, remote, progress)
            import dask

            with dask.config.set(scheduler=cfg.scheduler or "threads", num_workers=cfg.workers):
                return _run(cfg, None, progress)
        except OnemapError as exc:
            raise exc.speak("toml")  # noqa: B904 - the same error, re-phrased


def _run(cfg: SurveyConfig, client: Any, progress: bool) -> SurveyResult:
    out = cfg.output
    (out / "work").mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)  # a manifest only ever describes a complete run
    timer = StageTimer(log)
    from .enforce import flag_unapproved
    from .invariants import check_invariants
    from .summary import approvals_status, summarize

    with timer("ingest"):
        before, after, frame = open_scenes(cfg)
        dates = scene_dates(cfg, before, after)
        layers = read_layers(cfg, frame)
        coverage = layer_coverage(cfg, frame, layers)
    if cfg.detect_model is not None:  # a trained model: its patches, no classical score
        with timer("model"):
            patches, score_attrs, overview = _model_patches(cfg, before, after, frame, client)
    else:
        with timer("score"):
            score, score_attrs, overview = _score(cfg, before, after, frame, client, progress)
        with timer("patches"):
            patches = _patches(cfg, score, score_attrs, frame, before, after)
    with timer("flag"), warnings.catch_warnings():
        if cfg.layers.get("approvals") is not None and cfg.layers["approvals"].allow_empty:
            # the TOML said so ([layers.approvals] allow_empty = true): nothing to warn about
            warnings.filterwarnings("ignore", "approval layer is empty", OnemapWarning)
        verdicts = flag_unapproved(patches, layers.get("approvals"), layers["landuse"],
                                   farmland=layers.get("farmland"), redline=layers.get("redline"),
                                   cadastral=layers.get("cadastral"), admin=layers.get("admin"),
                                   tolerance_m=cfg.tolerance_m, frame=frame, partition_size=1_000,
                                   client=client)
    if cfg.history_previous:  # year over year: new cases vs old ones still unresolved
        with timer("history"):
            from .history import match_previous

            verdicts = match_previous(verdicts, [dict(s) for s in cfg.history_previous],
                                      min_overlap=cfg.history_min_overlap,
                                      resolved=cfg.history_resolved)
    with timer("summarize"):
        summary = summarize(verdicts, by="admin" if layers.get("admin") is not None else None,
                            threshold=cfg.ratio_threshold)
        status = None
        if layers.get("approvals") is not None and len(layers["approvals"]):
            status = approvals_status(layers["approvals"], patches, supply=layers.get("supply"))
    with timer("invariants"):  # before anything is written: a broken bookkeeping stops the run
        invariants = check_invariants(patches, verdicts, summary)
    with timer("export"):
        produced = production_date(out / "work" / "score")
        outputs = export_results(out, verdicts, summary, status, produced=produced,
                                 lang=cfg.report_lang)
    with timer("report"):
        from .labels import text as _label
        from .report import write_report

        report = write_report(out / "report.html", summary, verdicts, before, after, frame,
                              title=f"{cfg.name} {_label('survey', cfg.report_lang)}",
                              threshold=cfg.ratio_threshold,
                              extra={"method": score_attrs.get("method", cfg.method),
                                     "threshold": score_attrs.get("threshold"),
                                     "patches": len(patches),
                                     "unknown_landuse_patches": n_unknown_landuse(verdicts)},
                              overview=overview, layers=layers, lang=cfg.report_lang,
                              coverage=coverage)
        outputs["report.html"] = sha256_file(report)
    database = None
    if cfg.database is not None:
        with timer("database"):
            database = _write_database(cfg, verdicts, summary, status, before, after)
    manifest = build_manifest(cfg, frame=frame, timings=timer.times, verdicts=verdicts,
                              outputs=outputs, detection=score_attrs, coverage=coverage,
                              invariants=invariants, produced=produced, dates=dates,
                              database=database)
    atomic_write_text(out / "manifest.json",
                      json.dumps(manifest, ensure_ascii=False, indent=2, default=str))
    return SurveyResult(out, verdicts, summary, status, manifest)


# ------------------------------------------------------------------------------------ stages

def _write_database(cfg: SurveyConfig, verdicts: gpd.GeoDataFrame, summary: pd.DataFrame,
                    status: Any, before: Any, after: Any) -> dict[str, Any]:
    """``[database]``: the results into PostGIS, replacing this survey's rows in one transaction."""
    from .db import SurveyKey, redact, write_results

    db = cfg.database
    assert db is not None  # called only with a [database] table
    key = SurveyKey(cfg.name, db.county, before.attrs.get("date") or cfg.before.date,
                    after.attrs.get("date") or cfg.after.date, __version__)
    rows = write_results(db.url, key, verdicts=verdicts, summary=summary, approvals=status,
                         schema=db.schema)
    return {"url": redact(db.url), "schema": db.schema, "rows": rows,
            "key": {k: str(v) if v is not None else None for k, v in key.__dict__.items()}}


OVERVIEW_PIXELS = 1600  # longest side of the after-image overview kept for the report map


def _overview_step(frame: Frame) -> int:
    """The overview keeps every step-th pixel of the after-image."""
    return max(1, -(-max(frame.shape) // OVERVIEW_PIXELS))


def _score(cfg: SurveyConfig, before: Any, after: Any, frame: Frame, client: Any,
           progress: bool) -> tuple[Any, dict[str, Any], np.ndarray | None]:
    """The change score, computed tile by tile into the resumable store under ``work/score`` and
    read back lazily; each tile keeps its share of the after-image overview of the report map, so
    the imagery is read once. Returns the score, its attributes and the overview ``(3, h, w)``."""
    from .change import change_score
    from .report import rgb_bands
    from .tilestore import TileStore

    opts = {k: v for k, v in cfg.detect_options.items()
            if k in ("normalize", "smooth", "index", "direction", "sample_pixels")}
    step = _overview_step(frame)
    store = TileStore(cfg.output / "work" / "score", frame, cfg.tile_size,
                      overview_rgb=rgb_bands(after), overview_step=step, client=client,
                      progress=progress)
    score = change_score(before, after, method=cfg.method, mask=mask_policy(cfg), store=store,
                         **opts)
    return score, dict(score.attrs), store.overview()


def _model_patches(cfg: SurveyConfig, before: Any, after: Any, frame: Frame,
                   client: Any) -> tuple[gpd.GeoDataFrame, dict[str, Any], np.ndarray | None]:
    """With ``[detect] model``: the trained model's patches (tiled, pre-screened, resumable
    under ``work/model``), their attributes and the report's overview, in place of the score."""
    from .change.model import detect_with_model
    from .report import rgb_bands
    from .tilestore import TileStore

    assert cfg.detect_model is not None  # called only with [detect] model
    folder = cfg.output / "work" / "model"
    step = _overview_step(frame)
    patches = detect_with_model(before, after, cfg.detect_model, min_area=cfg.min_area,
                                prescreen=cfg.detect_prescreen,
                                mask=mask_policy(cfg), store=folder,
                                tile_size=cfg.tile_size, overview=(rgb_bands(after), step),
                                client=client, store_stamp=[cfg.detect_options,
                                [str(p) for p in cfg.before.paths + cfg.after.paths]])
    attrs = {k: patches.attrs[k] for k in ("method", "threshold", "patch_threshold",
                                           "prescreen", "screen_level", "candidates",
                                           "feature_set")}
    attrs["model"] = str(cfg.detect_model)
    patches = patches.rename(columns={"id": "patch_id"})
    return patches, attrs, TileStore(folder, frame, cfg.tile_size).overview()


def _patches(cfg: SurveyConfig, score: Any, attrs: dict[str, Any], frame: Frame, before: Any,
             after: Any) -> gpd.GeoDataFrame:
    from .change import DetectionStatus, patches_above, threshold_score

    opts = cfg.detect_options
    try:
        t = threshold_score(score, threshold=cfg.threshold, k=cfg.k, floor=opts["noise_floor"],
                            value_range=attrs.get("score_range"))
    except NoValidPixelsError as exc:  # say which scene, and why
        raise explain_no_valid_pixels(cfg, before, after, exc) from exc
    if t.status is DetectionStatus.CONSTANT_SCORE:
        warnings.warn(f"the change score is constant ({t.threshold:g}): the threshold is "
                      "undefined, no pixel is taken as changed", OnemapWarning, stacklevel=4)
    patches = patches_above(score, t.threshold, frame, noise=t.noise,
                            opening=int(opts["opening"]), connectivity=int(opts["connectivity"]),
                            min_area=cfg.min_area,
                            dates=(before.attrs.get("date"), after.attrs.get("date")))
    attrs.update(threshold=t.threshold, noise=t.noise)
    return patches.rename(columns={"id": "patch_id"}) if "id" in patches.columns else patches
