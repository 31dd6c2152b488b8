"""skglm: Lasso/ElasticNet ``.path`` (Anderson CD, working sets) and SparseLogisticRegression (P4)."""

from __future__ import annotations

import numpy as np
import skglm
from skglm import ElasticNet, Lasso, SparseLogisticRegression

from bench.peers.base import Fit, Job, tol_kwargs
from bench.peers.common import cv_by_folds
from bench.problems import Design, FloatArray

# skglm stops on the largest KKT violation (tol); the defaults (50 outer working-set iterations,
# 20 prox-Newton iterations) end before a tight tol is met.
MAX_OUTER = 10_000
MAX_EPOCHS = 100_000


def version() -> str:
    return str(skglm.__version__)


def _gaussian_path(X: Design, y: FloatArray, job: Job, threads: int) -> tuple[FloatArray, FloatArray]:
    """Same objective as ours: 1/(2n) RSS + alpha (l1_ratio |w|_1 + (1 - l1_ratio)/2 |w|^2)."""
    spec = job.problem.spec
    settings = {"fit_intercept": spec.fit_intercept, "max_iter": MAX_OUTER, **tol_kwargs(job, "tol")}
    if spec.l1_ratio == 1.0:
        model: Lasso | ElasticNet = Lasso(max_epochs=MAX_EPOCHS, **settings)
    else:
        model = ElasticNet(l1_ratio=spec.l1_ratio, max_epochs=MAX_EPOCHS, **settings)
    X = np.asfortranarray(X) if isinstance(X, np.ndarray) else X.tocsc()
    _, coefs, _, _ = model.path(X, y, job.alphas)
    coefs = coefs.T  # (m, p + fit_intercept), the intercept last
    if spec.fit_intercept:
        return np.ascontiguousarray(coefs[:, :-1]), coefs[:, -1].copy()
    return np.ascontiguousarray(coefs), np.zeros(coefs.shape[0])


def _logistic_path(X: Design, y: FloatArray, job: Job, threads: int) -> tuple[FloatArray, FloatArray]:
    """Mean log-loss (labels mapped to -1/+1 by skglm) + alpha |w|_1; warm-started prox-Newton."""
    model = SparseLogisticRegression(
        alpha=float(job.alphas[0]),
        fit_intercept=job.problem.spec.fit_intercept,
        max_iter=MAX_OUTER,
        max_epochs=MAX_EPOCHS,
        warm_start=True,
        **tol_kwargs(job, "tol"),
    )
    coefs, intercepts = [], []
    for alpha in job.alphas:
        model.set_params(alpha=float(alpha))
        model.fit(X, y)
        coefs.append(np.ravel(model.coef_).copy())
        intercepts.append(float(np.ravel(model.intercept_)[0]) if job.problem.spec.fit_intercept else 0.0)
    return np.array(coefs), np.array(intercepts)


def fit(job: Job) -> Fit:
    solver = _logistic_path if job.problem.spec.family == "binomial" else _gaussian_path
    if job.task == "cv":
        return cv_by_folds(solver, job)
    return Fit.full(*solver(job.problem.X, job.problem.y, job, job.threads))
