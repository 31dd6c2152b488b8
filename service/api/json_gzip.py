"""gzip-compressed JSON request bodies (``Content-Encoding: gzip``), inflated for FastAPI as they arrive."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import Message, Receive, Scope

from service.api.gzip_body import GzipStream, content_coding
from service.errors import InvalidDatasetError, ValidationError


def inflates_json(scope: Scope, headers: Headers, *, handled_by_route: bool) -> bool:
    """Whether the gate should inflate this body: gzip-coded and not one the route inflates itself.

    Uploads and prediction bodies read their gzip in the route (service.api.uploads.read_body);
    every other body is JSON that FastAPI parses straight from ``receive``, so it is inflated here.
    A coding other than gzip raises the 415 problem.
    """
    if handled_by_route or scope["type"] != "http":
        return False
    return content_coding(headers.get("content-encoding")) == "gzip"


def strip_coding(scope: Scope) -> None:
    """The route sees the inflated body: no Content-Encoding, and no Content-Length of the gzip bytes."""
    headers = MutableHeaders(scope=scope)
    del headers["content-encoding"]
    del headers["content-length"]


class InflatingReceive:
    """``receive`` that hands on the inflated body; more than ``limit`` inflated bytes is a 413.

    The JSON limit bounds the inflated size, as an upload's limit does (a gzip bomb stops at the
    limit); the gate's meter still bounds the compressed bytes read.
    """

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self._stream = GzipStream(limit, what="request body")

    async def __call__(self) -> Message:
        while True:
            message = await self._receive()
            if message["type"] != "http.request":
                return message
            more = bool(message.get("more_body", False))
            try:
                pieces = self._stream.feed(message.get("body", b""))
                if not more:
                    self._stream.finish()
            except InvalidDatasetError as error:
                # Not a dataset: the body the JSON fields were to come from is not valid gzip.
                raise ValidationError(error.detail, errors=[{"loc": ["body"], "msg": error.detail}]) from None
            if pieces or not more:
                return {"type": "http.request", "body": b"".join(pieces), "more_body": more}
