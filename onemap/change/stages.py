"""The stages after the change score: threshold → mask → patches, with a typed status.

:func:`threshold_score` gives one global threshold of a score (merged per-chunk histograms) as a
:class:`ThresholdResult`, which unpacks as ``(threshold, noise)`` and says in ``status`` (a
:class:`DetectionStatus`) whether the score could be thresholded; :func:`change_mask` and
:func:`patches_above` are the tail that both :func:`~onemap.change.detect_changes` and the survey
run on the thresholded score. No stage decides by catching a warning: the caller reads the status
and warns where the user can act.
"""

from __future__ import annotations

import math
import warnings
from enum import StrEnum
from typing import Any

import geopandas as gpd
import numpy as np
import xarray as xr

from .._compute import apply_blocks, halo, is_lazy
from ..errors import DataError, NoValidPixelsError
from ..frame import Frame
from . import threshold as T
from ._scene import like_grid
from .patches import COLUMNS, patches_from_mask

__all__ = ["DetectionStatus", "ThresholdResult", "threshold_score", "change_mask",
           "patches_above", "empty_patches"]


class DetectionStatus(StrEnum):
    """How a detection went: ``"ok"``, ``"no valid pixels"`` (nodata, clouds or mask
    everywhere), ``"constant score"`` (nothing stands out: the threshold is undefined).

    >>> DetectionStatus.CONSTANT_SCORE == "constant score"
    True
    """

    OK = "ok"
    NO_VALID_PIXELS = "no valid pixels"
    CONSTANT_SCORE = "constant score"


class ThresholdResult(tuple[float, float]):
    """``(threshold, noise)`` of a score, with the :class:`DetectionStatus` as ``status``.

    Unpacks as the pair (``t, noise = threshold_score(s)``).

    >>> r = ThresholdResult(2.5, 0.5)
    >>> t, noise = r
    >>> r.threshold, r.noise, r.status
    (2.5, 0.5, <DetectionStatus.OK: 'ok'>)
    """

    status: DetectionStatus

    def __new__(cls, threshold: float, noise: float,
                status: DetectionStatus | str = DetectionStatus.OK) -> ThresholdResult:
        obj = super().__new__(cls, (float(threshold), float(noise)))
        obj.status = DetectionStatus(status)
        return obj

    def __getnewargs__(self) -> tuple[float, float, DetectionStatus]:
        return self[0], self[1], self.status

    @property
    def threshold(self) -> float:
        """Score above which a pixel is changed."""
        return self[0]

    @property
    def noise(self) -> float:
        """Standard deviation of the score below the threshold (the unchanged background)."""
        return self[1]

    def __repr__(self) -> str:
        return (f"ThresholdResult(threshold={self[0]!r}, noise={self[1]!r}, "
                f"status={self.status.value!r})")


def _score_hist(data: Any, bins: int, value_range: tuple[float, float] | None = None
                ) -> tuple[np.ndarray, np.ndarray] | float | None:
    """Merged histogram of the score; a float when the score is constant; None when all NaN."""
    if value_range is not None:
        lo, hi = value_range
    elif is_lazy(data):
        import dask
        import dask.array as dsa

        lo, hi = dask.compute(dsa.nanmin(data), dsa.nanmax(data))
    else:
        with warnings.catch_warnings():  # numpy's all-NaN warning: answered by the None below
            warnings.simplefilter("ignore", RuntimeWarning)
            lo, hi = np.nanmin(data), np.nanmax(data)
    lo, hi = float(lo), float(hi)
    if math.isnan(lo):
        return None
    if lo == hi:
        return lo
    edges = T.histogram_edges(bins, (lo, hi), np.float32)
    if is_lazy(data):
        import dask

        parts = [dask.delayed(lambda x: T.histogram(x, edges)[0])(blk)
                 for blk in data.to_delayed().ravel()]
        counts = np.sum(dask.compute(*parts), axis=0)
    else:
        counts, _ = T.histogram(np.asarray(data), edges)
    return counts, edges


