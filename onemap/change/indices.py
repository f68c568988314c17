"""Spectral indices and pixel masks of one scene, by band name.

Bands are looked up by canonical name in the scene's ``band`` coordinate (or by the sensor's file
suffix, through :func:`onemap.ingest.sensors.band_index`), so the same call works for GF-1/2/6 PMS
(blue, green, red, nir), Sentinel-2, Landsat and plain RGB imagery. Every index is a ratio of
bands, so a per-band gain (DN vs reflectance) changes it little and the units cancel.

========== ======================================================= ==========================
name       formula                                                 bands
========== ======================================================= ==========================
ndvi       (nir - red) / (nir + red)                               red, nir
ndbi       (swir1 - nir) / (swir1 + nir)                           nir, swir1
ndwi       (green - nir) / (green + nir)  (McFeeters)              green, nir
mndwi      (green - swir1) / (green + swir1)  (Xu)                 green, swir1
bsi        ((swir1 + red) - (nir + blue)) / (... + ...); without   blue, red (+ nir, swir1)
           SWIR the soil redness (red - blue) / (red + blue)
brightness mean of blue, green, red                                green, red (+ blue)
gli        (2 green - red - blue) / (2 green + red + blue)         blue, green, red
redness    (red - blue) / (red + blue)                             blue, red
========== ======================================================= ==========================

The bare-soil index needs SWIR to separate soil from built surfaces; with four bands it falls
back to soil redness (iron oxides make soils redder than vegetation, concrete and asphalt).
``gli`` (green leaf index) is the visible-only vegetation index used when there is no NIR band.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._compute import apply_blocks, halo, is_lazy, run_strips
from ..errors import DataError
from . import _kernels as K
from . import _mask_kernels as MK
from ._scene import as_scene, like_grid, nodata_of, roles

__all__ = [
    "INDICES",
    "spectral_index",
    "ndvi",
    "ndbi",
    "ndwi",
    "mndwi",
    "bare_soil_index",
    "brightness",
    "valid_mask",
    "water_mask",
    "cloud_mask",
]

# name -> (kernel code, required bands)
INDICES: dict[str, tuple[int, tuple[str, ...]]] = {
    "ndvi": (K.NDVI, ("red", "nir")),
    "ndbi": (K.NDBI, ("nir", "swir1")),
    "ndwi": (K.NDWI, ("green", "nir")),
    "mndwi": (K.MNDWI, ("green", "swir1")),
    "bsi": (K.BSI, ("blue", "red")),
    "brightness": (K.BRIGHTNESS, ("green", "red")),
    "gli": (K.GLI, ("blue", "green", "red")),
    "redness": (K.REDNESS, ("blue", "red")),
}


def spectral_index(scene: xr.DataArray, name: str) -> xr.DataArray:
    """One spectral index of *scene* as a float32 ``(y, x)`` DataArray (NaN at nodata).

    Dask-backed scenes give a lazy result computed block by block with the same kernel.

    Parameters
    ----------
    scene
        Scene with dims ``(band, y, x)`` and named bands.
    name
        One of :data:`INDICES` (``"ndvi"``, ``"ndbi"``, ``"ndwi"``, ``"mndwi"``, ``"bsi"``,
        ``"brightness"``, ``"gli"``, ``"redness"``).

    Raises
    ------
    DataError
        Unknown index, or a band the index needs is missing (the message names it).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> scene = xr.DataArray(np.array([[[100]], [[200]], [[100]], [[300]]], dtype="uint16"),
    ...                      dims=("band", "y", "x"),
    ...                      coords={"band": ["blue", "green", "red", "nir"]})
    >>> float(spectral_index(scene, "ndvi")[0, 0])
    0.5
    >>> spectral_index(scene, "ndbi")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    onemap.errors.DataError: feature swir1: index 'ndbi' needs band 'swir1', ...
    """
    key = str(name).lower()
    if key not in INDICES:
        raise DataError(f"unknown spectral index {name!r}", hint=f"use one of {', '.join(INDICES)}")
    code, required = INDICES[key]
    scene = as_scene(scene)
    pos = roles(scene, required, f"index {key!r}")
    nodata = nodata_of(scene)

    def block(img: np.ndarray) -> np.ndarray:
        out = np.empty(img.shape[1:], np.float32)
        run_strips(lambda r0, r1: K.index_kernel(img, pos, code, nodata, r0, r1, out),
                   img.shape[1], img.shape[2])  # out's (y, x)
        return out

    data = apply_blocks(block, _all_bands(scene), drop_axis=0, dtype=np.float32)
    return like_grid(data, scene, {"index": key, "date": scene.attrs.get("date"),
                                   "sensor": scene.attrs.get("sensor")}).rename(key)


def ndvi(scene: xr.DataArray) -> xr.DataArray:
    """Normalised difference vegetation index, (nir - red) / (nir + red).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> s = xr.DataArray(np.array([[[0.05]], [[0.4]]], "float32"), dims=("band", "y", "x"),
    ...                  coords={"band": ["red", "nir"]})
    >>> round(float(ndvi(s)[0, 0]), 3)
    0.778
    """
    return spectral_index(scene, "ndvi")


def ndbi(scene: xr.DataArray) -> xr.DataArray:
    """Normalised difference built-up index, (swir1 - nir) / (swir1 + nir); needs SWIR."""
    return spectral_index(scene, "ndbi")


def ndwi(scene: xr.DataArray) -> xr.DataArray:
    """McFeeters' water index, (green - nir) / (green + nir); water > 0."""
    return spectral_index(scene, "ndwi")


