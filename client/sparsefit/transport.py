"""Http: the one httpx.Client of a Sparsefit client, turning every refusal into a SparsefitError."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from sparsefit.errors import NOT_A_PROBLEM, SparsefitError
from sparsefit.version import __version__

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 60.0
# How long a held request (?wait=, an event stream between two keep-alives, sent every 15 s) may be
# silent before the client calls the connection dead.
STREAM_READ_TIMEOUT_S = 75.0


def resolve_url(url: str | None) -> str:
    return (url or os.environ.get("SPARSEFIT_URL") or DEFAULT_URL).rstrip("/")


def resolve_key(api_key: str | None) -> str | None:
    return api_key if api_key is not None else os.environ.get("SPARSEFIT_API_KEY") or None


class Http:
    """Requests to one service, with its key; answers of 400 and more raise SparsefitError."""

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = resolve_url(url)
        headers = {"User-Agent": f"sparsefit-client/{__version__}", "Accept": "application/json"}
        key = resolve_key(api_key)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.timeout = timeout
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise SparsefitError.transport(error, self.url + path) from error
        raise_for_problem(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    @contextmanager
    def stream(self, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A GET whose body is read as it comes (Server-Sent Events); errors raised as in request()."""
        timeout = httpx.Timeout(self.timeout, read=STREAM_READ_TIMEOUT_S)
        try:
            with self._client.stream("GET", path, timeout=timeout, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    raise_for_problem(response)
                yield response
        except httpx.HTTPError as error:
            raise SparsefitError.transport(error, self.url + path) from error


def raise_for_problem(response: httpx.Response) -> None:
    """SparsefitError with the answer's problem document when the status is 400 or more."""
    if response.status_code < 400:
        return
    raise SparsefitError(_problem_of(response), status=response.status_code)


def _problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        document = None
    if isinstance(document, dict) and "title" in document:
        return document
    # Not a problem document (a proxy's HTML page, say): the status line and the start of the body.
    return {
        "type": NOT_A_PROBLEM,
        "title": response.reason_phrase or "HTTP error",
        "status": response.status_code,
        "detail": response.text[:500],
    }
