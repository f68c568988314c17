"""Candidate patches of a change-probability map and their per-patch features.

The patch stage of the trained detector (:mod:`onemap.change.model`) judges whole candidate
patches -- connected components of ``probability >= threshold`` -- because most false alarms on
real imagery are whole patches (harvested fields, shadows, moved cars, greenhouses). Features
per patch: area, shape (compactness ``4 pi A / P²`` in pixel edges, fill of the bounding box),
mean / max / high-share of the pixel probability, CVA magnitude inside and in a ring of
:data:`RING` pixels around the patch and their contrast, PanTex texture after and its change,
brightness change, and (when a land-use layer is given) the land-use class before (first two
digits of the GB/T 21010 code, e.g. 01 cultivated land).

A candidate is "real" for training when at least half of its labelled pixels lie on true change
(:data:`REAL_SHARE`). (Measured and dropped, benchmarks/README.md: the campaign's 30 % rule as the
training target and context features -- probability spread, ring and 10-pixel context means,
CVA / brightness-change contrast -- lowered the held-out OSCD figures.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from ._objects import patch_pixels

RING = 3
REAL_SHARE = 0.5
SMOOTH_ROWS = 1024  # rows smoothed at once (the float64 sums are 16 bytes a pixel)
# channels the pixel stage hands over, in this order
CHANNELS = ("probability", "cva", "pantex_2", "pantex_change", "brightness_change")
PATCH_FEATURES = (
    "log_area_m2",
    "compactness",
    "fill",
    "prob_mean",
    "prob_max",
    "prob_high",
    "cva_in",
    "cva_ring",
    "cva_contrast",
    "pantex_2_in",
    "pantex_2_ring",
    "pantex_change_in",
    "brightness_change_in",
    "landuse_before",
)


SMOOTHINGS = ("none", "mean3")  # what the probability may be smoothed by before labelling


def smooth(prob: np.ndarray, kind: str) -> np.ndarray:
    """The probability smoothed before its candidates are labelled: ``"none"`` (itself) or
    ``"mean3"``, the mean of the finite values in the pixel's 3 x 3 neighbourhood (NaN stays
    NaN; nothing outside the array). Each value depends on its 3 x 3 neighbourhood only, summed
    in a fixed order: the same whole or by tiles with a 1-pixel halo."""
    if kind == "none":
        return prob
    if kind != "mean3":
        raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {kind!r}")
    out = np.full(prob.shape, np.nan, np.float32)
    h, k = prob.shape[0], np.ones((3, 3))
    for r0 in range(0, h, SMOOTH_ROWS):  # by strips of rows with a 1-row halo: bounded memory
        a, b = max(r0 - 1, 0), min(r0 + SMOOTH_ROWS + 1, h)
        part = prob[a:b]
        ok = np.isfinite(part)
        s = ndimage.correlate(np.where(ok, part, 0).astype(np.float64), k, mode="constant")
        n = ndimage.correlate(ok.astype(np.float64), k, mode="constant")
        inner = slice(r0 - a, r0 - a + min(SMOOTH_ROWS, h - r0))
        ok, s, n = ok[inner], s[inner], n[inner]
        out[r0:r0 + ok.shape[0]][ok] = s[ok] / n[ok]
    return out


def candidates(prob: np.ndarray, threshold: float, connectivity: int = 8) -> tuple[np.ndarray, int]:
    """Connected components (raster order of first pixel, 1..n) of ``prob >= threshold``."""
    structure = np.ones((3, 3), bool) if connectivity == 8 else None
    with np.errstate(invalid="ignore"):  # NaN is no candidate
        lab, n = ndimage.label(prob >= threshold, structure=structure)
    return lab.astype(np.int32, copy=False), int(n)


def _means(lab: np.ndarray, n: int) -> Callable[[np.ndarray], np.ndarray]:
    """``mean(values)``: the mean of the finite *values* of each label 1..n (NaN where none).
    The labelled pixels are found once (a few % of a window), in raster order, so the sums add
    in the same order as a bincount over the whole window would."""
    sel = np.flatnonzero(lab)
    ids = lab.ravel()[sel]

    def mean(values: np.ndarray) -> np.ndarray:
        v = values.ravel()[sel]
        ok = np.isfinite(v)
        s = np.bincount(ids[ok], weights=v[ok].astype(np.float64), minlength=n + 1)
        c = np.bincount(ids[ok], minlength=n + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (s / c)[1:]

    return mean


def _perimeter(lab: np.ndarray, n: int) -> np.ndarray:
    """Pixel edges on each patch's outline (image border included)."""
    per = np.zeros(n + 1, np.float64)
    for a, b in ((lab[:, :-1], lab[:, 1:]), (lab[:-1, :], lab[1:, :])):
        diff = a != b
        per += np.bincount(a[diff], minlength=n + 1) + np.bincount(b[diff], minlength=n + 1)
    for edge in (lab[0], lab[-1], lab[:, 0], lab[:, -1]):
        per += np.bincount(edge, minlength=n + 1)
    return per[1:]


