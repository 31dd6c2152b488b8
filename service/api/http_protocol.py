"""uvicorn's httptools protocol with limits on the request head and a lingering close after early answers."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from service.api.liveness import is_liveness_probe, liveness_answer, record_liveness_answer
from service.api.metrics import Metrics
from service.api.problems import PROBLEM_MEDIA_TYPE
from service.errors import HeadersTooLargeError, MalformedRequestError, ServiceError, UrlTooLongError

logger = logging.getLogger("service.api")

# After an answer sent while the client is still sending (a refused head or body), the connection
# reads and drops what arrives for up to this long and this many bytes, then closes. Closing a
# socket with unread bytes sends a reset, which can reach the client before it has read the answer:
# its 401 or 413 would read as "connection reset" (curl, requests). Dropping bytes costs no parsing.
LINGER_S = 2.0
LINGER_BYTES = 64 * 1024 * 1024
# Room for what a head holds besides its target and fields: the method, version and line ends.
HEAD_SLACK_BYTES = 1024


@dataclass(frozen=True)
class HeadLimits:
    """Bytes of one request's target (path and query) and of its header fields (names and values)."""

    url_bytes: int
    header_bytes: int


class _HeadRefused(Exception):
    """Raised from a parser callback: the head is over a limit and is parsed no further."""


