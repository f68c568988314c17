"""The one execution layer: NumPy-or-dask dispatch, halos, and the thread policy of every kernel.

Kernels (the ``_kernels.py``-style modules) are plain numba functions on NumPy arrays; this
module decides *how* they run.

Dispatch
    :func:`is_lazy` tells a dask array from an in-memory one; :func:`apply_blocks` runs a function
    of NumPy arrays on the whole array, or block by block through ``dask.array.map_blocks`` /
    ``map_overlap``. One halo rule: a block is extended by ``halo`` pixels on the two spatial
    (last) axes only, and pixels beyond the frame are ``boundary`` -- the value the in-memory
    kernel assumes outside the array -- so a blocked run equals the in-memory one, whatever the
    chunks. :func:`halo` says how wide: the reach of one pass times the number of passes.

Threads
    One knob for every kernel family: numba's thread count (``NUMBA_NUM_THREADS``, changed with
    ``numba.set_num_threads``, which is per calling thread). :func:`threads` reads it; numba's
    ``prange`` kernels (overlay) follow it by construction; the GIL-free kernels of ``change/``
    and the vector work of ``overlay/`` run on :func:`run`'s work-claiming pool, sized by it.
    :func:`serial` (and :func:`threads_for` for small jobs) sets it to one for a block of code:
    inside a dask block the block is the unit of parallelism, so kernels run on one thread.

Why a work-claiming pool and not ``numba.prange`` for the row-strip kernels: a prange region is
fork/join, so when another process holds a core the whole call waits for the descheduled worker;
on a shared 2-core machine that made a 4 Mpx labelling slower than serial. In :func:`run` the
calls are claimed one at a time from a shared counter and the calling thread works too: a busy
machine degrades to serial speed, an idle one gets every thread.

Examples
--------
>>> import numpy as np, dask.array as dsa
>>> from onemap._compute import apply_blocks, halo, is_lazy
>>> x = np.arange(36, dtype=np.float32).reshape(6, 6)
>>> def shift_sum(a):  # each pixel plus its right neighbour (0 beyond the edge)
...     out = a.copy()
...     out[:, :-1] += a[:, 1:]
...     return out
>>> lazy = apply_blocks(shift_sum, dsa.from_array(x, chunks=2), halo=halo(1), boundary=0,
...                     dtype=np.float32)
>>> is_lazy(lazy), bool((lazy.compute() == shift_sum(x)).all())
(True, True)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numba
import numpy as np

__all__ = ["is_lazy", "halo", "apply_blocks", "threads", "serial", "threads_for", "strips",
           "run", "run_strips", "PARALLEL_MIN_PIXELS"]

# below this many pixels one thread is faster than handing row strips to the pool
PARALLEL_MIN_PIXELS = 1 << 18


# --------------------------------------------------------------------------- dispatch


def is_lazy(x: Any) -> bool:
    """True for a dask array (anything with a ``.dask`` graph), False for in-memory data."""
    return hasattr(x, "dask")


def halo(reach: int, passes: int = 1) -> int:
    """Halo width for ``passes`` neighbourhood passes that each reach ``reach`` pixels.

    >>> halo(3), halo(3, passes=2)  # a box mean of radius 3; an opening (erosion + dilation)
    (3, 6)
    """
    reach, passes = int(reach), int(passes)
    if reach < 0 or passes < 1:
        raise ValueError(f"halo needs reach >= 0 and passes >= 1, got {reach}, {passes}")
    return reach * passes


def apply_blocks(func: Callable[..., np.ndarray], *arrays: Any, halo: int = 0,
                 boundary: Any = None, dtype: Any, chunks: Any = None,
                 drop_axis: int | Sequence[int] | None = None) -> Any:
    """``func(*arrays)`` on in-memory arrays, or block by block when the first array is lazy.

    Parameters
    ----------
    func
        A function of NumPy arrays (the blocks, C-contiguous) returning one NumPy array.
    arrays
        NumPy or dask arrays on the same grid (dask ones chunked alike).
    halo
        Pixels each block is extended by on the last two axes (see :func:`halo`); 0: none.
    boundary
        Value of the pixels beyond the array that a halo sees (required when ``halo > 0``).
    dtype, chunks, drop_axis
        Of the result blocks, as in ``dask.array.map_blocks``.

    On the lazy path each block runs under :func:`serial`: dask parallelises over the blocks.
    """
    if not is_lazy(arrays[0]):
        return func(*(np.ascontiguousarray(a) for a in arrays))
    import dask.array as dsa

    def block(*parts: np.ndarray) -> np.ndarray:
        with serial():
            return func(*(np.ascontiguousarray(p) for p in parts))

    if halo > 0:
        if boundary is None:
            raise ValueError("apply_blocks with a halo needs the boundary value")
        ndim = arrays[0].ndim
        depth = {axis: (halo if axis >= ndim - 2 else 0) for axis in range(ndim)}
        return dsa.map_overlap(block, *arrays, depth=depth, boundary=boundary, dtype=dtype)
    extra: dict[str, Any] = {}
    if chunks is not None:
        extra["chunks"] = chunks
    if drop_axis is not None:
        extra["drop_axis"] = drop_axis
    return dsa.map_blocks(block, *arrays, dtype=dtype, **extra)


# --------------------------------------------------------------------------- threads


def threads() -> int:
    """Threads a kernel may use here: numba's setting for the calling thread (at least one)."""
    return max(1, numba.get_num_threads())


