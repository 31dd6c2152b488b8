"""A penalized quadratic solved by covariance-mode coordinate descent: a Newton step on reduced sums."""

from __future__ import annotations

import numpy as np

from service.modeling.engine import kernels
from service.modeling.engine.penalty import Penalty
from service.modeling.specs import FloatArray


def solve_quadratic(
    A: FloatArray,
    b: FloatArray,
    beta: FloatArray,
    alpha: float,
    penalty: Penalty,
    thresh: float,
    max_epochs: int,
) -> int:
    """Minimize ``1/2 beta^T A beta - b^T beta + penalty(alpha, beta)`` within the penalty's box by
    coordinate descent over its free columns, from ``beta`` (updated in place); returns the epochs.

    ``A`` is symmetric positive semi-definite with a positive diagonal on the free columns (a
    Newton step's Hessian of the smooth loss, reduced over rows elsewhere). Cycling stops once a
    full pass changes no ``A_jj * change^2`` by more than ``thresh`` (glmnet's criterion).
    """
    gram = np.asfortranarray(A, dtype=np.float64)
    q = np.asarray(b - gram @ beta, dtype=np.float64)
    ws = np.flatnonzero(penalty.free).astype(np.int64)
    lam1, lam2 = penalty.strengths(alpha)
    epochs, _ = kernels.solve_gram(
        gram, q, beta, ws, lam1, lam2, penalty.lower, penalty.upper, thresh, max_epochs
    )
    return int(epochs)
