"""A resumable store of score tiles on disk: a survey killed midway restarts where it stopped.

The tiles are exactly :meth:`onemap.frame.Frame.tiles` of the frame, which is also the grid of
the dask chunks the score is computed in (:meth:`TileStore.check_chunks` asserts it). Each tile
is kept as atomic ``.npy`` files: the score as ``float16`` (``r{row0}_c{col0}.npy``, written
last, so its presence marks the tile done), its value range and, when the store keeps one, its
share of a decimated overview of an image (both under ``overview/``). A ``key.txt`` stamp names
the inputs and parameters the tiles were computed from; another key empties the store.

``change_score(..., store=...)`` and ``detect_changes(..., store=...)`` fill a store (the key is
theirs: everything the score depends on); the survey keeps its score in one under
``work/score`` with the overview of its report map.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from ._atomic import atomic_path, atomic_write_text
from ._compute import is_lazy
from .frame import Frame, Tile

log = logging.getLogger("onemap.tilestore")

__all__ = ["TileStore", "overview_share", "save_tile", "load_tile", "stored"]

FLOAT16_MAX = 65504.0  # largest finite float16


class TileStore:
    """Score tiles of *frame*, ``tile_size`` pixels square, kept under *folder*.

    Parameters
    ----------
    folder
        The store's folder (created when missing).
    frame
        The frame the tiles cut.
    tile_size
        Tile side in pixels: the tiles are ``frame.tiles(tile_size)``.
    overview_rgb, overview_step
        Keep with each tile its share of a decimated overview of an image (the bands
        *overview_rgb*, every *overview_step*-th row and column) read in the same pass: the
        survey's report map. None: no overview.
    client
        A ``dask.distributed.Client`` to compute the tiles on (default: the current scheduler).
    progress
        Show a progress bar of the tiles (on a terminal, local schedulers only).

    Examples
    --------
    >>> import tempfile
    >>> frame = Frame.from_bounds((0, 0, 100, 60), 1.0, 4527)
    >>> store = TileStore(tempfile.mkdtemp(), frame, 64)
    >>> store.open("inputs-v1")
    >>> [t.index for t in store.missing()]
    [(0, 0), (0, 1)]
    >>> for t in store.tiles:
    ...     h, w = t.frame.shape
    ...     save_tile(np.full((h, w), 2.5), np.zeros((3, 1, 1)), store.path(t))
    >>> store.missing(), store.value_range()
    ([], (2.5, 2.5))
    >>> store.assemble().shape, float(store.assemble().sum().compute())
    ((60, 100), 15000.0)
    """

    def __init__(self, folder: str | PathLike[str], frame: Frame, tile_size: int, *,
                 overview_rgb: Sequence[int] | None = None, overview_step: int = 1,
                 client: Any = None, progress: bool = False) -> None:
        self.folder = Path(folder)
        self.frame = frame
        self.tile_size = int(tile_size)
        self.overview_rgb = None if overview_rgb is None else [int(b) for b in overview_rgb]
        self.overview_step = max(1, int(overview_step))
        self.client = client
        self.progress = bool(progress)
        self.tiles: list[Tile] = list(frame.tiles(self.tile_size))
        self.nrow = max(t.index[0] for t in self.tiles) + 1
        self.ncol = max(t.index[1] for t in self.tiles) + 1

    def __repr__(self) -> str:
        return f"TileStore({str(self.folder)!r}, {self.nrow}x{self.ncol} tiles of {self.tile_size})"

    def open(self, key: str) -> None:
        """Keep the stored tiles if they were computed under *key*, else start afresh."""
        import shutil

        stamp = self.folder / "key.txt"
        (self.folder / "overview").mkdir(parents=True, exist_ok=True)
        if not stamp.exists() or stamp.read_text() != key:  # different inputs: start afresh
            shutil.rmtree(self.folder)
            (self.folder / "overview").mkdir(parents=True)
            atomic_write_text(stamp, key)

    def path(self, tile: Tile) -> Path:
        """The score file of *tile*."""
        rows, cols = tile.window
        return self.folder / f"r{rows.start}_c{cols.start}.npy"

    def missing(self) -> list[Tile]:
        """The tiles not stored yet, row-major."""
        return [t for t in self.tiles if not self.path(t).exists()]

    def check_chunks(self, chunks: Sequence[Sequence[int]]) -> None:
        """Assert that dask *chunks* ``(rows, cols)`` are this store's tiles."""
        rows = tuple(t.frame.height for t in self.tiles if t.index[1] == 0)
        cols = tuple(t.frame.width for t in self.tiles if t.index[0] == 0)
        if (tuple(chunks[0]), tuple(chunks[1])) != (rows, cols):
            raise AssertionError(f"chunks {chunks} are not the tiles of {self!r} ({rows}, {cols})")

    def fill(self, score: Any, image: Any = None) -> None:
        """Compute the missing tiles of *score* and save each the moment it is ready.

        Parameters
        ----------
        score
            The score as a dask array chunked like the tiles (asserted).
        image
            The image ``(band, y, x)`` of the overview as a dask array (when the store keeps
            one): each tile keeps its share, so the imagery is read once.
        """
        import dask

        self.check_chunks(score.chunks)  # a dask block is a stored tile
        todo = self.missing()
        log.info("%s: %d of %d tiles to compute", self.folder.name, len(todo), len(self.tiles))
        if not todo:
            return
        local = self.client is None
        bar = _progress(len(self.tiles), len(self.tiles) - len(todo), self.progress and local)
        # one graph for all missing tiles: inputs shared by neighbouring tiles (halos) are read
        # once, and every tile is saved the moment it is ready, so a kill loses only running tiles
        # (not score.blocks[i, j]: each of those carries the whole graph)
        blocks = score.to_delayed(optimize_graph=False)
        shares = self._overview_shares(score, image)
        tasks = [dask.delayed(save_tile, pure=True)(
            blocks[t.index], shares[t.index] if shares is not None else None, self.path(t),
            bar if local else None) for t in todo]
        try:
            if local:
                dask.compute(*tasks)
            else:
                self.client.gather(self.client.compute(tasks))
        finally:
            bar.close()

    def _overview_shares(self, score: Any, image: Any) -> Any:
        """Per tile, a small task of its share of the overview (the image block is released as
        soon as the score no longer needs it, not held until the tile is saved); None when the
        store keeps no overview."""
        import dask

        if image is None or self.overview_rgb is None:
            return None
        if not is_lazy(image):
            import dask.array as dsa

            image = dsa.from_array(np.asarray(image), chunks=(-1,) + score.chunks)
        if image.chunks[1:] != score.chunks:  # the overview comes from the blocks the score reads
            image = image.rechunk((-1,) + score.chunks)
        blocks = image.to_delayed(optimize_graph=False)[0]
        out = np.empty(blocks.shape, object)
        for t in self.tiles:
            out[t.index] = dask.delayed(overview_share, pure=True)(
                blocks[t.index], self.overview_rgb, self.overview_step, t.window[0].start,
                t.window[1].start)
        return out

    def load(self, tile: Tile) -> np.ndarray:
        """The stored score of *tile* as float32."""
        return load_tile(self.path(tile))

    def assemble(self) -> Any:
        """All tiles as one lazy dask array on the frame (each tile read when computed)."""
        import dask
        import dask.array as da

        rows: list[list[Any]] = [[] for _ in range(self.nrow)]
        for t in self.tiles:
            rows[t.index[0]].append(da.from_delayed(dask.delayed(load_tile)(self.path(t)),
                                                    t.frame.shape, dtype=np.float32))
        return da.block(rows)

    def overview(self) -> np.ndarray | None:
        """The overview ``(3, h, w)`` stitched from the tiles' shares (None: not kept)."""
        if not all(_overview_path(self.path(t)).exists() for t in self.tiles):
            return None
        rows: list[list[np.ndarray]] = [[] for _ in range(self.nrow)]
        for t in self.tiles:
            rows[t.index[0]].append(np.load(_overview_path(self.path(t))))
        return np.concatenate([np.concatenate(r, axis=2) for r in rows], axis=1)

    def value_range(self) -> tuple[float, float] | None:
        """``(min, max)`` of the finite stored scores, None when no tile has one."""
        ranges = np.array([np.load(_range_path(self.path(t))) for t in self.tiles])
        if not np.isfinite(ranges).any():
            return None
        return float(np.nanmin(ranges[:, 0])), float(np.nanmax(ranges[:, 1]))


