"""The survey's inputs, read as its configuration says: the two scenes aligned on the survey
frame, their acquisition dates, the vector layers on the frame's CRS and the share of the frame
each covers, and the mask policy of the change score (:class:`onemap.change.MaskPolicy`).

Each function takes the :class:`~onemap.config.SurveyConfig` and names the TOML table to fix
in its errors (``[scenes.after]``, ``[layers.landuse]`` …).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np

from .config import SurveyConfig
from .errors import CRSError, DataError, OnemapError, OnemapWarning, speaking
from .frame import Frame

if TYPE_CHECKING:
    from .change import MaskPolicy

__all__ = ["survey_frame", "native_res", "open_scenes", "scene_dates", "read_layers",
           "layer_coverage", "mask_policy", "explain_no_valid_pixels"]


def survey_frame(cfg: SurveyConfig, before: Any, after: Any) -> Frame:
    """The survey frame: configured CRS/zone/resolution/extent, else the scenes' common grid."""
    from .crs import gk_crs

    fb, fa = Frame.from_xarray(before), Frame.from_xarray(after)
    if cfg.frame_zone:
        crs = gk_crs(cfg.frame_zone)
    else:
        crs = cfg.frame_crs if cfg.frame_crs is not None else fa.crs
    res = cfg.res or native_res(fa, crs)
    if cfg.extent is not None:
        return Frame.from_bounds(cfg.extent, res, crs)
    from rasterio.warp import transform_bounds

    target = Frame.from_bounds((0, 0, 1, 1), 1, crs).crs  # the CRS as a Frame holds it
    boxes = [transform_bounds(f.crs, target, *f.bounds) for f in (fb, fa)]
    left, bottom = max(b[0] for b in boxes), max(b[1] for b in boxes)
    right, top = min(b[2] for b in boxes), min(b[3] for b in boxes)
    if not (right > left and top > bottom):
        raise DataError("the two scenes do not overlap",
                        hint="check the [scenes] paths and their CRSs")
    if fa.crs == target and res == fa.res[0]:
        return fa.crop((left, bottom, right, top))  # stay on the image's own lattice: no resampling
    return Frame.from_bounds((left, bottom, right, top), res, crs)


def native_res(frame: Frame, crs: Any) -> float:
    """The resolution in *crs* units that keeps about the pixel count of *frame* (its own
    resolution when *crs* is its CRS): a frame in degrees over a scene in metres gets pixels of
    the scene's size, not 2-degree ones. Rounded down to 3 significant digits.

    >>> f = Frame.from_bounds((39_500_000, 3_300_000, 39_502_000, 3_302_000), 2.0, 4527)
    >>> native_res(f, 4527), native_res(f, 4490)
    (2.0, 1.94e-05)
    """
    from rasterio.warp import calculate_default_transform

    from .geometry import same_crs

    if same_crs(frame.crs, crs):
        return frame.res[0]
    dst = Frame.from_bounds((0, 0, 1, 1), 1, crs).crs
    transform, _, _ = calculate_default_transform(frame.crs, dst, frame.width, frame.height,
                                                  *frame.bounds)
    res = min(abs(transform.a), abs(transform.e))
    digits = 2 - int(np.floor(np.log10(res)))
    return float(np.floor(res * 10**digits) / 10**digits)


def open_scenes(cfg: SurveyConfig) -> tuple[Any, Any, Frame]:
    """The before and after scenes aligned (lazily) on the survey frame, and that frame; scenes
    whose bands share no name are a :class:`DataError`."""
    from .ingest.raster import align, open_scene

    def one(spec: Any, key: str) -> Any:
        paths = [str(p) for p in spec.paths]
        with speaking("toml", table=f"scenes.{key}"):
            scene = open_scene(paths if len(paths) > 1 else paths[0], sensor=spec.sensor,
                               date=spec.date, bands=list(spec.bands) if spec.bands else None,
                               masked=False, chunks=(cfg.tile_size, cfg.tile_size), crs=spec.crs)
        return scene

    before, after = one(cfg.before, "before"), one(cfg.after, "after")
    names = {key: [str(b) for b in scene["band"].values]
             for key, scene in (("before", before), ("after", after))}
    if not set(names["before"]) & set(names["after"]):
        raise DataError(f"[scenes.after] has bands {', '.join(names['after'])}, [scenes.before] "
                        f"has {', '.join(names['before'])}: the two dates share no band",
                        path=cfg.after.paths[0],
                        hint="name the bands of both dates alike: set the sensor of each scene, or "
                             'bands = ["blue", "green", "red", "nir"] (in file order) under '
                             "[scenes.after]")
    frame = survey_frame(cfg, before, after)
    return align(before, frame), align(after, frame), frame


def scene_dates(cfg: SurveyConfig, before: Any, after: Any) -> dict[str, dict[str, Any]]:
    """``{"before": {"date", "source", "guessed"}, "after": ...}`` for the manifest and report.

    A date that could only be guessed, or none at all, gives an :class:`OnemapWarning` that says
    which TOML key fixes it; dates in the wrong order are a :class:`DataError`.
    """
    out = {}
    for key, scene, spec in (("before", before, cfg.before), ("after", after, cfg.after)):
        a = scene.attrs
        source = f"[scenes.{key}] date" if spec.date else a.get("date_source")
        out[key] = {"date": a.get("date"), "source": source, "guessed": bool(a.get("date_guessed"))}
        fix = f'set [scenes.{key}] date = "YYYY-MM-DD" (the acquisition date)'
        if a.get("date") is None:
            warnings.warn(f"[scenes.{key}] {spec.paths[0].name}: no acquisition date in the file "
                          f"names, a dates.txt or the tags; {fix}: the report and the flagged "
                          "patches show it", OnemapWarning, stacklevel=3)
        elif out[key]["guessed"]:
            warnings.warn(f"[scenes.{key}] date {a['date']} was guessed from {source}; if that is "
                          f"not the acquisition date, {fix}", OnemapWarning, stacklevel=3)
    d1, d2 = out["before"]["date"], out["after"]["date"]
    if d1 and d2 and d1 > d2 and not (out["before"]["guessed"] or out["after"]["guessed"]):
        raise DataError(f"[scenes.before] was acquired on {d1} ({out['before']['source']}), "
                        f"after [scenes.after] ({d2}, {out['after']['source']}): the dates are "
                        "swapped", path=cfg.before.paths[0],
                        hint="swap the paths of [scenes.before] and [scenes.after]")
    return out


