"""Benchmark Sparsefit: fit-job overhead (POST to `succeeded` vs bare engine call) and predict speed."""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import numpy as np
import numpy.typing as npt
import scipy
import sklearn
from threadpoolctl import threadpool_limits

import service
from service.api.job_specs import design_spec, fit_spec
from service.api.schemas import JobCreate
from service.data.design import Design, DesignSpec
from service.modeling import FitOutcome, FitSpec, fit_model
from service.worker import design as worker

FloatArray = npt.NDArray[np.float64]

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
TARGET = "y"
N_INFORMATIVE = 10
# One request for every fit: a lasso path of 100 alphas with 5-fold CV and the 1se rule. (With the
# API's default 10 folds, 11 path solves took ~70 ms even on 100 rows: no 50 ms fit was possible.)
JOB_OPTIONS: dict[str, Any] = {
    "target": TARGET,
    "family": "gaussian",
    "penalty": "lasso",
    "path": {"n_alphas": 100},
    "cv": {"folds": 5, "seed": 0, "rule": "1se"},
}
GOAL_RELATIVE = 0.10
GOAL_ABSOLUTE_S = 0.050
CALIBRATION_STEPS = 4
CALIBRATION_TOLERANCE = 0.15
BUSY_LOAD = 0.5
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
FINISHED = {"succeeded", "failed", "canceled"}


@dataclass(frozen=True)
class FitCase:
    """A fit size to calibrate: the wanted bare engine time and the table's width."""

    label: str
    target_s: float
    n_features: int
    initial_rows: int


CASES = (FitCase("50 ms", 0.050, 20, 2000), FitCase("1 s", 1.0, 100, 25000))


@dataclass
class PreparedCase:
    """A calibrated case: the rows chosen, the calibration trials, and the CSV to upload."""

    case: FitCase
    n_rows: int
    trials: list[dict[str, float]]
    csv: bytes = field(repr=False)


@dataclass
class ServiceRun:
    """One fit job seen from the client, split into phases by the job's own timestamps."""

    total_s: float
    post_s: float
    validate_s: float
    queued_s: float
    worker_s: float
    answer_s: float
    model_id: str


@dataclass
class FitBench:
    """Bare engine and service times for one case, and a check that both solved the same problem."""

    label: str
    n_rows: int
    n_features: int
    csv_bytes: int
    upload_s: float
    calibration: list[dict[str, float]]
    bare_s: list[float]
    service: list[ServiceRun]
    alpha_bare: float
    alpha_service: float

    @property
    def bare_median(self) -> float:
        return statistics.median(self.bare_s)

    @property
    def service_median(self) -> float:
        return statistics.median(run.total_s for run in self.service)

    @property
    def overhead_s(self) -> float:
        return self.service_median - self.bare_median

    @property
    def budget_s(self) -> float:
        return GOAL_RELATIVE * self.bare_median + GOAL_ABSOLUTE_S

    @property
    def meets_goal(self) -> bool:
        return self.overhead_s <= self.budget_s

    def summary(self) -> dict[str, Any]:
        phases = ("post_s", "validate_s", "queued_s", "worker_s", "answer_s")
        return {
            "bare_median_s": self.bare_median,
            "service_median_s": self.service_median,
            "overhead_s": self.overhead_s,
            "overhead_pct": 100.0 * self.overhead_s / self.bare_median,
            "budget_s": self.budget_s,
            "meets_goal": self.meets_goal,
            "same_alpha": bool(np.isclose(self.alpha_bare, self.alpha_service, rtol=1e-9, atol=0.0)),
            "phase_medians_s": {p: statistics.median(getattr(r, p) for r in self.service) for p in phases},
        }


@dataclass
class LatencyStats:
    """Latency and throughput of a batch of identical prediction requests."""

    label: str
    threads: int
    requests: int
    rows_per_request: int
    wall_s: float
    latencies_s: list[float] = field(repr=False)

    def summary(self) -> dict[str, float]:
        ms = np.asarray(self.latencies_s) * 1000.0
        return {
            "median_ms": float(np.median(ms)),
            "p95_ms": float(np.percentile(ms, 95)),
            "mean_ms": float(ms.mean()),
            "max_ms": float(ms.max()),
            "requests_per_s": self.requests / self.wall_s,
            "rows_per_s": self.requests * self.rows_per_request / self.wall_s,
        }


