"""JobManager: turns requests into tasks of their kind, runs them in the pool, records every transition."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from service import logs
from service.errors import (
    InsufficientStorageError,
    InterruptedJobError,
    JobCanceledError,
    JobFinishedError,
    QueueFullError,
    ServiceError,
    StoreUnavailableError,
    TooManyJobsError,
)
from service.jobs.executor import Executor
from service.jobs.notify import ChangeNotifier
from service.jobs.pool import JobFailedError
from service.store.blobs import ModelStore
from service.store.catalog import Catalog
from service.store.records import (
    FINISHED,
    JobRecord,
    JobStatus,
    ModelRecord,
    SelectionRecord,
    new_id,
    utc_now,
)
from service.worker.kinds import build_task
from service.worker.tasks import FitResult, JobRequest, JobTask, SelectionResult, TaskResult, TaskSettings

logger = logging.getLogger("service.jobs")

# Progress is written to the catalog at most this often per job: each write is an fsynced commit.
PROGRESS_WRITE_INTERVAL_S = 0.5
# Waits between attempts to record a job's end while the store refuses writes (about 30 s in all).
RECORD_RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0)


class JobManager:
    """Owns the queue and the runners; the catalog is the source of truth for every job's state."""

    def __init__(
        self,
        catalog: Catalog,
        pool: Executor,
        max_queued: int,
        max_queued_per_tenant: int | None = None,
        *,
        models: ModelStore | None = None,
        task_settings: TaskSettings | None = None,
    ) -> None:
        self._catalog = catalog
        # What every task gets from the settings; None only in tests that submit tasks they built.
        self._task_settings = task_settings
        self._pool = pool
        # Where a job that did not succeed may have left its model file (saved before the report).
        self._models = models
        self._max_queued = max_queued
        self._max_queued_per_tenant = max_queued_per_tenant or max_queued
        # Queued jobs per tenant, kept here rather than counted in SQL on every submit.
        self._queued_by_tenant: Counter[str] = Counter()
        self._queue: asyncio.Queue[JobTask] = asyncio.Queue()
        self._runners: list[asyncio.Task[None]] = []
        self._notifier = ChangeNotifier()
        self._last_write: dict[str, float] = {}
        self._progress_writes: dict[str, asyncio.Task[None]] = {}
        # Submissions between their capacity check and their enqueue (the catalog write in between
        # runs in a thread), so two concurrent submits cannot both take the last place.
        self._reserved = 0

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

    def check_capacity(self, tenant: str) -> None:
        """429 with Retry-After when ``tenant`` already has its share of the queue (so one busy tenant
        cannot lock the others out), 503 with Retry-After when the whole queue is full.

        Cheap, so a route can ask before it does the work of validating a job it could not queue.
        """
        if self._queued_by_tenant[tenant] >= self._max_queued_per_tenant:
            raise TooManyJobsError(
                f"You already have {self._queued_by_tenant[tenant]} queued jobs, the most one "
                "tenant may have; wait for some to start.",
                headers={"Retry-After": "5"},
            )
        if self._queue.qsize() + self._reserved >= self._max_queued:
            raise QueueFullError(
                f"{self._queue.qsize()} jobs are already queued; try again later.",
                headers={"Retry-After": "5"},
            )

    async def submit_request(
        self, request: JobRequest, *, name: str | None, normalised: dict[str, Any], tenant: str
    ) -> JobRecord:
        """Queue a validated request as the task of its kind; the queued job's record.

        The dataset may have been deleted since the request was validated: the catalog insert
        checks it again, in its transaction (NotFoundError).
        """
        if self._task_settings is None:
            raise RuntimeError("this JobManager was made without task settings")
        job_id, output_id = new_id(), new_id()
        task = build_task(request, self._task_settings, job_id, output_id, tenant)
        record = JobRecord(
            id=job_id,
            kind=request.kind,
            name=name,
            status=JobStatus.QUEUED,
            progress_fraction=0.0,
            progress_stage="queued",
            progress_message=None,
            created_at=utc_now(),
            started_at=None,
            finished_at=None,
            model_id=None,
            error=None,
            request=normalised,
            dataset_id=request.dataset_id,
            tenant=tenant,
        )
        return await self.submit(record, task, require_dataset=True)

    async def submit(self, job: JobRecord, task: JobTask, *, require_dataset: bool = False) -> JobRecord:
        """Record a queued job and enqueue it, within the limits of :meth:`check_capacity`.

        ``require_dataset``: NotFoundError unless the job's dataset still exists when it is recorded
        (checked in the insert's transaction, so a delete of the dataset cannot slip in between).
        """
        self.check_capacity(task.tenant)
        self._queued_by_tenant[task.tenant] += 1
        self._reserved += 1
        try:
            await asyncio.to_thread(self._catalog.insert_job, job, require_dataset=require_dataset)
        except BaseException:
            self._queued_by_tenant[task.tenant] -= 1
            raise
        finally:
            self._reserved -= 1
        self._queue.put_nowait(task)
        self._notifier.notify(job.id)
        logger.info("job %s queued", job.id, extra={"event": "job_queued", **task.log_fields()})
        return job

    async def cancel(self, job_id: str, tenant: str) -> JobRecord:
        job = await self._get(job_id, tenant)
        if job.status in FINISHED:
            raise JobFinishedError(f"Job {job_id} already finished as {job.status}.", job_id=job_id)
        if job.status == JobStatus.QUEUED:
            job = await self._finish(job_id, JobStatus.CANCELED, JobCanceledError("Canceled while queued."))
        else:
            await self._pool.cancel(job_id)
            await asyncio.to_thread(
                self._catalog.update_progress, job_id, job.progress_fraction, "canceling", None
            )
            job = await self._get(job_id, tenant)
        self._notifier.notify(job_id)
        return job

    async def delete(self, job_id: str, tenant: str) -> None:
        """The catalog checks "finished" and deletes in one transaction, so no race with the runner."""
        await asyncio.to_thread(self._catalog.delete_job, job_id, tenant)

    async def wait(self, job_id: str, tenant: str, timeout_s: float) -> JobRecord:
        """The job's record once it finished, or as it is after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            changed = self._notifier.listen(job_id)
            job = await self._get(job_id, tenant)
            remaining = deadline - time.monotonic()
            if job.status in FINISHED or remaining <= 0:
                return job
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def follow(self, job_id: str, tenant: str, keepalive_s: float) -> AsyncIterator[JobRecord | None]:
        """Yield the job's record at every change (None as a keep-alive tick) until it finishes."""
        while True:
            changed = self._notifier.listen(job_id)
            job = await self._get(job_id, tenant)
            yield job
            if job.status in FINISHED:
                return
            try:
                await asyncio.wait_for(changed.wait(), keepalive_s)
            except TimeoutError:
                yield None

    async def _get(self, job_id: str, tenant: str) -> JobRecord:
        # Every catalog call leaves the event loop: a read waits on the catalog's lock while another
        # thread's commit fsyncs, and on the loop that wait stalled every request, /healthz included.
        return await asyncio.to_thread(self._catalog.get_job, job_id, tenant)

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    async def _run_forever(self) -> None:
        while True:
            task = await self._queue.get()
            # A job submitted while the pool warms up stays queued (and cancelable as such) until
            # the forkserver is up, rather than "running" while it waits for it.
            await self._pool.wait_started()
            self._queued_by_tenant[task.tenant] -= 1
            try:
                await self._run_one(task)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in bookkeeping must not kill the runner
                logger.exception("job %s: unexpected error in the job runner", task.job_id)
            finally:
                self._queue.task_done()

    async def _run_one(self, task: JobTask) -> None:
        # Every line logged while the job runs (its progress writes included: their tasks copy this
        # context) names the job, its model, its dataset and its tenant.
        with logs.bound(**task.log_fields()):
            await self._run_bound(task)

    async def _run_bound(self, task: JobTask) -> None:
        job = await self._get(task.job_id, task.tenant)
        if job.status != JobStatus.QUEUED:  # canceled while it waited
            return
        await asyncio.to_thread(self._catalog.mark_running, task.job_id)
        self._notifier.notify(task.job_id)
        started = time.monotonic()
        logger.info("job %s started", task.job_id, extra={"event": "job_started"})
        try:
            result = await self._pool.run(task, lambda f, s: self._on_progress(task.job_id, f, s))
        except JobFailedError as failure:
            status = (
                JobStatus.CANCELED
                if failure.problem.get("type") == JobCanceledError.type
                else JobStatus.FAILED
            )
            await self._discard_output(task)
            await self._finish_with_problem(task.job_id, status, failure.problem, started)
        except ServiceError as error:
            status = JobStatus.CANCELED if isinstance(error, JobCanceledError) else JobStatus.FAILED
            await self._discard_output(task)
            await self._finish_with_problem(task.job_id, status, error.to_problem(), started)
        else:
            await self._record_output(task, job, result, started)
        finally:
            self._last_write.pop(task.job_id, None)
            self._notifier.notify(task.job_id)

    async def _discard_output(self, task: JobTask) -> None:
        """Delete the model file of a job that did not succeed: no catalog row will point to it.

        A selection lives only in its catalog row, so a selection job leaves nothing to delete.
        """
        if self._models is None or task.output_field != "model_id":
            return
        try:
            await asyncio.to_thread(self._models.delete, task.output_id)
        except OSError as error:  # start-up sweeps what is left (ModelStore.remove_unknown)
            logger.warning("job's model %s not removed: %s", task.output_id, error)

    def _on_progress(self, job_id: str, fraction: float, stage: str) -> None:
        """Write progress in the background, at most one write in flight and one per interval."""
        now = time.monotonic()
        if (
            job_id in self._progress_writes
            or now - self._last_write.get(job_id, 0.0) < PROGRESS_WRITE_INTERVAL_S
        ):
            return
        self._last_write[job_id] = now
        self._progress_writes[job_id] = asyncio.create_task(self._write_progress(job_id, fraction, stage))

    async def _write_progress(self, job_id: str, fraction: float, stage: str) -> None:
        try:
            # A write that lands after the job finished changes nothing (update_progress checks).
            await asyncio.to_thread(
                self._catalog.update_progress, job_id, min(max(fraction, 0.0), 1.0), stage
            )
        except ServiceError as error:  # progress is best effort; a full disk shows up elsewhere
            logger.warning("job %s: progress not recorded: %s", job_id, error.type)
        finally:
            del self._progress_writes[job_id]
            self._notifier.notify(job_id)

    async def _record_output(self, task: JobTask, job: JobRecord, result: TaskResult, started: float) -> None:
        """Store what the job made, a model or a selection, with the job's end in one transaction."""
        if isinstance(result, SelectionResult):
            selection = _selection_record(task, job, result)
            await self._record_end(job.id, JobStatus.SUCCEEDED, selection=selection)
            made = f"selection {selection.id}"
        else:
            model = _model_record(task, job, result)
            await self._record_end(job.id, JobStatus.SUCCEEDED, model=model)
            made = f"model {model.id}"
        duration_ms = _since(started)
        logger.info(
            "job %s succeeded in %.0f ms: %s",
            job.id,
            duration_ms,
            made,
            extra={"event": "job_succeeded", "job_status": "succeeded", "duration_ms": duration_ms},
        )

    async def _finish(self, job_id: str, status: JobStatus, error: ServiceError) -> JobRecord:
        return await self._finish_with_problem(job_id, status, error.to_problem())

    async def _finish_with_problem(
        self, job_id: str, status: JobStatus, problem: dict[str, object], started: float | None = None
    ) -> JobRecord:
        """Record the job's end; its one log line says how it ended and, once it ran, after how long."""
        fields: dict[str, object] = {
            "event": f"job_{status.value}",
            "job_status": status.value,
            "problem": problem.get("type"),
        }
        if started is None:
            logger.info("job %s %s: %s", job_id, status.value, problem.get("type"), extra=fields)
        else:
            fields["duration_ms"] = duration_ms = _since(started)
            logger.info(
                "job %s %s after %.0f ms: %s",
                job_id,
                status.value,
                duration_ms,
                problem.get("type"),
                extra=fields,
            )
        return await self._record_end(job_id, status, error=dict(problem))

    async def _record_end(self, job_id: str, status: JobStatus, **outcome: Any) -> JobRecord:
        """``finish_job``, retried while the store is full or read-only.

        A job whose end is not recorded would read `running` until the next restart, so a storage
        fault (often brief: a log rotated, a volume remounted) gets a few chances to clear.
        """
        for delay in (*RECORD_RETRY_DELAYS_S, None):
            try:
                return await asyncio.to_thread(self._catalog.finish_job, job_id, status, **outcome)
            except (InsufficientStorageError, StoreUnavailableError) as error:
                if delay is None:
                    raise
                logger.warning(
                    "job %s: recording its end failed (%s); retry in %g s", job_id, error.type, delay
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")


def _model_record(task: JobTask, job: JobRecord, result: FitResult) -> ModelRecord:
    return ModelRecord(
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


def _selection_record(task: JobTask, job: JobRecord, result: SelectionResult) -> SelectionRecord:
    return SelectionRecord(
        id=result.selection_id,
        kind=result.kind,
        job_id=job.id,
        dataset_id=task.dataset_id,
        created_at=utc_now(),
        summary=result.summary,
        tenant=task.tenant,
    )


def _since(started: float) -> float:
    """Milliseconds since the ``time.monotonic()`` value ``started``."""
    return round((time.monotonic() - started) * 1000.0, 3)
