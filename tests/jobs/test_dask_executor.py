"""The Dask executor behind the job manager: fit, selection, cancel, timeout, a worker killed mid-job.

One LocalCluster (2 worker processes, one thread each) on 127.0.0.1 for the module; the service runs
in a TestClient (its lifespan builds the JobManager with a DaskPool from the settings).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
from distributed import Client, LocalCluster
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import EXAMPLES
from tests.e2e.conftest import free_port
from tests.jobs import service_calls
from tests.jobs.service_calls import submit, upload, wide_table

pytestmark = pytest.mark.slow

# Long enough on the wide table (400 x 800) to cancel, time out or lose its worker while it runs.
SLOW = {"target": "y", "path": {"n_alphas": 1000, "alpha_min_ratio": 1e-6}, "solver": {"tol": 1e-12}}
WAIT_S = 120.0
# The scheduler's HTTP server (/metrics) on a free port: with dashboard_address=None it still takes
# 8787, and warns when another cluster on the machine holds it.
DASHBOARD = ":0"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=DASHBOARD
    ) as local:
        yield local


@pytest.fixture
def service(cluster: LocalCluster, tmp_path: Path) -> Iterator[TestClient]:
    with service_calls.dask_service(tmp_path / "data", cluster.scheduler_address) as client:
        yield client


@pytest.fixture(scope="module")
def wide_csv() -> bytes:
    return wide_table()


def finished(client: TestClient, job_id: str) -> dict[str, Any]:
    return service_calls.finished(client, job_id, WAIT_S)


def running_on_worker(client: TestClient, job_id: str) -> None:
    """Wait until the job runs and has reported progress: its task is on a Dask worker."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), job
        if job["status"] == "running" and job["progress"]["fraction"] > 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never made progress")


def test_dask_executor_fit_saves_model_and_catalog_row(service: TestClient, tmp_path: Path) -> None:
    ready = service.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["workers"] == "ok"
    dataset_id = upload(service, (EXAMPLES / "diabetes.csv").read_bytes())
    job = finished(service, submit(service, {"dataset_id": dataset_id, "target": "y"}))
    assert job["status"] == "succeeded", job
    model = service.get(f"/v1/models/{job['model_id']}")
    assert model.status_code == 200 and model.json()["job_id"] == job["id"]
    assert [p.name for p in (tmp_path / "data").rglob(f"{job['model_id']}*")], "no model file saved"
    prediction = service.post(f"/v1/models/{job['model_id']}/predictions", json={"dataset_id": dataset_id})
    assert prediction.status_code == 200, prediction.text
    assert len(prediction.json()["predictions"]) == 442  # the diabetes table's rows


def test_dask_executor_stability_job_stores_a_selection(service: TestClient) -> None:
    dataset_id = upload(service, (EXAMPLES / "diabetes.csv").read_bytes())
    body = {
        "dataset_id": dataset_id,
        "target": "y",
        "kind": "stability",
        "stability": {"n_pairs": 5, "pfer": 1},
        "path": {"n_alphas": 20},
    }
    job = finished(service, submit(service, body))
    assert job["status"] == "succeeded", job
    selection = service.get(f"/v1/selections/{job['selection_id']}")
    assert selection.status_code == 200 and selection.json()["job_id"] == job["id"]
    assert len(selection.json()["features"]) == 10  # diabetes has 10 features


def executing_anywhere(cluster: LocalCluster, job_id: str) -> bool:
    """Whether a worker thread still runs the job's task (a released future does not stop it)."""
    with Client(cluster.scheduler_address, set_as_default=False) as observer:
        keys = observer.run(lambda dask_worker: [str(k) for k in dask_worker.active_threads.values()])
    return any(job_id in key for worker_keys in keys.values() for key in worker_keys)


