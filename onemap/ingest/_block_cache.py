"""Decoded blocks of tiled files, kept between the reads of overlapping windows.

A tile read with a halo decodes whole internal blocks of the file: a 2 048² tile with a 40-pixel
halo of a file tiled 512 x 512 decodes 6 x 6 blocks instead of 4 x 4, 2.25 times the work, and
its neighbours decode the same edge blocks again. A :class:`BlockCache` is told the windows
that will be read (:meth:`BlockCache.expect`); a block more than one of them needs is decoded
once, kept until its last reader has it, then dropped. Blocks only one window needs are never
kept, so the memory held is the blocks shared by the windows still to come (in raster order
about two rows of blocks of the scene's width), bounded by *max_bytes* (beyond it the least
recently used block goes; a later reader decodes it again).

Only files on the frame's pixel lattice whose blocks are tiles (not strips) are cached; the
values are the file's, bit for bit, whatever was cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["BlockCache"]

Key = tuple[str, float, tuple[int, ...], int, int]


class BlockCache:
    """Decoded blocks shared by the window reads of one pass (thread-safe).

    Parameters
    ----------
    max_bytes
        The most decoded blocks kept at once, in bytes.

    Examples
    --------
    >>> cache = BlockCache(max_bytes=2**28)
    >>> cache.held_bytes, cache.decoded
    (0, 0)
    """

    def __init__(self, max_bytes: int = 1 << 30) -> None:
        self.max_bytes = int(max_bytes)
        self.decoded = 0  # blocks decoded (a statistic for tests and benchmarks)
        self._uses: dict[Key, int] = {}  # reads still expected per block
        self._blocks: OrderedDict[Key, np.ndarray] = OrderedDict()  # least recently used first
        self._pending: dict[Key, threading.Event] = {}  # blocks being decoded by a thread
        self._lock = threading.Lock()
        self.held_bytes = 0  # bytes of the blocks kept

    @staticmethod
    def caches(part: Any) -> bool:
        """Whether *part*'s blocks are tiles (strips gain little: a halo adds a few rows)."""
        bh, bw = part.block
        return bh < part.frame.height and bw < part.frame.width

    def expect(self, part: Any, indexes: tuple[int, ...], rows: tuple[int, int],
               cols: tuple[int, int]) -> None:
        """Count one future read of file rows ``rows[0]:rows[1]``, columns ``cols[0]:cols[1]``."""
        with self._lock:
            for key, _ in _blocks_of(part, tuple(indexes), rows, cols):
                self._uses[key] = self._uses.get(key, 0) + 1

    def read(self, src: Any, part: Any, indexes: tuple[int, ...], rows: tuple[int, int],
             cols: tuple[int, int]) -> np.ndarray:
        """File rows ``rows[0]:rows[1]``, columns ``cols[0]:cols[1]`` of bands *indexes* of the
        open dataset *src* (the file of *part*), in the file's dtype."""
        (r0, r1), (c0, c1) = rows, cols
        out = np.empty((len(indexes), r1 - r0, c1 - c0), np.dtype(src.dtypes[indexes[0] - 1]))
        for key, (br0, br1, bc0, bc1) in _blocks_of(part, tuple(indexes), rows, cols):
            block = self._take(key, src, indexes, (br0, br1, bc0, bc1))
            ir0, ir1, ic0, ic1 = max(r0, br0), min(r1, br1), max(c0, bc0), min(c1, bc1)
            out[:, ir0 - r0:ir1 - r0, ic0 - c0:ic1 - c0] = block[:, ir0 - br0:ir1 - br0,
                                                                  ic0 - bc0:ic1 - bc0]
        return out

    def _take(self, key: Key, src: Any, indexes: tuple[int, ...],
              bounds: tuple[int, int, int, int]) -> np.ndarray:
        """The block *key*: kept, being decoded by another thread (waited for) or decoded here;
        one expected use is consumed and the block dropped after its last."""
        while True:
            with self._lock:
                block = self._blocks.get(key)
                if block is not None:
                    self._consume(key)
                    return block
                wait = self._pending.get(key)
                if wait is None:
                    mine = self._pending[key] = threading.Event()
                    break
            wait.wait()  # the other thread's block is kept if anyone still expects it
        try:
            from rasterio.windows import Window

            br0, br1, bc0, bc1 = bounds
            block = src.read(list(indexes), window=Window(bc0, br0, bc1 - bc0, br1 - br0))
            with self._lock:
                self.decoded += 1
                if self._uses.get(key, 0) > 1:
                    self._keep(key, block)
                self._consume(key)
        finally:
            with self._lock:
                del self._pending[key]
            mine.set()
        return block

    def _consume(self, key: Key) -> None:
        """One expected read of *key* done (lock held); the block goes after its last."""
        left = self._uses.get(key, 0) - 1
        if left > 0:
            self._uses[key] = left
            if key in self._blocks:
                self._blocks.move_to_end(key)
            return
        self._uses.pop(key, None)
        gone = self._blocks.pop(key, None)
        if gone is not None:
            self.held_bytes -= gone.nbytes

    def _keep(self, key: Key, block: np.ndarray) -> None:
        """Keep *block* (lock held); beyond *max_bytes* the least recently used go."""
        self._blocks[key] = block
        self.held_bytes += block.nbytes
        while self.held_bytes > self.max_bytes and len(self._blocks) > 1:
            _, old = self._blocks.popitem(last=False)
            self.held_bytes -= old.nbytes


def _blocks_of(part: Any, indexes: tuple[int, ...], rows: tuple[int, int],
               cols: tuple[int, int]) -> Iterator[tuple[Key, tuple[int, int, int, int]]]:
    """(key, file bounds r0, r1, c0, c1) of every block of *part* under the window."""
    bh, bw = part.block
    h, w = part.frame.shape
    (r0, r1), (c0, c1) = rows, cols
    for br in range(r0 // bh, (r1 - 1) // bh + 1):
        for bc in range(c0 // bw, (c1 - 1) // bw + 1):
            yield ((str(part.path), part.mtime, indexes, br, bc),
                   (br * bh, min((br + 1) * bh, h), bc * bw, min((bc + 1) * bw, w)))