def ring_labels(lab: np.ndarray, width: int = RING) -> np.ndarray:
    """Background pixels within *width* pixels (Euclidean) of a patch, labelled with the nearest
    patch (equidistant patches: the smaller label); 0 elsewhere.

    >>> lab = np.zeros((1, 7), np.int32); lab[0, 0], lab[0, 4] = 1, 2
    >>> ring_labels(lab, 2).tolist()  # pixel 2 is 2 from both patches: the smaller label
    [[0, 1, 1, 2, 0, 2, 2]]
    """
    from ._label_kernels import ring_kernel

    lab = np.ascontiguousarray(lab, np.int32)
    out = np.empty_like(lab)
    ring_kernel(lab, int(width), out)
    return out


def landuse_class(codes: np.ndarray) -> np.ndarray:
    """First two digits of land-use codes (``"0101"`` -> 1, ``"203"`` -> 20); -1 when unreadable."""
    out = np.full(len(codes), -1, np.int32)
    for k, c in enumerate(codes):
        s = str(c).strip()
        if len(s) >= 2 and s[:2].isdigit():
            out[k] = int(s[:2])
    return out


def patch_table(
    lab: np.ndarray,
    n: int,
    channels: np.ndarray,
    pixel_area_m2: float,
    landuse: np.ndarray | None = None,
) -> np.ndarray:
    """``(n, len(PATCH_FEATURES))`` float64 features of the patches 1..n of *lab*.

    *channels* is ``(len(CHANNELS), h, w)``; *landuse* an optional int raster of land-use
    classes before (-1 unknown). Features are computed by name: a new feature is an entry of
    :data:`PATCH_FEATURES` and its line below; a new channel an entry of :data:`CHANNELS`.
    """
    out = np.full((n, len(PATCH_FEATURES)), np.nan)
    if n == 0:
        return out
    ch = dict(zip(CHANNELS, channels, strict=True))
    prob = ch["probability"]
    pixels = np.bincount(lab.ravel(), minlength=n + 1)[1:].astype(np.float64)
    objs = ndimage.find_objects(lab, max_label=n)
    bbox = np.array(
        [(s[0].stop - s[0].start) * (s[1].stop - s[1].start) if s else 1 for s in objs], float
    )
    inside, around = _means(lab, n), _means(ring_labels(lab), n)
    f: dict[str, np.ndarray] = {}
    f["log_area_m2"] = np.log10(pixels * pixel_area_m2)
    f["compactness"] = 4 * np.pi * pixels / np.maximum(_perimeter(lab, n), 1.0) ** 2
    f["fill"] = pixels / bbox
    f["prob_mean"] = inside(prob)
    pmax = np.full(n + 1, -np.inf)
    ok = (lab > 0) & np.isfinite(prob)
    np.maximum.at(pmax, lab[ok], prob[ok])
    f["prob_max"] = np.where(np.isinf(pmax[1:]), np.nan, pmax[1:])
    f["prob_high"] = inside((prob >= 0.8).astype(np.float32))
    f["cva_in"] = inside(ch["cva"])
    f["cva_ring"] = around(ch["cva"])
    f["cva_contrast"] = f["cva_in"] - f["cva_ring"]
    f["pantex_2_in"] = inside(ch["pantex_2"])
    f["pantex_2_ring"] = around(ch["pantex_2"])
    f["pantex_change_in"] = inside(ch["pantex_change"])
    f["brightness_change_in"] = inside(ch["brightness_change"])
    if landuse is not None:
        f["landuse_before"] = _majority(lab, n, landuse)
    for k, name in enumerate(PATCH_FEATURES):
        if name in f:
            out[:, k] = f[name]
    return out


def _majority(lab: np.ndarray, n: int, landuse: np.ndarray) -> np.ndarray:
    """Most frequent land-use class per patch (NaN when unknown)."""
    sel = lab > 0
    codes = landuse[sel].astype(np.int64) + 1  # -1 (unknown) -> 0
    pairs = np.bincount(
        lab[sel].astype(np.int64) * 128 + np.clip(codes, 0, 127), minlength=(n + 1) * 128
    )
    best = pairs.reshape(n + 1, 128).argmax(axis=1) - 1
    return np.where(best[1:] >= 0, best[1:], np.nan)


def patch_targets(lab: np.ndarray, n: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per patch: True when >= :data:`REAL_SHARE` of its labelled pixels are change, and whether
    at least half of it is labelled at all (*labels*: 1 change, 0 unchanged, -1 ignore)."""
    pos, known, pixels = patch_pixels(lab, n, labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        real = pos / known >= REAL_SHARE
    return real, known >= 0.5 * pixels
