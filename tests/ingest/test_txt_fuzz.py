"""Fuzzing the land-boundary TXT reader with mutated real samples.

A seeded mutator turns every TXT sample of ``../shared/data/boundary_txt`` into a fixed budget of
inputs (``ONEMAP_FUZZ_BUDGET``, default 20 000): byte flips, line deletion / duplication / swap,
truncation, garbage and full-width characters, numeric perturbation (NaN, huge, long digit runs),
re-encoding, field deletion, ring-number and header-value changes, section renames, block
repetition, points moved onto others, rings inserted (holes, islands, crossings, 40 at a time),
whole files turned into degrees or stripped of the eastings' zone prefix. Every input must either parse or raise an :class:`~onemap.errors.OnemapError`
subclass that names the file, the line and a fix — never IndexError, ValueError, UnicodeDecodeError, a
shapely or pyproj error. No timed assertion: pytest-timeout bounds the run (a hang fails it), the
reader is linear in its input (ring nesting goes through an STR tree), and the slowest input is
printed with the counts of each outcome.

Input *i* is a pure function of *i* (``mutated(samples, i)``), so a failure prints the index to
replay it with ``ONEMAP_FUZZ_ONLY=i`` (``ONEMAP_FUZZ_SEED`` explores other inputs).
"""

from __future__ import annotations

import io
import os
import random
import re
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from onemap.errors import OnemapError
from onemap.ingest.boundary_txt import read_boundary_txt, read_document

BUDGET = int(os.environ.get("ONEMAP_FUZZ_BUDGET", "20000"))
ONLY = os.environ.get("ONEMAP_FUZZ_ONLY")
SEED = int(os.environ.get("ONEMAP_FUZZ_SEED", "20261121"))
#: every FULL_EVERY-th input also goes through the public reader (GeoDataFrame included)
FULL_EVERY = 40

_FULLWIDTH = {",": "，", ".": "．", "@": "＠", "=": "＝", "[": "【", "]": "】", ":": "：", "-": "－",
              **{str(d): chr(0xFF10 + d) for d in range(10)}}
_GARBAGE_CHARS = ("，", "：", "＠", "　", "\ufeff", "\u200b", "\x00", "\x01", "\x1a", "\t", " ", ",", "@", "=",
                  "[", "]", "【", "】", "地", "块", "坐", "标", "圈", "号", "\r", "\n", "é", "\U00020000", "-", ".",
                  "e", "E", "+", "nan", "inf", "0", "9")
_NUMBERS = ("0", "-1", "1e309", "-1e309", "nan", "inf", "", " ", "1e-320", "3.3e6", "39500000", "40500000.5",
            "99999999999", "1" * 60, "9" * 5000, "0x10", "1_000", "1,5", "3300000.000.1", "--5", "+7", "１２３",
            "3e", "2147483648", "1e18", "-0", "0.0000001", "37465566.598", "2369625.708", "117", "6", "3")
_RING_NUMBERS = ("0", "-1", "1", "2", "3", "7", "99999", "a", "1.5", "", "１", "1e9", "2.0", "9" * 400)
_HEADER_VALUES = ("", "0", "3", "6", "39", "99", "117", "250", "-3", "9" * 80, "度", "米", "3度带", "abc",
                  "2000国家大地坐标系", "1980西安坐标系", "WGS84坐标系", "地方坐标系", "1954北京坐标系",
                  ",,,,,,", "1,2,3,4,5,6,7", "1．01版本", "\u3000", "＝")
_ENCODINGS = ("gbk", "utf-8", "utf-8-sig", "gb18030", "utf-16", "utf-16-le", "utf-16-be", "big5", "latin-1")
#: reader arguments of every 8th input (the rest detect everything): explicit codecs, zones and CRSs
_KWARGS = ({"encoding": "gbk"}, {"encoding": "utf-8"}, {"encoding": "utf-16"}, {"encoding": "gb18030"},
           {"zone": 37}, {"zone": 40}, {"zone": 20}, {"crs": 4525}, {"crs": 4528}, {"crs": 4490},
           {"crs": 3857}, {"crs": "EPSG:4547"})
_NUMBER = re.compile(r"-?\d+(?:\.\d*)?")
_POINT_LINE = r"^[^,]*,[^,]*,[^,]*,[^,]*$"


def load_samples(folder: Path) -> list[tuple[str, tuple[str, ...], str]]:
    """(name, lines, encoding) of every TXT sample (decoded with its detected encoding)."""
    from onemap.ingest.encoding import decode_text

    out = []
    for path in sorted(folder.glob("*.txt")):
        text, enc = decode_text(path.read_bytes())
        out.append((path.name, tuple(re.split(r"\r\n|\r|\n", text)), enc))
    return out


