"""The CV speedup from 1 to 2 Dask workers when a job's folds fan out as Dask tasks (issue 14).

One fit, gaussian lasso on a dense 2,000 x 1,000 table, 100 alphas, 10-fold CV (about 4 s
serially), timed four ways, each the median of --reps runs after one warm-up. (At 2,000 x 500 the
folds run in covariance mode, n >= 2p: about 70 ms each, 0.7 s in all, too little to measure a
speedup against the tasks' own costs.)

- ``dask 1`` / ``dask 2``: in a Dask task on a LocalCluster of 1 or 2 workers (one thread each),
  with the service's fold runner installed as ``dask_entry.run_dask_job`` installs it: the folds are
  Dask tasks (``service.worker.dask_fanout``). X is scattered to the cluster before the clock starts,
  as a job reads its table on its worker;
- ``local 1`` / ``local 2``: ``fit_model`` in this process with ``cv_processes`` 1 and 2 (what a
  local pool's job process runs: serial folds, or folds in forked processes).

Each also times the same fit without CV (the full path alone) so the table shows the CV's own
part (with CV minus without). BLAS runs one thread everywhere. Writes
bench/results/dask-cv-speedup-<UTC stamp>.json.

Usage: .venv/bin/python -m bench.dask_cv_speedup [--reps 3] [--n 2000] [--p 1000] [--folds 10]
    [--out-dir bench/results]
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # before numpy loads; the cluster's workers inherit it

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from service.modeling.fit import fit_model  # noqa: E402
from service.modeling.specs import CVSpec, Family, FitSpec, FloatArray, PathSpec  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def table(n: int, p: int, seed: int = 0) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    x = np.asfortranarray(rng.standard_normal((n, p)))
    y = x[:, :25] @ rng.uniform(-2, 2, 25) + 2.0 * rng.standard_normal(n)
    return x, y


def spec(folds: int | None) -> FitSpec:
    cv = None if folds is None else CVSpec(n_folds=folds)
    return FitSpec(family=Family.GAUSSIAN, l1_ratio=1.0, alpha=None, path=PathSpec(n_alphas=100), cv=cv)


def fit_on_worker(x: FloatArray, y: FloatArray, folds: int | None) -> tuple[float, FloatArray]:
    """A Dask task: the fit as a job's task runs it (fold runner installed); its time and coef."""
    from distributed import get_worker

    from service.modeling.parallel import fold_runner
    from service.worker.dask_fanout import DaskFoldRunner

    key = str(get_worker().get_current_task())
    started = time.perf_counter()
    with fold_runner(DaskFoldRunner(key, lambda: None)):
        outcome = fit_model(x, y, spec(folds))
    return time.perf_counter() - started, outcome.coef


def median_of(
    reps: int, run: Callable[[], tuple[float, FloatArray]]
) -> tuple[float, list[float], FloatArray]:
    run()  # warm-up: imports, kernel compilation, the cluster's first tasks
    times, coef = [], np.empty(0)
    for _ in range(reps):
        seconds, coef = run()
        times.append(seconds)
    return statistics.median(times), times, coef


def dask_case(workers: int, x: FloatArray, y: FloatArray, folds: int | None, reps: int) -> Any:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        shared_x, shared_y = client.scatter([x, y], broadcast=False)

        def run(k: int | None) -> tuple[float, FloatArray]:
            result: tuple[float, FloatArray] = client.submit(
                fit_on_worker, shared_x, shared_y, k, pure=False
            ).result()
            return result

        return median_of(reps, lambda: run(folds)), median_of(reps, lambda: run(None))


def local_case(processes: int, x: FloatArray, y: FloatArray, folds: int | None, reps: int) -> Any:
    from threadpoolctl import threadpool_limits

    def run(k: int | None) -> tuple[float, FloatArray]:
        started = time.perf_counter()
        with threadpool_limits(limits=1):
            outcome = fit_model(x, y, spec(k), cv_processes=processes)
        return time.perf_counter() - started, outcome.coef

    return median_of(reps, lambda: run(folds)), median_of(reps, lambda: run(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--p", type=int, default=1000)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    x, y = table(args.n, args.p)
    load_before = os.getloadavg()
    cases: dict[str, Any] = {}
    for workers in (1, 2):
        cases[f"dask {workers}"] = dask_case(workers, x, y, args.folds, args.reps)
    for processes in (1, 2):
        cases[f"local {processes}"] = local_case(processes, x, y, args.folds, args.reps)
    reference = cases["local 1"][0][2]
    rows = []
    lines = [
        f"{args.n} x {args.p} dense gaussian lasso, 100 alphas, {args.folds}-fold CV; median of {args.reps} "
        "(seconds); one BLAS thread",
        f"{'setting':10} {'fit+cv':>8} {'path only':>10} {'cv part':>8} {'cv speedup':>11} {'same coef':>10}",
    ]
    for name, ((with_cv, cv_times, coef), (path_only, path_times, _)) in cases.items():
        rows.append({"setting": name, "fit_cv_s": with_cv, "fit_cv_times": cv_times, "path_s": path_only,
                     "path_times": path_times, "cv_s": with_cv - path_only,
                     "coef_equal_local_serial": bool(np.array_equal(coef, reference))})  # fmt: skip
    for row, base in ((r, rows[0] if r["setting"].startswith("dask") else rows[2]) for r in rows):
        row["cv_speedup_vs_1"] = base["cv_s"] / row["cv_s"]
        lines.append(
            f"{row['setting']:10} {row['fit_cv_s']:8.3f} {row['path_s']:10.3f} {row['cv_s']:8.3f} "
            f"{row['cv_speedup_vs_1']:11.2f} {row['coef_equal_local_serial']!s:>10}"
        )
    text = "\n".join(lines)
    print(text)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"dask-cv-speedup-{stamp}.json"
    document = {
        "command": "python -m bench.dask_cv_speedup " + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "rows": rows,
        "text": text,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
