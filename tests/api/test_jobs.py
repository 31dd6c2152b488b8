"""Fit jobs through the API: lasso CV on diabetes end to end, determinism, cancel, timeouts, backpressure."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import Lasso

from service.app import create_app
from service.config import Settings
from tests.conftest import EXAMPLES, run_job, upload


@cache
def slow_dataset() -> bytes:
    """The README's wide table: a 1000-alpha path at tol 1e-12 on it runs for many seconds."""
    return subprocess.run([str(EXAMPLES / "make_wide.sh")], check=True, capture_output=True).stdout


SLOW_JOB = {"target": "y", "path": {"n_alphas": 1000, "alpha_min_ratio": 1e-6}, "solver": {"tol": 1e-12}}


def test_create_job_lasso_cv_on_diabetes(client: TestClient, diabetes_csv: bytes) -> None:
    dataset = upload(client, diabetes_csv)
    response = client.post(
        "/v1/jobs", json={"dataset_id": dataset["id"], "target": "y", "name": "diabetes lasso"}
    )
    assert response.status_code == 202
    assert (
        response.headers["Location"] == f"/v1/jobs/{response.json()['id']}"
        and "Retry-After" in response.headers
    )
    queued = response.json()
    assert queued["status"] in ("queued", "running") and queued["request"]["l1_ratio"] == 1.0
    assert queued["request"]["cv"]["folds"] == 10 and queued["request"]["cv"]["rule"] == "1se"
    job = client.get(f"/v1/jobs/{queued['id']}?wait=60").json()
    assert job["status"] == "succeeded", job
    assert job["progress"]["fraction"] == 1.0 and job["model_id"]
    model = client.get(f"/v1/models/{job['model_id']}").json()
    assert model["name"] == "diabetes lasso" and model["job_id"] == job["id"]
    selection = model["selection"]
    assert selection["rule"] == "1se" and selection["alpha_min"] <= selection["alpha_1se"]
    assert model["alpha"] == selection["alpha_1se"]
    assert set(model["selected_features"]) <= {c["name"] for c in dataset["columns"]} - {"y"}
    assert "bmi" in model["selected_features"] and "s5" in model["selected_features"]
    assert model["metrics"]["cv"]["mse"] > 0 and model["metrics"]["cv"]["se"] > 0
    assert 0.3 < model["metrics"]["train"]["r2"] < 0.6
    assert model["convergence"]["converged"] is True
    nonzero = {c["feature"] for c in model["coefficients"] if c["value"] != 0}
    assert nonzero == set(model["selected_features"])


def test_create_job_coefficients_match_sklearn(
    client: TestClient, diabetes_csv: bytes, diabetes_arrays: Any
) -> None:
    X, y = diabetes_arrays
    dataset = upload(client, diabetes_csv)
    job = run_job(
        client,
        {"dataset_id": dataset["id"], "target": "y", "alpha": 0.5, "cv": None, "solver": {"tol": 1e-12}},
    )
    model = client.get(f"/v1/models/{job['model_id']}").json()
    mean, scale = X.mean(axis=0), X.std(axis=0)
    reference = Lasso(alpha=0.5, tol=1e-12, max_iter=1_000_000).fit((X - mean) / scale, y)
    ours = np.array([c["value"] for c in model["coefficients"]])
    np.testing.assert_allclose(ours * scale, reference.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        [c["standardized"] for c in model["coefficients"]], reference.coef_, rtol=1e-6, atol=1e-8
    )
    assert model["intercept"] == pytest.approx(
        reference.intercept_ - float(mean @ (reference.coef_ / scale)), rel=1e-9
    )


def test_create_job_same_request_same_numbers(client: TestClient, diabetes_csv: bytes) -> None:
    dataset = upload(client, diabetes_csv)
    body = {"dataset_id": dataset["id"], "target": "y", "cv": {"folds": 5, "seed": 7}}
    first, second = run_job(client, body), run_job(client, body)
    cv_first = client.get(f"/v1/models/{first['model_id']}/cv").json()
    cv_second = client.get(f"/v1/models/{second['model_id']}/cv").json()
    assert cv_first == cv_second
    assert sorted(set(cv_first["fold_ids"])) == [0, 1, 2, 3, 4]
    strip = ("id", "job_id", "created_at")
    one, two = (
        {k: v for k, v in client.get(f"/v1/models/{j['model_id']}").json().items() if k not in strip}
        for j in (first, second)
    )
    assert one == two


