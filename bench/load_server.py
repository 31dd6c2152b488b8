"""The server under test: `python -m service` on 127.0.0.1 with a temporary data dir, always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalServer:
    """`python -m service` on 127.0.0.1 in its own session, so that its worker processes stop with it."""

    data_dir: Path
    api_keys: str | None
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / "server.log"

    def start(self) -> None:
        # Only our settings: a SPARSEFIT_* variable of the caller's shell must not change the test.
        env = {name: value for name, value in os.environ.items() if not name.startswith("SPARSEFIT_")}
        env |= {
            "SPARSEFIT_DATA_DIR": str(self.data_dir),
            "SPARSEFIT_HOST": "127.0.0.1",
            "SPARSEFIT_PORT": str(self.port),
            "SPARSEFIT_WORKERS": str(self.workers),
        }
        if self.api_keys:
            env["SPARSEFIT_API_KEYS"] = self.api_keys
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"the server exited while starting:\n{self.log()[-4000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready in {READY_TIMEOUT_S:g} s:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole session when it does not exit in time; idempotent."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # stragglers of the session: forkserver, workers

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def local_server(api_keys: str | None, workers: int = 2) -> Iterator[LocalServer]:
    with tempfile.TemporaryDirectory(prefix="sparsefit-load-") as tmp:
        server = LocalServer(Path(tmp) / "data", api_keys, workers)
        try:
            server.start()
            yield server
        finally:
            server.stop()


def problem_lines(log: str, limit: int = 200) -> list[str]:
    """The server log's warnings, errors and tracebacks: the evidence when a goal is missed."""
    lines = log.splitlines()
    marked = [
        i for i, line in enumerate(lines) if any(k in line for k in (" ERROR ", " WARNING ", "Traceback"))
    ]
    keep = sorted({j for i in marked for j in range(i, min(i + 15, len(lines)))})
    return [lines[j] for j in keep][:limit]
