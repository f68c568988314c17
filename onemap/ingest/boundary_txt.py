"""Land-boundary coordinate exchange TXT: reader and writer.

The format is 勘测定界界址点坐标交换格式, known as "报部格式".

The format (``shared/domain/boundary_txt.md``)::

    [属性描述]
    坐标系=2000国家大地坐标系
    几度分带=3
    带号=39
    ...
    [地块坐标]
    界址点数,地块面积,地块编号,地块名称,图形属性,图幅号,地块用途,地类编码,@
    点号,圈号,X(northing),Y(zone-prefixed easting)
    ...

:func:`read_boundary_txt` reads what real land bureaus produce (GBK or UTF-8/16, any line ends,
full-width brackets and punctuation, rings that are holes or further parts, closing points under
new names, swapped X/Y, wrong 带号) and says what it repaired; anything else raises an
:class:`~onemap.errors.OnemapError` naming the file, the line and the fix — never another
exception (a seeded fuzz run over mutated real files checks this). :func:`write_boundary_txt`
writes layers back (atomically) in the form the ministry expects.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from ..errors import (
    CRSError,
    EncodingError,
    FormatError,
    Repair,
    report_repairs,
)
from . import _boundary_txt_common as fmt
from ._boundary_txt_attributes import drop_duplicates, parcel_row, warn_areas
from ._boundary_txt_common import Parcel
from ._boundary_txt_crs import plane_areas, resolve_crs, swapped_points
from ._boundary_txt_geometry import (
    check_point_count,
    parcel_geometry,
    ring_groups,
)
from ._boundary_txt_parse import SECTIONS_HINT, check_parcels, parse_text
from ._boundary_txt_writer import write_boundary_txt
from .encoding import decode_text

__all__ = ["read_boundary_txt", "write_boundary_txt"]

# a point repeats another (closing point under any name, duplicate): 1 µm, or ~1 cm in degrees
_SAME_POINT = {False: 1e-6, True: 1e-7}

@dataclass
class _Document:
    """Everything read from one file, before it becomes a GeoDataFrame."""

    header: dict[str, str]
    parcels: list[Parcel]
    geoms: list[Any]
    rows: list[dict[str, Any]]
    crs: CRS
    crs_source: str
    encoding: str
    repairs: list[Repair]
    plane_area: np.ndarray
    matched: list[tuple[str | None, str]]


def read_boundary_txt(
    path: str | PathLike | BinaryIO,
    *,
    encoding: str | None = None,
    crs: Any = None,
    zone: int | None = None,
) -> gpd.GeoDataFrame:
    """Read a land-boundary coordinate exchange TXT file into one row per parcel.

    Parameters
    ----------
    path
        The ``.txt`` file, or a binary file object (``io.BytesIO``; messages name its ``name``
        attribute, else ``<bytes>``).
    encoding
        Text encoding; detected when ``None`` (BOM -> strict UTF-8 -> GBK/GB18030, see
        :mod:`onemap.ingest.encoding`).
    crs
        CRS of the coordinates (anything :func:`onemap.crs.as_crs` accepts); overrides the header.
    zone
        Gauss-Kruger zone number; overrides 带号 and the easting prefix (datum and zone width
        still come from the header or the prefix).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``parcel_id``, ``name``, ``point_count`` (declared 界址点数), ``declared_area``
        (地块面积 as written), ``shape_type``, ``sheet``, ``use``, ``landuse_code``, ``extra_1``...
        (further parcel-line fields), ``plane_area`` (computed plane Gauss area, m²),
        ``area_unit`` (``'m2'``, ``'ha'`` or ``None``: the unit in which the declared area
        matches the plane area within ``max(1e-3 × area, 2 m², half a unit of its last written
        decimal)``), ``area_check`` (``'ok'``, ``'mismatch'``, ``'missing'``) and ``geometry``
        (valid Polygon/MultiPolygon, exteriors counter-clockwise, holes clockwise). ``attrs`` holds
        ``header`` (dict of header keys, variants mapped to the canonical names), ``encoding``,
        ``repairs`` (list of :class:`~onemap.errors.Repair`), ``crs_source`` and ``source``.

    Notes
    -----
    Repairs (each reported in ``attrs["repairs"]`` and one :class:`~onemap.errors.RepairWarning`):

    * byte-order marks and zero-width spaces inside the text (concatenated exports) are dropped.
      (Text without byte-order mark that is not UTF-8 is read as GBK/GB18030, the format's normal
      encoding: not a repair, ``attrs["encoding"]`` says which);
    * full-width '，' between fields, full-width digits, '．', '＠' and '＝'/'：' in the header are
      read as their ASCII forms;
    * X (first coordinate) is the northing, Y the easting: points whose X looks like a zone-prefixed
      easting and Y like a northing are swapped back (the prefix makes this unambiguous);
    * rings are grouped by 圈号 (rings written out of numeric order are accepted); a ring whose
      last point repeats the first coordinates (under any name) is closed, other rings are closed
      back to their first point; repeated consecutive points are dropped; self-intersecting rings
      are repaired with ``make_valid``. Rings 2.. are holes or further parts by containment: a
      ring inside an odd number of other rings is a hole of the smallest one, else a part;
    * 界址点数 counts closing points in some files and not in others (both accepted silently);
      other differences are reported, the point lines win;
    * an empty 坐标系 is taken as CGCS2000; a 带号 that disagrees with the eastings' zone prefix
      gives way to the prefix; a 带号 holding the central meridian (``117``) is converted;
    * a parcel listed twice with the same 地块编号 and geometry is kept once; different parcels
      sharing a 地块编号 are both kept and reported.

    Declared areas that match neither m² nor ha give an :class:`~onemap.errors.OnemapWarning`.

    Raises
    ------
    FormatError
        Malformed input, with the 1-based line number and a fix: empty file, no ``[地块坐标]``,
        a point line with the wrong number of fields or a non-numeric coordinate, a ring whose
        points are split by another ring, a parcel that lost point lines (declares more points
        than it has and leaves a ring open: a truncated file). :class:`~onemap.errors.EncodingError`
        for undecodable bytes, NUL bytes and binary data.
    GeometryError
        A ring with fewer than 3 distinct points or zero area.
    CRSError
        No zone anywhere, an unknown 坐标系, eastings from different zones (within a parcel or
        across parcels), or coordinates that fit neither Gauss-Kruger metres nor degrees.

    Examples
    --------
    >>> import tempfile, os
    >>> text = ("[属性描述]\\r\\n坐标系=2000国家大地坐标系\\r\\n几度分带=3\\r\\n"
    ...         "带号=39\\r\\n[地块坐标]\\r\\n"
    ...         "5,0.0100,1,示例,面,,,,@\\r\\n"
    ...         "J1,1,3300000,39500000\\r\\nJ2,1,3300000,39500100\\r\\n"
    ...         "J3,1,3300001,39500100\\r\\nJ4,1,3300001,39500000\\r\\nJ1,1,3300000,39500000\\r\\n")
    >>> p = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with open(p, "wb") as f:
    ...     _ = f.write(text.encode("utf-8"))
    >>> gdf = read_boundary_txt(p)
    >>> (gdf.crs.to_epsg(), gdf.attrs["encoding"], float(gdf.loc[0, "plane_area"]),
    ...  gdf.loc[0, "area_unit"])
    (4527, 'utf-8', 100.0, 'ha')
    >>> import io
    >>> read_boundary_txt(io.BytesIO(text.encode("utf-8"))).attrs["source"]
    '<bytes>'
    """
    data, source = _source_bytes(path)
    doc = read_document(data, source, encoding=encoding, crs=crs, zone=zone)
    gdf = _frame(doc)
    gdf.attrs.update(
        header=doc.header,
        encoding=doc.encoding,
        repairs=doc.repairs,
        crs_source=doc.crs_source,
        source=str(source),
    )
    report_repairs(doc.repairs)
    return gdf


def _source_bytes(path: str | PathLike | BinaryIO) -> tuple[bytes, Path]:
    if hasattr(path, "read"):
        data = path.read()
        if not isinstance(data, (bytes, bytearray)):
            raise FormatError(
                "the file object gives text, not bytes",
                path=getattr(path, "name", None),
                hint="open the file in binary mode ('rb') or pass its path",
            )
        return bytes(data), Path(str(getattr(path, "name", "<bytes>")))
    if not isinstance(path, (str, PathLike)):
        raise FormatError(
            f"expected a file path or a binary file object, got {type(path).__name__}",
            hint="pass the path of the .txt file",
        )
    path = Path(path)
    try:
        return path.read_bytes(), path
    except FileNotFoundError:
        raise FormatError("file not found", path=path, hint="check the path") from None
    except IsADirectoryError:
        raise FormatError(
            "is a folder, not a file",
            path=path,
            hint="pass a .txt file (onemap.read_boundary_files reads a folder of them)",
        ) from None
    except OSError as exc:  # permissions, a broken network share, ...
        raise FormatError(
            f"cannot read the file ({exc.strerror or exc})",
            path=path,
            hint="check that the file is readable (permissions, network drive)",
        ) from exc


def read_document(data: bytes, path: Path, *, encoding: str | None = None, crs: Any = None,
                  zone: int | None = None) -> _Document:
    """Decode, parse and check *data* (the bytes of *path*): all of the reader but the GeoDataFrame.

    Warnings are issued here; repairs are collected in the result, not yet reported. Raises only
    :class:`~onemap.errors.OnemapError` subclasses, whatever the bytes.
    """
    if encoding is not None and not isinstance(encoding, str):
        raise EncodingError(
            f"encoding must be a codec name, got {encoding!r}",
            path=path,
            hint=("pass encoding='gbk', 'gb18030', 'utf-8' or 'utf-16', or leave it out to "
                  "detect it"),
        )
    if zone is not None and (isinstance(zone, bool) or not isinstance(zone, (int, np.integer))):
        raise CRSError(f"zone must be a whole zone number, got {zone!r}", path=path,
                       hint="pass e.g. zone=39 (3°: 25-45, 6°: 13-23 in China)")
    if not data.strip():
        raise FormatError("the file is empty", path=path, line=1, hint=SECTIONS_HINT)
    text, used = decode_text(data, path=path, encoding=encoding)
    # GBK/GB18030 without a byte-order mark is the format's normal encoding, not a repair: the
    # codec used is in attrs["encoding"] (a wrong guess shows as garbled names; encoding= fixes it)
    repairs: list[Repair] = []
    text = text.rstrip("\x1a")  # DOS end-of-file mark
    if not text.strip():
        raise FormatError("the file holds no text", path=path, line=1, hint=SECTIONS_HINT)
    header, parcels, header_lines, last_line = parse_text(text, path, repairs)
    check_parcels(parcels, path)
    swapped_points(parcels, path, repairs)
    # lost point lines before the CRS: a truncated file shows up as odd coordinates and zones too
    groups = [ring_groups(parcel, path, repairs) for parcel in parcels]
    for parcel, rings in zip(parcels, groups, strict=True):
        check_point_count(parcel, rings, path, repairs, min(_SAME_POINT.values()), last_line)
    zone_lines = (
        header_lines if crs is None and zone is None else {}
    )  # else the arguments are at fault
    with _crs_errors_name(path, zone_lines):
        crs_, crs_source = resolve_crs(
            header, header_lines, parcels, path, repairs, crs=crs, zone=zone
        )
    tol = _SAME_POINT[bool(crs_.is_geographic)]
    geoms = [
        parcel_geometry(parcel, rings, path, repairs, tol)
        for parcel, rings in zip(parcels, groups, strict=True)
    ]
    rows = [parcel_row(parcel, path) for parcel in parcels]
    parcels, geoms, rows = drop_duplicates(parcels, geoms, rows, path, repairs)
    with _crs_errors_name(path, zone_lines):
        plane = plane_areas(geoms, crs_, path)
    if not np.isfinite(plane).all():
        i = int(np.flatnonzero(~np.isfinite(plane))[0])
        raise CRSError(
            f"parcel {parcels[i].label} has no plane area in {crs_.name!r}: its coordinates lie "
            "outside that CRS",
            path=path,
            line=parcels[i].line,
            hint="check 计量单位 (米 or 度) and the crs= argument against the coordinates",
        )
    matched = [
        fmt.match_area_unit(r["declared_area"], r.pop("_area_decimals"), s)
        for r, s in zip(rows, plane, strict=True)
    ]
    warn_areas(parcels, rows, plane, matched, path)
    return _Document(header, parcels, geoms, rows, crs_, crs_source, used, repairs, plane, matched)


@contextmanager
def _crs_errors_name(path: Path, header_lines: dict[str, int]):
    """CRSErrors of the CRS helpers (a zone that does not exist, ...), naming file and 带号."""
    try:
        yield
    except CRSError as exc:
        if exc.path is not None:
            raise
        raise CRSError(
            exc.message,
            path=path,
            line=exc.line or header_lines.get("带号"),
            hint=exc.hint
            or "check 带号 and 几度分带 (3°: zones 25-45, 6°: 13-23 in China), "
            "or pass zone= or crs=",
        ) from exc


# ---------------------------------------------------------------------------------------------
# the frame

def _text_column(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _object_series(values: list) -> pd.Series:
    """Text with ``None`` for missing values (pandas would otherwise infer ``str`` with NaN)."""
    return pd.Series(_text_column(values), dtype=object, copy=False)


def _frame(doc: _Document) -> gpd.GeoDataFrame:
    """The result in reader column order (typed columns built directly: the reader is fast)."""
    rows = doc.rows
    extras = sorted(
        {k for r in rows for k in r if k.startswith("extra_")}, key=lambda c: int(c[6:])
    )
    columns: dict[str, Any] = {
        key: _object_series([r[key] for r in rows]) for key in ("parcel_id", "name")
    }
    columns["point_count"] = pd.array([r["point_count"] for r in rows], dtype="Int64")
    columns["declared_area"] = np.array(
        [np.nan if r["declared_area"] is None else r["declared_area"] for r in rows],
        dtype="float64",
    )
    for key in ("shape_type", "sheet", "use", "landuse_code", *extras):
        columns[key] = _object_series([r.get(key) for r in rows])
    columns["plane_area"] = doc.plane_area
    columns["area_unit"] = _object_series([u for u, _ in doc.matched])
    columns["area_check"] = _object_series([c for _, c in doc.matched])
    columns["geometry"] = gpd.array.from_shapely(_text_column(doc.geoms), crs=doc.crs)
    return gpd.GeoDataFrame(pd.DataFrame(columns, copy=False), geometry="geometry")

