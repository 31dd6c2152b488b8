"""The job queue's limits: a tenant's share (429) and the whole queue (503), both with Retry-After."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.errors import QueueFullError, TooManyJobsError
from service.jobs.manager import JobManager
from service.jobs.pool import WorkerPool
from service.store import Catalog, JobRecord, JobStatus
from tests.jobs.factories import submission


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    with Catalog(tmp_path / "catalog.sqlite3") as cat:
        yield cat


async def _fill(tmp_path: Path, catalog: Catalog) -> JobManager:
    # The runners are never started, so every submitted job stays queued.
    manager = JobManager(catalog, WorkerPool(1, 0.1), max_queued=5, max_queued_per_tenant=2)
    for _ in range(2):
        await manager.submit(*submission(tmp_path, "acme"))
    with pytest.raises(TooManyJobsError) as refused:
        await manager.submit(*submission(tmp_path, "acme"))
    assert refused.value.status == 429 and refused.value.headers["Retry-After"]
    assert catalog.count_jobs([JobStatus.QUEUED], tenant="acme") == 2  # the refused job left no record
    await manager.submit(*submission(tmp_path, "globex"))
    await manager.submit(*submission(tmp_path, "globex"))
    await manager.submit(*submission(tmp_path, "initech"))
    with pytest.raises(QueueFullError) as full:
        await manager.submit(*submission(tmp_path, "initech"))
    assert full.value.status == 503 and full.value.headers["Retry-After"]
    return manager


def test_manager_tenant_share_answers_429_while_others_still_submit(tmp_path: Path, catalog: Catalog) -> None:
    manager = asyncio.run(_fill(tmp_path, catalog))
    assert manager.queued == 5


async def _race(tmp_path: Path, catalog: Catalog) -> list[BaseException | JobRecord]:
    manager = JobManager(catalog, WorkerPool(1, 0.1), max_queued=100, max_queued_per_tenant=3)
    submissions = [manager.submit(*submission(tmp_path, "acme")) for _ in range(8)]
    return await asyncio.gather(*submissions, return_exceptions=True)


def test_manager_concurrent_submits_never_exceed_the_share(tmp_path: Path, catalog: Catalog) -> None:
    # The catalog write runs in a thread, so the submits interleave; reservations keep the count.
    outcomes = asyncio.run(_race(tmp_path, catalog))
    assert sum(isinstance(o, JobRecord) for o in outcomes) == 3
    assert sum(isinstance(o, TooManyJobsError) for o in outcomes) == 5
    assert catalog.count_jobs([JobStatus.QUEUED], tenant="acme") == 3
