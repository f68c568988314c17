"""Decoding of Chinese text files (land-boundary TXT, CSV attribute tables, .cpg-less DBF text).

Chinese land data travel as GBK/GB2312 without a byte-order mark (most common), UTF-8, UTF-8 with
BOM and, rarely, UTF-16 with BOM. The detection order is:

1. a byte-order mark: UTF-8 (``'utf-8-sig'``), UTF-16 LE/BE (``'utf-16'``);
2. strict UTF-8 (``'utf-8'``) — GBK text with Chinese characters practically never decodes as
   UTF-8, so this test is safe;
3. GB18030, the superset of GB2312 and GBK. The name reported is ``'gbk'`` when the bytes also
   decode as GBK (what users and other tools recognise, and what the writer uses by default) and
   ``'gb18030'`` only when they need the four-byte GB18030 sequences.

Bytes that none of these decode raise :class:`~onemap.errors.EncodingError` naming the file, the
byte offset and the line, with a hint to pass ``encoding=``.
"""

from __future__ import annotations

import codecs
from os import PathLike

from ..errors import EncodingError, Fix

__all__ = ["decode_text", "detect_encoding"]

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _line_of(data: bytes, offset: int) -> int:
    """1-based line number of byte *offset* (counting LF and bare CR line ends)."""
    head = data[:offset]
    return head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1


def _looks_like_bomless_utf16(data: bytes) -> bool:
    """ASCII-heavy UTF-16 without BOM has a NUL in every other byte."""
    sample = data[:4096]
    if len(sample) < 4:
        return False
    odd_nuls = sample[1::2].count(0) / max(1, len(sample[1::2]))
    even_nuls = sample[0::2].count(0) / max(1, len(sample[0::2]))
    return max(odd_nuls, even_nuls) > 0.4


def _fail(
    data: bytes, exc: UnicodeDecodeError, tried: str, path: str | PathLike | None
) -> EncodingError:
    bad = data[exc.start : exc.start + 4].hex(" ")
    codecs = "'gbk', 'gb18030', 'utf-8' or 'utf-16'"
    say = (
        "pass encoding= explicitly (for example encoding={})",
        "set encoding = {} under [{{table}}]",
        "pass --encoding {}",
    )
    fixes = [
        f.format(codecs if i == 0 else codecs.replace("'", '"' if i == 1 else ""))
        for i, f in enumerate(say)
    ]
    if any(data.startswith(bom) for bom, _ in _BOMS):
        fixes = [
            "the bytes after the byte-order mark are damaged or in another encoding: "
            "export the file again, or " + f
            for f in fixes
        ]
    elif _looks_like_bomless_utf16(data):
        fixes = [
            "the file looks like UTF-16 without a byte-order mark: " + f.format(c)
            for f, c in zip(
                ("pass encoding={}", "set encoding = {} under [{{table}}]", "pass --encoding {}"),
                (
                    "'utf-16-le' (or 'utf-16-be')",
                    '"utf-16-le" (or "utf-16-be")',
                    "utf-16-le (or utf-16-be)",
                ),
                strict=False,
            )
        ]
    hint = Fix(fixes[0], toml=fixes[1], cli=fixes[2])
    return EncodingError(
        f"cannot decode the text as {tried}: byte offset {exc.start} (bytes {bad}) is not valid",
        path=path,
        line=_line_of(data, exc.start),
        hint=hint,
    )


def detect_encoding(data: bytes, path: str | PathLike | None = None) -> str:
    """Name the encoding of *data*.

    One of ``'utf-8-sig'``, ``'utf-16'``, ``'utf-8'``, ``'gbk'`` or ``'gb18030'``.

    Parameters
    ----------
    data
        The raw bytes of a text file.
    path
        Only used in the error message.

    Returns
    -------
    str
        A codec name that decodes *data* strictly. ``'gbk'`` is reported rather than
        ``'gb18030'`` whenever GBK suffices (see the module notes).

    Raises
    ------
    EncodingError
        When no supported encoding decodes the bytes, or they contain NUL bytes without a
        UTF-16 byte-order mark (binary data, or UTF-16 without BOM, which the hint names).

    Examples
    --------
    >>> detect_encoding("坐标系=2000国家大地坐标系".encode("gbk"))
    'gbk'
    >>> detect_encoding("坐标系".encode("utf-8")), detect_encoding(b"\\xef\\xbb\\xbfJ1")
    ('utf-8', 'utf-8-sig')
    >>> detect_encoding("界址点".encode("utf-16"))
    'utf-16'
    """
    data = bytes(data)
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    if b"\x00" in data:
        # NUL bytes decode "fine" as UTF-8 but never occur in text: binary data or BOM-less UTF-16
        offset = data.index(b"\x00")
        hint = (
            "the file looks like UTF-16 without a byte-order mark: pass encoding='utf-16-le' "
            "(or 'utf-16-be')"
            if _looks_like_bomless_utf16(data)
            else "this is not a text file; check that the right file was given, "
            "or pass encoding= explicitly"
        )
        raise EncodingError(
            f"NUL byte at byte offset {offset}: not text in UTF-8, GBK or GB18030",
            path=path,
            line=_line_of(data, offset),
            hint=hint,
        )
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gbk")
        return "gbk"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as exc:
        raise _fail(data, exc, "UTF-8, GBK or GB18030 (no byte-order mark found)", path) from exc


def decode_text(
    data: bytes,
    path: str | PathLike | None = None,
    encoding: str | None = None,
) -> tuple[str, str]:
    """Decode the bytes of a text file, detecting the encoding unless one is given.

    Parameters
    ----------
    data
        The raw bytes.
    path
        The file they came from; named in error messages.
    encoding
        A codec name to use instead of detection (decoded strictly). A leading BOM character
        is dropped from the text whatever the encoding.

    Returns
    -------
    (text, encoding)
        The decoded text and the name of the codec used (see :func:`detect_encoding`).

    Raises
    ------
    EncodingError
        Bytes that the given or detected encodings cannot decode (also after a byte-order mark),
        or an unknown codec name. The message names the file, the byte offset and its line.

    Examples
    --------
    >>> decode_text("[属性描述]\\r\\n".encode("gbk"))
    ('[属性描述]\\r\\n', 'gbk')
    >>> decode_text(b"\\xef\\xbb\\xbfJ1,1", encoding="utf-8")
    ('J1,1', 'utf-8')
    """
    data = bytes(data)
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise EncodingError(
                f"unknown encoding {encoding!r}",
                path=path,
                hint="use a Python codec name such as 'gbk', 'gb18030', 'utf-8' or 'utf-16'",
            ) from exc
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            raise _fail(data, exc, repr(encoding), path) from exc
        except LookupError as exc:  # a codec such as 'base64' or 'rot13'
            raise EncodingError(
                f"{encoding!r} is not a text encoding",
                path=path,
                hint="use a text codec such as 'gbk', 'gb18030', 'utf-8' or 'utf-16'",
            ) from exc
    else:
        encoding = detect_encoding(data, path)
        try:  # a byte-order mark promises an encoding that the rest of the bytes may break
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            if encoding == "utf-8-sig":  # that codec counts offsets after the BOM
                exc = UnicodeDecodeError(exc.encoding, data, exc.start + 3, exc.end + 3, exc.reason)
            raise _fail(data, exc, f"{encoding} (announced by its byte-order mark)", path) from exc
    text = text.removeprefix("\ufeff")
    return text, encoding
