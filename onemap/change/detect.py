"""Change measures on two dates of imagery, thresholds, masks, and the one-call detector.

The chain (:func:`detect_changes`) is::

    both dates on one grid -> relative radiometric normalisation of date 2 (global coefficients)
    -> per-pixel change score (one fused numba loop per block) -> optional smoothing
    [-> score tiles kept in a resumable store (store=)]
    -> global threshold (Otsu / k-sigma / fixed) -> mask -> optional opening
    -> connected components -> patches >= min_area -> polygons (GeoDataFrame)

The stages are public: :func:`change_score` (with ``mask=`` a :class:`~onemap.change.MaskPolicy`,
an array or a function, and ``store=`` a :class:`~onemap.tilestore.TileStore` or a folder),
then :func:`~onemap.change.threshold_score` → :func:`~onemap.change.patches_above`
(:mod:`onemap.change.stages`); :func:`detect_changes` runs them, and so does the survey.

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

import warnings
from collections.abc import Callable
from os import PathLike
from typing import Any, TypeAlias

import geopandas as gpd
import numpy as np
import xarray as xr

from .._compute import apply_blocks, halo, is_lazy, run_strips
from ..errors import DataError, FrameError, NoValidPixelsError, OnemapWarning
from ..frame import Frame
from ..tilestore import TileStore
from . import _kernels as K
from ._plan import METHODS, Plan, map_plan
from ._scene import SAMPLE_PIXELS, check_mask, like_grid
from ._stored import score_into_store
from .defaults import DEFAULTS, resolve_smooth
from .patches import patches_from_mask
from .policy import MaskPolicy
from .stages import (
    DetectionStatus,
    ThresholdResult,
    change_mask,
    empty_patches,
    patches_above,
    threshold_score,
)

__all__ = ["change_score", "cva", "threshold_score", "change_mask", "patches_above",
           "detect_changes", "METHODS", "Mask", "Store", "DetectionStatus", "ThresholdResult"]

#: What ``mask=`` takes: a policy, a boolean (y, x) array (True = excluded) or a function of the
#: pair giving one (or None).
Mask: TypeAlias = (MaskPolicy | xr.DataArray | np.ndarray
                   | Callable[[xr.DataArray, xr.DataArray], Any] | None)
#: What ``store=`` takes: a tile store or the folder of one.
Store: TypeAlias = TileStore | str | PathLike[str] | None


def _smooth(data: Any, radius: int) -> Any:
    if radius <= 0:
        return data

    def block(x: np.ndarray) -> np.ndarray:
        out = np.empty(x.shape, np.float32)
        run_strips(lambda r0, r1: K.box_mean_kernel(x, int(radius), r0, r1, out), x.shape[0],
                   x.shape[1])
        return out

    # NaN beyond the frame = the kernel's clipping at the frame's edges
    return apply_blocks(block, data, halo=halo(radius), boundary=np.nan, dtype=np.float32)


def _apply_mask(data: Any, mask: Any, shape: tuple[int, int]) -> Any:
    if mask is None:
        return data
    m = check_mask(mask, shape)
    if is_lazy(data):
        import dask.array as dsa

        m = m.rechunk(data.chunks) if is_lazy(m) else dsa.from_array(np.asarray(m),
                                                                     chunks=data.chunks)
        return dsa.where(m.astype(bool), np.float32(np.nan), data)
    return np.where(np.asarray(m, bool), np.float32(np.nan), data)


def _scored(plan: Plan, smooth: int) -> Any:
    """The plan's score array: kernel per block, the mask's pixels NaN, smoothed."""
    data = map_plan(plan, plan.block, 1)[0]
    data = _apply_mask(data, plan.mask, plan.frame.shape)
    return _smooth(data, smooth)


def change_score(before: xr.DataArray, after: xr.DataArray, frame: Frame | None = None, *,
                 method: str = DEFAULTS.method, normalize: str | None = DEFAULTS.normalize,
                 mask: Mask = None, smooth: int | str = DEFAULTS.smooth,
                 index: str | None = None, direction: str | None = None,
                 sample_pixels: int = SAMPLE_PIXELS, store: Store = None) -> xr.DataArray:
    """Per-pixel change score of two dates as a float32 ``(y, x)`` DataArray (NaN = no data).

    Parameters
    ----------
    before, after
        Scenes (``band, y, x``) on one grid with named bands; uint or float, NumPy or dask.
    frame
        Align both scenes onto this frame first; without it, scenes on different grids are an
        error.
    method
        ``"auto"`` (default: chosen from the scene's bands and resolution, see
        :mod:`onemap.change.defaults`), ``"construction"``, ``"cva"``, ``"ndvi_diff"``,
        ``"ndbi_diff"``, ``"brightness_diff"`` or ``"index_diff"`` (with *index* and
        *direction*); see the module docstring.
    normalize
        Relative radiometric normalisation of *after*: ``"pif"``, ``"moments"``,
        ``"histogram"`` or None (see :mod:`onemap.change.normalize`).
    mask
        The pixels to exclude (clouds, shadows, ...): a :class:`~onemap.change.MaskPolicy`, a
        boolean ``(y, x)`` array (True = exclude), or a function ``mask(before, after)`` giving
        one. A policy or a function is also evaluated on the sampled windows alone, so the global
        statistics do not need a pass over the whole mask.
    smooth
        Radius of a box mean applied to the score (0: none; 1 = 3 x 3 suppresses speckle);
        ``"auto"`` (default) is about 1.5 m on the ground and at least 1 pixel
        (:func:`onemap.change.defaults.smooth_radius`).
    sample_pixels
        Pixels sampled for the global statistics.
    store
        A :class:`~onemap.tilestore.TileStore` of the scenes' frame, or a folder (tiles of the
        dask chunk size, 1024 for in-memory scenes): the score is computed tile by tile into it
        and read back from it. A rerun with the same inputs and parameters skips the tiles
        already stored (a run killed midway resumes); other inputs empty the store. A mask given
        as a function other than a policy is known to the store by its name only: give the
        store another folder when you change what it does.

    Returns
    -------
    xarray.DataArray
        Lazy for dask input or a store. ``attrs`` hold the method, the normalisation
        coefficients and the noise scales; with a store also ``score_range``, the (min, max) of
        the finite stored scores.

    Raises
    ------
    FrameError
        The dates are on different grids and no *frame* is given; a store of another frame.
    DataError
        A band the method needs is missing (the message names it), unknown method.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from onemap import Frame
    >>> f = Frame.from_bounds((0, 0, 80, 80), res=2, crs=32650)
    >>> veg = np.array([300, 700, 400, 4000], "uint16")[:, None, None] * np.ones((1, 40, 40),
    ...                                                                           "uint16")
    >>> built = veg.copy(); built[:, 10:20, 10:20] = np.array([2000, 2200, 2300, 2600])[:, None,
    ...                                                                                 None]
    >>> mk = lambda a, d: xr.DataArray(a, dims=("band", "y", "x"), attrs={"date": d},
    ...     coords={"band": ["blue", "green", "red", "nir"], **f.coords()}).rio.write_crs(f.crs)
    >>> s = change_score(mk(veg, "2020-01-01"), mk(built, "2021-01-01"), smooth=0)
    >>> bool(s[15, 15] > 5), float(s[0, 0])
    (True, 0.0)
    """
    plan = Plan(before, after, frame, method, normalize, mask, index, direction, sample_pixels)
    radius = resolve_smooth(smooth, plan.before)
    score = like_grid(_scored(plan, radius), plan.before,
                      {**plan.attrs(), "smooth": radius}).rename("change_score")
    if store is None:
        return score
    given = _parameters(method, normalize, index, direction, sample_pixels, radius)
    return score_into_store(score, store, plan, mask=mask, parameters=given)


def _parameters(method: str, normalize: str | None, index: str | None, direction: str | None,
                sample_pixels: int, smooth: int) -> dict[str, Any]:
    """The score's parameters as a store keys them (the same for change_score and
    detect_changes, so the two share stored tiles)."""
    return {"method": method, "normalize": normalize, "index": index, "direction": direction,
            "sample_pixels": sample_pixels, "smooth": smooth}


def cva(before: xr.DataArray, after: xr.DataArray, frame: Frame | None = None, *,
        normalize: str | None = "pif", mask: Mask = None,
        sample_pixels: int = SAMPLE_PIXELS) -> xr.Dataset:
    """Change-vector analysis: ``magnitude`` (noise units) and ``direction`` (degrees).

    Direction is the angle between the change vector and the all-bands-brighter diagonal:
    0 = uniform brightening, 180 = uniform darkening, 90 = a change of spectral shape (e.g.
    vegetation lost: red up, NIR down) with no net brightness change. *frame*, *normalize*,
    *mask* and *sample_pixels* are as in :func:`change_score`.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from onemap import Frame
    >>> f = Frame.from_bounds((0, 0, 20, 20), res=1, crs=32650)
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(1000, 10, (3, 20, 20)).astype("float32")
    >>> b = a + rng.normal(0, 1, a.shape).astype("float32")
    >>> b[:, :5, :5] += 300  # brighter in every band
    >>> mk = lambda x: xr.DataArray(x, dims=("band", "y", "x"),
    ...     coords={"band": ["green", "red", "nir"], **f.coords()}).rio.write_crs(f.crs)
    >>> out = cva(mk(a), mk(b), normalize=None)
    >>> bool(out.magnitude[2, 2] > 50), bool(out.direction[2, 2] < 10)
    (True, True)
    """
    plan = Plan(before, after, frame, "cva", normalize, mask, None, None, sample_pixels)

    def block(b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
        out = np.empty((2,) + b1.shape[1:], np.float32)
        run_strips(lambda r0, r1: K.cva_kernel(b1, b2, plan.gain, plan.offset, plan.sigma,
                                               plan.nodata1, plan.nodata2, r0, r1, out[0],
                                               out[1]),
                   out.shape[1], out.shape[2])
        return out

    data = map_plan(plan, block, 2)
    shape = plan.frame.shape
    mag = like_grid(_apply_mask(data[0], plan.mask, shape), plan.before, {"units": "noise sigma"})
    ang = like_grid(_apply_mask(data[1], plan.mask, shape), plan.before, {"units": "degree"})
    return xr.Dataset({"magnitude": mag, "direction": ang}, attrs=plan.attrs())


def detect_changes(before: xr.DataArray, after: xr.DataArray, frame: Frame | None = None, *,
                   method: str = DEFAULTS.method, threshold: str | float = DEFAULTS.threshold,
                   min_area: float = 0.0, mask: Mask = None,
                   normalize: str | None = DEFAULTS.normalize, smooth: int | str = DEFAULTS.smooth,
                   opening: int = DEFAULTS.opening, k: float = DEFAULTS.k,
                   connectivity: int = DEFAULTS.connectivity, index: str | None = None,
                   direction: str | None = None, noise_floor: float | None = DEFAULTS.noise_floor,
                   to_classes: Any = None, from_classes: Any = None,
                   sample_pixels: int = SAMPLE_PIXELS, model: Any = None,
                   prescreen: float | None = None, store: Store = None) -> gpd.GeoDataFrame:
    """Change patches (图斑) between two dates of imagery, in one call.

    The chain :func:`change_score` → :func:`~onemap.change.threshold_score` →
    :func:`~onemap.change.patches_above`, each stage public.

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
        The pixels to exclude: a :class:`~onemap.change.MaskPolicy` (clouds, nodata), a boolean
        ``(y, x)`` array (True = exclude: clouds, shadows, areas out of scope) or a function of
        the pair giving one.
    normalize, smooth, index, direction, sample_pixels, store
        As in :func:`change_score` (with a *store* the score is kept in it, and a rerun skips
        the stored tiles).
    opening
        Radius of a binary opening of the mask (0: none).
    connectivity
        8 (diagonal neighbours join a patch) or 4.
    noise_floor
        Lowest data-driven threshold in noise sigmas (default 2; None: Otsu/k-sigma as computed),
        see :func:`~onemap.change.threshold_score`.
    to_classes, from_classes
        For ``method="post_classification"``: *before* and *after* are integer class maps and a
        patch is a group of pixels that went into *to_classes* (from *from_classes*, default any
        other class); see :mod:`onemap.change.postclass`.
    model
        A trained model (:class:`onemap.change.ChangeModel` or the path of its file, see
        :mod:`onemap.change.model`): patches come from it; a numeric *threshold* is then the
        pixel probability of a candidate (default: the model's own) and *method*, *normalize*,
        *smooth*, *opening*, *k*, *noise_floor* are not used. Each patch gets ``probability``.
    prescreen
        With *model*: None (default) runs the full model only where the model's learned screen
        passes; 0 scores every pixel; a number > 0 is a fixed CVA level in noise sigmas (see
        :func:`onemap.change.model.detect_with_model`). Not used without a model.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``id, pixels, area_m2, score_mean, score_max, confidence, date_before,
        date_after, geometry`` in the frame's CRS. ``attrs``: method, threshold, threshold_method,
        noise, normalisation coefficients, status (a :class:`~onemap.change.DetectionStatus`
        value: ``"ok"``, ``"no valid pixels"``, ``"constant score"``). A scene with no valid
        pixel (all nodata or masked) or a constant score gives no patch and an
        :class:`~onemap.errors.OnemapWarning`, not an error.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from onemap import Frame, detect_changes
    >>> f = Frame.from_bounds((39_500_000, 3_300_000, 39_500_120, 3_300_120), res=2, crs=4527)
    >>> rng = np.random.default_rng(0)
    >>> veg = np.array([300, 700, 400, 4000.0])[:, None, None] * rng.normal(1, 0.03, (4, 60, 60))
    >>> new = 1.2 * veg + 50  # another illumination
    >>> new[:, 20:30, 30:45] = np.array([2400, 2600, 2700, 3100.0])[:, None, None]  # a new roof
    >>> mk = lambda a, d: xr.DataArray(a.astype("uint16"), dims=("band", "y", "x"),
    ...     attrs={"date": d}, coords={"band": ["blue", "green", "red", "nir"], **f.coords()}
    ...     ).rio.write_crs(f.crs)
    >>> p = detect_changes(mk(veg, "2020-05-01"), mk(new, "2021-05-01"), min_area=100, smooth=0)
    >>> len(p), round(float(p.area_m2.iloc[0]), 1), p.date_after.iloc[0], p.attrs["status"]
    (1, 600.0, '2021-05-01', 'ok')
    """
    if model is not None:
        from .model import detect_with_model

        thr = None if isinstance(threshold, str) else float(threshold)
        return detect_with_model(before, after, model, threshold=thr, min_area=min_area, mask=mask,
                                 connectivity=connectivity, frame=frame, prescreen=prescreen)
    if method == "post_classification":
        return _detect_classes(before, after, frame, to_classes, from_classes, min_area, mask,
                               opening, connectivity)
    _check_threshold(threshold)  # before the score: a misspelt name is not "no valid pixels"
    plan = Plan(before, after, frame, method, normalize, mask, index, direction, sample_pixels)
    f = plan.frame
    radius = resolve_smooth(smooth, plan.before)
    attrs = {**plan.attrs(), "threshold_method": threshold if isinstance(threshold, str)
             else "fixed", "min_area": float(min_area), "smooth": int(radius),
             "opening": int(opening), "noise_floor": noise_floor}
    score = like_grid(_scored(plan, radius), plan.before, attrs)
    if store is not None:
        given = _parameters(method, normalize, index, direction, sample_pixels, radius)
        score = score_into_store(score, store, plan, mask=mask, parameters=given)
    elif is_lazy(score.data):
        score = score.copy(data=score.data.persist())  # read and score once: threshold, patches
    try:
        t = threshold_score(score, threshold=threshold, k=k, floor=noise_floor,
                            value_range=score.attrs.get("score_range"))
    except NoValidPixelsError:
        warnings.warn("no pixel is valid in both dates (nodata, clouds or mask everywhere): "
                      "no change patches", OnemapWarning, stacklevel=2)
        return empty_patches(f, {**attrs, "threshold": float("nan"), "noise": float("nan")},
                             DetectionStatus.NO_VALID_PIXELS)
    if t.status is DetectionStatus.CONSTANT_SCORE:
        warnings.warn("the change score is constant: the threshold is undefined and nothing "
                      "stands out, no change patches", OnemapWarning, stacklevel=2)
        return empty_patches(f, {**attrs, "threshold": float("nan"), "noise": 0.0}, t.status)
    out = patches_above(score, t.threshold, f, noise=t.noise, opening=opening,
                        connectivity=connectivity, min_area=min_area,
                        dates=(plan.before.attrs.get("date"), plan.after.attrs.get("date")))
    out.attrs.update({**attrs, "threshold": t.threshold, "noise": t.noise,
                      "status": str(t.status)})
    return out


def _check_threshold(threshold: Any) -> None:
    """DataError (with a "did you mean") unless *threshold* is "otsu", "k_sigma" or a number."""
    if isinstance(threshold, (int, float, np.number)) and not isinstance(threshold, bool):
        return
    if isinstance(threshold, str) and threshold.lower().replace("-", "_") in ("otsu", "k_sigma"):
        return
    import difflib

    close = difflib.get_close_matches(str(threshold).lower(), ["otsu", "k_sigma"], n=1,
                                      cutoff=0.5)
    raise DataError(f"threshold must be 'otsu', 'k_sigma' or a number, got {threshold!r}",
                    hint=f"did you mean threshold={close[0]!r}?" if close
                    else "e.g. threshold='otsu' or threshold=3.0")


def _detect_classes(before: xr.DataArray, after: xr.DataArray, frame: Frame | None,
                    to_classes: Any, from_classes: Any, min_area: float, mask: Any, opening: int,
                    connectivity: int) -> gpd.GeoDataFrame:
    from ._scene import frame_of
    from .postclass import class_change

    if to_classes is None:
        raise DataError("post_classification needs to_classes=",
                        hint="e.g. to_classes=[20] for built-up")
    fb, fa = frame_of(before, "before"), frame_of(after, "after")
    if fb != fa or (frame is not None and frame != fb):
        raise FrameError(f"class maps are on different grids: {fb!r} and {fa!r}",
                         hint="align them with onemap.align(..., resampling='nearest') first")
    score = class_change(before, after, to_classes, from_classes)
    m = mask(before, after) if callable(mask) else mask
    data = _apply_mask(score.data, m, fb.shape)
    score = score.copy(data=data)
    attrs = {**score.attrs, "threshold_method": "fixed", "min_area": float(min_area),
             "date_before": before.attrs.get("date"), "date_after": after.attrs.get("date")}
    mask_da = change_mask(score, 0.5, opening)
    out = patches_from_mask(mask_da.data, fb, score=data, min_area=min_area,
                            connectivity=connectivity, threshold=0.5, noise=None,
                            date_before=attrs["date_before"], date_after=attrs["date_after"])
    out.attrs.update({**attrs, "threshold": 0.5, "noise": None, "status": str(DetectionStatus.OK)})
    return out
