"""Faults: a survey SIGKILLed again and again, then run to the end, loses nothing.

One reference run (the CLI, uninterrupted) fixes every output byte. A second folder is then run by
``python -m onemap survey`` processes that are each SIGKILLed at a seeded random moment — in
ingest, in the middle of the score tiles (twice), during export, during the report and once
anywhere — and finally once to completion. The stage each kill hit is read from the process's
log and checked against the files. After every kill the folder is scanned: every file under a
final name is complete, valid and byte-identical to the reference (tiles, tables, GeoPackage, TXT
files, report, manifest), and anything else is a temporary file of the atomic writers. The
finished folder equals the reference byte for byte (the manifest up to its timings) with no
temporary file left. A rerun into a finished folder changes nothing and computes no tile.

Tiling independence of the verdict table (tile sizes 96 and 128) is tested in
``tests/test_survey.py::test_rerun_is_identical_and_tiling_does_not_matter``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest

from onemap import read_boundary_txt
from onemap.demo import to_toml as _to_toml
from onemap.survey import demo_config, run_survey
from onemap.synth import make_county

SIZE, TILE = 256, 64  # 16 score tiles: kills land between and during tiles
STAGES = ("ingest", "score", "patches", "flag", "summarize", "export", "report")
PRODUCTS = ("verdicts.gpkg", "verdicts.csv", "summary.csv", "approvals_status.csv", "report.html")
# the only temporary names: onemap._atomic.atomic_path (".tmp-<stem>-<pid>-<hex><suffix>") and
# onemap.ingest.vector.write_layer (".<stem>.tmp-<pid>-<hex>.gpkg", plus SQLite side files)
TEMP = re.compile(r"^\.tmp-.+-\d+-[0-9a-f]{8}\.\w+$|^\..+\.tmp-\d+-[0-9a-f]{8}\.gpkg(-journal|-wal|-shm)?$")
TILE_NAME = re.compile(r"^r(\d+)_c(\d+)\.npy$")  # work/score/<this>: one score tile
N_TILES = (-(-SIZE // TILE)) ** 2
_LOG = re.compile(r"onemap\.survey INFO: (\w+) (\.\.\.|done in)")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _final_files(out: Path) -> dict[str, Path]:
    return {p.relative_to(out).as_posix(): p for p in sorted(out.rglob("*"))
            if p.is_file() and not TEMP.match(p.name)}


def _cli(cfg_path: Path, log: Path) -> subprocess.Popen:
    with open(log, "wb") as err:  # a file, not a pipe: nobody has to drain it, and it survives the kill
        return subprocess.Popen([sys.executable, "-m", "onemap", "-v", "survey", str(cfg_path), "--quiet"],
                                stdout=subprocess.DEVNULL, stderr=err)


def _stage(log: Path) -> str:
    """The stage the process was in when it stopped, from its log."""
    events = _LOG.findall(log.read_text(encoding="utf-8", errors="replace"))
    if not events:
        return "startup"
    name, what = events[-1]
    return "manifest" if (name, what) == ("report", "done in") else name


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    return make_county(tmp_path_factory.mktemp("county"), size=SIZE, seed=8, n_changes=2)


def _config_file(county, out: Path, where: Path) -> Path:
    cfg = demo_config(county, out)
    cfg["run"]["tile_size"] = TILE
    path = where / f"{out.name}.toml"
    path.write_text(_to_toml(cfg), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(county, tmp_path_factory):
    """An uninterrupted CLI run: its wall time, stage timings and the bytes of every output."""
    root = tmp_path_factory.mktemp("reference")
    out = root / "survey"
    t0 = time.perf_counter()
    proc = _cli(_config_file(county, out, root), root / "log.txt")
    proc.wait()
    wall = time.perf_counter() - t0
    assert proc.returncode == 0, (root / "log.txt").read_text()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    files = _final_files(out)
    assert not [p for p in out.rglob("*") if TEMP.match(p.name)]
    return {"out": out, "wall": wall, "manifest": manifest, "timings": manifest["timings_s"],
            "sha": {rel: _sha(p) for rel, p in files.items()}}


def _check_final(path: Path, rel: str, ref: dict) -> None:
    """A file under a final name is complete, valid and the reference's own bytes."""
    assert rel in ref["sha"], f"unexpected file under a final name: {rel}"
    name = path.name
    if rel.startswith("work/score/"):
        if name.endswith(".npy"):  # score tiles, and whatever else the stage keeps per tile
            arr = np.load(path, allow_pickle=False)
            if path.parent.name == "score" and TILE_NAME.match(name):
                r0, c0 = map(int, TILE_NAME.match(name).groups())
                assert arr.dtype == np.float16 and arr.shape == (min(TILE, SIZE - r0), min(TILE, SIZE - c0)), rel
    elif name.endswith(".csv"):
        assert len(pd.read_csv(path, encoding="utf-8-sig").columns) > 1, rel
    elif name == "verdicts.gpkg":
        assert len(pyogrio.read_dataframe(path)) == ref["manifest"]["counts"]["patches"], rel
    elif rel.startswith("flagged_txt/"):
        assert len(read_boundary_txt(path, encoding="gbk")) == 1, rel
    elif name == "report.html":
        assert path.read_text(encoding="utf-8").rstrip().endswith("</html>"), rel
    elif name == "manifest.json":
        m = json.loads(path.read_text(encoding="utf-8"))
        assert m["outputs"] == ref["manifest"]["outputs"], rel
        assert m["verdict_table_sha256"] == ref["manifest"]["verdict_table_sha256"], rel
        return  # its timings differ from run to run
    assert _sha(path) == ref["sha"][rel], f"{rel} differs from the reference run"


