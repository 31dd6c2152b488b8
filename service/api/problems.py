"""Every error leaves as RFC 9457 application/problem+json; routes declare the problems they send."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from service.errors import InsufficientStorageError, ServiceError, StoreUnavailableError

logger = logging.getLogger("service.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Headers a problem keeps from the exception that caused it.
KEPT_HEADERS = ("allow", "retry-after", "www-authenticate")
# Not an HTTP status the stdlib knows: the status nginx logs for a client that left mid-request.
CLIENT_CLOSED_REQUEST = 499
# The methods a 405's Allow header may name.
ALLOW_CANDIDATES = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

# Starlette's own HTTP errors (unknown path, wrong method, ...) mapped onto stable problem types.
HTTP_PROBLEM_TYPES = {
    404: "/problems/not-found",
    405: "/problems/method-not-allowed",
    413: "/problems/payload-too-large",
    415: "/problems/unsupported-media-type",
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None) -> ProblemResponse:
    kept = {k: v for k, v in (headers or {}).items() if k.lower() in KEPT_HEADERS}
    return ProblemResponse(problem, status_code=int(problem["status"]), headers=kept)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for the problems a route can answer.

    422 is always listed: every route validates something, and listing it here replaces FastAPI's
    default 422 entry, which would claim a plain-JSON `HTTPValidationError` body we never send.
    """
    return {status: _problem_entry(status) for status in sorted({*statuses, 422})}


def _problem_entry(status: int) -> dict[str, Any]:
    # The schema is referenced, not given as `model`: a model would add an application/json entry too.
    return {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


# Any route can fail unexpectedly; the app lists this once for all of them.
INTERNAL_ERROR_RESPONSE: dict[int | str, dict[str, Any]] = {500: _problem_entry(500)}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Only where and what: the offending input is never echoed back.
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]


async def _service_error(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, ServiceError)
    if isinstance(exc, InsufficientStorageError | StoreUnavailableError):
        # The machine's condition (disk full, store read-only), not a failure of this request.
        logger.warning("request %s: %s", _request_id(request), exc.type)
    elif exc.status >= 500 and exc.status != HTTPStatus.SERVICE_UNAVAILABLE:  # 503: back-pressure
        logger.error("request %s: %s %s", _request_id(request), exc.type, exc.detail)
    return problem_response(exc.to_problem(), exc.headers)


async def _request_validation(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"][1:]) or "body"
    problem = {
        "type": "/problems/validation",
        "title": "Invalid request",
        "status": 422,
        "detail": f"{where}: {first['msg']}",
        "errors": errors,
    }
    return problem_response(problem)


async def _http_exception(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    # FastAPI turns any error raised while it reads a JSON body into a 400 caused by that error: the
    # body limit's 413 and a client that went away keep their own answers.
    if exc.status_code == 400 and isinstance(exc.__cause__, ServiceError):
        return await _service_error(request, exc.__cause__)
    if exc.status_code == 400 and isinstance(exc.__cause__, ClientDisconnect):
        return await _client_disconnect(request, exc.__cause__)
    if exc.status_code == 400 and exc.__cause__ is not None:
        # FastAPI answers malformed JSON with a 422 `json_invalid`, but a body its parser fails on in
        # another way (bytes that are not UTF-8, nesting too deep) with a bare 400 caused by the parser's
        # error. Both are a body that is not usable JSON, so both get the validation problem.
        error = {"loc": ("body",), "msg": "the body is not parseable JSON", "type": "json_invalid"}
        return await _request_validation(request, RequestValidationError([error]))
    status = HTTPStatus(exc.status_code)
    problem = {
        "type": HTTP_PROBLEM_TYPES.get(exc.status_code, f"/problems/http-{exc.status_code}"),
        "title": status.phrase,
        "status": exc.status_code,
        "detail": exc.detail if isinstance(exc.detail, str) else status.description,
    }
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (allowed := _allowed_methods(request)):
        headers["Allow"] = allowed
    return problem_response(problem, headers)


def _allowed_methods(request: Request) -> str:
    """Every method the path answers to, asked of each route the way the router itself asks.

    Starlette's 405 names only the methods of the first route whose path matched; a path served by
    two routes (GET and POST /v1/datasets) would advertise half of what it allows.
    """
    routes = request.app.router.routes
    allowed = [
        method
        for method in ALLOW_CANDIDATES
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]
    return ", ".join(allowed)


async def _client_disconnect(request: Request, exc: Exception) -> ProblemResponse:
    """A client that closed its connection before its body was read whole: its error, not ours.

    Counted as 499 (nginx's "client closed request") and logged in one line; as a 500 it set off
    alerts and left two tracebacks per dropped upload. Nobody reads this answer.
    """
    logger.info("request %s: the client disconnected before its body was read", _request_id(request))
    problem = {
        "type": "/problems/client-closed-request",
        "title": "Client closed request",
        "status": CLIENT_CLOSED_REQUEST,
        "detail": "The client closed the connection before the request body was read whole.",
    }
    return problem_response(problem)


async def _unexpected(request: Request, exc: Exception) -> ProblemResponse:
    request_id = _request_id(request)
    logger.exception("request %s failed", request_id, exc_info=exc)
    problem = {
        "type": "/problems/internal",
        "title": "Internal error",
        "status": 500,
        "detail": "The server failed to handle this request; the error was logged.",
        "request_id": request_id,
    }
    return problem_response(problem)


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
    app.add_exception_handler(Exception, _unexpected)
