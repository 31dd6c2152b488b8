"""The local worker pool: each job runs in its own process forked from a preloaded forkserver.

Why not `ProcessPoolExecutor`: a job must be stoppable (cancel, timeout, shutdown) without
breaking the pool, and a worker that dies must fail only its own job. Forking each job from a
forkserver that has already imported numpy and scikit-learn costs milliseconds, gives every job
a clean process, and lets the pool kill exactly the process it means to.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any

from service.errors import JobCanceledError, JobTimeoutError, ServiceError, WorkerCrashedError
from service.worker.process import run_job, warm_up
from service.worker.tasks import JobTask, TaskResult

ProgressCallback = Callable[[float, str], None]
# A job process's entry point: it sends ("progress", fraction, stage) messages, then one
# ("done", TaskResult) or ("error", problem), on the connection. The service runs run_job; tests
# pass stand-ins (module-level functions or partials of them: the forkserver pickles the target).
JobTarget = Callable[[JobTask, multiprocessing.connection.Connection, Event], None]


# What the forkserver imports, in this order: service.worker limits BLAS threads before numpy
# loads; service.jobs.preload brings everything else a job needs (see there); service.worker.blas
# then finds the thread pools of every library loaded so far, once for all jobs.
FORKSERVER_PRELOAD = ("service.worker", "service.jobs.preload", "service.worker.blas")


class JobFailedError(Exception):
    """A worker reported a problem; carries the problem object as the worker sent it."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail", ""))
        self.problem = problem


@dataclass
class RunningJob:
    """Handle on one job's process, used to cancel it."""

    process: BaseProcess
    cancel_event: Any
    canceled: bool = False


