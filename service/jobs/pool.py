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
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from typing import Any

from service.errors import JobCanceledError, JobTimeoutError, ServiceError, WorkerCrashedError
from service.worker import FitResult, FitTask, run_fit_job, warm_up

ProgressCallback = Callable[[float, str], None]


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

    def __init__(self, size: int, cancel_grace_s: float) -> None:
        self.size = size
        self._cancel_grace_s = cancel_grace_s
        self._context: ForkServerContext = multiprocessing.get_context("forkserver")
        # The second module compiles the engine's kernels once, in the forkserver, for every job.
        self._context.set_forkserver_preload(["service.worker", "service.modeling.warm"])
        self._running: dict[str, RunningJob] = {}
        self.started = False

    def start(self) -> None:
        """Start the forkserver (it imports the numeric stack once) with a no-op process."""
        process = self._context.Process(target=warm_up, daemon=True)
        process.start()
        process.join(timeout=120)
        self.started = process.exitcode == 0

    async def run(self, task: FitTask, on_progress: ProgressCallback) -> FitResult:
        """Run one job to its end; raises ServiceError or JobFailedError when it does not succeed."""
        receiver, sender = self._context.Pipe(duplex=False)
        cancel_event = self._context.Event()
        # Not daemonic: a daemonic process may not start children, and a large job's CV folds run
        # in processes forked from it. Shutdown and cancel kill job processes explicitly (kill_all).
        process = self._context.Process(
            target=run_fit_job, args=(task, sender, cancel_event), name=f"fit-{task.job_id}", daemon=False
        )
        # Registered before the start, so a cancel that arrives while the process starts still counts.
        handle = RunningJob(process, cancel_event)
        self._running[task.job_id] = handle
        # The forkserver handshake blocks for milliseconds: done on the event loop it delayed every
        # other request (health checks included) whenever jobs started back to back.
        starting = asyncio.ensure_future(asyncio.to_thread(process.start))
        try:
            await asyncio.shield(starting)
            sender.close()  # so that the worker's exit shows up as EOF on our end
            return await asyncio.wait_for(self._collect(receiver, on_progress, handle), task.timeout_s)
        except TimeoutError:
            raise JobTimeoutError(
                f"The job ran longer than its {task.timeout_s:g} s limit and was stopped."
            ) from None
        finally:
            del self._running[task.job_id]
            receiver.close()
            await self._reap_after_start(starting, process)

    async def _collect(
        self,
        receiver: multiprocessing.connection.Connection,
        on_progress: ProgressCallback,
        handle: RunningJob,
    ) -> FitResult:
        loop = asyncio.get_running_loop()
        messages: asyncio.Queue[tuple[Any, ...] | None] = asyncio.Queue()

        def readable() -> None:
            try:
                messages.put_nowait(receiver.recv())
            except (EOFError, OSError):
                loop.remove_reader(receiver.fileno())
                messages.put_nowait(None)

        loop.add_reader(receiver.fileno(), readable)
        try:
            while True:
                message = await messages.get()
                if message is None:
                    raise self._ended_without_result(handle)
                kind = message[0]
                if kind == "progress":
                    on_progress(message[1], message[2])
                elif kind == "done":
                    result: FitResult = message[1]
                    return result
                else:
                    raise JobFailedError(message[1])
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(receiver.fileno())

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

    @staticmethod
    def _reap(process: BaseProcess) -> None:
        process.join(timeout=1.0)
        if process.is_alive():
            process.kill()
            process.join(timeout=5.0)

    def kill_all(self) -> None:
        """Shutdown: stop every running job now; their records are settled by the manager."""
        for handle in list(self._running.values()):
            handle.canceled = True
            handle.cancel_event.set()
            if handle.process.is_alive():
                handle.process.kill()

    @property
    def running_jobs(self) -> int:
        return len(self._running)
