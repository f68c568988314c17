"""File-level helpers of :mod:`onemap.ingest.raster`.

Inspect a raster, name its bands, read a block.

Kept apart so that ``raster.py`` holds the public functions only. Nothing here reads pixels except
:func:`read_part`, which dask calls once per chunk.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pyproj import CRS

from ..errors import CRSError, DataError, Fix, FormatError, FrameError, OnemapWarning
from ..frame import Frame
from ._warp import rio_crs, warp_scale
from .dates import SceneDate, scene_date
from .sensors import SensorPreset

__all__ = ["FileInfo", "inspect_file", "name_bands", "select_bands", "date_of", "file_window",
           "read_part"]

_SENSOR_KEYS = ("SENSOR", "SATELLITE", "SPACECRAFT", "PLATFORM", "MISSION")
_DATE_KEYS = ("ACQUISITION", "ACQUIRED", "SENSING", "DATE")


@dataclass(frozen=True)
class FileInfo:
    """What open_scene needs to know about one file (read from its header only)."""

    path: str
    driver: str
    count: int
    dtype: str
    nodata: float | None
    crs: CRS
    crs_assigned: bool  # True when the CRS came from crs=, not from the file
    frame: Frame
    block: tuple[int, int]
    descriptions: tuple[str | None, ...]
    colorinterp: tuple[str, ...]
    tags: tuple[tuple[str, str], ...]
    mtime: float
    mask: str = (
        "nodata"  # "none" (all valid), "nodata" (value compare) or "gdal" (mask band / alpha)
    )

    @property
    def sensor_tag(self) -> str:
        return " ".join(v for k, v in self.tags if any(s in k.upper() for s in _SENSOR_KEYS))


def inspect_file(path: str, crs: CRS | None) -> FileInfo:
    """Open *path*'s header, check it is complete and georeferenced; no pixels are read."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    local = "://" not in path and not path.startswith("/vsi")
    if local and not os.path.exists(path):
        raise FormatError(
            "raster file not found", path=path, hint="check the path (and the working directory)"
        )
    if local and os.path.isfile(path) and os.path.getsize(path) == 0:
        raise FormatError(
            "raster file is empty (0 bytes)",
            path=path,
            hint="copy or download it again (an interrupted transfer leaves empty files)",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                if local:
                    _check_complete(src, path)
                tags = dict(src.tags())
                tags.update(
                    {f"ENVI_{k}": v for k, v in src.tags(ns="ENVI").items()}
                    if src.driver == "ENVI"
                    else {}
                )
                info = dict(
                    driver=src.driver,
                    count=src.count,
                    dtype=src.dtypes[0],
                    nodata=src.nodata,
                    file_crs=src.crs,
                    transform=src.transform,
                    shape=(src.height, src.width),
                    block=tuple(src.block_shapes[0]),
                    descriptions=tuple(src.descriptions),
                    colorinterp=tuple(c.name for c in src.colorinterp),
                    tags=tags,
                    georef=not src.transform.is_identity or bool(src.gcps[0]),
                    mask=_mask_kind(src),
                )
    except RasterioIOError as exc:
        raise FormatError(f"cannot open raster ({exc})", path=path,
                          hint="check that the file is a complete raster GDAL can read") from exc
    if not info["georef"]:
        raise CRSError(
            "raster has no georeferencing (no geotransform)",
            path=path,
            hint=("georeference it first, e.g. gdal_translate -a_ullr ulx uly lrx lry -a_srs "
                  "EPSG:...."),
        )
    file_crs = None if info["file_crs"] is None else CRS.from_user_input(info["file_crs"].to_wkt())
    if crs is None and file_crs is None:
        raise CRSError("raster has no CRS", path=path,
                       hint=Fix("pass crs= (e.g. crs='EPSG:32651') or fix the file with "
                                "gdal_edit.py -a_srs EPSG:....",
                                toml="set crs = 32651 (the files' EPSG code) under [{table}], "
                                     "or fix the file "
                                     "with gdal_edit.py -a_srs EPSG:...."))
    if crs is not None and file_crs is not None and crs != file_crs:
        warnings.warn(f"{path}: crs={crs.name!r} given overrides the file's CRS {file_crs.name!r} "
                      "(no reprojection is done)", OnemapWarning, stacklevel=4)
    try:
        frame = Frame(crs if crs is not None else file_crs,  # type: ignore[arg-type]  # one is set
                      info["transform"], info["shape"])
    except FrameError as exc:
        raise FrameError(exc.message, path=path, hint=exc.hint) from exc
    from ._layer_crs import check_coordinates  # the same CRS plausibility rules as vector layers

    check_coordinates(frame.crs, np.array([frame.bounds], dtype=float), path,
                      "given with crs=" if crs is not None else "declared by the file")
    return FileInfo(
        path,
        info["driver"],
        info["count"],
        info["dtype"],
        info["nodata"],
        frame.crs,
        crs is not None,
        frame,
        info["block"],
        info["descriptions"],
        info["colorinterp"],
        tuple(info["tags"].items()),
        os.path.getmtime(path) if local else 0.0,
        info["mask"],
    )


def _mask_kind(src: Any) -> str:
    from rasterio.enums import MaskFlags

    flags = {f for band in src.mask_flag_enums for f in band}
    if flags <= {MaskFlags.all_valid}:
        return "none"
    if flags <= {MaskFlags.nodata}:
        return "nodata"
    return "gdal"


def _check_complete(src: Any, path: str) -> None:
    """FormatError when the file is shorter than its header says (a truncated copy or download)."""
    size = os.path.getsize(path)
    if src.driver == "GTiff":
        for b in range(1, src.count + 1):
            bh, bw = src.block_shapes[b - 1]
            last = f"{math.ceil(src.width / bw) - 1}_{math.ceil(src.height / bh) - 1}"
            offset = src.get_tag_item(f"BLOCK_OFFSET_{last}", "TIFF", bidx=b)
            nbytes = src.get_tag_item(f"BLOCK_SIZE_{last}", "TIFF", bidx=b)
            if offset and nbytes and int(offset) + int(nbytes) > size:
                raise FormatError(
                    f"file is truncated: band {b} ends at byte {int(offset) + int(nbytes)} "
                    f"but the file has {size} bytes",
                    path=path,
                    hint="copy or download the file again",
                )
    elif src.driver == "ENVI":
        offset = int(src.tags(ns="ENVI").get("header_offset", 0) or 0)
        need = offset + src.width * src.height * src.count * np.dtype(src.dtypes[0]).itemsize
        if size < need:
            raise FormatError(
                f"file is truncated: the header describes {need} bytes, the file has {size}",
                path=path,
                hint="copy the data file again (and check the .hdr belongs to it)",
            )


# ------------------------------------------------------------------------------------------ names


def _suffix_name(path: str, preset: SensorPreset | None) -> str | None:
    if preset is None:
        return None
    tokens = Path(path).stem.replace("-", "_").replace(".", "_").split("_")
    for token in reversed(tokens):
        name = preset.band_for_suffix(token)
        if name is not None:
            return name
    return None


def _description_name(desc: str | None, preset: SensorPreset | None) -> str | None:
    if not desc:
        return None
    key = desc.strip()
    if preset is not None:
        name = preset.band_for_suffix(key)
        if name is not None:
            return name
        if key.lower() in preset.resolution or key.lower() in preset.bands:
            return key.lower()
    return None


def name_bands(
    infos: Sequence[FileInfo], preset: SensorPreset | None
) -> tuple[list[list[str]], str | None]:
    """Canonical band names per file (``b<position>`` where no rule names a band) and the sensor."""
    sensor = preset.name if preset is not None else None
    names: list[list[str | None]] = []
    for info in infos:
        if info.count == 1 and (len(infos) > 1 or _suffix_name(info.path, preset)):
            names.append([_suffix_name(info.path, preset)])
        elif preset is not None and preset.bands and info.count == len(preset.bands):
            names.append(list(preset.bands))
        elif preset is None and info.colorinterp == ("red", "green", "blue"):
            names.append(["red", "green", "blue"])
            sensor = "rgb" if len(infos) == 1 else sensor
        else:
            named = [_description_name(d, preset) for d in info.descriptions]
            if preset is not None and None in named and len(infos) == 1:
                raise DataError(
                    f"file has {info.count} bands; sensor {preset.name!r} expects "
                    f"{len(preset.bands)} ({', '.join(preset.bands)}) and the band descriptions "
                    f"{list(info.descriptions)} do not name them",
                    path=info.path,
                    hint="name the bands with bands={1: 'blue', 2: 'green', ...}",
                )
            names.append(named)
    pos = 0
    out: list[list[str]] = []
    for per_file in names:
        row = []
        for n in per_file:
            pos += 1
            row.append(n if n is not None else f"b{pos}")
        out.append(row)
    flat = [n for row in out for n in row]
    dup = sorted({n for n in flat if flat.count(n) > 1})
    if dup:
        raise DataError(
            f"band name(s) {', '.join(dup)} occur more than once in {[i.path for i in infos]}",
            hint="pass each band file once, or name bands with bands={position: name}",
        )
    return out, sensor


def select_bands(infos: Sequence[FileInfo], names: list[list[str]], bands: Any,
                 preset: SensorPreset | None) -> list[tuple[int, int, str]]:
    """``[(file index, 1-based band index in file, name)]`` in the order asked for."""
    every = [(pi, bi + 1, n) for pi, row in enumerate(names) for bi, n in enumerate(row)]
    if bands is None:
        return every
    available = [e[2] for e in every]

    def find(key: Any) -> tuple[int, int, str]:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            if 1 <= key <= len(every):
                return every[int(key) - 1]
        else:
            key_s = str(key)
            for cand in (key_s, key_s.lower(), preset.band_for_suffix(key_s) if preset else None):
                if cand in available:
                    return every[available.index(cand)]
        raise DataError(f"no band {key!r}; bands available: {', '.join(available)} "
                        f"(or positions 1..{len(every)})", feature=key, path=infos[0].path,
                        hint="pick bands by name or 1-based position, or pass the right sensor=")

    if isinstance(bands, Mapping):
        chosen = [(*find(k)[:2], str(v)) for k, v in bands.items()]
    elif isinstance(bands, (str, int, np.integer)):
        chosen = [find(bands)]
    else:
        chosen = [find(k) for k in bands]
    out_names = [c[2] for c in chosen]
    dup = sorted({n for n in out_names if out_names.count(n) > 1})
    if dup or len({c[:2] for c in chosen}) < len(chosen):
        raise DataError(f"band(s) {', '.join(dup) or 'chosen twice'} requested more than once",
                        hint="list each band once")
    return chosen


def date_of(parts: Sequence[FileInfo]) -> SceneDate:
    """Acquisition date of the files and where it came from (see :mod:`onemap.ingest.dates`):
    a ``dates.txt`` sidecar, a product naming convention, acquisition-date tags, product ids in
    tags; a bare date in a name or ``TIFFTAG_DATETIME`` only as a reported guess."""
    return scene_date([p.path for p in parts], [kv for p in parts for kv in p.tags],
                      [d for p in parts for d in p.descriptions if d], _DATE_KEYS)


# ------------------------------------------------------------------------------------------- read


def file_window(part: FileInfo, frame: Frame, rows: slice, cols: slice
                ) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]] | None:
    """Of ``frame[rows, cols]``, the file rows and columns ``(r0, r1), (c0, c1)`` inside
    *part* and the frame-to-file offset ``(dr, dc)``; None when the file is not on the frame's
    pixel lattice."""
    if not part.frame.aligned_with(frame):
        return None
    r0, r1, _ = rows.indices(frame.height)
    c0, c1, _ = cols.indices(frame.width)
    pf = part.frame
    dc = round((frame.transform.c - pf.transform.c) / pf.res[0])
    dr = round((pf.transform.f - frame.transform.f) / pf.res[1])
    return ((max(r0 + dr, 0), min(r1 + dr, pf.height)), (max(c0 + dc, 0), min(c1 + dc, pf.width)),
            (dr, dc))


