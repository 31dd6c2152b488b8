"""A job process imports nothing the forkserver did not preload: every job is a fresh fork, so a
lazy import on a job's path is paid by every job (pyarrow.dataset alone cost each read 200-500 ms)."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.job_specs import design_spec, fit_spec
from service.api.schemas import JobCreate
from service.jobs.pool import FORKSERVER_PRELOAD
from service.store import new_id
from service.worker.kinds.fit import FitTask
from tests.conftest import upload

# Run in a fresh interpreter: import what the pool's forkserver preloads (in its order), unpickle
# the tasks, then run each job's whole execute() and print the modules that appeared on the way.
JOB_PROCESS = """
import importlib, os, pickle, sys
for name in sys.argv[2].split(","):
    importlib.import_module(name)
from service.worker.process import Checkpoint
from service.worker.kinds.fit import execute
tasks = pickle.loads(open(sys.argv[1], "rb").read())

class Pipe:
    def send(self, message): pass

class NeverCanceled:
    def is_set(self): return False

before = set(sys.modules)
for task in tasks:
    execute(task, Checkpoint(Pipe(), NeverCanceled(), os.getpid()))
print(sorted(set(sys.modules) - before))
"""

SVMLIGHT = b"".join(f"{i % 7 - 3} 1:{i} 3:{i % 5} 40:{(i * 7) % 11}\n".encode() for i in range(60))


def task_for(client: TestClient, dataset: dict[str, object], data_dir: Path) -> FitTask:
    job = JobCreate.model_validate({"dataset_id": dataset["id"], "target": "y", "cv": {"folds": 3}})
    return FitTask(
        job_id=new_id(),
        model_id=new_id(),
        data_dir=data_dir,
        dataset_id=str(dataset["id"]),
        dataset_sha256=str(dataset["sha256"]),
        design=design_spec(job),
        fit=fit_spec(job),
        penalty="lasso",
        artifact_secret=b"s" * 32,
    )


@pytest.mark.slow
def test_worker_preload_covers_what_a_job_imports(
    client: TestClient, diabetes_csv: bytes, tmp_path: Path
) -> None:
    data_dir = client.app.state.settings.data_dir  # type: ignore[attr-defined]
    dense = upload(client, diabetes_csv)
    response = client.post("/v1/datasets", content=SVMLIGHT, headers={"Content-Type": "text/x-svmlight"})
    assert response.status_code == 201, response.text
    tasks = [task_for(client, dense, data_dir), task_for(client, response.json(), data_dir)]
    tasks_file = tmp_path / "tasks.pickle"
    tasks_file.write_bytes(pickle.dumps(tasks))
    result = subprocess.run(
        [sys.executable, "-c", JOB_PROCESS, str(tasks_file), ",".join(FORKSERVER_PRELOAD)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert all((data_dir / "models" / f"{task.model_id}.joblib").exists() for task in tasks)
