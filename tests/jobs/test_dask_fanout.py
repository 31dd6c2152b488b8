"""The Dask backend fans a job's CV folds, l1_ratios, stability pairs and bootstrap replicates out
as tasks of their own, with the local pool's results to the last bit; cancel and a lost worker.

One LocalCluster (2 worker processes, one thread each) on 127.0.0.1 for the module, one service on
it and one on the local pool (each in a TestClient); the same request on the same table runs on
both and their JSON documents are compared for equality (JSON carries a float's exact repr).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from distributed import Client, LocalCluster
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.errors import InvalidDataError
from service.modeling.fit import fit_model
from service.modeling.parallel import fold_runner, run_folds
from service.modeling.specs import CVSpec, Family, FitSpec, PathSpec
from service.worker.dask_fanout import DaskFoldRunner
from tests.conftest import EXAMPLES
from tests.jobs import service_calls
from tests.jobs.service_calls import submit, upload, wide_table

pytestmark = pytest.mark.slow

WAIT_S = 180.0
DASHBOARD = ":0"  # see test_dask_executor: a free port for the scheduler's HTTP server
# What differs between two runs of the same request (ids, times, names); all else must be equal.
RUN_FIELDS = ("id", "name", "job_id", "dataset_id", "created_at", "versions")
# On the wide table (400 x 800), each fold of this fit takes about 3.5 s (one idle core; more when
# loaded): long enough to cancel, or lose a worker, while the folds run.
SLOW_FOLDS = {"target": "y", "path": {"n_alphas": 1000, "alpha_min_ratio": 1e-6}, "solver": {"tol": 1e-12},
              "cv": {"folds": 10}}  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=DASHBOARD
    ) as local:
        yield local


@pytest.fixture(scope="module")
def observer(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster.scheduler_address, set_as_default=False) as client:
        client.get_task_stream()  # installs the scheduler's task stream plugin before any job
        yield client


@pytest.fixture(scope="module")
def dask_service(cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("dask") / "data"
    with service_calls.dask_service(data_dir, cluster.scheduler_address) as client:
        yield client


@pytest.fixture(scope="module")
def local_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("local") / "data", workers=1, cv_processes=2)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def wide_csv() -> bytes:
    return wide_table()


def finished(client: TestClient, job_id: str) -> dict[str, Any]:
    return service_calls.finished(client, job_id, WAIT_S)


def run_both(dask: TestClient, local: TestClient, body: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The same job on the diabetes table on both backends; both must succeed."""
    table = (EXAMPLES / "diabetes.csv").read_bytes()
    jobs = []
    for client in (dask, local):
        job = finished(client, submit(client, {"dataset_id": upload(client, table), "target": "y", **body}))
        assert job["status"] == "succeeded", job
        jobs.append(job)
    return tuple(jobs)


def fold_keys(observer: Client, job_id: str, since: float) -> dict[str, set[str]]:
    """The job's fanned-out task keys that ran since ``since``, per worker (the task stream)."""
    placed: dict[str, set[str]] = {}
    for record in observer.get_task_stream(start=since):
        key = str(record["key"])
        if key.startswith(f"{job_id}-fold-"):
            placed.setdefault(str(record["worker"]), set()).add(key)
    return placed


def model_parts(client: TestClient, model_id: str) -> dict[str, Any]:
    model = client.get(f"/v1/models/{model_id}").json()
    cv = client.get(f"/v1/models/{model_id}/cv").json()
    path = client.get(f"/v1/models/{model_id}/path").json()
    return {"model": {f: v for f, v in model.items() if f not in RUN_FIELDS}, "cv": cv, "path": path}


def selection_parts(client: TestClient, selection_id: str) -> dict[str, Any]:
    selection: dict[str, Any] = client.get(f"/v1/selections/{selection_id}").json()
    return {f: v for f, v in selection.items() if f not in RUN_FIELDS}


