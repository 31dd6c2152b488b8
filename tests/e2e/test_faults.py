"""Faults against a real server: kill -9 at scale, a dying worker, SIGTERM, a full, read-only or capped disk.

Policy for jobs a crash interrupts: they read ``failed`` with ``/problems/interrupted`` after the
restart and are never re-run on their own. A fit may take an hour and a client may already have
retried it; running it again unasked would double the work and could race that retry. The client
sees exactly what happened and resubmits if it still wants the model.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import itertools
import os
import resource
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import test_server
from tests.e2e.conftest import REPO, Server
from tests.e2e.test_server import SLOW, get_job, post_csv, post_job

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DIABETES = (REPO / "examples" / "diabetes.csv").read_bytes()
FAST = {"target": "y", "cv": {"folds": 3}}
INTERRUPTED = "/problems/interrupted"
# A hang guard for the waits below, not a timing goal: every wait normally ends in well under it.
HANG_S = 60.0


@functools.cache
def wide_csv() -> bytes:
    return test_server.wide_csv()


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG_S
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def status_of(server: Server, job_id: str) -> str:
    return str(get_job(server, job_id)["status"])


def wait_status(server: Server, job_id: str, status: str) -> None:
    wait_for(f"job {job_id} is {status}", lambda: status_of(server, job_id) == status)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def predict(server: Server, model_id: str, dataset_id: str) -> httpx.Response:
    return httpx.post(
        f"{server.base}/v1/models/{model_id}/predictions", json={"dataset_id": dataset_id}, timeout=60
    )


def post_raw(server: Server, body: bytes) -> httpx.Response:
    return httpx.post(
        f"{server.base}/v1/datasets", content=body, headers={"Content-Type": "text/csv"}, timeout=60
    )


def assert_problem(response: httpx.Response, status: int, problem_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = dict(response.json())
    assert problem["type"] == problem_type, problem
    return problem


def catalog_sha256(data_dir: Path, table: str) -> dict[str, str]:
    """id -> recorded sha256, read straight from the catalog file (read-only)."""
    uri = f"file:{data_dir / 'catalog.sqlite3'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
        return dict(conn.execute(f"SELECT id, sha256 FROM {table}").fetchall())


def temp_files(data_dir: Path) -> list[Path]:
    return sorted(data_dir.rglob("*.tmp"))


@dataclass(frozen=True)
class Stored:
    """One dataset and one model stored before the fault, and what they answered then."""

    dataset: dict[str, Any]
    model: dict[str, Any]
    prediction: Any


def _store_some(server: Server) -> Stored:
    dataset = post_csv(server, DIABETES)
    job = get_job(server, post_job(server, {"dataset_id": dataset["id"], **FAST})["id"], wait=60)
    assert job["status"] == "succeeded", job
    model = httpx.get(f"{server.base}/v1/models/{job['model_id']}").json()
    return Stored(dataset, model, predict(server, model["id"], dataset["id"]).json())


def _assert_intact(server: Server, stored: Stored) -> None:
    assert httpx.get(f"{server.base}/v1/datasets/{stored.dataset['id']}").json() == stored.dataset
    path = server.data_dir / "datasets" / f"{stored.dataset['id']}.arrow"
    assert sha256_of(path) == stored.dataset["sha256"]
    assert httpx.get(f"{server.base}/v1/models/{stored.model['id']}").json() == stored.model
    assert predict(server, stored.model["id"], stored.dataset["id"]).json() == stored.prediction
    assert temp_files(server.data_dir) == []


# -- crash at scale ------------------------------------------------------------------------------


@dataclass
class Uploader:
    """Threads that upload again and again until stopped, recording how each upload ended."""

    server: Server
    threads: int = 3
    acknowledged: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0  # sent, then the connection died with the server: no answer
    refused: int = 0  # never reached the server (connect refused after the kill)
    unexpected: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self._workers = [threading.Thread(target=self._loop, args=(i,)) for i in range(self.threads)]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=HANG_S)

    def _loop(self, index: int) -> None:
        bodies = itertools.cycle((wide_csv(), DIABETES) if index % 2 else (DIABETES, wide_csv()))
        with httpx.Client(timeout=HANG_S) as client:
            while not self._stop.is_set():
                self._upload(client, next(bodies))

    def _upload(self, client: httpx.Client, body: bytes) -> None:
        headers = {"Content-Type": "text/csv"}
        try:
            response = client.post(f"{self.server.base}/v1/datasets", content=body, headers=headers)
        except httpx.ConnectError:
            with self._lock:
                self.refused += 1
            self._stop.set()
            return
        except httpx.TransportError:
            with self._lock:
                self.in_flight += 1
            self._stop.set()
            return
        with self._lock:
            if response.status_code == 201:
                self.acknowledged.append(dict(response.json()))
            else:
                self.unexpected.append(f"{response.status_code} {response.text[:200]}")


def _submit_mixed_jobs(server: Server, fast_on: str, slow_on: str) -> list[dict[str, Any]]:
    # Fast ones first so some finish before the kill; then two slow ones hold both workers while
    # the rest wait in the queue.
    fast, slow = {"dataset_id": fast_on, **FAST}, {"dataset_id": slow_on, **SLOW}
    bodies = [fast] * 4 + [slow, fast, slow] + [fast] * 13
    return [post_job(server, body) for body in bodies]


def _statuses(server: Server) -> dict[str, str]:
    listing = httpx.get(f"{server.base}/v1/jobs?limit=1000", timeout=30).json()
    return {job["id"]: job["status"] for job in listing["items"]}


def _check_datasets(server: Server, acknowledged: list[dict[str, Any]], in_flight: int) -> tuple[int, int]:
    """Every acknowledged dataset intact; any other listed one (a lost 201) intact too."""
    listed = httpx.get(f"{server.base}/v1/datasets?limit=1000", timeout=30).json()["items"]
    by_id = {item["id"]: item for item in listed}
    recorded = catalog_sha256(server.data_dir, "datasets")
    for dataset in acknowledged:
        assert dataset["id"] in by_id, "an acknowledged upload is missing"
        # Lists carry a wide table's first columns only; its own document carries what the upload answered.
        stored = httpx.get(f"{server.base}/v1/datasets/{dataset['id']}", timeout=30).json()
        assert stored == dataset, "an acknowledged upload changed"
    extra = [item for item in listed if item["id"] not in {d["id"] for d in acknowledged}]
    assert len(extra) <= in_flight, "a dataset appeared that no upload could have stored"
    for item in listed:
        path = server.data_dir / "datasets" / f"{item['id']}.arrow"
        assert sha256_of(path) == item["sha256"] == recorded[item["id"]]
        assert (item["n_rows"], item["n_columns"]) in ((442, 11), (400, 801))
    return len(listed), len(extra)


def _check_jobs(
    server: Server, jobs: list[dict[str, Any]], seen_succeeded: set[str]
) -> tuple[list[str], list[str]]:
    """No job left queued or running; each one succeeded with a working model, or was interrupted."""
    succeeded, interrupted = [], []
    for job in jobs:
        state = get_job(server, job["id"])
        if state["status"] == "succeeded":
            assert predict(server, state["model_id"], job["request"]["dataset_id"]).status_code == 200
            succeeded.append(job["id"])
        else:
            assert job["id"] not in seen_succeeded, "a job that had succeeded lost its result"
            assert state["status"] == "failed" and state["error"]["type"] == INTERRUPTED, state
            interrupted.append(job["id"])
    return succeeded, interrupted


def _check_models(server: Server) -> int:
    """Every listed model belongs to a succeeded job and its file matches the recorded checksum."""
    listed = httpx.get(f"{server.base}/v1/models?limit=1000", timeout=30).json()["items"]
    recorded = catalog_sha256(server.data_dir, "models")
    for model in listed:
        assert sha256_of(server.data_dir / "models" / f"{model['id']}.joblib") == recorded[model["id"]]
        job = get_job(server, model["job_id"])
        assert job["status"] == "succeeded" and job["model_id"] == model["id"], job
    return len(listed)


def test_kill_9_at_scale_keeps_every_acknowledged_object_and_interrupts_the_rest(tmp_path: Path) -> None:
    server = Server(tmp_path / "data")
    try:
        server.start()
        stored, wide = _store_some(server), post_csv(server, wide_csv())
        diabetes = stored.dataset
        jobs = _submit_mixed_jobs(server, diabetes["id"], wide["id"])
        ids = [job["id"] for job in jobs]
        # Uploads start once the jobs are queued (submitting beside them only made submitting slow);
        # they keep going until the kill, so some are caught half-way.
        uploads = Uploader(server)
        uploads.start()

        def mid_flight() -> bool:
            current = _statuses(server)
            statuses = [current[job_id] for job_id in ids]
            return "succeeded" in statuses and "running" in statuses and len(uploads.acknowledged) >= 3

        wait_for("jobs done, jobs running and uploads stored at once", mid_flight)
        seen = _statuses(server)
        server.kill_all()
        uploads.stop()
        assert uploads.unexpected == []

        server.start()
        assert temp_files(server.data_dir) == []
        acknowledged = [diabetes, wide, *uploads.acknowledged]
        n_datasets, n_extra = _check_datasets(server, acknowledged, uploads.in_flight)
        seen_succeeded = {job_id for job_id in ids if seen[job_id] == "succeeded"}
        succeeded, interrupted = _check_jobs(server, jobs, seen_succeeded)
        n_models = _check_models(server)
        assert n_models == len(succeeded) + 1  # and the model stored before the storm
        _assert_intact(server, stored)
        assert interrupted, "the kill came while jobs were running: some must read interrupted"
        assert uploads.in_flight >= 1, "the kill came while uploads were running"
        print(
            f"\ncrash test: uploads acknowledged {len(uploads.acknowledged) + 2} "
            f"(2 before, {len(uploads.acknowledged)} concurrent), in flight at the kill {uploads.in_flight} "
            f"(of which stored without their 201: {n_extra}), refused after the kill {uploads.refused}; "
            f"jobs submitted {len(ids)}, succeeded before the kill {len(seen_succeeded)}, "
            f"succeeded after restart {len(succeeded)}, interrupted after restart {len(interrupted)}; "
            f"objects verified: {n_datasets} datasets, {n_models} models"
        )
    finally:
        server.cleanup()


# -- a worker dies, then SIGTERM --------------------------------------------------------------


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _job_processes(server: Server) -> set[int]:
    """The processes the forkserver forked, one per running job."""
    assert server.process is not None
    return {job for forkserver in _children(server.process.pid) for job in _children(forkserver)}


def _crash_one_job(server: Server, dataset_id: str, survivor_id: str, signum: int) -> None:
    """Start a job, send its process ``signum``: it fails as crashed, the survivor runs on."""
    others = _job_processes(server)
    doomed = post_job(server, {"dataset_id": dataset_id, **SLOW})
    wait_status(server, doomed["id"], "running")
    wait_for("its process exists", lambda: len(_job_processes(server) - others) == 1)
    (pid,) = _job_processes(server) - others
    os.kill(pid, signum)
    failed = get_job(server, doomed["id"], wait=30)
    assert failed["status"] == "failed", failed
    assert failed["error"]["type"] == "/problems/worker-crashed", failed
    assert status_of(server, survivor_id) == "running"  # the other job never noticed


def _sigterm_and_restart(server: Server, jobs: list[str]) -> None:
    """SIGTERM must end the server within 10 s; after a restart no job is left queued or running."""
    took = server.terminate(timeout=10)  # the bound on shutdown: a hang fails here
    print(f"\nSIGTERM with 2 running and 3 queued jobs: exited in {took:.2f} s")
    assert server.process is not None and server.process.returncode in (0, -signal.SIGTERM), server.log()
    assert "Application shutdown complete" in server.log()
    server.start()
    for job_id in jobs:
        state = get_job(server, job_id)
        assert state["status"] == "canceled" or (
            state["status"] == "failed" and state["error"]["type"] == INTERRUPTED
        ), state


def test_dying_workers_fail_only_their_jobs_then_sigterm_settles_every_job(server: Server) -> None:
    # Two scenarios on one server, so the file pays for one start fewer (each costs seconds).
    wide, diabetes = post_csv(server, wide_csv()), post_csv(server, DIABETES)
    survivor = post_job(server, {"dataset_id": wide["id"], **SLOW})["id"]
    wait_status(server, survivor, "running")
    wait_for("the survivor's process exists", lambda: len(_job_processes(server)) == 1)
    for signum in (signal.SIGKILL, signal.SIGSEGV):
        _crash_one_job(server, wide["id"], survivor, signum)
    later = post_job(server, {"dataset_id": diabetes["id"], **FAST})
    assert get_job(server, later["id"], wait=60)["status"] == "succeeded"  # the pool recovered

    jobs = [survivor] + [post_job(server, {"dataset_id": wide["id"], **SLOW})["id"] for _ in range(4)]
    wait_for(
        "two jobs run, three wait",
        lambda: [status_of(server, job_id) for job_id in jobs].count("running") == 2,
    )
    _sigterm_and_restart(server, jobs)


# -- the disk: full, read-only, a file size limit ------------------------------------------------


def _mount_tmpfs(directory: Path, size: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {result.stderr.strip()}")


def _remount(directory: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(directory)], check=True, capture_output=True)


def _unmount(directory: Path) -> None:
    if subprocess.run(["umount", str(directory)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(directory)], capture_output=True)


@pytest.fixture
def blob_mounts(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """The data dir's datasets/ and models/ on small tmpfs mounts of their own.

    The catalog stays on the ordinary disk: a file system cannot be remounted read-only while
    SQLite holds its database open for writing (EBUSY), and the blob directories are where a full
    or read-only disk first shows.
    """
    mounts = [tmp_path / "data" / "datasets", tmp_path / "data" / "models"]
    mounted: list[Path] = []
    try:
        for directory in mounts:
            _mount_tmpfs(directory, "1m")
            mounted.append(directory)
        yield mounts[0], mounts[1]
    finally:
        for directory in mounted:
            _unmount(directory)


def _fill(directory: Path) -> int:
    """Write into ``directory`` until the file system says ENOSPC; the bytes it took."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
    written = 0
    try:
        while True:
            written += os.write(fd, b"\0" * 65536)
    except OSError as error:
        assert error.errno == errno.ENOSPC, error
    finally:
        os.close(fd)
    return written


