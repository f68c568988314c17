"""Shapefile sidecars: completeness (:func:`check_shapefile`), a broken ``.prj`` (:func:`check_prj`)
and attribute encoding (``.cpg``
declarations checked against the DBF bytes).

Chinese shapefiles arrive as GBK/GB18030 or UTF-8, with a ``.cpg``, without one, or with one that
is wrong (``UTF-8`` over GBK bytes, left behind by a converter). The bytes decide: the non-ASCII
bytes of the DBF field names and character fields are read straight from the record area and
named by :func:`onemap.ingest.encoding.detect_encoding` (strict UTF-8, else GBK/GB18030), never
guessed from decoded mojibake.

Examples
--------
>>> [_cpg_codec(v) for v in ("UTF-8", "936", " gbk ", "65001", "nonsense")]
['utf-8', 'gbk', 'gbk', 'utf-8', None]
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
from pyproj import CRS

from ..errors import CRSError, EncodingError, FormatError, Repair
from .encoding import detect_encoding

__all__ = ["resolve_encoding", "codec_name", "sidecar", "check_shapefile", "check_prj"]

_CHINESE_CODECS = {"gbk", "gb2312", "gb18030"}
_SAMPLE_LIMIT = 1 << 20  # bytes of non-ASCII DBF text: plenty to tell the encoding


def sidecar(path: Path, ext: str) -> Path | None:
    for cand in (path.with_suffix(ext), path.with_suffix(ext.upper())):
        if cand.is_file():
            return cand
    return None


def _declared_bytes(path: Path, kind: str) -> int | None:
    """File length a .shp/.shx or .dbf header declares (None when the header itself is cut)."""
    with open(path, "rb") as fh:
        head = fh.read(32)
    if kind == "dbf":
        if len(head) < 12:
            return None
        nrec = int.from_bytes(head[4:8], "little")
        return int.from_bytes(head[8:10], "little") + nrec * int.from_bytes(head[10:12], "little")
    if len(head) < 28:
        return None
    return 2 * int.from_bytes(head[24:28], "big")  # length in 16-bit words


def check_shapefile(shp: Path) -> None:
    """FormatError when a shapefile's .shx or .dbf is missing or shorter than its header says.

    GDAL reads a half-copied ``.shp`` as features with null geometries and a shapefile without
    ``.dbf`` as one without attributes: both would lose data without an error.
    """
    parts = {".shp": shp, ".shx": sidecar(shp, ".shx"), ".dbf": sidecar(shp, ".dbf")}
    for ext in (".shx", ".dbf"):
        if parts[ext] is None:
            what = "index" if ext == ".shx" else "attribute table"
            raise FormatError(
                f"the shapefile's {what} ({shp.stem}{ext}) is missing",
                path=shp,
                hint=f"copy {shp.stem}{ext} beside the .shp (a shapefile is at least .shp, .shx "
                "and .dbf)"
                + (
                    ", or rebuild it with ogr2ogr --config SHAPE_RESTORE_SHX YES"
                    if ext == ".shx"
                    else ""
                ),
            )
    for ext, part in parts.items():
        assert part is not None  # missing sidecars raised above
        size = part.stat().st_size
        need = _declared_bytes(part, "dbf" if ext == ".dbf" else "shp")
        if need is None or size < need:
            said = "its header is cut off" if need is None else f"its header says {need} bytes"
            raise FormatError(f"{part.name} is truncated: {said}, the file has {size}", path=shp,
                              hint=f"copy {part.name} again (an interrupted copy or download)")


def check_prj(path: Path, crs: Any) -> None:
    """CRSError naming a shapefile's .prj that GDAL failed on (GDAL says e.g. 'missing [')."""
    prj = sidecar(path, ".prj") if path.suffix.lower() == ".shp" else None
    if prj is None:
        return
    try:
        CRS.from_user_input(prj.read_text(encoding="utf-8", errors="replace"))
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(
            f"{prj.name} does not hold a CRS GDAL or PROJ can read ({exc})",
            path=path,
            hint="replace the .prj with a valid one (or delete it and pass crs=, e.g. crs=4527)"
            + (" — crs= alone does not help while the .prj is there" if crs is not None else ""),
        ) from exc


def codec_name(name: str, where: Any) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError as exc:
        raise EncodingError(f"unknown encoding {name!r}", path=where,
                            hint="use a codec name such as 'gbk', 'gb18030' or 'utf-8'") from exc


def _cpg_codec(text: str) -> str | None:
    """Python codec of a .cpg declaration (``UTF-8``, ``GBK``, ``936``, ``65001``, ``88591`` …)."""
    t = text.strip().upper().replace(" ", "")
    if t.isdigit():
        t = "utf-8" if t == "65001" else f"iso8859-{t[4:]}" if t.startswith("8859") else f"cp{t}"
    try:
        return codecs.lookup(t).name if t else None
    except LookupError:
        return None


def _dbf_text_sample(dbf: Path) -> bytes:
    """DBF field names and character values holding non-ASCII bytes, one per line, as stored."""
    with open(dbf, "rb") as fh:
        head = fh.read(32)
        if len(head) < 32:
            raise FormatError(
                "DBF header is truncated", path=dbf, hint="the attribute table is damaged"
            )
        nrec = int.from_bytes(head[4:8], "little")
        hlen, rlen = int.from_bytes(head[8:10], "little"), int.from_bytes(head[10:12], "little")
        desc = fh.read(max(0, hlen - 32))
        fields, sample, offset = [], [], 1  # byte 0 of a record is the deletion flag
        for i in range(0, len(desc) - 31, 32):
            d = desc[i:i + 32]
            if d[0] == 0x0D:
                break
            name = d[:11].split(b"\x00")[0]
            if not name.isascii():
                sample.append(name)
            if chr(d[11]) == "C":
                fields.append((offset, offset + d[16]))
            offset += d[16]
        fh.seek(hlen)
        per_chunk, left, seen = max(1, (4 << 20) // max(rlen, 1)), nrec, 0
        while fields and left > 0 and seen < _SAMPLE_LIMIT and rlen > 0:
            buf = fh.read(min(per_chunk, left) * rlen)
            k = len(buf) // rlen
            if k == 0:
                break
            rec = np.frombuffer(buf, np.uint8, count=k * rlen).reshape(k, rlen)
            for a, b in fields:
                block = rec[:, a:b]
                for r in np.flatnonzero((block >= 0x80).any(axis=1)):
                    value = block[r].tobytes().rstrip(b" \x00")
                    sample.append(value)
                    seen += len(value)
            left -= k
    return b"\n".join(sample)


def _detect(sample: bytes, dbf: Path) -> str:
    """Codec of the DBF text sample."""
    try:
        enc = detect_encoding(sample, dbf)
    except EncodingError as exc:
        raise EncodingError(
            f"cannot tell the encoding of the attribute table: {exc.message}",
            path=dbf,
            hint="pass encoding= (e.g. encoding='gbk') or add a .cpg file",
        ) from exc
    return {"utf-8-sig": "utf-8"}.get(enc, enc)


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
        return True
    except UnicodeDecodeError:
        return False


def resolve_encoding(
    path: Path, encoding: str | None, repair: bool
) -> tuple[str | None, str, Repair | None]:
    """Codec to read a layer's attributes with, where it came from and the repair of a wrong .cpg.

    ``encoding`` (the argument) wins; non-shapefile formats are UTF-8 (``None``: GDAL decodes); a
    ``.cpg`` is used when the DBF bytes fit it (a GBK ``.cpg`` over valid non-ASCII UTF-8 bytes does
    not fit); otherwise the encoding detected from the bytes, with a :class:`Repair` when a ``.cpg``
    was overruled (an :class:`EncodingError` instead when *repair* is false) and when there is no
    ``.cpg`` and the bytes are GBK/GB18030 (as the land-boundary TXT reader reports it).
    """
    if encoding is not None:
        return codec_name(encoding, path), "argument", None
    dbf = sidecar(path, ".dbf") if path.suffix.lower() in (".shp", ".dbf") else None
    if dbf is None:
        return None, "format", None  # GPKG, GeoJSON, FileGDB store UTF-8 and GDAL decodes it
    sample = _dbf_text_sample(dbf)
    cpg = sidecar(path, ".cpg")
    if cpg is None:
        detected = _detect(sample, dbf) if sample else "utf-8"
        if detected == "utf-8":
            return detected, "detected", None
        # GDAL would read these bytes as Latin-1: decoding them as GBK is a decision, reported
        return (
            detected,
            "detected",
            Repair(
                str(path),
                "attribute table (no .cpg)",
                "no .cpg and the attribute bytes are not UTF-8",
                f"decoded as {detected} (pass encoding= or add a .cpg if the names read wrong)",
            ),
        )
    text = cpg.read_bytes().decode("ascii", "replace").strip()
    declared = _cpg_codec(text)
    if declared is not None:
        if not sample:
            return declared, "cpg", None
        if _decodes(sample, declared):
            if declared not in _CHINESE_CODECS:
                return declared, "cpg", None
            try:  # GBK decodes many byte strings: the .cpg fits unless the bytes are valid UTF-8
                if _detect(sample, dbf) != "utf-8":
                    return declared, "cpg", None
            except EncodingError:
                return declared, "cpg", None
    detected = _detect(sample, dbf)
    problem = (f".cpg declares {text!r}, which is not a known encoding" if declared is None else
               f".cpg declares {text!r} but the attribute bytes are {detected}, not {declared}")
    if not repair:
        raise EncodingError(
            problem, path=cpg, hint=f"pass encoding='{detected}' or correct the .cpg"
        )
    return (
        detected,
        "detected",
        Repair(str(path), "attribute table (.cpg)", problem, f"read as {detected}"),
    )
