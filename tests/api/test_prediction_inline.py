"""Small predictions on the event loop: the same answers, and a busy catalog still sends them to a thread."""

from __future__ import annotations

import threading

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from service.api.deps import Services
from service.api.prediction_inline import (
    INLINE_CELLS,
    INLINE_COLUMNS,
    artifact_now,
    json_rows_now,
    predicts_inline,
)
from service.data.parsing import parse_split_json
from service.errors import NotFoundError
from tests.conftest import csv_bytes, run_job, upload

JSON_TYPE = {"Content-Type": "application/json"}

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
ROW = [50, 1, 25.0, 90, 180, 100, 50, 4, 4.5, 90]


def _services(client: TestClient) -> Services:
    return client.app_state["services"]  # type: ignore[no-any-return]


def _model(client: TestClient, diabetes_csv: bytes) -> str:
    dataset = upload(client, diabetes_csv)
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "alpha": 1.0, "cv": None})
    assert job["status"] == "succeeded", job
    return str(job["model_id"])


def test_artifact_now_only_answers_from_a_free_catalog_and_a_warm_cache(
    client: TestClient, diabetes_csv: bytes
) -> None:
    services = _services(client)
    model = _model(client, diabetes_csv)
    assert artifact_now(services, model, "default") is None  # cold: the file is read in a thread
    assert client.post(
        f"/v1/models/{model}/predictions", json={"columns": FEATURES, "data": [ROW]}
    ).is_success
    warm = artifact_now(services, model, "default")
    assert warm is not None
    with pytest.raises(NotFoundError):
        artifact_now(services, model, "another-tenant")
    with services.catalog._lock:  # a write in progress: no waiting on the loop
        assert artifact_now(services, model, "default") is None
        assert services.catalog.model_sha256_nowait(model) is None
    assert services.catalog.model_sha256_nowait(model) == services.catalog.model_sha256(model)


def test_prediction_with_the_catalog_busy_waits_in_a_thread_and_gives_the_same_answer(
    client: TestClient, diabetes_csv: bytes
) -> None:
    model = _model(client, diabetes_csv)
    body = {"columns": FEATURES, "data": [ROW, ROW]}
    first = client.post(f"/v1/models/{model}/predictions", json=body)
    assert first.status_code == 200, first.text
    lock = _services(client).catalog._lock
    lock.acquire()
    answers: list[object] = []
    request = threading.Thread(
        target=lambda: answers.append(client.post(f"/v1/models/{model}/predictions", json=body))
    )
    request.start()
    try:
        request.join(timeout=0.5)
        # The catalog stays held, so the request waits, in a thread; the loop still answers others.
        assert request.is_alive() and not answers
        assert client.get("/healthz").status_code == 200
    finally:
        lock.release()
    request.join(timeout=30)
    assert len(answers) == 1
    assert answers[0].json() == first.json()  # type: ignore[attr-defined]


def test_unknown_model_is_a_404_on_the_inline_path(client: TestClient) -> None:
    response = client.post(
        "/v1/models/0123456789abcdef/predictions", json={"columns": FEATURES, "data": [ROW]}
    )
    assert response.status_code == 404 and response.json()["type"] == "/problems/not-found"


def test_inline_bound_counts_the_wider_of_table_and_design(client: TestClient, diabetes_csv: bytes) -> None:
    model = _model(client, diabetes_csv)
    client.post(f"/v1/models/{model}/predictions", json={"columns": FEATURES, "data": [ROW]})
    artifact = artifact_now(_services(client), model, "default")
    assert artifact is not None
    rows_inline = INLINE_CELLS // len(FEATURES)
    assert predicts_inline(artifact, parse_split_json(FEATURES, [ROW] * rows_inline))
    assert not predicts_inline(artifact, parse_split_json(FEATURES, [ROW] * (rows_inline + 1)))


def test_rows_of_a_wide_model_are_read_in_a_thread(client: TestClient, diabetes_csv: bytes) -> None:
    # 5 rows of a 2,500-column model took 19 ms to read: on the loop, they set the /healthz p99.
    width = INLINE_COLUMNS + 1
    names = [f"x{j}" for j in range(width)]
    X = np.random.default_rng(0).standard_normal((20, width))
    dataset = upload(client, csv_bytes([*names, "y"], np.column_stack([X, X[:, 0]]).tolist()))
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "alpha": 0.1, "cv": None})
    assert job["status"] == "succeeded", job
    services = _services(client)
    wide_body = orjson.dumps({"columns": names, "data": X[:1].tolist()})
    response = client.post(f"/v1/models/{job['model_id']}/predictions", content=wide_body, headers=JSON_TYPE)
    assert response.status_code == 200, response.text
    wide = artifact_now(services, job["model_id"], "default")
    assert wide is not None
    assert json_rows_now(wide_body, services, None, wide) is None
    narrow_model = _model(client, diabetes_csv)
    client.post(f"/v1/models/{narrow_model}/predictions", json={"columns": FEATURES, "data": [ROW]})
    narrow = artifact_now(services, narrow_model, "default")
    assert narrow is not None
    narrow_body = orjson.dumps({"columns": FEATURES, "data": [ROW]})
    assert json_rows_now(narrow_body, services, None, narrow) is not None
