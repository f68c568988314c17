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
(:data:`REAL_SHARE`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

RING = 3
REAL_SHARE = 0.5
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


def candidates(prob: np.ndarray, threshold: float, connectivity: int = 8) -> tuple[np.ndarray, int]:
    """Connected components (raster order of first pixel, 1..n) of ``prob >= threshold``."""
    structure = np.ones((3, 3), bool) if connectivity == 8 else None
    lab, n = ndimage.label(np.nan_to_num(prob, nan=0.0) >= threshold, structure=structure)
    return lab.astype(np.int32), int(n)


def _mean(lab: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    ok = (lab > 0) & np.isfinite(values)
    s = np.bincount(lab[ok], weights=values[ok].astype(np.float64), minlength=n + 1)
    c = np.bincount(lab[ok], minlength=n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (s / c)[1:]


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
    """Background pixels within *width* pixels of a patch, labelled with the nearest patch."""
    if not lab.any():
        return np.zeros_like(lab)
    dist, (ii, jj) = ndimage.distance_transform_edt(lab == 0, return_indices=True)
    ring = lab[ii, jj]
    ring[(dist > width) | (lab > 0)] = 0
    return ring


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
    classes before (-1 unknown).
    """
    out = np.full((n, len(PATCH_FEATURES)), np.nan)
    if n == 0:
        return out
    prob, cva, pt2, ptc, bc = channels
    pixels = np.bincount(lab.ravel(), minlength=n + 1)[1:].astype(np.float64)
    objs = ndimage.find_objects(lab, max_label=n)
    bbox = np.array(
        [(s[0].stop - s[0].start) * (s[1].stop - s[1].start) if s else 1 for s in objs], float
    )
    ring = ring_labels(lab)
    out[:, 0] = np.log10(pixels * pixel_area_m2)
    out[:, 1] = 4 * np.pi * pixels / np.maximum(_perimeter(lab, n), 1.0) ** 2
    out[:, 2] = pixels / bbox
    out[:, 3] = _mean(lab, prob, n)
    pmax = np.full(n + 1, -np.inf)
    ok = (lab > 0) & np.isfinite(prob)
    np.maximum.at(pmax, lab[ok], prob[ok])
    out[:, 4] = np.where(np.isinf(pmax[1:]), np.nan, pmax[1:])
    out[:, 5] = _mean(lab, (prob >= 0.8).astype(np.float32), n)
    out[:, 6] = _mean(lab, cva, n)
    out[:, 7] = _mean(ring, cva, n)
    out[:, 8] = out[:, 6] - out[:, 7]
    out[:, 9] = _mean(lab, pt2, n)
    out[:, 10] = _mean(ring, pt2, n)
    out[:, 11] = _mean(lab, ptc, n)
    out[:, 12] = _mean(lab, bc, n)
    if landuse is not None:
        sel = lab > 0
        best = np.full(n + 1, -1, np.int64)
        codes = landuse[sel].astype(np.int64) + 1  # -1 (unknown) -> 0
        pairs = np.bincount(
            lab[sel].astype(np.int64) * 128 + np.clip(codes, 0, 127), minlength=(n + 1) * 128
        )
        counts = pairs.reshape(n + 1, 128)
        best = counts.argmax(axis=1) - 1
        out[:, 13] = np.where(best[1:] >= 0, best[1:], np.nan)
    return out


def patch_targets(lab: np.ndarray, n: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per patch: True when >= :data:`REAL_SHARE` of its labelled pixels are change, and whether
    at least half of it is labelled at all (*labels*: 1 change, 0 unchanged, -1 ignore)."""
    pos = np.bincount(lab.ravel(), weights=(labels == 1).ravel(), minlength=n + 1)[1:]
    known = np.bincount(lab.ravel(), weights=(labels >= 0).ravel(), minlength=n + 1)[1:]
    pixels = np.bincount(lab.ravel(), minlength=n + 1)[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        real = pos / known >= REAL_SHARE
    return real, known >= 0.5 * pixels