# ---------------------------------------------------------------------------------------------
# the mutator: text operations on a list of lines, then encoding, then byte operations

def _pick_line(rng: random.Random, lines: list[str], pattern: str | None = None) -> int | None:
    if not lines:
        return None
    if pattern is None:
        return rng.randrange(len(lines))
    for _ in range(8):  # a few tries, then give up: constant time per operation
        i = rng.randrange(len(lines))
        if re.search(pattern, lines[i]):
            return i
    return None


def _op_delete_line(rng, lines):
    i = _pick_line(rng, lines)
    if i is not None:
        del lines[i]


def _op_duplicate_line(rng, lines):
    i = _pick_line(rng, lines)
    if i is not None:
        lines.insert(i + rng.choice((0, 1, rng.randrange(len(lines) + 1) - i)), lines[i])


def _op_swap_lines(rng, lines):
    if len(lines) > 1:
        i = rng.randrange(len(lines) - 1)
        j = i + 1 if rng.random() < 0.6 else rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]


def _op_delete_field(rng, lines):
    i = _pick_line(rng, lines, ",")
    if i is not None:
        fields = lines[i].split(",")
        del fields[rng.randrange(len(fields))]
        lines[i] = ",".join(fields)


def _op_duplicate_field(rng, lines):
    i = _pick_line(rng, lines, ",")
    if i is not None:
        fields = lines[i].split(",")
        k = rng.randrange(len(fields))
        fields.insert(k, fields[k])
        lines[i] = ",".join(fields)


def _op_perturb_number(rng, lines):
    i = _pick_line(rng, lines, r"\d")
    if i is None:
        return
    matches = list(_NUMBER.finditer(lines[i]))
    m = rng.choice(matches)
    value = m.group()
    choice = rng.random()
    if choice < 0.4:
        try:
            new = repr(float(value) + rng.choice((-1, 1)) * 10 ** rng.randint(-3, 7))
        except ValueError:
            new = value
    elif choice < 0.55:
        new = value[::-1]
    elif choice < 0.65:
        new = value + value
    else:
        new = rng.choice(_NUMBERS)
    lines[i] = lines[i][:m.start()] + new + lines[i][m.end():]


def _op_swap_xy(rng, lines):
    i = _pick_line(rng, lines, _POINT_LINE)
    if i is not None:
        f = lines[i].split(",")
        f[2], f[3] = f[3], f[2]
        lines[i] = ",".join(f)


def _op_fullwidth(rng, lines):
    i = _pick_line(rng, lines)
    if i is None:
        return
    chars = list(lines[i])
    for k in range(len(chars)):
        if chars[k] in _FULLWIDTH and rng.random() < 0.5:
            chars[k] = _FULLWIDTH[chars[k]]
    lines[i] = "".join(chars)


def _op_insert_text(rng, lines):
    i = _pick_line(rng, lines)
    if i is None:
        return
    junk = "".join(rng.choice(_GARBAGE_CHARS) for _ in range(rng.randint(1, 6)))
    k = rng.randrange(len(lines[i]) + 1)
    lines[i] = lines[i][:k] + junk + lines[i][k:]


def _op_ring_number(rng, lines):
    i = _pick_line(rng, lines, _POINT_LINE)
    if i is not None:
        f = lines[i].split(",")
        f[1] = rng.choice(_RING_NUMBERS)
        lines[i] = ",".join(f)


def _op_header_value(rng, lines):
    i = _pick_line(rng, lines, "=")
    if i is not None:
        key = lines[i].split("=", 1)[0]
        lines[i] = f"{key}={rng.choice(_HEADER_VALUES)}"


def _op_section(rng, lines):
    i = _pick_line(rng, lines, r"^\s*[\[【]")
    if i is None:
        return
    action = rng.randrange(4)
    if action == 0:
        del lines[i]
    elif action == 1:
        lines[i] = rng.choice(("[地块坐标]", "[属性描述]", "[项目信息]", "[]", "[  ", "[其他]", "地块坐标"))
    elif action == 2:
        lines.insert(rng.randrange(len(lines) + 1), lines[i])
    else:
        lines[i] = lines[i].replace("[", "【").replace("]", "】")


def _op_parcel_marker(rng, lines):
    i = _pick_line(rng, lines, ",")
    if i is None:
        return
    if lines[i].rstrip().endswith("@"):
        lines[i] = lines[i].rstrip()[:-1] if rng.random() < 0.5 else lines[i] + ",@"
    else:
        lines[i] = lines[i] + ",@"


def _op_repeat_block(rng, lines):
    if not lines:
        return
    i = rng.randrange(len(lines))
    block = lines[i:i + rng.randint(1, 12)]
    lines[i:i] = block * rng.randint(2, 30)


