"""Load test: concurrent async clients mix uploads, jobs, polls and predictions, then verify every object.

    .venv/bin/python -m bench.load [--clients 200] [--duration 60] [--base-url URL] [--api-keys t:k,...]

Without `--base-url` it starts `python -m service` on 127.0.0.1 (a free port, a temporary data dir,
two workers) and stops it at the end. It stops by itself: the load phase, then at most
`--drain` seconds waiting for accepted jobs, then a bounded verification. The users and the
/healthz prober are in bench/load_clients.py, the server in bench/load_server.py, what is counted
and the goals in bench/load_report.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from bench.load_attackers import AttackMix
from bench.load_clients import (
    FEATURES,
    FINISHED,
    REQUEST_TIMEOUT_S,
    RETRY_CAP_S,
    HealthProber,
    JobEntry,
    Ledger,
    LoadClient,
    Recorder,
    Tenant,
    http_pools,
    make_table,
    parse_tenants,
    to_parquet,
    watch_loop_lag,
)
from bench.load_report import LoadReport, format_report
from bench.load_server import REPO, local_server, problem_lines
from bench.load_wide import WIDE_FEATURES, make_wide_bodies

RESULTS_DIR = Path(__file__).resolve().parent / "results"
VERIFY_CONCURRENCY = 20
MISSING = "missing"  # the status the ledger gives an accepted job that later answered 404
VERIFY_BUDGET_S = 120.0
# Each user pauses uniformly in [0, 2 * think] between actions, as a script doing work between calls.
DEFAULT_THINK_S = 0.25


async def run_clients(users: list[LoadClient], duration_s: float, think_s: float) -> None:
    """Run every user until the deadline; a user stuck past every timeout is cancelled, not awaited."""
    deadline = time.monotonic() + duration_s
    tasks = [asyncio.create_task(user.run(deadline, think_s)) for user in users]
    _, stuck = await asyncio.wait(tasks, timeout=duration_s + REQUEST_TIMEOUT_S + RETRY_CAP_S + 5.0)
    for task in stuck:
        task.cancel()
    await asyncio.gather(*stuck, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]  # a bug in the load test itself


async def drain_jobs(http: httpx.AsyncClient, recorder: Recorder, ledger: Ledger, budget_s: float) -> None:
    """Wait (long-polling with ?wait=) until every accepted job finished, or the budget ran out."""
    deadline = time.monotonic() + budget_s
    gate = asyncio.Semaphore(VERIFY_CONCURRENCY)  # fewer than the pool has connections

    async def wait_one(job_id: str) -> None:
        async with gate:
            wait = min(30.0, deadline - time.monotonic())
            if wait < 1.0:
                return
            entry = ledger.jobs[job_id]
            response = await recorder.call(
                http, entry.tenant, "GET", f"/v1/jobs/{job_id}", "GET /v1/jobs/{id}",
                params={"wait": f"{wait:.0f}"}, timeout=wait + REQUEST_TIMEOUT_S,
            )  # fmt: skip
            if response is not None and response.status_code == 200:
                ledger.update_job(job_id, response.json())
            elif response is not None and response.status_code == 404:
                entry.status = MISSING  # an accepted job the service no longer knows: lost
            else:
                await asyncio.sleep(0.5)

    while time.monotonic() < deadline - 1.0:
        unfinished = [job_id for job_id, e in ledger.jobs.items() if e.status not in FINISHED | {MISSING}]
        if not unfinished:
            return
        await asyncio.gather(*(wait_one(job_id) for job_id in unfinished))


async def listed_ids(http: httpx.AsyncClient, recorder: Recorder, tenant: Tenant) -> set[str]:
    ids: set[str] = set()
    while True:
        params = {"limit": 1000, "offset": len(ids)}
        response = await recorder.call(http, tenant, "GET", "/v1/datasets", "GET /v1/datasets", params=params)
        if response is None or response.status_code != 200:
            return ids
        page = [item["id"] for item in response.json()["items"]]
        ids.update(page)
        if not page or len(ids) >= response.json()["total"]:
            return ids


async def verify_dataset(
    http: httpx.AsyncClient,
    recorder: Recorder,
    report: LoadReport,
    dataset_id: str,
    stored: tuple[Tenant, str],
) -> None:
    tenant, sha256 = stored
    response = await recorder.call(http, tenant, "GET", f"/v1/datasets/{dataset_id}", "GET /v1/datasets/{id}")
    if response is None or response.status_code != 200:
        report.objects.lose("dataset", dataset_id, f"GET answered {response and response.status_code}")
    elif response.json()["sha256"] != sha256:
        report.objects.lose("dataset", dataset_id, "sha256 differs from the upload's")
    else:
        report.objects.datasets_verified += 1


async def verify_model(
    http: httpx.AsyncClient, recorder: Recorder, report: LoadReport, model_id: str, entry: JobEntry
) -> None:
    """The model reads back whole (a coefficient per feature it was fitted on) and predicts."""
    tenant, features = entry.tenant, WIDE_FEATURES if entry.wide else FEATURES
    response = await recorder.call(http, tenant, "GET", f"/v1/models/{model_id}", "GET /v1/models/{id}")
    if response is None or response.status_code != 200:
        report.objects.lose("model", model_id, f"GET answered {response and response.status_code}")
        return
    if len(response.json()["coefficients"]) != len(features):
        report.objects.lose("model", model_id, f"{len(response.json()['coefficients'])} coefficients")
        return
    body = {"columns": features, "data": np.zeros((3, len(features))).tolist()}
    url, endpoint = f"/v1/models/{model_id}/predictions", "POST /v1/models/{id}/predictions"
    response = await recorder.call(http, tenant, "POST", url, endpoint, json=body)
    if response is None or response.status_code != 200 or len(response.json()["predictions"]) != 3:
        report.objects.lose("model", model_id, f"prediction answered {response and response.status_code}")
    else:
        report.objects.models_verified += 1
        report.objects.wide_models_verified += entry.wide


async def verify_objects(
    http: httpx.AsyncClient, recorder: Recorder, ledger: Ledger, report: LoadReport
) -> None:
    """Every dataset that answered 201 is listed and reads back with its sha256; every model predicts."""
    objects = report.objects
    objects.datasets_stored = len(ledger.datasets)
    listed: set[str] = set()
    for tenant in {tenant for tenant, _ in ledger.datasets.values()}:
        listed |= await listed_ids(http, recorder, tenant)
    checks: list[Callable[[], Awaitable[None]]] = []
    for dataset_id, stored in ledger.datasets.items():
        if dataset_id not in listed:
            objects.lose("dataset", dataset_id, "missing from GET /v1/datasets")
        else:
            checks.append(partial(verify_dataset, http, recorder, report, dataset_id, stored))
    for job_id, entry in ledger.jobs.items():
        if entry.status == MISSING:
            objects.lose("job", job_id, "an accepted job answered 404")
    succeeded = [(job_id, e) for job_id, e in ledger.jobs.items() if e.status == "succeeded"]
    objects.models_stored = len(succeeded)
    objects.wide_models_stored = sum(entry.wide for _, entry in succeeded)
    for job_id, entry in succeeded:
        if entry.model_id is None:
            objects.lose("model", job_id, "a succeeded job without model_id")
        else:
            checks.append(partial(verify_model, http, recorder, report, entry.model_id, entry))
    for _ in range(await bounded(checks, VERIFY_BUDGET_S)):
        objects.lose("object", "-", f"not verified within {VERIFY_BUDGET_S:g} s")


async def bounded(checks: list[Callable[[], Awaitable[None]]], budget_s: float) -> int:
    """Run the checks a few at a time; returns how many did not finish within the budget."""
    gate = asyncio.Semaphore(VERIFY_CONCURRENCY)

    async def gated(check: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await check()

    tasks = [asyncio.create_task(gated(check)) for check in checks]
    if not tasks:
        return 0
    _, late = await asyncio.wait(tasks, timeout=budget_s)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    return len(late)


async def check_tenancy(
    http: httpx.AsyncClient, recorder: Recorder, ledger: Ledger, tenants: list[Tenant], report: LoadReport
) -> None:
    """With keys: no key gets 401, and a few objects of each tenant answer 404 to another tenant."""
    check = report.tenancy
    check.tenants, check.keyed = [t.name for t in tenants], any(t.key for t in tenants)
    if not check.keyed:
        return
    nobody = Tenant("anonymous", None)
    response = await recorder.call(http, nobody, "GET", "/v1/datasets", "GET /v1/datasets (no key)")
    check.anonymous_status = response.status_code if response is not None else 0
    if len(tenants) < 2:
        return
    owned = [("datasets", i, owner) for i, (owner, _) in list(ledger.datasets.items())[:10]]
    owned += [("models", e.model_id, e.tenant) for e in ledger.jobs.values() if e.model_id][:10]
    for resource, object_id, owner in owned:
        other = next(t for t in tenants if t.name != owner.name)
        endpoint = f"GET /v1/{resource}/{{id}} (other tenant)"
        response = await recorder.call(http, other, "GET", f"/v1/{resource}/{object_id}", endpoint)
        check.cross_checked += 1
        check.leaks += response is None or response.status_code != 404


def tally_jobs(ledger: Ledger, report: LoadReport) -> None:
    jobs = report.jobs
    jobs.accepted = len(ledger.jobs)
    for entry in ledger.jobs.values():
        jobs.wide_accepted += entry.wide
        if entry.status == "succeeded":
            jobs.succeeded += 1
            jobs.wide_succeeded += entry.wide
        elif entry.status == "failed":
            jobs.failed += 1
            kind = entry.error_type or "(no type)"
            jobs.failure_types[kind] = jobs.failure_types.get(kind, 0) + 1
        elif entry.status == "canceled":
            jobs.canceled += 1
        else:
            jobs.unfinished += 1


async def run_load(
    base_url: str,
    clients: int,
    duration_s: float,
    api_keys: str | None = None,
    *,
    think_s: float = DEFAULT_THINK_S,
    drain_s: float = 120.0,
    attackers: int = 0,
) -> LoadReport:
    """The whole test against a running server: load, drain the jobs, verify, check tenancy.

    ``attackers`` connections (bench/load_attackers.py) send oversized bodies without a key and huge
    headers through the load phase, beside the users.
    """
    tenants = parse_tenants(api_keys)
    report = LoadReport(base_url, clients, duration_s, think_s, started_at=datetime.now(UTC).isoformat())
    recorder, ledger = Recorder(), Ledger()
    to_parquet(*make_table(np.random.default_rng(0)))  # pyarrow's lazy imports, before the clock runs
    wide = make_wide_bodies()
    pools = http_pools(base_url, clients)
    try:
        users = [
            LoadClient(i, tenants[i % len(tenants)], pools[i % len(pools)], recorder, ledger, wide)
            for i in range(clients)
        ]
        with HealthProber(base_url, recorder) as prober:
            with AttackMix(base_url, attackers, recorder) as attacks:
                await load_phase(users, report, recorder)
            report.attacks = attacks.samples
            started = time.monotonic()
            await drain_jobs(pools[0], recorder, ledger, drain_s)
            report.drain_s = time.monotonic() - started
        report.health = prober.samples
        recorder.phase, started = "verify", time.monotonic()
        await verify_objects(pools[0], recorder, ledger, report)
        recorder.phase, report.verify_s = "tenancy", time.monotonic() - started
        await check_tenancy(pools[0], recorder, ledger, tenants, report)
    finally:
        await asyncio.gather(*(pool.aclose() for pool in pools))
    tally_jobs(ledger, report)
    report.samples, report.bad_answers = recorder.samples, recorder.bad_answers
    return report


async def load_phase(users: list[LoadClient], report: LoadReport, recorder: Recorder) -> None:
    """The users run for the duration while the loop-lag watch measures beside them."""
    stop = asyncio.Event()
    lag_watch = asyncio.create_task(watch_loop_lag(report.loop_lag_s, stop))
    before = await server_loop_lag(users[0].http)
    recorder.t0 = time.monotonic()
    recorder.phase = "load"
    try:
        await run_clients(users, report.duration_s, report.think_s)
        after = await server_loop_lag(users[0].http)
        report.server_loop_lag = {b: after[b] - before.get(b, 0.0) for b in after}
    finally:
        report.load_wall_s = time.monotonic() - recorder.t0
        recorder.phase = "drain"
        stop.set()
        await lag_watch


async def server_loop_lag(http: httpx.AsyncClient) -> dict[float, float]:
    """Observations per bucket (not cumulative) of the server's sparsefit_event_loop_lag_seconds."""
    response = await http.get("/metrics")
    cumulative = {
        float(sample.labels["le"]): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "sparsefit_event_loop_lag_seconds_bucket"
    }
    bounds, previous, buckets = sorted(cumulative), 0.0, {}
    for bound in bounds:
        buckets[bound], previous = cumulative[bound] - previous, cumulative[bound]
    return buckets