# --- data -----------------------------------------------------------------------------------------


def feature_names(n_features: int) -> list[str]:
    return [f"x{j}" for j in range(n_features)]


def make_data(n_rows: int, n_features: int, seed: int) -> tuple[FloatArray, FloatArray]:
    """Standard normal features, a sparse linear signal in the first columns, unit noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features))
    k = min(N_INFORMATIVE, n_features)
    beta = np.zeros(n_features)
    beta[:k] = rng.uniform(0.5, 2.0, k) * rng.choice([-1.0, 1.0], k)
    y = X @ beta + rng.standard_normal(n_rows)
    return X, y


def to_csv(X: FloatArray, y: FloatArray) -> bytes:
    header = ",".join([*feature_names(X.shape[1]), TARGET])
    buffer = io.StringIO()
    np.savetxt(buffer, np.column_stack([X, y]), fmt="%.6g", delimiter=",", header=header, comments="")
    return buffer.getvalue().encode()


# --- the bare engine ------------------------------------------------------------------------------


def job_request(dataset_id: str) -> dict[str, Any]:
    return {**JOB_OPTIONS, "dataset_id": dataset_id}


def engine_spec() -> FitSpec:
    """The FitSpec the service derives from JOB_OPTIONS (the dataset id does not enter it)."""
    return fit_spec(JobCreate.model_validate(job_request("0" * 32)))


def worker_fit_spec(spec: FitSpec, design: Design) -> FitSpec:
    """The FitSpec the worker hands to fit_model: with the design's per-column penalty factors and
    bounds where the worker derives them (``design_fit_spec``, new in the working tree), else as is."""
    derive = getattr(worker, "design_fit_spec", None)
    return spec if derive is None else cast(FitSpec, derive(spec, design))


def bare_fit(X: FloatArray, y: FloatArray, spec: FitSpec, design: Design | None = None) -> FitOutcome:
    """fit_model as the worker calls it (one BLAS thread, same keyword arguments), without checkpoints."""
    with threadpool_limits(limits=1):
        return fit_model(
            X,
            y,
            spec,
            sample_weight=None if design is None else design.sample_weight,
            fold_ids=None if design is None else design.fold_ids,
        )


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def time_bare(X: FloatArray, y: FloatArray, spec: FitSpec, runs: int) -> list[float]:
    return [timed(lambda: bare_fit(X, y, spec)) for _ in range(runs)]


def next_rows(n_rows: int, seconds: float, target_s: float) -> int:
    factor = min(max(target_s / seconds, 0.25), 4.0)
    return max(100, int(round(n_rows * factor, -2)))


def calibrate(case: FitCase, spec: FitSpec, seed: int) -> tuple[int, list[dict[str, float]]]:
    """Scale the row count until the bare fit takes about the target time (median of 2 runs)."""
    n_rows, trials = case.initial_rows, []
    for _ in range(CALIBRATION_STEPS):
        seconds = statistics.median(time_bare(*make_data(n_rows, case.n_features, seed), spec, runs=2))
        trials.append({"n_rows": n_rows, "seconds": seconds})
        if abs(seconds / case.target_s - 1.0) <= CALIBRATION_TOLERANCE:
            break
        n_rows, previous = next_rows(n_rows, seconds, case.target_s), n_rows
        if n_rows == previous:  # at the smallest table: the engine cannot be as fast as the target
            break
    return n_rows, trials


def prepare_case(case: FitCase, spec: FitSpec, fixed_rows: int | None, seed: int) -> PreparedCase:
    if fixed_rows is None:
        n_rows, trials = calibrate(case, spec, seed)
    else:
        n_rows, trials = fixed_rows, []
    X, y = make_data(n_rows, case.n_features, seed)
    return PreparedCase(case, n_rows, trials, to_csv(X, y))


# --- the server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_tail(log_path)}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {READY_TIMEOUT_S:g} s:\n{log_tail(log_path)}")


def log_tail(log_path: Path, lines: int = 30) -> str:
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def running_server(data_dir: Path, log_path: Path, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """`python -m service` on 127.0.0.1 with one worker; yields its base URL, stops it with SIGTERM."""
    port = free_port()
    env = {
        **os.environ,
        "SPARSEFIT_HOST": "127.0.0.1",
        "SPARSEFIT_PORT": str(port),
        "SPARSEFIT_DATA_DIR": str(data_dir),
        "SPARSEFIT_WORKERS": "1",
        **(extra_env or {}),
    }
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            wait_ready(base_url, process, log_path)
            yield base_url
        finally:
            stop_server(process)


# --- fit jobs -------------------------------------------------------------------------------------


def parse_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def upload(client: httpx.Client, name: str, csv: bytes) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    response = client.post(
        "/v1/datasets", params={"name": name}, content=csv, headers={"Content-Type": "text/csv"}
    )
    response.raise_for_status()
    dataset: dict[str, Any] = response.json()
    return dataset, time.perf_counter() - start


def wait_finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    while True:
        response = client.get(f"/v1/jobs/{job_id}", params={"wait": 60})
        response.raise_for_status()
        job: dict[str, Any] = response.json()
        if job["status"] in FINISHED:
            return job


def service_fit(client: httpx.Client, dataset_id: str) -> ServiceRun:
    """POST the job, long-poll until it finished; phases come from the job's timestamps (same clock)."""
    wall0, start = datetime.now(UTC), time.perf_counter()
    response = client.post("/v1/jobs", json=job_request(dataset_id))
    response.raise_for_status()
    post_s = time.perf_counter() - start
    job = wait_finished(client, response.json()["id"])
    total_s = time.perf_counter() - start
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job['id']} ended {job['status']}: {job['error']}")
    created, started, finished = (parse_time(job[k]) for k in ("created_at", "started_at", "finished_at"))
    return ServiceRun(
        total_s=total_s,
        post_s=post_s,
        validate_s=(created - wall0).total_seconds(),
        queued_s=(started - created).total_seconds(),
        worker_s=(finished - started).total_seconds(),
        answer_s=total_s - (finished - wall0).total_seconds(),
        model_id=job["model_id"],
    )


