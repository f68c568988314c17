"""Run a per-feature vector overlay partition by partition, on subsets of the layers.

A per-feature overlay (every result row depends only on its own feature and on the layer polygons
that intersect it) can run on groups of features with, for each group, only the layer features
whose bounding boxes intersect the group's features: the result is the same, and the memory of one
step is bounded by the group, not by a county's 10⁶ land-use polygons.

Groups are runs of ``partition_size`` features along a Hilbert curve through their bounding-box
centres, so a group is spatially compact and no group is empty (clustered features, as change
patches in towns are, still give equal-sized groups). Layer subsets keep the layer's row order
and index, so every overlay sees its candidates in the same relative order as on the whole layer.

Partitions run on dask: ``dask.delayed`` per partition on the threaded scheduler (shapely releases
the GIL), or on a ``dask.distributed.Client`` when one is given; then only each partition's
subsets travel to the workers (scattered, not embedded in the task graph).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import DataError

__all__ = ["layer_subsets", "map_partitions", "spatial_partitions"]


def spatial_partitions(geoms: np.ndarray, partition_size: int | None) -> list[np.ndarray]:
    """Positions of *geoms* in groups of at most *partition_size*, spatially compact.

    Each group is sorted (original order within the group); ``None`` gives one group of all.

    >>> import shapely
    >>> g = shapely.points([0, 100, 1, 101, 2], [0, 100, 1, 101, 2])
    >>> [p.tolist() for p in spatial_partitions(g, 3)]
    [[0, 2, 4], [1, 3]]
    """
    n = len(geoms)
    if partition_size is not None and (isinstance(partition_size, bool) or not (
            isinstance(partition_size, (int, np.integer)) and partition_size >= 1)):
        raise DataError("partition_size must be a positive whole number of features, "
                        f"got {partition_size!r}",
                        hint="e.g. partition_size=2000, or None for one partition")
    if partition_size is None or n <= partition_size:
        return [np.arange(n)]
    bounds = shapely.bounds(geoms)
    centres = np.column_stack([(bounds[:, 0] + bounds[:, 2]) / 2,
                               (bounds[:, 1] + bounds[:, 3]) / 2])
    ok = np.isfinite(centres).all(axis=1)
    centres[~ok] = np.nanmin(centres[ok], axis=0) if ok.any() else 0.0  # empty geometries: anywhere
    points = gpd.GeoSeries(shapely.points(centres))
    lo, hi = centres.min(axis=0), centres.max(axis=0)
    distance = points.hilbert_distance(total_bounds=(*lo, *np.maximum(hi, lo + 1e-9)))
    order = np.argsort(distance.to_numpy(), kind="stable")
    k = -(-n // int(partition_size))
    return [np.sort(part) for part in np.array_split(order, k)]


def layer_subsets(geoms: np.ndarray, parts: list[np.ndarray], layer: gpd.GeoDataFrame | None
                  ) -> list[gpd.GeoDataFrame | None]:
    """Per partition, the rows of *layer* whose bounding boxes intersect one of its *geoms*.

    One STRtree on the layer and one bulk query for all partitions; rows keep the layer's order.
    """
    if layer is None:
        return [None] * len(parts)
    if len(layer) == 0:
        return [layer] * len(parts)
    part_of = np.empty(len(geoms), np.int64)
    for k, pos in enumerate(parts):
        part_of[pos] = k
    tree = shapely.STRtree(np.asarray(layer.geometry.values))
    g, feature = tree.query(geoms)  # bounding boxes intersect
    key = np.unique(part_of[g] * np.int64(len(layer)) + feature)  # sorted by partition, then row
    part, row = np.divmod(key, np.int64(len(layer)))
    cuts = np.searchsorted(part, np.arange(len(parts) + 1))
    return [layer.iloc[row[cuts[k]:cuts[k + 1]]] for k in range(len(parts))]


def map_partitions(func: Callable[..., pd.DataFrame], features: gpd.GeoDataFrame,
                   layers: Mapping[str, gpd.GeoDataFrame | None], partition_size: int | None = None,
                   client: Any = None, **kwargs: Any) -> gpd.GeoDataFrame:
    """``func(features_subset, **layer_subsets, **kwargs)`` per partition, joined in input order.

    *func* must return one row per feature of its subset, in the subset's order (and be importable
    by name when a distributed *client* is used). With ``partition_size=None`` and no client it runs
    once, in this thread, on the subsets that intersect any feature.

    >>> import geopandas as gpd, shapely
    >>> feats = gpd.GeoDataFrame(geometry=[shapely.box(i, 0, i + 1, 1) for i in (0, 50, 1, 51)])
    >>> zones = gpd.GeoDataFrame({"z": [7, 8]},
    ...                          geometry=[shapely.box(0, 0, 3, 3), shapely.box(49, 0, 60, 3)])
    >>> def seen(f, zones):
    ...     return f.assign(n_zones=len(zones))
    >>> map_partitions(seen, feats, {"zones": zones}, partition_size=2)["n_zones"].tolist()
    [1, 1, 1, 1]
    """
    geoms = np.asarray(features.geometry.values)
    parts = spatial_partitions(geoms, partition_size)
    subsets = {name: layer_subsets(geoms, parts, layer) for name, layer in layers.items()}
    payloads = [(features if len(parts) == 1 else features.iloc[pos],
                 {name: subsets[name][k] for name in layers})
                for k, pos in enumerate(parts)]
    call = functools.partial(func, **kwargs)
    if partition_size is None and client is None:
        return _run(call, payloads[0])
    import dask

    if client is not None:
        # scattered data: each worker receives only its partitions' subsets, not one huge task graph
        data = client.scatter(payloads, hash=False)
        del payloads, subsets
        results = client.gather(
            client.compute([dask.delayed(_run, pure=False)(call, d) for d in data]))
    else:
        tasks = [dask.delayed(_run, pure=False)(call, p) for p in payloads]
        del payloads, subsets
        results = dask.compute(*tasks, scheduler="threads")
    if len(results) == 1:
        return results[0]
    out = pd.concat(results).iloc[np.argsort(np.concatenate(parts), kind="stable")]
    out.index = features.index  # the same labels, and the same kind of index (e.g. a RangeIndex)
    return out


def _run(call: Callable[..., pd.DataFrame], payload: tuple) -> pd.DataFrame:
    feats, subsets = payload
    return call(feats, **subsets)