_LONG_LINES = ("[" + " " * 5000 + "x", " " * 5000, "1" * 5000, "J1,1," + "9" * 3000 + ",1", ",".join(["1"] * 3000),
               "=" * 2000, "@" * 2000, "，" * 2000)


def _op_long_line(rng, lines):
    lines.insert(rng.randrange(len(lines) + 1), rng.choice(_LONG_LINES))


def _op_join_lines(rng, lines):
    if len(lines) > 1:
        i = rng.randrange(len(lines) - 1)
        lines[i:i + 2] = [lines[i] + rng.choice(("", ",", " ")) + lines[i + 1]]


def _op_move_point(rng, lines):
    """A point onto (or next to) another point: spikes, self-touching and collapsed rings."""
    i, j = _pick_line(rng, lines, _POINT_LINE), _pick_line(rng, lines, _POINT_LINE)
    if i is None or j is None:
        return
    fi, fj = lines[i].split(","), lines[j].split(",")
    try:
        x, y = float(fj[2]), float(fj[3])
    except ValueError:
        return
    d = rng.choice((0.0, 0.0, 1e-7, 1e-3, 0.5, 50.0))
    fi[2], fi[3] = f"{x + d * rng.uniform(-1, 1):.3f}", f"{y + d * rng.uniform(-1, 1):.3f}"
    lines[i] = ",".join(fi)


def _op_insert_ring(rng, lines):
    """A new ring (hole, island, overlapping part or crossing ring) near an existing point."""
    j = _pick_line(rng, lines, _POINT_LINE)
    if j is None:
        return
    f = lines[j].split(",")
    try:
        x, y = float(f[2]), float(f[3])
    except ValueError:
        return
    size = rng.choice((0.001, 1.0, 10.0, 200.0))
    no = rng.choice(("2", "3", "5", "1", f[1]))
    corners = [(0, 0), (size, 0), (size, size), (0, size), (0, 0)][:rng.choice((3, 4, 5, 5))]
    dx, dy = rng.uniform(-size, size), rng.uniform(-size, size)
    ring = [f"K{k},{no},{x + a + dx:.3f},{y + b + dy:.3f}" for k, (a, b) in enumerate(corners)]
    k = rng.randrange(j, len(lines) + 1)
    lines[k:k] = ring * rng.choice((1, 1, 1, 40))


def _rewrite_points(lines, fn) -> None:
    for k, line in enumerate(lines):
        f = line.split(",")
        if len(f) == 4:
            try:
                x, y = float(f[2]), float(f[3])
            except ValueError:
                continue
            f[2], f[3] = fn(x, y)
            lines[k] = ",".join(f)


def _op_to_degrees(rng, lines):
    """The whole file in latitude/longitude (the geographic path), 计量单位 = 度 or empty."""
    _rewrite_points(lines, lambda x, y: (f"{x / 110_000:.8f}", f"{117 + (y % 1e6 - 5e5) / 95_000:.8f}"))
    for k, line in enumerate(lines):
        if line.startswith("计量单位"):
            lines[k] = "计量单位=" + rng.choice(("度", "", "度分秒", "米"))


def _op_strip_zone_prefix(rng, lines):
    """Eastings without the zone number: the zone must come from 带号 (kept, blanked or changed)."""
    _rewrite_points(lines, lambda x, y: (f"{x:.3f}", f"{y % 1e6:.3f}"))
    for k, line in enumerate(lines):
        if line.startswith("带号"):
            lines[k] = "带号=" + rng.choice((line[3:], "", "117", "40", "0", "13"))


def _op_truncate_lines(rng, lines):
    if lines:
        del lines[rng.randrange(len(lines)):]


TEXT_OPS = (_op_delete_line, _op_duplicate_line, _op_swap_lines, _op_delete_field, _op_duplicate_field,
            _op_perturb_number, _op_perturb_number, _op_swap_xy, _op_fullwidth, _op_insert_text, _op_ring_number,
            _op_header_value, _op_section, _op_parcel_marker, _op_repeat_block, _op_long_line, _op_join_lines,
            _op_truncate_lines, _op_move_point, _op_move_point, _op_insert_ring, _op_insert_ring, _op_to_degrees,
            _op_strip_zone_prefix)


def _byte_flip(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if data:
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def _byte_truncate(rng, data):
    return data[:rng.randrange(len(data) + 1)]


def _byte_insert(rng, data):
    k = rng.randrange(len(data) + 1)
    return data[:k] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 24))) + data[k:]


def _byte_delete(rng, data):
    k = rng.randrange(len(data) + 1)
    return data[:k] + data[k + rng.randint(1, 40):]


BYTE_OPS = (_byte_flip, _byte_flip, _byte_truncate, _byte_insert, _byte_delete)


