"""The naive county pipeline: the anchor the onemap survey is compared with (issue 7).

This is the change survey written the way an analyst writes it without onemap, deliberately
*without tiling*: ``rasterio`` reads both whole images in one call each, the construction score
is NumPy index arithmetic on whole float32 bands, ``skimage.filters.threshold_otsu`` picks the
threshold, ``scipy.ndimage.label`` finds the patches, ``rasterio.features.shapes`` polygonises
them and ``geopandas.overlay`` subtracts the approvals and splits the rest by land-use class.

The per-pixel arithmetic is onemap's construction evidence (``onemap.change._kernels.
_construction_px`` with NIR and blue, no SWIR) restated with NumPy ufuncs:

* date 2 is mapped onto date 1 per band by mean/std matching over the pixels valid in both
  dates (nodata 0 in any band marks a pixel outside the image);
* raw components: NDVI loss, relative brightness gain ND(brightness2, brightness1) and greying
  ND(red, blue)1 - ND(red, blue)2, each divided by its noise sigma (1.4826 x MAD on a strided
  sample of the valid pixels);
* evidence ``sqrt(max(dv, 0)² + max(db, 0)² + dq²)``, damped where date 2 is on the soil line,
  still vegetated (NDVI ramp 0.3-0.6) or water at either date; NaN where nodata.

The threshold is Otsu on the finite scores, floored at 2 noise sigmas as in onemap; components
are 8-connected and those under 200 m² are dropped. No opening by default (onemap's default is
none either); ``opening=True`` adds a 3x3 binary opening.

Run ``python benchmarks/naive_pipeline.py /work/bench_data/county_8000`` to print the stage
timings and the peak RSS. Peak memory grows with the image: ~4 GiB at 8 000², ~24 GiB at 20 000².
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import scipy.ndimage as ndi
import shapely
from rasterio import features
from skimage.filters import threshold_otsu

NOISE_FLOOR = 2.0  # lowest data-driven threshold, in noise sigmas (onemap's default)
MIN_AREA_M2 = 200.0  # smallest patch kept
SAMPLE_PIXELS = 1_000_000  # about this many pixels in the strided sample for the noise sigmas
F = np.float32


def _nd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Normalised difference ``(a - b) / (a + b)``, 0 where the sum is 0."""
    s = a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s != 0, (a - b) / s, F(0))


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below *lo*, 1 above *hi*, linear between."""
    return np.clip((x - F(lo)) * F(1.0 / (hi - lo)), F(0), F(1))


def _mad_sigma(x: np.ndarray) -> float:
    """Robust noise scale 1.4826 x MAD of the finite values (the std if the MAD is 0, else 1)."""
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 1.0
    s = 1.4826 * float(np.median(np.abs(x - np.median(x))))
    if s > 0:
        return s
    s = float(x.std())
    return s if s > 0 else 1.0


def _soil_like(b: np.ndarray, g: np.ndarray, r: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Fuzzy soil-line membership (green above blue, red a little above green, NIR above red)."""
    gb, rg = _nd(g, b), _nd(r, g)
    m = _ramp(gb, 0.04, 0.10) * _ramp(rg, 0.0, 0.05)
    m *= F(1) - _ramp(rg, 0.20, 0.28)
    return m * _ramp(_nd(n, r), 0.02, 0.07)


