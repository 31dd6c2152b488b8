"""Stand-in job processes for pool and manager tests: they report through the job's real pipe."""

from __future__ import annotations

import hashlib
import os
import signal
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event

import numpy as np

from service.errors import InsufficientStorageError
from service.store.blobs import ModelStore
from service.worker.kinds.fit import FitTask
from service.worker.tasks import FitResult

PROGRESS_MESSAGES = 10
# Multiplying word indices by an odd constant gives every 8-byte word of a payload its own value,
# so a lost, repeated or shifted chunk changes the digest; and it is fast, unlike random bytes.
_WORD_MIX = np.uint64(0x9E3779B97F4A7C15)


def payload(size: int, start: int = 0) -> bytes:
    """Bytes ``start`` to ``start + size`` (multiples of 8) of the payload stream."""
    words = np.arange(start // 8, (start + size) // 8, dtype=np.uint64)
    words *= _WORD_MIX
    return words.tobytes()


def payload_digest(size: int, chunk: int = 8 << 20) -> str:
    """The SHA-256 of ``payload(size)``, built a chunk at a time so the test holds no second copy."""
    digest = hashlib.sha256()
    for start in range(0, size, chunk):
        digest.update(payload(min(chunk, size - start), start))
    return digest.hexdigest()


def send_payload(size: int, task: FitTask, conn: Connection, cancel: Event) -> None:
    """Report progress, then a result whose summary holds ``size`` bytes, as a wide model's would."""
    for step in range(PROGRESS_MESSAGES):
        conn.send(("progress", step / PROGRESS_MESSAGES, "fitting"))
    data = payload(size)
    result = FitResult(task.model_id, hashlib.sha256(data).hexdigest(), size, {"payload": data})
    del data  # the result holds the one copy; pickling it for the pipe makes the second
    conn.send(("done", result))
    conn.close()


def saved_marker(task: FitTask) -> str:
    """The file a stand-in writes once its model is saved: proof that there was something to lose."""
    return str(task.data_dir / f"{task.model_id}.saved")


def save_model_then(ending: str, task: FitTask, conn: Connection, cancel: Event) -> None:
    """Save the job's model file as the worker does, then end without reporting it.

    ``killed``: SIGKILL (the OOM killer, an operator); ``exited``: exit code 0 with no message (what
    the lost wide results looked like); ``error``: a problem report, as a full disk after the save.
    """
    ModelStore(task.data_dir, secret=task.artifact_secret).save(task.model_id, {"coef": [1.0, 0.0]})
    with open(saved_marker(task), "w"):
        pass
    if ending == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    elif ending == "exited":
        os._exit(0)
    conn.send(("error", InsufficientStorageError("The disk filled up after the save.").to_problem()))
    conn.close()


def report_until_stopped(task: FitTask, conn: Connection, cancel: Event) -> None:
    """A slow job: it reports progress, then waits until told to stop (by the timeout's cancel event).

    Here, not in its test module: a job process imports its target's module, and the test module's
    imports (pytest, the API's schemas) took longer than the pool's reap on a loaded machine.
    """
    conn.send(("progress", 0.5, "fitting"))
    if cancel.wait(30):
        (task.data_dir / f"{task.job_id}.stopped").touch()  # proof it stopped by itself, not killed
    conn.close()
