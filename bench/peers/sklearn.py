"""scikit-learn: ElasticNet, enet_path and ElasticNetCV (gaussian); L1 LogisticRegression (P4)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.linear_model import ElasticNet, ElasticNetCV, LogisticRegression, enet_path
from sklearn.model_selection import KFold

from bench.peers.base import Fit, Job, tol_kwargs
from bench.peers.common import cv_by_folds
from bench.problems import N_FOLDS, Design, FloatArray

MAX_ITER = 1_000_000
# L1 logistic: liblinear's tol is relative to the initial projected gradient, so 1e-6 already
# reaches ~1e-12 relative objective accuracy, while its 1e-10 can run for minutes without
# converging: a tighter tol than this floor is run at the floor. liblinear cannot warm-start;
# saga can but is slower on wide data.
LOGISTIC_SOLVER = "liblinear"
LOGISTIC_TOL_FLOOR = 1e-8


def version() -> str:
    return str(sklearn.__version__)


def _single(job: Job) -> Fit:
    problem = job.problem
    model = ElasticNet(
        alpha=float(job.alphas[0]),
        l1_ratio=problem.spec.l1_ratio,
        fit_intercept=problem.spec.fit_intercept,
        # As enet_path's precompute="auto": the Gram matrix when n > p (dense only).
        precompute=not sp.issparse(problem.X) and problem.n > problem.p,
        max_iter=MAX_ITER,
        **tol_kwargs(job, "tol"),
    )
    model.fit(problem.X, problem.y)
    return Fit.full(model.coef_[np.newaxis, :], np.array([model.intercept_]), n_iter=int(model.n_iter_))


def _path(job: Job) -> Fit:
    """enet_path does not fit an intercept: center as ElasticNetCV does (implicitly for sparse X)."""
    problem = job.problem
    X, y = problem.X, problem.y
    y_mean = float(y.mean()) if problem.spec.fit_intercept else 0.0
    x_mean = np.asarray(X.mean(axis=0)).ravel() if problem.spec.fit_intercept else np.zeros(problem.p)
    params: dict[str, object] = {"max_iter": MAX_ITER, **tol_kwargs(job, "tol")}
    if sp.issparse(X):
        params.update(X_offset=x_mean, X_scale=np.ones(problem.p))
    else:
        X = X - x_mean  # keeps the Fortran order
    _, coefs, _, n_iter = enet_path(
        X,
        y - y_mean,
        l1_ratio=problem.spec.l1_ratio,
        alphas=job.alphas,
        precompute="auto",
        copy_X=False,
        return_n_iter=True,
        **params,
    )
    coef = coefs.T
    return Fit.full(coef, y_mean - coef @ x_mean, n_iter=[int(i) for i in n_iter])


def _cv(job: Job) -> Fit:
    """ElasticNetCV over the given alphas and folds; it refits at the chosen alpha only."""
    problem = job.problem
    model = ElasticNetCV(
        l1_ratio=problem.spec.l1_ratio,
        alphas=job.alphas,
        cv=KFold(N_FOLDS, shuffle=True, random_state=0),
        fit_intercept=problem.spec.fit_intercept,
        precompute="auto",
        max_iter=MAX_ITER,
        n_jobs=job.cv_jobs,
        **tol_kwargs(job, "tol"),
    )
    model.fit(problem.X, problem.y)
    chosen = int(np.argmin(np.abs(job.alphas - model.alpha_)))
    index = np.array([chosen], dtype=np.int64)
    coef = np.asarray(model.coef_, dtype=np.float64)[np.newaxis, :]
    return Fit(coef, np.array([float(model.intercept_)]), index, {"cv_choice": chosen, "refit_only": True})


def _logistic_path(X: Design, y: FloatArray, job: Job, threads: int) -> tuple[FloatArray, FloatArray]:
    """Mean log-loss + alpha ||w||_1 is C * sum log-loss + ||w||_1 with C = 1 / (n alpha)."""
    n = X.shape[0]
    tol = {} if job.tol is None else {"tol": max(job.tol, LOGISTIC_TOL_FLOOR)}
    model = LogisticRegression(
        l1_ratio=1.0, solver=LOGISTIC_SOLVER, fit_intercept=False, max_iter=MAX_ITER, warm_start=True, **tol
    )
    coefs = []
    for alpha in job.alphas:
        model.set_params(C=1.0 / (n * alpha))
        model.fit(X, y.astype(np.int64))
        coefs.append(model.coef_[0].copy())
    return np.array(coefs), np.zeros(len(coefs))


def fit(job: Job) -> Fit:
    if job.problem.spec.family == "binomial":
        if job.task == "cv":
            return cv_by_folds(_logistic_path, job)
        return Fit.full(*_logistic_path(job.problem.X, job.problem.y, job, job.threads))
    if job.task == "single":
        return _single(job)
    return _path(job) if job.task == "path" else _cv(job)