def bench_fit(client: httpx.Client, data_dir: Path, prepared: PreparedCase, repeats: int) -> FitBench:
    """Upload, then alternate bare and service fits (after one warm-up of each) on the stored table."""
    case = prepared.case
    dataset, upload_s = upload(client, f"bench-{case.label}", prepared.csv)
    job = JobCreate.model_validate(job_request(dataset["id"]))
    design = worker.load_design(data_dir, dataset["id"], dataset["sha256"], design_spec(job))
    spec = worker_fit_spec(fit_spec(job), design)
    X, y = design.X, np.asarray(design.y, dtype=np.float64)
    outcome = bare_fit(X, y, spec, design)
    service_fit(client, dataset["id"])
    bare_s: list[float] = []
    runs: list[ServiceRun] = []
    for _ in range(repeats):
        bare_s.append(timed(lambda: bare_fit(X, y, spec, design)))
        runs.append(service_fit(client, dataset["id"]))
    model = client.get(f"/v1/models/{runs[-1].model_id}").raise_for_status().json()
    return FitBench(
        label=case.label,
        n_rows=prepared.n_rows,
        n_features=case.n_features,
        csv_bytes=len(prepared.csv),
        upload_s=upload_s,
        calibration=prepared.trials,
        bare_s=bare_s,
        service=runs,
        alpha_bare=outcome.alpha,
        alpha_service=float(model["alpha"]),
    )


# --- predictions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Body:
    """A prediction request body, serialized once so that the client's encoding is not timed."""

    label: str
    content: bytes = field(repr=False)
    content_type: str
    n_rows: int


