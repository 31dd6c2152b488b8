"""The worker process's entry point: run one job task, report progress and the outcome over a pipe."""

from __future__ import annotations

import gc
import logging
import os
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

from service import logs
from service.errors import JobCanceledError, ServiceError
from service.modeling import Checkpoint as ModelingCheckpoint
from service.worker.tasks import JobTask

# Added to a job process's nice value (its CV fold processes inherit it).
WORKER_NICENESS = 10


def _server_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Checkpoint:
    """Reports progress and stops the fit when the job is canceled or the server is gone."""

    def __init__(self, conn: Connection, cancel: Event, server_pid: int) -> None:
        self._conn = conn
        self._cancel = cancel
        self._server_pid = server_pid

    def __call__(self, fraction: float, stage: str) -> None:
        if not _server_alive(self._server_pid):
            # Orphaned by a crashed server: nobody will read the result, so stop at once.
            os._exit(1)
        if self._cancel.is_set():
            raise JobCanceledError("The job was canceled.")
        send(self._conn, ("progress", float(fraction), stage))


def send(conn: Connection, message: tuple[Any, ...]) -> None:
    """Send ``message`` to the web process; when it no longer listens, end this process quietly.

    The web process stops reading a job it has given up on (timed out, shut down). A send into the
    closed pipe then raised BrokenPipeError inside the fit, and the report of that failure raised it
    again: two tracebacks in the log for a job whose timeout was already logged, once.
    """
    try:
        conn.send(message)
    except (BrokenPipeError, ConnectionResetError):
        os._exit(1)  # nobody will read a result; CV fold processes die with this one (PDEATHSIG)


def run_job(task: JobTask, conn: Connection, cancel: Event) -> None:
    """Process entry point: every outcome, good or bad, is one message on `conn`."""
    # Fits yield the CPU to the web process, so health checks and reads stay fast on a saturated pool.
    os.nice(WORKER_NICENESS)
    # The forkserver's imports left some 200,000 objects that the cyclic collector would walk on
    # every full collection the job's allocations trigger: 130 ms to pickle a 5,000-feature encoder
    # instead of 5, and 100 ms more per wide fit. Frozen, they are never walked (nor copied on write).
    gc.freeze()
    # The web process's log format and level, and the job's fields on every line this process logs.
    logs.configure_job_process(**task.log_fields())
    checkpoint = Checkpoint(conn, cancel, task.server_pid)
    try:
        message = task_outcome(task, checkpoint)
        try:
            send(conn, message)
        except Exception as error:  # a result that cannot be sent (pickled) is a bug like any other
            send(conn, ("error", _unexpected(task, error)))
    finally:
        conn.close()


def task_outcome(task: JobTask, checkpoint: ModelingCheckpoint) -> tuple[str, Any]:
    """Run ``task`` with one BLAS thread: ``("done", result)``, or ``("error", problem)`` for every
    failure, as both executors report it (the pipe's last message, the Dask task's return value)."""
    try:
        # Imported here, not above: the web process imports this module and needs no controller;
        # the forkserver preloads service.worker.blas last (WorkerPool), so this costs a job nothing.
        from service.worker import blas

        with blas.one_thread():
            return ("done", task.run(checkpoint))
    except ServiceError as error:
        return ("error", error.to_problem())
    except MemoryError:
        return ("error", _internal_problem("The fit ran out of memory."))
    except Exception as error:  # any other failure is a bug; report it without internals
        return ("error", _unexpected(task, error))


def _unexpected(task: JobTask, error: Exception) -> dict[str, Any]:
    logging.getLogger("service.worker").exception("job %s: the fit failed unexpectedly", task.job_id)
    return _internal_problem(f"The fit failed unexpectedly ({type(error).__name__}).")


def _internal_problem(detail: str) -> dict[str, Any]:
    return {"type": "/problems/internal", "title": "Internal error", "status": 500, "detail": detail}


def warm_up() -> None:
    """Run in a fresh worker at pool start so the forkserver has everything imported."""
