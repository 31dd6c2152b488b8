"""Pure ASGI middleware: a request id for every HTTP request (X-Request-ID) and its metrics."""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
        request_id = Headers(scope=scope).get("x-request-id", "")[:64] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
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
            raise


def _observe(scope: Scope, status: int, seconds: float) -> None:
    metrics: Any = getattr(scope["app"].state, "metrics", None)
    if metrics is not None:
        route = scope.get("route")
        metrics.observe(scope["method"], getattr(route, "path", None) or "unmatched", status, seconds)
