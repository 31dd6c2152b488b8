"""Wide and sparse fit jobs: POST /v1/jobs to `succeeded` vs the bare engine call, and where the rest goes.

    .venv/bin/python -m bench.service_wide [--repeats 5] [--dense 500x5000] [--sparse 5000x20000@0.005]

Issue 10, point 5: for a wide job, POST to `succeeded` is within 1.1 x the bare engine call + 50 ms.
The bare call is `fit_model` on the design the worker builds from the stored dataset, in this
process, with one BLAS thread and the server's `cv_processes`. To say where the rest goes, each
case then runs the same job in job processes of our own, forked by the real WorkerPool, that
time their steps (bench/job_steps.py). The server runs one worker; the machine's load is printed.
`python -m bench.service_bench` (so `make bench`) runs these cases at its end (`--wide-fit-repeats`).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from bench.job_steps import profile_jobs
from bench.service_bench import (
    GOAL_ABSOLUTE_S,
    GOAL_RELATIVE,
    JOB_OPTIONS,
    RESULTS_DIR,
    TARGET,
    ServiceRun,
    feature_names,
    job_request,
    results_header,
    running_server,
    service_fit,
)
from service.api.job_specs import design_spec, fit_spec
from service.api.schemas import JobCreate
from service.config import Settings
from service.data.design import Design
from service.modeling import FitOutcome, FitSpec, fit_model
from service.store import new_id
from service.worker import design as worker
from service.worker.kinds.fit import FitTask

N_INFORMATIVE = 10
# A pause before each timed run, bare or service: the previous run's processes (a job's, its CV
# folds', the bare fit's) free their memory as they exit, and a run started during that paid for it
# (30-130 ms more per service job, measured). Each side is timed on a settled machine.
SETTLE_S = 1.0


@dataclass(frozen=True)
class WideCase:
    """A table to fit: dense when ``density`` is None, else a random sparse matrix of that density."""

    label: str
    n_rows: int
    n_features: int
    density: float | None = None


@dataclass
class WideBench:
    """Bare and service times of one case, the job's steps as its process timed them, or why skipped."""

    case: WideCase
    bare_s: list[float] = field(default_factory=list)
    service: list[ServiceRun] = field(default_factory=list)
    steps_s: dict[str, list[float]] = field(default_factory=dict)
    result_bytes: int = 0
    upload_s: float = 0.0
    alpha_bare: float = float("nan")
    alpha_service: float = float("nan")
    skipped: str | None = None

    def summary(self) -> dict[str, Any]:
        if self.skipped:
            return {"skipped": self.skipped}
        bare = statistics.median(self.bare_s)
        total = statistics.median(run.total_s for run in self.service)
        phases = ("post_s", "validate_s", "queued_s", "worker_s", "answer_s")
        return {
            "bare_median_s": bare,
            "service_median_s": total,
            "ratio": total / bare,
            "overhead_s": total - bare,
            "budget_s": GOAL_RELATIVE * bare + GOAL_ABSOLUTE_S,
            "meets_goal": total <= (1.0 + GOAL_RELATIVE) * bare + GOAL_ABSOLUTE_S,
            "same_alpha": bool(np.isclose(self.alpha_bare, self.alpha_service, rtol=1e-9, atol=0.0)),
            "phase_medians_s": {p: statistics.median(getattr(r, p) for r in self.service) for p in phases},
            "step_medians_s": {name: statistics.median(values) for name, values in self.steps_s.items()},
        }


# --- data and uploads -----------------------------------------------------------------------------


def make_case_data(case: WideCase, seed: int) -> tuple[np.ndarray | sp.csr_array, np.ndarray]:
    """Standard normal entries (all, or the nonzeros), a signal on the first columns, unit noise."""
    rng = np.random.default_rng(seed)
    if case.density is None:
        X: np.ndarray | sp.csr_array = rng.standard_normal((case.n_rows, case.n_features))
    else:
        shape = (case.n_rows, case.n_features)
        X = sp.random_array(
            shape, density=case.density, format="csr", rng=rng, data_sampler=rng.standard_normal
        )
    beta = np.zeros(case.n_features)
    beta[:N_INFORMATIVE] = rng.uniform(0.5, 2.0, N_INFORMATIVE) * rng.choice([-1.0, 1.0], N_INFORMATIVE)
    y = X @ beta
    return X, y + np.std(y) * rng.standard_normal(case.n_rows)


