"""The Dask fold runner: a job's CV folds, subsamples or replicates as one Dask task per index.

``run_dask_job`` installs a ``DaskFoldRunner`` (``service.modeling.parallel.fold_runner``) for the
job's thread; every ``run_folds`` of the job then comes here. Per call (a "stage": one l1_ratio's
folds, the stability pairs, the bootstrap replicates):

- the job's task secedes (``worker_client``), so its worker thread runs sub-tasks while it waits;
- the per-index work (a closure over the design, never over the checkpoint) is scattered once from
  the job's task (key ``{job_id}-shared-{stage}``): it is stored on the job's own worker and copied
  from there to as many other workers as the stage has indices (at most all), never through the API
  process;
- one task per index, ``pure=False``, keyed ``{job_id}-fold-{stage}-{k}``, with ``retries=0``: a
  sub-task that raises fails the same way again (the work is deterministic), so its error is the
  job's at once. A worker lost while running a sub-task is another matter: the scheduler reruns
  the sub-task elsewhere (``distributed.scheduler.allowed-failures``; the work is a pure function
  of the scattered closure and k, so a rerun gives the same result), and only a sub-task that
  kills its workers that often ends the job, with WorkerCrashedError;
- the job's task waits for results as they complete, polling the job's cancel Event every
  ``CANCEL_POLL_S``; the modeling code reports progress as it receives each result. On cancel,
  timeout or any error, the pending sub-tasks and the scattered closure are released.

Python cannot interrupt a thread: a sub-task already computing when its job is canceled finishes
its one fit (its result is dropped); none starts after that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from distributed import Future, worker_client
from distributed import wait as _untyped_wait
from distributed.scheduler import KilledWorker

from service.errors import WorkerCrashedError
from service.worker import blas

# distributed.wait has no annotations; the one call here is typed by this alias.
_wait: Callable[..., tuple[set[Future[Any]], set[Future[Any]]]] = _untyped_wait

# How long the job's task waits for a sub-task before it looks at its cancel Event again.
CANCEL_POLL_S = 0.2


def run_index(task: Callable[[int], Any], k: int) -> Any:
    """A sub-task's body: one index of the stage, with one BLAS thread as the job's own task has
    (a different thread count could change BLAS's summation order, so the bits of the result).
    The worker's controller is built once (service.worker.blas): threadpool_limits found the
    loaded libraries afresh for every fold."""
    with blas.one_thread():
        return task(k)


class DaskFoldRunner:
    """A ``FoldRunner`` for one job: ``check_canceled()`` raises once the job is canceled."""

    def __init__(self, job_id: str, check_canceled: Callable[[], None]) -> None:
        self._job_id = job_id
        self._check_canceled = check_canceled
        self._stages = 0

    def __call__(self, task: Callable[[int], Any], count: int) -> Iterator[tuple[int, Any]]:
        stage = self._stages
        self._stages += 1
        if count <= 0:
            return
        with worker_client() as client:
            name = f"{self._job_id}-shared-{stage}"
            shared = client.scatter({name: task})[name]
            # A copy on as many workers as there is work for, before any sub-task is placed: held
            # by the job's worker alone, the work would draw most sub-tasks there (the scheduler
            # prefers the worker that has a task's data).
            spread = min(count, len(client.nthreads()))
            if spread > 1:
                client.replicate([shared], n=spread)
            futures = {
                client.submit(
                    run_index, shared, k, key=f"{self._job_id}-fold-{stage}-{k}", pure=False, retries=0
                ): k
                for k in range(count)
            }
            pending = set(futures)
            try:
                while pending:
                    for future in self._next_done(pending):
                        pending.discard(future)
                        yield futures[future], _result(future)
            finally:
                # Canceled, timed out, failed or done: nothing of this stage keeps a worker busy.
                client.cancel([*pending, shared], reason="sparsefit: the job's stage ended")

    def _next_done(self, pending: set[Future[Any]]) -> set[Future[Any]]:
        """The futures done by now, waiting at most CANCEL_POLL_S; raises when the job is canceled."""
        self._check_canceled()
        try:
            done, _ = _wait(list(pending), timeout=CANCEL_POLL_S, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return set()
        return set(done)


def _result(future: Future[Any]) -> Any:
    try:
        return future.result()
    except KilledWorker:
        raise WorkerCrashedError(
            "The Dask workers running one of this job's sub-tasks died too often."
        ) from None