def mndwi(scene: xr.DataArray) -> xr.DataArray:
    """Xu's modified water index, (green - swir1) / (green + swir1); needs SWIR."""
    return spectral_index(scene, "mndwi")


def bare_soil_index(scene: xr.DataArray) -> xr.DataArray:
    """Bare-soil index: BSI with SWIR, soil redness (red - blue) / (red + blue) without."""
    return spectral_index(scene, "bsi")


def brightness(scene: xr.DataArray) -> xr.DataArray:
    """Mean of the visible bands (blue, green, red; green and red when there is no blue)."""
    return spectral_index(scene, "brightness")


def valid_mask(scene: xr.DataArray) -> xr.DataArray:
    """True where no band is nodata (``attrs["nodata"]``) or NaN.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> s = xr.DataArray(np.array([[[0, 5]], [[7, 8]]], "uint16"), dims=("band", "y", "x"),
    ...                  coords={"band": ["red", "nir"]}, attrs={"nodata": 0})
    >>> valid_mask(s).values.tolist()
    [[False, True]]
    """
    scene = as_scene(scene)
    nodata = nodata_of(scene)
    bad = scene.isnull() if scene.dtype.kind == "f" else xr.zeros_like(scene, dtype=bool)
    if not np.isnan(nodata):
        bad = bad | (scene == nodata)
    return like_grid((~bad.any("band")).data, scene, {"mask": "valid"})


def water_mask(scene: xr.DataArray, threshold: float = 0.0) -> xr.DataArray:
    """Water: MNDWI (with SWIR) or NDWI above *threshold* and NDVI below 0.

    The NDVI condition keeps blue steel roofs, whose NDWI is positive but whose NIR is bright,
    out of the water class. Nodata pixels are False.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> water, roof = [0.06, 0.05, 0.03, 0.02], [0.25, 0.22, 0.15, 0.18]
    >>> s = xr.DataArray(np.array([water, roof], "float32").T[:, None, :], dims=("band", "y", "x"),
    ...                  coords={"band": ["blue", "green", "red", "nir"]})
    >>> water_mask(s).values.tolist()
    [[True, False]]
    """
    scene = as_scene(scene)
    has_swir = roles(scene, (), "water mask")[4] >= 0
    wi = spectral_index(scene, "mndwi" if has_swir else "ndwi")
    veg = spectral_index(scene, "ndvi")
    out = (wi > threshold) & (veg < 0)
    return out.assign_attrs(mask="water", index="mndwi" if has_swir else "ndwi").rename("water")


