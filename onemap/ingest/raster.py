"""Imagery scenes: open, put on a frame, stack dates.

A *scene* is an :class:`xarray.DataArray` with dims ``("band", "y", "x")``:

* ``band`` holds canonical lower-case band names (``blue green red nir swir1 ...``, see
  :mod:`onemap.ingest.sensors`); bands no preset names are ``b1, b2, ...`` (1-based position);
* ``x`` / ``y`` are pixel-centre coordinates; CRS and transform are written with rioxarray, so
  ``Frame.from_xarray(scene)`` and the ``.rio`` accessor work;
* ``attrs``: ``sensor`` (preset name or None), ``date`` (ISO acquisition date or None),
  ``date_source`` (where the date came from) and ``date_guessed`` (True when it follows no known
  convention: see :mod:`onemap.ingest.dates`), ``nodata`` (the source nodata value or None),
  ``source`` (the path, or the list of paths);
* the data is a dask array read block by block with rasterio (nothing is read at open time),
  chunked along y/x on multiples of the file's internal blocks, one chunk for all bands.

``masked=True`` (default) gives float32 with NaN where the source is nodata or masked (GDAL mask
or alpha band) and outside the source; ``masked=False`` keeps the file's dtype (e.g. uint16) and
fills outside the source with ``attrs["nodata"]`` (0 when the source declares none).

Resampling is never written by hand: reads that are not on the source's pixel lattice go through
GDAL's warper (:class:`rasterio.vrt.WarpedVRT` for files, :func:`rasterio.warp.reproject` block by
block for arrays).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from ..crs import as_crs
from ..errors import DataError, FrameError, Repair, report_repairs
from ..frame import Frame
from ._raster_files import FileInfo, date_of, inspect_file, name_bands, select_bands
from ._warp import slice_pad, warp_array
from .provenance import ENCODING_KEY, SceneSource, SourceBlocks, scene_source
from .sensors import guess_sensor, sensor_preset

__all__ = ["open_scene", "align", "stack"]

_RESAMPLING = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode",
               "max", "min", "med", "q1", "q3", "sum", "rms")


def _scene_from_recipe(recipe: SceneSource, names: Sequence[str], attrs: dict,
                       chunks: Any) -> xr.DataArray:
    import dask.array as dsa
    from dask.base import tokenize

    chunks = _chunks(recipe, chunks)
    name = "onemap-scene-" + tokenize(
        recipe.token(), chunks
    )  # same files, other chunks: other keys
    meta = np.empty((0, 0, 0), dtype=recipe.dtype)
    data = dsa.from_array(SourceBlocks(recipe), chunks=chunks, name=name, lock=False, meta=meta,
                          asarray=False, fancy=False)
    scene = _wrap(data, recipe.frame, names, attrs)
    # the scene carries its provenance (valid while its pixels are these reads): see scene_source
    scene.encoding[ENCODING_KEY] = replace(recipe, array_name=name)
    return scene


def _wrap(data: Any, frame: Frame, names: Sequence[str], attrs: dict) -> xr.DataArray:
    da = xr.DataArray(
        data,
        dims=("band", "y", "x"),
        coords={"band": np.asarray([str(n) for n in names], dtype=object), **frame.coords()},
        attrs=dict(attrs),
        name=None,
    )
    da.name = None  # not the dask token
    return da.rio.write_crs(frame.crs).rio.write_transform(frame.transform)


def _chunks(recipe: SceneSource, chunks: Any) -> tuple:
    """Dask chunks: ``"auto"`` = multiples of the file's blocks (or the warper's), all bands in one.

    Chunk edges fall on the file's chunk-grid edges even when the frame starts inside a block, so
    a frame cut out of a scene reads the same blocks per chunk."""
    from dask.array.core import normalize_chunks

    nb, (h, w) = recipe.nbands, recipe.frame.shape
    block, offset = (128, 512), (0, 0)  # GDAL's WarpedVRT block, anchored at the frame
    for part in recipe.parts:
        if part.frame.aligned_with(recipe.frame):
            block = part.block
            offset = (
                round((part.frame.transform.f - recipe.frame.transform.f) / part.frame.res[1]),
                round((recipe.frame.transform.c - part.frame.transform.c) / part.frame.res[0]),
            )
            break
    size: tuple[int, ...]
    if chunks is None or chunks is True or (isinstance(chunks, str) and chunks == "auto"):
        _, cy, cx = normalize_chunks((nb, "auto", "auto"), (nb, h, w), dtype=np.dtype(recipe.dtype),
                                     previous_chunks=(nb, *block))
        size = (cy[0], cx[0])
    else:
        try:
            pair = (chunks.get("y", -1), chunks.get("x", -1)) if isinstance(chunks, Mapping) else (
                (chunks, chunks) if np.isscalar(chunks) else tuple(chunks))
            size = (int(pair[0]), int(pair[1])) if len(pair) == 2 else ()
        except (TypeError, ValueError):
            size = ()
        if len(size) != 2:
            raise DataError(f"chunks={chunks!r} is not understood", path=recipe.parts[0].path,
                            hint="pass 'auto', an int, (rows, cols) or {'y': rows, 'x': cols}")
    rows, cols = (n if s is None or s <= 0 else int(s) for s, n in zip(size, (h, w), strict=True))
    return ((nb,), _on_edges(h, rows, offset[0]), _on_edges(w, cols, offset[1]))


def _on_edges(n: int, size: int, offset: int) -> tuple[int, ...]:
    """Chunk lengths covering ``n`` pixels that start ``offset`` pixels into a grid of ``size``."""
    first = size - offset % size
    sizes = [min(first, n)]
    while sum(sizes) < n:
        sizes.append(min(size, n - sum(sizes)))
    return tuple(sizes)


# ------------------------------------------------------------------------------------------- open


def open_scene(
    path_or_paths: str | PathLike | Sequence[str | PathLike],
    bands: Sequence[str | int] | Mapping[int | str, str] | None = None,
    *,
    sensor: str | None = None,
    chunks: Any = "auto",
    date: Any = None,
    masked: bool = True,
    crs: Any = None,
    resampling: str = "bilinear",
) -> xr.DataArray:
    """Open one multi-band raster, or a list of band files, as a lazy scene.

    Parameters
    ----------
    path_or_paths
        One raster (GeoTIFF, ENVI, anything GDAL reads), or a list of files whose bands are
        concatenated in the order given (e.g. Sentinel-2 per-band GeoTIFFs). For ENVI pass the
        data file (GDAL finds ``name.hdr``/``name.HDR`` or ``name.ext`` -> ``name.hdr`` beside it);
        passing the ``.hdr`` itself also works.
    bands
        Bands to load: canonical names (``"nir"``), sensor suffixes (``"B08"``) or 1-based band
        positions; or a mapping ``{position or default name: name}`` that selects and names bands
        of a sensor without preset. Default: all bands.
    sensor
        Preset name (see :mod:`onemap.ingest.sensors`); default: recognised from file names or
        sensor tags, else None (bands named ``b1, b2, ...``, or ``red green blue`` when the file
        says so in its colour interpretation).
    chunks
        ``"auto"`` (multiples of the file's internal blocks, all bands in one chunk), an int,
        ``(rows, cols)`` or ``{"y": rows, "x": cols}``.
    date
        Acquisition date (``"2016-11-30"``, ``"20161130"``, a date or datetime); default: read
        from a ``dates.txt`` sidecar, the product's naming convention (Sentinel-2 sensing time,
        Landsat acquisition date, GF scene date), acquisition tags, else guessed from a bare
        date in the name (``attrs["date_guessed"]``), else None; see :mod:`onemap.ingest.dates`.
    masked
        True: float32 with NaN at nodata/masked pixels. False: the file's dtype, ``attrs["nodata"]``
        (the first file's when band files declare different nodata values).
    crs
        CRS of the files when they carry none (or to override theirs, with a warning). It does not
        reproject; use :func:`align` for that.
    resampling
        How bands coarser than the finest band are put on its grid (default ``"bilinear"``; use
        ``"nearest"`` to keep the original values). Bands are combined on the grid of the first
        band with the finest resolution, e.g. the 10 m grid of Sentinel-2.

    Raises
    ------
    FormatError
        A file is missing, truncated or unreadable.
    CRSError
        A file has no CRS (or no georeferencing) and ``crs=`` is not given.
    FrameError
        Files in different CRSs, or on grids of one resolution that differ, or not overlapping.
    DataError
        A requested band is missing, or band names clash.

    Examples
    --------
    >>> import numpy as np, rasterio, tempfile, os
    >>> from affine import Affine
    >>> path = os.path.join(tempfile.mkdtemp(), "GF2_PMS1_20200105.tif")
    >>> with rasterio.open(path, "w", driver="GTiff", width=64, height=32, count=4, dtype="uint16",
    ...                    crs="EPSG:4527", transform=Affine(2, 0, 39_500_000, 0, -2, 3_300_000),
    ...                    nodata=0) as dst:
    ...     dst.write(np.arange(4 * 32 * 64, dtype="uint16").reshape(4, 32, 64) + 1)
    >>> scene = open_scene(path)
    >>> scene.dims, list(scene.band.values), scene.attrs["sensor"], scene.attrs["date"], scene.dtype
    (('band', 'y', 'x'), ['blue', 'green', 'red', 'nir'], 'gf2', '2020-01-05', dtype('float32'))
    >>> float(scene.sel(band="nir")[0, 0])
    6145.0
    """
    paths = _as_paths(path_or_paths)
    resampling = _check_resampling(resampling)
    crs_override = None if crs is None else as_crs(crs)
    infos = [inspect_file(p, crs_override) for p in paths]
    preset = sensor_preset(sensor) if sensor is not None else None
    if preset is None:
        guessed = guess_sensor(*[Path(i.path).name for i in infos], *[i.sensor_tag for i in infos])
        preset = sensor_preset(guessed) if guessed else None
    names, sensor_name = name_bands(infos, preset)
    chosen = select_bands(infos, names, bands, preset)  # [(file index, band index, name)]
    groups: list[tuple[int, list[int]]] = []  # consecutive bands of one file are read together
    for pi, bi, _ in chosen:
        if groups and groups[-1][0] == pi:
            groups[-1][1].append(bi)
        else:
            groups.append((pi, [bi]))
    parts = tuple(infos[pi] for pi, _ in groups)
    indexes = tuple(tuple(idx) for _, idx in groups)
    frame = _reference_frame(parts)
    nodatas = {p.nodata for p in parts}
    nodata = nodatas.pop() if len(nodatas) == 1 else parts[0].nodata
    dtype = "float32" if masked else str(np.result_type(*[p.dtype for p in parts]))
    fill = None if masked else (0 if nodata is None else nodata)
    recipe = SceneSource(parts, indexes, frame, bool(masked), dtype, fill, resampling)
    sources = list(dict.fromkeys(p.path for p in parts))
    if not masked and nodata is None and any(p.frame != frame for p in parts):
        nodata = fill  # warped bands are filled outside their source: say with what
    attrs = {
        "sensor": sensor_name,
        **_date_attrs(date, sources[0], parts),
        "nodata": nodata,
        "source": sources[0] if len(paths) == 1 else sources,
    }
    return _scene_from_recipe(recipe, [c[2] for c in chosen], attrs, chunks)


def _as_paths(path_or_paths: Any) -> list[str]:
    if isinstance(path_or_paths, (str, PathLike)):
        items = [path_or_paths]
    else:
        items = list(path_or_paths)
    if not items:
        raise DataError("no raster files given", hint="pass a path or a non-empty list of paths")
    out = []
    for p in items:
        p = os.fspath(p)
        # an ENVI header given instead of its data file
        if p.lower().endswith(".hdr"):
            stem = p[:-4]
            if os.path.exists(stem):
                p = stem
        out.append(p)
    return out


def _check_resampling(resampling: Any) -> str:
    name = getattr(resampling, "name", resampling)
    if name not in _RESAMPLING:
        raise DataError(
            f"unknown resampling {resampling!r}", hint=f"use one of {', '.join(_RESAMPLING)}"
        )
    return str(name)


def _reference_frame(parts: Sequence[FileInfo]) -> Frame:
    """Grid of the first part with the finest resolution; check that the others can join it."""
    finest = min(p.frame.pixel_area for p in parts)
    ref = next(p for p in parts if math.isclose(p.frame.pixel_area, finest, rel_tol=1e-6))
    rf = ref.frame
    for p in parts:
        f = p.frame
        if f.crs != rf.crs:
            raise FrameError(
                f"bands are in different CRSs: {p.path} vs {ref.path}",
                path=p.path,
                hint="open each file separately and onemap.align them to one frame",
            )
        if math.isclose(f.pixel_area, rf.pixel_area, rel_tol=1e-6):
            if f != rf:
                raise FrameError(
                    f"band grid {f} differs from {rf} of {ref.path} at the same resolution",
                    path=p.path,
                    hint="open the files separately and onemap.align them to one frame",
                )
            continue
        # a coarser band must cover the fine grid up to one of its own pixels
        left, bottom, right, top = f.bounds
        ref_left, ref_bottom, ref_right, ref_top = rf.bounds
        tol_x, tol_y = f.res
        if (left > ref_left + tol_x or bottom > ref_bottom + tol_y
                or right < ref_right - tol_x or top < ref_top - tol_y):
            raise FrameError(
                f"band extent {f.bounds} does not cover {rf.bounds} of {ref.path}",
                path=p.path,
                hint="open the files separately and onemap.align them to one frame",
            )
    return rf


def _date_attrs(date: Any, source: str, parts: Any) -> dict[str, Any]:
    """``date``, ``date_source`` and ``date_guessed`` of a scene (:mod:`onemap.ingest.dates`)."""
    if date is not None:
        given = _iso_date(date, source)
        return {"date": given, "date_source": "given (date=)", "date_guessed": False}
    found = date_of(parts)
    return {"date": found.date, "date_source": found.source, "date_guessed": found.guessed}


def _iso_date(value: Any, path: str | None = None) -> str:
    import datetime as dt

    from .sensors import guess_date

    if isinstance(value, (dt.date, dt.datetime)):
        return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
    if isinstance(value, np.datetime64):
        return str(value.astype("datetime64[D]"))
    text = guess_date(str(value))
    if text is None:
        raise DataError(
            f"cannot read a date from date={value!r}", path=path, hint="give date as 'YYYY-MM-DD'"
        )
    return text


# ------------------------------------------------------------------------------------------ align


def align(scene: xr.DataArray, frame: Frame, resampling: str = "bilinear") -> xr.DataArray:
    """Put *scene* on *frame*'s grid, lazily.

    * A scene from :func:`open_scene` that has not been modified is re-read from its files
      through GDAL's warper onto the frame (a :class:`~rasterio.vrt.WarpedVRT` per file, read by
      chunk), so bands resampled at open time are resampled once, not twice.
    * Any other scene already on the frame's pixel lattice (same CRS and resolution,
      :meth:`Frame.aligned_with`) is sliced and padded: no resampling.
    * Otherwise it is warped with :func:`rasterio.warp.reproject`, block by block for a dask
      array (each output chunk from the source window that covers it), at once for a NumPy one.

    Pixels outside the source are NaN (float scenes) or ``attrs["nodata"]`` (integer scenes; 0
    and recorded in ``attrs["nodata"]`` when the scene has none). Other attrs are kept.

    Warps fix GDAL's resampling-kernel scale once per source (``XSCALE``/``YSCALE``) and cut the
    output on a grid anchored at the frame, so values do not depend on dask chunks; they can
    differ from a one-shot ``rasterio.warp.reproject`` by GDAL's approximate-transformer
    tolerance (0.125 pixel) at sharp edges. Align once onto the whole frame, then tile.

    Parameters
    ----------
    scene
        A georeferenced DataArray with ``y`` and ``x`` as its last dims.
    frame
        The target :class:`~onemap.Frame`.
    resampling
        A :class:`rasterio.enums.Resampling` name (``"bilinear"``, ``"nearest"``, ...).

    Returns
    -------
    xarray.DataArray
        The scene on the frame: ``Frame.from_xarray(result) == frame``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> src = Frame.from_bounds((0, 0, 40, 40), res=10, crs=32650)
    >>> scene = xr.DataArray(np.arange(16, dtype="float32").reshape(1, 4, 4),
    ...                      dims=("band", "y", "x"), coords={"band": ["nir"], **src.coords()})
    >>> scene = scene.rio.write_crs(src.crs).rio.write_transform(src.transform)
    >>> out = align(scene, Frame.from_bounds((20, 20, 60, 40), res=10, crs=32650))
    >>> out.values[0]
    array([[ 2.,  3., nan, nan],
           [ 6.,  7., nan, nan]], dtype=float32)
    """
    if not isinstance(frame, Frame):
        raise FrameError(f"align needs an onemap.Frame, got {type(frame).__name__}",
                         hint="build one with Frame.from_bounds / from_raster / from_xarray")
    resampling = _check_resampling(resampling)
    if not scene.dims[-2:] == ("y", "x"):
        raise DataError(f"scene dims {scene.dims} do not end with ('y', 'x')",
                        hint="transpose it: scene.transpose(..., 'y', 'x')")
    src = Frame.from_xarray(scene)
    attrs = dict(scene.attrs)
    recipe = scene_source(scene)
    if recipe is not None and recipe.frame == src and not recipe.window:  # a window: its pixels
        new = replace(recipe, frame=frame, resampling=resampling)
        if not recipe.masked:
            attrs["nodata"] = recipe.fill
        dask_chunks = scene.chunks or ((), (scene.sizes["y"],), (scene.sizes["x"],))
        chunks = ((max(dask_chunks[1]), max(dask_chunks[2])) if src.aligned_with(frame)
                  else "auto")
        return _scene_from_recipe(new, list(scene.band.values), attrs, chunks)
    float_data = np.issubdtype(scene.dtype, np.floating)
    nodata = attrs.get("nodata")
    fill: float = np.nan if float_data else (nodata if nodata is not None else 0)
    if not float_data:
        attrs["nodata"] = fill
    if src.aligned_with(frame):
        out = slice_pad(scene, src, frame, fill)
    else:
        out = warp_array(scene, src, frame, resampling, fill)
    out.attrs = attrs
    return out.rio.write_crs(frame.crs).rio.write_transform(frame.transform)


# ------------------------------------------------------------------------------------------ stack


def stack(scenes: Sequence[xr.DataArray], dim: str = "time") -> xr.DataArray:
    """Stack scenes of several dates on one grid into ``(dim, band, y, x)``.

    The ``dim`` coordinate holds each scene's ``attrs["date"]`` as ``datetime64[ns]``, in the
    order given. Bands are matched by name: only the bands common to all scenes are kept, in the
    first scene's order; the bands dropped are reported as :class:`~onemap.errors.Repair` records
    (a :class:`~onemap.errors.RepairWarning`, and ``attrs["repairs"]`` of the result).

    Raises
    ------
    FrameError
        Scenes on different grids (``align`` them to one frame first).
    DataError
        No scenes, a scene without a date, or no band common to all scenes.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> f = Frame.from_bounds((0, 0, 20, 20), res=10, crs=32650)
    >>> def scene(date, bands):
    ...     da = xr.DataArray(np.ones((len(bands), 2, 2), "float32"), dims=("band", "y", "x"),
    ...                       coords={"band": bands, **f.coords()}, attrs={"date": date})
    ...     return da.rio.write_crs(f.crs).rio.write_transform(f.transform)
    >>> s = stack([scene("2019-05-01", ["red", "nir"]), scene("2020-05-01", ["red", "nir"])])
    >>> s.dims, [str(t)[:10] for t in s.time.values]
    (('time', 'band', 'y', 'x'), ['2019-05-01', '2020-05-01'])
    """
    scenes = list(scenes)
    if not scenes:
        raise DataError("no scenes to stack", hint="pass a list of scenes from onemap.open_scene")
    frames = [Frame.from_xarray(s) for s in scenes]
    names = [_scene_name(i, s) for i, s in enumerate(scenes)]
    for i, f in enumerate(frames[1:], start=1):
        if f != frames[0]:
            what = "CRS" if f.crs != frames[0].crs else "grid"
            raise FrameError(f"{names[i]} is on another {what} than {names[0]}: {f} vs {frames[0]}",
                             feature=i, path=_scene_path(scenes[i]),
                             hint="onemap.align every scene to one frame before stacking")
    dates = []
    for i, s in enumerate(scenes):
        d = s.attrs.get("date")
        if d is None:
            raise DataError(
                f"scene {i} has no date (source {s.attrs.get('source')})",
                feature=i,
                path=_scene_path(s),
                hint="pass date= to open_scene or set scene.attrs['date'] = 'YYYY-MM-DD'",
            )
        dates.append(np.datetime64(_iso_date(d), "ns"))
    bands = [list(map(str, s.band.values)) for s in scenes]
    common = [b for b in bands[0] if all(b in other for other in bands[1:])]
    if not common:
        which = "; ".join(f"{n}: {', '.join(b)}" for n, b in zip(names, bands, strict=True))
        raise DataError(
            f"the scenes share no band: {which}",
            path=_scene_path(scenes[0]),
            hint="open them with the right sensor=, or name the bands with bands={position: name}",
        )
    dropped = sorted({b for row in bands for b in row} - set(common))
    repairs = []
    for i, row in enumerate(bands):  # one Repair per scene that has bands another scene lacks
        extra = [b for b in row if b in dropped]
        if extra:
            repairs.append(
                Repair(
                    str(_scene_path(scenes[i]) or f"scene {i}"),
                    f"scene {i} bands",
                    f"band(s) {', '.join(extra)} missing from other scenes ({len(row)} bands here, "
                    f"{min(len(r) for r in bands)} in the smallest)",
                    f"stack keeps the {len(common)} bands common to all scenes; dropped: "
                    f"{', '.join(extra)}",
                )
            )
    report_repairs(repairs, stacklevel=3)
    scenes = [s.sel(band=common) for s in scenes]
    out = xr.concat(scenes, dim=dim, coords="minimal", compat="override", join="override",
                    combine_attrs="drop")
    out = out.assign_coords({dim: dates})
    first = scenes[0].attrs
    same = {k: first.get(k) for k in ("sensor", "nodata")
            if all(_same(s.attrs.get(k), first.get(k)) for s in scenes)}
    out.attrs = {"sensor": same.get("sensor"), "date": None, "nodata": same.get("nodata"),
                 "source": [s.attrs.get("source") for s in scenes], "repairs": repairs}
    return out.rio.write_crs(frames[0].crs).rio.write_transform(frames[0].transform)


def _scene_path(scene: xr.DataArray) -> str | None:
    src = scene.attrs.get("source")
    return str(src[0] if isinstance(src, (list, tuple)) and src else src) if src else None


def _scene_name(i: int, scene: xr.DataArray) -> str:
    path = _scene_path(scene)
    return f"scene {i}" + (f" ({Path(path).name}, {scene.attrs.get('date')})" if path else "")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b
