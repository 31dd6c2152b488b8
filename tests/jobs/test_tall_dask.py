"""Fit jobs on partitioned Parquet datasets: the local pool and Dask give the in-memory engine's model,
and a ~2 GB table fits on two Dask workers of 500 MB each (issue 14, item 3).

The tables are written partition by partition into the store as helper P's API will (files in
``DatasetStore.partitions_directory`` plus a saved manifest); the jobs run through a JobManager.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import numpy as np
import pytest
from distributed import Client, LocalCluster

from service.jobs.dask_pool import DaskPool
from service.jobs.pool import WorkerPool
from service.modeling import CVSpec, Family, FitOutcome, FitSpec, PathSpec, fit_model
from service.store import JobStatus
from tests.jobs.tall_jobs import FloatArray, fit_task, load_whole, run_fit_job, write_partitioned
from tests.modeling.tall_parts import assert_same_outcome

pytestmark = pytest.mark.slow

DASHBOARD = ":0"  # the scheduler's HTTP server on a free port (see test_dask_executor)
RTOL = 1e-8
LASSO_CV = FitSpec(
    family=Family.GAUSSIAN, l1_ratio=1.0, alpha=None, path=PathSpec(), cv=CVSpec(n_folds=5, seed=7), tol=1e-8
)


def linear_table(rows: int, p: int, seed: int) -> tuple[FloatArray, FloatArray]:
    """Correlated columns with offsets, a sparse truth and noise: a lasso path with some shape."""
    rng = np.random.default_rng(seed)
    X = np.asfortranarray(rng.standard_normal((rows, p)))
    X[:, 1:] += 0.3 * X[:, :-1]
    X += np.arange(p) * 0.5
    beta = np.zeros(p)
    beta[: p // 5] = np.linspace(2.0, 0.2, p // 5)
    y = X @ beta + 3.0 + rng.standard_normal(rows) * 2.0
    return X, y


async def _on_dask(address: str, task: object, timeout_s: float) -> tuple[object, FitOutcome | None]:
    pool = DaskPool(2, 0.5, address)
    await asyncio.to_thread(pool.start)
    try:
        return await run_fit_job(pool, task, timeout_s)  # type: ignore[arg-type]
    finally:
        pool.kill_all()
        await pool.close()


@pytest.fixture
def small_cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=DASHBOARD
    ) as cluster:
        yield cluster


def test_tall_fit_job_local_pool_and_dask_give_the_in_memory_model(
    small_cluster: LocalCluster, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    sizes = [3000, 17, 2500, 4483, 1, 2999]
    dataset_id, sha256 = write_partitioned(
        data_dir, len(sizes), lambda i: linear_table(sizes[i], 12, seed=100 + i)
    )
    X, y = load_whole(data_dir, dataset_id, sha256)
    expected = fit_model(X, y, LASSO_CV)

    job, local = asyncio.run(
        run_fit_job(WorkerPool(1, 0.5), fit_task(data_dir, dataset_id, sha256, LASSO_CV), 300)
    )
    assert local is not None, job
    assert_same_outcome(expected, local, RTOL)
    job, dask = asyncio.run(
        _on_dask(small_cluster.scheduler_address, fit_task(data_dir, dataset_id, sha256, LASSO_CV), 300)
    )
    assert dask is not None, job
    assert_same_outcome(expected, dask, RTOL)
    # The passes ran as Dask tasks, one per partition, each reading its own file.
    assert "map_one" in small_cluster.scheduler.task_prefixes
    assert_same_outcome(local, dask, 1e-11)  # the same numbers, only the reduction order differs


def test_tall_fit_job_refuses_unsupported_options(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    dataset_id, sha256 = write_partitioned(data_dir, 2, lambda i: linear_table(100, 3, seed=i))
    task = fit_task(data_dir, dataset_id, sha256, LASSO_CV)
    task = type(task)(**{**task.__dict__, "options": {"inference": True}})
    job, outcome = asyncio.run(run_fit_job(WorkerPool(1, 0.5), task, 120))
    assert outcome is None and job.status == JobStatus.FAILED
    assert job.error is not None and job.error["type"] == "/problems/invalid-data"
    assert job.error["option"] == "inference"


# THE test of issue 14 item 3: 5,000,000 x 50 float64 + y (about 2 GB) in 40 partitions.
BIG_ROWS, BIG_PARTS, BIG_COLUMNS = 5_000_000, 40, 50


class PeakMemory:
    """Samples every Dask worker's resident memory while a job runs; keeps each one's peak."""

    def __init__(self, address: str) -> None:
        self.client = Client(address)
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                rss = self.client.run(lambda: psutil.Process().memory_info().rss, on_error="ignore")
            except OSError:  # the scheduler is going away at the end: nothing left to sample
                return
            for worker, value in rss.items():
                self.peak[worker] = max(self.peak.get(worker, 0), int(value))
            time.sleep(0.2)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.client.close()


@pytest.mark.timeout(1800)
def test_tall_fit_2gb_on_two_500mb_dask_workers_equals_in_memory(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    try:
        _fit_2gb(data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)  # 2.4 GB of Parquet: not left for pytest to keep


def _fit_2gb(data_dir: Path) -> None:
    rows = BIG_ROWS // BIG_PARTS
    started = time.monotonic()
    dataset_id, sha256 = write_partitioned(
        data_dir, BIG_PARTS, lambda i: linear_table(rows, BIG_COLUMNS, seed=1000 + i)
    )
    written = time.monotonic()
    # The hard limit stays 500 MB (the nanny restarts a worker at 95%); pausing at 80% is off: a
    # worker that loaded the engine holds 330-450 MB by the distributed version, and a paused
    # worker left the job waiting until the test's timeout.
    with dask.config.set({"distributed.worker.memory.pause": False}), LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=DASHBOARD,
        memory_limit="500MB",
    ) as cluster:  # fmt: skip
        task = fit_task(data_dir, dataset_id, sha256, LASSO_CV)
        with PeakMemory(cluster.scheduler_address) as memory:
            job, tall = asyncio.run(_on_dask(cluster.scheduler_address, task, 1500))
        assert "map_one" in cluster.scheduler.task_prefixes
    fitted = time.monotonic()
    assert tall is not None, job
    X, y = load_whole(data_dir, dataset_id, sha256)
    assert X.shape == (BIG_ROWS, BIG_COLUMNS) and X.nbytes + y.nbytes > 2.0e9
    expected = fit_model(X, y, LASSO_CV)
    del X, y
    assert_same_outcome(expected, tall, RTOL)
    assert np.count_nonzero(tall.coef) >= BIG_COLUMNS // 5  # the truth's columns are all selected
    print(
        f"\n2 GB tall fit: written in {written - started:.0f} s, Dask job {fitted - written:.0f} s, "
        f"in-memory reference {time.monotonic() - fitted:.0f} s; workers' peak RSS "
        + ", ".join(f"{v / 1e6:.0f} MB" for v in memory.peak.values())
    )
