"""Gaussian ridge paths in closed form from one SVD of the weighted, centered design."""

from __future__ import annotations

import numpy as np

from service.modeling.gaussian_solver import WeightedLeastSquares, enet_duality_gap
from service.modeling.solution import PathProgress, PathSolution, alpha_blocks
from service.modeling.specs import FloatArray


def solve_ridge_path(
    ls: WeightedLeastSquares, alphas: FloatArray, progress: PathProgress | None
) -> PathSolution:
    """Exact minimizers of ``1/(2n)||y_t - X_t beta||^2 + alpha/2 ||beta||^2`` for every alpha.

    With ``X_t = U S V^T``: ``beta = V diag(s / (s^2 + n alpha)) U^T y_t``. The solution is exact
    up to rounding, so every alpha is reported converged with 0 iterations; ``dual_gap`` is still
    computed from the solution as evidence.
    """
    n, p = ls.X.shape
    u, s, vt = np.linalg.svd(ls.X, full_matrices=False)
    uty = u.T @ ls.y
    m = alphas.shape[0]
    coefs = np.empty((m, p), dtype=np.float64)
    for block in alpha_blocks(m, progress):
        shrink = s[np.newaxis, :] / (s[np.newaxis, :] ** 2 + n * alphas[block, np.newaxis])
        coefs[block] = (shrink * uty[np.newaxis, :]) @ vt
    gaps = np.array([enet_duality_gap(ls, c, float(a), 0.0) for c, a in zip(coefs, alphas, strict=True)])
    return PathSolution(
        coef=coefs[:, :, np.newaxis],
        intercept=np.array([[ls.intercept(c)] for c in coefs], dtype=np.float64),
        n_iter=np.zeros(m, dtype=np.int64),
        dual_gap=gaps,
        converged=np.ones(m, dtype=np.bool_),
    )
