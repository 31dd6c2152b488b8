"""Cross-validation for the peers without a CV routine that takes given folds: forked fold workers."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bench.objectives import data_loss, linear_predictor
from bench.peers.base import Fit, Job
from bench.problems import Design, FloatArray

PathSolver = Callable[[Design, FloatArray, Job, int], tuple[FloatArray, FloatArray]]
"""(X, y, job, threads) -> coef (m, p), intercept (m,): the job's warm-started path on the given rows."""

# Set before the fork, so the workers inherit the data instead of receiving a pickled copy.
_SHARED: dict[str, Any] = {}


def _solve(task: int) -> tuple[FloatArray, FloatArray] | FloatArray:
    """Task -1: the full-data path (coef, intercept); task k: fold k's held-out loss per alpha."""
    solver: PathSolver = _SHARED["solver"]
    job: Job = _SHARED["job"]
    threads: int = _SHARED["threads"]
    problem = job.problem
    if task < 0:
        return solver(problem.X, problem.y, job, threads)
    train = np.flatnonzero(problem.folds != task)
    test = np.flatnonzero(problem.folds == task)
    coef, intercept = solver(problem.X[train], problem.y[train], job, threads)
    eta = linear_predictor(problem.X[test], coef, intercept)
    loss: FloatArray = data_loss(problem.spec.family, problem.y[test], eta)
    return loss


def _limit_threads(threads: int) -> None:
    threadpool_limits(threads)


def cv_by_folds(solver: PathSolver, job: Job) -> Fit:
    """The full-data path and the K fold paths, on ``job.cv_jobs`` forked processes; picks min CV loss."""
    n_folds = int(job.problem.folds.max()) + 1
    tasks = [-1, *range(n_folds)]
    jobs = min(job.cv_jobs, len(tasks))
    _SHARED.update(solver=solver, job=job, threads=job.threads if jobs == 1 else max(1, job.threads // jobs))
    try:
        if jobs == 1:
            results = [_solve(t) for t in tasks]
        else:
            context = multiprocessing.get_context("fork")
            with context.Pool(jobs, initializer=_limit_threads, initargs=(_SHARED["threads"],)) as pool:
                results = pool.map(_solve, tasks, chunksize=1)
    finally:
        _SHARED.clear()
    coef, intercept = results[0]
    cv_loss = np.mean(np.stack(results[1:]), axis=0)
    return Fit.full(coef, intercept, cv_choice=int(np.argmin(cv_loss)))
