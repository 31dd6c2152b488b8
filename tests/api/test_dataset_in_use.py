"""DELETE /v1/datasets/{id} while a queued or running job will read it: 409, and the job is unharmed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api import jobs as jobs_api
from service.api.deps import Services
from service.api.schemas import JobCreate
from service.app import create_app
from service.config import Settings
from service.errors import JobCanceledError
from service.jobs.pool import WorkerPool
from service.worker.kinds.fit import FitTask
from tests.conftest import upload

SMALL = b"x,z,y\n1,0,1.5\n2,1,2.5\n3,0,3.1\n4,1,4.2\n5,0,5.0\n6,1,6.3\n"


@pytest.fixture
def held(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, threading.Event]]:
    """One worker slot whose job runs until the test sets the event; no process is ever started."""
    release = threading.Event()

    async def held_run(self: WorkerPool, task: FitTask, on_progress: Any) -> None:
        while not release.is_set():
            await asyncio.sleep(0.01)
        raise JobCanceledError("released by the test")

    monkeypatch.setattr(WorkerPool, "start", lambda self: None)
    monkeypatch.setattr(WorkerPool, "run", held_run)
    with TestClient(create_app(settings.model_copy(update={"workers": 1}))) as client:
        try:
            yield client, release
        finally:
            release.set()


def _running(client: TestClient, job_id: str) -> None:
    for _ in range(200):
        if client.get(f"/v1/jobs/{job_id}?wait=0.05").json()["status"] == "running":
            return
    raise AssertionError("the job never started")


def test_delete_dataset_under_queued_and_running_jobs_is_409(
    held: tuple[TestClient, threading.Event],
) -> None:
    client, release = held
    dataset = upload(client, SMALL)
    body = {"dataset_id": dataset["id"], "target": "y", "cv": None, "alpha": 0.1}
    running = client.post("/v1/jobs", json=body).json()
    _running(client, running["id"])
    queued = client.post("/v1/jobs", json=body).json()
    assert client.get(f"/v1/jobs/{queued['id']}").json()["status"] == "queued"

    refused = client.delete(f"/v1/datasets/{dataset['id']}")
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"] == "/problems/dataset-in-use"
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert problem["n_jobs"] == 2 and problem["job_ids"] == [running["id"], queued["id"]]
    assert client.get(f"/v1/datasets/{dataset['id']}").status_code == 200

    assert client.post(f"/v1/jobs/{queued['id']}/cancel").json()["status"] == "canceled"
    still = client.delete(f"/v1/datasets/{dataset['id']}")
    assert still.status_code == 409 and still.json()["job_ids"] == [running["id"]]

    release.set()
    assert client.get(f"/v1/jobs/{running['id']}?wait=10").json()["status"] == "canceled"
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    assert client.get(f"/v1/jobs/{running['id']}").status_code == 200  # finished jobs are kept


def test_delete_dataset_not_used_by_a_job_is_not_held(
    held: tuple[TestClient, threading.Event],
) -> None:
    client, _ = held
    used, unused = upload(client, SMALL), upload(client, SMALL)
    client.post("/v1/jobs", json={"dataset_id": used["id"], "target": "y", "cv": None, "alpha": 0.1})
    assert client.delete(f"/v1/datasets/{unused['id']}").status_code == 204


def test_create_job_whose_dataset_is_deleted_after_its_checks_is_404(
    held: tuple[TestClient, threading.Event], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A DELETE that lands between the schema checks and the insert: the insert checks again.
    client, _ = held
    dataset = upload(client, SMALL)
    checked = jobs_api._validate

    def validate_then_delete(job: JobCreate, services: Services, tenant: str) -> str:
        sha256 = checked(job, services, tenant)
        services.catalog.delete_dataset(job.dataset_id, tenant)
        return sha256

    monkeypatch.setattr(jobs_api, "_validate", validate_then_delete)
    body = {"dataset_id": dataset["id"], "target": "y", "cv": None, "alpha": 0.1}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 404 and response.json()["type"] == "/problems/not-found"
    assert client.get("/v1/jobs").json()["total"] == 0
