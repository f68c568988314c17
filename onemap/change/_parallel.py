"""Run a GIL-free kernel over row strips on the calling thread plus idle pool threads.

Why not ``numba.prange``: a prange region is fork/join, so when another process holds a core
the whole call waits for the descheduled worker; on the shared 2-core machines this project runs
on, that made a 4 Mpx labelling slower than serial. Here the strips are claimed one at a time
from a shared counter and the calling thread works too: a busy machine degrades to serial speed,
an idle one gets every thread. The caller waits only for strips that another thread has already
started. Kernels are ``@njit(nogil=True)`` functions on disjoint row ranges.

The number of threads follows ``numba.get_num_threads()`` (``NUMBA_NUM_THREADS``).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numba
import numpy as np

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def threads() -> int:
    """Threads to use (numba's setting, so one knob controls every kernel)."""
    return max(1, numba.get_num_threads())


def strips(height: int, per_thread: int = 4, min_rows: int = 16) -> np.ndarray:
    """Row boundaries of a few strips per thread (finer strips balance a busy machine better)."""
    n = 1 if threads() == 1 else max(1, min(threads() * per_thread, height // max(min_rows, 1)))
    return np.linspace(0, height, n + 1).astype(np.int64)


def _get_pool(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="onemap-strip")
            _pool_size = workers
        return _pool


def run(kernel: Callable[..., Any], calls: Sequence[tuple]) -> list:
    """``[kernel(*args) for args in calls]``, the calls spread over the threads.

    Exceptions raised by a call are re-raised in the caller (the first one).
    """
    n = len(calls)
    results: list = [None] * n
    helpers = min(threads() - 1, n - 1)
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

    pool = _get_pool(threads() - 1)
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
