"""Where a fit job's time goes, timed inside a job process that the real WorkerPool forked.

The target wraps `process.run_job`: in its own throwaway process it swaps the fit kind's
`load_design` and `describe_model`, `fit_model` and `ModelStore.save` for timed versions, so the job
runs the real `execute` and reports each step's seconds with its result. A fresh job process pays
for things an in-process measurement does not (lazy imports, fresh memory), which is why the steps
are timed in one. The pool lives in a helper interpreter started with `-c`: a forkserver child
imports its parent's main module, and the benchmark's (httpx, the API's schemas) would add its own
import time and objects to every job measured.
"""

from __future__ import annotations

import asyncio
import functools
import json
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import service.modeling.fit
from service.jobs.pool import WorkerPool
from service.store import Catalog, JobRecord, JobStatus, ModelRecord, new_id, utc_now
from service.store.blobs import DatasetStore, ModelStore
from service.worker import design as worker_design
from service.worker import prepared, process
from service.worker.kinds import fit as fit_kind
from service.worker.kinds.fit import FitTask
from service.worker.tasks import FitResult

STEPS_KEY = "_bench_steps"
SECRET = b"bench-secret-bench-secret-000000"
REPO = Path(__file__).resolve().parent.parent


def _timing(call: Callable[..., Any], name: str, log: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(call)
    def timed_call(*args: Any, **kwargs: Any) -> Any:
        start = time.time()
        try:
            return call(*args, **kwargs)
        finally:
            log[name] = log.get(name, 0.0) + time.time() - start

    return timed_call


class _StampingConnection:
    """The job's pipe, adding the step times (and when it was sent) to the result's summary."""

    def __init__(self, conn: Connection, log: dict[str, float]) -> None:
        self._conn, self._log = conn, log

    def send(self, message: tuple[Any, ...]) -> None:
        if message[0] == "done":
            self._log["sent_at"] = time.time()
            message[1].summary[STEPS_KEY] = self._log
        self._conn.send(message)

    def close(self) -> None:
        self._conn.close()


def timed_fit_job(task: FitTask, conn: Connection, cancel: Event) -> None:
    """Process target: run_job with its steps timed (this process only; it exits after)."""
    log = {"entered_at": time.time()}
    # Each is swapped by its name in the module that calls it: prepare() calls load_design, which
    # calls the store's read and the other two; save_model calls describe_model.
    swaps = [
        (fit_kind, "describe_model", "describe_model"),
        (prepared, "load_design", "load_design"),
        (worker_design, "stored_dataset_from_bytes", "stored_dataset_from_bytes"),
        (worker_design, "build_any_design", "build_any_design"),
        (DatasetStore, "read", "read"),
    ]
    for owner, attribute, name in swaps:
        setattr(owner, attribute, _timing(getattr(owner, attribute), name, log))
    # execute imports fit_model from its module when it runs, so the module's name is the one to swap.
    service.modeling.fit.fit_model = _timing(service.modeling.fit.fit_model, "fit_model", log)  # type: ignore[assignment]
    ModelStore.save = _timing(ModelStore.save, "save", log)  # type: ignore[method-assign]
    process.run_job(task, _StampingConnection(conn, log), cancel)  # type: ignore[arg-type]


def time_job_steps(task: FitTask) -> tuple[dict[str, float], FitResult]:
    """Run ``task`` in a job process of a WorkerPool; seconds per step, and the result."""
    task = replace(task, artifact_secret=SECRET, model_id=new_id())
    pool = WorkerPool(1, cancel_grace_s=0.5, target=timed_fit_job)
    started = time.time()
    result = asyncio.run(pool.run(task, lambda fraction, stage: None))
    received = time.time()
    ModelStore(task.data_dir, secret=SECRET).delete(task.model_id)  # the catalog never knew it
    log = result.summary.pop(STEPS_KEY)
    steps = {
        "process start": log["entered_at"] - started,
        "read + parse + design": log["load_design"],
        "(read + sha256)": log["read"],
        "(parse)": log["stored_dataset_from_bytes"],
        "(design)": log["build_any_design"],
        "fit": log["fit_model"],
        "save + sign": log["save"],
        "describe": log["describe_model"],
        "result transport": received - log["sent_at"],
        "catalog write": time_catalog_write(task.data_dir.parent / "bench-catalogs", task.dataset_id, result),
    }
    return steps, result


def time_catalog_write(directory: Path, dataset_id: str, result: FitResult) -> float:
    """The manager's finish_job with the model row (its summary is the bulk), on a fresh catalog."""
    job_id = new_id()
    record = JobRecord(
        id=job_id, kind="fit", name=None, status=JobStatus.QUEUED, progress_fraction=0.0,
        progress_stage="queued", progress_message=None, created_at=utc_now(), started_at=None,
        finished_at=None, model_id=None, error=None, request={}, dataset_id=dataset_id,
    )  # fmt: skip
    model = ModelRecord(
        id=result.model_id, name=None, job_id=job_id, dataset_id=dataset_id, created_at=utc_now(),
        sha256=result.sha256, size_bytes=result.size_bytes, summary=result.summary,
    )  # fmt: skip
    with Catalog(directory / f"catalog-{job_id}.sqlite3") as catalog:
        catalog.insert_job(record)
        catalog.mark_running(job_id)
        start = time.perf_counter()
        catalog.finish_job(job_id, JobStatus.SUCCEEDED, model=model)
        return time.perf_counter() - start


def main() -> None:
    """Helper interpreter: pickled FitTasks on stdin; one JSON line per task (steps, result size)."""
    for task in pickle.load(sys.stdin.buffer):
        steps, result = time_job_steps(task)
        print(json.dumps({"steps": steps, "result_bytes": len(pickle.dumps(("done", result)))}), flush=True)


def profile_jobs(tasks: list[FitTask]) -> list[dict[str, Any]]:
    """Run ``tasks`` one after the other as timed jobs in a helper interpreter; their reports."""
    done = subprocess.run(
        [sys.executable, "-c", "from bench.job_steps import main; main()"],
        input=pickle.dumps(tasks),
        capture_output=True,
        cwd=REPO,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the job-steps helper failed:\n{done.stderr.decode(errors='replace')[-3000:]}")
    return [json.loads(line) for line in done.stdout.decode().splitlines()]
