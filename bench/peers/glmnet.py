"""python-glmnet (the Fortran glmnet): ElasticNet (gaussian) and LogitNet (P4) over the given lambdas."""

from __future__ import annotations

from importlib.metadata import version as _distribution_version

import glmnet
import numpy as np

from bench.peers.base import Fit, Job, tol_kwargs
from bench.peers.common import cv_by_folds
from bench.problems import Design, FloatArray

# glmnet's maxit counts coordinate passes over the whole path; its default (1e5) is hit at tight tol.
MAX_ITER = 10_000_000


def version() -> str:
    return _distribution_version("python-glmnet")


def _path(X: Design, y: FloatArray, job: Job, threads: int) -> tuple[FloatArray, FloatArray]:
    """Same objective as ours (glmnet standardizes y internally; ours has sd 1, so nothing changes)."""
    model = glmnet.ElasticNet(
        alpha=job.problem.spec.l1_ratio,
        lambda_path=job.alphas,
        standardize=False,
        fit_intercept=job.problem.spec.fit_intercept,
        max_iter=MAX_ITER,
        n_splits=0,
        **tol_kwargs(job, "tol"),
    )
    model.fit(X, y)
    return _checked(model.coef_path_.T, model.intercept_path_, job)


def _logistic_path(X: Design, y: FloatArray, job: Job, threads: int) -> tuple[FloatArray, FloatArray]:
    """glmnet's binomial loss is the mean negative log-likelihood, as ours; coefs are for class 1."""
    model = glmnet.LogitNet(
        alpha=1.0,
        lambda_path=job.alphas,
        standardize=False,
        fit_intercept=job.problem.spec.fit_intercept,
        max_iter=MAX_ITER,
        n_splits=0,
        **tol_kwargs(job, "tol"),
    )
    model.fit(X, y.astype(np.int64))
    return _checked(model.coef_path_[0].T, model.intercept_path_[0], job)


def _checked(coef: FloatArray, intercept: FloatArray, job: Job) -> tuple[FloatArray, FloatArray]:
    if coef.shape[0] != job.alphas.shape[0]:
        raise RuntimeError(f"glmnet solved {coef.shape[0]} of {job.alphas.shape[0]} lambdas")
    return np.asarray(coef, dtype=np.float64), np.asarray(intercept, dtype=np.float64)


def fit(job: Job) -> Fit:
    solver = _logistic_path if job.problem.spec.family == "binomial" else _path
    if job.task == "cv":
        return cv_by_folds(solver, job)
    return Fit.full(*solver(job.problem.X, job.problem.y, job, job.threads))