def threshold_score(score: xr.DataArray | np.ndarray, *, threshold: str | float = "otsu",
                    k: float = 3.0, bins: int = 256, floor: float | None = None,
                    value_range: tuple[float, float] | None = None) -> ThresholdResult:
    """Global threshold of a change score and the noise spread of the unchanged background.

    Parameters
    ----------
    score
        Change score (NaN ignored), NumPy or dask.
    threshold
        ``"otsu"`` (merged per-chunk histograms, equal to :func:`onemap.change.threshold.otsu`),
        ``"k_sigma"`` (mean + *k* standard deviations) or a number (fixed).
    k
        Multiplier for ``"k_sigma"``.
    bins
        Histogram bins of the Otsu split and of the noise estimate.
    floor
        Lowest data-driven threshold (``"otsu"``, ``"k_sigma"``; a fixed one is kept as given).
        Scores in noise units: with few changed pixels Otsu splits the unchanged background
        itself, and a floor of 2 keeps what stays within two noise sigmas unchanged.
    value_range
        The score's (NaN-ignoring) minimum and maximum when already known (e.g. kept while the
        score was computed): saves a pass over the score. NaN, NaN when it is all NaN.

    Returns
    -------
    ThresholdResult
        Unpacks as ``(threshold, noise)``: ``noise`` is the standard deviation of the score
        below the threshold (for patch confidence). ``status`` is ``"ok"``, or
        ``"constant score"`` when the score has one value: the threshold is then that value
        (nothing exceeds it) and the noise 0; the caller decides what to tell the user.

    Raises
    ------
    NoValidPixelsError
        The score is all NaN (a :class:`~onemap.errors.DataError`).
    DataError
        *threshold* is not understood.

    Examples
    --------
    >>> s = np.r_[np.zeros(90), np.full(10, 5.0)].astype("float32")
    >>> t, noise = threshold_score(s)
    >>> 0 < t < 5, noise
    (True, 0.0)
    >>> threshold_score(np.ones(4, "float32")).status
    <DetectionStatus.CONSTANT_SCORE: 'constant score'>
    """
    data = score.data if isinstance(score, xr.DataArray) else np.asarray(score)
    hist = _score_hist(data, bins, value_range)
    if hist is None:
        raise NoValidPixelsError("the change score is NaN everywhere: no threshold can be "
                                 "computed", hint="check nodata and cloud masks; the dates may "
                                                  "not overlap")
    if isinstance(hist, float):
        return ThresholdResult(hist, 0.0, DetectionStatus.CONSTANT_SCORE)
    counts, edges = hist
    if isinstance(threshold, str) and threshold.lower() == "otsu":
        t = T.otsu_from_histogram(counts, edges)
    elif isinstance(threshold, str) and threshold.lower().replace("-", "_") == "k_sigma":
        if is_lazy(data):
            import dask
            import dask.array as dsa

            d64 = data.astype(np.float64)
            mean, std = dask.compute(dsa.nanmean(d64), dsa.nanstd(d64))
            t = float(mean + float(k) * std)
        else:
            t = T.k_sigma(data, k)
    elif isinstance(threshold, (int, float, np.number)) and not isinstance(threshold, bool):
        t = T.fixed(None, float(threshold))
    else:
        raise DataError(f"threshold must be 'otsu', 'k_sigma' or a number, got {threshold!r}")
    if floor is not None and isinstance(threshold, str):
        t = max(float(t), float(floor))
    return ThresholdResult(float(t), _noise_below(counts, edges, t))


def _noise_below(counts: np.ndarray, edges: np.ndarray, t: float) -> float:
    """Standard deviation of the histogram below *t* (0 with fewer than two values)."""
    centres = (edges[:-1] + edges[1:]) / 2.0
    below = centres <= t
    c = counts[below].astype(np.float64)
    if c.sum() <= 1:
        return 0.0
    mu = (c * centres[below]).sum() / c.sum()
    return float(math.sqrt(max((c * (centres[below] - mu) ** 2).sum() / c.sum(), 0.0)))


def change_mask(score: xr.DataArray, threshold: float, opening: int = 0) -> xr.DataArray:
    """``score > threshold`` (NaN is False), then an optional binary opening of radius *opening*.

    Examples
    --------
    >>> s = xr.DataArray(np.array([[0.0, 3.0, np.nan]]), dims=("y", "x"))
    >>> change_mask(s, 1.0).values.tolist()
    [[False, True, False]]
    """
    data = score.data
    m = data > np.float32(threshold)
    if opening > 0:
        from .morphology import binary_opening

        r = int(opening)
        # erosion and dilation each reach r pixels; nothing is changed beyond the frame
        m = apply_blocks(lambda x: binary_opening(x, r), m, halo=halo(r, passes=2),
                         boundary=False, dtype=bool)
    attrs = {"threshold": float(threshold), "opening": int(opening)}
    return like_grid(m, score, attrs).rename("change")


def patches_above(score: xr.DataArray, threshold: float, frame: Frame | None = None, *,
                  noise: float | None = None, opening: int = 0, connectivity: int = 8,
                  min_area: float = 0.0, dates: tuple[Any, Any] | None = None
                  ) -> gpd.GeoDataFrame:
    """The tail of the detection chain: :func:`change_mask` (``score > threshold``, opened by
    *opening*) → :func:`~onemap.change.patches_from_mask` (labelling with *connectivity*, patches
    of at least *min_area* m², their score statistics, confidence from *noise*, *dates*).

    Used by :func:`~onemap.change.detect_changes` and by the survey on its stored score tiles.
    *frame* defaults to the score's own grid (a georeferenced DataArray, as
    :func:`~onemap.change.change_score` returns) and *dates* to its ``date_before`` /
    ``date_after`` attributes.

    Examples
    --------
    >>> f = Frame.from_bounds((39_500_000, 3_300_000, 39_500_020, 3_300_020), 2.0, 4527)
    >>> s = np.zeros((10, 10), "float32"); s[2:5, 3:7] = 6.0
    >>> p = patches_above(xr.DataArray(s, dims=("y", "x")), 2.0, f, noise=1.0)
    >>> len(p), int(p.pixels.iloc[0]), round(float(p.area_m2.iloc[0]), 3)  # ellipsoidal m²
    (1, 12, 48.0)
    """
    if frame is None:
        from ._scene import frame_of

        frame = frame_of(score, "score")
    if dates is None:
        dates = (score.attrs.get("date_before"), score.attrs.get("date_after"))
    mask = change_mask(score, threshold, opening)
    return patches_from_mask(mask.data, frame, score=score.data, min_area=min_area,
                             connectivity=connectivity, threshold=threshold, noise=noise,
                             date_before=dates[0], date_after=dates[1])


def empty_patches(frame: Frame, attrs: dict[str, Any],
                  status: DetectionStatus | str) -> gpd.GeoDataFrame:
    """No patch, with the patch columns, *attrs* and ``attrs["status"]`` (a plain string)."""
    gdf = gpd.GeoDataFrame({c: [] for c in COLUMNS[:-1]},
                           geometry=gpd.GeoSeries([], crs=frame.crs), crs=frame.crs)
    gdf.attrs.update(attrs)
    gdf.attrs["status"] = str(DetectionStatus(status))
    return gdf[COLUMNS]
