"""Labels of the trained detector's training pairs: truth masks or verified patches -> pixels.

See :mod:`onemap.change.train` for what the labels mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import xarray as xr

from ..errors import CRSError, DataError, FrameError
from ..frame import Frame

_REAL = ("real", "true", "yes", "1", "真实", "是", "真实变化")
_FALSE = ("false", "no", "0", "伪变化", "否", "not real", "false change")


class TrainingDataError(DataError):
    """Labels that cannot train a model: no change, too few pixels, wrong grid or column."""


@dataclass
class LabelledPair:
    """Two dates on one grid and their labels (see the module docstring)."""

    before: xr.DataArray
    after: xr.DataArray
    truth: xr.DataArray | np.ndarray | gpd.GeoDataFrame
    ignore: xr.DataArray | np.ndarray | gpd.GeoDataFrame | None = None
    landuse: gpd.GeoDataFrame | None = None
    name: str | None = None


def _as_pair(item: Any, k: int) -> LabelledPair:
    if isinstance(item, LabelledPair):
        p = item
    elif isinstance(item, (tuple, list)) and 3 <= len(item) <= 4:
        p = LabelledPair(*item)
    else:
        raise TrainingDataError(
            f"training pair {k} must be (before, after, truth[, ignore]) or a LabelledPair",
            feature=k,
        )
    if p.name is None:
        p.name = f"pair {k}"
    return p


def _raster(layer: Any, frame: Frame, what: str, name: str) -> np.ndarray:
    """A mask (DataArray or array on the grid) or polygons as a bool raster on *frame*."""
    if isinstance(layer, gpd.GeoDataFrame):
        from rasterio import features

        if layer.crs is None or not frame.crs.equals(layer.crs):
            raise CRSError(
                f"{name}: the {what} polygons are in {layer.crs}, "
                f"the scenes in {frame.crs.to_string()}",
                feature=name,
                hint=f"reproject them with {what}.to_crs(scene.rio.crs) first",
            )
        if not len(layer):
            return np.zeros(frame.shape, bool)
        return features.rasterize(
            ((g, 1) for g in layer.geometry),
            out_shape=frame.shape,
            transform=frame.transform,
            fill=0,
            dtype="uint8",
        ).astype(bool)
    if isinstance(layer, xr.DataArray):
        if "x" in layer.dims and layer.rio.crs is not None:
            try:
                other = Frame.from_xarray(layer)
            except Exception:  # noqa: BLE001 - not georeferenced: the shape check below decides
                other = None
            if other is not None and other != frame:
                kind = CRSError if not other.crs.equals(frame.crs) else FrameError
                raise kind(
                    f"{name}: the {what} mask is on another grid ({other!r}) "
                    f"than the scenes ({frame!r})",
                    feature=name,
                    hint="put it on the scenes' grid with onemap.align(mask, frame, "
                    "resampling='nearest')",
                )
        layer = layer.values
    arr = np.asarray(layer)
    if arr.shape != tuple(frame.shape):
        raise FrameError(
            f"{name}: the {what} mask has shape {arr.shape}, the scenes {tuple(frame.shape)}",
            feature=name,
            hint="give the mask on the scenes' grid",
        )
    return arr.astype(bool)


def _is_real(values: Any, column: str, name: str) -> np.ndarray:
    out = []
    for v in values:
        if isinstance(v, (bool, np.bool_)) or isinstance(v, (int, np.integer)) and v in (0, 1):
            out.append(bool(v))
        elif isinstance(v, str) and v.strip().lower() in _REAL:
            out.append(True)
        elif isinstance(v, str) and v.strip().lower() in _FALSE:
            out.append(False)
        else:
            raise TrainingDataError(
                f"{name}: column {column!r} holds {v!r}, expected real / false change",
                feature=name,
                hint="use True/False, 1/0 or 'real'/'false'",
            )
    return np.array(out, bool)


def pair_labels(p: LabelledPair, frame: Frame, label_column: str, outside: str) -> np.ndarray:
    """int8 labels on the grid: 1 change, 0 unchanged, -1 ignored."""
    if isinstance(p.truth, gpd.GeoDataFrame):
        if label_column not in p.truth.columns:
            raise TrainingDataError(
                f"{p.name}: the verified patches have no column {label_column!r}",
                feature=p.name,
                hint="pass label_column= naming the real / false column",
            )
        assert label_column is not None  # None is in no column list: raised above
        real = _is_real(p.truth[label_column].to_numpy(), label_column, str(p.name))
        pos = _raster(p.truth[real], frame, "truth", str(p.name))
        neg = _raster(p.truth[~real], frame, "truth", str(p.name))
        lab = np.full(frame.shape, 0 if outside == "unchanged" else -1, np.int8)
        lab[neg] = 0
        lab[pos] = 1
    else:
        lab = _raster(p.truth, frame, "truth", str(p.name)).astype(np.int8)
    if p.ignore is not None:
        lab[_raster(p.ignore, frame, "ignore", str(p.name))] = -1
    return lab
