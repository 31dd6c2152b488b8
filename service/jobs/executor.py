"""Executor: what the job manager, start-up, /metrics and /readyz use of a backend that runs jobs."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from service.jobs.pool import ProgressCallback
from service.worker.tasks import JobTask, TaskResult


class Executor(Protocol):
    """Runs job tasks: the local process pool (service.jobs.pool.WorkerPool) or a Dask cluster
    (service.jobs.dask_pool.DaskPool). The job kinds never know which one runs them.

    ``run`` ends in the task's result, or raises a ServiceError (JobTimeoutError, JobCanceledError,
    WorkerCrashedError) or a JobFailedError carrying the problem the task reported.
    """

    # How many jobs run at once: the manager starts one runner per slot.
    size: int
    # True while start() runs: /healthz answers, /readyz says "starting" (start-up sets it too).
    starting: bool

    @property
    def started(self) -> bool:
        """The backend can run jobs now (/readyz's ``workers`` check)."""
        ...

    def start(self) -> None:
        """Blocking warm-up, called in a thread while the service already serves."""
        ...

    async def wait_started(self) -> None:
        """Return once no start() is under way."""
        ...

    async def run(self, task: JobTask, on_progress: ProgressCallback) -> TaskResult:
        """Run one job to its end."""
        ...

    async def cancel(self, job_id: str) -> bool:
        """Ask a running job to stop at its next checkpoint, ended for good after the grace period;
        False when the job is not running here."""
        ...

    def kill_all(self) -> None:
        """Shutdown: stop every running job now."""
        ...

    @property
    def running_jobs(self) -> int:
        """Jobs running at this moment (the busy slots of /metrics)."""
        ...


@runtime_checkable
class ExplainsReadiness(Protocol):
    """An executor that can say why it cannot run jobs (a Dask scheduler it lost), for /readyz."""

    def not_ready_reason(self) -> str | None:
        """None when ready, else a short sentence naming what is missing (never a secret)."""
        ...


@runtime_checkable
class ClosesAsync(Protocol):
    """An executor holding a connection that the lifespan closes at shutdown (after kill_all)."""

    async def close(self) -> None: ...
