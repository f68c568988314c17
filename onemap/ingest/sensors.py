"""Sensor presets: which band of a file (or which band file) is which canonical band.

A scene's ``band`` coordinate holds lower-case canonical names (``blue green red nir swir1 swir2
...``) so that code downstream asks for ``"nir"`` and never for "band 4" (Landsat TM) or
"band 8" (Sentinel-2). A :class:`SensorPreset` maps

* the 1-based band index of a multi-band stack (``bands``, in file order), and
* the suffix of a per-band file name (``..._B08.tif``, ``..._B5.TIF``)

to those names. Presets: ``gf1``, ``gf2``, ``gf6`` (PMS multispectral), ``sentinel2``,
``landsat8``, ``landsat9`` (OLI), ``landsat5``, ``landsat7`` (TM / ETM+ 6-band reflective stack),
``rgb`` and ``rgbn``. Aliases such as ``"s2"``, ``"landsat_tm"`` or ``"GF-2"`` are accepted by
:func:`sensor_preset`.

Examples
--------
>>> sensor_preset("landsat_tm").bands
('blue', 'green', 'red', 'nir', 'swir1', 'swir2')
>>> p = sensor_preset("sentinel2")
>>> p.band_for_suffix("B08"), p.band_for_suffix("b8a"), p.resolution["swir1"]
('nir', 'nir08', 20.0)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigError, DataError

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["SensorPreset", "SENSORS", "sensor_preset", "guess_sensor", "guess_date", "band_index"]


@dataclass(frozen=True)
class SensorPreset:
    """Band names of one sensor.

    Parameters
    ----------
    name
        Canonical preset name (the value of a scene's ``attrs["sensor"]``).
    description
        Human-readable sensor name.
    bands
        Canonical band names of the sensor's usual multi-band stack, in file order (band 1 first).
    suffixes
        Band file-name suffix (``"B08"``) -> canonical name, for per-band files.
    resolution
        Native ground resolution in metres of each canonical band.
    """

    name: str
    description: str
    bands: tuple[str, ...]
    suffixes: Mapping[str, str] = field(default_factory=dict)
    resolution: Mapping[str, float] = field(default_factory=dict)

    def band_for_suffix(self, suffix: str) -> str | None:
        """Canonical name of a band file suffix (``B02``, ``b2``, ``B8A``), or None."""
        key = _norm_suffix(suffix)
        for s, band in self.suffixes.items():
            if _norm_suffix(s) == key:
                return band
        return None


def _norm_suffix(s: str) -> str:
    # "B02" and "B2" name the same band; "B8A" stays itself
    m = re.fullmatch(r"([A-Za-z]+)0*(\d+[A-Za-z]?)", s.strip())
    return (m.group(1) + m.group(2)).upper() if m else s.strip().upper()


_GF_BANDS = ("blue", "green", "red", "nir")
_S2 = {
    "B01": ("coastal", 60.0), "B02": ("blue", 10.0), "B03": ("green", 10.0), "B04": ("red", 10.0),
    "B05": ("rededge1", 20.0), "B06": ("rededge2", 20.0), "B07": ("rededge3", 20.0),
    "B08": ("nir", 10.0), "B8A": ("nir08", 20.0), "B09": ("water_vapour", 60.0),
    "B10": ("cirrus", 60.0), "B11": ("swir1", 20.0), "B12": ("swir2", 20.0),
}
_OLI = {
    "B1": ("coastal", 30.0), "B2": ("blue", 30.0), "B3": ("green", 30.0), "B4": ("red", 30.0),
    "B5": ("nir", 30.0), "B6": ("swir1", 30.0), "B7": ("swir2", 30.0),
    # per-band Landsat products also ship these; not part of the reflective stack
    "B8": ("pan", 15.0), "B9": ("cirrus", 30.0), "B10": ("tirs1", 100.0), "B11": ("tirs2", 100.0),
}
# TM / ETM+ band 6 is thermal, so the 6-band reflective stack is bands 1-5 and 7
_TM = {
    "B1": ("blue", 30.0), "B2": ("green", 30.0), "B3": ("red", 30.0), "B4": ("nir", 30.0),
    "B5": ("swir1", 30.0), "B7": ("swir2", 30.0), "B6": ("thermal", 120.0),
}


def _preset(
    name: str, description: str, table: dict[str, tuple[str, float]], stack: tuple[str, ...]
) -> SensorPreset:
    return SensorPreset(name, description, stack, {k: v[0] for k, v in table.items()},
                        {v[0]: v[1] for v in table.values()})


def _gf(n: int, res: float) -> SensorPreset:
    table = {f"B{i + 1}": (b, res) for i, b in enumerate(_GF_BANDS)}
    return _preset(f"gf{n}", f"GF-{n} PMS multispectral", table, _GF_BANDS)


#: every preset by canonical name
SENSORS: dict[str, SensorPreset] = {
    p.name: p
    for p in [
        _gf(1, 8.0),
        _gf(2, 3.2),
        _gf(6, 8.0),
        _preset("sentinel2", "Sentinel-2 MSI", _S2, tuple(v[0] for v in _S2.values())),
        _preset("landsat8", "Landsat 8 OLI", _OLI, tuple(v[0] for v in list(_OLI.values())[:7])),
        _preset("landsat9", "Landsat 9 OLI-2", _OLI, tuple(v[0] for v in list(_OLI.values())[:7])),
        _preset("landsat5", "Landsat 5 TM", _TM, tuple(v[0] for v in list(_TM.values())[:6])),
        _preset("landsat7", "Landsat 7 ETM+", _TM, tuple(v[0] for v in list(_TM.values())[:6])),
        SensorPreset("rgb", "3-band RGB image", ("red", "green", "blue")),
        SensorPreset("rgbn", "4-band RGB + NIR image", ("red", "green", "blue", "nir")),
    ]
}

_ALIASES = {
    "s2": "sentinel2", "sentinel-2": "sentinel2", "s2a": "sentinel2", "s2b": "sentinel2",
    "s2c": "sentinel2", "msi": "sentinel2",
    "l8": "landsat8", "lc08": "landsat8", "oli": "landsat8", "landsat_oli": "landsat8",
    "l9": "landsat9", "lc09": "landsat9",
    "l5": "landsat5", "lt05": "landsat5", "tm": "landsat5", "landsat_tm": "landsat5",
    "l7": "landsat7", "le07": "landsat7", "etm": "landsat7", "etm+": "landsat7",
    "landsat_etm": "landsat7",
    "gf1_pms": "gf1", "gf2_pms": "gf2", "gf6_pms": "gf6",
}


def sensor_preset(name: str | SensorPreset) -> SensorPreset:
    """The preset called *name* (case-insensitive; ``-`` and spaces ignored; aliases accepted).

    Examples
    --------
    >>> sensor_preset("GF-2").name, sensor_preset("Landsat 8").bands[4]
    ('gf2', 'nir')
    """
    if isinstance(name, SensorPreset):
        return name
    key = str(name).strip().lower()
    for cand in (key, key.replace(" ", "_"), key.replace("-", "").replace(" ", ""),
                 key.replace("-", "_").replace(" ", "_")):
        cand = _ALIASES.get(cand, cand)
        if cand in SENSORS:
            return SENSORS[cand]
    raise ConfigError(
        f"unknown sensor {name!r}",
        hint=(f"use one of {', '.join(SENSORS)} or pass bands={{index: name}} to name bands "
              "yourself"),
    )


# (pattern on a file name or sensor tag, preset); first match wins
_NAME_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"(?:^|[^A-Z0-9])S2[ABC]_|MSIL1C|MSIL2A|(?:^|_)T\d{2}[A-Z]{3}_\d{8}T\d{6}", re.I
        ),
        "sentinel2",
    ),
    (re.compile(r"(?:^|[^A-Z0-9])L[CO]09_", re.I), "landsat9"),
    (re.compile(r"(?:^|[^A-Z0-9])L[CO]08_", re.I), "landsat8"),
    # collection names (LE07_...), pre-collection ids (LE7...) and NLAPS ids (L71119038_038YYYYMMDD)
    (
        re.compile(
            r"(?:^|[^A-Z0-9])(?:LE07_|LE7\d{13}|L7\d{7}_\d{11})|Landsat[ _-]?(?:7|ETM)", re.I
        ),
        "landsat7",
    ),
    (
        re.compile(
            r"(?:^|[^A-Z0-9])(?:LT05_|LT5\d{13}|L5\d{7}_\d{11})|Landsat[ _-]?(?:5|TM\b)", re.I
        ),
        "landsat5",
    ),
    (re.compile(r"(?:^|[^A-Z0-9])GF1_PMS", re.I), "gf1"),
    (re.compile(r"(?:^|[^A-Z0-9])GF2_PMS", re.I), "gf2"),
    (re.compile(r"(?:^|[^A-Z0-9])GF6_PMS", re.I), "gf6"),
]


def guess_sensor(*texts: str) -> str | None:
    """Preset name recognised in file names or sensor tags, or None.

    Examples
    --------
    >>> (guess_sensor("T31UDQ_20170829T105019_B02.tif"),
    ...  guess_sensor("LC08_L1TP_224077_20200518_B5.TIF"))
    ('sentinel2', 'landsat8')
    >>> (guess_sensor("GF2_PMS1_E113.5_N23.1_20200101_L1A0004500001-MSS1.tiff"),
    ...  guess_sensor("scene.tif"))
    ('gf2', None)
    """
    for text in texts:
        for pattern, name in _NAME_PATTERNS:
            if text and pattern.search(text):
                return name
    return None


# NLAPS Landsat ids carry the date after the path/row: L71119038_038 20000317
_LANDSAT_NLAPS = re.compile(r"(?<![A-Z0-9])L\d{8}_\d{3}(\d{8})(?!\d)", re.I)
_YYYYMMDD = re.compile(r"(?<!\d)((?:19|20)\d{6})(?:T\d{6})?(?!\d)")
_ISO_LIKE = re.compile(r"(?<!\d)((?:19|20)\d\d)[-/:.](\d\d)[-/:.](\d\d)(?!\d)")


def guess_date(text: str) -> str | None:
    """First valid calendar date in *text* as ISO ``YYYY-MM-DD``, or None.

    Recognises ``YYYYMMDD`` (optionally followed by ``THHMMSS`` as in Sentinel-2 names),
    ``YYYY-MM-DD`` / ``YYYY:MM:DD`` / ``YYYY/MM/DD``, and NLAPS Landsat ids
    (``L71119038_03820000317``).
    Digit runs that are not a valid date (or are part of a longer number) are skipped.

    Examples
    --------
    >>> guess_date("S2A_OPER_MSI_L1C_TL_MPS__20161130T130757_A007527_T31UDQ_B01.tif")
    '2016-11-30'
    >>> guess_date("LC08_L1TP_224077_20200518_20200518_01_RT_B2.TIF"), guess_date("2000TM")
    ('2020-05-18', None)
    >>> guess_date("Band 4:L71119038_03820000317_MTL.txt"), guess_date("2019:07:04 10:00:00")
    ('2000-03-17', '2019-07-04')
    """
    import datetime as _dt

    candidates: list[tuple[int, str, str, str]] = []
    for m in _LANDSAT_NLAPS.finditer(text):
        d = m.group(1)
        candidates.append((m.start(), d[:4], d[4:6], d[6:]))
    for m in _YYYYMMDD.finditer(text):
        d = m.group(1)
        candidates.append((m.start(), d[:4], d[4:6], d[6:]))
    for m in _ISO_LIKE.finditer(text):
        candidates.append((m.start(), m.group(1), m.group(2), m.group(3)))
    for _, y, mo, d in sorted(candidates):
        try:
            return _dt.date(int(y), int(mo), int(d)).isoformat()
        except ValueError:
            continue
    return None


def band_index(scene: xr.DataArray, name: str) -> int:
    """0-based position of band *name* in a scene's ``band`` coordinate.

    *name* is a canonical name (``"nir"``) or, when the scene's sensor is known, a band file
    suffix of that sensor (``"B08"`` for Sentinel-2, ``"B4"`` for Landsat TM).

    Raises
    ------
    DataError
        The band is not in the scene; the message lists the bands it has.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> scene = xr.DataArray(np.zeros((4, 2, 2)), dims=("band", "y", "x"),
    ...                      coords={"band": ["blue", "green", "red", "nir"]},
    ...                      attrs={"sensor": "gf2"})
    >>> band_index(scene, "nir"), band_index(scene, "B3")
    (3, 2)
    >>> band_index(scene, "swir1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    onemap.errors.DataError: feature swir1: scene has no band 'swir1'; bands available: ...
    """
    names = [str(b) for b in scene.coords["band"].values] if "band" in scene.coords else []
    key = str(name)
    if key in names:
        return names.index(key)
    if key.lower() in names:
        return names.index(key.lower())
    sensor = scene.attrs.get("sensor") if hasattr(scene, "attrs") else None
    if sensor:
        try:
            canonical = sensor_preset(sensor).band_for_suffix(key)
        except ConfigError:
            canonical = None
        if canonical in names:
            return names.index(canonical)
    raise DataError(
        f"scene has no band {key!r}; bands available: {', '.join(names) or '(none)'}",
        feature=key,
        hint="open the scene with the right sensor= (or bands={index: name}) so bands are named",
    )
