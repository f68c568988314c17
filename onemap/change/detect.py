"""Change measures on two dates of imagery, thresholds, masks, and the one-call detector.

The chain (:func:`detect_changes`) is::

    both dates on one grid -> relative radiometric normalisation of date 2 (global coefficients)
    -> per-pixel change score (one fused numba loop per block) -> optional smoothing
    -> global threshold (Otsu / k-sigma / fixed) -> mask -> optional opening
    -> connected components -> patches >= min_area -> polygons (GeoDataFrame)

Scores (``method=``):

``"auto"`` (default)
    ``"construction"`` for very high resolution scenes (<= 5 m) with a NIR band, ``"cva"``
    otherwise: see :mod:`onemap.change.defaults` for the rule and why.
``"construction"``
    New construction = vegetation (or bare ground) replaced by an impervious surface. With NIR:
    the length of the change vector of vegetation loss, brightness gain, colour change
    ND(red, blue) and (with SWIR) NDBI gain, each in units of the scene's change noise, gated to
    zero where the pixel is afterwards still vegetated or is water at either date. So dark
    asphalt (vegetation lost, no brightening) counts. Degrades to RGB: visible vegetation index
    loss + brightness gain + signed greying, no gates. (A soil-line gate -- hand-set
    red/green and green/blue limits for harvested fields -- was removed: it did not pay on real
    imagery, see ``benchmarks/README.md``.)
``"cva"``
    Change-vector magnitude over all bands (RMS of the normalised band differences in noise
    units); :func:`cva` also gives the direction.
``"ndvi_diff"``, ``"ndbi_diff"``, ``"brightness_diff"``
    Vegetation loss, built-up gain, brightness gain.
``"index_diff"``
    Any index of :data:`onemap.change.indices.INDICES` with ``index=`` and ``direction=``
    ``"gain"``, ``"loss"`` or ``"abs"``.
``"post_classification"``
    *before* and *after* are class maps; patches are pixels that went into ``to_classes``
    (:mod:`onemap.change.postclass`, which also gives the from-to matrix).

Noise units: each difference is divided by 1.4826 x its median absolute deviation over the
scene (the spread of the mostly unchanged pixels), so scores are comparable between sensors and
a fixed threshold of, say, 3 means "three noise sigmas". Data-driven thresholds are raised to a
floor of 2 noise sigmas (``noise_floor``): with rare changes Otsu splits the unchanged background
itself.

Known limits (measured on real samples, see ``benchmarks/README.md``, "Change detection on real
data"): per-pixel measures do not see new buildings on bare ground that look like the soil
(very high resolution RGB, e.g. LEVIR-CD), nor sub-pixel roads; ``"construction"`` flags
harvested or ploughed fields that turned from vegetation to bright soil (no soil gate: spectral
soil rules set by hand did not generalise to real soils, haze and sensors); without NIR (RGB)
there is no water or vegetation gate.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import xarray as xr

from .._compute import apply_blocks, halo, is_lazy, run_strips
from ..errors import DataError, FrameError, NoValidPixelsError, OnemapWarning
from ..frame import Frame
from . import _kernels as K
from . import threshold as T
from ._plan import METHODS, Plan, map_plan
from ._scene import SAMPLE_PIXELS, check_mask, like_grid
from .defaults import DEFAULTS, resolve_smooth
from .patches import COLUMNS, patches_from_mask

__all__ = ["change_score", "cva", "threshold_score", "change_mask", "patches_above", "detect_changes",
           "METHODS"]

def _smooth(data: Any, radius: int) -> Any:
    if radius <= 0:
        return data

    def block(x: np.ndarray) -> np.ndarray:
        out = np.empty(x.shape, np.float32)
        run_strips(lambda r0, r1: K.box_mean_kernel(x, int(radius), r0, r1, out), x.shape[0], x.shape[1])
        return out

    # NaN beyond the frame = the kernel's clipping at the frame's edges
    return apply_blocks(block, data, halo=halo(radius), boundary=np.nan, dtype=np.float32)


def _apply_mask(data: Any, mask: xr.DataArray | None, shape: tuple[int, int]) -> Any:
    if mask is None:
        return data
    m = check_mask(mask, shape)
    if is_lazy(data):
        import dask.array as dsa

        m = m.rechunk(data.chunks) if is_lazy(m) else dsa.from_array(np.asarray(m), chunks=data.chunks)
        return dsa.where(m.astype(bool), np.float32(np.nan), data)
    return np.where(np.asarray(m, bool), np.float32(np.nan), data)


def change_score(before: xr.DataArray, after: xr.DataArray, method: str = DEFAULTS.method,
                 frame: Frame | None = None, normalize: str | None = DEFAULTS.normalize,
                 mask: xr.DataArray | None = None,
                 smooth: int | str = DEFAULTS.smooth, index: str | None = None, direction: str | None = None,
                 sample_pixels: int = SAMPLE_PIXELS) -> xr.DataArray:
    """Per-pixel change score of two dates as a float32 ``(y, x)`` DataArray (NaN = no data).

    Parameters
    ----------
    before, after
        Scenes (``band, y, x``) on one grid with named bands; uint or float, NumPy or dask.
    method
        ``"auto"`` (default: chosen from the scene's bands and resolution, see
        :mod:`onemap.change.defaults`), ``"construction"``, ``"cva"``, ``"ndvi_diff"``,
        ``"ndbi_diff"``, ``"brightness_diff"`` or ``"index_diff"`` (with *index* and
        *direction*); see the module docstring.
    frame
        Align both scenes onto this frame first; without it, scenes on different grids are an
        error.
    normalize
        Relative radiometric normalisation of *after*: ``"pif"``, ``"moments"``,
        ``"histogram"`` or None (see :mod:`onemap.change.normalize`).
    mask
        Boolean ``(y, x)`` DataArray, True where pixels are excluded (clouds, shadows, ...), or a
        function ``mask(before, after)`` giving one: it is also evaluated on the sampled windows
        alone, so the global statistics do not need a pass over the whole mask.
    smooth
        Radius of a box mean applied to the score (0: none; 1 = 3 x 3 suppresses speckle);
        ``"auto"`` (default) is about 1.5 m on the ground and at least 1 pixel
        (:func:`onemap.change.defaults.smooth_radius`).
    sample_pixels
        Pixels sampled for the global statistics.

    Returns
    -------
    xarray.DataArray
        Lazy for dask input. ``attrs`` hold the method, the normalisation coefficients and the
        noise scales.

    Raises
    ------
    FrameError
        The dates are on different grids and no *frame* is given.
    DataError
        A band the method needs is missing (the message names it), unknown method.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from onemap import Frame
    >>> f = Frame.from_bounds((0, 0, 80, 80), res=2, crs=32650)
    >>> veg = np.array([300, 700, 400, 4000], "uint16")[:, None, None] * np.ones((1, 40, 40), "uint16")
    >>> built = veg.copy(); built[:, 10:20, 10:20] = np.array([2000, 2200, 2300, 2600])[:, None, None]
    >>> mk = lambda a, d: xr.DataArray(a, dims=("band", "y", "x"), coords={"band": ["blue", "green", "red", "nir"],
    ...                                **f.coords()}, attrs={"date": d}).rio.write_crs(f.crs)
    >>> s = change_score(mk(veg, "2020-01-01"), mk(built, "2021-01-01"), smooth=0)
    >>> bool(s[15, 15] > 5), float(s[0, 0])
    (True, 0.0)
    """
    plan = Plan(before, after, frame, method, normalize, mask, index, direction, sample_pixels)
    data = map_plan(plan, plan.block, 1)[0]
    data = _apply_mask(data, plan.mask, plan.frame.shape)
    smooth = resolve_smooth(smooth, plan.before)
    data = _smooth(data, smooth)
    return like_grid(data, plan.before, {**plan.attrs(), "smooth": smooth}).rename("change_score")


def cva(before: xr.DataArray, after: xr.DataArray, frame: Frame | None = None, normalize: str | None = "pif",
        mask: xr.DataArray | None = None, sample_pixels: int = SAMPLE_PIXELS) -> xr.Dataset:
    """Change-vector analysis: ``magnitude`` (noise units) and ``direction`` (degrees).

    Direction is the angle between the change vector and the all-bands-brighter diagonal:
    0 = uniform brightening, 180 = uniform darkening, 90 = a change of spectral shape (e.g.
    vegetation lost: red up, NIR down) with no net brightness change.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from onemap import Frame
    >>> f = Frame.from_bounds((0, 0, 20, 20), res=1, crs=32650)
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(1000, 10, (3, 20, 20)).astype("float32"); b = a + rng.normal(0, 1, a.shape).astype("float32")
    >>> b[:, :5, :5] += 300  # brighter in every band
    >>> mk = lambda x: xr.DataArray(x, dims=("band", "y", "x"), coords={"band": ["green", "red", "nir"],
    ...                             **f.coords()}).rio.write_crs(f.crs)
    >>> out = cva(mk(a), mk(b), normalize=None)
    >>> bool(out.magnitude[2, 2] > 50), bool(out.direction[2, 2] < 10)
    (True, True)
    """
    plan = Plan(before, after, frame, "cva", normalize, mask, None, None, sample_pixels)

    def block(b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
        out = np.empty((2,) + b1.shape[1:], np.float32)
        run_strips(lambda r0, r1: K.cva_kernel(b1, b2, plan.gain, plan.offset, plan.sigma, plan.nodata1,
                                               plan.nodata2, r0, r1, out[0], out[1]),
                   out.shape[1], out.shape[2])
        return out

    data = map_plan(plan, block, 2)
    mag = like_grid(_apply_mask(data[0], plan.mask, plan.frame.shape), plan.before, {"units": "noise sigma"})
    ang = like_grid(_apply_mask(data[1], plan.mask, plan.frame.shape), plan.before, {"units": "degree"})
    return xr.Dataset({"magnitude": mag, "direction": ang}, attrs=plan.attrs())


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
        with warnings.catch_warnings():
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

        parts = [dask.delayed(lambda x: T.histogram(x, edges)[0])(blk) for blk in data.to_delayed().ravel()]
        counts = np.sum(dask.compute(*parts), axis=0)
    else:
        counts, _ = T.histogram(np.asarray(data), edges)
    return counts, edges


def threshold_score(score: xr.DataArray | np.ndarray, threshold: str | float = "otsu", k: float = 3.0,
                    bins: int = 256, floor: float | None = None,
                    value_range: tuple[float, float] | None = None) -> tuple[float, float]:
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
    floor
        Lowest data-driven threshold (``"otsu"``, ``"k_sigma"``; a fixed one is kept as given).
        Scores in noise units: with few changed pixels Otsu splits the unchanged background itself,
        and a floor of 2 keeps what stays within two noise sigmas unchanged.
    value_range
        The score's (NaN-ignoring) minimum and maximum when already known (e.g. kept while the
        score was computed): saves a pass over the score. NaN, NaN when it is all NaN.

    Returns
    -------
    (threshold, noise)
        ``noise`` is the standard deviation of the score below the threshold (for patch
        confidence). A constant score gives its value as threshold (nothing exceeds it) with an
        :class:`~onemap.errors.OnemapWarning`.

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
    """
    data = score.data if isinstance(score, xr.DataArray) else np.asarray(score)
    hist = _score_hist(data, bins, value_range)
    if hist is None:
        raise NoValidPixelsError("the change score is NaN everywhere: no threshold can be computed",
                        hint="check nodata and cloud masks; the dates may not overlap")
    if isinstance(hist, float):
        warnings.warn(f"the change score is constant ({hist:g}): the threshold is undefined, "
                      "no pixel is taken as changed", OnemapWarning, stacklevel=2)
        return hist, 0.0
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
    centres = (edges[:-1] + edges[1:]) / 2.0
    below = centres <= t
    c = counts[below].astype(np.float64)
    if c.sum() > 1:
        mu = (c * centres[below]).sum() / c.sum()
        noise = float(math.sqrt(max((c * (centres[below] - mu) ** 2).sum() / c.sum(), 0.0)))
    else:
        noise = 0.0
    return float(t), noise


