"""Idempotency-Key on the creating POSTs: a retry gets the first answer again, and nothing is made twice."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Annotated

from fastapi import Header, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.deps import Services
from service.api.uploads import MULTIPART, media_type
from service.errors import ServiceError
from service.store.idempotency import StoredAnswer

logger = logging.getLogger("service.api")

MAX_KEY_CHARS = 255
# Headers of the first answer that a replay repeats (with its status and body, byte for byte).
KEPT_HEADERS = ("content-type", "location", "retry-after")
REPLAYED_HEADER = "Idempotent-Replayed"
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY_CHARS,
        description="Make retries safe: a request sent again with the same key (per tenant, for 24 h) "
        "and the same method, path, query and body gets the first answer again and creates nothing; "
        "the same key with another request is a 422 `/problems/idempotency-key-reused`, and while "
        "the first request is still running a retry is a 409 `/problems/idempotency-key-in-flight`.",
    ),
]


def request_fingerprint(request: Request, body: bytes) -> str:
    """sha256 of what makes two requests the same: method, path, query, media type and body.

    A multipart body is hashed without its boundary, which clients draw at random per request: a
    retry built afresh from the same file and fields has the same fingerprint.
    """
    digest = hashlib.sha256()
    kind = media_type(request)
    for part in (request.method, request.url.path, request.url.query, kind):
        digest.update(part.encode() + b"\n")
    found = _BOUNDARY.search(request.headers.get("content-type", ""))
    if kind == MULTIPART and found:
        _update_without(digest, body, found.group(1).encode("latin-1"))
    else:
        digest.update(body)
    return digest.hexdigest()


def _update_without(digest: hashlib._Hash, body: bytes, token: bytes) -> None:
    # Slices of a memoryview: a 200 MB upload is hashed without being copied.
    view, start = memoryview(body), 0
    while (found := body.find(token, start)) != -1:
        digest.update(view[start:found])
        start = found + len(token)
    digest.update(view[start:])


async def idempotent(
    request: Request,
    services: Services,
    tenant: str,
    key: str | None,
    body: bytes,
    answer: Callable[[], Awaitable[Response]],
) -> Response:
    """``answer()``, or with ``key`` the answer the first request with it got.

    Only a successful (2xx) answer is kept: a request that failed (a bad body, a full queue, a full
    disk) leaves no trace of its key, so that its retry runs again.
    """
    if key is None:
        return await answer()
    catalog = services.catalog
    fingerprint = await run_in_threadpool(request_fingerprint, request, body)
    stored = await run_in_threadpool(catalog.claim_idempotency_key, tenant, key, fingerprint)
    if stored is not None:
        logger.info("request %s: replayed the answer of its idempotency key", _request_id(request))
        return Response(stored.body, stored.status, headers={**stored.headers, REPLAYED_HEADER: "true"})
    try:
        response = await answer()
    except BaseException:
        # Called directly, not in a thread: it must run even when the request was cancelled.
        with suppress(ServiceError):
            catalog.release_idempotency_key(tenant, key)
        raise
    await run_in_threadpool(_keep, services, tenant, key, response)
    return response


def _keep(services: Services, tenant: str, key: str, response: Response) -> None:
    catalog = services.catalog
    try:
        if 200 <= response.status_code < 300:
            headers = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
            kept = StoredAnswer(response.status_code, headers, bytes(response.body))
            catalog.record_idempotent_answer(tenant, key, kept)
        else:
            catalog.release_idempotency_key(tenant, key)
    except ServiceError as error:
        # The request itself succeeded: answer it. Its key stays in flight (a retry is a 409, not a
        # second object) until a retry takes it over after IN_FLIGHT_TIMEOUT, or the next start-up.
        logger.warning("idempotency key not recorded: %s", error.type)


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))
