"""Sparsefit itself: ``solve_path`` for single and path, ``fit_model`` (path, then CV) for cv."""

from __future__ import annotations

import inspect
import subprocess

import numpy as np
from threadpoolctl import threadpool_limits

# Loading the compiled kernels is part of importing Sparsefit here, as it is when its worker pool
# starts (the forkserver preloads this module); the cold first fit is reported separately.
import service.modeling.engine.warm  # noqa: F401
from bench.peers.base import ROOT, Fit, Job
from bench.problems import Design, FloatArray, Problem
from service.modeling.engine.solver import solve_path
from service.modeling.fit import fit_model
from service.modeling.specs import CVSpec, Family, FitSpec, PathSpec, SelectionRule, default_tol

MAX_ITER = 100_000


def version() -> str:
    """The commit of the work tree (``+dirty`` with uncommitted changes): the engine measured."""
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty=+dirty"], cwd=ROOT, capture_output=True, text=True
    )
    return described.stdout.strip() or "unknown"


def _tol(job: Job) -> float:
    """What a REST user gets without a solver.tol: the family's default (FitSpec.solver_tol)."""
    return default_tol(_family(job.problem)) if job.tol is None else job.tol


def _family(problem: Problem) -> Family:
    return Family.GAUSSIAN if problem.spec.family == "gaussian" else Family.BINOMIAL


def _target(problem: Problem) -> np.ndarray:
    return problem.y if problem.spec.family == "gaussian" else problem.y.astype(np.int64)


def _design(problem: Problem) -> Design:
    return problem.X if not isinstance(problem.X, np.ndarray) else np.asfortranarray(problem.X)


def _path(job: Job) -> Fit:
    problem = job.problem
    family = _family(problem)
    solution = solve_path(
        _design(problem),
        _target(problem),
        np.ones(problem.n),
        family,
        problem.spec.l1_ratio,
        job.alphas,
        problem.spec.fit_intercept,
        _tol(job),
        MAX_ITER,
        n_classes=2 if family == Family.BINOMIAL else 1,
    )
    return Fit.full(
        solution.coef[:, :, 0],
        solution.intercept[:, 0],
        converged=solution.converged.tolist(),
        n_iter=solution.n_iter.tolist(),
    )


def _cv(job: Job) -> Fit:
    problem = job.problem
    spec = FitSpec(
        family=_family(problem),
        l1_ratio=problem.spec.l1_ratio,
        alpha=None,
        path=PathSpec(alphas=tuple(float(a) for a in job.alphas)),
        cv=CVSpec(n_folds=int(problem.folds.max()) + 1, rule=SelectionRule.MIN),
        standardize=False,
        fit_intercept=problem.spec.fit_intercept,
        tol=_tol(job),
        max_iter=MAX_ITER,
    )
    # Folds in parallel processes as the peers' (--cv-jobs), where this version of fit_model can.
    parallel = (
        {"cv_processes": job.cv_jobs} if "cv_processes" in inspect.signature(fit_model).parameters else {}
    )
    # BLAS threads split among the fold processes, as the peers' loop does (common.cv_by_folds) and
    # as the service runs every job (one BLAS thread): forked folds that each inherited 2 OpenBLAS
    # threads on 2 cores made P3 cv take 24 s where the same call at 1 thread takes 7.5 s.
    with threadpool_limits(max(1, job.threads // max(1, job.cv_jobs))):
        outcome = fit_model(_design(problem), _target(problem), spec, fold_ids=problem.folds, **parallel)
    path = outcome.path
    chosen = outcome.cv.curves[0].index_min if outcome.cv is not None else None
    coef: FloatArray = path.coef[:, :, 0]
    return Fit.full(coef, path.intercept[:, 0], cv_choice=chosen, converged=path.converged.tolist())


def fit(job: Job) -> Fit:
    return _cv(job) if job.task == "cv" else _path(job)
