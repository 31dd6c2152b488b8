"""The load test's simulated users, what they learn about the service, and the /healthz prober."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import math
import multiprocessing
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as EventType
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.load_report import Sample
from bench.load_wide import (
    WIDE_FEATURES,
    WIDE_JOB,
    WIDE_JOB_SHARE,
    WIDE_UPLOAD_SHARE,
    WideBodies,
    wide_upload_request,
)

if importlib.util.find_spec("sniffio") is None:
    # httpcore tries `import sniffio` on every request; without sniffio installed each failed
    # attempt scans sys.path (a sixth of this client's CPU at 200 users). None fails it at once.
    sys.modules["sniffio"] = None  # type: ignore[assignment]

FEATURES = [f"x{j}" for j in range(8)]
BETA = np.array([1.5, -2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.5])
N_ROWS = 200
JOB = {"target": "y", "family": "gaussian", "penalty": "lasso", "cv": {"folds": 3}, "path": {"n_alphas": 20}}
FINISHED = {"succeeded", "failed", "canceled"}
ACTIONS = ("upload", "submit", "poll", "predict", "browse", "health")
ACTION_WEIGHTS = (0.12, 0.18, 0.25, 0.25, 0.10, 0.10)
UPLOADS = ("csv", "parquet", "multipart-csv", "multipart-parquet")
UPLOAD_WEIGHTS = (0.6, 0.15, 0.15, 0.1)
# httpcore scans every connection of its pool on each request: small pools keep that cheap.
CLIENTS_PER_POOL = 10
SPARE_CONNECTIONS = 20  # per pool, for the drain and the verification after the load
MAX_PENDING_JOBS = 5  # a client polls rather than submits while it has this many unfinished jobs
RETRY_CAP_S = 1.0  # honour Retry-After a little: sleep up to this long, not the full 5 s
REQUEST_TIMEOUT_S = 30.0
HEALTH_INTERVAL_S = 0.05


@dataclass(frozen=True)
class Tenant:
    name: str
    key: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}


def parse_tenants(api_keys: str | None) -> list[Tenant]:
    if not api_keys:
        return [Tenant("default", None)]
    pairs = [item.strip().split(":", 1) for item in api_keys.split(",") if item.strip()]
    return [Tenant(name, key) for name, key in pairs]


@dataclass
class JobEntry:
    tenant: Tenant
    status: str = "queued"
    model_id: str | None = None
    error_type: str | None = None
    wide: bool = False  # fitted on a wide dataset (bench/load_wide.py)


@dataclass
class Ledger:
    """What the service told us it stored: the truth the verification checks against."""

    datasets: dict[str, tuple[Tenant, str]] = field(default_factory=dict)
    jobs: dict[str, JobEntry] = field(default_factory=dict)
    models: dict[str, list[str]] = field(default_factory=dict)
    wide_models: set[str] = field(default_factory=set)

    def features(self, model_id: str) -> list[str]:
        """The columns a model was fitted on, which its prediction bodies must carry."""
        return WIDE_FEATURES if model_id in self.wide_models else FEATURES

    def update_job(self, job_id: str, body: dict[str, Any]) -> JobEntry:
        entry = self.jobs[job_id]
        first_success = body["status"] == "succeeded" and entry.status != "succeeded"
        entry.status, entry.model_id = body["status"], body.get("model_id")
        entry.error_type = (body.get("error") or {}).get("type")
        if first_success and entry.model_id:
            self.models.setdefault(entry.tenant.name, []).append(entry.model_id)
            if entry.wide:
                self.wide_models.add(entry.model_id)
        return entry


def problem_type(response: httpx.Response) -> str | None:
    if response.status_code < 400 or "json" not in response.headers.get("content-type", ""):
        return None
    with contextlib.suppress(ValueError, AttributeError):
        return str(response.json().get("type"))
    return None


class Recorder:
    """Times and records every request; a transport error is a sample with status 0, not an exception."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.samples: list[Sample] = []
        self.bad_answers: list[str] = []
        self._marks: list[tuple[float, str]] = [(-math.inf, "setup")]

    @property
    def phase(self) -> str:
        return self._marks[-1][1]

    @phase.setter
    def phase(self, name: str) -> None:
        self._marks.append((time.monotonic(), name))

    def phase_at(self, moment: float) -> str:
        return next(name for start, name in reversed(self._marks) if start <= moment)

    def add(self, endpoint: str, status: int, started: float, variant: str, problem: str | None) -> Sample:
        now = time.monotonic()
        sample = Sample(endpoint, status, now - started, started - self.t0, self.phase, variant, problem)
        self.samples.append(sample)
        return sample

    async def call(
        self, http: httpx.AsyncClient, tenant: Tenant, method: str, url: str, endpoint: str, **kwargs: Any
    ) -> httpx.Response | None:
        variant = kwargs.pop("variant", "")
        headers = {**tenant.headers, **kwargs.pop("headers", {})}
        started = time.monotonic()
        try:
            response = await http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            self.add(endpoint, 0, started, variant, type(error).__name__)
            return None
        self.add(endpoint, response.status_code, started, variant, problem_type(response))
        return response


