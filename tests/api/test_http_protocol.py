"""The HTTP protocol: request-head limits (414, 431) and the lingering close, fed bytes by hand."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from service.api import http_protocol
from service.api.http_protocol import HeadLimits, LimitedHttpToolsProtocol, limited_http_protocol
from service.api.liveness import LIVENESS_BODY

LIMITS = HeadLimits(url_bytes=8 * 1024, header_bytes=64 * 1024)
CHUNK = 64 * 1024


class FakeTransport(asyncio.Transport):
    """Records what the protocol writes and whether it half-closed or closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False
        self.eof = False

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def write_eof(self) -> None:
        self.eof = True

    def can_write_eof(self) -> bool:
        return True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 8000)}.get(name, default)


class CountingParser:
    """Passes bytes to httptools' parser and counts them: what the limits are meant to bound."""

    def __init__(self, parser: Any) -> None:
        self.parser = parser
        self.fed = 0

    def feed_data(self, data: bytes) -> None:
        self.fed += len(data)
        self.parser.feed_data(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.parser, name)


async def app(scope: Any, receive: Any, send: Any) -> None:
    """/refuse answers 413 without reading the body; anything else answers 200 after reading it."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/refuse":
        headers = [(b"content-length", b"0"), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
    else:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


def connect(
    loop: asyncio.AbstractEventLoop,
) -> tuple[LimitedHttpToolsProtocol, FakeTransport, CountingParser]:
    config = Config(app=app, lifespan="off", log_config=None)
    protocol = limited_http_protocol(LIMITS)(config, ServerState(), {}, _loop=loop)
    transport = FakeTransport()
    protocol.connection_made(transport)
    parser = protocol.parser = CountingParser(protocol.parser)  # type: ignore[assignment]
    return protocol, transport, parser


def answer(transport: FakeTransport) -> tuple[int, dict[str, str], bytes]:
    head, _, body = bytes(transport.written).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def settle(loop: asyncio.AbstractEventLoop, transport: FakeTransport) -> None:
    """Run the loop until the app has answered."""

    async def answered() -> None:
        for _ in range(200):
            if b"\r\n\r\n" in transport.written:
                return
            await asyncio.sleep(0.01)

    loop.run_until_complete(answered())


def test_protocol_refuses_a_60_mb_header_after_the_limit_and_drops_the_rest(
    loop: asyncio.AbstractEventLoop,
) -> None:
    protocol, transport, parser = connect(loop)
    protocol.data_received(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
    for _ in range(60 * 1024 * 1024 // CHUNK):
        protocol.data_received(b"a" * CHUNK)
    status, headers, body = answer(transport)
    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    problem = json.loads(body)
    assert problem["type"] == "/problems/headers-too-large" and problem["limit"] == LIMITS.header_bytes
    # httptools saw the limits and one read past them, not 60 MB.
    assert parser.fed <= LIMITS.url_bytes + LIMITS.header_bytes + 2 * CHUNK
    # The answer, then FIN; the bytes still coming are read and dropped instead of reset.
    assert transport.eof and not transport.closed
    assert protocol.dropped_bytes > 59 * 1024 * 1024
    protocol.connection_lost(None)


def test_protocol_refuses_many_small_headers_over_the_limit(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport, _ = connect(loop)
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 1000) for i in range(80))  # 80 KB in all
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    status, _, body = answer(transport)
    assert status == 431 and json.loads(body)["status"] == 431
    protocol.connection_lost(None)


def test_protocol_refuses_a_long_query_string_with_414(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport, _ = connect(loop)
    protocol.data_received(b"GET /healthz?q=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = answer(transport)
    assert status == 414
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["type"] == "/problems/url-too-long"
    protocol.connection_lost(None)


def test_protocol_answers_malformed_bytes_with_a_400_problem(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport, _ = connect(loop)
    protocol.data_received(b"\x00\x01 not http\r\n\r\n")
    status, headers, body = answer(transport)
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["type"] == "/problems/malformed-request"
    protocol.connection_lost(None)


def test_protocol_serves_a_head_within_the_limits(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport, _ = connect(loop)
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 1000) for i in range(60))  # 60 KB in all
    url = b"/ok?q=" + b"a" * 8000
    protocol.data_received(
        b"GET " + url + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + fields + b"\r\n"
    )
    settle(loop, transport)
    assert answer(transport)[0] == 200
    assert transport.closed and not transport.eof  # the request was whole: an ordinary close


def test_protocol_lingers_after_an_answer_sent_before_the_body(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_protocol, "LINGER_BYTES", 1024 * 1024)
    protocol, transport, parser = connect(loop)
    head = b"POST /refuse HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n"
    protocol.data_received(head + b"x" * CHUNK)
    settle(loop, transport)
    assert answer(transport)[0] == 413
    # The client is still sending: closing now would reset the connection under its answer.
    assert transport.eof and not transport.closed
    fed = parser.fed
    for _ in range(8):
        protocol.data_received(b"x" * CHUNK)
    assert parser.fed == fed  # dropped, never parsed
    assert not transport.closed
    for _ in range(16):
        protocol.data_received(b"x" * CHUNK)
    assert transport.closed  # LINGER_BYTES dropped: enough
    protocol.connection_lost(None)


# --- GET /healthz answered by the protocol -------------------------------------------------------

PROBE = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def test_a_liveness_probe_is_answered_as_it_is_parsed_without_the_app(
    loop: asyncio.AbstractEventLoop,
) -> None:
    protocol, transport, _ = connect(loop)
    protocol.data_received(PROBE)
    # No loop turn: the answer is written by the callback that parsed the request.
    status, headers, body = answer(transport)
    assert status == 200 and body == LIVENESS_BODY and headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(LIVENESS_BODY)) and "connection" not in headers
    assert len(headers["x-request-id"]) == 32 and not protocol.tasks  # no app task was started
    assert not transport.closed and protocol.timeout_keep_alive_task is not None  # kept alive, idle
    protocol.connection_lost(None)


def test_the_probe_answer_is_the_routes_answer_byte_for_byte(tmp_path: Any) -> None:
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.config import Settings

    with TestClient(create_app(Settings(data_dir=tmp_path))) as client:
        routed = client.get("/healthz")
    assert routed.content == LIVENESS_BODY and routed.headers["content-type"] == "application/json"


def test_a_probe_keeps_the_clients_request_id_and_closes_when_asked(loop: asyncio.AbstractEventLoop) -> None:
    protocol, transport, _ = connect(loop)
    protocol.data_received(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: probe-7\r\nConnection: close\r\n\r\n"
    )
    status, headers, _ = answer(transport)
    assert status == 200 and headers["x-request-id"] == "probe-7" and headers["connection"] == "close"
    assert transport.closed
    protocol, transport, _ = connect(loop)
    protocol.data_received(b"GET /healthz HTTP/1.0\r\n\r\n")
    assert answer(transport)[0] == 200 and transport.closed  # HTTP/1.0: one answer per connection


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
        b"GET /healthzz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
    ],
)
def test_anything_but_a_plain_probe_goes_to_the_app(loop: asyncio.AbstractEventLoop, head: bytes) -> None:
    protocol, transport, _ = connect(loop)
    protocol.data_received(head)
    assert not transport.written  # not answered by the protocol
    settle(loop, transport)
    status, headers, body = answer(transport)
    assert status == 200 and headers["content-length"] == "0" and body == b""  # the test app's answer
    protocol.connection_lost(None)


def test_pipelined_requests_are_answered_in_order_around_a_probe(loop: asyncio.AbstractEventLoop) -> None:
    # A probe behind a request still being answered waits its turn through the app.
    protocol, transport, _ = connect(loop)
    protocol.data_received(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n" + PROBE)
    assert not transport.written
    settle(loop, transport)
    loop.run_until_complete(asyncio.sleep(0.05))
    assert bytes(transport.written).count(b"HTTP/1.1 200") == 2 and LIVENESS_BODY not in transport.written
    protocol.connection_lost(None)
    # A request behind a probe answered here starts once the probe's answer is written.
    protocol, transport, _ = connect(loop)
    protocol.data_received(PROBE + b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n")
    assert bytes(transport.written).endswith(LIVENESS_BODY)
    assert protocol.timeout_keep_alive_task is None  # not idle: the second request is in flight
    settle(loop, transport)
    loop.run_until_complete(asyncio.sleep(0.05))
    written = bytes(transport.written)
    assert written.count(b"HTTP/1.1 200") == 2 and written.index(LIVENESS_BODY) < written.rindex(
        b"HTTP/1.1 200"
    )
    protocol.connection_lost(None)