def _assert_writes_refused(server: Server, stored: Stored, status: int, problem_type: str) -> None:
    """Uploads and jobs fail with the problem, readiness says no, reads go on."""
    datasets_before = httpx.get(f"{server.base}/v1/datasets").json()
    response = post_raw(server, DIABETES)
    problem = assert_problem(response, status, problem_type)
    assert server.data_dir.as_posix() not in problem["detail"]
    if status == 503:
        assert int(response.headers["Retry-After"]) > 0
    job = get_job(server, post_job(server, {"dataset_id": stored.dataset["id"], **FAST})["id"], wait=60)
    assert job["status"] == "failed" and job["error"]["type"] == problem_type, job
    assert job["error"]["status"] == status
    ready = assert_problem(httpx.get(f"{server.base}/readyz"), 503, "/problems/not-ready")
    assert ready["checks"]["data_dir"] != "ok" and ready["checks"]["workers"] == "ok"
    assert httpx.get(f"{server.base}/v1/datasets").json() == datasets_before
    _assert_intact(server, stored)


def test_full_then_read_only_store_refuses_writes_keeps_objects_and_recovers(
    tmp_path: Path, blob_mounts: tuple[Path, Path]
) -> None:
    # No reserve: the file system's own ENOSPC is under test (tests/store covers the reserve).
    server = Server(tmp_path / "data", env={"SPARSEFIT_MIN_FREE_BYTES": "0"})
    try:
        server.start()
        stored = _store_some(server)
        filled = [_fill(directory) for directory in blob_mounts]
        assert all(filled)
        _assert_writes_refused(server, stored, 507, "/problems/insufficient-storage")
        for directory in blob_mounts:
            (directory / "filler").unlink()
        server.wait_ready()
        assert post_raw(server, DIABETES).status_code == 201

        for directory in blob_mounts:
            _remount(directory, "ro")
        _assert_writes_refused(server, stored, 503, "/problems/store-unavailable")
        for directory in blob_mounts:
            _remount(directory, "rw")
        server.wait_ready()
        assert post_raw(server, DIABETES).status_code == 201
    finally:
        server.cleanup()


def _limit_file_size() -> None:
    # Python ignores SIGXFSZ, so a write past the limit fails with EFBIG instead of killing us.
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, 1024 * 1024))


def test_file_size_limit_fails_large_upload_mid_write_and_leaves_nothing_partial(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", preexec_fn=_limit_file_size)
    try:
        server.start()
        small = post_csv(server, DIABETES)
        stored_files = sorted((server.data_dir / "datasets").iterdir())
        # The wide table's stored file is over 1 MiB, so its write fails part-way with EFBIG.
        assert_problem(post_raw(server, wide_csv()), 507, "/problems/insufficient-storage")
        assert httpx.get(f"{server.base}/v1/datasets").json() == {"items": [small], "total": 1}
        assert sorted((server.data_dir / "datasets").iterdir()) == stored_files
        assert temp_files(server.data_dir) == []
        assert httpx.get(f"{server.base}/readyz").status_code == 200
        assert post_raw(server, DIABETES).status_code == 201
    finally:
        server.cleanup()
