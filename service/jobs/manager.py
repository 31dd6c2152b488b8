"""JobManager: queues fit jobs, runs them in the worker pool, records every transition in the catalog."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from service.errors import (
    InterruptedJobError,
    JobCanceledError,
    JobFinishedError,
    QueueFullError,
    ServiceError,
)
from service.jobs.notify import ChangeNotifier
from service.jobs.pool import JobFailedError, WorkerPool
from service.store.catalog import Catalog
from service.store.records import FINISHED, JobRecord, JobStatus, ModelRecord, utc_now
from service.worker import FitResult, FitTask

logger = logging.getLogger("service.jobs")

# Progress is written to the catalog at most this often per job; listeners are woken every time.
PROGRESS_WRITE_INTERVAL_S = 0.25


class JobManager:
    """Owns the queue and the runners; the catalog is the source of truth for every job's state."""

    def __init__(self, catalog: Catalog, pool: WorkerPool, max_queued: int) -> None:
        self._catalog = catalog
        self._pool = pool
        self._max_queued = max_queued
        self._queue: asyncio.Queue[FitTask] = asyncio.Queue()
        self._runners: list[asyncio.Task[None]] = []
        self._notifier = ChangeNotifier()
        self._last_write: dict[str, float] = {}

    async def start(self) -> list[str]:
        """Settle jobs a previous process left unfinished, then start one runner per worker slot."""
        interrupted = self._catalog.interrupt_unfinished(
            InterruptedJobError("The service stopped while this job was queued or running.").to_problem()
        )
        if interrupted:
            logger.warning("marked %d unfinished job(s) from a previous run as interrupted", len(interrupted))
        self._runners = [
            asyncio.create_task(self._run_forever(), name=f"runner-{i}") for i in range(self._pool.size)
        ]
        return interrupted

    async def stop(self) -> None:
        """Bounded shutdown: stop the runners, kill running fits, and record them as interrupted."""
        for runner in self._runners:
            runner.cancel()
        self._pool.kill_all()
        for runner in self._runners:
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        self._catalog.interrupt_unfinished(
            InterruptedJobError("The service shut down while this job was queued or running.").to_problem()
        )

    def submit(self, job: JobRecord, task: FitTask) -> JobRecord:
        """Record a queued job and enqueue it; 503 with Retry-After when the queue is full."""
        if self._queue.qsize() >= self._max_queued:
            raise QueueFullError(
                f"{self._queue.qsize()} jobs are already queued; try again later.",
                headers={"Retry-After": "5"},
            )
        self._catalog.insert_job(job)
        self._queue.put_nowait(task)
        self._notifier.notify(job.id)
        return job

    async def cancel(self, job_id: str, tenant: str) -> JobRecord:
        job = self._catalog.get_job(job_id, tenant=tenant)
        if job.status in FINISHED:
            raise JobFinishedError(f"Job {job_id} already finished as {job.status}.", job_id=job_id)
        if job.status == JobStatus.QUEUED:
            job = self._finish(job_id, JobStatus.CANCELED, JobCanceledError("Canceled while queued."))
        else:
            await self._pool.cancel(job_id)
            self._catalog.update_progress(job_id, job.progress_fraction, "canceling", None)
            job = self._catalog.get_job(job_id, tenant=tenant)
        self._notifier.notify(job_id)
        return job

    def delete(self, job_id: str, tenant: str) -> None:
        """The catalog checks "finished" and deletes in one transaction, so no race with the runner."""
        self._catalog.delete_job(job_id, tenant=tenant)

    async def wait(self, job_id: str, tenant: str, timeout_s: float) -> JobRecord:
        """The job's record once it finished, or as it is after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            changed = self._notifier.listen(job_id)
            job = self._catalog.get_job(job_id, tenant=tenant)
            remaining = deadline - time.monotonic()
            if job.status in FINISHED or remaining <= 0:
                return job
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def follow(self, job_id: str, tenant: str, keepalive_s: float) -> AsyncIterator[JobRecord | None]:
        """Yield the job's record at every change (None as a keep-alive tick) until it finishes."""
        while True:
            changed = self._notifier.listen(job_id)
            job = self._catalog.get_job(job_id, tenant=tenant)
            yield job
            if job.status in FINISHED:
                return
            try:
                await asyncio.wait_for(changed.wait(), keepalive_s)
            except TimeoutError:
                yield None

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    async def _run_forever(self) -> None:
        while True:
            task = await self._queue.get()
            try:
                await self._run_one(task)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in bookkeeping must not kill the runner
                logger.exception("job %s: unexpected error in the job runner", task.job_id)
            finally:
                self._queue.task_done()

    async def _run_one(self, task: FitTask) -> None:
        job = self._catalog.get_job(task.job_id, tenant=task.tenant)
        if job.status != JobStatus.QUEUED:  # canceled while it waited
            return
        self._catalog.mark_running(task.job_id)
        self._notifier.notify(task.job_id)
        try:
            result = await self._pool.run(task, lambda f, s: self._on_progress(task.job_id, f, s))
        except JobFailedError as failure:
            status = (
                JobStatus.CANCELED
                if failure.problem.get("type") == JobCanceledError.type
                else JobStatus.FAILED
            )
            self._finish_with_problem(task.job_id, status, failure.problem)
        except ServiceError as error:
            status = JobStatus.CANCELED if isinstance(error, JobCanceledError) else JobStatus.FAILED
            self._finish(task.job_id, status, error)
        else:
            self._record_model(task, job, result)
        finally:
            self._last_write.pop(task.job_id, None)
            self._notifier.notify(task.job_id)

    def _on_progress(self, job_id: str, fraction: float, stage: str) -> None:
        now = time.monotonic()
        if now - self._last_write.get(job_id, 0.0) >= PROGRESS_WRITE_INTERVAL_S:
            self._last_write[job_id] = now
            self._catalog.update_progress(job_id, min(max(fraction, 0.0), 1.0), stage, None)
            self._notifier.notify(job_id)

    def _record_model(self, task: FitTask, job: JobRecord, result: FitResult) -> None:
        model = ModelRecord(
            id=result.model_id,
            name=job.name,
            job_id=job.id,
            dataset_id=task.dataset_id,
            created_at=utc_now(),
            sha256=result.sha256,
            size_bytes=result.size_bytes,
            summary=result.summary,
            tenant=task.tenant,
        )
        self._catalog.finish_job(job.id, JobStatus.SUCCEEDED, model=model)
        logger.info("job %s succeeded: model %s", job.id, model.id)

    def _finish(self, job_id: str, status: JobStatus, error: ServiceError) -> JobRecord:
        return self._finish_with_problem(job_id, status, error.to_problem())

    def _finish_with_problem(self, job_id: str, status: JobStatus, problem: dict[str, object]) -> JobRecord:
        logger.info("job %s %s: %s", job_id, status, problem.get("type"))
        return self._catalog.finish_job(job_id, status, error=dict(problem))
