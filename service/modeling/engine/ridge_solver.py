"""Gaussian ridge paths in closed form from one SVD of the weighted, centered, scaled design."""

from __future__ import annotations

import numpy as np

from service.modeling.engine.gaussian_data import GaussianData, duality_gap
from service.modeling.engine.penalty import Penalty
from service.modeling.engine.solution import PathProgress, PathSolution, alpha_blocks
from service.modeling.specs import FloatArray


def closed_form_applies(data: GaussianData, penalty: Penalty) -> bool:
    """Pure ridge on a dense design with every column penalized and no finite bound."""
    return (
        penalty.l1_ratio == 0.0
        and not data.cols.sparse
        and bool(np.all(penalty.factors > 0.0))
        and bool(
            np.all(np.isinf(penalty.lower[penalty.free])) and np.all(np.isinf(penalty.upper[penalty.free]))
        )
    )


def solve_ridge_path(
    data: GaussianData, penalty: Penalty, alphas: FloatArray, progress: PathProgress | None
) -> PathSolution:
    """Exact minimizers of ``1/2 sum v (y - Z beta)^2 + alpha/2 sum pf beta^2`` for every alpha.

    With ``Zt = diag(sqrt v) Z diag(1/sqrt pf) = U S V^T``: ``beta = diag(1/sqrt pf) V diag(s / (s^2 +
    alpha)) U^T sqrt(v) y``. Exact up to rounding, so every alpha is reported converged with 0
    iterations; ``dual_gap`` is still computed from the solution as evidence.
    """
    cols, free = data.cols, penalty.free
    root_v = np.sqrt(data.v)
    dense = np.asarray(cols.X)[:, free]
    Zt = (
        (dense - cols.center[free])
        / (cols.scale[free] * np.sqrt(penalty.factors[free]))
        * root_v[:, np.newaxis]
    )
    u, s, vt = np.linalg.svd(Zt, full_matrices=False)
    uty = u.T @ (root_v * data.y)
    m, p = alphas.shape[0], cols.shape[1]
    coefs = np.zeros((m, p), dtype=np.float64)
    for block in alpha_blocks(m, progress):
        shrink = s[np.newaxis, :] / (s[np.newaxis, :] ** 2 + alphas[block, np.newaxis])
        coefs[block][:, free] = ((shrink * uty[np.newaxis, :]) @ vt) / np.sqrt(penalty.factors[free])
    _, hdiag = cols.moments(data.v)
    gaps = np.empty(m)
    for i, (beta, alpha) in enumerate(zip(coefs, alphas, strict=True)):
        r = data.y - cols.matvec(beta)
        vr = data.v * r
        gaps[i] = duality_gap(penalty, float(alpha), beta, cols.xt(vr), float(vr @ r), hdiag)
    return PathSolution(
        coef=coefs[:, :, np.newaxis],
        intercept=np.array([[data.intercept(c)] for c in coefs], dtype=np.float64),
        n_iter=np.zeros(m, dtype=np.int64),
        dual_gap=gaps,
        converged=np.ones(m, dtype=np.bool_),
    )