def stored(score: np.ndarray) -> np.ndarray:
    """The score as kept on disk: float16, ~3 significant digits (plenty for a score in noise
    sigmas) and half the bytes; writing the score is, after decompression, a county run's floor."""
    return np.clip(np.asarray(score, np.float32), -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)


def load_tile(path: Path) -> np.ndarray:
    """A stored score tile as float32."""
    return np.load(path).astype(np.float32)


def _overview_path(tile: Path) -> Path:
    return tile.parent / "overview" / tile.name


def _range_path(tile: Path) -> Path:
    return tile.parent / "overview" / tile.name.replace(".npy", ".range.npy")


def overview_share(scene: np.ndarray, rgb: list[int], step: int, r0: int, c0: int) -> np.ndarray:
    """The red, green, blue pixels of an image block at rows and columns that are multiples of
    *step* (the block starts at row *r0*, column *c0* of the frame)."""
    return np.ascontiguousarray(np.asarray(scene)[rgb, (-r0) % step::step, (-c0) % step::step])


def save_tile(score: np.ndarray, overview: np.ndarray | None, path: Path,
              bar: Any = None) -> None:
    """Save one score tile, its share of the overview (if any) and its value range atomically;
    the score file (written last) marks the tile done. *bar* (a tqdm bar) is advanced by one."""
    if overview is not None:
        with atomic_path(_overview_path(path)) as tmp:
            np.save(tmp, overview, allow_pickle=False)
    score = stored(score)
    finite = np.isfinite(score)
    lo_hi = np.array([score[finite].min(), score[finite].max()] if finite.any()
                     else [np.nan, np.nan], np.float64)
    with atomic_path(_range_path(path)) as tmp:
        np.save(tmp, lo_hi, allow_pickle=False)
    with atomic_path(path) as tmp:
        np.save(tmp, score, allow_pickle=False)
    if bar is not None:
        bar.update(1)


def _progress(total: int, initial: int, enabled: bool) -> Any:
    import sys

    from tqdm.auto import tqdm

    return tqdm(total=total, desc="score tiles", initial=initial,
                disable=not (enabled and sys.stderr.isatty()), leave=False)
