"""Linear predictors and the inverse links that turn them into class log-probabilities."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy.special import log_expit

from service.modeling.specs import Family, FloatArray, IntArray


def linear_predictor(X: FloatArray, intercept: FloatArray, coef: FloatArray) -> FloatArray:
    """``eta = intercept + X @ coef`` with shape (n, K') for intercept (K',) and coef (p, K')."""
    eta: FloatArray = X @ coef + intercept[np.newaxis, :]
    return eta


# Linear predictors along a path are computed this many alphas at a time: one pass over X per
# block instead of one per alpha, with a bounded (n, block) result.
PATH_BLOCK = 25


def path_predictors(X: Any, intercepts: FloatArray, coefs: FloatArray) -> Iterator[FloatArray]:
    """``linear_predictor`` for each alpha of a path, in order: (n, K') arrays.

    ``intercepts`` (m, K'), ``coefs`` (m, p, K'); dense or sparse X.
    """
    m, _, width = coefs.shape
    for start in range(0, m, PATH_BLOCK):
        stop = min(start + PATH_BLOCK, m)
        products = [np.asarray(X @ coefs[start:stop, :, k].T) for k in range(width)]  # (n, block) each
        for i in range(stop - start):
            eta = np.column_stack([products[k][:, i] for k in range(width)])
            yield eta + intercepts[start + i][np.newaxis, :]


def log_probabilities(eta: FloatArray, family: Family) -> FloatArray:
    """Log class probabilities (n, K) from eta (n, K').

    Binomial eta is the log-odds of class 1; multinomial uses the softmax of the K columns.
    Computed in log space so that extreme predictors give finite deviances.
    """
    if family == Family.BINOMIAL:
        z = eta[:, 0]
        return np.column_stack([log_expit(-z), log_expit(z)]).astype(np.float64)
    return eta - row_logsumexp(eta)[:, np.newaxis]


def row_logsumexp(eta: FloatArray) -> FloatArray:
    """log(sum_k exp(eta_ik)) per row, stable; plain numpy because scipy's array-API wrapper cost
    more than the arithmetic in the Newton solver's inner loop."""
    top = eta.max(axis=1)
    result: FloatArray = top + np.log(np.exp(eta - top[:, np.newaxis]).sum(axis=1))
    return result


def probabilities(eta: FloatArray, family: Family) -> FloatArray:
    return np.exp(log_probabilities(eta, family))


def one_hot(y: IntArray, n_classes: int) -> FloatArray:
    encoded = np.zeros((y.shape[0], n_classes), dtype=np.float64)
    encoded[np.arange(y.shape[0]), y] = 1.0
    return encoded
