"""A job the service gave up on ends quietly: one log line for its timeout, no BrokenPipe traceback."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from service.jobs.manager import JobManager
from service.jobs.pool import WorkerPool
from service.store.catalog import Catalog
from service.worker.kinds.fit import FitTask
from tests.e2e.conftest import REPO
from tests.jobs.factories import submission
from tests.jobs.targets import report_until_stopped

# run_job in a process whose pipe to the web process is closed, as after a timeout that closed
# its end: the first progress report finds nobody listening.
_CLOSED_PIPE = """
import multiprocessing, sys
from multiprocessing import Event
from pathlib import Path
sys.path.insert(0, {repo!r})
from tests.jobs.factories import submission
from tests.jobs.targets import report_until_stopped
from service.worker.process import run_job
receiver, sender = multiprocessing.Pipe(duplex=False)
receiver.close()
_, task = submission(Path({tmp!r}), "default")
run_job(task, sender, Event())
print("run_job returned")
"""


def test_a_worker_whose_reader_left_exits_without_a_traceback(tmp_path: Path) -> None:
    script = _CLOSED_PIPE.format(repo=str(REPO), tmp=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    # Before: BrokenPipeError in the progress report, then again in the report of that failure.
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert "run_job returned" not in done.stdout  # it ended at once, reporting nothing more
    assert done.returncode == 1


@pytest.mark.slow
def test_a_timed_out_job_logs_one_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    pool = WorkerPool(1, cancel_grace_s=0.1, target=report_until_stopped)
    job, task = submission(tmp_path, "default")
    task = FitTask(**{**task.__dict__, "timeout_s": 0.3})

    async def scenario() -> None:
        manager = JobManager(catalog, pool, max_queued=10)
        await manager.start()
        try:
            await manager.submit(job, task)
            record = await manager.wait(job.id, "default", 60)
            assert record.status == "failed" and record.error is not None
            assert record.error["type"] == "/problems/job-timeout"
        finally:
            await manager.stop()

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    catalog.close()
    events = [(r, getattr(r, "event", "")) for r in caplog.records]
    ended = [
        r for r, event in events if event.startswith("job_") and event not in ("job_queued", "job_started")
    ]
    assert len(ended) == 1, [r.getMessage() for r in caplog.records]
    assert job.id in ended[0].getMessage() and getattr(ended[0], "problem", None) == "/problems/job-timeout"
    assert isinstance(getattr(ended[0], "duration_ms", None), float)
    assert not [r for r in caplog.records if r.exc_info], "no traceback"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    # Told to stop, the job ended at its next report rather than being killed by the reap.
    assert (tmp_path / f"{job.id}.stopped").exists(), "the timed-out job was killed, not told to stop"
