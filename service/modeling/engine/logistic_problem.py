"""Conventions of the logistic families: the probability floor and glmnet's multinomial centering."""

from __future__ import annotations

import numpy as np

from service.modeling.specs import FloatArray

# A class without training rows has an MLE intercept of -inf; like glmnet (pmin = 1e-9) we stop at
# a probability of 1e-9 instead, which keeps every prediction and deviance finite.
PROBABILITY_FLOOR = 1e-9


def penalty_center(coef: FloatArray, l1_ratio: float) -> FloatArray:
    """Per column j, the shift c_j minimizing sum_k l1_ratio |b_jk - c| + (1 - l1_ratio)/2 (b_jk - c)^2.

    Subtracting one shift from all K classes leaves every probability unchanged, so glmnet uses the
    shift that minimizes the penalty; it makes the symmetric parametrization canonical. The
    minimizer is a breakpoint b_jk or the stationary point of a segment between them (with m of
    the K values below c: c = (sum_k b_jk - (2m - K) l1/(1 - l1)) / K); where it is not unique
    (lasso, even K) the middle of the minimizing interval is taken.
    """
    k = coef.shape[1]
    candidates = [coef]
    if l1_ratio < 1.0:
        below = np.arange(k + 1)
        stationary = (coef.sum(axis=1, keepdims=True) - (2 * below - k) * l1_ratio / (1.0 - l1_ratio)) / k
        candidates.append(stationary)
    c = np.concatenate(candidates, axis=1)  # (p, C)
    gap = coef[:, np.newaxis, :] - c[:, :, np.newaxis]  # (p, C, K)
    value = l1_ratio * np.abs(gap).sum(axis=2) + (1.0 - l1_ratio) / 2.0 * (gap**2).sum(axis=2)
    best = value.min(axis=1, keepdims=True)
    tied = value <= best + 1e-12 * np.maximum(np.abs(best), 1e-300)
    low = np.where(tied, c, np.inf).min(axis=1)
    high = np.where(tied, c, -np.inf).max(axis=1)
    center: FloatArray = (low + high) / 2.0
    return center
