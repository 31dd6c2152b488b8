"""A dataset that a queued or running job will read cannot be deleted; a job needs its dataset to exist."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from service.errors import DatasetInUseError, NotFoundError
from service.store import Catalog, DatasetRecord, JobRecord, JobStatus

MakeDataset = Callable[..., DatasetRecord]
MakeJob = Callable[..., JobRecord]


@pytest.mark.parametrize("status", [JobStatus.QUEUED, JobStatus.RUNNING])
def test_catalog_delete_dataset_refused_while_a_job_will_read_it(
    catalog: Catalog, make_dataset: MakeDataset, make_job: MakeJob, status: JobStatus
) -> None:
    dataset = make_dataset(tenant="acme")
    catalog.insert_dataset(dataset)
    job = make_job(dataset_id=dataset.id, tenant="acme", status=status)
    catalog.insert_job(job, require_dataset=True)
    with pytest.raises(DatasetInUseError) as refused:
        catalog.delete_dataset(dataset.id, tenant="acme")
    assert refused.value.extensions == {"job_ids": [job.id], "n_jobs": 1}
    assert catalog.get_dataset(dataset.id, tenant="acme") == dataset  # nothing was deleted
    catalog.finish_job(job.id, JobStatus.CANCELED)
    catalog.delete_dataset(dataset.id, tenant="acme")
    with pytest.raises(NotFoundError):
        catalog.get_dataset(dataset.id, tenant="acme")


def test_catalog_delete_dataset_of_another_tenant_is_not_found_not_in_use(
    catalog: Catalog, make_dataset: MakeDataset, make_job: MakeJob
) -> None:
    dataset = make_dataset(tenant="acme")
    catalog.insert_dataset(dataset)
    catalog.insert_job(make_job(dataset_id=dataset.id, tenant="acme"), require_dataset=True)
    with pytest.raises(NotFoundError):
        catalog.delete_dataset(dataset.id, tenant="globex")


def test_catalog_insert_job_requiring_a_dataset_checks_it_exists_for_the_tenant(
    catalog: Catalog, make_dataset: MakeDataset, make_job: MakeJob
) -> None:
    dataset = make_dataset(tenant="acme")
    catalog.insert_dataset(dataset)
    with pytest.raises(NotFoundError):
        catalog.insert_job(make_job(dataset_id=dataset.id, tenant="globex"), require_dataset=True)
    catalog.delete_dataset(dataset.id, tenant="acme")
    late = make_job(dataset_id=dataset.id, tenant="acme")
    with pytest.raises(NotFoundError):
        catalog.insert_job(late, require_dataset=True)
    with pytest.raises(NotFoundError):
        catalog.get_job(late.id, tenant="acme")  # refused, not half-inserted


def test_catalog_delete_and_submit_at_once_never_leave_a_job_without_its_dataset(
    catalog: Catalog, make_dataset: MakeDataset, make_job: MakeJob
) -> None:
    # Many rounds of a delete racing a submission: whichever commits first, the outcome is one of
    # "job recorded, delete refused" or "dataset deleted, job refused", never both succeeding.
    for _ in range(30):
        dataset = make_dataset(tenant="acme")
        catalog.insert_dataset(dataset)
        outcomes = _race(catalog, dataset, make_job(dataset_id=dataset.id, tenant="acme"))
        assert outcomes in ({"submit": "ok", "delete": "in use"}, {"submit": "not found", "delete": "ok"})


def _race(catalog: Catalog, dataset: DatasetRecord, job: JobRecord) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    start = threading.Barrier(2)

    def submit() -> None:
        start.wait()
        try:
            catalog.insert_job(job, require_dataset=True)
            outcomes["submit"] = "ok"
        except NotFoundError:
            outcomes["submit"] = "not found"

    def delete() -> None:
        start.wait()
        try:
            catalog.delete_dataset(dataset.id, tenant="acme")
            outcomes["delete"] = "ok"
        except DatasetInUseError:
            outcomes["delete"] = "in use"

    threads = [threading.Thread(target=submit), threading.Thread(target=delete)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
