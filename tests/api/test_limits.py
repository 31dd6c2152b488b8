"""Size limits answer problems naming the limit; a tampered model file is refused, never unpickled."""

from __future__ import annotations

import hashlib
import io
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import Tripwire, csv_bytes, run_job, upload


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    small = settings.model_copy(
        update={"max_rows": 50, "max_columns": 6, "max_cells": 200, "max_levels": 3, "max_cv_fits": 100}
    )
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        yield client


def _post_csv(client: TestClient, body: bytes) -> Any:
    return client.post("/v1/datasets", content=body, headers={"Content-Type": "text/csv"})


@pytest.mark.parametrize(
    ("n_rows", "n_columns", "limit"),
    [(10, 7, "max_columns"), (51, 2, "max_rows"), (41, 5, "max_cells")],
)
def test_limits_table_too_large_is_413_naming_the_limit(
    limited: TestClient, n_rows: int, n_columns: int, limit: str
) -> None:
    body = csv_bytes([f"c{j}" for j in range(n_columns)], [[i] * n_columns for i in range(n_rows)])
    response = _post_csv(limited, body)
    assert response.status_code == 413, response.text
    problem = response.json()
    assert problem["type"] == "/problems/table-too-large" and problem["limit"] == limit
    assert limited.get("/v1/datasets").json()["total"] == 0


def test_limits_table_at_the_limits_is_accepted(limited: TestClient) -> None:
    body = csv_bytes([f"c{j}" for j in range(4)], [[i] * 4 for i in range(50)])
    assert _post_csv(limited, body).status_code == 201


def _levels_csv() -> bytes:
    rows = [[["a", "b", "c", "d"][i % 4], float(i % 7), float(i)] for i in range(40)]
    return csv_bytes(["g", "x", "y"], rows)


def test_limits_too_many_levels_is_422_only_when_the_feature_is_used(limited: TestClient) -> None:
    dataset = upload(limited, _levels_csv())
    response = limited.post("/v1/jobs", json={"dataset_id": dataset["id"], "target": "y", "cv": None})
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/too-many-levels" and response.json()["column"] == "g"
    without = limited.post(
        "/v1/jobs", json={"dataset_id": dataset["id"], "target": "y", "features": ["x"], "cv": None}
    )
    assert without.status_code == 202, without.text


def test_limits_cv_fits_is_422_on_cv_folds(limited: TestClient) -> None:
    dataset = upload(limited, _levels_csv())
    body = {"dataset_id": dataset["id"], "target": "y", "features": ["x"]}
    response = limited.post("/v1/jobs", json={**body, "cv": {"folds": 5}, "path": {"n_alphas": 21}})
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/validation"
    assert response.json()["errors"][0]["loc"] == ["body", "cv", "folds"]
    fits = limited.post("/v1/jobs", json={**body, "cv": {"folds": 5}, "path": {"n_alphas": 20}})
    assert fits.status_code == 202, fits.text


def _replace_model_file(data_dir: Path, model_id: str, content: bytes) -> None:
    """What an attacker with write access to the data dir could do: swap the file, fix the checksum."""
    (data_dir / "models" / f"{model_id}.joblib").write_bytes(content)
    with sqlite3.connect(data_dir / "catalog.sqlite3") as conn:
        conn.execute(
            "UPDATE models SET sha256 = ? WHERE id = ?", (hashlib.sha256(content).hexdigest(), model_id)
        )


def test_limits_tampered_model_file_is_refused_and_logged(
    client: TestClient, diabetes_csv: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dataset = upload(client, diabetes_csv)
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "cv": None})
    flag = tmp_path / "unpickled.flag"
    payload = io.BytesIO()
    joblib.dump(Tripwire(flag), payload)
    data_dir = client.app.state.settings.data_dir  # type: ignore[attr-defined]
    _replace_model_file(data_dir, job["model_id"], payload.getvalue())
    caplog.set_level(logging.ERROR, logger="service.api")
    for path in ("path", "cv"):
        response = client.get(f"/v1/models/{job['model_id']}/{path}")
        assert response.status_code == 500, response.text
        assert response.json()["type"] == "/problems/artifact-rejected"
    prediction = client.post(f"/v1/models/{job['model_id']}/predictions", json={"dataset_id": dataset["id"]})
    assert prediction.json()["type"] == "/problems/artifact-rejected"
    assert not flag.exists()
    assert "/problems/artifact-rejected" in caplog.text
