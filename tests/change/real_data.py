"""Loaders of the real two-date change samples in ``../shared/data/change`` and pixel metrics.

Shared by ``tests/change/test_real_change.py`` (accuracy floors) and
``benchmarks/eval_change.py`` (the table in ``benchmarks/README.md``). Every loader returns a
:class:`Pair`: two scenes on one georeferenced grid, the truth mask and the mask of pixels the
truth speaks about (Taizhou labels only some pixels as changed or certainly unchanged).

Besides the shared samples' fixed lists (:data:`OSCD_CITIES`, :data:`SZTAKI_PAIRS`, the tests'
floors), :func:`discover` finds every pair a data folder laid out the same way holds (more OSCD
cities, other SZTAKI sites, other Landsat sites): what ``benchmarks/train_models.py`` trains on.

* OSCD: Sentinel-2 B02/B03/B04/B08 (the four GF-2 bands) through :func:`onemap.open_scene`,
  native uint16, EPSG:4326 as shipped; truth ``cm/<city>-cm.tif`` (2 = change).
* Taizhou: Landsat ETM+ 6-band ENVI (uint8, UTM 51N) through ``open_scene``; truth
  ``change.bmp`` (255), evaluated on ``change | unchanged``.
* LEVIR (0.5 m) and SZTAKI Szada (1.5 m): RGB images without georeferencing, put on a frame in
  a local transverse Mercator CRS at the stated resolution.
"""

from __future__ import annotations

import glob
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from PIL import Image

from onemap import Frame, open_scene

OSCD_CITIES = ("aguasclaras", "bercy", "bordeaux", "nantes", "paris", "rennes")
SZTAKI_PAIRS = tuple(range(1, 8))
LOCAL_CRS = "+proj=tmerc +lat_0=0 +lon_0=0 +k=1 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m +no_defs"


@dataclass
class Pair:
    name: str
    before: xr.DataArray
    after: xr.DataArray
    truth: np.ndarray  # bool, True = change
    valid: np.ndarray  # bool, True = labelled pixel

    @property
    def frame(self) -> Frame:
        return Frame.from_xarray(self.before)


def _first(pattern: str) -> str:
    hits = sorted(glob.glob(pattern))
    if not hits:
        raise FileNotFoundError(pattern)
    return hits[0]


def oscd(root: Path, city: str) -> Pair:
    d = root / "change" / "oscd" / city
    scenes = []
    for sub, date_file in (("imgs_1", "date_1"), ("imgs_2", "date_2")):
        files = [_first(str(d / sub / f"*_{b}.tif")) for b in ("B02", "B03", "B04", "B08")]
        dates = dict(line.split(":") for line in (d / "dates.txt").read_text().split("\n") if ":" in line)
        scenes.append(open_scene(files, sensor="sentinel2", masked=False, date=dates[date_file].strip()))
    import rasterio

    with warnings.catch_warnings():  # the label raster has no georeferencing: it is on imgs_1's grid
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(d / "cm" / f"{city}-cm.tif") as src:
            cm = src.read(1)
    truth = cm == 2
    return Pair(f"oscd/{city}", scenes[0], scenes[1], truth, np.ones_like(truth))


TAIZHOU_DATES = {"2000TM": "2000-03-17", "2003TM": "2003-02-06"}


def taizhou(root: Path) -> Pair:
    return landsat(root, "Taizhou")


def landsat(root: Path, site: str) -> Pair:
    """A Landsat site laid out as Taizhou: two ENVI images (``NAME`` + ``NAME.HDR``, earlier
    name first), ``change.bmp`` and, when given, ``unchanged.bmp`` (then only the pixels of
    either are labelled)."""
    d = root / "change" / "landsat" / site
    images = _envi_images(d)
    if len(images) != 2:
        raise FileNotFoundError(f"{d}: {len(images)} ENVI images (NAME + NAME.HDR), want 2")
    before, after = (open_scene(str(p), sensor="landsat7", masked=False,
                                date=TAIZHOU_DATES.get(p.name)) for p in images)
    change = _mask(_first(str(d / "change.[bB][mM][pP]")))
    known = glob.glob(str(d / "unchanged.[bB][mM][pP]"))
    valid = change | _mask(known[0]) if known else np.ones_like(change)
    return Pair(f"landsat/{site.lower()}", before, after, change, valid)


def _envi_images(d: Path) -> list[Path]:
    """The ENVI images of a folder: ``NAME`` or ``NAME.img`` beside ``NAME[.img].hdr``."""
    def has_header(p: Path) -> bool:
        return any(h.is_file() for ext in (".HDR", ".hdr")
                   for h in (d / (p.name + ext), p.with_suffix(ext)))

    return sorted(p for p in d.iterdir() if p.is_file()
                  and p.suffix.lower() in ("", ".img", ".dat", ".bsq", ".bil", ".bip")
                  and has_header(p))