def explain_no_valid_pixels(cfg: SurveyConfig, before: Any, after: Any,
                            exc: DataError) -> DataError:
    """A DataError naming the scene and the fix when the change score is NaN everywhere (*exc*
    when neither scene is all nodata nor all cloud)."""
    from .change import why_no_valid_pixels

    policy = mask_policy(cfg)
    reasons = {key: why_no_valid_pixels(scene) for key, scene in (("before", before),
                                                                  ("after", after))}
    for key, scene, spec in (("before", before, cfg.before), ("after", after, cfg.after)):
        if reasons[key] == "nodata":
            nodata = scene.attrs.get("nodata", scene.attrs.get("_FillValue"))
            value = "NaN" if nodata is None or np.isnan(float(nodata)) else f"{float(nodata):g}"
            return DataError(f"[scenes.{key}] has no valid pixel on the survey frame: it is all "
                             f"nodata ({value})",
                             path=spec.paths[0], hint="the file may be a failed export or cover "
                                                      "another area; check it in a GIS")
    for key, scene, spec in (("before", before, cfg.before), ("after", after, cfg.after)):
        if why_no_valid_pixels(scene, policy if policy.excludes_anything else None) == "cloud":
            return DataError(f"[scenes.{key}] is covered by cloud wherever it has data",
                             path=spec.paths[0],
                             hint="use another date, or set cloud_mask = false under [detect] "
                                  "options if the bright surface is not cloud")
    return exc


def read_layers(cfg: SurveyConfig, frame: Frame) -> dict[str, gpd.GeoDataFrame]:
    """Every ``[layers.x]`` on the frame's CRS; an empty one (but approvals, and database layers
    other than land use) is a :class:`DataError`."""
    from .ingest.sources import read_source

    layers = {}
    for name, spec in cfg.layers.items():
        try:
            with speaking("toml", table=f"layers.{name}"):
                if spec.url is not None:
                    layers[name] = _database_layer(spec, frame)
                else:
                    assert spec.path is not None  # the config gives a layer a url or a path
                    layers[name] = read_source(spec.path, spec.kind, layer=spec.layer,
                                               encoding=spec.encoding, crs=spec.crs,
                                               to_crs=frame.crs, allow_empty=spec.allow_empty)
        except CRSError as exc:
            raise CRSError(f"[layers.{name}]: {exc.message}", path=exc.path or spec.path,
                           hint=exc.fix or exc.hint) from exc
        must_have = spec.url is None or name == "landuse"  # a database layer may miss the frame
        if name != "approvals" and len(layers[name]) == 0 and must_have:
            raise DataError(f"[layers.{name}] is empty", path=spec.path)
    return layers


def layer_coverage(cfg: SurveyConfig, frame: Frame,
                   layers: dict[str, gpd.GeoDataFrame]) -> dict[str, float]:
    """Share of the frame each scene and layer covers; an input that misses it is a DataError
    naming its TOML table, and a land-use layer that leaves part of it blank is a warning."""
    from .coverage import check_coverage

    scenes = {}
    for key, spec in (("before", cfg.before), ("after", cfg.after)):
        try:
            scenes[key] = Frame.from_raster(spec.paths[0])
        except OnemapError:  # not georeferenced on its own: the scene reader placed it already
            continue
    keys = {"before": "[scenes.before]", "after": "[scenes.after]"}
    keys |= {n: f"[layers.{n}]" for n in layers}
    paths = {"before": cfg.before.paths[0], "after": cfg.after.paths[0]} | {
        n: spec.path for n, spec in cfg.layers.items()}
    shares = check_coverage(frame, scenes, layers, keys=keys, paths=paths)
    if shares.get("landuse", 1.0) < 0.95:
        warnings.warn(f"[layers.landuse] covers {shares['landuse']:.0%} of the survey frame: "
                      "change patches on the rest are judged on unknown land (verdict 'check')",
                      OnemapWarning, stacklevel=3)
    return shares


def _database_layer(spec: Any, frame: Frame) -> gpd.GeoDataFrame:
    """A ``[layers.x] url`` layer: only the features touching the frame, on the frame's CRS (a
    layer may have none there: only the land-use layer must)."""
    from .ingest.vector import read_layer

    return read_layer(spec.url, spec.kind, table=spec.table, where=spec.where, layer=spec.layer,
                      crs=spec.crs, frame=frame, allow_empty=True)


def mask_policy(cfg: SurveyConfig) -> MaskPolicy:
    """The pixels the change score leaves out, as ``[detect] options`` say: clouds of either date
    (widened by ``cloud_buffer_px``) when they give a reflectance scale and ``cloud_mask``."""
    from .change import MaskPolicy

    opts = cfg.detect_options
    scale = opts["reflectance_scale"]
    return MaskPolicy(clouds=bool(opts["cloud_mask"]) and scale is not None,
                      reflectance_scale=None if scale is None else float(scale),
                      buffer_px=int(opts["cloud_buffer_px"]))
