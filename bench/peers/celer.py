"""celer: ``celer_path`` (dual extrapolation, working sets) for the lasso/enet and the L1 logistic (P4)."""

from __future__ import annotations

import celer
import numpy as np
import scipy.sparse as sp
from celer import celer_path

from bench.peers.base import Fit, Job, tol_kwargs
from bench.peers.common import cv_by_folds
from bench.problems import Design, FloatArray

MAX_ITER = 10_000  # working-set iterations (default 20 in celer_path, 100 in celer.Lasso)
MAX_EPOCHS = 100_000
PRUNE = 1  # celer.Lasso's default (celer_path's is 0)


def version() -> str:
    return str(celer.__version__)


def _gaussian_path(X: Design, y: FloatArray, job: Job, threads: int) -> tuple[FloatArray, FloatArray]:
    """celer_path fits no intercept: center as celer.Lasso does (implicitly for sparse X)."""
    spec = job.problem.spec
    p = X.shape[1]
    y_mean = float(y.mean()) if spec.fit_intercept else 0.0
    x_mean = np.asarray(X.mean(axis=0)).ravel() if spec.fit_intercept else np.zeros(p)
    offsets: dict[str, FloatArray] = {}
    if sp.issparse(X):
        X = X.tocsc()
        if spec.fit_intercept:
            offsets = {"X_offset": x_mean, "X_scale": np.ones(p)}
    else:
        X = np.asfortranarray(X - x_mean)
    _, coefs, _ = celer_path(
        X,
        y - y_mean,
        "lasso",
        alphas=job.alphas,
        l1_ratio=spec.l1_ratio,
        max_iter=MAX_ITER,
        max_epochs=MAX_EPOCHS,
        prune=PRUNE,
        **offsets,
        **tol_kwargs(job, "tol"),
    )
    coef = np.ascontiguousarray(coefs.T)
    return coef, y_mean - coef @ x_mean


def _logistic_path(X: Design, y: FloatArray, job: Job, threads: int) -> tuple[FloatArray, FloatArray]:
    """celer's logreg is the summed log-loss (labels -1/+1) + alpha' |w|_1, so alpha' = n alpha.

    No intercept (celer has none for logreg; P4 needs none). Prox-Newton, as LogisticRegression's
    default solver "celer-pn".
    """
    n = X.shape[0]
    X = np.asfortranarray(X) if isinstance(X, np.ndarray) else X.tocsc()
    _, coefs, _ = celer_path(
        X,
        2.0 * y - 1.0,
        "logreg",
        alphas=n * job.alphas,
        max_iter=MAX_ITER,
        max_epochs=MAX_EPOCHS,
        prune=PRUNE,
        use_PN=True,
        **tol_kwargs(job, "tol"),
    )
    return np.ascontiguousarray(coefs.T), np.zeros(coefs.shape[1])


def fit(job: Job) -> Fit:
    if job.problem.spec.family == "binomial" and job.problem.spec.fit_intercept:
        raise NotImplementedError("celer's L1 logistic regression has no intercept")
    solver = _logistic_path if job.problem.spec.family == "binomial" else _gaussian_path
    if job.task == "cv":
        return cv_by_folds(solver, job)
    return Fit.full(*solver(job.problem.X, job.problem.y, job, job.threads))
