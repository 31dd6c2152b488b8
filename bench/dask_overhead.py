"""The Dask executor's overhead against the local pool, on a ~50 ms fit and a ~1 s fit (issue 14).

Starts two real servers (`python -m service`) on 127.0.0.1 over the same tables: one with the local
pool, one with SPARSEFIT_EXECUTOR=dask against a LocalCluster (2 worker processes, one thread each)
started here, or the scheduler given with --scheduler. Each case runs once to warm up, then
--reps times one job at a time; the table shows medians of

- ``wall``: POST /v1/jobs until GET ?wait= answers the final status (what a client sees);
- ``run``: the job record's started_at -> finished_at (the executor's share, without the queue).

On the Dask executor a job's CV folds fan out as one Dask task each (worker/dask_fanout.py); the
local pool forks SPARSEFIT_CV_PROCESSES fold processes for a design above 1,000,000 entries. Run
with --cv-processes 1 to compare against the local pool's serial folds, with the default 2 to
compare parallel against parallel. bench/dask_cv_speedup.py measures the 1 -> 2 worker speedup.

Usage: .venv/bin/python bench/dask_overhead.py [--reps 5] [--cv-processes 2] [--scheduler tcp://host:8786]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
# diabetes without CV: a ~50 ms fit. A 4,000 x 500 table with 5-fold CV: about a second.
CASES: dict[str, dict[str, Any]] = {
    "diabetes, cv null (~50 ms)": {"table": "diabetes", "body": {"target": "y", "cv": None}},
    "4000 x 500, 5-fold CV (~1 s)": {"table": "wide", "body": {"target": "y", "cv": {"folds": 5}}},
}


def wide_csv(n_rows: int = 4000, n_features: int = 500, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n_rows, n_features))
    y = x[:, :20] @ rng.uniform(-2, 2, 20) + rng.standard_normal(n_rows)
    out = io.StringIO()
    out.write(",".join([*(f"x{j}" for j in range(n_features)), "y"]) + "\n")
    np.savetxt(out, np.column_stack([x, y]), delimiter=",", fmt="%.6g")
    return out.getvalue().encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def server(data_dir: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    variables = {
        **os.environ,
        "SPARSEFIT_DATA_DIR": str(data_dir),
        "SPARSEFIT_PORT": str(port),
        "SPARSEFIT_WORKERS": "1",  # one job at a time: the overhead, not the concurrency
        "SPARSEFIT_LOG_LEVEL": "warning",
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "service"], cwd=REPO, env=variables, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError("the server did not get ready")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def run_job(base: str, body: dict[str, Any]) -> tuple[float, float]:
    started = time.perf_counter()
    job = httpx.post(f"{base}/v1/jobs", json=body, timeout=60).json()
    while job["status"] not in ("succeeded", "failed", "canceled"):
        job = httpx.get(f"{base}/v1/jobs/{job['id']}?wait=60", timeout=90).json()
    wall = time.perf_counter() - started
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job['id']} ended {job['status']}: {job.get('error')}")
    run = datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
    return wall, run.total_seconds()


def measure(base: str, tables: dict[str, bytes], reps: int) -> dict[str, tuple[float, float]]:
    ids = {}
    for name, body in tables.items():
        response = httpx.post(
            f"{base}/v1/datasets", content=body, headers={"Content-Type": "text/csv"}, timeout=120
        )
        response.raise_for_status()
        ids[name] = response.json()["id"]
    medians = {}
    for case, spec in CASES.items():
        body = {"dataset_id": ids[spec["table"]], **spec["body"]}
        run_job(base, body)  # warm-up: first-use imports and caches on this backend
        times = [run_job(base, body) for _ in range(reps)]
        medians[case] = (statistics.median(t[0] for t in times), statistics.median(t[1] for t in times))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--cv-processes", type=int, default=2, help="SPARSEFIT_CV_PROCESSES of both servers")
    parser.add_argument("--scheduler", help="an existing Dask scheduler (default: a LocalCluster here)")
    args = parser.parse_args()
    tables = {"diabetes": (REPO / "examples" / "diabetes.csv").read_bytes(), "wide": wide_csv()}
    with contextlib.ExitStack() as stack:
        scheduler = args.scheduler
        if scheduler is None:
            from distributed import LocalCluster

            cluster = stack.enter_context(
                LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=":0")
            )
            scheduler = cluster.scheduler_address
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dask-overhead-")))
        results = {}
        for backend, env in (
            ("local", {"SPARSEFIT_EXECUTOR": "local"}),
            ("dask", {"SPARSEFIT_EXECUTOR": "dask", "SPARSEFIT_DASK_SCHEDULER": scheduler}),
        ):
            env["SPARSEFIT_CV_PROCESSES"] = str(args.cv_processes)
            with server(scratch / backend, env) as base:
                results[backend] = measure(base, tables, args.reps)
    print(f"median of {args.reps} jobs, one at a time (seconds); SPARSEFIT_CV_PROCESSES={args.cv_processes}")
    print(
        f"{'case':32} {'local wall':>10} {'dask wall':>10} {'overhead':>9} {'local run':>10} {'dask run':>9}"
    )
    for case in CASES:
        (lw, lr), (dw, dr) = results["local"][case], results["dask"][case]
        print(f"{case:32} {lw:10.3f} {dw:10.3f} {dw - lw:+9.3f} {lr:10.3f} {dr:9.3f}")


if __name__ == "__main__":
    main()