def test_cancel_running_job_ends_canceled(client: TestClient) -> None:
    dataset = upload(client, slow_dataset())
    job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **SLOW_JOB}).json()
    for _ in range(100):
        if client.get(f"/v1/jobs/{job['id']}").json()["status"] == "running":
            break
        client.get(f"/v1/jobs/{job['id']}?wait=0.1")
    response = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert response.status_code == 202
    final = client.get(f"/v1/jobs/{job['id']}?wait=10").json()
    assert final["status"] == "canceled", final
    assert final["error"]["type"] == "/problems/canceled" and final["model_id"] is None
    again = client.post(f"/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and again.json()["type"] == "/problems/job-finished"
    assert client.delete(f"/v1/jobs/{job['id']}").status_code == 204
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 404


def test_job_timeout_fails_with_problem(client: TestClient) -> None:
    dataset = upload(client, slow_dataset())
    job = run_job(client, {"dataset_id": dataset["id"], **SLOW_JOB, "max_runtime_s": 1.0})
    assert job["status"] == "failed"
    assert job["error"]["type"] == "/problems/job-timeout" and job["error"]["status"] == 504


@pytest.fixture
def one_worker_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", workers=1, max_queued_jobs=1, cancel_grace_s=0.2)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_queue_full_answers_503_and_queued_job_cancels(one_worker_client: TestClient) -> None:
    client = one_worker_client
    dataset = upload(client, slow_dataset())
    body = {"dataset_id": dataset["id"], **SLOW_JOB}
    running = client.post("/v1/jobs", json=body).json()
    client.get(f"/v1/jobs/{running['id']}?wait=0.5")
    queued = client.post("/v1/jobs", json=body)
    assert queued.status_code == 202
    full = client.post("/v1/jobs", json=body)
    assert full.status_code == 503 and full.json()["type"] == "/problems/queue-full"
    assert int(full.headers["Retry-After"]) > 0
    busy = client.delete(f"/v1/jobs/{queued.json()['id']}")
    assert busy.status_code == 409 and busy.json()["type"] == "/problems/job-not-finished"
    canceled = client.post(f"/v1/jobs/{queued.json()['id']}/cancel").json()
    assert canceled["status"] == "canceled"
    client.post(f"/v1/jobs/{running['id']}/cancel")
    assert client.get(f"/v1/jobs/{running['id']}?wait=10").json()["status"] == "canceled"
    listing = client.get("/v1/jobs?status=canceled").json()
    assert listing["total"] == 2


def test_progress_visible_while_running(client: TestClient) -> None:
    dataset = upload(client, slow_dataset())
    job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], **SLOW_JOB}).json()
    seen: set[str] = set()
    fractions: list[float] = []
    for _ in range(60):
        state = client.get(f"/v1/jobs/{job['id']}?wait=0.2").json()
        seen.add(state["progress"]["stage"])
        fractions.append(state["progress"]["fraction"])
        if "cv" in seen:
            break
    client.post(f"/v1/jobs/{job['id']}/cancel")
    assert {"path", "cv"} & seen, seen
    assert max(fractions) > 0


def test_create_job_checks_the_stored_schema_without_reading_the_table(client: TestClient) -> None:
    dataset = upload(client, b"x,m,y\n1,,1\n2,3,2\n3,4,4\n4,5,5\n")
    data_dir: Path = client.app.state.settings.data_dir  # type: ignore[attr-defined]
    (data_dir / "datasets" / f"{dataset['id']}.arrow").unlink()
    # The catalog's schema knows that m has a missing value: refused at once, naming it.
    refused = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "target": "y", "cv": None})
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == "/problems/invalid-data"
    assert problem["column"] == "m" and problem["n_missing"] == 1
    # A sound request is queued without the table; only the job's process reads it, and finds it gone.
    body = {"dataset_id": dataset["id"], "target": "y", "features": ["x"], "cv": None, "alpha": 0.1}
    job = run_job(client, body)
    assert job["status"] == "failed" and job["error"]["type"] == "/problems/integrity"


def test_create_job_on_a_deleted_dataset_is_404_though_its_schema_was_cached(
    client: TestClient, diabetes_csv: bytes
) -> None:
    dataset = upload(client, diabetes_csv)
    body = {"dataset_id": dataset["id"], "target": "y", "cv": None, "alpha": 1.0}
    assert run_job(client, body)["status"] == "succeeded"  # a job still queued would hold the delete off
    assert client.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    again = client.post("/v1/jobs", json=body)
    assert again.status_code == 404 and again.json()["type"] == "/problems/not-found"