@pytest.mark.parametrize(
    ("options", "stages"),
    [
        ({}, 1),
        ({"relax": True}, 1),  # each fold refits its relaxed path
        ({"adaptive": {"gamma": 1.0, "initial": "ridge"}}, 2),  # the initial fit's CV, then the fit's
    ],
    ids=["lasso", "relaxed", "adaptive"],
)
def test_dask_fanout_cv_folds_run_on_both_workers_and_equal_the_local_pool(
    dask_service: TestClient,
    local_service: TestClient,
    observer: Client,
    options: dict[str, Any],
    stages: int,
) -> None:
    since = time.time()
    on_dask, on_local = run_both(dask_service, local_service, {"cv": {"folds": 5}, **options})
    placed = fold_keys(observer, on_dask["id"], since)
    expected = {f"{on_dask['id']}-fold-{stage}-{k}" for stage in range(stages) for k in range(5)}
    assert set().union(*placed.values()) == expected, placed
    assert len(placed) == 2, f"the folds ran on one worker only: {placed}"
    dask_model = model_parts(dask_service, on_dask["model_id"])
    assert len(dask_model["cv"]["folds"]) == 5
    assert dask_model == model_parts(local_service, on_local["model_id"])


def test_dask_fanout_l1_ratios_are_tasks_of_their_own_and_equal_the_local_pool(
    dask_service: TestClient, local_service: TestClient, observer: Client
) -> None:
    since = time.time()
    ratios = [0.5, 0.8, 1.0]
    body = {"penalty": "elasticnet", "cv": {"folds": 4, "l1_ratios": ratios}, "path": {"n_alphas": 30}}
    on_dask, on_local = run_both(dask_service, local_service, body)
    keys = set().union(*fold_keys(observer, on_dask["id"], since).values())
    # One task per l1_ratio (its path and its CV, folds in turn inside): one stage of three.
    assert keys == {f"{on_dask['id']}-fold-0-{k}" for k in range(len(ratios))}
    dask_model = model_parts(dask_service, on_dask["model_id"])
    assert len(dask_model["cv"]["curves"]) == len(ratios)
    assert dask_model == model_parts(local_service, on_local["model_id"])


@pytest.mark.parametrize(
    ("kind", "options", "count"),
    [("stability", {"n_pairs": 6, "pfer": 1}, 6), ("bootstrap", {"replicates": 8, "seed": 3}, 8)],
)
def test_dask_fanout_selection_jobs_equal_the_local_pool(
    dask_service: TestClient,
    local_service: TestClient,
    observer: Client,
    kind: str,
    options: dict[str, Any],
    count: int,
) -> None:
    since = time.time()
    body = {"kind": kind, kind: options, "path": {"n_alphas": 20}}
    on_dask, on_local = run_both(dask_service, local_service, body)
    placed = fold_keys(observer, on_dask["id"], since)
    # The last stage holds the subsamples / replicates (bootstrap's full fit CVs its alpha first).
    keys = set().union(*placed.values())
    last = max(int(key.split("-")[-2]) for key in keys)
    assert {k for k in keys if k.split("-")[-2] == str(last)} == {
        f"{on_dask['id']}-fold-{last}-{k}" for k in range(count)
    }
    assert len(placed) == 2, f"the {kind} fits ran on one worker only: {placed}"
    dask_selection = selection_parts(dask_service, on_dask["selection_id"])
    assert dask_selection["features"], dask_selection
    assert dask_selection == selection_parts(local_service, on_local["selection_id"])


def job_tasks(observer: Client, job_id: str, prefix: str = "") -> list[str]:
    """The keys the scheduler still holds that start with ``prefix`` + ``job_id``, with their state:
    the job's sub-tasks ``{job_id}-fold-`` and scattered work ``{job_id}-shared-``, its own task
    ``sparsefit-fit-{job_id}``."""
    held: list[str] = observer.run_on_scheduler(
        lambda dask_scheduler: [f"{k} {t.state}" for k, t in dask_scheduler.tasks.items()]
    )
    return [entry for entry in held if entry.startswith(f"{prefix}{job_id}")]


