"""One benchmark cell in a fresh process: load the data, time one library on one task, write JSON."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from bench.objectives import objective
from bench.peers.base import LIBRARIES, Fit, Job
from bench.problems import Problem, ProblemSpec, load

COLD_LATER_CALLS = 5


def _rss_mb() -> float:
    """The current resident set size, from /proc (0.0 where there is none)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


def _blas() -> list[dict[str, Any]]:
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "num_threads", "version", "architecture")
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def _timed(adapter: Any, job: Job) -> tuple[Fit, float, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        fit: Fit = adapter.fit(job)
        elapsed = time.perf_counter() - start
    messages = sorted({f"{w.category.__name__}: {str(w.message)[:200]}" for w in caught})
    return fit, elapsed, messages


def _tol(text: str) -> float | None:
    """``default``: call the library without a tol, so it runs at its own default."""
    return None if text == "default" else float(text)


def _job(args: argparse.Namespace, problem: Problem, task: str) -> Job:
    return Job(problem, task, problem.alphas(task), _tol(args.tol), args.cv_jobs, args.threads)


def run_task(args: argparse.Namespace) -> dict[str, Any]:
    """The timed call, an untimed second call when the first was short, then the objectives."""
    lib = LIBRARIES[args.lib]
    problem = load(args.problem, args.scale, lib.sparse_format)
    adapter = importlib.import_module(lib.module)  # import time is not part of the measurement
    job = _job(args, problem, args.task)
    rss_before, children_before = _rss_mb(), _peak_rss_mb(resource.RUSAGE_CHILDREN)
    marker = Path(args.out)
    marker.with_suffix(".started").touch()
    fit, first, messages = _timed(adapter, job)
    marker.with_suffix(".finished").touch()
    # Right after the timed call: later subprocesses (git in version()) would pollute the children's peak.
    peak, children_peak = _peak_rss_mb(resource.RUSAGE_SELF), _peak_rss_mb(resource.RUSAGE_CHILDREN)
    second = None
    # A second call in the same process separates one-off costs (JIT, imports inside the call).
    # Not for cv: the fold workers are forked, and forking after OpenMP has run is unsafe.
    if first < args.warm_below and args.task != "cv":
        second = _timed(adapter, job)[1]
    alphas = job.alphas[fit.alpha_index]
    values = objective(problem, fit.coef, fit.intercept, alphas)
    return {
        "time_s": first,
        "second_call_s": second,
        "objective": values.tolist(),
        "alpha_index": fit.alpha_index.tolist(),
        "alphas": job.alphas.tolist(),
        "n_alphas_solved": len(fit.alpha_index),
        "nonzero": np.count_nonzero(fit.coef, axis=1).tolist(),
        "info": fit.info,
        "warnings": messages,
        "version": adapter.version(),
        "shape": [problem.n, problem.p],
        "nnz": int(problem.X.nnz) if sp.issparse(problem.X) else None,
        "rss_before_fit_mb": rss_before,
        "peak_rss_mb": peak,
        "children_peak_rss_mb": children_peak if children_peak > children_before else 0.0,
        "blas": _blas(),
    }


def _diabetes() -> Problem:
    """A diabetes-sized problem (442 x 10, sklearn's copy): lasso, standardized y, intercept."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    spec = ProblemSpec("diabetes", "diabetes", 0, X.shape[0], X.shape[1], False, "gaussian", 1.0, True)
    folds = np.arange(X.shape[0], dtype=np.int64) % 5
    return Problem(spec, 1.0, np.asfortranarray(X), (y - y.mean()) / y.std(), folds)


def run_cold_probe(args: argparse.Namespace) -> dict[str, Any]:
    """First fit in a fresh process vs the median of later identical fits (the single task), and the
    library's import time (Sparsefit loads its compiled kernels there, as its workers do at start)."""
    started = time.perf_counter()
    adapter = importlib.import_module(LIBRARIES[args.lib].module)
    import_s = time.perf_counter() - started
    job = _job(args, _diabetes(), "single")
    first = _timed(adapter, job)[1]
    later = [_timed(adapter, job)[1] for _ in range(COLD_LATER_CALLS)]
    warm = statistics.median(later)
    return {
        "first_call_s": first,
        "later_call_s": warm,
        "cold_overhead_s": first - warm,
        "import_s": import_s,
        "version": adapter.version(),
        "peak_rss_mb": _peak_rss_mb(resource.RUSAGE_SELF),
    }


def report_versions() -> dict[str, Any]:
    """Each adapter's library version in this interpreter, or why it does not import."""
    found: dict[str, Any] = {}
    for name, lib in LIBRARIES.items():
        try:
            found[name] = {"version": importlib.import_module(lib.module).version()}
        except Exception as exc:  # any import failure means "not installed here"
            found[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return found


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lib", choices=sorted(LIBRARIES))
    parser.add_argument("--problem")
    parser.add_argument("--task", choices=("single", "path", "cv"))
    parser.add_argument("--probe", choices=("cold", "versions"), help="a probe instead of a cell")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--tol", default="default", help="a number, or 'default' (the library's own)")
    parser.add_argument("--cv-jobs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warm-below", type=float, default=10.0)
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    return parser


def _write(path: Path, result: dict[str, Any]) -> None:
    staging = path.with_suffix(".partial")
    staging.write_text(json.dumps(result))
    staging.rename(path)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    result: dict[str, Any] = {
        "lib": args.lib,
        "problem": args.problem,
        "task": args.task,
        "probe": args.probe,
        "tol": args.tol,
    }
    try:
        if args.probe == "versions":
            result["versions"] = report_versions()
        elif args.probe == "cold":
            result.update(run_cold_probe(args))
        else:
            result.update(run_task(args))
    except Exception as exc:  # every failure is a result of its own, never a lost cell
        result["error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
        result["traceback"] = traceback.format_exc()[-4000:]
    _write(Path(args.out), result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