def cloud_mask(scene: xr.DataArray, *, blue_min: float | None = None, whiteness_max: float = 0.25,
               min_width_m: float | None = 60.0) -> xr.DataArray:
    """Bright, white (spectrally flat) pixels: thick clouds.

    A pixel is cloud when its blue band is at least *blue_min* and the visible bands differ by
    at most *whiteness_max* of their mean (clouds are white; soils and most roofs are coloured
    or not as bright in blue), and it lies in a white area at least *min_width_m* across.

    In four bands a new white roof (coated steel, membrane: 0.4-0.6 reflectance, flat spectrum)
    looks like thick cloud pixel by pixel; what differs is the extent: cumulus cells are hundreds
    of metres across, building roofs are rarely wider than ~60 m (steel workshop spans are
    18-36 m). So the bright white pixels are opened with a square of side *min_width_m*
    (erosion then dilation): white areas that cannot hold it are kept as roofs. Wider white
    roofs (large warehouses) are still masked, and small cloud fragments pass; thin clouds and
    haze are missed. Prefer the data provider's cloud mask when there is one.

    Parameters
    ----------
    scene
        Scene with blue, green and red bands.
    blue_min
        Blue value above which a white pixel is cloud, in the scene's units. Default: 0.25 for
        float reflectance (values up to ~1.5), ``0.25 * attrs["reflectance_scale"]`` when the
        scene carries that attribute (e.g. 10000 for Sentinel-2 L1C/L2A); otherwise it must be
        given, because raw digital numbers have no absolute meaning.
    whiteness_max
        Largest spread of the visible bands, as a share of their mean.
    min_width_m
        Smallest width of a cloud in metres (``None``: no extent test). Needs a georeferenced
        scene; without a transform the extent test is skipped.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> cloud, roof = [0.45, 0.46, 0.47], [0.20, 0.22, 0.23]
    >>> s = xr.DataArray(np.array([cloud, roof], "float32").T[:, None, :], dims=("band", "y", "x"),
    ...                  coords={"band": ["blue", "green", "red"]})
    >>> cloud_mask(s).values.tolist()
    [[True, False]]
    """
    scene = as_scene(scene)
    ib, ig, ir = (int(k) for k in roles(scene, ("blue", "green", "red"), "cloud mask")[:3])
    if blue_min is None:
        scale = scene.attrs.get("reflectance_scale")
        if scale is not None:
            blue_min = 0.25 * float(scale)
        elif scene.dtype.kind == "f" and _looks_like_reflectance(scene):
            blue_min = 0.25
        else:
            raise DataError("cloud_mask needs blue_min for scenes in digital numbers",
                            feature="blue",
                            hint="pass blue_min= in the scene's units (e.g. the blue DN of "
                                 "thick cloud), or set attrs['reflectance_scale']")
    def block(img: np.ndarray) -> np.ndarray:
        out = np.empty(img.shape[1:], bool)
        run_strips(lambda r0, r1: MK.white_bright(img, ib, ig, ir, float(blue_min),
                                                  float(whiteness_max), r0, r1, out),
                   img.shape[1], img.shape[2])  # out's (y, x)
        return out

    out = apply_blocks(block, _all_bands(scene), drop_axis=0, dtype=bool)
    radius = _half_width_px(scene, min_width_m)
    if radius > 0:
        from .morphology import binary_opening

        # erosion and dilation each reach radius pixels; nothing is cloud beyond the frame
        out = apply_blocks(lambda x: binary_opening(x, radius), out, halo=halo(radius, passes=2),
                           boundary=False, dtype=bool)
    return like_grid(out, scene, {"mask": "cloud", "blue_min": float(blue_min),
                                  "min_width_px": 2 * radius + 1 if radius else 0}).rename("cloud")


def _all_bands(scene: xr.DataArray) -> Any:
    """The scene's array with every band in each block (the kernels read all bands of a pixel)."""
    return scene.data.rechunk({0: -1}) if is_lazy(scene.data) else scene.values


def _half_width_px(scene: xr.DataArray, width_m: float | None) -> int:
    """Half the side, in pixels, of a square *width_m* metres wide (0: no georeference or None)."""
    if width_m is None or width_m <= 0:
        return 0
    from ..frame import Frame

    try:
        frame = Frame.from_xarray(scene)
        res = min(abs(float(r)) for r in frame.res)
        if frame.crs is not None and frame.crs.is_geographic:
            res *= 111_320.0  # degrees -> metres (along a meridian): a size test needs no more
    except Exception:  # not georeferenced: no extent test
        return 0
    return max(0, int(round((width_m / res - 1) / 2)))


def _looks_like_reflectance(scene: xr.DataArray) -> bool:
    from ..ingest.window import read_windows
    from ._sample import sample_windows

    windows = sample_windows((scene.shape[1], scene.shape[2]), 1 << 16, 64)
    sub = np.concatenate([w.ravel() for w in read_windows(scene, windows)])
    finite = sub[np.isfinite(sub)]
    return finite.size > 0 and float(np.percentile(finite, 99)) <= 1.5