def read_part(part: FileInfo, indexes: tuple[int, ...], frame: Frame, rows: slice, cols: slice, *,
              masked: bool, dtype: str, fill: float | None, resampling: str,
              cache: Any = None) -> np.ndarray:
    """Bands *indexes* of *part* on ``frame[rows, cols]``: a window read when the file is on the
    frame's pixel lattice, else GDAL's warper (a WarpedVRT onto the whole frame, read by window,
    so that values do not depend on the chunking). *cache*: a
    :class:`~onemap.ingest._block_cache.BlockCache` that the window's blocks are taken from."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT
    from rasterio.windows import Window

    r0, r1, _ = rows.indices(frame.height)
    c0, c1, _ = cols.indices(frame.width)
    h, w = max(0, r1 - r0), max(0, c1 - c0)
    empty = np.nan if masked else fill
    out = np.empty((len(indexes), h, w), dtype=dtype)
    if h == 0 or w == 0:
        return out
    try:
        with rasterio.open(part.path) as src:
            inside = file_window(part, frame, rows, cols)
            if inside is not None:
                (sr0, sr1), (sc0, sc1), (dr, dc) = inside
                if (sr1 - sr0, sc1 - sc0) != (h, w):  # partly outside the file
                    out.fill(empty)
                if sr1 <= sr0 or sc1 <= sc0:
                    return out
                win = Window(sc0, sr0, sc1 - sc0, sr1 - sr0)
                dst = out[:, sr0 - dr - r0:sr1 - dr - r0, sc0 - dc - c0:sc1 - dc - c0]
                same = np.dtype(src.dtypes[0]) == out.dtype
                if cache is not None and cache.caches(part) and (masked or same):
                    data = cache.read(src, part, tuple(indexes), (sr0, sr1), (sc0, sc1))
                    if masked:
                        _read_masked(src, part, list(indexes), win, dst, data)
                    else:
                        dst[...] = data
                elif masked:
                    _read_masked(src, part, list(indexes), win, dst)
                elif dst.shape == out.shape and same:
                    src.read(list(indexes), window=win, out=out)  # straight into the chunk
                else:
                    dst[...] = src.read(list(indexes), window=win, out_dtype=dtype)
                return out
            vrt_opts = dict(
                crs=rio_crs(frame.crs), transform=frame.transform,
                width=frame.width, height=frame.height, resampling=Resampling[resampling],
                nodata=np.nan if masked else fill, dtype="float32" if masked else dtype,
                **warp_scale(part.frame, frame),
            )
            if part.crs_assigned:
                vrt_opts["src_crs"] = rio_crs(part.crs)
            if part.nodata is not None:
                vrt_opts["src_nodata"] = part.nodata
            with WarpedVRT(src, **vrt_opts) as vrt:
                vrt.read(list(indexes), window=Window(c0, r0, w, h), out=out)
            return out
    except rasterio.errors.RasterioError as exc:
        raise FormatError(f"cannot read pixels (rows {r0}-{r1 - 1}, columns {c0}-{c1 - 1}: {exc})",
                          path=part.path,
                          hint="the file may be truncated or corrupt; copy it again") from exc


def _read_masked(src: Any, part: FileInfo, indexes: list[int], win: Any, dst: np.ndarray,
                 data: np.ndarray | None = None) -> None:
    """Read into float32 *dst* with NaN where invalid: nodata compared in NumPy (one pass, no
    GDAL mask band), GDAL's mask only for files with a mask band or alpha. *data*: the window's
    pixels already read."""
    data = src.read(indexes, window=win) if data is None else data
    dst[...] = data
    if part.mask == "gdal":
        dst[src.read_masks(indexes, window=win) == 0] = np.nan
    elif part.mask == "nodata" and part.nodata is not None and not np.isnan(part.nodata):
        dst[data == part.nodata] = np.nan
