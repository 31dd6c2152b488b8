"""The HTTP calls the executor tests make on an in-process service: upload, submit, wait for the end."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import EXAMPLES


@contextmanager
def dask_service(data_dir: Path, scheduler_address: str) -> Iterator[TestClient]:
    """The service on the Dask executor at ``scheduler_address``, two jobs at once, ready when yielded."""
    settings = Settings(
        data_dir=data_dir,
        workers=2,
        cancel_grace_s=0.5,
        warm_up_before_serving=True,
        executor="dask",
        dask_scheduler=scheduler_address,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def wide_table() -> bytes:
    """examples/make_wide.sh's CSV: a table wide enough that a fit takes a while."""
    return subprocess.run([str(EXAMPLES / "make_wide.sh")], check=True, capture_output=True).stdout


def upload(client: TestClient, body: bytes) -> str:
    response = client.post("/v1/datasets", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def submit(client: TestClient, body: dict[str, Any]) -> str:
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def finished(client: TestClient, job_id: str, wait_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}?wait=10").json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            return dict(job)
    raise AssertionError(f"job {job_id} did not finish in {wait_s} s")
