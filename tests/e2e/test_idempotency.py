"""End to end: a retried upload or job submission with its Idempotency-Key creates nothing new."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_server import get_job, wide_csv

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _upload(server: Server, key: str, csv: bytes) -> httpx.Response:
    headers = {"Idempotency-Key": key, "Content-Type": "text/csv"}
    return httpx.post(f"{server.base}/v1/datasets", content=csv, headers=headers, timeout=60)


def _submit(server: Server, key: str, job: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base}/v1/jobs", json=job, headers={"Idempotency-Key": key}, timeout=60)


def test_e2e_retries_with_an_idempotency_key_replay_the_first_answer(server: Server) -> None:
    csv = wide_csv()  # thousands of columns: the replayed answer is the whole upload document
    first = _upload(server, "upload-1", csv)
    assert first.status_code == 201, first.text
    again = _upload(server, "upload-1", csv)
    assert (again.status_code, again.json(), again.headers["Location"]) == (
        201, first.json(), first.headers["Location"],
    )  # fmt: skip
    assert again.headers["Idempotent-Replayed"] == "true"
    listed = httpx.get(f"{server.base}/v1/datasets", timeout=30).json()
    assert listed["total"] == 1

    other = _upload(server, "upload-1", b"x,y\n1,2\n2,3\n")
    assert other.status_code == 422 and other.json()["type"] == "/problems/idempotency-key-reused"
    assert httpx.get(f"{server.base}/v1/datasets", timeout=30).json()["total"] == 1

    job = {"dataset_id": first.json()["id"], "target": "y", "cv": None, "path": {"n_alphas": 5}}
    submitted = _submit(server, "job-1", job)
    assert submitted.status_code == 202, submitted.text
    retried = _submit(server, "job-1", job)
    assert retried.status_code == 202 and retried.json()["id"] == submitted.json()["id"]
    reused = _submit(server, "job-1", {**job, "path": {"n_alphas": 6}})
    assert reused.status_code == 422 and reused.json()["type"] == "/problems/idempotency-key-reused"
    assert httpx.get(f"{server.base}/v1/jobs", timeout=30).json()["total"] == 1
    assert get_job(server, submitted.json()["id"], wait=60)["status"] == "succeeded"
