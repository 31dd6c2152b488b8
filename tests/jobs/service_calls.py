"""The HTTP calls the executor tests make on an in-process service: upload, submit, wait for the end."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import EXAMPLES


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
