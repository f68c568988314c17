"""``store=`` of the change score: computed tile by tile into a resumable
:class:`~onemap.tilestore.TileStore` and read back from it.

The store is keyed by everything the score depends on: the frame and the tiles, the parameters,
the plan's global statistics (normalisation coefficients and noise scales, which fingerprint the
data they were estimated from), the scenes' files and the mask; and by the overview the store
keeps with its tiles. A rerun under the same key skips
the stored tiles; another key empties the store.
"""

from __future__ import annotations

import hashlib
import json
from os import PathLike
from typing import Any

import numpy as np
import xarray as xr

from .._compute import is_lazy
from ..errors import DataError, FrameError
from ..frame import Frame
from ..tilestore import TileStore
from ._plan import Plan
from .policy import MaskPolicy

# tile side of a store given as a folder for in-memory scenes (dask scenes: their chunk size)
DEFAULT_TILE = 1024
# bump when the stored score of the same inputs changes (a kernel, the float16 storage)
STORE_VERSION = "change_score/1"


def as_store(store: Any, frame: Frame, data: Any) -> TileStore:
    """*store* as a :class:`TileStore` of *frame* (a folder gets tiles of the chunk size)."""
    if isinstance(store, TileStore):
        if store.frame != frame:
            raise FrameError(f"store= keeps tiles of {store.frame!r}, the scenes are on "
                             f"{frame!r}", path=store.folder,
                             hint="give the store the scenes' frame, or another folder")
        return store
    if isinstance(store, (str, PathLike)):
        side = max(data.chunksize) if is_lazy(data) else DEFAULT_TILE
        return TileStore(store, frame, int(side))
    raise DataError(f"store must be an onemap.tilestore.TileStore or a folder, got "
                    f"{type(store).__name__}", hint="e.g. store='work/score'")


def mask_key(mask: Any) -> Any:
    """What the store knows of a mask: a policy by its value, an array by its content (a dask
    array by its graph's name), a function by its name."""
    if mask is None or isinstance(mask, MaskPolicy):
        return repr(mask)
    if callable(mask):
        return f"function {getattr(mask, '__module__', '')}.{getattr(mask, '__qualname__', '')}"
    data = mask.data if isinstance(mask, xr.DataArray) else mask
    if is_lazy(data):
        return f"dask {data.name}"
    packed = np.packbits(np.asarray(data, bool))
    return f"array {hashlib.sha256(packed.tobytes()).hexdigest()}"


def score_into_store(score: xr.DataArray, store: Any, plan: Plan, *, mask: Any,
                     parameters: dict[str, Any]) -> xr.DataArray:
    """*score* computed tile by tile into *store* (missing tiles only) and read back lazily,
    with ``attrs["score_range"]`` the (min, max) of the finite stored scores when there is one."""
    import dask.array as dsa

    tiles = as_store(store, plan.frame, score.data)
    side = tiles.tile_size
    data = score.data if is_lazy(score.data) else dsa.from_array(np.asarray(score.data),
                                                                 chunks=side)
    data = data.rechunk((side, side))
    sources = [plan.before.attrs.get("source"), plan.after.attrs.get("source")]
    # the overview a store keeps is part of its tiles: a store asked for another one refills
    overview = [tiles.overview_rgb, tiles.overview_step]
    key = [STORE_VERSION, repr(plan.frame), side, parameters, plan.attrs(), mask_key(mask),
           [str(s) for s in sources], overview]
    tiles.open(hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:16])
    tiles.fill(data, plan.after.data)
    attrs = dict(score.attrs)
    value_range = tiles.value_range()
    if value_range is not None:
        attrs["score_range"] = value_range
    return score.copy(data=tiles.assemble()).assign_attrs(attrs)
