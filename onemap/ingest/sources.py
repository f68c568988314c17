"""Read a layer from whatever a land bureau hands over: a vector file, a TXT file, a folder of TXTs.

Approvals in particular travel as land-boundary TXT files, one per batch (批次); a survey points
at the folder and :func:`read_boundary_files` reads them all into one layer with the file each
parcel came from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from os import PathLike
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..crs import as_crs
from ..errors import CRSError, DataError, report_repairs
from .boundary_txt import _frame, _source_bytes, read_document
from .vector import read_layer

__all__ = ["read_boundary_files", "read_source"]


_VECTOR_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".fgb", ".gdb", ".parquet", ".geoparquet")


def _txt_files(paths: Iterable[str | PathLike]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted(q for q in p.iterdir() if q.suffix.lower() == ".txt" and q.is_file())
        else:
            files.append(p)
    return files


def read_boundary_files(
    paths: str | PathLike | Iterable[str | PathLike],
    *,
    encoding: str | None = None,
    to_crs: Any = None,
    kind: str = "approval",
) -> gpd.GeoDataFrame:
    """Read land-boundary TXT files (or folders of them) into one layer.

    Parameters
    ----------
    paths
        A TXT file, a folder (all ``*.txt`` in it, sorted by name) or a list of either.
    encoding
        Text encoding; detected per file when ``None``.
    to_crs
        Reproject every file onto this CRS. Without it all files must share one CRS (a county on a
        zone border has files in two zones: pass the survey frame's CRS).
    kind
        ``"approval"`` adds ``approval_id`` (``<file stem>/<地块编号>``); ``"generic"`` adds
        nothing.

    Returns
    -------
    GeoDataFrame
        The parcels of all files with ``source_file``; ``attrs["repairs"]`` collects every
        file's repairs.

    Examples
    --------
    >>> import tempfile, pathlib, geopandas as gpd, shapely
    >>> from onemap import write_boundary_txt
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(2):
    ...     sq = gpd.GeoDataFrame({"DKBH": [f"D{i}"]}, crs=4527,
    ...                           geometry=[shapely.box(39_500_000 + 200 * i, 3_300_000,
    ...                                                 39_500_100 + 200 * i, 3_300_100)])
    ...     _ = write_boundary_txt(sq, d / f"batch{i}.txt")
    >>> layer = read_boundary_files(d)
    >>> list(layer["approval_id"]), layer.crs.to_epsg()
    (['batch0/D0', 'batch1/D1'], 4527)
    """
    paths = [paths] if isinstance(paths, (str, PathLike)) else list(paths)
    files = _txt_files(paths)
    if not files:
        vectors = sorted(q.name for p in map(Path, paths) if p.is_dir() for q in p.iterdir()
                         if q.suffix.lower() in _VECTOR_SUFFIXES)
        raise DataError(
            f"no land-boundary TXT files in {', '.join(map(str, paths))}",
            path=Path(paths[0]),
            hint=f"point at the vector file itself ({', '.join(vectors[:3])}), which onemap reads "
            "with read_layer"
            if vectors
            else "point at a .txt file or a folder that holds them",
        )
    target = as_crs(to_crs) if to_crs is not None else None
    # parse every file, then build one frame per CRS: a GeoDataFrame per file would cost more
    # than the parsing (land bureaus keep thousands of one-parcel files)
    groups: dict[Any, list[tuple[Path, Any]]] = {}
    position = {f: i for i, f in enumerate(files)}
    repairs = []
    for f in files:
        doc = read_document(*_source_bytes(f), encoding=encoding)
        repairs += doc.repairs
        groups.setdefault(doc.crs, []).append((f, doc))
    parts: list[gpd.GeoDataFrame] = []
    for crs, docs in groups.items():
        merged = dataclasses.replace(docs[0][1], rows=[r for _, d in docs for r in d.rows],
                                     geoms=[g for _, d in docs for g in d.geoms],
                                     plane_area=np.concatenate([d.plane_area for _, d in docs]),
                                     matched=[m for _, d in docs for m in d.matched])
        gdf = _frame(merged)
        gdf["source_file"] = [f.name for f, d in docs for _ in d.rows]
        gdf["_order"] = [position[f] * 1_000_000 + i for f, d in docs for i in range(len(d.rows))]
        if target is not None and crs != target:
            gdf = gdf.to_crs(target)
        elif target is None and parts and crs != parts[0].crs:
            other = next(f for f, _ in docs)
            raise CRSError(
                f"{other.name} is in {crs.name}, {files[0].name} in {parts[0].crs.name}",
                path=other,
                hint="pass to_crs= (e.g. the survey frame's CRS) to put them in one CRS",
            )
        parts.append(gdf)
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    out = out.sort_values("_order", kind="stable").drop(columns="_order").reset_index(drop=True)
    if kind == "approval":
        stems = [Path(n).stem for n in out["source_file"]]
        counter: dict[str, int] = {}
        ids = []
        for stem, pid in zip(stems, out["parcel_id"], strict=True):
            counter[stem] = counter.get(stem, 0) + 1
            ids.append(f"{stem}/{pid}" if pid not in (None, "") else f"{stem}/#{counter[stem]}")
        out["approval_id"] = ids
    parts = [out]
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=out.crs)
    out.attrs = {
        "kind": kind,
        "repairs": report_repairs(repairs),
        "sources": [str(f) for f in files],
    }
    return out


def read_source(
    path: str | PathLike,
    kind: str = "generic",
    *,
    layer: str | None = None,
    encoding: str | None = None,
    crs: Any = None,
    to_crs: Any = None,
    allow_empty: bool = False,
) -> gpd.GeoDataFrame:
    """Read a layer from a vector file, a land-boundary TXT file or a folder of TXT files.

    TXT sources carry their own CRS (``crs=`` does not apply to them); vector sources go through
    :func:`onemap.read_layer` with *kind*, *layer*, *encoding* and *crs*. With *allow_empty* a
    layer with no feature, or a folder with no TXT file, gives an empty layer (in *to_crs*).
    """
    p = Path(path)
    if (p.is_dir() and p.suffix.lower() != ".gdb") or p.suffix.lower() == ".txt":
        if allow_empty and p.is_dir() and not _txt_files([p]):
            return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=to_crs), crs=to_crs)
        return read_boundary_files(
            p, encoding=encoding, to_crs=to_crs, kind=kind if kind == "approval" else "generic"
        )
    return read_layer(
        p, kind=kind, layer=layer, encoding=encoding, crs=crs, to_crs=to_crs,
        allow_empty=allow_empty,
    )
