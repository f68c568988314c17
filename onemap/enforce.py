"""Flag unapproved construction (卫片执法): one verdict per change patch.

For every change patch the question of the campaign is *something was built here — was it
approved?* :func:`flag_unapproved` answers it with exact polygon overlays (shapely 2) and
ellipsoidal areas on the layer's own ellipsoid (CGCS2000 → GRS80), the way land-survey statistics
count area:

1. the part of the patch on land the land-use layer already records as construction land
   (建设用地) is *existing construction*: rebuilding there is legal and is reported separately;
2. the rest is *new construction*; its part inside an approval polygon is *approved*, the part
   outside every approval is *unapproved*;
3. the unapproved part is overlaid with the land-use layer (area per code and group, cultivated
   land 0101–0103), permanent basic farmland and the ecological red line.

Verdicts (``verdict`` and the campaign's words in ``verdict_zh``):

=========================  ==========================  =============================================
``existing_construction``  合法（原有建设用地）        no new construction beyond slivers
``approved``               合法（已批准）              new construction, all inside approvals
``unapproved``             违法（未批先建）            new construction, none inside an approval
``partly_approved``        违法（批少占多）            new construction, partly outside its approval
``check``                  其他（需实地核查）          most of the new part lies on land the
                                                       land-use layer does not classify (gap or
                                                       unknown code)
=========================  ==========================  =============================================

A *sliver* is a residue thinner than ``tolerance_m`` (removed by a morphological opening of that
radius, in metres whatever the CRS: see :func:`onemap.geometry.substantial`): pixel-edge noise
along an approval's boundary does not turn an approved patch into a partly approved one.
Slivers decide nothing but their area is still counted in the area columns, so areas always add
up: ``existing_m2 + approved_m2 + unapproved_m2 == area_m2``.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import codes
from ._partition import map_partitions
from .errors import CRSError, DataError, GeometryError, OnemapWarning
from .geometry import ellipsoidal_area, pairs, polygonal, same_crs, substantial

__all__ = ["HA_PER_M2", "MU_PER_M2", "VERDICTS_ZH", "flag_unapproved"]

MU_PER_M2 = 15.0 / 10_000.0  # 1 亩 = 10 000 / 15 m²
HA_PER_M2 = 1.0 / 10_000.0
DEFAULT_PARTITION_SIZE = 2_000  # patches per group when a dask client is given without a size
VERDICTS_ZH = {
    "existing_construction": "合法（原有建设用地）",
    "approved": "合法（已批准）",
    "unapproved": "违法（未批先建）",
    "partly_approved": "违法（批少占多）",
    "check": "其他（需实地核查）",
}


def flag_unapproved(
    patches: gpd.GeoDataFrame,
    approvals: gpd.GeoDataFrame | None,
    landuse: gpd.GeoDataFrame,
    farmland: gpd.GeoDataFrame | None = None,
    redline: gpd.GeoDataFrame | None = None,
    cadastral: gpd.GeoDataFrame | None = None,
    admin: gpd.GeoDataFrame | None = None,
    tolerance_m: float = 1.0,
    reproject: bool = False,
    frame: Any = None,
    partition_size: int | None = None,
    client: Any = None,
) -> gpd.GeoDataFrame:
    """Judge every change patch: existing construction, approved, unapproved or partly approved.

    Parameters
    ----------
    patches
        Change patches (e.g. from :func:`onemap.detect_changes`), polygons in any CRS with a datum
        (Gauss-Kruger, UTM, longitude/latitude, Web Mercator …): verdicts and areas do not depend
        on it.
        Kept columns: all of them; ``patch_id`` is added from the index when absent.
    approvals
        Construction-land approvals (``approval_id`` column, else the index is used). ``None`` or
        an empty layer: every new construction is unapproved (with a warning).
    landuse
        Land-use survey polygons with ``landuse_code`` (or ``DLBM``), e.g.
        ``read_layer(kind="landuse")``.
    farmland, redline
        Permanent basic farmland and ecological red-line polygons (optional).
    cadastral
        Cadastral parcels with ``parcel_id`` (or ``ZDDM``) — the parcels each patch touches are
        listed.
    admin
        Admin units with ``admin_code``/``admin_name``; each patch goes to the unit that holds
        most of it.
    tolerance_m
        Width below which a residue is a sliver that decides no verdict (see module docs).
    reproject
        Reproject layers in another CRS onto the patches' CRS (recorded in ``attrs``). Otherwise a
        CRS mismatch is a :class:`~onemap.errors.CRSError`.
    frame
        The survey :class:`~onemap.Frame`: patches that touch its edge may continue outside the
        imagery (their areas are lower bounds) and get ``at_frame_edge = True``.
    partition_size
        Judge the patches in spatially compact groups of at most this many, each against only the
        layer features whose bounding boxes meet its patches (see :mod:`onemap._partition`), on
        dask's threaded scheduler: the overlay's memory is bounded by the group, not the layers.
        The result is the same as unpartitioned. ``None`` (default): one group, in this thread,
        still restricted to the layer features that meet some patch.
    client
        A ``dask.distributed.Client``: run the groups on its workers (only each group's layer
        subsets are sent). Without ``partition_size``, groups of ``DEFAULT_PARTITION_SIZE``.

    Returns
    -------
    GeoDataFrame
        The patches with ``verdict``, ``verdict_zh``, areas in ellipsoidal m² (``area_m2``,
        ``existing_m2``, ``new_m2``, ``approved_m2``, ``unapproved_m2``, ``new_cultivated_m2``,
        ``unapproved_cultivated_m2``, ``unapproved_farmland_m2``, ``unapproved_redline_m2``,
        ``unapproved_agricultural_m2``, ``unapproved_unused_m2``, ``unapproved_unknown_m2``), the
        same main figures in mu and hectares, ``unapproved_by_code`` (JSON ``{code: m²}``),
        ``approval_ids``, ``parcel_ids`` (``;``-separated), ``admin_code``, ``admin_name``, and
        ``on_unknown_landuse`` (part of the new construction, more than a sliver, lies on land the
        land-use layer does not classify: outside it, in a gap, or under an unknown code).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> box = lambda *b: shapely.box(*b)
    >>> crs = 4527
    >>> landuse = gpd.GeoDataFrame({"landuse_code": ["0101", "0702"]},
    ...     geometry=[box(39_500_000, 3_300_000, 39_500_100, 3_300_100),
    ...               box(39_500_100, 3_300_000, 39_500_200, 3_300_100)], crs=crs)
    >>> approvals = gpd.GeoDataFrame({"approval_id": ["A1"]},
    ...     geometry=[box(39_500_000, 3_300_000, 39_500_050, 3_300_100)], crs=crs)
    >>> patches = gpd.GeoDataFrame(geometry=[box(39_500_010, 3_300_010, 39_500_040, 3_300_040),
    ...     box(39_500_060, 3_300_010, 39_500_090, 3_300_040),
    ...     box(39_500_120, 3_300_010, 39_500_150, 3_300_040)], crs=crs)
    >>> v = flag_unapproved(patches, approvals, landuse)
    >>> list(v["verdict"])
    ['approved', 'unapproved', 'existing_construction']
    >>> round(float(v["unapproved_cultivated_m2"].iloc[1]))   # ellipsoidal, ~0.03 % below plane 900
    900
    >>> parts = flag_unapproved(patches, approvals, landuse, partition_size=2)  # groups of <= 2
    >>> parts.equals(v)
    True
    """
    patches = _check_polygons(patches, "patches")
    if patches.crs is None:
        raise CRSError("patches have no CRS", hint="set one with patches.set_crs(...)")
    crs = patches.crs
    reprojected: list[str] = []

    def prepare(layer: gpd.GeoDataFrame | None, name: str) -> gpd.GeoDataFrame | None:
        if layer is None:
            return None
        layer = _check_polygons(layer, name)
        if len(layer) and layer.crs is None:
            raise CRSError(f"{name} layer has no CRS",
                           hint="read it with onemap.read_layer(..., crs=...)")
        if len(layer) and not same_crs(layer.crs, crs):
            if not reproject:
                raise CRSError(
                    f"{name} layer is in {layer.crs.name!r}, patches are in {crs.name!r}",
                    hint="reproject it (read_layer(..., to_crs=frame.crs)) or pass reproject=True")
            layer = layer.to_crs(crs)
            reprojected.append(name)
        return layer

    approvals = prepare(approvals, "approvals")
    landuse = prepare(landuse, "landuse")
    farmland, redline = prepare(farmland, "farmland"), prepare(redline, "redline")
    cadastral, admin = prepare(cadastral, "cadastral"), prepare(admin, "admin")
    if approvals is None or len(approvals) == 0:
        warnings.warn("approval layer is empty: every new construction patch is unapproved",
                      OnemapWarning, stacklevel=2)
    if landuse is None or len(landuse) == 0:
        raise DataError("land-use layer is empty",
                        hint="pass the 三调 DLTB layer (onemap.read_layer(path, kind='landuse'))")

    code_column = _landuse_code_column(landuse)
    patches = patches.copy()
    if "patch_id" not in patches.columns:
        n = len(patches)
        patches["patch_id"] = (np.arange(1, n + 1) if patches.index.dtype.kind not in "iu"
                               else patches.index.to_numpy())
    if client is not None and partition_size is None:
        partition_size = DEFAULT_PARTITION_SIZE
    layers = {"approvals": approvals, "landuse": landuse, "farmland": farmland, "redline": redline,
                  "cadastral": cadastral, "admin": admin}
    out = map_partitions(_judge, patches, layers, partition_size, client,
                         code_column=code_column, crs=crs, tolerance_m=tolerance_m, frame=frame)
    out.attrs = dict(patches.attrs)
    out.attrs.update({"tolerance_m": tolerance_m, "reprojected": reprojected,
                      "area_method": "ellipsoidal (pyproj.Geod on the layer's datum)"})
    return out


# ---------------------------------------------------------------------------------------------

def _judge(patches: gpd.GeoDataFrame, approvals: gpd.GeoDataFrame | None,
           landuse: gpd.GeoDataFrame, farmland: gpd.GeoDataFrame | None,
           redline: gpd.GeoDataFrame | None,
           cadastral: gpd.GeoDataFrame | None, admin: gpd.GeoDataFrame | None, *, code_column: str,
           crs: Any, tolerance_m: float, frame: Any) -> gpd.GeoDataFrame:
    """The verdict columns for *patches*, given (at least) every layer feature that meets them."""
    values = patches.geometry.values
    geoms = shapely.make_valid(values.to_numpy() if hasattr(values, "to_numpy")
                               else np.asarray(values))
    n = len(geoms)
    lu_codes = np.array([codes.normalize(c) for c in landuse[code_column]], dtype=object)
    lu_groups = codes.groups(lu_codes)
    lu_geoms = np.asarray(landuse.geometry.values)

    # 1. existing construction land inside each patch
    construction = _union_per_patch(geoms, lu_geoms[lu_groups == "construction"])
    new = polygonal(shapely.difference(geoms, construction))
    # 2. approved and unapproved parts of the new construction
    appr_geoms = (np.asarray(approvals.geometry.values) if approvals is not None and len(approvals)
                  else np.empty(0, object))
    appr_union = _union_per_patch(geoms, appr_geoms)
    approved = polygonal(shapely.intersection(new, appr_union))
    unapproved = polygonal(shapely.difference(new, appr_union))
    # 3. what land the unapproved part and all new construction took
    by_code_unappr = _area_by_code(unapproved, lu_geoms, lu_codes, crs)
    by_code_new = _area_by_code(new, lu_geoms, lu_codes, crs)

    area = ellipsoidal_area(geoms, crs)
    existing_m2 = ellipsoidal_area(polygonal(shapely.intersection(geoms, construction)), crs)
    approved_m2 = ellipsoidal_area(approved, crs)
    unapproved_m2 = ellipsoidal_area(unapproved, crs)
    new_m2 = approved_m2 + unapproved_m2

    out = patches.copy()
    out["area_m2"] = area
    out["existing_m2"] = existing_m2
    out["new_m2"] = new_m2
    out["approved_m2"] = approved_m2
    out["unapproved_m2"] = unapproved_m2
    cultivated = sorted(codes.CULTIVATED)  # fixed order: a set iterates in per-process hash order
    out["new_cultivated_m2"] = [sum(d.get(c, 0.0) for c in cultivated) for d in by_code_new]
    out["unapproved_cultivated_m2"] = [sum(d.get(c, 0.0) for c in cultivated)
                                       for d in by_code_unappr]
    for grp in ("agricultural", "unused", "unknown"):
        out[f"unapproved_{grp}_m2"] = [sum(a for c, a in d.items() if codes.group(c) == grp)
                                       for d in by_code_unappr]
    # the part of the new construction no land-use polygon covers counts as unknown land
    lu_covered = np.array([sum(d.values()) for d in by_code_unappr])
    out["unapproved_unknown_m2"] += np.clip(unapproved_m2 - lu_covered, 0.0, None)
    out["unapproved_by_code"] = [json.dumps({k: round(v, 9) for k, v in sorted(d.items())})
                                 for d in by_code_unappr]
    out["unapproved_farmland_m2"] = _overlap_area(unapproved, farmland, crs)
    out["unapproved_redline_m2"] = _overlap_area(unapproved, redline, crs)
    for col in ("area", "new", "unapproved", "unapproved_cultivated", "unapproved_farmland"):
        out[f"{col}_mu"] = out[f"{col}_m2"] * MU_PER_M2
        out[f"{col}_ha"] = out[f"{col}_m2"] * HA_PER_M2

    # 4. verdicts: slivers thinner than the tolerance decide nothing
    has_new = substantial(new, crs, tolerance_m)
    has_unappr = substantial(unapproved, crs, tolerance_m)
    has_appr = substantial(approved, crs, tolerance_m)
    unknown_share = np.divide(out["unapproved_unknown_m2"].to_numpy(), unapproved_m2,
                              out=np.zeros(n), where=unapproved_m2 > 0)
    verdict = np.where(~has_new, "existing_construction",
                       np.where(~has_unappr, "approved",
                                np.where(has_appr, "partly_approved", "unapproved"))).astype(object)
    judged_new = (verdict != "existing_construction") & (verdict != "approved")
    verdict[judged_new & (unknown_share > 0.5)] = "check"
    # new construction on land the land-use layer does not classify (a gap, outside it, or an
    # unknown code): counted, because such a patch is judged without knowing what it took
    # (geometry only where the areas leave some of the new part unclassified: most patches pass)
    known_m2 = np.array([sum(a for c, a in d.items() if codes.group(c) != "unknown")
                         for d in by_code_new])
    maybe = np.flatnonzero(new_m2 - known_m2 > 1e-9 * np.maximum(area, 1.0))
    on_unknown = np.zeros(n, bool)
    if maybe.size:
        classified = _union_per_patch(new[maybe], lu_geoms[lu_groups != "unknown"])
        rest = polygonal(shapely.difference(new[maybe], classified))
        on_unknown[maybe] = substantial(rest, crs, tolerance_m)
    out["on_unknown_landuse"] = on_unknown
    out["verdict"] = verdict
    out["verdict_zh"] = [VERDICTS_ZH[v] for v in verdict]

    # 5. who is involved: approvals, cadastral parcels, admin unit
    out["approval_ids"] = _ids_touching(geoms, approvals, "approval_id", ("PZWH", "DKBH"))
    out["parcel_ids"] = _ids_touching(geoms, cadastral, "parcel_id", ("ZDDM",))
    out["admin_code"], out["admin_name"] = _admin_of(geoms, admin)
    if frame is not None:
        inner = shapely.buffer(frame.footprint(), -0.5 * min(frame.res), join_style="mitre")
        out["at_frame_edge"] = ~shapely.within(geoms, inner)
    return out


def _check_polygons(layer: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    if not isinstance(layer, gpd.GeoDataFrame):
        raise DataError(f"{name} must be a GeoDataFrame, got {type(layer).__name__}")
    if len(layer) == 0:
        return layer
    types = shapely.get_type_id(np.asarray(layer.geometry.values))
    empty = shapely.is_empty(np.asarray(layer.geometry.values))
    bad = np.flatnonzero(~np.isin(types, (3, 6)) & ~empty)
    if bad.size:
        kinds = sorted(set(layer.geometry.iloc[bad].geom_type))
        raise GeometryError(
            f"{name} layer has {bad.size} non-polygon geometries ({', '.join(kinds)})",
            feature=layer.index[bad[0]],
            hint=f"{name} must be polygons; buffer lines/points to polygons or drop them "
                 "explicitly")
    return layer


def _landuse_code_column(landuse: gpd.GeoDataFrame) -> str:
    for col in ("landuse_code", "DLBM", "dlbm"):
        if col in landuse.columns:
            return col
    raise DataError("land-use layer has no landuse_code/DLBM column",
                    hint="read it with onemap.read_layer(path, kind='landuse')")


def _union_per_patch(geoms: np.ndarray, others: np.ndarray) -> np.ndarray:
    """For each patch, the union of the *others* it intersects, clipped to the patch."""
    out = np.array([shapely.Polygon()] * len(geoms), dtype=object)
    p, o = pairs(geoms, others)
    if p.size == 0:
        return out
    pieces = polygonal(shapely.intersection(geoms[p], shapely.make_valid(others[o])))
    order = np.argsort(p, kind="stable")
    p, pieces = p[order], pieces[order]
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    ends = np.r_[starts[1:], len(p)]
    for s, e in zip(starts, ends, strict=True):
        out[p[s]] = shapely.union_all(pieces[s:e]) if e - s > 1 else pieces[s]
    return out


def _area_by_code(parts: np.ndarray, lu_geoms: np.ndarray, lu_codes: np.ndarray,
                  crs: Any) -> list[dict[str, float]]:
    """Per part, ellipsoidal area of its overlap with each land-use code."""
    result: list[dict[str, float]] = [{} for _ in range(len(parts))]
    nonempty = ~shapely.is_empty(parts)
    idx = np.flatnonzero(nonempty)
    p, o = pairs(parts[idx], lu_geoms)
    if p.size == 0:
        return result
    pieces = _disjoint(p, polygonal(shapely.intersection(parts[idx][p], lu_geoms[o])))
    areas = ellipsoidal_area(pieces, crs)
    for i, code, a in zip(idx[p], lu_codes[o], areas, strict=True):
        if a > 0:
            result[i][code] = result[i].get(code, 0.0) + float(a)
    return result


def _disjoint(part_of: np.ndarray, pieces: np.ndarray) -> np.ndarray:
    """The land-use pieces of each part made disjoint (each later piece minus the earlier ones).

    Land-use polygons that touch along an edge can overlap by slivers once a layer is reprojected
    (a vertex of one polygon on the straight edge of its neighbour leaves that edge under a
    non-linear projection, e.g. Gauss-Kruger -> longitude/latitude): those slivers must not be
    counted twice. Pairs come sorted by part (``pairs``), so each part's pieces are one run.
    """
    out = pieces.copy()
    starts = np.flatnonzero(np.r_[True, part_of[1:] != part_of[:-1]])
    ends = np.r_[starts[1:], len(part_of)]
    runs = [(a, b) for a, b in zip(starts, ends, strict=True) if b - a > 1]
    if not runs:
        return out
    # One vectorised test of every pair of pieces of a part: only parts where two pieces share
    # interior (not just an edge, as neighbours in a gap-free layer always do) need the loop.
    i = np.concatenate([np.repeat(np.arange(a, b), np.arange(b - a - 1, -1, -1)) for a, b in runs])
    j = np.concatenate([np.arange(a + k + 1, b) for a, b in runs for k in range(b - a)])
    run_of = np.repeat(np.arange(len(runs)), [(b - a) * (b - a - 1) // 2 for a, b in runs])
    overlapping = np.unique(run_of[shapely.relate_pattern(pieces[i], pieces[j], _INTERIORS_MEET)])
    changed = []
    for a, b in (runs[r] for r in overlapping):
        seen = out[a]
        for k in range(a + 1, b):
            if shapely.relate_pattern(out[k], seen, _INTERIORS_MEET):
                out[k] = shapely.difference(out[k], seen)
                changed.append(k)
            seen = shapely.union(seen, out[k])
    if changed:
        out[changed] = polygonal(out[changed])
    return out


_INTERIORS_MEET = "T********"  # DE-9IM: the interiors intersect (more than a shared edge)


def _overlap_area(parts: np.ndarray, layer: gpd.GeoDataFrame | None, crs: Any) -> np.ndarray:
    if layer is None or len(layer) == 0:
        return np.zeros(len(parts))
    union = _union_per_patch(parts, np.asarray(layer.geometry.values))
    inter = polygonal(shapely.intersection(parts, union))
    return ellipsoidal_area(inter, crs)


def _id_column(layer: gpd.GeoDataFrame, preferred: str, fallbacks: tuple[str, ...]) -> pd.Series:
    for col in (preferred, *fallbacks):
        if col in layer.columns:
            return layer[col].astype(str)
    return pd.Series(layer.index.astype(str), index=layer.index)


def _ids_touching(geoms: np.ndarray, layer: gpd.GeoDataFrame | None, column: str,
                  fallbacks: tuple[str, ...]) -> list[str]:
    if layer is None or len(layer) == 0:
        return [""] * len(geoms)
    ids = _id_column(layer, column, fallbacks).to_numpy()
    p, o = pairs(geoms, np.asarray(layer.geometry.values))
    # touching along an edge is not taking land: require a positive-area overlap
    keep = shapely.area(shapely.intersection(geoms[p], np.asarray(layer.geometry.values)[o])) > 0
    found: list[list[str]] = [[] for _ in range(len(geoms))]
    for i, j in zip(p[keep], o[keep], strict=True):
        if ids[j] not in found[i]:
            found[i].append(ids[j])
    return [";".join(sorted(f)) for f in found]


def _admin_of(geoms: np.ndarray, admin: gpd.GeoDataFrame | None) -> tuple[list[str], list[str]]:
    if admin is None or len(admin) == 0:
        return [""] * len(geoms), [""] * len(geoms)
    code = _id_column(admin, "admin_code", ("XZQDM", "ZLDWDM")).to_numpy()
    name = (admin["admin_name"].astype(str).to_numpy() if "admin_name" in admin.columns
            else np.array([""] * len(admin), dtype=object))
    p, o = pairs(geoms, np.asarray(admin.geometry.values))
    share = shapely.area(shapely.intersection(geoms[p], np.asarray(admin.geometry.values)[o]))
    best = np.full(len(geoms), -1)
    best_area = np.zeros(len(geoms))
    for i, j, a in zip(p, o, share, strict=True):
        if a > best_area[i]:
            best[i], best_area[i] = j, a
    return ([code[j] if j >= 0 else "" for j in best], [name[j] if j >= 0 else "" for j in best])