def parquet_body(X: np.ndarray, y: np.ndarray) -> bytes:
    names = feature_names(X.shape[1])
    table = pa.table({**{name: X[:, j] for j, name in enumerate(names)}, TARGET: y})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def csr_body(X: sp.csr_array, y: np.ndarray, name: str) -> bytes:
    """API.md's JSON CSR upload: the target is one more (dense) column of the sparse matrix."""
    matrix = sp.csr_array(sp.hstack([X, sp.csr_array(y[:, None])], format="csr"))
    sparse = {
        "shape": list(matrix.shape),
        "indptr": matrix.indptr.tolist(),
        "indices": matrix.indices.tolist(),
        "data": matrix.data.tolist(),
    }
    return json.dumps(
        {"name": name, "columns": [*feature_names(X.shape[1]), TARGET], "sparse": sparse}
    ).encode()


def upload_case(client: httpx.Client, case: WideCase, seed: int) -> tuple[dict[str, Any] | None, float]:
    """Upload the case's table (Parquet, or JSON CSR); None when the server does not take sparse JSON."""
    X, y = make_case_data(case, seed)
    if isinstance(X, np.ndarray):
        body, content_type = parquet_body(X, y), "application/vnd.apache.parquet"
    else:
        body, content_type = csr_body(X, y, f"bench-{case.label}"), "application/json"
    start = time.perf_counter()
    response = client.post("/v1/datasets", content=body, headers={"Content-Type": content_type})
    seconds = time.perf_counter() - start
    if response.status_code in (415, 422) and case.density is not None:
        return None, seconds
    response.raise_for_status()
    return response.json(), seconds


# --- the bare engine and one case ---------------------------------------------------------------


def bare_fit(design: Design, spec: FitSpec, cv_processes: int) -> tuple[float, FitOutcome]:
    """fit_model exactly as kinds.fit.execute calls it, without the checkpoint: seconds and outcome."""
    with threadpool_limits(limits=1):
        start = time.perf_counter()
        outcome = fit_model(
            design.X,
            design.y,
            spec,
            sample_weight=design.sample_weight,
            fold_ids=design.fold_ids,
            n_classes=None if design.classes is None else len(design.classes),
            cv_processes=cv_processes,
        )
        return time.perf_counter() - start, outcome


def job_task(data_dir: Path, dataset: dict[str, Any], job: JobCreate, cv_processes: int) -> FitTask:
    """The FitTask the API would queue for ``job`` (POST /v1/jobs builds it the same way)."""
    return FitTask(
        job_id=new_id(),
        model_id=new_id(),
        data_dir=data_dir,
        dataset_id=dataset["id"],
        dataset_sha256=dataset["sha256"],
        design=design_spec(job),
        fit=fit_spec(job),
        penalty=str(job.penalty),
        cv_processes=cv_processes,
    )


def bench_case(client: httpx.Client, data_dir: Path, case: WideCase, repeats: int, seed: int) -> WideBench:
    """Upload; warm each side once; alternate a bare fit and a job through the server; then time
    the job's steps in job processes of our own (one warm-up, then ``repeats``)."""
    bench = WideBench(case)
    dataset, bench.upload_s = upload_case(client, case, seed)
    if dataset is None:
        bench.skipped = "the server does not accept the JSON CSR upload (API.md, Sparse tables)"
        return bench
    job = JobCreate.model_validate(job_request(dataset["id"]))
    cv_processes = Settings().cv_processes  # what the server, started with the same environment, uses
    design = worker.load_design(data_dir, dataset["id"], dataset["sha256"], design_spec(job))
    spec = worker.design_fit_spec(fit_spec(job), design)
    _, outcome = bare_fit(design, spec, cv_processes)
    service_fit(client, dataset["id"])
    for _ in range(repeats):
        time.sleep(SETTLE_S)
        bench.bare_s.append(bare_fit(design, spec, cv_processes)[0])
        time.sleep(SETTLE_S)
        bench.service.append(service_fit(client, dataset["id"]))
    reports = profile_jobs([job_task(data_dir, dataset, job, cv_processes) for _ in range(repeats + 1)])
    for report in reports[1:]:
        for name, seconds in report["steps"].items():
            bench.steps_s.setdefault(name, []).append(seconds)
    bench.result_bytes = reports[-1]["result_bytes"]
    bench.alpha_bare = outcome.alpha
    model = client.get(f"/v1/models/{bench.service[-1].model_id}").raise_for_status().json()
    bench.alpha_service = float(model["alpha"])
    return bench


