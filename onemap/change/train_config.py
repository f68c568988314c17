"""``onemap train CONFIG.toml``: train a change model from labelled pairs listed in a TOML file.

.. code-block:: toml

    [train]
    out = "models/county.json"     # the model file to write
    seed = 0                       # optional; samples_per_class, folds, label_column too
    validation_pixels = 67108864   # optional: pixels validated out of fold at most (memory)
    label_column = "verdict"       # real / false column of vector truth layers

    [[pair]]
    before = "2023/scene.tif"      # a raster or a list of single-band files
    after = "2024/scene.tif"
    sensor = "gf2"                 # optional, names the bands (open_scene)
    truth = "2024/verdicts.gpkg"   # verified patches, or a raster mask (non-zero = change)
    ignore = "2024/clouds.gpkg"    # optional areas to leave out
    bounds = [500000, 3400000, 540000, 3440000]  # optional: only this window (xmin, ymin,
                                   # xmax, ymax in the scenes' CRS), e.g. part of a county

Paths are relative to the TOML file. Every mistake is a :class:`~onemap.errors.ConfigError`
naming the key and the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from xarray import DataArray

from ..errors import ConfigError
from .model import ChangeModel
from .train import LabelledPair, train_change_model

_TRAIN_KEYS = {"out", "seed", "samples_per_class", "folds", "label_column", "outside",
               "validation_pixels"}
_PAIR_KEYS = {"before", "after", "sensor", "truth", "ignore", "name", "date_before", "date_after",
              "bounds"}
_VECTOR = {".gpkg", ".shp", ".geojson", ".json", ".fgb", ".parquet"}


def _layer(path: Path, what: str, cfg: Path) -> Any:
    if not path.exists():
        raise ConfigError(f"{what} file {path} not found", path=cfg, hint=f"fix the {what} path")
    if path.suffix.lower() in _VECTOR:
        from ..ingest.vector import read_layer

        return read_layer(path)
    import rioxarray
    import xarray

    opened = rioxarray.open_rasterio(path, masked=False)
    if not isinstance(opened, xarray.DataArray):  # a multi-subdataset file
        raise ConfigError(f"{path}: one single-band raster expected", path=path)
    da = opened.isel(band=0, drop=True)
    return da != 0


def _cut(rasters: list[Any], bounds: Any, k: int, cfg: Path) -> list[Any]:
    """The rasters of ``[[pair]]`` *k* cut to ``bounds = [xmin, ymin, xmax, ymax]``: the pixels
    of the first (the before scene) that the window touches. Scenes are re-read from their files
    onto that sub-frame (:func:`onemap.align`: the same pixels, still read window by window
    from the files); label rasters on the scene's grid are sliced alike, others clipped."""
    from ..ingest.raster import align

    ok = (isinstance(bounds, list) and len(bounds) == 4
          and all(isinstance(v, int | float) and not isinstance(v, bool) for v in bounds))
    if not ok or not (bounds[0] < bounds[2] and bounds[1] < bounds[3]):
        raise ConfigError(f"[[pair]] {k + 1} bounds = {bounds!r} is no window", path=cfg,
                          hint="set bounds = [xmin, ymin, xmax, ymax] in the scenes' CRS, "
                               "xmin < xmax and ymin < ymax")
    frame = rasters[0].onemap.frame
    rows, cols = frame.window(tuple(bounds))
    if rows.stop <= rows.start or cols.stop <= cols.start:
        raise ConfigError(f"[[pair]] {k + 1} bounds = {bounds!r} holds none of the pair's "
                          f"pixels (the scene covers {[round(v, 3) for v in frame.bounds]})",
                          path=cfg, hint="give bounds inside the scenes, in their CRS")
    sub = frame.subframe(rows, cols)
    out = []
    for x in rasters:
        if "band" in x.dims:
            out.append(align(x, sub))
        elif x.onemap.frame == frame:
            out.append(x.isel(y=rows, x=cols))
        else:
            try:
                out.append(x.rio.clip_box(*bounds))
            except Exception as exc:  # noqa: BLE001 - rioxarray's NoDataInBounds and the like
                raise ConfigError(f"[[pair]] {k + 1} bounds = {bounds!r}: the label raster on "
                                  f"another grid holds none of them ({exc})", path=cfg,
                                  hint="give label rasters on the scenes' grid, or bounds "
                                       "inside them") from None
    return out


