"""The Dask executor: each job runs as one task on a Dask cluster, with the local pool's semantics.

The API process holds one asynchronous ``distributed.Client`` on its event loop. ``run`` submits
``service.worker.dask_entry.run_dask_job`` (``pure=False``, no retries, a key naming the job); the
worker side reports through structured events on one topic (see dask_entry). Here:

- progress events go to ``on_progress``, as the pipe's messages do in the local pool;
- cancel and timeout set the job's distributed ``Event`` (the task stops at its next checkpoint) and
  cancel the future after the grace period;
- a worker lost mid-job (its address leaves the cluster, or the task starts a second time, which
  is Dask rescheduling it elsewhere) or a ``KilledWorker`` ends the job with WorkerCrashedError;
- a lost scheduler connection ends running jobs with WorkerCrashedError and makes /readyz 503.

The workers must see the service's data dir at the same path (a shared volume): a task reads its
dataset and writes its model file there, exactly as a local job process does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from distributed import Client, Event, Future
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from service.errors import JobCanceledError, JobTimeoutError, ServiceError, WorkerCrashedError
from service.jobs.pool import JobFailedError, ProgressCallback
from service.worker.dask_entry import run_dask_job, warm_up
from service.worker.tasks import JobTask, TaskResult

logger = logging.getLogger("service.jobs")

# The one topic every job's events travel on; events carry the job id. One topic (not one per job)
# keeps the scheduler's bounded per-topic event log from growing with the number of jobs.
EVENT_TOPIC = "sparsefit-jobs"
# How often running jobs' workers are checked to still be in the cluster (one scheduler call).
WORKER_WATCH_S = 1.0
# A cancel Event stays set this long after its job ended, so a copy of the task that Dask still
# runs (its worker was lost, it was rescheduled) stops at its first checkpoint; then it is removed.
EVENT_KEEP_S = 60.0
CONNECT_TIMEOUT_S = 10.0


@dataclass
class DaskJob:
    """One running job: its future, its cancel Event, where it started, and how it was ended."""

    job_id: str
    cancel_event: Event
    on_progress: ProgressCallback
    # Resolved with an exception when the job is ended from here (cancel, lost worker).
    abort: asyncio.Future[None]
    future: Future[Any] | None = None
    worker: str | None = None
    canceled: bool = False
    timers: list[asyncio.TimerHandle] = field(default_factory=list)

    def end(self, error: ServiceError) -> None:
        if not self.abort.done():
            self.abort.set_exception(error)


class DaskPool:
    """Runs at most ``size`` jobs at once on the Dask cluster at ``scheduler``."""

    def __init__(self, size: int, cancel_grace_s: float, scheduler: str) -> None:
        self.size = size
        self.starting = False
        self.scheduler = scheduler
        self._cancel_grace_s = cancel_grace_s
        self._client: Client | None = None
        self._running: dict[str, DaskJob] = {}
        self._watch: asyncio.Task[None] | None = None
        self._failure: str | None = None
        # Background client calls (Event.set, Future.cancel) that close() lets finish first.
        self._calls: set[asyncio.Future[None]] = set()
        # start() runs in a thread (service.api.startup); the client lives on the service's loop.
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    # -- start-up and readiness ---------------------------------------------------------------

    def start(self) -> None:
        """Connect to the scheduler and warm the workers up; blocking, so called in a thread."""
        if self._loop is None or _on_loop_thread(self._loop):
            raise RuntimeError("DaskPool.start() runs in a thread, with the pool made on the event loop")
        self.starting = True
        try:
            _run_on(self._loop, self.connect()).result(timeout=CONNECT_TIMEOUT_S * 3 + 120)
        except Exception as error:  # the reason is shown by /readyz; the service keeps answering
            self._failure = f"Dask scheduler {self.scheduler} not reachable ({type(error).__name__})"
            logger.error("could not connect to the Dask scheduler at %s: %r", self.scheduler, error)
        finally:
            self.starting = False

    async def connect(self) -> None:
        """Open the client on the running loop and start the watch, which reconnects when needed."""
        self._loop = asyncio.get_running_loop()
        try:
            await self._open()
        finally:
            if self._watch is None:
                self._watch = asyncio.create_task(self._watch_workers(), name="dask-worker-watch")

    async def _open(self) -> None:
        """Connect a client, subscribe to the jobs' events, warm the workers up."""
        client: Client = await Client(
            self.scheduler, asynchronous=True, timeout=CONNECT_TIMEOUT_S, set_as_default=False
        )
        client.subscribe_topic(EVENT_TOPIC, self._on_event)
        self._client = client
        self._failure = None
        logger.info("connected to the Dask scheduler at %s", self.scheduler)
        # Imports and kernel compilation once per worker (a worker that joins later pays them in its
        # first job). Workers that fail it are not fatal: their jobs report their own errors.
        with contextlib.suppress(Exception):
            await client.run(warm_up)

    @property
    def started(self) -> bool:
        return self._client is not None and self._client.status == "running"

    async def wait_started(self) -> None:
        while self.starting:
            await asyncio.sleep(0.05)

    def not_ready_reason(self) -> str | None:
        if self.started:
            return None
        if self._failure is not None:
            return self._failure
        if self._client is None:
            return "not connected to the Dask scheduler yet"
        return f"connection to the Dask scheduler {self.scheduler} lost ({self._client.status})"

    async def close(self) -> None:
        """Close the client (the lifespan's end, after kill_all): the stop requests go out first."""
        if self._watch is not None:
            self._watch.cancel()
        if self._calls:
            await asyncio.wait(set(self._calls), timeout=2.0)
        if self._client is not None:
            await self._client.close()

    # -- running a job ------------------------------------------------------------------------

    async def run(self, task: JobTask, on_progress: ProgressCallback) -> TaskResult:
        """Run one job to its end; raises ServiceError or JobFailedError when it does not succeed."""
        client = self._client
        if client is None or not self.started:
            raise WorkerCrashedError(f"The job could not start: {self.not_ready_reason()}.")
        job = DaskJob(
            task.job_id,
            Event(f"sparsefit-cancel-{task.job_id}", client=client),
            on_progress,
            asyncio.get_running_loop().create_future(),
        )
        self._running[task.job_id] = job
        try:
            job.future = client.submit(
                run_dask_job,
                task,
                EVENT_TOPIC,
                job.cancel_event.name,
                key=f"sparsefit-{task.kind}-{task.job_id}",
                pure=False,
                retries=0,
            )
            return await asyncio.wait_for(self._outcome(job), task.timeout_s)
        except TimeoutError:
            raise JobTimeoutError(
                f"The job ran longer than its {task.timeout_s:g} s limit and was stopped."
            ) from None
        finally:
            del self._running[task.job_id]
            self._settle(job)

    async def _outcome(self, job: DaskJob) -> TaskResult:
        assert job.future is not None
        result = asyncio.ensure_future(self._result(job.future))
        waits: set[asyncio.Future[Any]] = {result, job.abort}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not result.done():
                result.cancel()
        # A task that reported before it was ended from here counts, as the pipe's last message does.
        if job.abort.done() and not (result.done() and result.exception() is None):
            job.abort.result()  # raises what ended the job
        message = result.result()
        if message[0] == "done":
            outcome: TaskResult = message[1]
            return outcome
        raise JobFailedError(message[1])

    async def _result(self, future: Future[Any]) -> tuple[str, Any]:
        try:
            message: tuple[str, Any] = await future
        except KilledWorker:
            raise WorkerCrashedError("The Dask workers running this job died.") from None
        except FutureCancelledError:
            raise WorkerCrashedError(
                "The job's Dask task was lost (the connection to the scheduler broke)."
            ) from None
        return message

    def _settle(self, job: DaskJob) -> None:
        """After the job's end: stop what may still run of it, then forget its Event."""
        if not job.abort.done():
            job.abort.cancel()
        if job.future is not None and not job.future.done():
            # A task that ignores the Event (between checkpoints) is released after the grace period.
            self._stop(job)
        if job.canceled:
            self._later(EVENT_KEEP_S, self._clear_event, job)

    def _stop(self, job: DaskJob) -> None:
        """Ask the task to stop at its next checkpoint; release its future after the grace period."""
        job.canceled = True
        self._spawn(job.cancel_event.set())
        self._later(self._cancel_grace_s, self._release, job)

    def _release(self, job: DaskJob) -> None:
        job.end(JobCanceledError("The job was canceled."))
        if job.future is not None and not job.future.done():
            self._spawn(job.future.cancel(reason="sparsefit: the job was canceled or timed out"))

    def _clear_event(self, job: DaskJob) -> None:
        if self.started:
            self._spawn(job.cancel_event.clear())

    async def cancel(self, job_id: str) -> bool:
        """Ask a running job to stop at its next checkpoint; release it after the grace period."""
        job = self._running.get(job_id)
        if job is None:
            return False
        self._stop(job)
        return True

    def kill_all(self) -> None:
        """Shutdown: every running job is asked to stop, and ended here at once."""
        for job in list(self._running.values()):
            if not job.canceled:
                self._stop(job)
            job.end(JobCanceledError("The job was canceled."))

    @property
    def running_jobs(self) -> int:
        return len(self._running)

    # -- events from the workers, and their watch ----------------------------------------------

    def _on_event(self, event: tuple[float, Any]) -> None:
        """Handler of the topic's events (on the loop): ``[job_id, kind, ...]``, see dask_entry."""
        message = event[1]
        job = self._running.get(str(message[0]))
        if job is None:  # another service's job on a shared cluster, or one that already ended
            return
        if message[1] == "progress":
            job.on_progress(float(message[2]), str(message[3]))
        elif message[1] == "started":
            if job.worker is not None:
                # Dask reschedules a task whose worker was lost; the local pool fails such a job.
                job.end(_lost(job.worker))
                self._stop(job)
            job.worker = str(message[2])

    async def _watch_workers(self) -> None:
        """Every WORKER_WATCH_S: reconnect a closed client, end the jobs whose worker left."""
        while True:
            await asyncio.sleep(WORKER_WATCH_S)
            try:
                await self._watch_once()
            except Exception as error:  # the watch must outlive any one failed look
                logger.warning("the Dask worker watch failed once: %r", error)

    async def _watch_once(self) -> None:
        client = self._client
        if client is None or client.status == "closed":
            # distributed gave up reconnecting (after CONNECT_TIMEOUT_S), or never connected.
            self._end_all("The connection to the Dask scheduler was lost.")
            try:
                await self._open()
            except Exception as error:
                self._failure = f"Dask scheduler {self.scheduler} not reachable ({type(error).__name__})"
            return
        placed = [job for job in self._running.values() if job.worker is not None]
        if not placed or client.status != "running":
            return  # while distributed reconnects, its futures end the jobs (FutureCancelledError)
        try:
            workers = await _scheduler(client).ncores()
        except OSError:
            return
        for job in placed:
            if job.worker not in workers:
                job.end(_lost(job.worker or "?"))
                self._stop(job)

    def _end_all(self, detail: str) -> None:
        for job in self._running.values():
            job.end(WorkerCrashedError(detail))

    # -- small loop plumbing ------------------------------------------------------------------

    def _later(self, delay: float, callback: Any, job: DaskJob) -> None:
        job.timers.append(asyncio.get_running_loop().call_later(delay, callback, job))

    def _spawn(self, awaitable: Any) -> None:
        """Run a client call (Event.set, Future.cancel) in the background; its failure is logged."""

        async def call() -> None:
            try:
                await awaitable
            except Exception as error:  # the scheduler is gone: nothing left to stop there
                logger.warning("a Dask call failed: %r", error)

        pending = asyncio.ensure_future(call())
        self._calls.add(pending)
        pending.add_done_callback(self._calls.discard)


def _lost(worker: str) -> WorkerCrashedError:
    return WorkerCrashedError(f"The Dask worker running this job ({worker}) was lost.")


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    return threading.get_ident() == getattr(loop, "_thread_id", None)


def _run_on(loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, None]) -> Any:
    return asyncio.run_coroutine_threadsafe(coroutine, loop)


def _scheduler(client: Client) -> Any:
    """The client's RPC handle on the scheduler (set once connected)."""
    return client.scheduler
