"""adelie (C++ group elastic net from glmnet's authors), singleton groups; runs from bench/.venv-peers."""

from __future__ import annotations

import adelie as ad
import numpy as np
import scipy.sparse as sp

from bench.peers.base import Fit, Job, tol_kwargs
from bench.peers.common import cv_by_folds
from bench.problems import Design, FloatArray

MAX_ITERS = 10_000_000  # coordinate-descent iterations (default 1e5)


def version() -> str:
    return str(ad.__version__)


def _matrix(X: Design, threads: int) -> object:
    if sp.issparse(X):
        return ad.matrix.sparse(sp.csc_matrix(X), method="naive", n_threads=threads)
    return ad.matrix.dense(np.asfortranarray(X), method="naive", n_threads=threads)


def _path(X: Design, y: FloatArray, job: Job, threads: int) -> tuple[FloatArray, FloatArray]:
    """adelie's loss is the mean (weights 1/n) squared error / 2 or log-loss; penalty factors 1 for
    singleton groups, so its objective is ours. ``early_exit=False`` keeps it on the whole path."""
    spec = job.problem.spec
    glm = ad.glm.gaussian(y) if spec.family == "gaussian" else ad.glm.binomial(y)
    state = ad.grpnet(
        _matrix(X, threads),
        glm,
        alpha=spec.l1_ratio,
        lmda_path=job.alphas,
        intercept=spec.fit_intercept,
        max_iters=MAX_ITERS,
        early_exit=False,
        progress_bar=False,
        n_threads=threads,
        **tol_kwargs(job, "tol", "irls_tol"),
    )
    coef = np.asarray(state.betas.toarray(), dtype=np.float64)
    if coef.shape[0] != job.alphas.shape[0]:
        raise RuntimeError(f"adelie solved {coef.shape[0]} of {job.alphas.shape[0]} lambdas")
    return coef, np.asarray(state.intercepts, dtype=np.float64)


def fit(job: Job) -> Fit:
    if job.task == "cv":
        return cv_by_folds(_path, job)
    return Fit.full(*_path(job.problem.X, job.problem.y, job, job.threads))
