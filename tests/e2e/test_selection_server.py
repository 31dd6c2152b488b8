"""Selection jobs on the real server (uvicorn on uvloop) with a wide table: followed over SSE,
canceled, timed out, and read back whole."""

from __future__ import annotations

import asyncio
import io
import time
from typing import Any

import httpx
import numpy as np
import pytest

from tests.e2e.conftest import Server
from tests.e2e.test_wide_jobs import follow

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N_ROWS, N_FEATURES, N_TRUE = 120, 2000, 5
FEATURES = [f"x{j}" for j in range(N_FEATURES)]
TIMEOUT_S = 120.0


def wide_csv() -> bytes:
    rng = np.random.default_rng(21)
    X = rng.standard_normal((N_ROWS, N_FEATURES))
    y = X[:, :N_TRUE] @ np.full(N_TRUE, 2.0) + rng.standard_normal(N_ROWS)
    out = io.StringIO()
    header = ",".join([*FEATURES, "y"])
    np.savetxt(out, np.column_stack([X, y]), fmt="%.17g", delimiter=",", header=header, comments="")
    return out.getvalue().encode()


def upload(server: Server) -> str:
    response = httpx.post(
        f"{server.base}/v1/datasets?name=wide",
        content=wide_csv(),
        headers={"Content-Type": "text/csv"},
        timeout=TIMEOUT_S,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def submit_and_follow(base: str, body: dict[str, Any]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    async with httpx.AsyncClient(base_url=base, timeout=TIMEOUT_S) as http:
        response = await http.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        return job_id, await follow(http, job_id)


def wait_until(server: Server, job_id: str, status: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        job = httpx.get(f"{server.base}/v1/jobs/{job_id}?wait=5", timeout=TIMEOUT_S).json()
        if job["status"] == status or job["status"] in ("succeeded", "failed", "canceled"):
            return dict(job)
    raise AssertionError(f"job {job_id} never reached {status}")


def test_wide_stability_job_followed_over_sse_finds_the_true_features(server: Server) -> None:
    dataset_id = upload(server)
    body = {
        "dataset_id": dataset_id,
        "target": "y",
        "kind": "stability",
        "stability": {"n_pairs": 10, "pfer": 1},
        "path": {"n_alphas": 30},
    }
    job_id, events = asyncio.run(submit_and_follow(server.base, body))
    statuses = [data["status"] for name, data in events if name == "status"]
    assert statuses[-1] == "succeeded", server.log()[-3000:]
    fractions = [data["fraction"] for name, data in events if name == "progress"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    job = httpx.get(f"{server.base}/v1/jobs/{job_id}", timeout=TIMEOUT_S).json()
    selection = httpx.get(f"{server.base}/v1/selections/{job['selection_id']}", timeout=TIMEOUT_S).json()
    assert len(selection["features"]) == N_FEATURES
    assert set(selection["selected"]) == set(FEATURES[:N_TRUE])  # the signal is strong: all, and only them
    assert selection["pfer_bound"] <= 1.0
    plot = httpx.get(f"{server.base}/v1/selections/{job['selection_id']}/plots/stability.svg", timeout=60)
    assert plot.status_code == 200 and "<svg" in plot.text


def test_wide_selection_jobs_cancel_and_time_out(server: Server) -> None:
    dataset_id = upload(server)
    slow = {"dataset_id": dataset_id, "target": "y", "path": {"n_alphas": 200}, "solver": {"tol": 1e-10}}
    stability = {**slow, "kind": "stability", "stability": {"n_pairs": 500}}
    job = httpx.post(f"{server.base}/v1/jobs", json=stability, timeout=TIMEOUT_S).json()
    running = wait_until(server, job["id"], "running")
    assert running["status"] == "running", running
    canceled = httpx.post(f"{server.base}/v1/jobs/{job['id']}/cancel", timeout=TIMEOUT_S)
    assert canceled.status_code == 202
    final = wait_until(server, job["id"], "canceled")
    assert final["status"] == "canceled" and final["selection_id"] is None, final
    bootstrap = {**slow, "kind": "bootstrap", "bootstrap": {"replicates": 5000}, "max_runtime_s": 2}
    job = httpx.post(f"{server.base}/v1/jobs", json=bootstrap, timeout=TIMEOUT_S).json()
    final = wait_until(server, job["id"], "failed")
    assert final["status"] == "failed" and final["error"]["type"] == "/problems/job-timeout", final
    assert httpx.get(f"{server.base}/v1/selections", timeout=TIMEOUT_S).json()["total"] == 0
    assert "Traceback" not in server.log()
