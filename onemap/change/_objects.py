"""Object-level scores of candidate patches against labelled truth: the campaign's view.

The campaign judges leads, not pixels: a field team visits each flagged patch. Two figures:

* **lead precision** -- the share of kept patches that are real, a patch being real when at
  least :data:`LEAD_SHARE` (30 %) of its labelled pixels lie on true change (the rule the
  campaign's accuracy is reported with);
* **site recall** -- the share of true change sites (8-connected components of the changed
  pixels) that at least one kept patch touches.

Their harmonic mean (object F1) is what the trained detector's thresholds are chosen by, on the
training data's own out-of-fold validation (:mod:`onemap.change.train`): many small leads that
pixel F1 barely notices dominate a field team's workload. Patches with less than half of their
pixels labelled (e.g. in ignore areas) are not counted as leads either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

LEAD_SHARE = 0.3  # a lead is real when >= 30 % of it lies on a true site (the campaign's rule)


@dataclass
class PatchObjects:
    """Per candidate patch of one pair (index 0 = patch 1) and its overlaps with true sites."""

    real: np.ndarray  # bool: >= LEAD_SHARE of its labelled pixels on change
    counted: np.ndarray  # bool: at least half of it labelled (a lead that can be judged)
    pos_px: np.ndarray  # labelled changed pixels in the patch
    known_px: np.ndarray  # labelled pixels in the patch
    link_patch: np.ndarray  # patch index (0-based) of each (patch, site) overlap
    link_site: np.ndarray  # site index (0-based) of each overlap
    sites: int  # true sites of the pair
    changed_px: int  # labelled changed pixels of the pair


def patch_pixels(cand: np.ndarray, n: int, labels: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per patch ``1..n`` of *cand*: its changed, labelled and all pixels (float64 counts),
    summed over the patches' pixels only (a few % of the grid)."""
    inside = np.flatnonzero(cand)
    ids, lab = cand.ravel()[inside], labels.ravel()[inside]
    return (np.bincount(ids, weights=lab == 1, minlength=n + 1)[1:],
            np.bincount(ids, weights=lab >= 0, minlength=n + 1)[1:],
            np.bincount(ids, minlength=n + 1)[1:])


def patch_objects(cand: np.ndarray, n: int, labels: np.ndarray) -> PatchObjects:
    """Object bookkeeping of the candidate patches ``1..n`` of *cand* against *labels*
    (int8 on the same grid: 1 change, 0 unchanged, -1 ignored)."""
    pos, known, pixels = patch_pixels(cand, n, labels)
    with np.errstate(invalid="ignore", divide="ignore"):
        real = np.where(known > 0, pos / np.maximum(known, 1) >= LEAD_SHARE, False)
    sites, nsites = ndimage.label(labels == 1, structure=np.ones((3, 3), bool))
    both = (cand > 0) & (sites > 0)
    key = np.unique(cand[both].astype(np.int64) * (nsites + 1) + sites[both])
    return PatchObjects(
        real=real.astype(bool),
        counted=known >= 0.5 * pixels,
        pos_px=pos,
        known_px=known,
        link_patch=(key // (nsites + 1) - 1).astype(np.int64),
        link_site=(key % (nsites + 1) - 1).astype(np.int64),
        sites=int(nsites),
        changed_px=int((labels == 1).sum()),
    )


def object_counts(obj: PatchObjects, keep: np.ndarray) -> np.ndarray:
    """``[kept leads, real kept leads, sites, sites found, tp px, kept labelled px, changed px]``
    when the patches with ``keep`` True are kept."""
    leads = keep & obj.counted
    found = np.unique(obj.link_site[keep[obj.link_patch]]).size
    tp = float(obj.pos_px[keep].sum())
    return np.array(
        [
            leads.sum(),
            (leads & obj.real).sum(),
            obj.sites,
            found,
            tp,
            float(obj.known_px[keep].sum()),
            obj.changed_px,
        ],
        np.float64,
    )


def scores(counts: np.ndarray) -> dict[str, float]:
    """Lead precision, site recall, object F1 and pixel precision / recall / F1 of summed
    :func:`object_counts`."""
    leads, real, sites, found, tp, kept_px, changed = counts
    p = real / leads if leads else 0.0
    r = found / sites if sites else 0.0
    pp = tp / kept_px if kept_px else 0.0
    pr = tp / changed if changed else 0.0
    return {
        "lead_precision": p,
        "site_recall": r,
        "object_f1": 2 * p * r / (p + r) if p + r else 0.0,
        "pixel_precision": pp,
        "pixel_recall": pr,
        "pixel_f1": 2 * pp * pr / (pp + pr) if pp + pr else 0.0,
    }
