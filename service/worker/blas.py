"""One BLAS / OpenMP thread for a job, with the thread pools found once per process, not per job."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from threadpoolctl import ThreadpoolController

# Finding the loaded thread pools walks every shared library of the process (~280 here): 10-60 ms,
# paid by every job when threadpool_limits did it afresh. The worker pool's forkserver imports this
# module after everything else it preloads, so the controller it builds here knows every library a
# job has, and each forked job inherits it; a Dask worker builds it at its first task.
_controller: ThreadpoolController | None = None


def controller() -> ThreadpoolController:
    """This process's thread-pool controller, built on first use."""
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def one_thread() -> AbstractContextManager[Any]:
    """A context in which every known BLAS and OpenMP pool runs one thread (restored after)."""
    limiter: AbstractContextManager[Any] = controller().limit(limits=1)
    return limiter


controller()
