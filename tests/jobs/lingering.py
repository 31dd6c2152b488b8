"""A stand-in job process that reports its result and then takes its time to exit (pool reap tests)."""

from __future__ import annotations

import time
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

from service.worker.kinds.fit import FitTask
from service.worker.tasks import FitResult

LINGER_S = 120.0


def report_then_linger(task: FitTask, conn: Connection, cancel: Event) -> None:
    """Send a small result, then stay alive (as a wide fit's process freeing its memory does, longer)."""
    conn.send(("done", FitResult(task.model_id, "0" * 64, 0, {"reported": True})))
    conn.close()
    time.sleep(LINGER_S)
