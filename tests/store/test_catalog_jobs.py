"""Tests for the job lifecycle in the catalog: transitions, progress, finishing, interruption."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

import pytest

from service.errors import JobNotFinishedError, NotFoundError
from service.store import FINISHED, Catalog, JobRecord, JobStatus, ModelRecord, new_id

MakeJob = Callable[..., JobRecord]
MakeModel = Callable[..., ModelRecord]

PROBLEM = {"type": "/problems/fit-failed", "title": "Fit failed", "status": 422, "detail": "diverged"}


def test_job_status_values_are_wire_strings() -> None:
    assert [s.value for s in JobStatus] == ["queued", "running", "succeeded", "failed", "canceled"]
    assert frozenset({"succeeded", "failed", "canceled"}) == FINISHED


def test_catalog_job_round_trip(catalog: Catalog, make_job: MakeJob) -> None:
    record = make_job(error=None, progress_message="starting")
    catalog.insert_job(record)
    loaded = catalog.get_job(record.id)
    assert loaded == record
    assert loaded.status is JobStatus.QUEUED


def test_catalog_list_jobs_filters_by_status(catalog: Catalog, make_job: MakeJob) -> None:
    jobs = [make_job() for _ in range(4)]
    for job in jobs:
        catalog.insert_job(job)
    catalog.mark_running(jobs[1].id)
    catalog.finish_job(jobs[2].id, JobStatus.CANCELED)

    queued, total = catalog.list_jobs(JobStatus.QUEUED, limit=10, offset=0)
    assert total == 2
    assert [j.id for j in queued] == [jobs[3].id, jobs[0].id]
    assert catalog.list_jobs(JobStatus.RUNNING, limit=10, offset=0)[1] == 1
    assert catalog.list_jobs(None, limit=1, offset=0)[1] == 4


def test_catalog_count_jobs_counts_statuses_across_tenants(catalog: Catalog, make_job: MakeJob) -> None:
    for tenant in ("default", "acme", "acme"):
        catalog.insert_job(make_job(tenant=tenant))
    catalog.insert_job(make_job(status=JobStatus.FAILED))
    assert catalog.count_jobs([JobStatus.QUEUED, JobStatus.RUNNING]) == 3
    assert catalog.count_jobs([JobStatus.QUEUED], tenant="acme") == 2
    assert catalog.count_jobs(FINISHED) == 1
    assert catalog.count_jobs([]) == 0


def test_catalog_mark_running_sets_start(catalog: Catalog, make_job: MakeJob) -> None:
    job = make_job()
    catalog.insert_job(job)
    running = catalog.mark_running(job.id)
    assert running.status is JobStatus.RUNNING
    assert running.started_at is not None
    assert running.progress_stage == "running"
    assert catalog.get_job(job.id) == running


def test_catalog_mark_running_leaves_finished_job_alone(catalog: Catalog, make_job: MakeJob) -> None:
    job = make_job()
    catalog.insert_job(job)
    canceled = catalog.finish_job(job.id, JobStatus.CANCELED)
    assert catalog.mark_running(job.id) == canceled
    with pytest.raises(NotFoundError):
        catalog.mark_running(new_id())


def test_catalog_update_progress_only_while_unfinished(catalog: Catalog, make_job: MakeJob) -> None:
    job = make_job()
    catalog.insert_job(job)
    catalog.mark_running(job.id)
    assert catalog.update_progress(job.id, 0.25, "cv", "fold 3 of 10") is True
    loaded = catalog.get_job(job.id)
    assert (loaded.progress_fraction, loaded.progress_stage, loaded.progress_message) == (
        0.25,
        "cv",
        "fold 3 of 10",
    )
    assert catalog.update_progress(job.id, 1.7, "path", None) is True
    assert catalog.get_job(job.id).progress_fraction == 1.0

    failed = catalog.finish_job(job.id, JobStatus.FAILED, error=PROBLEM)
    assert catalog.update_progress(job.id, 0.5, "late", None) is False
    assert catalog.get_job(job.id) == failed
    assert catalog.update_progress(new_id(), 0.5, "unknown", None) is False
    with pytest.raises(ValueError):
        catalog.update_progress(job.id, float("nan"), "cv", None)


def test_catalog_progress_never_goes_back(catalog: Catalog, make_job: MakeJob) -> None:
    """A job's parts report their own fractions (loading 0.02, then the fit's path from 0): the
    stored fraction keeps the largest, while the stage and message follow the latest report."""
    job = make_job()
    catalog.insert_job(job)
    catalog.mark_running(job.id)
    assert catalog.update_progress(job.id, 0.02, "fitting", None) is True
    assert catalog.update_progress(job.id, 0.0016, "path", "10 of 300") is True
    loaded = catalog.get_job(job.id)
    assert (loaded.progress_fraction, loaded.progress_stage, loaded.progress_message) == (
        0.02,
        "path",
        "10 of 300",
    )
    catalog.update_progress(job.id, 0.5, "cv", None)
    assert catalog.get_job(job.id).progress_fraction == 0.5


def test_catalog_finish_job_success_stores_model(
    catalog: Catalog, make_job: MakeJob, make_model: MakeModel
) -> None:
    job = make_job()
    catalog.insert_job(job)
    catalog.mark_running(job.id)
    model = make_model(job.id)
    finished = catalog.finish_job(job.id, JobStatus.SUCCEEDED, model=model)
    assert finished.status is JobStatus.SUCCEEDED
    assert finished.model_id == model.id
    assert finished.progress_fraction == 1.0
    assert finished.finished_at is not None
    assert finished.error is None
    assert catalog.get_model(model.id) == model
    assert catalog.get_job(job.id) == finished


def test_catalog_finish_job_failure_stores_problem(catalog: Catalog, make_job: MakeJob) -> None:
    job = make_job()
    catalog.insert_job(job)
    catalog.update_progress(job.id, 0.4, "cv", None)
    failed = catalog.finish_job(job.id, JobStatus.FAILED, error=PROBLEM)
    assert failed.error == PROBLEM
    assert failed.model_id is None
    assert failed.progress_fraction == 0.4


def test_catalog_finish_job_is_one_transaction(
    catalog: Catalog, make_job: MakeJob, make_model: MakeModel
) -> None:
    job = make_job()
    catalog.insert_job(job)
    model = make_model(job.id)
    # Make the job update fail after the model insert has run: both must roll back together.
    with sqlite3.connect(catalog.path) as conn:
        conn.execute(
            "CREATE TRIGGER fail_job_update BEFORE UPDATE ON jobs BEGIN SELECT RAISE(ABORT, 'x'); END"
        )
    conn.close()
    with pytest.raises(sqlite3.IntegrityError):
        catalog.finish_job(job.id, JobStatus.SUCCEEDED, model=model)
    with pytest.raises(NotFoundError):
        catalog.get_model(model.id)
    assert catalog.get_job(job.id) == job

    with sqlite3.connect(catalog.path) as conn:
        conn.execute("DROP TRIGGER fail_job_update")
    conn.close()
    assert catalog.finish_job(job.id, JobStatus.SUCCEEDED, model=model).model_id == model.id


def test_catalog_finish_job_first_finisher_wins(
    catalog: Catalog, make_job: MakeJob, make_model: MakeModel
) -> None:
    job = make_job()
    catalog.insert_job(job)
    canceled = catalog.finish_job(job.id, JobStatus.CANCELED)
    late_model = make_model(job.id)
    again = catalog.finish_job(job.id, JobStatus.SUCCEEDED, model=late_model)
    assert again == canceled
    assert again.status is JobStatus.CANCELED
    with pytest.raises(NotFoundError):
        catalog.get_model(late_model.id)


def test_catalog_finish_job_race_has_one_winner(
    catalog: Catalog, make_job: MakeJob, make_model: MakeModel
) -> None:
    job = make_job()
    catalog.insert_job(job)
    models = [make_model(job.id) for _ in range(4)]
    statuses = [JobStatus.SUCCEEDED, JobStatus.CANCELED, JobStatus.SUCCEEDED, JobStatus.FAILED]
    barrier = threading.Barrier(4)
    results: list[JobRecord] = []

    def finish(status: JobStatus, model: ModelRecord) -> None:
        barrier.wait()
        kept = model if status is JobStatus.SUCCEEDED else None
        results.append(catalog.finish_job(job.id, status, model=kept, error=None))

    threads = [threading.Thread(target=finish, args=pair) for pair in zip(statuses, models, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    assert all(result == results[0] for result in results)
    assert catalog.get_job(job.id) == results[0]
    assert catalog.list_models(limit=10, offset=0)[1] == (1 if results[0].model_id else 0)


def test_catalog_finish_job_rejects_unfinished_status_and_foreign_model(
    catalog: Catalog, make_job: MakeJob, make_model: MakeModel
) -> None:
    job = make_job()
    catalog.insert_job(job)
    with pytest.raises(ValueError):
        catalog.finish_job(job.id, JobStatus.RUNNING)
    with pytest.raises(ValueError):
        catalog.finish_job(job.id, JobStatus.SUCCEEDED, model=make_model(new_id()))
    with pytest.raises(NotFoundError):
        catalog.finish_job(new_id(), JobStatus.FAILED, error=PROBLEM)
    assert catalog.get_job(job.id) == job


def test_catalog_interrupt_unfinished_fails_queued_and_running(catalog: Catalog, make_job: MakeJob) -> None:
    queued, running, done = make_job(), make_job(tenant="acme"), make_job()
    for job in (queued, running, done):
        catalog.insert_job(job)
    catalog.mark_running(running.id)
    succeeded = catalog.finish_job(done.id, JobStatus.SUCCEEDED)
    problem = {
        "type": "/problems/interrupted",
        "title": "Job interrupted",
        "status": 503,
        "detail": "restart",
    }

    assert catalog.interrupt_unfinished(problem) == [queued.id, running.id]
    for job_id, tenant in ((queued.id, "default"), (running.id, "acme")):
        interrupted = catalog.get_job(job_id, tenant=tenant)
        assert interrupted.status is JobStatus.FAILED
        assert interrupted.error == problem
        assert interrupted.finished_at is not None
    assert catalog.get_job(done.id) == succeeded
    assert catalog.interrupt_unfinished(problem) == []


def test_catalog_delete_job_only_when_finished(
    catalog: Catalog, make_job: MakeJob, make_model: MakeModel
) -> None:
    job = make_job()
    catalog.insert_job(job)
    with pytest.raises(JobNotFinishedError):
        catalog.delete_job(job.id)
    model = make_model(job.id)
    catalog.finish_job(job.id, JobStatus.SUCCEEDED, model=model)
    with pytest.raises(NotFoundError):
        catalog.delete_job(job.id, tenant="acme")
    catalog.delete_job(job.id)
    with pytest.raises(NotFoundError):
        catalog.get_job(job.id)
    with pytest.raises(NotFoundError):
        catalog.delete_job(job.id)
    assert catalog.get_model(model.id) == model
