"""GET /metrics: Prometheus text with requests per route template and the job gauges."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import run_job, upload


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_requests_by_route_template_and_jobs_by_status(
    client: TestClient, diabetes_csv: bytes
) -> None:
    dataset = upload(client, diabetes_csv)
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "cv": {"folds": 3}})
    for _ in range(3):
        client.get(f"/v1/datasets/{dataset['id']}")
    client.get(f"/v1/datasets/{'0' * 32}")
    client.get("/no/such/path")
    samples = _samples(client)

    def requests(method: str, route: str, status: str) -> float:
        labels = (("method", method), ("route", route), ("status", status))
        return samples.get(("sparsefit_http_requests_total", labels), 0.0)

    assert requests("GET", "/v1/datasets/{dataset_id}", "200") == 3
    assert requests("GET", "/v1/datasets/{dataset_id}", "404") == 1
    assert requests("POST", "/v1/datasets", "201") == 1
    assert requests("GET", "unmatched", "404") == 1  # raw paths never become labels
    assert samples[("sparsefit_jobs", (("status", "succeeded"),))] == 1
    assert job["status"] == "succeeded"
    assert samples[("sparsefit_workers", ())] == 2
    count = samples[
        ("sparsefit_http_request_duration_seconds_count", (("method", "POST"), ("route", "/v1/datasets")))
    ]
    assert count == 1


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    given = client.get("/healthz", headers={"X-Request-ID": "trace-abc"})
    assert given.headers["x-request-id"] == "trace-abc"
    generated = client.get(f"/v1/jobs/{'0' * 32}")
    assert len(generated.headers["x-request-id"]) == 32
    assert generated.json()["type"] == "/problems/not-found"


def test_metrics_event_loop_lag_is_watched(client: TestClient) -> None:
    time.sleep(0.35)  # the watch samples every 0.1 s
    samples = _samples(client)
    assert samples[("sparsefit_event_loop_lag_seconds_count", ())] >= 1
