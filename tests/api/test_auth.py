"""API keys and tenants: 401 without a key, and one tenant never sees or touches another's objects."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from service.api.auth import KeyConfigError, check_exposure, load_key_ring
from service.app import create_app
from service.config import Settings
from tests.conftest import run_job

ACME_KEY = "acme-key-0123456789"
GLOBEX_KEY = "globex-key-9876543210"
KEYS = f"acme:{ACME_KEY},globex:{GLOBEX_KEY}"
REPO = Path(__file__).resolve().parents[2]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed_client(settings: Settings) -> Iterator[TestClient]:
    keyed = settings.model_copy(update={"api_keys": SecretStr(KEYS)})
    with TestClient(create_app(keyed), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong-key-000000"), {"Authorization": f"Basic {ACME_KEY}"}, {"Authorization": "Bearer"}],
    ids=["no header", "unknown key", "basic scheme", "empty bearer"],
)
def test_auth_v1_without_valid_key_is_401_problem(keyed_client: TestClient, headers: dict[str, str]) -> None:
    for method, path in [("GET", "/v1/datasets"), ("POST", "/v1/jobs"), ("GET", f"/v1/models/{'0' * 32}")]:
        response = keyed_client.request(method, path, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"] == "/problems/unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_auth_operational_routes_stay_open(keyed_client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/version", "/metrics"):
        assert keyed_client.get(path).status_code == 200, path


def test_auth_lowercase_scheme_and_each_key_is_accepted(keyed_client: TestClient) -> None:
    assert (
        keyed_client.get("/v1/datasets", headers={"Authorization": f"bearer {ACME_KEY}"}).status_code == 200
    )
    assert keyed_client.get("/v1/datasets", headers=bearer(GLOBEX_KEY)).status_code == 200


def test_auth_without_keys_serves_one_default_tenant(client: TestClient, diabetes_csv: bytes) -> None:
    response = client.post("/v1/datasets", content=diabetes_csv, headers={"Content-Type": "text/csv"})
    assert response.status_code == 201
    assert client.get("/v1/datasets").json()["total"] == 1


def _acme_objects(client: TestClient, diabetes_csv: bytes) -> dict[str, str]:
    """A dataset, a finished job with its model, and a queued-or-running job, all owned by acme."""
    client.headers.update(bearer(ACME_KEY))
    dataset = client.post(
        "/v1/datasets?name=acme", content=diabetes_csv, headers={"Content-Type": "text/csv"}
    )
    assert dataset.status_code == 201, dataset.text
    job = run_job(client, {"dataset_id": dataset.json()["id"], "target": "y", "cv": {"folds": 3}})
    assert job["status"] == "succeeded", job
    stability = {"kind": "stability", "stability": {"n_pairs": 3}, "path": {"n_alphas": 10}}
    selection = run_job(client, {"dataset_id": dataset.json()["id"], "target": "y", **stability})
    assert selection["status"] == "succeeded", selection
    return {
        "dataset_id": dataset.json()["id"],
        "job_id": job["id"],
        "model_id": job["model_id"],
        "selection_id": selection["selection_id"],
    }


# Every /v1 route with another tenant's ids; each must answer 404 (a body that is otherwise valid).
CROSS_TENANT: dict[tuple[str, str], Callable[[dict[str, str]], dict[str, Any]]] = {
    ("GET", "/v1/datasets/{dataset_id}"): lambda ids: {},
    ("GET", "/v1/datasets/{dataset_id}/columns"): lambda ids: {},
    ("DELETE", "/v1/datasets/{dataset_id}"): lambda ids: {},
    ("POST", "/v1/jobs"): lambda ids: {"json": {"dataset_id": ids["dataset_id"], "target": "y"}},
    ("GET", "/v1/jobs/{job_id}"): lambda ids: {"params": {"wait": 0.1}},
    ("POST", "/v1/jobs/{job_id}/cancel"): lambda ids: {},
    ("GET", "/v1/jobs/{job_id}/events"): lambda ids: {},
    ("DELETE", "/v1/jobs/{job_id}"): lambda ids: {},
    ("GET", "/v1/models/{model_id}"): lambda ids: {},
    ("GET", "/v1/models/{model_id}/path"): lambda ids: {},
    ("GET", "/v1/models/{model_id}/cv"): lambda ids: {},
    ("GET", "/v1/models/{model_id}/plots/path.svg"): lambda ids: {},
    ("GET", "/v1/models/{model_id}/plots/cv.svg"): lambda ids: {},
    ("POST", "/v1/models/{model_id}/predictions"): lambda ids: {"json": {"columns": ["age"], "data": [[50]]}},
    ("GET", "/v1/models/{model_id}/export"): lambda ids: {"params": {"format": "onnx"}},
    ("DELETE", "/v1/models/{model_id}"): lambda ids: {},
    ("GET", "/v1/selections/{selection_id}"): lambda ids: {},
    ("GET", "/v1/selections/{selection_id}/plots/stability.svg"): lambda ids: {},
    ("DELETE", "/v1/selections/{selection_id}"): lambda ids: {},
}
LISTS = ("/v1/datasets", "/v1/jobs", "/v1/models", "/v1/selections")


def _v1_routes(client: TestClient) -> set[tuple[str, str]]:
    paths = client.get("/openapi.json").json()["paths"]
    return {(m.upper(), p) for p, operations in paths.items() if p.startswith("/v1") for m in operations}


def test_tenant_walk_covers_every_v1_route(keyed_client: TestClient) -> None:
    # The walk below is only complete if it names every route the app serves under /v1.
    assert _v1_routes(keyed_client) == set(CROSS_TENANT) | {("GET", p) for p in LISTS} | {
        ("POST", "/v1/datasets")
    }


def test_tenant_walk_other_tenant_gets_404_everywhere(keyed_client: TestClient, diabetes_csv: bytes) -> None:
    ids = _acme_objects(keyed_client, diabetes_csv)
    before = {path: keyed_client.get(path).json() for path in LISTS}
    for (method, template), extra in CROSS_TENANT.items():
        response = keyed_client.request(
            method, template.format(**ids), headers=bearer(GLOBEX_KEY), **extra(ids)
        )
        assert response.status_code == 404, (method, template, response.text)
        assert response.json()["type"] == "/problems/not-found"
    # globex's own model cannot predict from acme's dataset either.
    globex_dataset = keyed_client.post(
        "/v1/datasets", content=diabetes_csv, headers={"Content-Type": "text/csv", **bearer(GLOBEX_KEY)}
    ).json()
    keyed_client.headers.update(bearer(GLOBEX_KEY))
    globex_model = run_job(keyed_client, {"dataset_id": globex_dataset["id"], "target": "y", "cv": None})
    foreign = keyed_client.post(
        f"/v1/models/{globex_model['model_id']}/predictions", json={"dataset_id": ids["dataset_id"]}
    )
    assert foreign.status_code == 404 and foreign.json()["type"] == "/problems/not-found"
    # Lists show only the caller's objects, and acme's objects are untouched.
    assert [d["id"] for d in keyed_client.get("/v1/datasets").json()["items"]] == [globex_dataset["id"]]
    assert [m["id"] for m in keyed_client.get("/v1/models").json()["items"]] == [globex_model["model_id"]]
    keyed_client.headers.update(bearer(ACME_KEY))
    assert {path: keyed_client.get(path).json() for path in LISTS} == before
    prediction = keyed_client.post(
        f"/v1/models/{ids['model_id']}/predictions", json={"dataset_id": ids["dataset_id"]}
    )
    assert prediction.status_code == 200 and len(prediction.json()["predictions"]) == 442


def test_auth_keys_file_with_plain_and_sha256_entries(tmp_path: Path, settings: Settings) -> None:
    digest = hashlib.sha256(b"hashed-key-abcdefgh").hexdigest()
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# operators' keys\nacme:plain-key-abcdefgh\n\nglobex:sha256:{digest.upper()}\n")
    keyed = settings.model_copy(update={"api_keys_file": keys_file})
    with TestClient(create_app(keyed), raise_server_exceptions=False) as client:
        assert client.get("/v1/jobs", headers=bearer("plain-key-abcdefgh")).status_code == 200
        assert client.get("/v1/jobs", headers=bearer("hashed-key-abcdefgh")).status_code == 200
        assert client.get("/v1/jobs", headers=bearer(f"sha256:{digest}")).status_code == 401


@pytest.mark.parametrize(
    "keys",
    ["acme", "acme:", "bad tenant:key-12345678", "acme:short", "a:same-key-123,b:same-key-123"],
    ids=["no separator", "no key", "bad tenant name", "short key", "one key twice"],
)
def test_auth_bad_key_config_is_refused_without_echoing_keys(keys: str) -> None:
    with pytest.raises(KeyConfigError) as raised:
        load_key_ring(Settings(api_keys=SecretStr(keys)))
    assert "12345678" not in str(raised.value) and "same-key" not in str(raised.value)


def test_auth_public_bind_needs_keys_or_explicit_opt_in() -> None:
    with pytest.raises(KeyConfigError):
        check_exposure(Settings(host="0.0.0.0"), load_key_ring(Settings()))
    check_exposure(Settings(host="0.0.0.0", allow_anonymous=True), load_key_ring(Settings()))
    keyed = Settings(host="0.0.0.0", api_keys=SecretStr(KEYS))
    check_exposure(keyed, load_key_ring(keyed))
    for loopback in ("127.0.0.1", "::1", "localhost"):
        check_exposure(Settings(host=loopback), load_key_ring(Settings()))


def test_auth_server_refuses_to_start_open_on_public_address(tmp_path: Path) -> None:
    env = {**os.environ, "SPARSEFIT_HOST": "0.0.0.0", "SPARSEFIT_DATA_DIR": str(tmp_path / "data")}
    env.pop("SPARSEFIT_API_KEYS", None)
    result = subprocess.run(
        [sys.executable, "-m", "service"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "SPARSEFIT_API_KEYS" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_auth_keys_never_logged(
    settings: Settings, diabetes_csv: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    keyed = settings.model_copy(update={"api_keys": SecretStr(KEYS)})
    with TestClient(create_app(keyed), raise_server_exceptions=False) as client:
        client.post(
            "/v1/datasets", content=diabetes_csv, headers={"Content-Type": "text/csv", **bearer(ACME_KEY)}
        )
        client.get("/v1/datasets", headers=bearer("wrong-key-000000"))
        client.get(f"/v1/models/{'0' * 32}", headers=bearer(GLOBEX_KEY))
    assert "API keys required (2 key(s), 2 tenant(s))" in caplog.text
    for secret in (ACME_KEY, GLOBEX_KEY, "wrong-key-000000"):
        assert secret not in caplog.text
    assert ACME_KEY not in repr(keyed) and ACME_KEY not in str(keyed.model_dump())


def test_auth_openapi_declares_bearer_and_401(keyed_client: TestClient) -> None:
    document = keyed_client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            is_v1 = path.startswith("/v1")
            assert ("401" in operation["responses"]) == is_v1, (method, path)
