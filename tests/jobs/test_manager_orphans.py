"""A job whose result never arrives leaves no model file behind, on the server's loop (uvloop)."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from pathlib import Path

import pytest
import uvloop

from service.errors import InsufficientStorageError, WorkerCrashedError
from service.jobs.manager import JobManager
from service.jobs.pool import WorkerPool
from service.store import Catalog, JobRecord, JobStatus
from service.store.blobs import ModelStore
from tests.jobs.factories import submission
from tests.jobs.targets import save_model_then, saved_marker

SECRET = b"s" * 32


@pytest.mark.parametrize(
    ("ending", "problem_type"),
    [
        ("killed", WorkerCrashedError.type),
        ("exited", WorkerCrashedError.type),
        ("error", InsufficientStorageError.type),
    ],
)
def test_manager_removes_model_of_job_that_ends_without_result(
    tmp_path: Path, ending: str, problem_type: str
) -> None:
    record, task = submission(tmp_path, "acme")
    task = dataclasses.replace(task, artifact_secret=SECRET)
    store = ModelStore(tmp_path, secret=SECRET)
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    pool = WorkerPool(1, cancel_grace_s=0.5, target=functools.partial(save_model_then, ending))
    manager = JobManager(catalog, pool, max_queued=5, models=store)

    async def main() -> JobRecord:
        await manager.start()
        try:
            await manager.submit(record, task)
            return await manager.wait(record.id, record.tenant, timeout_s=60)
        finally:
            await manager.stop()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        final = runner.run(main())
    catalog.close()
    assert final.status == JobStatus.FAILED
    assert final.error is not None and final.error["type"] == problem_type
    assert Path(saved_marker(task)).exists()  # the process got as far as saving its model
    assert list(store.directory.iterdir()) == []
