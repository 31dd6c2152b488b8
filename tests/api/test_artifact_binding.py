"""A genuine model file copied over another tenant's model is rejected, even with the catalog edited."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.app import create_app
from service.config import Settings
from tests.conftest import run_job

SMALL = b"x,z,y\n1,0,1.5\n2,1,2.5\n3,0,3.1\n4,1,4.2\n5,0,5.0\n6,1,6.3\n"
KEYS = {"acme": "acme-key-0123456789", "globex": "globex-key-9876543210"}


@pytest.fixture
def keyed_client(settings: Settings) -> Iterator[TestClient]:
    keys = ",".join(f"{tenant}:{key}" for tenant, key in KEYS.items())
    with TestClient(create_app(settings.model_copy(update={"api_keys": SecretStr(keys)}))) as client:
        yield client


def _model_of(client: TestClient, tenant: str) -> str:
    client.headers["Authorization"] = f"Bearer {KEYS[tenant]}"
    response = client.post("/v1/datasets", content=SMALL, headers={"Content-Type": "text/csv"})
    job = run_job(client, {"dataset_id": response.json()["id"], "target": "y", "cv": None})
    assert job["status"] == "succeeded", job
    return str(job["model_id"])


def test_model_file_of_one_tenant_copied_over_anothers_is_rejected(keyed_client: TestClient) -> None:
    acme_model, globex_model = _model_of(keyed_client, "acme"), _model_of(keyed_client, "globex")
    data_dir: Path = keyed_client.app.state.settings.data_dir  # type: ignore[attr-defined]
    genuine = (data_dir / "models" / f"{acme_model}.joblib").read_bytes()
    (data_dir / "models" / f"{globex_model}.joblib").write_bytes(genuine)
    with sqlite3.connect(data_dir / "catalog.sqlite3") as conn:
        conn.execute(
            "UPDATE models SET sha256 = ? WHERE id = ?", (hashlib.sha256(genuine).hexdigest(), globex_model)
        )
    rows = {"columns": ["x", "z"], "data": [[1, 0]]}
    copied = keyed_client.post(f"/v1/models/{globex_model}/predictions", json=rows)
    assert copied.status_code == 500, copied.text
    assert copied.json()["type"] == "/problems/artifact-rejected"
    keyed_client.headers["Authorization"] = f"Bearer {KEYS['acme']}"
    assert keyed_client.post(f"/v1/models/{acme_model}/predictions", json=rows).status_code == 200