def change_mask(score: xr.DataArray, threshold: float, opening: int = 0) -> xr.DataArray:
    """``score > threshold`` (NaN is False), then an optional binary opening of radius *opening*.

    Examples
    --------
    >>> import xarray as xr
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
        m = apply_blocks(lambda x: binary_opening(x, r), m, halo=halo(r, passes=2), boundary=False,
                         dtype=bool)
    return like_grid(m, score, {"threshold": float(threshold), "opening": int(opening)}).rename("change")


def patches_above(score: xr.DataArray, threshold: float, frame: Frame, *, noise: float | None = None,
                  opening: int = 0, connectivity: int = 8, min_area: float = 0.0,
                  dates: tuple[Any, Any] = (None, None)) -> gpd.GeoDataFrame:
    """The tail of the detection chain: :func:`change_mask` (``score > threshold``, opened by
    *opening*) → :func:`~onemap.change.patches_from_mask` (labelling with *connectivity*, patches
    of at least *min_area* m², their score statistics, confidence from *noise*, *dates*).

    Used by :func:`detect_changes` and by the survey on its stored score tiles.

    Examples
    --------
    >>> import xarray as xr
    >>> f = Frame.from_bounds((39_500_000, 3_300_000, 39_500_020, 3_300_020), 2.0, 4527)
    >>> s = np.zeros((10, 10), "float32"); s[2:5, 3:7] = 6.0
    >>> p = patches_above(xr.DataArray(s, dims=("y", "x")), 2.0, f, noise=1.0)
    >>> len(p), int(p.pixels.iloc[0]), round(float(p.area_m2.iloc[0]), 3)  # ellipsoidal m²
    (1, 12, 48.0)
    """
    mask = change_mask(score, threshold, opening)
    return patches_from_mask(mask.data, frame, score.data, min_area, connectivity, threshold, noise,
                             dates[0], dates[1])


def _empty(status: str, frame: Frame, attrs: dict) -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame({c: [] for c in COLUMNS[:-1]}, geometry=gpd.GeoSeries([], crs=frame.crs), crs=frame.crs)
    gdf.attrs.update(attrs)
    gdf.attrs["status"] = status
    return gdf[COLUMNS]


def detect_changes(before: xr.DataArray, after: xr.DataArray, frame: Frame | None = None,
                   method: str = DEFAULTS.method, threshold: str | float = DEFAULTS.threshold,
                   min_area: float = 0.0, mask: xr.DataArray | None = None,
                   normalize: str | None = DEFAULTS.normalize, smooth: int | str = DEFAULTS.smooth,
                   opening: int = DEFAULTS.opening, k: float = DEFAULTS.k,
                   connectivity: int = DEFAULTS.connectivity, index: str | None = None,
                   direction: str | None = None, noise_floor: float | None = DEFAULTS.noise_floor,
                   to_classes: Any = None, from_classes: Any = None,
                   sample_pixels: int = SAMPLE_PIXELS, model: Any = None) -> gpd.GeoDataFrame:
    """Change patches (图斑) between two dates of imagery, in one call.

    Parameters
    ----------
    before, after
        Scenes on one grid (``band, y, x``, named bands, georeferenced); NumPy or dask.
    frame
        Align both scenes onto this frame first (else different grids are an error).
    method
        Change score, see :func:`change_score`. The default ``"auto"`` picks
        ``"construction"`` for very high resolution scenes with NIR and ``"cva"`` otherwise
        (:func:`onemap.change.defaults.choose_method`); ``attrs["method"]`` says which.
    threshold
        ``"otsu"`` (default), ``"k_sigma"`` (with *k*) or a fixed number in score units (noise
        sigmas).
    min_area
        Smallest patch in m² (e.g. 400 for a county survey at 2 m); smaller ones are dropped.
    mask
        Boolean ``(y, x)`` DataArray, True = exclude (clouds, shadows, areas out of scope).
    normalize, smooth, index, direction, sample_pixels
        As in :func:`change_score`.
    opening
        Radius of a binary opening of the mask (0: none).
    connectivity
        8 (diagonal neighbours join a patch) or 4.
    noise_floor
        Lowest data-driven threshold in noise sigmas (default 2; None: Otsu/k-sigma as computed),
        see :func:`threshold_score`.
    to_classes, from_classes
        For ``method="post_classification"``: *before* and *after* are integer class maps and a
        patch is a group of pixels that went into *to_classes* (from *from_classes*, default any
        other class); see :mod:`onemap.change.postclass`.
    model
        A trained model (:class:`onemap.change.ChangeModel` or the path of its file, see
        :mod:`onemap.change.model`): patches come from it; a numeric *threshold* is then the
        pixel probability of a candidate (default: the model's own) and *method*, *normalize*,
        *smooth*, *opening*, *k*, *noise_floor* are not used. Each patch gets ``probability``.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``id, pixels, area_m2, score_mean, score_max, confidence, date_before,
        date_after, geometry`` in the frame's CRS. ``attrs``: method, threshold, threshold_method,
        noise, normalisation coefficients, status (``"ok"``, ``"no valid pixels"``,
        ``"constant score"``). A tile with no valid pixel (all nodata or masked) gives no patch
        and an :class:`~onemap.errors.OnemapWarning`, not an error.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from onemap import Frame, detect_changes
    >>> f = Frame.from_bounds((39_500_000, 3_300_000, 39_500_120, 3_300_120), res=2, crs=4527)
    >>> rng = np.random.default_rng(0)
    >>> veg = np.array([300, 700, 400, 4000.0])[:, None, None] * rng.normal(1, 0.03, (4, 60, 60))
    >>> new = 1.2 * veg + 50  # another illumination
    >>> new[:, 20:30, 30:45] = np.array([2400, 2600, 2700, 3100.0])[:, None, None]  # a new roof
    >>> mk = lambda a, d: xr.DataArray(a.astype("uint16"), dims=("band", "y", "x"), attrs={"date": d},
    ...     coords={"band": ["blue", "green", "red", "nir"], **f.coords()}).rio.write_crs(f.crs)
    >>> p = detect_changes(mk(veg, "2020-05-01"), mk(new, "2021-05-01"), min_area=100, smooth=0)
    >>> len(p), round(float(p.area_m2.iloc[0]), 1), p.date_after.iloc[0]
    (1, 600.0, '2021-05-01')
    """
    if model is not None:
        from .model import detect_with_model

        thr = None if isinstance(threshold, str) else float(threshold)
        return detect_with_model(before, after, model, threshold=thr, min_area=min_area, mask=mask,
                                 connectivity=connectivity, frame=frame)
    if method == "post_classification":
        return _detect_classes(before, after, frame, to_classes, from_classes, min_area, mask, opening,
                               connectivity)
    _check_threshold(threshold)  # before the score: a misspelt name is not "no valid pixels"
    plan = Plan(before, after, frame, method, normalize, mask, index, direction, sample_pixels)
    f = plan.frame
    smooth = resolve_smooth(smooth, plan.before)
    attrs = {**plan.attrs(), "threshold_method": threshold if isinstance(threshold, str) else "fixed",
             "min_area": float(min_area), "smooth": int(smooth), "opening": int(opening),
             "noise_floor": noise_floor}
    data = map_plan(plan, plan.block, 1)[0]
    data = _apply_mask(data, plan.mask, f.shape)
    data = _smooth(data, int(smooth))
    if is_lazy(data):
        data = data.persist()  # read and score once: the threshold and the patches both need it
    score = like_grid(data, plan.before, attrs)
    status = "ok"
    with warnings.catch_warnings():
        warnings.simplefilter("error", OnemapWarning)
        try:
            thr, noise = threshold_score(score, threshold, k, floor=noise_floor)
        except NoValidPixelsError:
            status = "no valid pixels"
        except OnemapWarning:
            status = "constant score"
    if status == "no valid pixels":
        warnings.warn("no pixel is valid in both dates (nodata, clouds or mask everywhere): "
                      "no change patches", OnemapWarning, stacklevel=2)
        return _empty(status, f, {**attrs, "threshold": float("nan"), "noise": float("nan")})
    if status == "constant score":
        warnings.warn("the change score is constant: the threshold is undefined and nothing stands "
                      "out, no change patches", OnemapWarning, stacklevel=2)
        return _empty(status, f, {**attrs, "threshold": float("nan"), "noise": 0.0})
    out = patches_above(score, thr, f, noise=noise, opening=opening, connectivity=connectivity,
                        min_area=min_area,
                        dates=(plan.before.attrs.get("date"), plan.after.attrs.get("date")))
    out.attrs.update({**attrs, "threshold": thr, "noise": noise, "status": "ok"})
    return out


def _check_threshold(threshold: Any) -> None:
    """DataError (with a "did you mean") unless *threshold* is "otsu", "k_sigma" or a number."""
    if isinstance(threshold, (int, float, np.number)) and not isinstance(threshold, bool):
        return
    if isinstance(threshold, str) and threshold.lower().replace("-", "_") in ("otsu", "k_sigma"):
        return
    import difflib

    close = difflib.get_close_matches(str(threshold).lower(), ["otsu", "k_sigma"], n=1, cutoff=0.5)
    raise DataError(f"threshold must be 'otsu', 'k_sigma' or a number, got {threshold!r}",
                    hint=f"did you mean threshold={close[0]!r}?" if close else "e.g. threshold='otsu' or threshold=3.0")


def _detect_classes(before: xr.DataArray, after: xr.DataArray, frame: Frame | None, to_classes: Any,
                    from_classes: Any, min_area: float, mask: Any, opening: int,
                    connectivity: int) -> gpd.GeoDataFrame:
    from ._scene import frame_of
    from .postclass import class_change

    if to_classes is None:
        raise DataError("post_classification needs to_classes=", hint="e.g. to_classes=[20] for built-up")
    fb, fa = frame_of(before, "before"), frame_of(after, "after")
    if fb != fa or (frame is not None and frame != fb):
        raise FrameError(f"class maps are on different grids: {fb!r} and {fa!r}",
                         hint="align them with onemap.align(..., resampling='nearest') first")
    score = class_change(before, after, to_classes, from_classes)
    data = _apply_mask(score.data, mask, fb.shape)
    score = score.copy(data=data)
    attrs = {**score.attrs, "threshold_method": "fixed", "min_area": float(min_area),
             "date_before": before.attrs.get("date"), "date_after": after.attrs.get("date")}
    mask_da = change_mask(score, 0.5, opening)
    out = patches_from_mask(mask_da.data, fb, data, min_area, connectivity, 0.5, None,
                            attrs["date_before"], attrs["date_after"])
    out.attrs.update({**attrs, "threshold": 0.5, "noise": None, "status": "ok"})
    return out
