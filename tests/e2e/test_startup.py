"""A real `python -m service` answers /healthz before /readyz turns 200, and logs its start-up steps."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server

pytestmark = [pytest.mark.e2e]

# The start-up lines, in the order they must appear (service.__main__, service.app, service.api.startup).
STEPS = (
    "sparsefit starting: importing the application",
    "loading the catalog and the stores in",
    "starting 2 worker(s) (preloading numpy, pyarrow and the numba kernels)",
    "Uvicorn running on",
    "ready in",
)


@pytest.fixture
def unready_server(tmp_path: Path) -> Iterator[Server]:
    """A server started without waiting for /readyz, so that the test sees it come up."""
    instance = Server(tmp_path / "data")
    instance.wait_ready = lambda timeout=60.0: None  # type: ignore[method-assign]
    try:
        instance.start()
        yield instance
    finally:
        instance.cleanup()


def _status(url: str) -> tuple[int, dict[str, object]] | None:
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.TransportError:
        return None  # not bound yet
    return response.status_code, response.json()


def test_healthz_answers_before_readyz_and_the_log_says_what_start_up_does(unready_server: Server) -> None:
    events: list[tuple[str, int, dict[str, object]]] = []
    deadline = time.monotonic() + 120
    while not any(path == "/readyz" and status == 200 for path, status, _ in events):
        assert time.monotonic() < deadline, (events[-3:], unready_server.log())
        assert unready_server.process is not None and unready_server.process.poll() is None, (
            unready_server.log()
        )
        for path in ("/healthz", "/readyz"):
            answer = _status(unready_server.base + path)
            if answer is not None:
                events.append((path, *answer))
        time.sleep(0.02)
    first_health = next(
        i for i, (path, status, _) in enumerate(events) if path == "/healthz" and status == 200
    )
    first_ready = next(i for i, (path, status, _) in enumerate(events) if path == "/readyz" and status == 200)
    assert first_health < first_ready
    # Between the two, /readyz said why it was not ready: the workers were starting, the rest was up.
    waiting = [body for path, status, body in events[first_health:first_ready] if path == "/readyz"]
    assert waiting, events
    for body in waiting:
        assert body["type"] == "/problems/not-ready", body
        checks = body["checks"]
        assert isinstance(checks, dict) and str(checks["workers"]).startswith("starting"), body
        assert checks["store"] == "ok", body
    # Every step was logged, in order, and the last one says how long the start took. The web
    # process writes its lines from a thread of its own: the last may land just after /readyz.
    log_deadline = time.monotonic() + 10.0
    while STEPS[-1] not in (log := unready_server.log()) and time.monotonic() < log_deadline:
        time.sleep(0.05)
    positions = [log.find(step) for step in STEPS]
    assert all(position >= 0 for position in positions), (positions, log)
    assert positions == sorted(positions), (positions, log)
    assert re.search(r"sparsefit \S+ ready in \d+\.\d s: data in ", log), log