def _rgb_scene(path: str, frame: Frame, date: str) -> xr.DataArray:
    with Image.open(path) as im:
        arr = np.array(im.convert("RGB"))
    data = np.ascontiguousarray(np.moveaxis(arr, -1, 0))
    da = xr.DataArray(data, dims=("band", "y", "x"), coords={"band": ["red", "green", "blue"], **frame.coords()},
                      attrs={"date": date, "sensor": "rgb", "nodata": None})
    return da.rio.write_crs(frame.crs).rio.write_transform(frame.transform)


def _mask(path: str) -> np.ndarray:
    with Image.open(path) as im:
        m = np.array(im.convert("L"))
    return m > 127  # SZTAKI masks carry stray grey pixels


def _local_frame(shape: tuple[int, int], res: float) -> Frame:
    from affine import Affine

    return Frame(LOCAL_CRS, Affine(res, 0.0, 500_000.0, 0.0, -res, 4_000_000.0), shape)


def levir_names(root: Path) -> list[str]:
    return sorted(Path(p).stem for p in glob.glob(str(root / "change" / "levir" / "label" / "*.png")))


def levir(root: Path, name: str) -> Pair:
    d = root / "change" / "levir"
    truth = _mask(str(d / "label" / f"{name}.png"))
    frame = _local_frame(truth.shape, 0.5)
    return Pair(f"levir/{name}", _rgb_scene(str(d / "A" / f"{name}.png"), frame, "before"),
                _rgb_scene(str(d / "B" / f"{name}.png"), frame, "after"), truth, np.ones_like(truth))


def sztaki(root: Path, pair: int, site: str = "Szada") -> Pair:
    d = root / "change" / "sztaki" / site / str(pair)
    find = lambda stem: _first(str(d / f"{stem}.[bB][mM][pP]"))  # noqa: E731 (mixed-case extensions)
    truth = _mask(find("gt"))
    frame = _local_frame(truth.shape, 1.5)
    return Pair(f"sztaki/{site.lower()}{pair}", _rgb_scene(find("im1"), frame, "before"),
                _rgb_scene(find("im2"), frame, "after"), truth, np.ones_like(truth))


def discover(root: Path) -> dict[str, list]:
    """Every pair under ``root / "change"``, by dataset, as loaders (called when needed: a
    large folder is not read at once): OSCD cities (a folder with ``imgs_1``, ``imgs_2`` and
    ``cm/<city>-cm.tif``), SZTAKI pairs of every site (``<site>/<n>/gt.bmp``), LEVIR crops
    (``label/*.png``), Landsat sites (two ENVI images and ``change.bmp``)."""
    from functools import partial

    base = root / "change"

    def dirs(d: Path) -> list[Path]:
        return sorted(p for p in d.iterdir() if p.is_dir()) if d.is_dir() else []

    oscd_dirs = [d for d in dirs(base / "oscd")
                 if (d / "cm" / f"{d.name}-cm.tif").is_file() and (d / "imgs_2").is_dir()]
    szt = [(site.name, int(d.name)) for site in dirs(base / "sztaki") for d in dirs(site)
           if d.name.isdigit() and glob.glob(str(d / "gt.[bB][mM][pP]"))]
    sites = [d.name for d in dirs(base / "landsat")
             if glob.glob(str(d / "change.[bB][mM][pP]")) and len(_envi_images(d)) == 2]
    return {
        "oscd": [partial(oscd, root, d.name) for d in oscd_dirs],
        "sztaki": [partial(sztaki, root, n, site) for site, n in sorted(szt)],
        "levir": [partial(levir, root, n) for n in levir_names(root)],
        "landsat": [partial(landsat, root, s) for s in sites],
    }


def all_pairs(root: Path) -> dict[str, list[Pair]]:
    """Every sample pair by dataset."""
    return {
        "OSCD (S2, 4 bands)": [oscd(root, c) for c in OSCD_CITIES],
        "Taizhou (Landsat, 6 bands)": [taizhou(root)],
        "SZTAKI Szada (aerial RGB)": [sztaki(root, i) for i in SZTAKI_PAIRS],
        "LEVIR-CD (RGB 0.5 m)": [levir(root, n) for n in levir_names(root)],
    }


def predicted_mask(patches, frame: Frame) -> np.ndarray:
    """Rasterise patch polygons onto the frame (pixel centres), as the detector's pixel output."""
    from rasterio import features

    if len(patches) == 0:
        return np.zeros(frame.shape, bool)
    return features.rasterize(((g, 1) for g in patches.geometry), out_shape=frame.shape,
                              transform=frame.transform, fill=0, dtype="uint8").astype(bool)


def confusion(pred: np.ndarray, pair: Pair) -> np.ndarray:
    """``[tp, fp, fn, tn]`` over the labelled pixels."""
    p, t = pred[pair.valid], pair.truth[pair.valid]
    return np.array([(p & t).sum(), (p & ~t).sum(), (~p & t).sum(), (~p & ~t).sum()], np.int64)


def prf(counts: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall, F1 of summed confusion counts (NaN when undefined)."""
    tp, fp, fn = (float(v) for v in counts[:3])
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * p * r / (p + r) if (tp + fp) and (tp + fn) and p + r > 0 else (0.0 if tp + fn else float("nan"))
    return p, r, f
