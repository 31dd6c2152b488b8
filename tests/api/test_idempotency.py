"""Idempotency-Key on POST /v1/datasets and POST /v1/jobs: a retry gets the first answer, nothing twice."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.requests import Request

from service.api.idempotency import request_fingerprint
from service.app import create_app
from service.config import Settings
from service.store import Catalog
from tests.conftest import upload

CSV = {"Content-Type": "text/csv"}
SMALL = b"x,z,y\n1,0,1.5\n2,1,2.5\n3,0,3.1\n4,1,4.2\n5,0,5.0\n6,1,6.3\n"
ACME_KEY = "acme-key-0123456789"
GLOBEX_KEY = "globex-key-9876543210"


def _key(value: str, **more: str) -> dict[str, str]:
    return {"Idempotency-Key": value, **more}


def _same_answer(first: httpx.Response, again: httpx.Response) -> None:
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers


def _catalog(client: TestClient) -> Path:
    data_dir: Path = client.app.state.settings.data_dir  # type: ignore[attr-defined]
    return data_dir / "catalog.sqlite3"


def test_idempotency_dataset_retry_gets_the_first_answer_and_stores_once(client: TestClient) -> None:
    first = client.post("/v1/datasets?name=a", content=SMALL, headers=_key("upload-1", **CSV))
    assert first.status_code == 201, first.text
    again = client.post("/v1/datasets?name=a", content=SMALL, headers=_key("upload-1", **CSV))
    _same_answer(first, again)
    assert client.get("/v1/datasets").json()["total"] == 1
    data_dir: Path = client.app.state.settings.data_dir  # type: ignore[attr-defined]
    assert len(list((data_dir / "datasets").iterdir())) == 1


def test_idempotency_job_retry_gets_the_first_answer_and_queues_once(client: TestClient) -> None:
    dataset = upload(client, SMALL)
    body = {"dataset_id": dataset["id"], "target": "y", "cv": None, "alpha": 0.1}
    first = client.post("/v1/jobs", json=body, headers=_key("fit-1"))
    assert first.status_code == 202, first.text
    client.get(f"/v1/jobs/{first.json()['id']}?wait=30")  # the job moves on; the replay does not
    again = client.post("/v1/jobs", json=body, headers=_key("fit-1"))
    _same_answer(first, again)
    assert again.json()["status"] == "queued" and again.headers["retry-after"] == "1"
    assert client.get("/v1/jobs").json()["total"] == 1


def test_idempotency_same_key_with_another_body_is_422(client: TestClient) -> None:
    assert client.post("/v1/datasets", content=SMALL, headers=_key("k", **CSV)).status_code == 201
    other = client.post("/v1/datasets", content=SMALL + b"7,0,7.7\n", headers=_key("k", **CSV))
    assert other.status_code == 422 and other.json()["type"] == "/problems/idempotency-key-reused"
    renamed = client.post("/v1/datasets?name=b", content=SMALL, headers=_key("k", **CSV))
    assert renamed.status_code == 422 and renamed.json()["type"] == "/problems/idempotency-key-reused"
    dataset_id = client.get("/v1/datasets").json()["items"][0]["id"]
    job = {"dataset_id": dataset_id, "target": "y", "cv": None, "alpha": 0.1}
    assert client.post("/v1/jobs", json=job, headers=_key("j")).status_code == 202
    changed = client.post("/v1/jobs", json={**job, "alpha": 0.2}, headers=_key("j"))
    assert changed.status_code == 422 and changed.json()["type"] == "/problems/idempotency-key-reused"
    assert client.get("/v1/datasets").json()["total"] == 1
    assert client.get("/v1/jobs").json()["total"] == 1


def test_idempotency_failed_request_leaves_its_key_free(client: TestClient) -> None:
    dataset = upload(client, SMALL)
    bad = {"dataset_id": dataset["id"], "target": "nope", "cv": None}
    first = client.post("/v1/jobs", json=bad, headers=_key("retry-me"))
    assert first.status_code == 422 and first.json()["type"] == "/problems/validation"
    # Not a replay and not "in flight": the failed request released its key, the retry ran again.
    again = client.post("/v1/jobs", json=bad, headers=_key("retry-me"))
    assert again.status_code == 422 and again.json()["type"] == "/problems/validation"
    assert "idempotent-replayed" not in again.headers
    good = {"dataset_id": dataset["id"], "target": "y", "cv": None, "alpha": 0.1}
    fresh = client.post("/v1/jobs", json=good, headers=_key("free-key"))
    assert fresh.status_code == 202


def test_idempotency_multipart_retry_with_a_new_boundary_is_a_replay(client: TestClient) -> None:
    def multipart(boundary: str) -> tuple[bytes, dict[str, str]]:
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="t.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n{SMALL.decode()}\r\n--{boundary}--\r\n"
        ).encode()
        return body, _key("mp-1", **{"Content-Type": f"multipart/form-data; boundary={boundary}"})

    first = client.post("/v1/datasets", content=multipart("a1b2c3")[0], headers=multipart("a1b2c3")[1])
    assert first.status_code == 201, first.text
    again = client.post("/v1/datasets", content=multipart("zz9y8x")[0], headers=multipart("zz9y8x")[1])
    _same_answer(first, again)


def test_idempotency_key_expires_after_a_day(client: TestClient) -> None:
    first = client.post("/v1/datasets", content=SMALL, headers=_key("daily", **CSV))
    with sqlite3.connect(_catalog(client)) as conn:
        conn.execute("UPDATE idempotency_keys SET created_at = '2000-01-01T00:00:00.000000Z'")
    later = client.post("/v1/datasets", content=SMALL, headers=_key("daily", **CSV))
    assert later.status_code == 201 and "idempotent-replayed" not in later.headers
    assert later.json()["id"] != first.json()["id"]
    assert client.get("/v1/datasets").json()["total"] == 2


def test_idempotency_key_longer_than_255_characters_is_422(client: TestClient) -> None:
    too_long = client.post("/v1/datasets", content=SMALL, headers=_key("k" * 256, **CSV))
    assert too_long.status_code == 422 and too_long.json()["type"] == "/problems/validation"
    assert too_long.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert client.post("/v1/datasets", content=SMALL, headers=_key("k" * 255, **CSV)).status_code == 201
    assert client.get("/v1/datasets").json()["total"] == 1


@pytest.fixture
def keyed_client(settings: Settings) -> Iterator[TestClient]:
    keyed = settings.model_copy(update={"api_keys": SecretStr(f"acme:{ACME_KEY},globex:{GLOBEX_KEY}")})
    with TestClient(create_app(keyed), raise_server_exceptions=False) as test_client:
        yield test_client


def test_idempotency_keys_of_different_tenants_are_independent(keyed_client: TestClient) -> None:
    answers: dict[str, Any] = {}
    for key in (ACME_KEY, GLOBEX_KEY):
        headers = _key("shared", **CSV, Authorization=f"Bearer {key}")
        answers[key] = keyed_client.post("/v1/datasets", content=SMALL, headers=headers)
        assert answers[key].status_code == 201 and "idempotent-replayed" not in answers[key].headers
    assert answers[ACME_KEY].json()["id"] != answers[GLOBEX_KEY].json()["id"]
    for key in (ACME_KEY, GLOBEX_KEY):
        headers = _key("shared", **CSV, Authorization=f"Bearer {key}")
        _same_answer(answers[key], keyed_client.post("/v1/datasets", content=SMALL, headers=headers))
        listing = keyed_client.get("/v1/datasets", headers={"Authorization": f"Bearer {key}"}).json()
        assert listing["total"] == 1


def test_idempotency_retry_while_the_first_request_runs_is_409(client: TestClient) -> None:
    # The first request is "still running": its key is claimed in the catalog, its answer not yet in.
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("testserver", 80),
        "path": "/v1/datasets",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"text/csv")],
    }
    fingerprint = request_fingerprint(Request(scope), SMALL)
    with Catalog(_catalog(client)) as catalog:
        assert catalog.claim_idempotency_key("default", "busy", fingerprint) is None
    retry = client.post("/v1/datasets", content=SMALL, headers=_key("busy", **CSV))
    assert retry.status_code == 409, retry.text
    assert retry.json()["type"] == "/problems/idempotency-key-in-flight"
    assert retry.headers["retry-after"] == "1"
    assert client.get("/v1/datasets").json()["total"] == 0
