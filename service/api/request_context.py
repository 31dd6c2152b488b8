"""Pure ASGI middleware: a request id for every HTTP request (X-Request-ID), its metrics and access line."""

from __future__ import annotations

import logging
import random
import re
import time
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import logs

access_logger = logging.getLogger("service.access")
# A client's X-Request-ID is kept when it is printable ASCII without spaces: anything else (a
# newline, a quote) could forge or break a text log line, and gets an id of our own instead.
REQUEST_ID_PATTERN = re.compile(r"[\x21-\x7e]{1,64}")
# Seeded once from the OS: a request id only ties log lines together and need not be secret.
# uuid.uuid4() read os.urandom for every request: a system call on the event loop that gives up the
# GIL, and it showed in the loop's stalls under `make load` (sampled while a busy thread held it).
_ID_BITS = random.Random()


def new_request_id() -> str:
    """32 random hex digits, as uuid4().hex looked."""
    return f"{_ID_BITS.getrandbits(128):032x}"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# A pure ASGI middleware, not Starlette's BaseHTTPMiddleware: that one runs every request through an
# extra task and memory stream, which showed up as event-loop time under load.


class RequestContext:
    """Sets ``request.state.request_id``, echoes it as X-Request-ID, and counts the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")[:64]
        request_id = given if REQUEST_ID_PATTERN.fullmatch(given) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        # Every log line of this request carries its id; the tenant joins once the key is checked.
        fields = logs.bind(request_id=request_id)
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
                _observe(scope, status, time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            _observe(scope, status, time.perf_counter() - started)
            _access_line(scope, status, started, fields)
            raise
        _access_line(scope, status, started, fields)


def _access_line(scope: Scope, status: int, started: float, fields: dict[str, str]) -> None:
    """One line per request, once its answer is sent: the path without its query string (a query
    value may be anything a client typed), never a header or the body."""
    seconds = time.perf_counter() - started
    write_access_line(scope["method"], _printable_path(scope), status, seconds, fields)


def write_access_line(method: str, path: str, status: int, seconds: float, fields: dict[str, str]) -> None:
    """The access line of one answered request (``path`` already printable)."""
    duration_ms = round(seconds * 1000.0, 3)
    access_logger.info(
        "%s %s %d %.1f ms",
        method,
        path,
        status,
        duration_ms,
        extra={"method": method, "path": path, "status": status, "duration_ms": duration_ms, **fields},
    )


def _printable_path(scope: Scope) -> str:
    """The path as the client sent it (percent-encoded): the decoded one may hold a newline (%0A)
    that would forge a text log line. Without a raw path, control characters are escaped."""
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else str(scope["path"])
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", path)


def _observe(scope: Scope, status: int, seconds: float) -> None:
    metrics: Any = getattr(scope["app"].state, "metrics", None)
    if metrics is not None:
        route = scope.get("route")
        metrics.observe(scope["method"], getattr(route, "path", None) or "unmatched", status, seconds)