def stops_within(cluster: LocalCluster, job_id: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while executing_anywhere(cluster, job_id):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_dask_executor_cancel_and_timeout(
    service: TestClient, cluster: LocalCluster, wide_csv: bytes
) -> None:
    dataset_id = upload(service, wide_csv)
    job_id = submit(service, {"dataset_id": dataset_id, **SLOW})
    running_on_worker(service, job_id)
    assert executing_anywhere(cluster, job_id)
    assert service.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
    canceled = finished(service, job_id)
    assert canceled["status"] == "canceled" and canceled["model_id"] is None, canceled
    # The task itself stopped at a checkpoint (the job's Event), well before the fit would end.
    assert stops_within(cluster, job_id, 3.0)
    timed_id = submit(service, {"dataset_id": dataset_id, **SLOW, "max_runtime_s": 1})
    timed = finished(service, timed_id)
    assert timed["status"] == "failed" and timed["error"]["type"] == "/problems/job-timeout", timed
    assert stops_within(cluster, timed_id, 3.0)


def test_dask_executor_worker_killed_mid_job_fails_only_that_job(
    service: TestClient, cluster: LocalCluster, wide_csv: bytes
) -> None:
    dataset_id = upload(service, wide_csv)
    job_id = submit(service, {"dataset_id": dataset_id, **SLOW})
    running_on_worker(service, job_id)
    with Client(cluster.scheduler_address, set_as_default=False) as observer:
        placed = [addr for addr, keys in observer.processing().items() if any(job_id in str(k) for k in keys)]
    assert len(placed) == 1, placed
    nannies = [n for n in cluster.workers.values() if n.worker_address == placed[0]]
    assert nannies and nannies[0].process is not None
    os.kill(nannies[0].process.process.pid, signal.SIGKILL)
    failed = finished(service, job_id)
    assert failed["status"] == "failed" and failed["error"]["type"] == "/problems/worker-crashed", failed
    # The manager keeps serving: the next job runs (on the other worker, or the restarted one).
    diabetes = upload(service, (EXAMPLES / "diabetes.csv").read_bytes())
    following = finished(service, submit(service, {"dataset_id": diabetes, "target": "y"}))
    assert following["status"] == "succeeded", following


def scheduler_only(port: int) -> LocalCluster:
    return LocalCluster(
        n_workers=0,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        scheduler_port=port,
        dashboard_address=DASHBOARD,
    )


def readiness_until(client: TestClient, status: int) -> Any:
    deadline = time.monotonic() + 60
    while (ready := client.get("/readyz")).status_code != status and time.monotonic() < deadline:
        time.sleep(0.2)
    return ready


def test_dask_executor_scheduler_lost_is_not_ready_fails_jobs_then_recovers(tmp_path: Path) -> None:
    port = free_port()
    lone = scheduler_only(port)
    settings = Settings(
        data_dir=tmp_path / "data",
        warm_up_before_serving=True,
        executor="dask",
        dask_scheduler=lone.scheduler_address,
    )
    back: LocalCluster | None = None
    try:
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            assert client.get("/readyz").status_code == 200
            dataset_id = upload(client, (EXAMPLES / "diabetes.csv").read_bytes())
            lone.close()
            ready = readiness_until(client, 503)
            assert ready.status_code == 503 and ready.json()["type"] == "/problems/not-ready"
            assert "Dask scheduler" in ready.json()["checks"]["workers"]
            job = finished(client, submit(client, {"dataset_id": dataset_id, "target": "y"}))
            assert job["status"] == "failed" and job["error"]["type"] == "/problems/worker-crashed", job
            back = scheduler_only(port)  # the scheduler comes back at the same address
            assert readiness_until(client, 200).status_code == 200
    finally:
        lone.close()
        if back is not None:
            back.close()


def test_settings_dask_executor_needs_a_scheduler() -> None:
    with pytest.raises(pydantic.ValidationError, match="SPARSEFIT_DASK_SCHEDULER"):
        Settings(executor="dask")
    assert Settings().executor == "local"  # the embedded default is unchanged
