"""Predictions from fitted coefficients, and coefficients at any alpha of a stored path."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from service.modeling.link import linear_predictor, log_probabilities
from service.modeling.results import LinearPrediction, PathResult
from service.modeling.specs import Family, FloatArray
from service.modeling.validation import invalid

# An alpha within this relative distance of a path point is that point.
ALPHA_RTOL = 1e-9


def predict_linear(X: Any, intercept: FloatArray, coef: FloatArray, family: Family) -> LinearPrediction:
    """Gaussian: predictions. Binomial/multinomial: the most probable class code (ties to the
    lower code) and the class probabilities (n, K); binomial coefficients are class 1's log-odds.

    ``X`` is dense (n, p) or scipy.sparse, which stays sparse: ``X @ coef`` is a sparse product.
    """
    design = X if sp.issparse(X) else np.asarray(X, dtype=np.float64)
    eta = np.asarray(linear_predictor(design, intercept, coef))
    if family == Family.GAUSSIAN:
        return LinearPrediction(values=eta[:, 0].copy(), probabilities=None)
    log_p = log_probabilities(eta, family)
    return LinearPrediction(values=np.argmax(log_p, axis=1).astype(np.int64), probabilities=np.exp(log_p))


def coefficients_at(path: PathResult, alpha: float) -> tuple[FloatArray, FloatArray]:
    """(intercept (K',), coef (p, K')) on the original scale at ``alpha``.

    A path point (relative tolerance 1e-9) is returned exactly; between two points the
    coefficients are interpolated linearly in log(alpha) (glmnet's ``exact=FALSE`` interpolates
    linearly in alpha itself; on a log-spaced path log(alpha) is the natural coordinate). Outside
    the path's range: ValidationError on field ``alpha``.
    """
    alphas = path.alphas
    low, high = float(alphas.min()), float(alphas.max())
    if not (np.isfinite(alpha) and low * (1 - ALPHA_RTOL) <= alpha <= high * (1 + ALPHA_RTOL)):
        raise invalid("alpha", f"must lie on the stored path, between {low:.6g} and {high:.6g}")
    close = np.flatnonzero(np.abs(alphas - alpha) <= ALPHA_RTOL * alphas)
    if close.shape[0] > 0:
        i = int(close[0])
        return path.intercept[i].copy(), path.coef[i].copy()
    # Alphas decrease along the path: the first point below alpha closes the bracket.
    right = int(np.flatnonzero(alphas < alpha)[0])
    left = right - 1
    t = (np.log(alphas[left]) - np.log(alpha)) / (np.log(alphas[left]) - np.log(alphas[right]))
    intercept = (1 - t) * path.intercept[left] + t * path.intercept[right]
    coef = (1 - t) * path.coef[left] + t * path.coef[right]
    return intercept.astype(np.float64), coef.astype(np.float64)
