"""A job's end is recorded even when the store refuses writes for a moment."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from service.errors import StoreUnavailableError
from service.jobs import manager as manager_module
from service.jobs.manager import JobManager
from service.jobs.pool import WorkerPool
from service.store import Catalog, JobStatus
from tests.jobs.factories import submission


class FlakyCatalog(Catalog):
    """A real catalog whose first ``failures`` finish_job calls fail as a read-only store would."""

    def __init__(self, path: Path, failures: int) -> None:
        super().__init__(path)
        self.failures = failures

    def finish_job(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise StoreUnavailableError("The catalog is not writable (SQLITE_READONLY); nothing was stored.")
        return super().finish_job(*args, **kwargs)


async def _cancel_queued(manager: JobManager, tmp_path: Path) -> JobStatus:
    record, task = submission(tmp_path, "acme")
    await manager.submit(record, task)
    return (await manager.cancel(record.id, "acme")).status


@pytest.mark.parametrize(("failures", "recorded"), [(2, True), (9, False)])
def test_manager_retries_recording_a_jobs_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failures: int, recorded: bool
) -> None:
    monkeypatch.setattr(manager_module, "RECORD_RETRY_DELAYS_S", (0.01, 0.01, 0.01))
    catalog = FlakyCatalog(tmp_path / "catalog.sqlite3", failures)
    manager = JobManager(catalog, WorkerPool(1, 0.1), max_queued=5)
    if recorded:
        assert asyncio.run(_cancel_queued(manager, tmp_path)) == JobStatus.CANCELED
    else:
        with pytest.raises(StoreUnavailableError):  # gave up after the last retry: the caller sees it
            asyncio.run(_cancel_queued(manager, tmp_path))
    catalog.close()
