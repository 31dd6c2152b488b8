"""A real server on the Dask executor: fit over HTTP, follow the job's SSE stream, predict."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from distributed import Client, LocalCluster

from tests.e2e.conftest import REPO, Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    ) as local:
        yield local


@pytest.fixture
def dask_server(cluster: LocalCluster, tmp_path: Path) -> Iterator[Server]:
    env = {"SPARSEFIT_EXECUTOR": "dask", "SPARSEFIT_DASK_SCHEDULER": cluster.scheduler_address}
    instance = Server(tmp_path / "data", env=env)
    try:
        instance.start()
        yield instance
    finally:
        instance.cleanup()


def read_events(server: Server, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream("GET", f"{server.base}/v1/jobs/{job_id}/events", timeout=120) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def test_dask_server_fits_streams_progress_and_predicts(dask_server: Server, cluster: LocalCluster) -> None:
    base = dask_server.base
    ready = httpx.get(f"{base}/readyz", timeout=30).json()
    assert ready["checks"]["workers"] == "ok"
    body = (REPO / "examples" / "diabetes.csv").read_bytes()
    dataset = httpx.post(
        f"{base}/v1/datasets", content=body, headers={"Content-Type": "text/csv"}, timeout=60
    )
    assert dataset.status_code == 201, dataset.text
    dataset_id = dataset.json()["id"]
    job = httpx.post(
        f"{base}/v1/jobs",
        json={"dataset_id": dataset_id, "target": "y", "path": {"n_alphas": 300}, "cv": {"folds": 20}},
        timeout=60,
    )
    assert job.status_code == 202, job.text
    events = read_events(dask_server, job.json()["id"])
    statuses = [data["status"] for name, data in events if name == "status"]
    fractions = [data["fraction"] for name, data in events if name == "progress"]
    assert statuses[-1] == "succeeded", dask_server.log()[-3000:]
    assert fractions and fractions == sorted(fractions) and fractions[-1] == 1.0
    model_id = httpx.get(f"{base}/v1/jobs/{job.json()['id']}", timeout=30).json()["model_id"]
    prediction = httpx.post(
        f"{base}/v1/models/{model_id}/predictions", json={"dataset_id": dataset_id}, timeout=60
    )
    assert prediction.status_code == 200, prediction.text
    assert len(prediction.json()["predictions"]) == 442
    # The fit ran on a Dask worker, not in a local job process: its start is in the scheduler's log.
    with Client(cluster.scheduler_address, set_as_default=False) as observer:
        started = [msg for _, msg in observer.get_events("sparsefit-jobs") if msg[1] == "started"]
    assert [msg[0] for msg in started].count(job.json()["id"]) == 1
    assert started[-1][2] in {nanny.worker_address for nanny in cluster.workers.values()}
