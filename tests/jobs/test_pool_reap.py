"""A job that reported its result is done: its process is reaped in the background, or killed at shutdown."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from service.jobs.pool import WorkerPool
from tests.jobs.factories import submission
from tests.jobs.lingering import report_then_linger


@pytest.mark.parametrize("shutdown", [False, True], ids=["reaped", "killed-at-shutdown"])
def test_a_reported_job_returns_before_its_process_exits(tmp_path: Path, shutdown: bool) -> None:
    async def main() -> None:
        _, task = submission(tmp_path, "acme")
        pool = WorkerPool(1, cancel_grace_s=0.5, target=report_then_linger)
        result = await pool.run(task, lambda fraction, stage: None)
        assert result.summary == {"reported": True}
        # run() returned although the process lingers (for minutes): nothing waited for its exit.
        (process,) = pool._exiting
        assert process.is_alive() and pool.running_jobs == 0
        if shutdown:
            pool.kill_all()
        await asyncio.gather(*pool._reapers)
        # Reaped either way: killed by kill_all, or by the reaper once its grace to exit ran out.
        assert process.exitcode == -signal.SIGKILL and not pool._exiting and not pool._reapers

    asyncio.run(main())
