"""The survey's ``manifest.json``: what went in, with which software, and what came out.

:func:`build_manifest` gathers, from explicit arguments, everything a reviewer needs to check or
repeat a survey: the input files with their sizes and SHA-256, the configuration, the frame, the
package versions, the stage timings, the verdict counts, the detection parameters, the output
hashes and the run's records (coverage, invariants, dates, history, database).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import platform
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from . import __version__
from ._atomic import atomic_write_text
from .config import SurveyConfig
from .export import sha256_file
from .frame import Frame

__all__ = ["build_manifest", "versions", "StageTimer", "production_date"]

PACKAGES = ("numpy", "numba", "geopandas", "shapely", "rasterio", "pyproj", "xarray", "dask",
            "pyogrio")


def versions() -> dict[str, str]:
    """Versions of onemap, Python, the geospatial packages and GDAL that produced a result.

    >>> v = versions()
    >>> sorted(k for k in ("onemap", "python", "numpy") if k in v)
    ['numpy', 'onemap', 'python']
    """
    import importlib.metadata as md

    out = {"onemap": __version__, "python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    try:
        import rasterio

        out["gdal"] = rasterio.__gdal_version__
    except ImportError:
        pass
    return out


def build_manifest(cfg: SurveyConfig, *, frame: Frame, timings: Mapping[str, float],
                   verdicts: gpd.GeoDataFrame, outputs: Mapping[str, str],
                   detection: Mapping[str, Any], coverage: Mapping[str, float],
                   invariants: Any, produced: datetime.date, dates: Mapping[str, Any],
                   database: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of a complete survey run, ready for ``json.dumps(..., default=str)``.

    Parameters
    ----------
    cfg
        The survey's configuration (its inputs are hashed, it is recorded as a mapping).
    frame
        The survey frame.
    timings
        Seconds per stage.
    verdicts
        The flagged patches; their ``verdict`` and ``on_unknown_landuse`` columns are counted,
        the table is hashed and ``attrs["history"]`` (year-over-year matching) is recorded.
    outputs
        Output file name → SHA-256 (``flagged_txt/…`` entries are counted).
    detection
        The score's attributes (method, threshold, noise …); only scalars are kept.
    coverage
        Share of the frame each scene and layer covers.
    invariants
        What :func:`onemap.invariants.check_invariants` checked.
    produced
        The day the results were first produced.
    dates
        The scenes' acquisition dates (:func:`onemap.survey.scene_dates`).
    database
        What was written to ``[database]``, if anything.

    Returns
    -------
    dict
        Keys ``onemap_version``, ``config``, ``frame``, ``inputs``, ``versions``, ``timings_s``,
        ``counts``, ``detection``, ``outputs``, ``verdict_table_sha256``, [``database``],
        ``invariants``, ``coverage``, ``produced``, ``dates``, [``history``].
    """
    inputs = {}
    paths = [*cfg.before.paths, *cfg.after.paths]
    paths += [s.path for s in cfg.layers.values() if s.path is not None]
    paths += [h["path"] for h in cfg.history_previous if isinstance(h["path"], Path)]  # not URLs
    for p in paths:
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for f in files:
            inputs[str(f)] = {"bytes": f.stat().st_size, "sha256": sha256_file(f)}
    counts = verdicts["verdict"].value_counts().sort_index().to_dict() if len(verdicts) else {}
    table_hash = hashlib.sha256(pd.DataFrame(verdicts.drop(columns="geometry")).to_csv(
        index=False, float_format="%.6f").encode()).hexdigest()
    scalars = (int, float, str, bool, type(None))
    manifest: dict[str, Any] = {
        "onemap_version": __version__, "config": cfg.as_dict(), "frame": repr(frame),
        "inputs": inputs, "versions": versions(), "timings_s": dict(timings),
        "counts": {"patches": int(len(verdicts)),
                   "verdicts": {k: int(v) for k, v in counts.items()},
                   "unknown_landuse": n_unknown_landuse(verdicts),
                   "flagged_txt": sum(k.startswith("flagged_txt/") for k in outputs)},
        "detection": {k: v for k, v in detection.items() if isinstance(v, scalars)},
        "outputs": dict(outputs), "verdict_table_sha256": table_hash,
    }
    if database is not None:
        manifest["database"] = dict(database)
    manifest["invariants"] = invariants
    manifest["coverage"] = dict(coverage)  # share of the frame each scene and layer covers
    manifest["produced"] = produced.isoformat()
    manifest["dates"] = dates
    if "history" in verdicts.attrs:  # year over year: sources (no passwords), rule, counts
        manifest["history"] = verdicts.attrs["history"]
    return manifest


def n_unknown_landuse(verdicts: gpd.GeoDataFrame) -> int:
    """How many patches lie (partly) on land the land-use layer leaves blank."""
    col = verdicts.get("on_unknown_landuse")
    return int(col.astype(bool).sum()) if col is not None else 0


class StageTimer:
    """Wall time of each stage of a run (the manifest's ``timings``), logged on *log*.

    >>> timer = StageTimer(logging.getLogger("demo"))
    >>> with timer("ingest"):
    ...     pass
    >>> list(timer.times)
    ['ingest']
    """

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.times: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        self.log.info("%s ...", stage)
        yield
        self.times[stage] = round(time.perf_counter() - t0, 3)
        self.log.info("%s done in %.2f s", stage, self.times[stage])


def production_date(work: Path) -> datetime.date:
    """The day a survey's results were first produced (数据产生日期 of the flagged TXT files),
    kept in *work* (with the score tiles), so a resumed or repeated run writes the same files."""
    stamp = work / "produced.txt"
    try:
        return datetime.date.fromisoformat(stamp.read_text().strip())
    except (OSError, ValueError):
        today = datetime.date.today()
        atomic_write_text(stamp, today.isoformat())
        return today
