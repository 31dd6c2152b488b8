"""The noise level sigma of a gaussian linear model: full least squares when n > p, else CV lasso residuals.

n > p (and at most ``OLS_MAX_COLUMNS`` informative columns): the residual SD of least squares on
every column, ``sqrt(RSS / (n - rank - intercept))`` (R's fixedLassoInf, funs.fixed.R, uses this
when n >= 2p and falls back on ``sd(y)`` with a warning otherwise). Otherwise selectiveInference's
``estimateSigma`` (funs.common.R; Reid, Tibshirani and Friedman 2016, "A study of error variance
estimation in lasso regression", Statistica Sinica 26): the lasso at CV's ``lambda.min`` (10 folds,
seeded here), ``sqrt(RSS / (n - nz - 1))`` where nz counts the nonzero coefficients *including*
the intercept, exactly as the R code does (one degree of freedom more conservative than the paper's
``n - |S|`` plus an intercept).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import scipy.linalg as la

from service.errors import FitFailedError, InvalidDataError
from service.modeling.engine import is_sparse
from service.modeling.specs import Checkpoint, CVSpec, Family, FitSpec, FloatArray, PathSpec, SelectionRule
from service.modeling.stats.centered_design import CenteredDesign

# Least squares on more columns than this would need a p x p Gram of > 128 MB; CV lasso instead.
OLS_MAX_COLUMNS = 4000
# estimateSigma refuses fewer rows (its 10-fold CV needs them).
CV_MIN_ROWS = 10


class SigmaMethod(StrEnum):
    GIVEN = "given"
    OLS = "ols"
    CV_LASSO = "cv_lasso"


@dataclass(frozen=True)
class NoiseLevel:
    """sigma, how it was obtained and its residual degrees of freedom (0 when given)."""

    sigma: float
    method: SigmaMethod
    df: int


def _ols_rss(design: CenteredDesign, y_c: FloatArray) -> tuple[float, int]:
    """Residual sum of squares and rank of least squares of y_c on the informative columns."""
    cols = np.flatnonzero(design.informative).astype(np.int64)
    if cols.size == 0:
        return float(y_c @ y_c), 0
    if not is_sparse(design.X):
        Z = design.columns(cols)
        coef, _, rank, _ = la.lstsq(Z, y_c, lapack_driver="gelsd")
        resid = y_c - Z @ coef
        return float(resid @ resid), int(rank)
    # Sparse: the centered, scaled Gram from X'X (p x p), never a dense copy of X.
    Xs = design.X[:, cols]
    m, s = design.mean[cols], design.scale[cols]
    n = Xs.shape[0]
    gram = np.asarray((Xs.T @ Xs).toarray(), dtype=np.float64) - n * np.outer(m, m)
    gram /= np.outer(s, s)
    c = design.correlate(y_c)[cols]
    vals, vecs = la.eigh(gram)
    keep = vals > vals.max() * cols.size * np.finfo(float).eps
    proj = vecs[:, keep].T @ c
    explained = float(np.sum(proj**2 / vals[keep]))
    return max(float(y_c @ y_c) - explained, 0.0), int(keep.sum())


def _cv_lasso(X: Any, y: FloatArray, spec: FitSpec, checkpoint: Checkpoint | None) -> NoiseLevel:
    from service.modeling.fit import fit_model  # brings the engine's kernels: only when needed

    n = y.shape[0]
    if n < CV_MIN_ROWS:
        raise InvalidDataError(
            f"estimating sigma by cross-validation needs at least {CV_MIN_ROWS} rows, got {n}"
        )
    cv_spec = FitSpec(
        family=Family.GAUSSIAN,
        l1_ratio=1.0,
        alpha=None,
        path=PathSpec(),
        cv=CVSpec(n_folds=10, seed=0, rule=SelectionRule.MIN),
        standardize=spec.standardize,
        fit_intercept=spec.fit_intercept,
        penalty_factors=spec.penalty_factors,
    )
    outcome = fit_model(X, y, cv_spec, checkpoint=checkpoint)
    coef, intercept = outcome.coef[:, 0], float(outcome.intercept[0])
    fitted = np.asarray(X @ coef, dtype=np.float64).reshape(-1) + intercept
    rss = float(np.sum((y - fitted) ** 2))
    nz = int(np.count_nonzero(coef)) + int(intercept != 0.0)
    df = n - nz - 1
    if df < 1:
        raise FitFailedError("the CV lasso leaves no residual degrees of freedom to estimate sigma")
    return _checked(NoiseLevel(math.sqrt(rss / df), SigmaMethod.CV_LASSO, df))


def _checked(noise: NoiseLevel) -> NoiseLevel:
    if not (math.isfinite(noise.sigma) and noise.sigma > 0.0):
        # A perfect fit: every pivot would divide by zero.
        raise FitFailedError(f"the estimated sigma is {noise.sigma:g}: the model fits the target exactly")
    return noise


def estimate_sigma(
    design: CenteredDesign, y: FloatArray, spec: FitSpec, checkpoint: Checkpoint | None = None
) -> NoiseLevel:
    """sigma by least squares when n > p (with residual df >= 1), else by CV lasso (see module doc)."""
    n = y.shape[0]
    intercept = int(design.fit_intercept)
    n_cols = int(design.informative.sum())
    if n > n_cols + intercept and n_cols <= OLS_MAX_COLUMNS:
        rss, rank = _ols_rss(design, design.center_target(y))
        df = n - rank - intercept
        if df >= 1:
            return _checked(NoiseLevel(math.sqrt(rss / df), SigmaMethod.OLS, df))
    return _cv_lasso(design.X, y, spec, checkpoint)
