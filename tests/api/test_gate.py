"""The request gate: a key and a body size are judged from the headers, before a body byte is read."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.types import Message

from service.api.auth import KeyRing
from service.api.gate import RequestGate, body_limit
from service.app import create_app
from service.config import Settings
from service.errors import PayloadTooLargeError

KEY = "acme-key-0123456789"
JSON_LIMIT = 2048


class Tripwire:
    """A request body that records whether anyone read it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read = False

    def __iter__(self) -> Iterator[bytes]:
        self.read = True
        yield b"[" + b"1," * (self.size // 2) + b"1]"


@pytest.fixture
def gated_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_keys": SecretStr(f"acme:{KEY}"), "max_json_bytes": JSON_LIMIT})


@pytest.fixture
def gated(gated_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(gated_settings), raise_server_exceptions=False) as test_client:
        yield test_client


def test_gate_refuses_a_request_without_key_before_reading_its_body(gated: TestClient) -> None:
    body = Tripwire(100_000)
    response = gated.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["x-request-id"]
    # The client was still sending: the connection cannot carry another request.
    assert response.headers["connection"] == "close"
    assert not body.read


def test_gate_keeps_operational_routes_and_docs_open(gated: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/version", "/metrics", "/docs", "/redoc", "/openapi.json"):
        assert gated.get(path).status_code == 200, path
    assert gated.get("/no/such/path").status_code == 404


def test_gate_refuses_unknown_v1_paths_without_key(gated: TestClient) -> None:
    # Without a key nothing under /v1 is told apart, not even a path no route serves.
    assert gated.get("/v1/nothing-here").status_code == 401
    assert gated.get("/v1/nothing-here", headers={"Authorization": f"Bearer {KEY}"}).status_code == 404


def test_gate_refuses_a_declared_json_body_over_its_limit_unread(gated: TestClient) -> None:
    body = Tripwire(100_000)
    response = gated.post(
        "/v1/jobs",
        content=body,
        headers={
            "Authorization": f"Bearer {KEY}",
            "Content-Type": "application/json",
            "Content-Length": str(JSON_LIMIT + 1),
        },
    )
    assert response.status_code == 413, response.text
    problem = response.json()
    assert problem["type"] == "/problems/payload-too-large" and problem["limit"] == JSON_LIMIT
    assert response.headers["content-type"] == "application/problem+json"
    assert not body.read


def test_gate_refuses_an_undeclared_json_body_over_its_limit_as_413_not_422(gated: TestClient) -> None:
    # No Content-Length (a generator is sent chunked): the body is counted as FastAPI reads it, and
    # the error FastAPI wraps in a 400 keeps its own problem.
    response = gated.post(
        "/v1/jobs",
        content=iter([b'{"dataset_id": "' + b"0" * 4000 + b'"}']),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert response.json()["type"] == "/problems/payload-too-large"
    assert response.headers["connection"] == "close"


def test_gate_json_body_under_the_limit_is_served(gated: TestClient) -> None:
    response = gated.post(
        "/v1/jobs",
        json={"dataset_id": "0" * 32, "target": "y"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status_code == 404, response.text  # read, validated, and the dataset looked up
    assert "connection" not in response.headers


def test_gate_json_upload_keeps_the_upload_limit(gated: TestClient) -> None:
    rows = [[float(i), float(i % 7), float(i % 3)] for i in range(400)]
    response = gated.post(
        "/v1/datasets",
        json={"columns": ["a", "b", "y"], "data": rows},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert len(response.request.content) > JSON_LIMIT
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("path", "content_type", "upload"),
    [
        ("/v1/datasets", "application/json", True),
        ("/v1/datasets", "text/csv", True),
        ("/v1/models/abc/predictions", "text/csv; charset=utf-8", True),
        ("/v1/models/abc/predictions", "text/x-svmlight", True),
        ("/v1/models/abc/predictions", "application/json", False),
        ("/v1/jobs", "application/json", False),
        ("/v1/jobs", "text/csv", False),
        ("/v1/datasets/abc", "text/csv", False),
    ],
)
def test_gate_body_limit_by_route_and_content_type(path: str, content_type: str, upload: bool) -> None:
    settings = Settings(max_body_bytes=10_000, max_json_bytes=2_000)
    limit = body_limit(path, Headers({"content-type": content_type}), settings)
    assert limit == (10_000 if upload else 2_000)


def test_gate_counts_a_chunked_body_and_stops_at_the_limit() -> None:
    limit, chunk = 10_000, 1_000
    pulled = 0

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * chunk, "more_body": True}  # never ends

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive())["more_body"]:
            pass

    async def send(message: Message) -> None:
        raise AssertionError("the gate sent nothing itself")

    services = SimpleNamespace(settings=Settings(max_json_bytes=limit), keys=KeyRing())
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/jobs",
        "headers": [(b"transfer-encoding", b"chunked")],
        "state": {"services": services},
    }
    with pytest.raises(PayloadTooLargeError):
        asyncio.run(RequestGate(app)(scope, receive, send))
    assert pulled == limit // chunk + 1


def test_client_disconnect_mid_body_is_499_in_metrics_without_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    messages = iter(
        [{"type": "http.request", "body": b"a,b\n1,", "more_body": True}, {"type": "http.disconnect"}]
    )

    async def receive() -> Message:
        return next(messages)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/datasets",
        "raw_path": b"/v1/datasets",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"text/csv"), (b"content-length", b"1000000")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": client.app_state.copy(),
    }
    with caplog.at_level(logging.INFO):
        client.portal.call(client.app, scope, receive, send)
    assert sent[0]["status"] == 499
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
    assert [r.getMessage() for r in caplog.records if "disconnected" in r.getMessage()]
    samples = {
        (s.name, s.labels.get("route"), s.labels.get("status")): s.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for s in family.samples
    }
    assert samples[("sparsefit_http_requests_total", "/v1/datasets", "499")] == 1
    assert ("sparsefit_http_requests_total", "/v1/datasets", "500") not in samples