def _scan(out: Path, ref: dict) -> list[str]:
    """Check every file of *out*; return the temporary ones."""
    temps = []
    for p in sorted(out.rglob("*")):
        if p.is_file():
            rel = p.relative_to(out).as_posix()
            if TEMP.match(p.name):
                temps.append(rel)
            else:
                _check_final(p, rel, ref)
    return temps


def _assert_same_as_reference(out: Path, ref: dict) -> None:
    files = _final_files(out)
    assert sorted(files) == sorted(ref["sha"])
    for rel, p in files.items():
        _check_final(p, rel, ref)
    assert not [p for p in out.rglob("*") if TEMP.match(p.name)], "temporary files left behind"


def _kill_plan(ref: dict, rng: np.random.Generator) -> list[tuple[str, float]]:
    """(anchor, x) per cycle: SIGKILL *x* s after the process starts (``"start"``) or logs the
    start of stage *anchor*, or once a fraction *x* of the missing score tiles is saved (``"tiles"``).

    Delays are fractions of the reference run's own stage times (its manifest's ``timings_s``),
    counted from the moment the stage starts, so kills land in the intended stages however slow
    the machine is. The tiles are anchored on their files: they
    are written in a burst at the end of the score stage (after the global statistics and the
    shared inputs), which a delay would rarely hit.
    """
    t = ref["timings"]
    return [
        ("ingest", rng.uniform(0.1, 0.8) * t["ingest"]),
        ("tiles", rng.uniform(0.15, 0.6)),  # a fresh score: some tiles saved
        ("tiles", rng.uniform(0.15, 0.6)),  # resumed: some more
        ("export", rng.uniform(0.0, 0.5) * t["export"]),
        ("report", rng.uniform(0.1, 0.9) * t["report"]),
        ("start", rng.uniform(0.0, 1.0) * ref["wall"]),  # anywhere
    ]


def _n_tiles(score_dir: Path) -> int:
    return sum(1 for p in score_dir.glob("r*.npy") if TILE_NAME.match(p.name)) if score_dir.is_dir() else 0


def _run_and_kill(cfg_path: Path, log: Path, anchor: str, x: float, score_dir: Path) -> bool:
    """Run the CLI and SIGKILL it as planned; False when it finished first."""
    if anchor == "tiles":
        have = _n_tiles(score_dir)
        target = have + max(1, int(np.ceil(x * (N_TILES - have))))
    proc = _cli(cfg_path, log)
    t0 = time.perf_counter()
    if anchor == "tiles":
        while proc.poll() is None and _n_tiles(score_dir) < target:
            time.sleep(0.002)
    elif anchor != "start":
        mark = f"onemap.survey INFO: {anchor} ..."
        while proc.poll() is None and mark not in log.read_text(encoding="utf-8", errors="replace"):
            time.sleep(0.005)
        t0 = time.perf_counter()
    while anchor != "tiles" and proc.poll() is None and time.perf_counter() - t0 < x:
        time.sleep(0.002)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"survey failed ({proc.returncode}):\n{log.read_text()}")
    return proc.returncode == -signal.SIGKILL