# --- report --------------------------------------------------------------------------------------


def report_lines(benches: list[WideBench]) -> list[str]:
    goal = f"service <= {1 + GOAL_RELATIVE:g} x bare + {GOAL_ABSOLUTE_S * 1000:.0f} ms"
    lines = [f"wide and sparse fit jobs ({json.dumps(JOB_OPTIONS)}); goal: {goal}"]
    lines.append(
        f"{'case':<8} {'rows x cols':>14} {'density':>8} {'bare':>8} {'service':>8} {'ratio':>6} "
        f"{'overhead':>9} {'budget':>8}  goal"
    )
    for bench in benches:
        case, s = bench.case, bench.summary()
        shape = f"{case.n_rows} x {case.n_features}"
        density = "dense" if case.density is None else f"{case.density:g}"
        if bench.skipped:
            lines.append(f"{case.label:<8} {shape:>14} {density:>8}  SKIPPED: {bench.skipped}")
            continue
        lines.append(
            f"{case.label:<8} {shape:>14} {density:>8} {s['bare_median_s']:>7.3f}s "
            f"{s['service_median_s']:>7.3f}s {s['ratio']:>6.3f} {s['overhead_s']:>8.3f}s "
            f"{s['budget_s']:>7.3f}s  {'met' if s['meets_goal'] else 'MISSED'}"
            f"{'' if s['same_alpha'] else ' (alphas differ!)'}"
        )
    for bench in benches:
        if not bench.skipped:
            lines += profile_lines(bench)
    return lines


def profile_lines(bench: WideBench) -> list[str]:
    s = bench.summary()
    phases = ", ".join(f"{k.removesuffix('_s')} {v * 1000:.0f}" for k, v in s["phase_medians_s"].items())
    steps = ", ".join(f"{k} {v * 1000:.0f}" for k, v in s["step_medians_s"].items())
    return [
        f"{bench.case.label}: service phases (ms, job timestamps): {phases}",
        f"{bench.case.label}: steps in a job process (ms): {steps}; result message "
        f"{bench.result_bytes / 2**20:.2f} MiB; upload {bench.upload_s:.2f} s",
    ]


def write_results(benches: list[WideBench], args: argparse.Namespace, load_start: tuple[float, ...]) -> Path:
    document = {
        **results_header(args, load_start),
        "cases": [{**asdict(bench), **bench.summary()} for bench in benches],
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"service-wide-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


# --- main ----------------------------------------------------------------------------------------


def parse_case(label: str, text: str) -> WideCase:
    """'500x5000' (dense) or '5000x20000@0.005' (sparse, that density)."""
    shape, _, density = text.partition("@")
    rows, cols = (int(part) for part in shape.lower().split("x"))
    return WideCase(label, rows, cols, float(density) if density else None)


def run_cases(cases: list[WideCase], repeats: int, seed: int) -> list[WideBench]:
    with tempfile.TemporaryDirectory(prefix="sparsefit-wide-") as tmp:
        workdir = Path(tmp)
        data_dir = workdir / "data"
        with (
            running_server(data_dir, workdir / "server.log") as base_url,
            httpx.Client(base_url=base_url, timeout=600.0) as client,
        ):
            return [bench_case(client, data_dir, case, repeats, seed) for case in cases]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.service_wide", description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (each side)")
    parser.add_argument("--dense", default="500x5000", help="rows x columns of the dense case")
    parser.add_argument("--sparse", default="5000x20000@0.005", help="rows x columns @ density")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    cases = [parse_case("dense", args.dense), parse_case("sparse", args.sparse)]
    benches = run_cases(cases, args.repeats, args.seed)
    path = write_results(benches, args, load_start)
    print(f"\nload {[round(x, 2) for x in load_start]} -> {[round(x, 2) for x in os.getloadavg()]}")
    print("\n".join(report_lines(benches)))
    print(f"raw results: {path}")


if __name__ == "__main__":
    main()
