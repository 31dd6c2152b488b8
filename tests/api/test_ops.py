"""Health, readiness, version, and the committed OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.jobs.pool import WorkerPool
from service.openapi_export import render

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_health_ready_version(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "store": "ok",
        "data_dir": "ok",
        "free_space": "ok",
        "workers": "ok",
    }
    version = client.get("/version").json()
    assert version["sparsefit"] and version["scikit-learn"] and version["numpy"]


def test_openapi_document_matches_committed_file(client: TestClient) -> None:
    current = render(client.app.openapi())  # type: ignore[attr-defined]
    assert OPENAPI.exists(), "run `make openapi` and commit openapi/openapi.json"
    assert json.loads(OPENAPI.read_text()) == json.loads(current), (
        "openapi/openapi.json drifted: run `make openapi`"
    )


def test_openapi_documents_problem_responses(client: TestClient) -> None:
    document = client.app.openapi()  # type: ignore[attr-defined]
    job = document["paths"]["/v1/jobs/{job_id}"]["get"]
    assert "application/problem+json" in job["responses"]["404"]["content"]
    assert document["paths"]["/v1/jobs"]["post"]["operationId"] == "create_job"
    upload = document["paths"]["/v1/datasets"]["post"]["requestBody"]["content"]
    assert {"text/csv", "application/vnd.apache.parquet", "multipart/form-data", "application/json"} <= set(
        upload
    )


def test_docs_page_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()


def test_openapi_error_responses_are_all_problem_json(client: TestClient) -> None:
    document = client.app.openapi()  # type: ignore[attr-defined]
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert set(response["content"]) == {"application/problem+json"}, (path, method, status)
                    checked += 1
            assert "500" in operation["responses"], (path, method)
    assert checked > 30
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_readiness_is_503_problem_when_workers_are_down(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WorkerPool, "start", lambda self: None)  # the pool never comes up
    with TestClient(create_app(settings)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/not-ready"
    assert problem["checks"] == {
        "store": "ok",
        "data_dir": "ok",
        "free_space": "ok",
        "workers": "failed: worker pool not started",
    }