def limited_http_protocol(limits: HeadLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for ``uvicorn.run(http=...)``, holding ``limits``."""

    class Protocol(LimitedHttpToolsProtocol):
        head_limits = limits

    return Protocol


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """Refuses a request line or header fields over the limits (414, 431) before they are parsed whole.

    httptools puts no bound on a head and joins a long header value chunk by chunk, in time quadratic
    in its length: one 60 MB header held the event loop for 31 s. The head's raw bytes are counted as
    they arrive; the parser never sees more than the limits and one read past them.
    """

    head_limits: ClassVar[HeadLimits] = HeadLimits(url_bytes=8 * 1024, header_bytes=64 * 1024)

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.in_head = True  # the next bytes are (or start) a request line and header fields
        self.head_bytes = 0
        self.url_bytes = 0
        self.header_bytes = 0
        self.message_open = False  # a request has begun and its last byte has not arrived
        self.lost = False
        self.linger_handle: asyncio.TimerHandle | None = None
        self.dropped_bytes = 0
        self.raw_transport: asyncio.Transport | None = None
        # A liveness probe answered here, not by the app: its end closes or re-arms keep-alive.
        self.probe_answered = False
        self.probe_keep_alive = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.raw_transport = transport
        super().connection_made(LingeringTransport(transport, self))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.linger_handle is not None:
            self.linger_handle.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.linger_handle is not None:
            self._drop(len(data))
            return
        self._unset_keepalive_if_required()
        if self.in_head:
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            # Also what a callback's _HeadRefused arrives as; refuse() answers only the first time.
            self.refuse(MalformedRequestError("The bytes received are not a valid HTTP/1.1 request."))
            return
        limits = self.head_limits
        if self.in_head and self.head_bytes > limits.url_bytes + limits.header_bytes + HEAD_SLACK_BYTES:
            # A header field still arriving: httptools calls on_header only once it is whole.
            self.refuse(self._headers_too_large())

    # Parser callbacks
    def on_message_begin(self) -> None:
        # A request pipelined behind a probe answered here arrives in the same read as the probe,
        # after the probe's end armed the keep-alive timeout: the connection is not idle any more.
        self._unset_keepalive_if_required()
        super().on_message_begin()
        self.message_open = True
        self.in_head = True
        self.url_bytes = self.header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self.url_bytes += len(url)
        if self.url_bytes > self.head_limits.url_bytes:
            limit = self.head_limits.url_bytes
            self.refuse(
                UrlTooLongError(f"The request target exceeds the limit of {limit} bytes.", limit=limit)
            )
            raise _HeadRefused  # stops the parser
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.header_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self.header_bytes > self.head_limits.header_bytes:
            self.refuse(self._headers_too_large())
            raise _HeadRefused  # stops the parser
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self.in_head = False
        if self._answer_liveness_probe():
            return
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self.probe_answered:
            self.probe_answered = False
        else:
            super().on_message_complete()
        self.message_open = False
        self.in_head = True
        self.head_bytes = 0
        if self.probe_keep_alive:
            return
        self.transport.close()

    def _answer_liveness_probe(self) -> bool:
        """Answer ``GET /healthz`` here, in the callback that parsed it: through the app, its answer
        waited for a task of its own, behind every request the loop had queued (100-250 ms under
        `make load`). Only when no earlier request of the connection is still being answered."""
        if self.cycle is not None and not self.cycle.response_complete:
            return False
        if self.parser.should_upgrade():  # an upgrade is uvicorn's to refuse or accept
            return False
        if not is_liveness_probe(self.parser.get_method(), self.url, self.headers):
            return False
        started = time.perf_counter()
        keep_alive = self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        response, request_id = liveness_answer(self.headers, self.server_state.default_headers, keep_alive)
        self.transport.write(response)
        self.probe_answered, self.probe_keep_alive = True, keep_alive
        record_liveness_answer(self.app_state.get("metrics"), started, request_id)
        if keep_alive:
            self.on_response_complete()  # counts it, and re-arms keep-alive as after any answer
        return True

    def send_400_response(self, msg: str) -> None:
        # uvicorn's own 400 is plain text; every error of the service is a problem.
        self.refuse(MalformedRequestError(msg))

    def _headers_too_large(self) -> HeadersTooLargeError:
        limit = self.head_limits.header_bytes
        return HeadersTooLargeError(
            f"The request header fields exceed the limit of {limit} bytes.", limit=limit
        )

    def refuse(self, error: ServiceError) -> None:
        """Answer ``error`` as a problem and close: what the client still sends is read and dropped."""
        if self.linger_handle is not None or self.transport.is_closing():
            return
        client = "{}:{}".format(*self.client) if self.client else "-"
        logger.warning("%s refused with %d: %s", client, int(error.status), error.detail)
        metrics = self.app_state.get("metrics")
        if isinstance(metrics, Metrics):  # absent before the lifespan has run
            metrics.observe_refused_head(int(error.status))
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request behind one still being answered: an answer would interleave with
            # that one's, so the connection is closed without one.
            if self.raw_transport is not None:
                self.raw_transport.close()
            return
        self.transport.write(problem_bytes(error, self.server_state.default_headers))
        self.message_open = True  # the refused request's bytes may still be coming
        self.transport.close()

    def linger(self) -> None:
        """Close after the answer while still reading, so that the client is not sent a reset."""
        transport = self.raw_transport
        if self.linger_handle is not None or transport is None or transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()  # the answer, then FIN: the client sees it is all there is
        self.flow.resume_reading()
        self.linger_handle = self.loop.call_later(LINGER_S, transport.close)

    def _drop(self, size: int) -> None:
        self.dropped_bytes += size
        if self.dropped_bytes > LINGER_BYTES and self.raw_transport is not None:
            self.raw_transport.close()

    def client_sending(self) -> bool:
        """Whether a request's bytes may still arrive: its end has not been parsed."""
        return self.message_open and not self.lost


def problem_bytes(error: ServiceError, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole HTTP/1.1 response carrying ``error`` as application/problem+json, closing the connection."""
    body = json.dumps(error.to_problem(), separators=(",", ":")).encode()
    lines = [STATUS_LINE[int(error.status)]]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [
        b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n",
        b"content-length: " + str(len(body)).encode() + b"\r\n",
        b"connection: close\r\n\r\n",
        body,
    ]
    return b"".join(lines)


class LingeringTransport(asyncio.Transport):
    """The connection's transport as uvicorn sees it: close() lingers while the client is still sending."""

    def __init__(self, transport: asyncio.Transport, protocol: LimitedHttpToolsProtocol) -> None:
        super().__init__()
        self._transport = transport
        self._protocol = protocol

    def close(self) -> None:
        if self._protocol.client_sending() and not self._transport.is_closing():
            self._protocol.linger()
        else:
            self._transport.close()

    def is_closing(self) -> bool:
        return self._protocol.linger_handle is not None or self._transport.is_closing()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._transport.write(data)

    def write_eof(self) -> None:
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def abort(self) -> None:
        self._transport.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)
