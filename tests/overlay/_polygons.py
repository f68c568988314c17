"""Polygon layers and rasters for the overlay tests (random, Voronoi parcels with holes, ties)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import rasterio
import shapely
import xarray as xr
from affine import Affine

from onemap import Frame

CRS = 4527  # CGCS2000 3-degree Gauss-Kruger zone 39 (prefixed eastings)
X0, Y0 = 39_500_000.0, 3_300_000.0


def star(rng: np.random.Generator, centre, scale: float) -> shapely.Geometry:
    """A random star-shaped polygon (valid), sometimes with a hole."""
    n = int(rng.integers(3, 14))
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = rng.uniform(0.1, 1.0, n) * scale
    poly = shapely.make_valid(shapely.Polygon(np.c_[centre[0] + rad * np.cos(ang), centre[1] + rad * np.sin(ang)]))
    if rng.random() < 0.3:
        poly = poly.difference(shapely.Point(centre).buffer(0.15 * scale))
    return poly


def random_layer(rng, frame: Frame, n: int, snap: float | None = None, margin: float = 0.15) -> gpd.GeoDataFrame:
    """n random polygons over (and partly beyond) the frame; optionally snapped to a lattice."""
    left, bottom, right, top = frame.bounds
    w, h = right - left, top - bottom
    geoms = []
    while len(geoms) < n:
        c = (rng.uniform(left - margin * w, right + margin * w), rng.uniform(bottom - margin * h, top + margin * h))
        g = star(rng, c, rng.uniform(0.2, 0.25 * min(w, h)))
        if snap:
            g = shapely.make_valid(shapely.set_precision(g, snap))
        parts = [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and p.area > 0]
        if parts:
            geoms.append(shapely.MultiPolygon(parts) if len(parts) > 1 else parts[0])
    return gpd.GeoDataFrame({"value": rng.integers(1, 9, n)}, geometry=geoms, crs=frame.crs)


def voronoi_parcels(rng, frame: Frame, n: int, hole_every: int = 4) -> gpd.GeoDataFrame:
    """Voronoi parcels clipped to a slightly larger box than the frame, every k-th with a hole."""
    left, bottom, right, top = frame.bounds
    pad = 0.05 * (right - left)
    box = shapely.box(left - pad, bottom - pad, right + pad, top + pad)
    pts = np.c_[rng.uniform(box.bounds[0], box.bounds[2], n), rng.uniform(box.bounds[1], box.bounds[3], n)]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=box))
    cells = shapely.intersection(cells, box)
    out = []
    for i, c in enumerate(cells):
        if i % hole_every == 0:
            r = 0.3 * np.sqrt(c.area / np.pi)
            c = c.difference(c.centroid.buffer(r, quad_segs=4))
        out.append(c)
    return gpd.GeoDataFrame({"parcel": [f"P{i:04d}" for i in range(len(out))]}, geometry=out,
                            crs=frame.crs).set_index("parcel")


def frame_at(shape=(40, 50), res=2.0, x0=X0, y0=Y0, crs=CRS) -> Frame:
    return Frame(crs, Affine(res, 0.0, x0, 0.0, -res, y0), shape)


def values_da(frame: Frame, data: np.ndarray, nodata=None) -> xr.DataArray:
    da = xr.DataArray(data, dims=("y", "x"), coords=frame.coords())
    da = da.rio.write_crs(frame.crs).rio.write_transform(frame.transform)
    if nodata is not None:
        da = da.rio.write_nodata(nodata)
    return da


def write_tif(path, frame: Frame, data: np.ndarray, nodata=None) -> str:
    with rasterio.open(path, "w", driver="GTiff", height=frame.height, width=frame.width, count=1,
                       dtype=data.dtype, crs=frame.crs, transform=frame.transform, nodata=nodata) as dst:
        dst.write(data, 1)
    return str(path)


def to_local(geom, frame: Frame):
    """Shift a geometry so the frame's top-left corner is the origin (exact for lattice frames)."""
    t = frame.transform
    return shapely.transform(geom, lambda xy: xy - np.array([t.c, t.f]))


def pixel_boxes_local(frame: Frame, rows, cols):
    """Pixel squares in the local coordinates of :func:`to_local`."""
    a, e = frame.transform.a, frame.transform.e
    rows, cols = np.asarray(rows), np.asarray(cols)
    return shapely.box(cols * a, (rows + 1) * e, (cols + 1) * a, rows * e)