def reader_kwargs(index: int) -> dict:
    """Arguments for reading input *index*."""
    return _KWARGS[(index // 8) % len(_KWARGS)] if index % 8 == 7 else {}


def mutated(samples: list[tuple[str, tuple[str, ...], str]], index: int) -> tuple[bytes, list[str]]:
    """Input number *index*: (bytes, names of the operations applied). Deterministic."""
    rng = random.Random(SEED * 1_000_003 + index)
    name, sample_lines, encoding = samples[index % len(samples)]
    lines = list(sample_lines)
    ops = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        if rng.random() < 0.8:
            op = rng.choice(TEXT_OPS)
            op(rng, lines)
            ops.append(op.__name__[4:])
    if rng.random() < 0.15:
        encoding = rng.choice(_ENCODINGS)
        ops.append(f"encode:{encoding}")
    newline = rng.choice(("\r\n", "\r\n", "\n", "\r")) if rng.random() < 0.2 else "\r\n"
    body = newline.join(lines)
    try:
        data = body.encode(encoding)
    except UnicodeEncodeError:
        data = body.encode(encoding, errors="replace")
    if not ops or rng.random() < 0.25:
        op = rng.choice(BYTE_OPS)
        data = op(rng, data)
        ops.append(op.__name__[1:])
    return data, [name, *ops]


# ---------------------------------------------------------------------------------------------

@pytest.mark.timeout(300)
def test_fuzz_reader_raises_only_onemap_errors(shared_data, capsys):
    samples = load_samples(shared_data / "boundary_txt")
    assert samples, "no TXT samples in shared data"
    indices = [int(ONLY)] if ONLY else range(BUDGET)
    outcomes: Counter[str] = Counter()
    crashes: list[str] = []
    unnamed: list[str] = []
    slowest = (0.0, -1, [])
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warnings are fine; only exceptions matter here
        for i in indices:
            data, ops = mutated(samples, i)
            kwargs = reader_kwargs(i)
            ops += [f"{k}={v}" for k, v in kwargs.items()]
            path = Path(f"fuzz-{i}.txt")
            t0 = time.perf_counter()
            try:
                doc = read_document(data, path, **kwargs)
                outcome = "ok"
                assert all(g.is_valid and not g.is_empty for g in doc.geoms), f"input {i}: invalid geometry"
                assert np.isfinite(doc.plane_area).all() and len(doc.rows) == len(doc.geoms) > 0, f"input {i}"
            except OnemapError as exc:
                outcome = type(exc).__name__
                if exc.path != str(path) or exc.line is None or not exc.hint:
                    unnamed.append(f"input {i} {ops}: {exc}")
            except Exception as exc:  # noqa: BLE001 - the point of the test
                outcome = "CRASH"
                tb = traceback.extract_tb(exc.__traceback__)[-1]
                crashes.append(f"input {i} {ops}: {type(exc).__name__}: {str(exc)[:200]} "
                               f"({Path(tb.filename).name}:{tb.lineno})")
            elapsed = time.perf_counter() - t0
            if elapsed > slowest[0]:
                slowest = (elapsed, i, ops)
            outcomes[outcome] += 1
            if (i % FULL_EVERY == 0 or i % (5 * FULL_EVERY) == 7) and outcome != "CRASH":  # the public reader agrees with its core
                try:
                    gdf = read_boundary_txt(io.BytesIO(data), **kwargs)
                    full = "ok"
                    assert len(gdf) == len(doc.geoms) and gdf.geometry.is_valid.all()
                except OnemapError as exc:
                    full = type(exc).__name__
                except Exception as exc:  # noqa: BLE001
                    full = f"CRASH {type(exc).__name__}: {exc}"
                assert full == outcome, f"input {i} {ops}: read_document gave {outcome}, read_boundary_txt {full}"
    total = time.perf_counter() - start
    with capsys.disabled():
        print(f"\nTXT fuzz: {sum(outcomes.values())} inputs in {total:.1f} s: "
              + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
              + f"; slowest input {slowest[1]} ({slowest[0] * 1e3:.1f} ms, {slowest[2]})")
    assert not crashes, f"{len(crashes)} crash(es), replay with ONEMAP_FUZZ_ONLY=<i>:\n" + "\n".join(crashes[:20])
    assert not unnamed, f"{len(unnamed)} error(s) without the file, the line or a fix:\n" + "\n".join(unnamed[:20])
    if not ONLY and BUDGET >= 1000:  # the mutator must keep many inputs readable and reach every error kind
        assert outcomes["ok"] > 0.1 * BUDGET
        for kind in ("FormatError", "EncodingError", "GeometryError", "CRSError"):
            assert outcomes[kind] > 0, kind
