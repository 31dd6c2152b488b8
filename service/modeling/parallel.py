"""CV folds in parallel processes forked from the fitting process: X is shared, never copied."""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import signal
from collections.abc import Callable, Iterator
from typing import Any

# A fork child sees the parent's memory copy-on-write: the design (read-only here) is shared by
# every fold without a copy or a pickle, and the compiled kernels come along warm. Only a fold's
# scores travel back.
_TASK: Callable[[int], Any] | None = None
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: a fold process is killed when the fitting process dies (a canceled or killed job)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _run(index: int) -> tuple[int, Any]:
    assert _TASK is not None
    return index, _TASK(index)


def run_folds(task: Callable[[int], Any], count: int, processes: int) -> Iterator[tuple[int, Any]]:
    """``(k, task(k))`` for k in 0..count-1, as they finish; in ``processes`` forked processes when
    that is more than 1, else in order in this process. Closing the iterator early stops the pool."""
    global _TASK
    if processes <= 1 or count <= 1:
        for k in range(count):
            yield k, task(k)
        return
    _TASK = task
    try:
        context = multiprocessing.get_context("fork")
        with context.Pool(min(processes, count), initializer=_die_with_parent) as pool:
            yield from pool.imap_unordered(_run, range(count))
    finally:
        _TASK = None