def test_survey_killed_at_random_points_loses_nothing(county, reference, tmp_path):
    out = tmp_path / "killed"
    cfg_path = _config_file(county, out, tmp_path)
    score_dir = out / "work" / "score"
    records = []
    for cycle, (anchor, x) in enumerate(_kill_plan(reference, np.random.default_rng(8))):
        log = tmp_path / f"log{cycle}.txt"
        tiles_before = _n_tiles(score_dir)
        killed = _run_and_kill(cfg_path, log, anchor, x, score_dir)
        stage = _stage(log) if killed else "finished"
        temps = _scan(out, reference)  # after EVERY kill: nothing partial under a final name
        tiles = _n_tiles(score_dir)
        if stage in STAGES[STAGES.index("score") + 1:] + ("manifest",):  # the files agree with the log
            assert tiles == N_TILES, (cycle, stage, tiles)
        if stage in ("report", "manifest"):
            assert all((out / name).is_file() for name in PRODUCTS if name != "report.html"), (cycle, stage)
        records.append((cycle, anchor, round(x, 3), stage, tiles_before, tiles, temps))
    print(f"\n{'cycle':>5} {'anchor':>8} {'x':>6} {'stage hit':>10} tiles before -> after  temporaries")
    for cycle, anchor, x, stage, t0, t1, temps in records:
        print(f"{cycle:>5} {anchor:>8} {x:>6} {stage:>10} {t0:>6} -> {t1:>2}/{N_TILES}  {temps}")
    stages = Counter(r[3] for r in records if r[3] != "finished")
    print("kills per stage:", dict(stages))

    proc = _cli(cfg_path, tmp_path / "final.txt")
    assert proc.wait() == 0, (tmp_path / "final.txt").read_text()
    _assert_same_as_reference(out, reference)
    assert len(stages) >= 3, f"kills landed in too few stages: {dict(stages)}"
    # a kill in the middle of the score tiles: some saved, some not, and the rest saved later
    assert any(r[3] == "score" and 0 < r[5] < N_TILES for r in records), records


def test_rerun_into_the_same_folder_is_idempotent(reference):
    """A finished survey run again changes no output byte and computes no tile again.

    Two uninterrupted runs into different folders (and with different tilings) giving the same
    outputs is ``tests/test_survey.py::test_rerun_is_identical_and_tiling_does_not_matter``; the
    kill test above compares a second folder with the reference byte for byte.
    """
    out = reference["out"]
    before = {rel: p.stat().st_mtime_ns for rel, p in _final_files(out).items()}
    again = run_survey(out.parent / f"{out.name}.toml", progress=False)  # in-process API; the reference used the CLI
    assert again.manifest["verdict_table_sha256"] == reference["manifest"]["verdict_table_sha256"]
    assert again.manifest["outputs"] == reference["manifest"]["outputs"]
    _assert_same_as_reference(out, reference)  # bytes of every file, no temporary left
    after = {rel: p.stat().st_mtime_ns for rel, p in _final_files(out).items()}
    assert sorted(after) == sorted(before)
    recomputed = [rel for rel in after if rel.startswith("work/score/") and after[rel] != before[rel]]
    assert not recomputed, f"tiles computed again: {recomputed}"


def test_temporaries_of_killed_writers_are_removed(tmp_path):
    """A writer SIGKILLed inside ``atomic_path`` leaves a temporary; the next write removes it."""
    target = tmp_path / "table.csv"
    code = ("import sys, time; from onemap._atomic import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_text('half'); print(tmp, flush=True); time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, text=True)
    left = Path(proc.stdout.readline().strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert left.exists() and TEMP.match(left.name) and not target.exists()
    layer_tmp = tmp_path / f".verdicts.tmp-{proc.pid}-0123abcd.gpkg"  # write_layer's naming
    layer_tmp.write_bytes(b"half")
    mine = tmp_path / f".tmp-table-{os.getpid()}-0123abcd.csv"  # a live writer's (ours)
    mine.write_text("in progress")

    from onemap._atomic import atomic_write_text, remove_stale_temps

    atomic_write_text(target, "a,b\n1,2\n")  # the process's first write in the folder sweeps it
    assert target.read_text() == "a,b\n1,2\n"
    assert not left.exists() and mine.exists() and not layer_tmp.exists()
    layer_tmp.write_bytes(b"half")  # a writer that died after our sweep
    assert remove_stale_temps(tmp_path) == [layer_tmp]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, "table.csv"])
