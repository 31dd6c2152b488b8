"""The load test's attackers: oversized bodies without a key and huge headers, beside the normal users.

They run in a process of their own, as they would on other machines, each on fresh connections:

- ``declared``: POST /v1/jobs without a key, Content-Length 247 MB, and the body sent before the
  answer is read (a client that does not wait for it); the server must answer 401 unread.
- ``chunked``: the same with a chunked body and no Content-Length: 401 from the headers alone.
- ``headers``: GET /healthz with one 60 MB header field; 431, or a closed connection.

Each attack sends at most ATTACK_BYTES (the server drops what follows a refusal for a while, then
closes), so the attackers' own traffic stays a small share of the machine that also runs the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from urllib.parse import urlsplit

from bench.load_clients import Recorder
from bench.load_report import ATTACK_ANSWERS, Sample

KINDS = tuple(ATTACK_ANSWERS)  # declared, chunked, headers
DECLARED_BYTES = 247 * 1024 * 1024
HEADER_BYTES = 60 * 1024 * 1024
ATTACK_BYTES = 32 * 1024 * 1024  # of a body: what each attack pushes before it reads the answer
PIECE = 1024 * 1024
PAUSE_S = 0.5  # between two attacks of one attacker
ANSWER_TIMEOUT_S = 30.0

Attack = tuple[str, float, float, int, str | None]  # kind, started, seconds to the answer, status, note


POST_JOBS = b"POST /v1/jobs HTTP/1.1\r\nHost: load\r\nContent-Type: application/json\r\n"


def _heads(kind: str) -> bytes:
    if kind == "declared":
        return POST_JOBS + b"Content-Length: %d\r\n\r\n" % DECLARED_BYTES
    if kind == "chunked":
        return POST_JOBS + b"Transfer-Encoding: chunked\r\n\r\n"
    return b"GET /healthz HTTP/1.1\r\nHost: load\r\nX-Fill: "


def _pieces(kind: str) -> list[bytes]:
    if kind == "declared":
        return [b"1" * PIECE] * (ATTACK_BYTES // PIECE)
    if kind == "chunked":
        return [b"%x\r\n" % PIECE + b"1" * PIECE + b"\r\n"] * (ATTACK_BYTES // PIECE)
    return [b"a" * PIECE] * (HEADER_BYTES // PIECE)


async def _status(reader: asyncio.StreamReader) -> int:
    """The answer's status code; 0 when the connection closed without one."""
    try:
        line = await asyncio.wait_for(reader.readline(), ANSWER_TIMEOUT_S)
    except (OSError, asyncio.IncompleteReadError):
        return 0
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


async def attack(host: str, port: int, kind: str) -> Attack:
    """One attack: everything is sent before the answer is read, as a careless or hostile client does."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(host, port)
    note = None
    try:
        writer.write(_heads(kind))
        for piece in _pieces(kind):
            writer.write(piece)
            await writer.drain()
    except OSError as error:
        note = f"sending stopped: {type(error).__name__}"  # the server closed: it took no more
    status = await _status(reader)
    elapsed = time.monotonic() - started
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return kind, started, elapsed, status, note


async def _attacker(host: str, port: int, kind: str, stop: EventType, out: list[Attack]) -> None:
    while not stop.is_set():
        try:
            out.append(await attack(host, port, kind))
        except OSError as error:
            out.append((kind, time.monotonic(), 0.0, 0, f"connect failed: {type(error).__name__}"))
        await asyncio.sleep(PAUSE_S)


async def _attack_until(base_url: str, attackers: int, stop: EventType) -> list[Attack]:
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    out: list[Attack] = []
    await asyncio.gather(*(_attacker(host, port, KINDS[i % len(KINDS)], stop, out) for i in range(attackers)))
    return out


def run_attackers(base_url: str, attackers: int, stop: EventType, conn: Connection) -> None:
    """The attackers' process: attack until told to stop, then send every attack back."""
    conn.send(asyncio.run(_attack_until(base_url, attackers, stop)))
    conn.close()


class AttackMix:
    """The attackers' process, started for the load phase; its attacks come back as samples."""

    def __init__(self, base_url: str, attackers: int, recorder: Recorder) -> None:
        self.recorder = recorder
        self.samples: list[Sample] = []
        self.attackers = attackers
        context = multiprocessing.get_context("spawn")  # no fork of a process running an event loop
        self._stop = context.Event()
        self._receiver, self._sender = context.Pipe(duplex=False)
        args = (base_url, attackers, self._stop, self._sender)
        self._process = context.Process(target=run_attackers, args=args, daemon=True)

    def __enter__(self) -> AttackMix:
        if self.attackers:
            self._process.start()
            self._sender.close()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self.attackers:
            return
        self._stop.set()
        attacks: list[Attack] = []
        with contextlib.suppress(EOFError, OSError):
            if self._receiver.poll(ANSWER_TIMEOUT_S + 30.0):
                attacks = self._receiver.recv()
        self._process.join(timeout=5.0)
        if self._process.is_alive():
            self._process.kill()
        for kind, started, elapsed, status, note in attacks:
            at_s, phase = started - self.recorder.t0, self.recorder.phase_at(started)
            self.samples.append(Sample(f"attack: {kind}", status, elapsed, at_s, phase, kind, note))