def load_pairs(config: str | Path) -> tuple[dict[str, Any], list[LabelledPair]]:
    """The ``[train]`` options and the labelled pairs of a training TOML file."""
    from .._toml import load_toml  # syntax errors name the line, the column and the fix
    from ..ingest.raster import open_scene

    cfg = Path(config)
    if not cfg.is_file():
        raise ConfigError("training configuration not found", path=cfg, hint="check the path")
    raw = load_toml(cfg)
    opts = raw.get("train", {})
    unknown = set(opts) - _TRAIN_KEYS
    if unknown or "out" not in opts:
        raise ConfigError(
            f'[train] needs out = "model.json"; unknown keys: {sorted(unknown)}',
            path=cfg,
            hint=f"use the keys {sorted(_TRAIN_KEYS)}",
        )
    vp = opts.get("validation_pixels", 1)
    if isinstance(vp, bool) or not isinstance(vp, int) or vp < 1:
        raise ConfigError(
            f"[train] validation_pixels = {vp!r} is not a positive whole number",
            path=cfg,
            hint="give the pixels to validate on at most, e.g. validation_pixels = 67108864 "
            "(about 2.6 GiB of memory), or leave the key out",
        )
    base = cfg.parent
    pairs = []
    for k, item in enumerate(raw.get("pair", [])):
        bad = set(item) - _PAIR_KEYS
        missing = {"before", "after", "truth"} - set(item)
        if bad or missing:
            raise ConfigError(
                f"[[pair]] {k + 1}: missing {sorted(missing)}, unknown {sorted(bad)}",
                path=cfg,
                hint="give before, after and truth paths (ignore, sensor, name optional)",
            )
        scenes = []
        for key in ("before", "after"):
            paths = item[key] if isinstance(item[key], list) else [item[key]]
            files = [base / p for p in paths]
            for f in files:
                if not f.exists():
                    raise ConfigError(
                        f"[[pair]] {k + 1} {key}: {f} not found", path=cfg, hint="fix the path"
                    )
            scenes.append(
                open_scene(
                    [str(f) for f in files] if len(files) > 1 else str(files[0]),
                    sensor=item.get("sensor"),
                    date=item.get(f"date_{key}"),
                    chunks=None,
                )
            )
        truth = _layer(base / item["truth"], "truth", cfg)
        ignore = _layer(base / item["ignore"], "ignore", cfg) if "ignore" in item else None
        if "bounds" in item:  # rasters cut to the window; vector labels are cut by the grid
            rasters = [*scenes, *(x for x in (truth, ignore) if isinstance(x, DataArray))]
            cut = iter(_cut(rasters, item["bounds"], k, cfg))
            scenes = [next(cut), next(cut)]
            truth, ignore = (next(cut) if isinstance(x, DataArray) else x
                             for x in (truth, ignore))
        pairs.append(
            LabelledPair(scenes[0], scenes[1], truth, ignore, name=item.get("name", item["truth"]))
        )
    if not pairs:
        raise ConfigError(
            "no [[pair]] tables: nothing to train on",
            path=cfg,
            hint="list labelled pairs as [[pair]] before/after/truth",
        )
    opts = {**opts, "out": base / opts["out"]}
    return opts, pairs


def train_from_config(
    config: str | Path, progress: Callable[[str, int, int], None] | None = None
) -> tuple[ChangeModel, Path]:
    """Train as *config* says and write the model file; returns the model and its path."""
    opts, pairs = load_pairs(config)
    kwargs = {k: opts[k] for k in sorted(_TRAIN_KEYS - {"out"}) if k in opts}  # the options
    model = train_change_model(pairs, progress=progress, **kwargs)
    return model, model.save(opts["out"])


def validation_table(model: ChangeModel) -> str:
    """The model's own out-of-fold validation as a small text table."""
    v = model.header["validation"]
    rows = [
        ("pixel precision", v["pixel_precision"]),
        ("pixel recall", v["pixel_recall"]),
        ("pixel F1", v["pixel_f1"]),
        ("pixel threshold", model.threshold),
        ("patch threshold", model.patch_threshold),
    ]
    if isinstance(v.get("patch"), dict):
        rows += [
            ("candidate patches", v["patch"]["candidates"]),
            ("real candidates", v["patch"]["real"]),
            ("pixel F1 after patch stage", v.get("pixel_f1_after_patches")),
        ]
    if isinstance(v.get("objects"), dict):
        rows += [
            ("thresholds chosen by", v.get("selected_by")),
            ("real leads (>= 30 % on change)", v["objects"]["lead_precision"]),
            ("true sites found", v["objects"]["site_recall"]),
            ("object F1", v["objects"]["object_f1"]),
        ]
    sc = model.screen
    if sc is not None:
        rows.append(
            (
                "pre-screen (learned)",
                f"level {sc['level']:.3g}, keeps {100 * sc['oof_pixels_kept']:.1f} % of pixels, "
                f"recall -{sc['oof_recall_cost']:.4f}, pixel F1 {sc['oof_f1_with_screen']}",
            )
        )
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
