"""A realistic, reproducible synthetic county with ground truth: the sample of ``make demo``.

:func:`make_county` writes, in the files a land bureau has, a county in a CGCS2000 3° Gauss-Kruger
zone: two dates of 4-band GF-2-like imagery, the 三调 land-use layer (DLTB), cadastral parcels
(宗地),
construction-land approvals (GPKG and land-boundary TXT), land supply, permanent basic farmland,
the ecological red line and townships (a GBK shapefile), plus the truth table of every change
planted between the dates and of the distractors that cause false alarms.

Layout of the output folder::

    imagery/GF2_PMS_<date>_L2_4band.tif   before / after (uint16 reflectance ×10 000, nodata 0)
    landuse/DLTB.gpkg                      layer DLTB
    cadastral/ZD.gpkg                      layer ZD
    approvals/JSYDSP.gpkg, approvals/txt/  approvals, one TXT per batch (批次)
    supply/GDXX.gpkg  farmland/YJJBNT.gpkg  redline/STBHHX.gpkg  admin/XZQ.shp (GBK)
    truth/truth.gpkg, truth/truth.csv, county.json

Generation streams the rasters tile by tile (see :mod:`onemap.synth.render` for the memory
bound), so a 20 000² county (40 km × 40 km at 2 m) fits in a few hundred MB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd

from ..errors import DataError
from ..frame import Frame
from .plant import CASES, VERDICTS

__all__ = ["make_county", "open_county", "County", "CASES", "VERDICTS"]


@dataclass
class County:
    """What :func:`make_county` wrote: file paths, the truth table, the frame and the parameters."""

    paths: dict[str, Path]
    truth: gpd.GeoDataFrame
    frame: Frame
    meta: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        n = self.truth["case"].value_counts().to_dict() if len(self.truth) else {}
        root = self.paths.get("root")
        return f"County({self.frame!r}, {len(self.truth)} truth objects {n}, root={root})"


def make_county(
    path: str | PathLike,
    size: int | tuple[int, int] = 1024,
    *,
    res: float = 2.0,
    seed: int = 0,
    zone: int = 39,
    clouds: bool = True,
    misregistration_px: float = 0.3,
    n_changes: int | None = None,
    scheme: str = "sandiao",
    tile: int = 1024,
    compress: str = "deflate",
) -> County:
    """Write a synthetic sample county with planted changes and return its paths and truth.

    Parameters
    ----------
    path
        Output folder (created; files in it are replaced atomically).
    size
        Side in pixels (or ``(height, width)``); the county is ``size × res`` metres wide.
    res
        Pixel size in metres.
    seed
        Random seed: the same seed gives byte-identical files.
    zone
        CGCS2000 3° Gauss-Kruger zone (zone-prefixed eastings), e.g. 39 (117°E) or 40 (120°E).
    clouds
        Put clouds and their shadows on the second date (recorded as distractors).
    misregistration_px
        Sub-pixel shift of the second date (pixels, random direction).
    n_changes
        Objects per planted case; default 0.5 per km² and at least 4.
    scheme
        ``"sandiao"`` (三调 codes 05-10 for construction land) or ``"erdiao"`` (town and village
        land written as 20x, as in older layers).
    tile
        Rendering tile size in pixels (memory bound, not the result: output is tiling-independent).
    compress
        GeoTIFF compression (``"deflate"``, ``"zstd"``, ``"lzw"`` or ``"none"``).

    Returns
    -------
    County
        ``paths`` (keys before, after, landuse, cadastral, approvals_gpkg, approvals_txt_dir,
        supply, farmland, redline, admin, truth, truth_csv, meta, root), ``truth`` (one row per
        planted object), ``frame`` and ``meta``.

    Notes
    -----
    Truth columns: ``case`` (see :data:`CASES`), ``expected_verdict`` (approved, unapproved,
    partly_approved, existing_construction, or none for distractors and unbuilt approvals),
    ``change_kind`` (building, road, bare_soil, crop, water_to_mud, cloud, shadow, none), ``roof``
    (white, grey_concrete, blue_steel, red_brick, concrete, asphalt), ``before_material``,
    ``prior_code``/``prior_name``/``prior_group`` (DLTB land use under the object), ``dltb_bsm``,
    ``approval_id``, ``supply_id``, ``in_farmland``, ``in_redline``, ``outside_fraction`` (share of
    the footprint outside every approval), ``truth_unapproved_m2``, ``area_m2`` (plane) and the
    geometry: the roof footprint of buildings (their cast shadows are not part of it), the road,
    the whole field or pond of a distractor, the approval of an unbuilt approval, the cloud, or
    the shadow outside its cloud. ``TBMJ`` in the DLTB layer is the ellipsoidal area; approval,
    supply and 宗地 areas are plane areas. The misregistration, illumination and no-data corner of
    each date are in ``meta["dates"]`` and ``county.json``.

    Examples
    --------
    >>> import tempfile
    >>> c = make_county(tempfile.mkdtemp(), size=512, seed=1, n_changes=1)
    >>> c.frame.shape, c.frame.crs.to_epsg(), c.paths["admin"].name
    ((512, 512), 4527, 'XZQ.shp')
    >>> set(c.truth["case"]) == set(CASES)
    True
    >>> sorted(set(c.truth["expected_verdict"]))
    ['approved', 'existing_construction', 'none', 'partly_approved', 'unapproved']
    """
    from .build import build_county

    if scheme not in ("sandiao", "erdiao"):
        raise DataError(f"unknown land-use scheme {scheme!r}", hint="use 'sandiao' or 'erdiao'")
    if not (0 <= misregistration_px < 5 and math.isfinite(misregistration_px)):
        raise DataError(
            f"misregistration_px={misregistration_px} out of range", hint="use 0 to a few pixels"
        )
    if n_changes is not None and n_changes < 0:
        raise DataError(f"n_changes must be >= 0, got {n_changes}")
    return build_county(
        Path(path),
        size,
        res,
        int(seed),
        int(zone),
        bool(clouds),
        float(misregistration_px),
        n_changes,
        scheme,
        int(tile),
        compress,
        County,
    )


def open_county(path: str | PathLike) -> County:
    """Open a county that :func:`make_county` wrote earlier (no regeneration).

    Examples
    --------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> c = make_county(root, size=256, seed=2, n_changes=1)
    >>> again = open_county(root)
    >>> (again.frame == c.frame, len(again.truth) == len(c.truth),
    ...  again.paths["before"] == c.paths["before"])
    (True, True, True)
    """
    from .build import open_built_county

    return open_built_county(Path(path), County)