def json_body(n_rows: int, n_features: int, seed: int) -> Body:
    X, _ = make_data(n_rows, n_features, seed)
    content = json.dumps({"columns": feature_names(n_features), "data": X.tolist()}).encode()
    return Body(f"{n_rows:,} row(s) JSON", content, "application/json", n_rows)


def csv_body(n_rows: int, n_features: int, seed: int) -> Body:
    X, y = make_data(n_rows, n_features, seed)
    return Body(f"{n_rows:,} row(s) CSV", to_csv(X, y), "text/csv", n_rows)


def post_many(client: httpx.Client, url: str, body: Body, count: int) -> list[float]:
    headers = {"Content-Type": body.content_type}
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        client.post(url, content=body.content, headers=headers).raise_for_status()
        latencies.append(time.perf_counter() - start)
    return latencies


def check_predictions(client: httpx.Client, url: str, body: Body) -> None:
    """Warm the artifact cache and make sure the answer holds one prediction per row."""
    headers = {"Content-Type": body.content_type}
    answer = client.post(url, content=body.content, headers=headers).raise_for_status().json()
    if len(answer["predictions"]) != body.n_rows:
        raise RuntimeError(f"expected {body.n_rows} predictions, got {len(answer['predictions'])}")


def sequential(client: httpx.Client, url: str, body: Body, count: int) -> LatencyStats:
    check_predictions(client, url, body)
    start = time.perf_counter()
    latencies = post_many(client, url, body, count)
    wall_s = time.perf_counter() - start
    return LatencyStats(body.label, 1, count, body.n_rows, wall_s, latencies)


def concurrent(base_url: str, url: str, body: Body, threads: int, per_thread: int) -> LatencyStats:
    """`threads` keep-alive clients posting at once; wall time from a common start to the last answer."""
    barrier = threading.Barrier(threads + 1)

    def work() -> list[float]:
        with httpx.Client(base_url=base_url, timeout=60.0) as client:
            post_many(client, url, body, 1)  # open the connection before the clock starts
            barrier.wait()
            return post_many(client, url, body, per_thread)

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(work) for _ in range(threads)]
        barrier.wait()
        start = time.perf_counter()
        latencies = [lat for future in futures for lat in future.result()]
        wall_s = time.perf_counter() - start
    label = f"{body.label}, {threads} thr"
    return LatencyStats(label, threads, threads * per_thread, body.n_rows, wall_s, latencies)


def bench_predict(
    client: httpx.Client, base_url: str, model_id: str, n_features: int, args: argparse.Namespace
) -> list[LatencyStats]:
    url = f"/v1/models/{model_id}/predictions"
    one = json_body(1, n_features, seed=101)
    per_thread = max(1, args.single_requests // args.threads)
    return [
        sequential(client, url, one, args.single_requests),
        concurrent(base_url, url, one, args.threads, per_thread),
        sequential(client, url, json_body(args.big_rows, n_features, seed=102), args.big_requests),
        sequential(client, url, csv_body(args.big_rows, n_features, seed=102), args.big_requests),
    ]


# --- report ---------------------------------------------------------------------------------------


def git_state() -> dict[str, Any]:
    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    changed = git("status", "--porcelain").splitlines()
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(changed), "changed_files": changed}


def machine_info() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "versions": {
            "sparsefit": service.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__,
            "httpx": httpx.__version__,
        },
        "git": git_state(),
    }


def fit_table(fits: list[FitBench]) -> list[str]:
    lines = [
        f"{'fit':<6} {'rows x cols':>13} {'bare':>9} {'service':>9} {'overhead':>9} {'%':>7} "
        f"{'budget':>9}  goal",
    ]
    for fit in fits:
        s = fit.summary()
        lines.append(
            f"{fit.label:<6} {f'{fit.n_rows} x {fit.n_features}':>13} {s['bare_median_s']:>8.3f}s "
            f"{s['service_median_s']:>8.3f}s {s['overhead_s']:>8.3f}s {s['overhead_pct']:>6.1f}% "
            f"{s['budget_s']:>8.3f}s  {'met' if s['meets_goal'] else 'MISSED'}"
        )
    return lines


