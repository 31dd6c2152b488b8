"""A job's result crosses from its process to the manager intact at any size, on any event loop.

uvicorn runs uvloop, whose ``add_reader`` once put the result pipe in non-blocking mode: every
result larger than the pipe buffer was then read half-way and lost. TestClient runs the default
asyncio loop, so these tests run the real WorkerPool on both loops, with and without an
SSE-like follower streaming the job's events on the same loop while the result arrives.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import uvloop

from service.jobs.pool import WorkerPool
from service.worker.tasks import FitResult
from tests.jobs.factories import submission
from tests.jobs.targets import PROGRESS_MESSAGES, payload_digest, send_payload

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop,
    "asyncio": asyncio.new_event_loop,
}
SIZES = {"1KiB": 1 << 10, "1MiB": 1 << 20, "64MiB": 64 << 20, "200MiB": 200 << 20}
SLOW_FROM = 64 << 20
# Every size alone and followed on uvloop, the server's loop; on asyncio every size alone (the loop
# TestClient uses: correct there too). A 200 MiB case takes seconds, so the matrix stays this size.
CASES = [
    pytest.param(loop, size, followed, id=f"{loop}-{label}-{'followed' if followed else 'alone'}",
                 marks=[pytest.mark.slow] if size >= SLOW_FROM else [])
    for (label, size), loop, followed in itertools.product(SIZES.items(), LOOPS, (False, True))
    if loop == "uvloop" or not followed
]  # fmt: skip
KEEPALIVE_S = 0.002  # the follower writes this often while it waits: the loop is never idle
# A bound on a hung test, far above any real run. The thread method: pytest-timeout's signal method
# did not stop a test hung inside uvloop's run loop (seen while checking these tests on the old pool).
HANG_S = 120.0


async def follow(events: asyncio.Queue[float | None]) -> tuple[list[float], bytes]:
    """Stream every progress event as SSE text over a socket pair, keep-alives in between, to None.

    Returns the fractions streamed and what the peer end read: the loop's own transports were busy
    the whole time the result crossed the pipe.
    """
    ours, theirs = socket.socketpair()
    _, writer = await asyncio.open_connection(sock=ours)
    peer_reader, peer_writer = await asyncio.open_connection(sock=theirs)
    received = asyncio.create_task(peer_reader.read())
    fractions: list[float] = []
    try:
        while (event := await next_event(events, writer)) is not None:
            fractions.append(event)
            writer.write(f"event: progress\ndata: {event}\n\n".encode())
            await writer.drain()
    finally:
        writer.close()
        await writer.wait_closed()
        text = await received
        peer_writer.close()
        await peer_writer.wait_closed()
    return fractions, text


async def next_event(events: asyncio.Queue[float | None], writer: asyncio.StreamWriter) -> float | None:
    while True:
        try:
            return await asyncio.wait_for(events.get(), KEEPALIVE_S)
        except TimeoutError:
            writer.write(b": keep-alive\n\n")
            await writer.drain()


async def run_payload_job(
    tmp_path: Path, size: int, with_follower: bool
) -> tuple[FitResult, list[float], bytes | None]:
    _, task = submission(tmp_path, "acme")
    pool = WorkerPool(1, cancel_grace_s=0.5, target=functools.partial(send_payload, size))
    events: asyncio.Queue[float | None] = asyncio.Queue()
    follower = asyncio.create_task(follow(events)) if with_follower else None
    try:
        result = await pool.run(task, lambda fraction, stage: events.put_nowait(fraction))
    finally:
        events.put_nowait(None)  # the follower ends, whatever became of the job
        followed = None if follower is None else await follower
    if followed is None:
        fractions = list(iter(events.get_nowait, None))
        return result, fractions, None
    fractions, streamed = followed
    return result, fractions, streamed


@pytest.mark.timeout(HANG_S, method="thread")
@pytest.mark.parametrize(("loop", "size", "with_follower"), CASES)
def test_pool_delivers_result_of_any_size(tmp_path: Path, loop: str, size: int, with_follower: bool) -> None:
    async def main() -> tuple[FitResult, list[float], bytes | None]:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop) == (loop == "uvloop")
        return await run_payload_job(tmp_path, size, with_follower)

    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        result, fractions, streamed = runner.run(main())
    data = result.summary.pop("payload")
    assert len(data) == size
    assert hashlib.sha256(data).hexdigest() == result.sha256 == payload_digest(size)
    assert fractions == [step / PROGRESS_MESSAGES for step in range(PROGRESS_MESSAGES)]
    if streamed is not None:
        assert streamed.count(b"event: progress") == PROGRESS_MESSAGES
