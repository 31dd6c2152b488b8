"""Tests that the catalog keeps what it acknowledged: reopen, a killed process, concurrent writers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

from service.store import Catalog, DatasetRecord, JobRecord, JobStatus

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_catalog_reopened_after_close_reads_rows(
    tmp_path: Path, make_dataset: Callable[..., DatasetRecord], make_job: Callable[..., JobRecord]
) -> None:
    path = tmp_path / "catalog.sqlite3"
    dataset, job = make_dataset(), make_job()
    with Catalog(path) as catalog:
        catalog.insert_dataset(dataset)
        catalog.insert_job(job)
        running = catalog.mark_running(job.id)
    with Catalog(path) as reopened:
        assert reopened.get_dataset(dataset.id) == dataset
        assert reopened.get_job(job.id) == running


def test_catalog_survives_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite3"
    child = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from service.store import Catalog, JobRecord, JobStatus, utc_now

        catalog = Catalog(Path({str(path)!r}))
        for i in range(5):
            catalog.insert_job(JobRecord(
                id=f"{{i:032x}}", kind="fit", name=None, status=JobStatus.RUNNING,
                progress_fraction=0.5, progress_stage="cv", progress_message=None,
                created_at=utc_now(), started_at=utc_now(), finished_at=None, model_id=None,
                error=None, request={{"i": i}}, dataset_id="d" * 32,
            ))
        os._exit(0)  # no close(), no checkpoint: the rows live only in the WAL file
        """
    )
    subprocess.run([sys.executable, "-c", child], cwd=REPO_ROOT, check=True, timeout=60)
    assert (tmp_path / "catalog.sqlite3-wal").exists()

    with Catalog(path) as catalog:
        jobs, total = catalog.list_jobs(None, limit=10, offset=0)
        assert total == 5
        assert sorted(job.request["i"] for job in jobs) == [0, 1, 2, 3, 4]
        interrupted = catalog.interrupt_unfinished({"type": "/problems/interrupted"})
        assert len(interrupted) == 5
        assert catalog.count_jobs([JobStatus.FAILED]) == 5


def test_catalog_concurrent_inserts_lose_nothing(
    catalog: Catalog, make_dataset: Callable[..., DatasetRecord], make_job: Callable[..., JobRecord]
) -> None:
    per_thread = 25
    inserted: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def insert_many() -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                dataset, job = make_dataset(), make_job()
                catalog.insert_dataset(dataset)
                catalog.insert_job(job)
                catalog.list_datasets(limit=5, offset=0)
                inserted.append(dataset.id)
        except BaseException as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=insert_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    datasets, total = catalog.list_datasets(limit=1000, offset=0)
    assert total == 4 * per_thread
    assert {d.id for d in datasets} == set(inserted)
    assert catalog.list_jobs(None, limit=1, offset=0)[1] == 4 * per_thread