def phase_table(fits: list[FitBench]) -> list[str]:
    lines = [
        "service phases, medians (validate: POST until the job record exists; worker: running until "
        "finished; answer: finished until the client saw it):",
        f"{'fit':<6} {'POST':>8} {'validate':>9} {'queued':>8} {'worker':>8} {'answer':>8} "
        f"{'same alpha':>11}",
    ]
    for fit in fits:
        s = fit.summary()
        p = s["phase_medians_s"]
        lines.append(
            f"{fit.label:<6} {p['post_s']:>7.3f}s {p['validate_s']:>8.3f}s {p['queued_s']:>7.3f}s "
            f"{p['worker_s']:>7.3f}s {p['answer_s']:>7.3f}s {'yes' if s['same_alpha'] else 'NO':>11}"
        )
    return lines


def predict_table(stats: list[LatencyStats]) -> list[str]:
    lines = [f"{'request':<24} {'n':>5} {'median':>9} {'p95':>9} {'max':>9} {'req/s':>8} {'rows/s':>10}"]
    for item in stats:
        s = item.summary()
        lines.append(
            f"{item.label:<24} {item.requests:>5} {s['median_ms']:>7.1f}ms {s['p95_ms']:>7.1f}ms "
            f"{s['max_ms']:>7.1f}ms {s['requests_per_s']:>8.1f} {s['rows_per_s']:>10,.0f}"
        )
    return lines


def print_report(results: dict[str, Any], fits: list[FitBench], stats: list[LatencyStats]) -> None:
    machine = results["machine"]
    load = f"load {results['loadavg_start']} -> {results['loadavg_end']}"
    print(f"\nSparsefit service benchmark, {machine['cpu_count']} CPUs, {load}")
    if max(results["loadavg_start"][0], results["loadavg_end"][0]) > BUSY_LOAD:
        print("note: the machine was busy with other work (1-min load above 0.5); expect noise")
    if machine["git"]["dirty"]:
        print(f"note: uncommitted changes on top of {machine['git']['commit'][:12]} were measured")
    print(f"fit request: {json.dumps(JOB_OPTIONS)}; SPARSEFIT_WORKERS=1; medians of {len(fits[0].bare_s)}")
    print(f"goal: service - bare <= {GOAL_RELATIVE:.0%} of bare + {GOAL_ABSOLUTE_S * 1000:.0f} ms\n")
    print("\n".join(fit_table(fits)))
    for fit, case in zip(fits, CASES, strict=True):
        if not 0.5 <= fit.bare_median / case.target_s <= 2.0:
            print(f"note: the {fit.label} fit took {fit.bare_median * 1000:.0f} ms bare; calibration missed")
    print()
    print("\n".join(phase_table(fits)))
    print(f"\npredictions (model of the {fits[0].label} fit, {fits[0].n_features} features):")
    print("\n".join(predict_table(stats)))
    print(f"\nraw results: {results['path']}")


def write_results(results: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"service-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def results_header(args: argparse.Namespace, load_start: tuple[float, ...]) -> dict[str, Any]:
    """What every service-bench results file starts with: when, where, how loaded, what settings."""
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "machine": machine_info(),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "settings": {**vars(args), "job_options": JOB_OPTIONS, "workers": 1},
        "goal": {"relative": GOAL_RELATIVE, "absolute_s": GOAL_ABSOLUTE_S},
    }


def collect(
    args: argparse.Namespace, fits: list[FitBench], stats: list[LatencyStats], load_start: tuple[float, ...]
) -> dict[str, Any]:
    return {
        **results_header(args, load_start),
        "fits": [{**asdict(fit), **fit.summary()} for fit in fits],
        "predict": [{**asdict(item), **item.summary()} for item in stats],
    }


# --- wide uploads -----------------------------------------------------------------------------------

# Issue 10's goal: uploading a 2,000 x 20,000 CSV takes at most this many times pyarrow.csv.read_csv
# (default options) on the same bytes.
WIDE_UPLOAD_GOAL = 2.0