@contextmanager
def serial() -> Iterator[None]:
    """Run every kernel family on the calling thread only, inside the block."""
    n = numba.get_num_threads()
    if n == 1:
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(n)


@contextmanager
def threads_for(work: float, threshold: float = 2e5) -> Iterator[None]:
    """:func:`serial` when the job (``work``, e.g. pixels) is below ``threshold``.

    Opening a parallel region costs a few milliseconds when the cores are busy (threads wait
    for each other at the barrier), more than it saves on small jobs.
    """
    if work >= threshold:
        yield
        return
    with serial():
        yield


def strips(height: int, per_thread: int = 4, min_rows: int = 16) -> np.ndarray:
    """Row boundaries of a few strips per thread (finer strips balance a busy machine better)."""
    n = threads()
    n = 1 if n == 1 else max(1, min(n * per_thread, height // max(min_rows, 1)))
    return np.linspace(0, height, n + 1).astype(np.int64)


_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _get_pool(workers: int) -> ThreadPoolExecutor:
    """One lasting pool (starting threads costs milliseconds on a busy machine)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="onemap-compute")
            _pool_size = workers
        return _pool


def run(kernel: Callable[..., Any], calls: Sequence[tuple], workers: int | None = None) -> list:
    """``[kernel(*args) for args in calls]``, the calls spread over :func:`threads` threads.

    Kernels are GIL-free (``@njit(nogil=True)`` on disjoint outputs, or C code that releases
    the GIL, e.g. GDAL reads, shapely, PNG encoding). The caller waits only for calls another
    thread has already started; the first exception raised by a call is re-raised in the
    caller. ``workers`` overrides the thread count (the caller included).
    """
    n = len(calls)
    results: list = [None] * n
    total = threads() if workers is None else max(1, int(workers))
    helpers = min(total - 1, n - 1)
    if helpers <= 0:
        for i, args in enumerate(calls):
            results[i] = kernel(*args)
        return results
    state = {"next": 0, "busy": 0}
    errors: list[BaseException] = []
    cond = threading.Condition()

    def work() -> None:
        while True:
            with cond:
                i = state["next"]
                if i >= n or errors:
                    return
                state["next"] = i + 1
                state["busy"] += 1
            try:
                results[i] = kernel(*calls[i])
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                with cond:
                    errors.append(exc)
            finally:
                with cond:
                    state["busy"] -= 1
                    cond.notify_all()

    pool = _get_pool(total - 1)
    futures = [pool.submit(work) for _ in range(helpers)]
    work()
    for f in futures:  # helpers that never started (busy pool, busy machine) are dropped
        f.cancel()
    with cond:
        while state["busy"] > 0:
            cond.wait()
    if errors:
        raise errors[0]
    return results


def run_strips(call: Callable[[int, int], Any], height: int, width: int) -> None:
    """``call(r0, r1)`` over row strips covering ``0:height`` (on :func:`run`'s pool when large).

    ``call`` must write disjoint rows, so the result does not depend on the strips.
    """
    n = threads()
    if n == 1 or height < 2 or height * width < PARALLEL_MIN_PIXELS:
        call(0, height)
        return
    n = min(n, height)
    edges = [height * k // n for k in range(n + 1)]
    run(call, [(edges[k], edges[k + 1]) for k in range(n)])