def make_table(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    X = rng.standard_normal((N_ROWS, len(FEATURES)))
    return X, X @ BETA + rng.standard_normal(N_ROWS)


def to_csv(X: np.ndarray, y: np.ndarray | None = None, features: list[str] = FEATURES) -> bytes:
    columns = features if y is None else [*features, "y"]
    values = X if y is None else np.column_stack([X, y])
    buffer = io.StringIO()
    np.savetxt(buffer, values, fmt="%.6g", delimiter=",", header=",".join(columns), comments="")
    return buffer.getvalue().encode()


def to_parquet(X: np.ndarray, y: np.ndarray) -> bytes:
    table = pa.table({**{name: X[:, j] for j, name in enumerate(FEATURES)}, "y": y})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def upload_request(variant: str, X: np.ndarray, y: np.ndarray, name: str) -> dict[str, Any]:
    """The keyword arguments of one upload: raw CSV or Parquet body, or a multipart file."""
    if variant == "csv":
        return {"content": to_csv(X, y), "params": {"name": name}, "headers": {"Content-Type": "text/csv"}}
    if variant == "parquet":
        headers = {"Content-Type": "application/vnd.apache.parquet"}
        return {"content": to_parquet(X, y), "params": {"name": name}, "headers": headers}
    if variant == "multipart-csv":
        return {"files": {"file": (f"{name}.csv", to_csv(X, y), "text/csv")}, "data": {"name": name}}
    body = to_parquet(X, y)
    return {"files": {"file": (f"{name}.parquet", body, "application/vnd.apache.parquet")}}


def is_backpressure(response: httpx.Response | None) -> bool:
    return response is not None and response.status_code in (429, 503)


def retry_after(response: httpx.Response) -> float:
    with contextlib.suppress(ValueError):
        return float(response.headers.get("Retry-After", "1"))
    return 1.0


class LoadClient:
    """One simulated user: loops over weighted actions on its own datasets and jobs until the deadline."""

    def __init__(
        self,
        index: int,
        tenant: Tenant,
        http: httpx.AsyncClient,
        recorder: Recorder,
        ledger: Ledger,
        wide: WideBodies | None = None,
    ) -> None:
        self.index, self.tenant, self.http = index, tenant, http
        self.recorder, self.ledger = recorder, ledger
        self.rng = np.random.default_rng([0, index])
        self.wide = wide
        self.datasets: list[str] = []
        self.wide_datasets: list[str] = []
        self.pending: list[str] = []
        self.done: list[str] = []

    async def run(self, deadline: float, think_s: float) -> None:
        while time.monotonic() < deadline:
            await self.choose()()
            if think_s > 0:
                await asyncio.sleep(self.rng.uniform(0.0, 2.0 * think_s))

    def choose(self) -> Callable[[], Awaitable[None]]:
        action = ACTIONS[self.rng.choice(len(ACTIONS), p=ACTION_WEIGHTS)]
        if not self.datasets and not self.wide_datasets:
            return self.upload
        if action == "submit" and len(self.pending) >= MAX_PENDING_JOBS:
            return self.poll
        if action in ("poll", "predict") and not self.pending and not self.done:
            return self.submit
        if action == "predict" and not self.ledger.models.get(self.tenant.name):
            return self.poll
        actions: dict[str, Callable[[], Awaitable[None]]] = {
            "upload": self.upload,
            "submit": self.submit,
            "poll": self.poll,
            "predict": self.predict,
            "browse": self.browse,
            "health": self.health,
        }
        return actions[action]

    async def call(self, method: str, url: str, endpoint: str, **kwargs: Any) -> httpx.Response | None:
        response = await self.recorder.call(self.http, self.tenant, method, url, endpoint, **kwargs)
        if response is None:
            await asyncio.sleep(0.5)  # the server did not answer: do not hammer it
        elif is_backpressure(response):
            await asyncio.sleep(min(retry_after(response), RETRY_CAP_S) * self.rng.uniform(0.5, 1.0))
        return response

    async def upload(self) -> None:
        name = f"load-{self.index}-{len(self.datasets) + len(self.wide_datasets)}"
        wide = self.wide is not None and self.rng.random() < WIDE_UPLOAD_SHARE
        if self.wide is not None and wide:
            variant, request = wide_upload_request(self.wide, self.rng, name)
        else:
            variant = UPLOADS[self.rng.choice(len(UPLOADS), p=UPLOAD_WEIGHTS)]
            request = upload_request(variant, *make_table(self.rng), name)
        response = await self.call("POST", "/v1/datasets", "POST /v1/datasets", variant=variant, **request)
        if response is not None and response.status_code == 201:
            body = response.json()
            (self.wide_datasets if wide else self.datasets).append(body["id"])
            self.ledger.datasets[body["id"]] = (self.tenant, body["sha256"])

    async def submit(self) -> None:
        wide = bool(self.wide_datasets) and (not self.datasets or self.rng.random() < WIDE_JOB_SHARE)
        datasets = self.wide_datasets if wide else self.datasets
        dataset_id = datasets[self.rng.integers(len(datasets))]
        body = {**(WIDE_JOB if wide else JOB), "dataset_id": dataset_id, "name": f"load-{self.index}"}
        variant = "wide" if wide else ""
        response = await self.call("POST", "/v1/jobs", "POST /v1/jobs", json=body, variant=variant)
        if response is not None and response.status_code == 202:
            job_id = response.json()["id"]
            self.ledger.jobs[job_id] = JobEntry(self.tenant, wide=wide)
            self.pending.append(job_id)

    async def poll(self) -> None:
        jobs = self.pending or self.done
        job_id = jobs[self.rng.integers(len(jobs))]
        response = await self.call("GET", f"/v1/jobs/{job_id}", "GET /v1/jobs/{id}")
        if response is None or response.status_code != 200:
            return
        entry = self.ledger.update_job(job_id, response.json())
        if entry.status in FINISHED and job_id in self.pending:
            self.pending.remove(job_id)
            self.done.append(job_id)

    async def predict(self) -> None:
        models = self.ledger.models[self.tenant.name]
        model_id = models[self.rng.integers(len(models))]
        features = self.ledger.features(model_id)
        wide = "wide-" if features is WIDE_FEATURES else ""
        X = self.rng.standard_normal((5, len(features)))
        if self.rng.random() < 0.75:
            body = {"columns": features, "data": X.tolist()}
            request: dict[str, Any] = {"json": body, "variant": f"{wide}json"}
        else:
            csv, headers = to_csv(X, features=features), {"Content-Type": "text/csv"}
            request = {"content": csv, "headers": headers, "variant": f"{wide}csv"}
        url, endpoint = f"/v1/models/{model_id}/predictions", "POST /v1/models/{id}/predictions"
        response = await self.call("POST", url, endpoint, **request)
        if response is not None and response.status_code == 200:
            got = len(response.json().get("predictions", []))
            if got != len(X):
                self.recorder.bad_answers.append(f"model {model_id}: {got} predictions for {len(X)} rows")

    async def browse(self) -> None:
        resource = ("datasets", "jobs", "models")[self.rng.integers(3)]
        await self.call("GET", f"/v1/{resource}", f"GET /v1/{resource}", params={"limit": 20})

    async def health(self) -> None:
        await self.call("GET", "/healthz", "GET /healthz")


def probe_health(base_url: str, stop: EventType, conn: Connection) -> None:
    """The prober process: GET /healthz every 50 ms until told to stop, then send every timing back."""
    timings: list[tuple[float, float, int, str | None]] = []
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status, problem = http.get("/healthz").status_code, None
            except httpx.HTTPError as error:
                status, problem = 0, type(error).__name__
            finished = time.monotonic()
            timings.append((started, finished - started, status, problem))
            stop.wait(max(0.0, HEALTH_INTERVAL_S - (finished - started)))
    conn.send(timings)
    conn.close()


class HealthProber:
    """/healthz latency from a process of its own: the 200 users' event loop and GIL add nothing to it.

    The monotonic clock is system-wide on Linux, so the prober's timestamps line up with the phases.
    """

    def __init__(self, base_url: str, recorder: Recorder) -> None:
        self.recorder = recorder
        self.samples: list[Sample] = []
        context = multiprocessing.get_context("spawn")  # no fork of a process running an event loop
        self._stop = context.Event()
        self._receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(target=probe_health, args=(base_url, self._stop, sender), daemon=True)
        self._sender = sender

    def __enter__(self) -> HealthProber:
        self._process.start()
        self._sender.close()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        timings: list[tuple[float, float, int, str | None]] = []
        with contextlib.suppress(EOFError, OSError):
            if self._receiver.poll(REQUEST_TIMEOUT_S):
                timings = self._receiver.recv()
        self._process.join(timeout=5.0)
        if self._process.is_alive():
            self._process.kill()
        for started, latency, status, problem in timings:
            at_s, phase = started - self.recorder.t0, self.recorder.phase_at(started)
            self.samples.append(
                Sample("GET /healthz (prober)", status, latency, at_s, phase, problem=problem)
            )


async def watch_loop_lag(lags: list[float], stop: asyncio.Event) -> None:
    """How late the load generator's own loop wakes up: its share of the latencies it reports."""
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(HEALTH_INTERVAL_S)
        lags.append(max(0.0, time.monotonic() - started - HEALTH_INTERVAL_S))


def http_pools(base_url: str, clients: int) -> list[httpx.AsyncClient]:
    """Shared clients, one per CLIENTS_PER_POOL users, each with a connection per user and a few spare."""
    n_pools = max(1, math.ceil(clients / CLIENTS_PER_POOL))
    size = math.ceil(clients / n_pools) + SPARE_CONNECTIONS
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=10.0)
    return [httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) for _ in range(n_pools)]
