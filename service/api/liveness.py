"""GET /healthz answered where its request is parsed, so a liveness probe never queues behind the app."""

from __future__ import annotations

import time

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from service.api.request_context import REQUEST_ID_PATTERN, new_request_id, write_access_line

LIVENESS_TARGET = b"/healthz"
# What the /healthz route answers (HealthRead(status="ok")), byte for byte; tests compare the two.
LIVENESS_BODY = b'{"status":"ok","checks":{}}'
_BODY_HEADERS = (b"content-type", b"content-length", b"transfer-encoding")


def is_liveness_probe(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    """``GET /healthz`` (no query) without a body: what the protocol may answer by itself."""
    if method != b"GET" or target != LIVENESS_TARGET:
        return False
    return not any(name in _BODY_HEADERS for name, _ in headers)


def liveness_answer(
    headers: list[tuple[bytes, bytes]], default_headers: list[tuple[bytes, bytes]], keep_alive: bool
) -> tuple[bytes, str]:
    """The whole HTTP/1.1 response to a liveness probe, and its request id (the client's when valid)."""
    given = next((value for name, value in headers if name == b"x-request-id"), b"")[:64]
    text = given.decode("latin-1")
    request_id = text if REQUEST_ID_PATTERN.fullmatch(text) else new_request_id()
    lines = [STATUS_LINE[200]]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(LIVENESS_BODY),
        b"x-request-id: " + request_id.encode() + b"\r\n",
    ]
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    lines += [b"\r\n", LIVENESS_BODY]
    return b"".join(lines), request_id


def record_liveness_answer(metrics: object, started: float, request_id: str) -> None:
    """Count the probe and write its access line, as RequestContext does for every other request."""
    seconds = time.perf_counter() - started
    observe = getattr(metrics, "observe", None)
    if observe is not None:  # absent before the lifespan has run
        observe("GET", "/healthz", 200, seconds)
    write_access_line("GET", "/healthz", 200, seconds, {"request_id": request_id})