# --- command line ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--base-url", help="an already running server (default: start one on 127.0.0.1)")
    parser.add_argument("--api-keys", help="tenant:key,... (also given to the server this starts)")
    parser.add_argument("--think", type=float, default=DEFAULT_THINK_S, help="mean pause between actions")
    parser.add_argument("--drain", type=float, default=120.0, help="bound on waiting for accepted jobs")
    parser.add_argument("--workers", type=int, default=2, help="SPARSEFIT_WORKERS of the started server")
    parser.add_argument(
        "--attackers", type=int, default=3, help="connections attacking beside the users (0: none)"
    )
    return parser.parse_args(argv)


def write_results(report: LoadReport, stamp: str, extra: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"load-{stamp}.json"
    scratch = path.with_suffix(".json.tmp")
    scratch.write_text(json.dumps({**report.to_json(), **extra}, indent=2, default=str) + "\n")
    scratch.replace(path)
    return path


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the server


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    extra: dict[str, Any] = {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}
    options = {"think_s": args.think, "drain_s": args.drain, "attackers": args.attackers}
    if args.base_url:
        report = asyncio.run(run_load(args.base_url, args.clients, args.duration, args.api_keys, **options))
    else:
        with local_server(args.api_keys, args.workers) as server:
            report = asyncio.run(
                run_load(server.base_url, args.clients, args.duration, args.api_keys, **options)
            )
            server.stop()  # the shutdown's own log lines belong to the evidence
            report.server_log = problem_lines(server.log())
        extra["server_workers"] = args.workers
    extra["loadavg_end"] = os.getloadavg()
    print(format_report(report))
    print(f"raw results: {write_results(report, stamp, extra).relative_to(REPO)}")
    return 0 if report.passed(timing=True) else 1


if __name__ == "__main__":
    sys.exit(main())