def wide_csv(n_rows: int, n_features: int, seed: int) -> bytes:
    """Standard normal features and target as '%.6g', header x1..xp,y (as the issue measured)."""
    values = np.random.default_rng(seed).standard_normal((n_rows, n_features + 1))
    out = io.BytesIO()
    header = ",".join([*feature_names(n_features), TARGET])
    np.savetxt(out, values, fmt="%.6g", delimiter=",", header=header, comments="")
    return out.getvalue()


def time_read_csv(body: bytes, one_block: bool = False) -> float:
    """pyarrow.csv.read_csv with its defaults, or with the whole body in one block (its best here)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    options = pacsv.ReadOptions(block_size=len(body) + 1) if one_block else None
    return timed(lambda: pacsv.read_csv(pa.BufferReader(body), read_options=options))


def post_csv(base_url: str, body: bytes) -> tuple[dict[str, Any], float]:
    """POST /v1/datasets with http.client, which sends the body in one write: httpx took 7.5 s to
    send these 350 MiB to a server that reads them in 0.4 s from http.client or curl."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=600)
    try:
        start = time.perf_counter()
        connection.request("POST", "/v1/datasets", body=body, headers={"Content-Type": "text/csv"})
        response = connection.getresponse()
        answer = response.read()
        seconds = time.perf_counter() - start
    finally:
        connection.close()
    if response.status != 201:
        raise RuntimeError(f"upload answered {response.status}: {answer[:500]!r}")
    dataset: dict[str, Any] = json.loads(answer)
    return dataset, seconds


def time_load_design(data_dir: Path, dataset: dict[str, Any]) -> float:
    spec = DesignSpec(target=TARGET, features=None, family="gaussian")
    return timed(lambda: worker.load_design(data_dir, dataset["id"], dataset["sha256"], spec))


def bench_wide_upload(n_rows: int, n_features: int, repeats: int, seed: int, workdir: Path) -> dict[str, Any]:
    """POST /v1/datasets of a wide CSV against pyarrow.csv.read_csv alone, and the worker's read back.

    read_csv runs in this process while the server idles, alternating with the uploads so that both
    see the same machine; medians are reported.
    """
    body = wide_csv(n_rows, n_features, seed)
    data_dir = workdir / "wide-data"
    limit = {"SPARSEFIT_MAX_BODY_BYTES": str(len(body) + 2**20)}
    read_csv_s, one_block_s, upload_s, load_design_s = [], [], [], []
    with running_server(data_dir, workdir / "wide-server.log", limit) as base_url:
        for _ in range(repeats):
            read_csv_s.append(time_read_csv(body))
            one_block_s.append(time_read_csv(body, one_block=True))
            dataset, seconds = post_csv(base_url, body)
            upload_s.append(seconds)
            with threadpool_limits(limits=1):
                load_design_s.append(time_load_design(data_dir, dataset))
    return {
        "rows": n_rows,
        "columns": n_features + 1,
        "bytes": len(body),
        "read_csv_s": read_csv_s,
        "read_csv_one_block_s": one_block_s,
        "upload_s": upload_s,
        "load_design_s": load_design_s,
        "ratio": statistics.median(upload_s) / statistics.median(read_csv_s),
        "ratio_one_block": statistics.median(upload_s) / statistics.median(one_block_s),
        "goal": WIDE_UPLOAD_GOAL,
    }


def print_wide_upload(result: dict[str, Any]) -> None:
    read_csv, up = statistics.median(result["read_csv_s"]), statistics.median(result["upload_s"])
    verdict = "meets" if result["ratio"] <= result["goal"] else "misses"
    print(
        f"\nwide CSV upload: {result['rows']} x {result['columns']} ({result['bytes'] / 2**20:.0f} MiB), "
        f"medians of {len(result['upload_s'])}"
    )
    print(f"  pyarrow.csv.read_csv alone {read_csv:8.2f} s   (defaults: 1 MiB blocks)")
    one_block = statistics.median(result["read_csv_one_block_s"])
    best = f"its best here; upload / this {result['ratio_one_block']:.2f}"
    print(f"  ... in one block           {one_block:8.2f} s   ({best})")
    goal = f"{verdict} <= {result['goal']:g}"
    print(f"  POST /v1/datasets          {up:8.2f} s   ratio {result['ratio']:.2f} ({goal})")
    print(f"  worker load_design         {statistics.median(result['load_design_s']):8.2f} s")


