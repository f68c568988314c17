"""Overlay kernels: polygon layers on the frame's grid, and exact polygon overlay.

Exports (also at ``onemap.<name>``): :func:`~onemap.overlay.rasterize.rasterize`,
:func:`~onemap.overlay.rasterize.coverage_fractions`, :func:`~onemap.overlay.zonal.zonal_stats`,
:func:`~onemap.overlay.zonal.area_by_class`, :func:`~onemap.overlay.vector.overlay_area`,
:func:`~onemap.overlay.vector.ellipsoidal_area`.

Layers: ``geometry`` (shapely 2 → flat coordinate/offset arrays, repairs, CRS checks) → ``runs``
(a layer prepared on a frame, pixel runs per window under a rule: the entry point for tiled and
dask execution) → numba kernels in ``_fill_kernels`` (GDAL-identical scanline fill),
``_fraction_kernels`` (exact coverage fractions), ``_paint_kernels``, ``_zonal_kernels``
(accumulation, cross-tabulation), ``_area_kernels`` (exact polygon-pair areas) and
``_geometry_kernels``.
"""

from __future__ import annotations

# eager imports: a function shares its module's name (label, rasterize), so a lazy
# __getattr__ would hand back the module once anything had imported it
from .rasterize import CoverageFractions, coverage_fractions, rasterize
from .vector import ellipsoidal_area, overlay_area
from .zonal import DEFAULT_STATS, STATS, area_by_class, zonal_stats

__all__ = [
    "CoverageFractions", "DEFAULT_STATS", "STATS", "area_by_class", "coverage_fractions",
    "ellipsoidal_area", "overlay_area", "rasterize", "zonal_stats",
]
