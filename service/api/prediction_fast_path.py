"""Pure ASGI fast path: a small JSON prediction of a cached model, answered without FastAPI's routing."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, cast

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import logs
from service.api.deps import Services
from service.api.prediction_answer import arrays_response, predict_design, prediction_response
from service.api.prediction_inline import (
    INLINE_BODY_BYTES,
    INLINE_CELLS,
    artifact_now,
    json_rows_now,
    predicts_inline,
)
from service.api.prediction_numeric import numeric_design
from service.errors import ServiceError
from service.worker.artifact import ModelArtifact

_PATH = re.compile(r"/v1/models/([^/]+)/predictions")
# The template the route is registered under (service.api.models), as /metrics labels it.
ROUTE_PATH = "/v1/models/{model_id}/predictions"


class PredictionFastPath:
    """Answers ``POST /v1/models/{id}/predictions`` itself when that is plainly the ordinary answer.

    Profiled on one core, a one-row prediction spent more time in routing, dependency solving and
    the request and response wrappers than in its own work. This middleware sits inside the gate
    (key and body size already judged) and takes only the plain case: a declared JSON body of at
    most INLINE_BODY_BYTES, no query string, no Content-Encoding, ``columns`` + ``data``, a model
    whose artifact is cached, rows small enough for the loop. It runs the very functions the route
    runs. Anything else, and any problem on the way, goes to the route with the body replayed, so
    every refusal is the route's own answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] != "POST" or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        services = cast(Services | None, scope.get("state", {}).get("services"))
        plain = (
            services is not None
            and headers.get("content-type") == "application/json"
            and "content-encoding" not in headers
            and "idempotency-key" not in headers
            and length.isdigit()
            and int(length) <= INLINE_BODY_BYTES
        )
        if not plain or services is None:
            await self.app(scope, receive, send)
            return
        body, ended = await _read_body(receive)
        replay = _replaying(body, ended, receive)
        try:
            tenant = services.keys.authenticate(headers.get("authorization"))
            artifact = artifact_now(services, match.group(1), tenant)
            if artifact is None:
                await self.app(scope, replay, send)
                return
            response = _inline_response(body, services, artifact)
            if response is None:
                await self.app(scope, replay, send)
                return
        except ServiceError:
            await self.app(scope, replay, send)  # the route gives the problem, as for any request
            return
        logs.add_fields(tenant=tenant)
        # The route this stands in for: /metrics counts the request under its template.
        scope["route"] = _RouteLabel()
        await response(scope, replay, send)


def _inline_response(body: bytes, services: Services, artifact: ModelArtifact) -> Response | None:
    """The answer, when the body's rows are small enough for the loop; None: leave it to the route."""
    X = numeric_design(body, artifact, services.table_limits)
    if X is not None and X.size <= INLINE_CELLS:
        return arrays_response(predict_design(artifact, X, None))
    rows = json_rows_now(body, services, None, artifact)
    if rows is None or not predicts_inline(artifact, rows[0]):
        return None
    return prediction_response(artifact, *rows)


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body, and whether the client's request ended (False: it disconnected)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replaying(body: bytes, ended: bool, receive: Receive) -> Receive:
    """A receive that gives ``body`` once, then defers to ``receive`` (a disconnect, in the end)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent and ended:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return cast(dict[str, Any], await receive())

    return replay


@dataclass(frozen=True)
class _RouteLabel:
    """What /metrics reads of a matched route (its template), for a request no route matched."""

    path: str = ROUTE_PATH
    name: str = "create_prediction"
