"""Pure ASGI gate before the routes: the API key and the body size are judged before a body byte is read."""

from __future__ import annotations

import re
from typing import cast

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.auth import KeyRing
from service.api.deps import Services
from service.api.json_gzip import InflatingReceive, inflates_json, strip_coding
from service.api.partitioned_body import is_partitioned_upload
from service.api.problems import problem_response
from service.api.uploads import CSV, SVMLIGHT
from service.config import Settings
from service.errors import PayloadTooLargeError, ServiceError, UnauthorizedError

# Every route under /v1 needs a key (when keys are configured); /healthz, /readyz, /version,
# /metrics and the docs stay open (API.md). A path under /v1 that no route serves is a 401 too, so
# that a caller without a key learns nothing about which paths exist.
KEYED_PREFIX = "/v1"
_PREDICTIONS = re.compile(r"/v1/models/[^/]+/predictions/?")
# A Content-Length with more digits than this is over any limit; int() is not asked to parse it.
_MAX_LENGTH_DIGITS = 18


def needs_key(path: str) -> bool:
    return path == KEYED_PREFIX or path.startswith(KEYED_PREFIX + "/")


def is_upload(path: str, content_type: str) -> bool:
    """Uploads: any POST /v1/datasets body (JSON rows and CSR too), and CSV or svmlight rows to predict."""
    if path.rstrip("/") == "/v1/datasets":
        return True
    return content_type in (CSV, SVMLIGHT) and _PREDICTIONS.fullmatch(path) is not None


def routes_read_gzip(path: str, headers: Headers) -> bool:
    """Uploads and predictions inflate a gzip body in the route (uploads.read_body); JSON routes do not."""
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return is_upload(path, content_type) or _PREDICTIONS.fullmatch(path) is not None


def body_limit(path: str, headers: Headers, settings: Settings, query: bytes = b"") -> int:
    """An upload keeps SPARSEFIT_MAX_BODY_BYTES; any other body is JSON, held to SPARSEFIT_MAX_JSON_BYTES.

    A partitioned upload (``POST /v1/datasets?storage=partitioned``) streams to disk, never into
    memory: it has a limit of its own, SPARSEFIT_MAX_PARTITIONED_UPLOAD_BYTES.
    """
    if path.rstrip("/") == "/v1/datasets" and is_partitioned_upload(query):
        return settings.max_partitioned_upload_bytes
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    return settings.max_body_bytes if is_upload(path, content_type) else settings.max_json_bytes


def declared_length(headers: Headers) -> int | None:
    """The Content-Length, or None when there is none (a chunked body, or no body)."""
    declared = headers.get("content-length", "").strip()
    if not declared.isdigit():
        return None
    return int(declared) if len(declared) <= _MAX_LENGTH_DIGITS else 10**_MAX_LENGTH_DIGITS


def has_body(headers: Headers) -> bool:
    return bool(declared_length(headers)) or "transfer-encoding" in headers


class RequestGate:
    """Refuses a request without a valid key, or with a declared body over its limit, from its headers.

    Both answers go out before the app reads a byte of the body: authentication used to be a route
    dependency, which FastAPI runs after it has read and parsed the whole JSON body, so a 247 MB body
    without a key cost seconds and 1.5 GB before its 401. A body without a Content-Length (chunked)
    is counted as the app reads it and refused at the limit (413). Sits inside RequestContext, so
    refusals carry a request id and are counted in /metrics.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state", {}) if scope["type"] == "http" else {}
        services = cast(Services | None, state.get("services"))
        if services is None:  # not HTTP, or an app without its lifespan: nothing to judge with
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = body_limit(scope["path"], headers, services.settings, scope.get("query_string", b""))
        refusal = _refusal(scope["path"], headers, services.keys, limit)
        meter = BodyMeter(limit, receive, send, complete=not has_body(headers))
        if refusal is not None:
            await problem_response(refusal.to_problem(), refusal.headers)(scope, receive, meter.send)
            return
        receive_body: Receive = meter.receive
        try:
            inflate = has_body(headers) and inflates_json(
                scope, headers, handled_by_route=routes_read_gzip(scope["path"], headers)
            )
        except ServiceError as error:  # a Content-Encoding other than gzip: 415
            await problem_response(error.to_problem(), error.headers)(scope, receive, meter.send)
            return
        if inflate:
            strip_coding(scope)
            receive_body = InflatingReceive(meter.receive, limit)
        await self.app(scope, receive_body, meter.send)


def _refusal(path: str, headers: Headers, keys: KeyRing, limit: int) -> ServiceError | None:
    if needs_key(path):
        try:
            keys.authenticate(headers.get("authorization"))
        except UnauthorizedError as error:
            return error
    declared = declared_length(headers)
    if declared is not None and declared > limit:
        return PayloadTooLargeError(f"The body is {declared} bytes; the limit is {limit} bytes.", limit=limit)
    return None


class BodyMeter:
    """Counts the body as the app reads it, and closes the connection after an answer sent before it."""

    def __init__(self, limit: int, receive: Receive, send: Send, *, complete: bool) -> None:
        self.limit = limit
        self.received = 0
        self.complete = complete
        self._receive = receive
        self._send = send

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                # Raised into the route, whose handler answers the 413 problem; the rest is not read.
                raise PayloadTooLargeError(
                    f"The body exceeds the limit of {self.limit} bytes.", limit=self.limit
                )
            self.complete = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and not self.complete:
            # Answered before the body was read whole (refused, or not needed): what the client still
            # sends is never parsed, so the connection cannot carry another request.
            MutableHeaders(scope=message)["Connection"] = "close"
        await self._send(message)