def construction_score(bands1: list[np.ndarray], bands2: list[np.ndarray],
                       nodata: float = 0) -> tuple[np.ndarray, dict[str, Any]]:
    """Construction evidence of two whole 4-band images (blue, green, red, nir), in noise sigmas.

    Parameters
    ----------
    bands1, bands2
        Lists of the four float32 ``(rows, cols)`` bands (blue, green, red, nir) of date 1 and
        date 2. Both lists are emptied and the date-2 bands normalised in place: each band of
        an 8 000² image is 256 MB, so the bands are freed as soon as they are used.
    nodata
        Value that marks a pixel outside the image (in any band).

    Returns
    -------
    score : numpy.ndarray
        float32 ``(rows, cols)``, NaN where either date is nodata.
    info : dict
        ``gain``, ``offset`` (date 2 -> date 1 per band) and ``sigma`` (vegetation loss,
        brightness gain, greying).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(500, 3000, (4, 32, 32)).astype(np.float32)
    >>> s, info = construction_score(list(a), list(a.copy()))
    >>> s.shape, float(np.nanmax(s)) < 1e-3
    ((32, 32), True)
    """
    valid = np.ones(bands1[0].shape, bool)
    for x in bands1 + bands2:
        valid &= x != F(nodata)
    gain, offset = np.ones(4), np.zeros(4)
    if valid.any():
        for k in range(4):  # relative normalisation: mean/std of date 2 matched to date 1
            a, b = bands1[k][valid], bands2[k][valid]
            sa, sb = float(a.std()), float(b.std())
            gain[k] = sa / sb if sb > 0 else 1.0
            offset[k] = float(a.mean()) - gain[k] * float(b.mean())
            del a, b
            bands2[k] *= F(gain[k])
            bands2[k] += F(offset[k])

    b1, g1, r1, n1 = bands1
    bands1.clear()
    v1 = _nd(n1, r1)
    q1 = _nd(r1, b1)  # redness
    br1 = (b1 + g1 + r1) / F(3)
    w1 = _ramp(np.minimum(_nd(g1, n1), -v1), 0.0, 0.15)  # water
    del b1, g1, r1, n1

    b2, g2, r2, n2 = bands2
    bands2.clear()
    v2 = _nd(n2, r2)
    dv = v1 - v2  # vegetation loss
    del v1
    w2 = _ramp(np.minimum(_nd(g2, n2), -v2), 0.0, 0.15)
    # gates on what the pixel is after: still vegetated, water at either date, soil line
    gate = (F(1) - _ramp(v2, 0.3, 0.6)) * (F(1) - np.maximum(w1, w2))
    del v2, w1, w2
    gate *= F(1) - _soil_like(b2, g2, r2, n2)
    db = _nd((b2 + g2 + r2) / F(3), br1)  # relative brightness gain
    del br1
    dq = q1 - _nd(r2, b2)  # greying
    del q1, b2, g2, r2, n2

    # noise sigmas from a strided sample of the valid pixels
    step = max(1, int(math.sqrt(valid.size / SAMPLE_PIXELS)))
    vs = valid[::step, ::step]
    sigma = [_mad_sigma(d[::step, ::step][vs]) for d in (dv, db, dq)]
    dv /= F(sigma[0])
    np.maximum(dv, F(0), out=dv)
    db /= F(sigma[1])
    np.maximum(db, F(0), out=db)
    dq /= F(sigma[2])
    e = np.sqrt(dv * dv + db * db + dq * dq)
    del dv, db, dq
    e *= gate
    e[~valid] = np.nan
    return e, {"gain": gain.tolist(), "offset": offset.tolist(), "sigma": sigma}