class WorkerPool:
    """Runs at most `size` fit processes at once; the caller bounds the concurrency."""

    def __init__(self, size: int, cancel_grace_s: float, *, target: JobTarget = run_job) -> None:
        self.size = size
        self._cancel_grace_s = cancel_grace_s
        self._target = target
        self._context: ForkServerContext = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(FORKSERVER_PRELOAD))
        self._running: dict[str, RunningJob] = {}
        # Processes that reported their result and are exiting, each reaped by a task in the
        # background (kept here so that neither is lost; kill_all stops them too).
        self._exiting: set[BaseProcess] = set()
        self._reapers: set[asyncio.Task[None]] = set()
        self.started = False
        # True while start() runs: the service answers /healthz then, and /readyz says "starting".
        self.starting = False
        self._warm_up: BaseProcess | None = None

    def start(self) -> None:
        """Start the forkserver (it imports the numeric stack once) with a no-op process.

        Blocking, for seconds (numpy, pyarrow, the numba kernels): the service calls it in a thread
        while it already serves. A job submitted meanwhile waits for the forkserver like any other.
        """
        self.starting = True
        try:
            process = self._warm_up = self._context.Process(target=warm_up, daemon=True)
            process.start()
            process.join(timeout=120)
            self.started = process.exitcode == 0
        finally:
            self.starting = False

    async def wait_started(self) -> None:
        """Return once no :meth:`start` is under way: at once when none is, or after it ended."""
        while self.starting:
            await asyncio.sleep(0.05)

    async def run(self, task: JobTask, on_progress: ProgressCallback) -> TaskResult:
        """Run one job to its end; raises ServiceError or JobFailedError when it does not succeed."""
        receiver, sender = self._context.Pipe(duplex=False)
        cancel_event = self._context.Event()
        # Not daemonic: a daemonic process may not start children, and a large job's CV folds run
        # in processes forked from it. Shutdown and cancel kill job processes explicitly (kill_all).
        process = self._context.Process(
            target=self._target, args=(task, sender, cancel_event), name=f"fit-{task.job_id}", daemon=False
        )
        # Registered before the start, so a cancel that arrives while the process starts still counts.
        handle = RunningJob(process, cancel_event)
        self._running[task.job_id] = handle
        # The forkserver handshake blocks for milliseconds: done on the event loop it delayed every
        # other request (health checks included) whenever jobs started back to back.
        starting = asyncio.ensure_future(asyncio.to_thread(process.start))
        reader: threading.Thread | None = None
        reported = False
        try:
            await asyncio.shield(starting)
            sender.close()  # so that the worker's exit shows up as EOF on our end
            messages: asyncio.Queue[tuple[Any, ...] | None] = asyncio.Queue()
            # A blocking reader thread, not loop.add_reader: uvloop's add_reader puts the pipe in
            # non-blocking mode, and Connection.recv() then fails half-way through any message
            # larger than the pipe buffer (a wide model's summary), which lost every large result.
            reader = threading.Thread(
                target=_read_messages,
                args=(receiver, asyncio.get_running_loop(), messages),
                name=f"reader-{task.job_id}",
                daemon=True,
            )
            reader.start()
            result = await asyncio.wait_for(self._collect(messages, on_progress, handle), task.timeout_s)
            reported = True
            return result
        except TimeoutError:
            # Asked to stop at its next checkpoint, the worker ends within milliseconds, not when
            # the reap below kills it; nothing it sends now is read, and it leaves quietly.
            handle.cancel_event.set()
            raise JobTimeoutError(
                f"The job ran longer than its {task.timeout_s:g} s limit and was stopped."
            ) from None
        finally:
            del self._running[task.job_id]
            if reader is None:  # otherwise the reader thread owns the pipe and closes it
                receiver.close()
            if reported:
                # The result is in: the job is done whatever its process's exit costs (freeing a
                # wide fit's memory, its CV processes' exits took 30-200 ms), so that is waited for
                # in the background rather than before the job's end is recorded.
                self._reap_in_background(starting, process)
            else:
                await self._reap_after_start(starting, process)

    async def _collect(
        self,
        messages: asyncio.Queue[tuple[Any, ...] | None],
        on_progress: ProgressCallback,
        handle: RunningJob,
    ) -> TaskResult:
        while True:
            message = await messages.get()
            if message is None:
                raise self._ended_without_result(handle)
            kind = message[0]
            if kind == "progress":
                on_progress(message[1], message[2])
            elif kind == "done":
                result: TaskResult = message[1]
                return result
            else:
                raise JobFailedError(message[1])

    def _ended_without_result(self, handle: RunningJob) -> ServiceError:
        handle.process.join(timeout=5)
        if handle.canceled:
            return JobCanceledError("The job was canceled.")
        code = handle.process.exitcode
        return WorkerCrashedError(f"The worker process running this job died (exit code {code}).")

    async def cancel(self, job_id: str) -> bool:
        """Ask a running job to stop at its next checkpoint; kill it after the grace period."""
        handle = self._running.get(job_id)
        if handle is None:
            return False
        handle.canceled = True
        handle.cancel_event.set()
        asyncio.get_running_loop().call_later(self._cancel_grace_s, self._terminate, handle)
        return True

    @staticmethod
    def _terminate(handle: RunningJob) -> None:
        if handle.process.is_alive():
            handle.process.kill()

    async def _reap_after_start(self, starting: asyncio.Future[None], process: BaseProcess) -> None:
        try:
            await starting  # even when the job was cancelled mid-start, the thread finishes the start
        except Exception:
            return  # the process never started: nothing to reap
        await asyncio.to_thread(self._reap, process)

    def _reap_in_background(self, starting: asyncio.Future[None], process: BaseProcess) -> None:
        self._exiting.add(process)
        reaper = asyncio.ensure_future(self._reap_after_start(starting, process))
        self._reapers.add(reaper)

        def reaped(done: asyncio.Task[None]) -> None:
            self._reapers.discard(done)
            self._exiting.discard(process)

        reaper.add_done_callback(reaped)

    @staticmethod
    def _reap(process: BaseProcess) -> None:
        process.join(timeout=1.0)
        if process.is_alive():
            process.kill()
            process.join(timeout=5.0)

    def kill_all(self) -> None:
        """Shutdown: stop every running job now, and a warm-up still under way; the manager settles
        the jobs' records."""
        if self._warm_up is not None and self._warm_up.is_alive():
            self._warm_up.kill()
        for handle in list(self._running.values()):
            handle.canceled = True
            handle.cancel_event.set()
            if handle.process.is_alive():
                handle.process.kill()
        for process in list(self._exiting):
            if process.is_alive():
                process.kill()

    @property
    def running_jobs(self) -> int:
        return len(self._running)


def _read_messages(
    receiver: multiprocessing.connection.Connection,
    loop: asyncio.AbstractEventLoop,
    messages: asyncio.Queue[tuple[Any, ...] | None],
) -> None:
    """Thread body: hand every message of a job's pipe to the loop, then None at its end.

    The thread owns ``receiver`` and closes it: the pipe ends when the job's process exits or is
    killed (the pool reaps every process it starts), so the thread never outlives its job by long.
    Closing the descriptor from the loop while this thread blocks on it could close a reused one.
    """
    try:
        while True:
            try:
                message = receiver.recv()
            except (EOFError, OSError):
                break
            _deliver(loop, messages, message)
    finally:
        receiver.close()
        _deliver(loop, messages, None)


def _deliver(
    loop: asyncio.AbstractEventLoop,
    messages: asyncio.Queue[tuple[Any, ...] | None],
    message: tuple[Any, ...] | None,
) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits for this job any more
        loop.call_soon_threadsafe(messages.put_nowait, message)
