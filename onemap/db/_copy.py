"""PostgreSQL binary COPY: numba kernels that split the stream into fields, and column decoders.

The stream (``COPY … TO STDOUT (FORMAT BINARY)``) is an 11-byte signature, two int32 (flags,
header extension length) and the extension, then one tuple per row: int16 field count, and per
field an int32 byte length (``-1``: NULL) and the bytes, all big-endian; a field count of ``-1``
ends it. :func:`scan` finds the fields of every complete tuple in a buffer without a Python loop
over rows; the decoders turn one column of fields into a NumPy array (fixed-width types), an
Arrow-backed string array (text) or WKB ``bytes`` (geometries).
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd

__all__ = ["SIGNATURE", "decode", "header_length", "scan"]

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_EPOCH_DAYS = np.datetime64("2000-01-01", "D")
_EPOCH_US = np.datetime64("2000-01-01T00:00:00", "us")


def header_length(buf: bytes | bytearray | memoryview) -> int:
    """Bytes of the stream header (0 when *buf* is too short to tell)."""
    if len(buf) < 19:
        return 0
    if bytes(buf[:11]) != SIGNATURE:
        raise ValueError("not a PostgreSQL binary COPY stream")
    return 19 + int.from_bytes(bytes(buf[15:19]), "big")


@numba.njit(cache=True)
def _i32(buf: np.ndarray, p: int) -> int:
    v = (
        (np.int64(buf[p]) << 24)
        | (np.int64(buf[p + 1]) << 16)
        | (np.int64(buf[p + 2]) << 8)
        | np.int64(buf[p + 3])
    )
    signed = v - (np.int64(1) << 32) if v >= (np.int64(1) << 31) else v
    return signed  # type: ignore[return-value]


@numba.njit(cache=True)
def scan(buf: np.ndarray, start: int, ncols: int) -> tuple[np.ndarray, np.ndarray, int, bool]:
    """Fields of the complete tuples in ``buf[start:]``.

    Returns ``(offsets, lengths, end, finished)``: ``(n, ncols)`` byte offsets and lengths (``-1``
    NULL) of each field, the position after the last complete tuple, and whether the trailer
    (field count -1) was reached. A field count other than *ncols* raises.
    """
    size = buf.shape[0]
    cap = (size - start) // (2 + 4 * ncols) + 1
    offsets = np.empty((cap, ncols), np.int64)
    lengths = np.empty((cap, ncols), np.int32)
    n = 0
    p = start
    finished = False
    while p + 2 <= size:
        nf = (np.int64(buf[p]) << 8) | np.int64(buf[p + 1])
        if nf == 0xFFFF:
            finished = True
            p += 2
            break
        if nf != ncols:
            raise ValueError("unexpected field count in the COPY stream")
        q = p + 2
        complete = True
        for j in range(ncols):
            if q + 4 > size:
                complete = False
                break
            ln = _i32(buf, q)
            q += 4
            if ln > 0 and q + ln > size:
                complete = False
                break
            offsets[n, j] = q
            lengths[n, j] = ln
            if ln > 0:
                q += ln
        if not complete:
            break
        n += 1
        p = q
    return offsets[:n], lengths[:n], p, finished


@numba.njit(cache=True)
def _fixed(buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, width: int) -> np.ndarray:
    """Big-endian integers of *width* bytes as int64 (0 where NULL)."""
    out = np.zeros(offsets.shape[0], np.int64)
    for i in range(offsets.shape[0]):
        if lengths[i] < 0:
            continue
        p = offsets[i]
        v = np.int64(0)
        for k in range(width):
            v = (v << 8) | np.int64(buf[p + k])
        if width < 8 and v >= (np.int64(1) << (8 * width - 1)):
            v -= np.int64(1) << (8 * width)
        out[i] = v
    return out


@numba.njit(cache=True)
def _gather(
    buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Variable-length fields copied end to end: (data, ``n + 1`` offsets into it)."""
    n = offsets.shape[0]
    ends = np.zeros(n + 1, np.int64)
    for i in range(n):
        ends[i + 1] = ends[i] + max(lengths[i], 0)
    data = np.empty(ends[n], np.uint8)
    for i in range(n):
        ln = lengths[i]
        if ln > 0:
            data[ends[i] : ends[i] + ln] = buf[offsets[i] : offsets[i] + ln]
    return data, ends


