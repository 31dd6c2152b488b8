"""CV folds in parallel processes forked from the fitting process: X is shared, never copied.

An executor may install a fold runner (``fold_runner``) that maps the work elsewhere, such as
one task per index on a cluster: ``run_folds`` then hands every call to it. Modeling code knows
only whether one is installed (``fanned_out``), never what it is.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import signal
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

# A fork child sees the parent's memory copy-on-write: the design (read-only here) is shared by
# every fold without a copy or a pickle, and the compiled kernels come along warm. Only a fold's
# scores travel back.
_TASK: Callable[[int], Any] | None = None
PR_SET_PDEATHSIG = 1

# ``runner(task, count)`` yields ``(k, task(k))`` for k in 0..count-1 in any order. The task it gets
# captures no checkpoint (callers pass one that reports nothing while fanned out), so it may be
# pickled and run in another process or machine.
FoldRunner = Callable[[Callable[[int], Any], int], Iterator[tuple[int, Any]]]
# A context variable, not a global: it is set for the one job running in the thread that set it,
# and a thread running another job (or a fanned-out fold) does not see it.
_RUNNER: ContextVar[FoldRunner | None] = ContextVar("sparsefit_fold_runner", default=None)


@contextlib.contextmanager
def fold_runner(runner: FoldRunner) -> Iterator[None]:
    """Within this block (in this thread), ``run_folds`` hands its work to ``runner``."""
    token = _RUNNER.set(runner)
    try:
        yield
    finally:
        _RUNNER.reset(token)


def fanned_out() -> bool:
    """Whether ``run_folds`` hands its work to an installed runner: its tasks must then capture no
    checkpoint (they report nothing while they run; the caller reports as each one completes)."""
    return _RUNNER.get() is not None


def _die_with_parent() -> None:
    """Linux: a fold process is killed when the fitting process dies (a canceled or killed job)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _run(index: int) -> tuple[int, Any]:
    assert _TASK is not None
    return index, _TASK(index)


def run_folds(task: Callable[[int], Any], count: int, processes: int) -> Iterator[tuple[int, Any]]:
    """``(k, task(k))`` for k in 0..count-1, as they finish; by the installed fold runner if any,
    else in ``processes`` forked processes when that is more than 1, else in order in this process.
    Closing the iterator early stops the pool (or the runner's pending work)."""
    global _TASK
    runner = _RUNNER.get()
    if runner is not None:
        yield from runner(task, count)
        return
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
