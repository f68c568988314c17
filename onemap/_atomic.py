"""Atomic file output: write under a temporary name in the target directory, then rename.

A reader never sees a half-written file under its final name. A run killed midway leaves at most
a temporary ``.tmp-<stem>-<pid>-<hex><suffix>`` file; the next process to write into that folder
removes it (the name carries the writer's process id, so only temporaries of writers that are gone
are touched), and :func:`remove_stale_temps` sweeps a folder on demand.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "remove_stale_temps"]

# temporaries of atomic_path (".tmp-<stem>-<pid>-<hex><suffix>") and of
# onemap.ingest.vector.write_layer (".<stem>.tmp-<pid>-<hex><suffix>", SQLite side files)
_TEMP = re.compile(r"^\.tmp-.*-(\d+)-[0-9a-f]{8}(?:\.|$)|^\..*\.tmp-(\d+)-[0-9a-f]{8}(?:\.|$)")


_SWEPT: set[Path] = set()  # folders this process has already cleaned of dead writers' temporaries


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _remove_if_stale(path: Path) -> bool:
    m = _TEMP.match(path.name)
    if m is None or _alive(int(m[1] or m[2])):
        return False
    with contextlib.suppress(FileNotFoundError):  # a concurrent sweep got there first
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed writers left in *folder*; return them.

    Only files named like the temporaries of :func:`atomic_path` and
    :func:`onemap.ingest.vector.write_layer` whose process no longer runs are removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.iterdir()) if _remove_if_stale(p)]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to *path*; on success it replaces *path* atomically.

    The temporary name keeps the file extension (drivers such as GDAL choose the format by it).
    On error the temporary file is removed and *path* is left as it was; temporaries left in the
    folder by killed processes are removed at this process's first write there.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.parent not in _SWEPT:  # once per folder and process: a folder of n files costs O(n)
        remove_stale_temps(target.parent)
        _SWEPT.add(target.parent)
    # the writer creates the file itself (some drivers refuse to open an existing one)
    tmp_name = f".tmp-{target.stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix or target.suffix}"
    tmp_path = target.parent / tmp_name
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write *data* to *path* atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write *text* to *path* atomically."""
    atomic_write_bytes(path, text.encode(encoding))