def decode(buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, typ: str) -> object:
    """One column of fields as an array (types as named by ``pg_type.typname``; ``wkb``: bytes).

    >>> import numpy as np
    >>> raw = np.frombuffer(b"\\x00\\x00\\x00\\x07\\xff\\xff\\xff\\xfe", np.uint8)
    >>> decode(raw, np.array([0, 4]), np.array([4, 4], np.int32), "int4").tolist()
    [7, -2]
    """
    nulls = lengths < 0
    if typ in ("int2", "int4", "int8"):
        v = _fixed(buf, offsets, lengths, {"int2": 2, "int4": 4, "int8": 8}[typ])
        return pd.arrays.IntegerArray(v, nulls) if nulls.any() else v
    if typ in ("float4", "float8"):
        width = 4 if typ == "float4" else 8
        raw = _fixed(buf, offsets, lengths, width)
        v = (
            raw.astype(np.int32).view(np.float32).astype(np.float64)
            if width == 4
            else raw.view(np.float64)
        )
        return np.where(nulls, np.nan, v)
    if typ == "bool":
        v = _fixed(buf, offsets, lengths, 1).astype(bool)
        return pd.arrays.BooleanArray(v, nulls) if nulls.any() else v
    if typ == "date":
        v = _EPOCH_DAYS + _fixed(buf, offsets, lengths, 4).astype("timedelta64[D]")
        return np.where(nulls, np.datetime64("NaT"), v).astype("datetime64[ns]")
    if typ in ("timestamp", "timestamptz"):
        v = _EPOCH_US + _fixed(buf, offsets, lengths, 8).astype("timedelta64[us]")
        v = np.where(nulls, np.datetime64("NaT"), v).astype("datetime64[ns]")
        return pd.DatetimeIndex(v, tz="UTC") if typ == "timestamptz" else v
    data, ends = _gather(buf, offsets, lengths)
    if typ == "wkb":
        blob = data.tobytes()
        return np.array(
            [
                None if m else blob[a:b]
                for a, b, m in zip(
                    ends[:-1].tolist(), ends[1:].tolist(), nulls.tolist(), strict=False
                )
            ],
            dtype=object,
        )
    import pyarrow as pa

    valid = pa.array(~nulls).buffers()[1] if nulls.any() else None
    arr = pa.LargeStringArray.from_buffers(
        len(lengths), pa.py_buffer(ends), pa.py_buffer(data), valid, int(nulls.sum())
    )
    return pd.array(arr.cast(pa.large_string()), dtype=pd.StringDtype("pyarrow", na_value=np.nan))


# ------------------------------------------------------------------------------------ writing
HEADER = SIGNATURE + b"\x00\x00\x00\x00\x00\x00\x00\x00"
TRAILER = b"\xff\xff"


@numba.njit(cache=True)
def _assemble(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The tuples of a binary COPY: field (j, i) is ``data[starts[j, i]:][:lengths[j, i]]``."""
    ncols, n = starts.shape
    total = n * (2 + 4 * ncols)
    for j in range(ncols):
        for i in range(n):
            if lengths[j, i] > 0:
                total += lengths[j, i]
    out = np.empty(total, np.uint8)
    p = 0
    for i in range(n):
        out[p] = (ncols >> 8) & 255
        out[p + 1] = ncols & 255
        p += 2
        for j in range(ncols):
            ln = lengths[j, i]
            u = np.uint32(ln) if ln >= 0 else np.uint32(0xFFFFFFFF)
            out[p] = (u >> 24) & 255
            out[p + 1] = (u >> 16) & 255
            out[p + 2] = (u >> 8) & 255
            out[p + 3] = u & 255
            p += 4
            if ln > 0:
                s = starts[j, i]
                out[p : p + ln] = data[s : s + ln]
                p += ln
    return out


def encode_fixed(
    values: np.ndarray, nulls: np.ndarray, be_dtype: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed-width column as (bytes, starts, lengths) in big-endian *be_dtype* (``>i8`` …)."""
    arr = np.ascontiguousarray(values.astype(be_dtype))
    width = arr.dtype.itemsize
    lengths = np.where(nulls, -1, width).astype(np.int32)
    return arr.view(np.uint8).reshape(-1), np.arange(len(arr), dtype=np.int64) * width, lengths


def encode_varlen(arrow_array: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pyarrow (large_)string/binary array as (bytes, starts, lengths)."""
    import pyarrow as pa

    arr = arrow_array.cast(pa.large_binary())  # type: ignore[attr-defined]
    n = len(arr)
    _, offs_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offs_buf, np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets).astype(np.int32)
    if arr.null_count:
        lengths[np.asarray(arr.is_null())] = -1
    return data, offsets[:-1].copy(), lengths


def encode_constant(raw: bytes | None, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same value (already in its binary form; ``None``: NULL) on *n* rows."""
    data = np.frombuffer(raw or b"", np.uint8)
    return data, np.zeros(n, np.int64), np.full(n, -1 if raw is None else len(raw), np.int32)


def assemble(columns: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> bytes:
    """The binary COPY tuples of *columns* (each from an ``encode_*`` function), without header."""
    base = np.cumsum([0] + [len(d) for d, _, _ in columns[:-1]])
    data = np.concatenate([d for d, _, _ in columns]) if columns else np.zeros(0, np.uint8)
    starts = np.stack([s + b for (_, s, _), b in zip(columns, base, strict=False)])
    lengths = np.stack([ln for _, _, ln in columns])
    return _assemble(data, starts, lengths).tobytes()