def run_naive(root: str | Path, opening: bool = False) -> dict[str, Any]:
    """Run the naive pipeline on one synthetic county and time its stages.

    Parameters
    ----------
    root
        Directory written by :func:`onemap.synth.make_county` (imagery, approvals, landuse).
    opening
        Apply a 3x3 ``scipy.ndimage.binary_opening`` to the mask before labelling (onemap's
        default is no opening, so the like-for-like comparison leaves it off).

    Returns
    -------
    dict
        ``seconds`` (per stage: read, arithmetic, threshold, label, polygonise, read_vectors,
        overlay), ``total_seconds``, ``shape``, ``threshold``, ``otsu`` (before the floor),
        ``patches``, ``patch_area_m2``, ``unapproved_patches`` (> 1 m² unapproved),
        ``unapproved_m2``, ``unapproved_by_code`` (m² per land-use code ``DLBM``), ``sigma``,
        ``gain``, ``offset``.

    Examples
    --------
    >>> r = run_naive("/work/bench_data/county_2500")  # doctest: +SKIP
    >>> sorted(r["seconds"])  # doctest: +SKIP
    ['arithmetic', 'label', 'overlay', 'polygonise', 'read', 'read_vectors', 'threshold']
    """
    from onemap.synth import open_county

    paths = open_county(root).paths
    sec: dict[str, float] = {}

    t = time.perf_counter()
    with rasterio.open(paths["before"]) as src:
        img1 = src.read()
        transform, crs, nodata = src.transform, src.crs, src.nodata
        px_area = abs(transform.a * transform.e - transform.b * transform.d)
    with rasterio.open(paths["after"]) as src:
        img2 = src.read()
    sec["read"] = time.perf_counter() - t

    t = time.perf_counter()
    shape = img1.shape[1:]
    bands1 = [band.astype(F) for band in img1]
    del img1
    bands2 = [band.astype(F) for band in img2]
    del img2
    score, info = construction_score(bands1, bands2, 0 if nodata is None else nodata)
    sec["arithmetic"] = time.perf_counter() - t

    t = time.perf_counter()
    finite = score[np.isfinite(score)]
    otsu = float(threshold_otsu(finite))
    del finite
    thr = max(otsu, NOISE_FLOOR)
    with np.errstate(invalid="ignore"):
        mask = score > thr
    del score
    sec["threshold"] = time.perf_counter() - t

    t = time.perf_counter()
    if opening:
        mask = ndi.binary_opening(mask, structure=np.ones((3, 3), bool))
    lab, n = ndi.label(mask, structure=np.ones((3, 3), int))
    del mask
    counts = np.bincount(lab.ravel(), minlength=n + 1)
    keep = counts >= math.ceil(MIN_AREA_M2 / px_area - 1e-9)
    keep[0] = False
    kept = keep[lab]
    sec["label"] = time.perf_counter() - t

    t = time.perf_counter()
    lab = lab.astype(np.int32, copy=False)
    rows = [(shapely.geometry.shape(g), int(v))
            for g, v in features.shapes(lab, mask=kept, transform=transform)]
    del lab, kept
    pieces = gpd.GeoDataFrame({"label": [v for _, v in rows]}, geometry=[g for g, _ in rows], crs=crs)
    patches = pieces.dissolve(by="label").reset_index()
    patches["area_m2"] = patches.area
    sec["polygonise"] = time.perf_counter() - t

    t = time.perf_counter()
    approvals = gpd.read_file(paths["approvals_gpkg"], layer="JSYDSP")
    landuse = gpd.read_file(paths["landuse"], layer="DLTB")
    sec["read_vectors"] = time.perf_counter() - t

    t = time.perf_counter()
    unapproved = gpd.overlay(patches, approvals[["geometry"]], how="difference")
    unapproved["unapproved_m2"] = unapproved.area
    with warnings.catch_warnings():  # slivers of other geometry types are dropped: fine here
        warnings.filterwarnings("ignore", "`keep_geom_type=True`", UserWarning)
        by_class = gpd.overlay(unapproved[["label", "geometry"]], landuse[["DLBM", "geometry"]],
                               how="intersection")
    by_code = by_class.geometry.area.groupby(by_class["DLBM"]).sum().sort_values(ascending=False)
    sec["overlay"] = time.perf_counter() - t

    return {
        "seconds": sec,
        "total_seconds": sum(sec.values()),
        "shape": tuple(int(s) for s in shape),
        "threshold": thr,
        "otsu": otsu,
        "patches": len(patches),
        "patch_area_m2": float(patches["area_m2"].sum()),
        "unapproved_patches": int((unapproved["unapproved_m2"] > 1.0).sum()),
        "unapproved_m2": float(unapproved["unapproved_m2"].sum()),
        "unapproved_by_code": {str(k): float(v) for k, v in by_code.items()},
        **info,
    }


def _peak_rss_gib() -> float:
    # ru_maxrss is in KiB on Linux, bytes on macOS
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**30 if sys.platform == "darwin" else 2**20)


def main(argv: list[str] | None = None) -> None:
    """CLI: run the naive pipeline on one county and print stage timings and peak RSS."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", help="county directory written by onemap.synth.make_county")
    ap.add_argument("--opening", action="store_true", help="3x3 binary opening before labelling")
    args = ap.parse_args(argv)
    load = os.getloadavg()
    r = run_naive(args.root, opening=args.opening)
    h, w = r["shape"]
    print(f"naive pipeline on {args.root} ({h} x {w} px), load average before: {load[0]:.1f}")
    for stage, s in r["seconds"].items():
        print(f"  {stage:<13s}{s:8.2f} s")
    print(f"  {'total':<13s}{r['total_seconds']:8.2f} s")
    print(f"peak RSS {_peak_rss_gib():.2f} GiB")
    print(f"threshold {r['threshold']:.3f} (Otsu {r['otsu']:.3f}, floor {NOISE_FLOOR}), "
          f"sigma {[round(s, 5) for s in r['sigma']]}")
    print(f"patches {r['patches']} ({r['patch_area_m2']:.0f} m²), unapproved {r['unapproved_patches']} "
          f"patches, {r['unapproved_m2']:.0f} m²")
    top = list(r["unapproved_by_code"].items())[:6]
    print("unapproved m² by DLBM: " + ", ".join(f"{k} {v:.0f}" for k, v in top))


if __name__ == "__main__":
    main()