def executing(observer: Client, job_id: str) -> list[str]:
    """Keys of the job a worker thread is computing right now."""
    threads = observer.run(lambda dask_worker: [str(k) for k in dask_worker.active_threads.values()])
    return [k for keys in threads.values() for k in keys if job_id in k]


def folds_running(client: TestClient, observer: Client, job_id: str) -> None:
    """Wait until the scheduler has some of the job's fold tasks processing on a worker."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] in ("queued", "running")
        processing = observer.processing()
        if any(str(k).startswith(f"{job_id}-fold-") for keys in processing.values() for k in keys):
            return
        time.sleep(0.1)
    raise AssertionError(f"the folds of job {job_id} never ran")


def fold_starts(observer: Client, job_id: str, since: float) -> dict[str, float]:
    """When each of the job's sub-tasks that ran since ``since`` started computing (epoch seconds)."""
    return {
        str(record["key"]): min(s["start"] for s in record["startstops"] if s["action"] == "compute")
        for record in observer.get_task_stream(start=since)
        if str(record["key"]).startswith(f"{job_id}-fold-")
    }


def until_empty(probe: Any, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := probe()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return list(left)


def test_dask_fanout_cancel_while_folds_run_releases_every_sub_task(
    dask_service: TestClient, observer: Client, wide_csv: bytes
) -> None:
    job_id = submit(dask_service, {"dataset_id": upload(dask_service, wide_csv), **SLOW_FOLDS})
    since = time.time()
    folds_running(dask_service, observer, job_id)
    canceled_at = time.time()
    assert dask_service.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
    # The folds had just started and take seconds: their tasks are released by the job's task
    # seeing the Event while it waits, not by a fold's result reaching its next checkpoint.
    assert until_empty(lambda: job_tasks(observer, f"{job_id}-fold-"), 2.5) == []
    canceled = finished(dask_service, job_id)
    assert canceled["status"] == "canceled" and canceled["model_id"] is None, canceled
    # No fold starts once the job's task has seen its Event (it looks every 0.2 s; 1 s of slack
    # for the Event to be set), and the stage of 10 folds was cut short.
    computed = fold_starts(observer, job_id, since)
    assert [k for k, start in computed.items() if start > canceled_at + 1.0] == []
    assert len(computed) < 10, computed
    # The scheduler forgets every task of the job and its scattered work; a fold already computing
    # ends its one fit (a thread cannot be interrupted), and no other starts.
    assert (
        until_empty(lambda: job_tasks(observer, job_id) + job_tasks(observer, job_id, "sparsefit-fit-"), 10.0)
        == []
    )
    assert until_empty(lambda: executing(observer, job_id), 60.0) == []


def kill_worker(cluster: LocalCluster, address: str) -> None:
    nanny = next(n for n in cluster.workers.values() if n.worker_address == address)
    assert nanny.process is not None and nanny.process.process is not None
    os.kill(nanny.process.process.pid, signal.SIGKILL)


def test_dask_fanout_worker_killed_under_a_fold_reruns_only_that_fold(
    dask_service: TestClient, cluster: LocalCluster, observer: Client, wide_csv: bytes
) -> None:
    job_id = submit(dask_service, {"dataset_id": upload(dask_service, wide_csv), **SLOW_FOLDS})
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        # A worker computing one of the job's folds and not the job's own task.
        processing = {a: set(map(str, keys)) for a, keys in observer.processing().items()}
        others = [
            a for a, keys in processing.items()
            if f"sparsefit-fit-{job_id}" not in keys and any(k.startswith(f"{job_id}-fold-") for k in keys)
        ]  # fmt: skip
        if others:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("no fold of the job ran on a worker of its own")
    kill_worker(cluster, others[0])
    job = finished(dask_service, job_id)
    assert job["status"] == "succeeded", job
    cv = dask_service.get(f"/v1/models/{job['model_id']}/cv").json()
    assert len(cv["folds"]) == 10 and all(len(fold) == len(cv["alphas"]) for fold in cv["folds"])


def test_dask_fanout_worker_killed_while_folds_run_fails_the_job_only(
    dask_service: TestClient, cluster: LocalCluster, observer: Client, wide_csv: bytes
) -> None:
    job_id = submit(dask_service, {"dataset_id": upload(dask_service, wide_csv), **SLOW_FOLDS})
    folds_running(dask_service, observer, job_id)
    # The job's own task: the worker whose memory holds the scattered work.
    placed = [a for a, keys in observer.processing().items() if f"sparsefit-fit-{job_id}" in map(str, keys)]
    assert len(placed) == 1, placed
    kill_worker(cluster, placed[0])
    failed = finished(dask_service, job_id)
    assert failed["status"] == "failed" and failed["error"]["type"] == "/problems/worker-crashed", failed
    # Its sub-tasks are released with the job's task (their client was on the lost worker). The
    # job's own task is the executor's (dask_pool): Dask reruns it elsewhere, it stops at its first
    # checkpoint and its future is released after the grace period.
    assert until_empty(lambda: job_tasks(observer, f"{job_id}-fold-"), 30.0) == []
    following = finished(dask_service, submit(dask_service, {
        "dataset_id": upload(dask_service, (EXAMPLES / "diabetes.csv").read_bytes()), "target": "y",
        "cv": {"folds": 3},
    }))  # fmt: skip
    assert following["status"] == "succeeded", following


def fan_out(job: str, family: str, raise_at: int | None) -> Any:
    """A Dask task standing for job ``job``'s task: the fold runner installed as run_dask_job does.

    With ``raise_at``, run_folds over a task failing at that index: the failure comes back as its
    own type. Otherwise a 4-fold CV fit of ``family`` on generated data: its outcome.
    """
    runner = DaskFoldRunner(job, lambda: None)
    if raise_at is not None:

        def failing(k: int) -> int:
            if k == raise_at:
                raise InvalidDataError(f"row {k}: not a number")
            time.sleep(0.5)  # still running when the failure arrives: released, not awaited
            return k

        with fold_runner(runner):
            try:
                list(run_folds(failing, 6, 1))
            except InvalidDataError as error:
                return error.detail
        return None
    with fold_runner(runner):
        return fit_model(*generated(family))


def generated(family: str) -> tuple[Any, Any, FitSpec]:
    rng = np.random.default_rng(7)
    x = np.asfortranarray(rng.standard_normal((240, 30)))
    eta = x[:, :4] @ np.array([1.5, -1.0, 0.8, 0.5])
    y = (rng.random(240) < 1 / (1 + np.exp(-eta))).astype(np.int64) if family == "binomial" else eta
    spec = FitSpec(Family(family), 1.0, None, PathSpec(n_alphas=40), CVSpec(n_folds=4))
    return x, y, spec


@pytest.mark.parametrize("family", ["gaussian", "binomial"])
def test_dask_fanout_fit_model_is_bitwise_the_serial_fit(observer: Client, family: str) -> None:
    job = f"direct-{family}"
    since = time.time()
    fanned = observer.submit(fan_out, job, family, None, pure=False).result()
    serial = fit_model(*generated(family))
    assert set().union(*fold_keys(observer, job, since).values()) == {f"{job}-fold-0-{k}" for k in range(4)}
    assert np.array_equal(fanned.coef, serial.coef) and fanned.alpha == serial.alpha
    assert fanned.cv is not None and serial.cv is not None
    assert np.array_equal(fanned.cv.curves[0].folds, serial.cv.curves[0].folds, equal_nan=True)


def test_dask_fanout_a_failing_sub_task_fails_the_stage_and_releases_the_rest(observer: Client) -> None:
    assert observer.submit(fan_out, "direct-failing", "gaussian", 2, pure=False).result() == (
        "row 2: not a number"
    )
    assert until_empty(lambda: job_tasks(observer, "direct-failing"), 10.0) == []