# --- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.service_bench", description=__doc__)
    parser.add_argument("--fit-repeats", type=int, default=7, help="timed fits per size (each side)")
    parser.add_argument("--single-requests", type=int, default=200, help="single-row predict requests")
    parser.add_argument("--big-requests", type=int, default=20, help="big predict requests")
    parser.add_argument("--big-rows", type=int, default=10_000, help="rows per big predict request")
    parser.add_argument("--threads", type=int, default=4, help="threads for concurrent single-row requests")
    parser.add_argument("--small-rows", type=int, default=None, help="skip calibration of the 50 ms fit")
    parser.add_argument("--large-rows", type=int, default=None, help="skip calibration of the 1 s fit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--wide-rows", type=int, default=2000, help="rows of the wide CSV upload")
    parser.add_argument("--wide-features", type=int, default=20_000, help="features of the wide CSV upload")
    parser.add_argument("--wide-repeats", type=int, default=3, help="wide uploads (0 skips them)")
    parser.add_argument("--only-wide-upload", action="store_true", help="run the wide upload case only")
    parser.add_argument(
        "--wide-fit-repeats",
        type=int,
        default=5,
        help="wide and sparse fit jobs (bench/service_wide.py; 0 skips)",
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace, workdir: Path) -> tuple[list[FitBench], list[LatencyStats]]:
    spec = engine_spec()
    bare_fit(*make_data(200, 10, args.seed), spec)  # warm the engine, as the forkserver is warm
    fixed = (args.small_rows, args.large_rows)
    prepared = []
    for case, rows in zip(CASES, fixed, strict=True):
        prepared.append(prepare_case(case, spec, rows, args.seed))
        print(
            f"{case.label} fit: {prepared[-1].n_rows} x {case.n_features} (calibration {prepared[-1].trials})"
        )
    data_dir = workdir / "data"
    with (
        running_server(data_dir, workdir / "server.log") as base_url,
        httpx.Client(base_url=base_url, timeout=120.0) as client,
    ):
        fits = [bench_fit(client, data_dir, p, args.fit_repeats) for p in prepared]
        stats = bench_predict(client, base_url, fits[0].service[-1].model_id, fits[0].n_features, args)
    return fits, stats


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.only_wide_upload:
        main_wide_upload(args)
        return
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sparsefit-bench-") as tmp:
        fits, stats = run(args, Path(tmp))
        wide = None
        if args.wide_repeats > 0:
            wide = bench_wide_upload(
                args.wide_rows, args.wide_features, args.wide_repeats, args.seed, Path(tmp)
            )
    results = collect(args, fits, stats, load_start)
    results["wide_upload"] = wide
    results["path"] = str(write_results(results))
    print_report(results, fits, stats)
    if wide is not None:
        print_wide_upload(wide)
    if args.wide_fit_repeats > 0:
        from bench import service_wide  # imports this module, so not at the top

        service_wide.main(["--repeats", str(args.wide_fit_repeats), "--seed", str(args.seed)])


def main_wide_upload(args: argparse.Namespace) -> None:
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sparsefit-bench-") as tmp:
        wide = bench_wide_upload(
            args.wide_rows, args.wide_features, max(args.wide_repeats, 1), args.seed, Path(tmp)
        )
    results = {
        "timestamp": datetime.now(UTC).isoformat(),
        "machine": machine_info(),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "wide_upload": wide,
    }
    results["path"] = str(write_results(results))
    print(f"load {results['loadavg_start']} -> {results['loadavg_end']}")
    print_wide_upload(wide)
    print(f"\nraw results: {results['path']}")


if __name__ == "__main__":
    main()
