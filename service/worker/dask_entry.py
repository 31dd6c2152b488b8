"""What runs on a Dask worker: one job task, its checkpoint (progress, cancel) and its one outcome.

The counterpart of ``service.worker.process.run_job`` for the Dask executor
(``service.jobs.dask_pool``). Messages to the API process travel as structured events on one topic
(``Worker.log_event``: queued on the worker's stream to the scheduler, never a blocking round trip
in the fit), each ``[job_id, kind, ...]``:

- ``[job_id, "started", worker_address]`` once the task starts (a second one means the task was
  rerun after its worker was lost: the API process fails the job as the local pool would);
- ``[job_id, "progress", fraction, stage]``, at most every ``PROGRESS_INTERVAL_S``.

Cancel and timeout set the job's distributed ``Event``, which the checkpoint polls at most every
``CANCEL_POLL_S`` (each poll is a scheduler round trip), as does the job's task while it waits for
its fanned-out folds, subsamples or replicates (``dask_fanout``: one Dask task per index). The
outcome is the task's return value: ``("done", TaskResult)`` or ``("error", problem)``, like the
pipe's last message.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from distributed import Event, get_client, get_worker

from service import logs
from service.errors import JobCanceledError
from service.modeling.parallel import fold_runner
from service.worker.dask_fanout import DaskFoldRunner
from service.worker.process import task_outcome
from service.worker.tasks import JobTask

# A scheduler round trip per poll: five a second bound what a cancel waits for and what it costs.
CANCEL_POLL_S = 0.2
# The manager writes progress at most twice a second; more events would only be dropped there.
PROGRESS_INTERVAL_S = 0.1


class DaskCheckpoint:
    """Publishes progress (rate-limited) and raises JobCanceledError once the job's Event is set."""

    def __init__(self, job_id: str, topic: str, cancel: Event, publish: Any) -> None:
        self._job_id = job_id
        self._topic = topic
        self._cancel = cancel
        self._publish = publish
        self._last_poll = float("-inf")
        self._last_sent = float("-inf")
        self._last_stage = ""

    def __call__(self, fraction: float, stage: str) -> None:
        self.check_canceled()
        now = time.monotonic()
        # A new stage and the end are always sent; between them, at most one event per interval.
        if stage != self._last_stage or fraction >= 1.0 or now - self._last_sent >= PROGRESS_INTERVAL_S:
            self._last_sent, self._last_stage = now, stage
            self._publish(self._topic, [self._job_id, "progress", float(fraction), stage])

    def check_canceled(self) -> None:
        """Raise JobCanceledError once the job's Event is set (looked at most every CANCEL_POLL_S)."""
        now = time.monotonic()
        if now - self._last_poll >= CANCEL_POLL_S:
            self._last_poll = now
            if self._cancel.is_set():
                raise JobCanceledError("The job was canceled.")


def run_dask_job(task: JobTask, topic: str, cancel_event: str) -> tuple[str, Any]:
    """Dask task body: every outcome, good or bad, is the return value (the task never raises)."""
    worker = get_worker()
    worker.log_event(topic, [task.job_id, "started", worker.address])
    checkpoint = DaskCheckpoint(
        task.job_id, topic, Event(cancel_event, client=get_client()), worker.log_event
    )
    # CV folds in forked processes (cv_processes) cannot run here: a Dask worker process is
    # daemonic and threaded. The folds (and subsamples, replicates) run as Dask tasks of their own
    # instead (dask_fanout), whatever cv_processes says.
    task = dataclasses.replace(task, cv_processes=1)
    runner = DaskFoldRunner(task.job_id, checkpoint.check_canceled)
    with logs.bound(**task.log_fields()), fold_runner(runner):
        return task_outcome(task, checkpoint)


def warm_up() -> bool:
    """Run on every worker when the service connects: the job kinds and the engine's kernels load
    once per worker process, not in the first job."""
    import service.modeling.engine.warm
    import service.worker.kinds  # noqa: F401

    return True
