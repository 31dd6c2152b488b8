"""Knockoff copies of a design: the s vector (equicorrelated or SDP) and fixed-X / model-X knockoffs.

For a correlation matrix ``Sigma`` (p, p) and ``D = diag(s)``, knockoffs ``X~`` satisfy

    fixed-X  (Barber & Candes 2015, Ann. Statist. 43(5), eq. 1.2):
             X~'X~ = Sigma = X'X,   X'X~ = Sigma - D,   with columns of X centred, unit norm;
             X~ = X (I - Sigma^-1 D) + U C,  U'[1, X] = 0,  C'C = 2D - D Sigma^-1 D;
    model-X  (Candes, Fan, Janson & Lv 2018, JRSS-B 80(3), sec. 3.1), X ~ N(0, Sigma):
             X~ | X ~ N(X - X Sigma^-1 D,  2D - D Sigma^-1 D),
             so that [X, X~] ~ N(0, G),  G = [[Sigma, Sigma - D], [Sigma - D, Sigma]].

Both need ``2 Sigma - D`` positive semidefinite. ``s`` is either equicorrelated,
``s_j = min(2 lambda_min(Sigma), 1)``, or the SDP's ``max sum_j s_j`` subject to ``0 <= s_j <= 1``
and ``D <= 2 Sigma``. The SDP is solved without an SDP library by the barrier method (Boyd &
Vandenberghe 2004, sec. 11.3): Newton's method on ``t sum_j s_j + log det(2 Sigma - D) +
sum_j log s_j + log(1 - s_j)`` for t growing tenfold until the gap bound 3p/t is below 1e-6 p
(the gradient of the log det term in s_j is ``-K_jj`` and its Hessian ``-(K o K)`` with
``K = (2 Sigma - D)^-1``, as in knockpy's SDP coordinate descent, ``mrc._solve_maxent_sdp_cd``).
``sdp_dual_bound`` gives the matching upper bound on the optimum, a certificate of the gap.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.linalg as la

from service.modeling.specs import FloatArray

# The smallest eigenvalue of 2 Sigma - D we accept (rounding of an exactly singular matrix).
PSD_TOLERANCE = 1e-10
# The barrier ends once its duality gap, mu * p, is below this fraction of p (s is then within
# about 1e-6 per coordinate of the SDP optimum on average).
SDP_GAP_PER_COLUMN = 1e-6
SDP_T_GROWTH = 10.0
SDP_MAX_OUTER = 20
SDP_MAX_NEWTON = 100

StepCallback = Callable[[int], None]


def equicorrelated_s(sigma: FloatArray) -> FloatArray:
    """``s_j = min(2 lambda_min(Sigma), 1)`` for a correlation matrix (made feasible)."""
    lam_min = float(la.eigvalsh(sigma, subset_by_index=[0, 0])[0])
    s = np.full(sigma.shape[0], min(2.0 * max(lam_min, 0.0), 1.0))
    return make_feasible(sigma, s)


def sdp_s(sigma: FloatArray, on_step: StepCallback | None = None) -> FloatArray:
    """The SDP's s for a correlation matrix by the barrier method (see the module docstring)."""
    p = sigma.shape[0]
    lam_min = smallest_eigenvalue(sigma)
    if lam_min <= 0:
        return np.zeros(p)
    # Strictly inside: 0 < s < 1 and 2 Sigma - D has smallest eigenvalue >= lam_min > 0.
    s = np.full(p, min(lam_min, 0.5))
    t = 1.0
    for step in range(SDP_MAX_OUTER):
        s = _center(sigma, s, t)
        if on_step is not None:
            on_step(step)
        # At the barrier's centre the gap to the optimum is at most (p + 2p) / t (p for log det,
        # 2p for the box).
        if 3 * p / t <= SDP_GAP_PER_COLUMN * p:
            break
        t *= SDP_T_GROWTH
    return make_feasible(sigma, s)


def _barrier(sigma: FloatArray, s: FloatArray, t: float) -> float:
    """``t sum s + log det(2 Sigma - D) + sum log s + sum log(1 - s)``; -inf outside the domain."""
    if np.any(s <= 0) or np.any(s >= 1):
        return -np.inf
    try:
        chol = la.cholesky(2.0 * sigma - np.diag(s), lower=True)
    except la.LinAlgError:
        return -np.inf
    logdet = 2.0 * float(np.log(np.diag(chol)).sum())
    return t * float(s.sum()) + logdet + float(np.log(s).sum() + np.log1p(-s).sum())


def _center(sigma: FloatArray, s: FloatArray, t: float) -> FloatArray:
    """Newton's method with backtracking (Boyd & Vandenberghe, sec. 9.5) on the barrier at ``t``."""
    value = _barrier(sigma, s, t)
    for _ in range(SDP_MAX_NEWTON):
        K = la.inv(2.0 * sigma - np.diag(s))
        gradient = t - np.diag(K) + 1.0 / s - 1.0 / (1.0 - s)
        # The barrier is concave: minus its Hessian, (K o K) + diag(1/s^2 + 1/(1-s)^2), is positive
        # definite.
        curvature = K * K + np.diag(1.0 / s**2 + 1.0 / (1.0 - s) ** 2)
        direction = la.solve(curvature, gradient, assume_a="pos")
        decrement = float(gradient @ direction)
        if decrement / 2 <= 1e-10:
            break
        size = 1.0
        while size > 1e-12:
            trial = s + size * direction
            trial_value = _barrier(sigma, trial, t)
            if trial_value >= value + 0.25 * size * decrement:
                s, value = trial, trial_value
                break
            size /= 2
        else:
            break
    return s


def sdp_dual_bound(sigma: FloatArray, s: FloatArray) -> float:
    """An upper bound on the SDP's optimum from the barrier's dual point ``Z = mu (2 Sigma - D)^-1``.

    The dual is ``min 2 tr(Z Sigma) + sum_j u_j`` over ``Z >= 0``, ``u >= 0``, ``Z_jj + u_j >= 1``;
    any ``mu > 0`` gives a feasible point with ``u_j = max(0, 1 - Z_jj)``; the best mu is taken.
    """
    M = 2.0 * sigma - np.diag(s)
    eigenvalues = la.eigvalsh(M)
    if eigenvalues[0] <= 0:
        return float(sigma.shape[0])
    K = la.inv(M)
    trace = float(np.sum(K * sigma))
    diagonal = np.diag(K)
    candidates = np.concatenate([1.0 / diagonal, np.geomspace(1e-12, 1e2, 200)])
    bounds = [2 * mu * trace + float(np.maximum(0.0, 1.0 - mu * diagonal).sum()) for mu in candidates]
    return float(min(min(bounds), sigma.shape[0]))


def smallest_eigenvalue(matrix: FloatArray) -> float:
    return float(la.eigvalsh(matrix, subset_by_index=[0, 0])[0])


def make_feasible(sigma: FloatArray, s: FloatArray) -> FloatArray:
    """``s`` shrunk (by a scale factor) until ``2 Sigma - diag(s)`` has eigenvalues >= -PSD_TOLERANCE."""
    lam_sigma = max(smallest_eigenvalue(sigma), 0.0)
    for _ in range(50):
        gap = smallest_eigenvalue(2.0 * sigma - np.diag(s))
        if gap >= -PSD_TOLERANCE:
            return s
        # 2 Sigma - g D = g (2 Sigma - D) + (1 - g) 2 Sigma >= 0 once (1 - g) 2 lam_sigma >= g |gap|;
        # a hair more keeps rounding on the safe side.
        factor = 2 * lam_sigma / (2 * lam_sigma - gap) if lam_sigma > 0 else 0.5
        s = s * (factor * (1 - 1e-12))
    return np.zeros_like(s)


def _psd_sqrt(matrix: FloatArray) -> FloatArray:
    """The symmetric square root, negative eigenvalues (rounding) clipped to zero."""
    eigenvalues, vectors = la.eigh(matrix)
    root: FloatArray = (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T
    return root


def _conditional_parts(sigma: FloatArray, s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(I - Sigma^-1 D, sqrt(2D - D Sigma^-1 D))``: the knockoff's mean map and noise factor."""
    sigma_inv_d = la.solve(sigma, np.diag(s), assume_a="pos")
    mean_map = np.eye(s.shape[0]) - sigma_inv_d
    covariance = 2.0 * np.diag(s) - np.diag(s) @ sigma_inv_d
    return mean_map, _psd_sqrt((covariance + covariance.T) / 2)


def fixed_x_knockoffs(X: FloatArray, s: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Fixed-X knockoffs of X (n, p), whose columns are centred with unit norm; needs n >= 2p + 1.

    U is orthonormal and orthogonal to the intercept and to X: the last p columns of a QR of
    ``[1, X, G]`` with G standard normal (seeded), so X~ is centred too.
    """
    n, p = X.shape
    sigma = X.T @ X
    mean_map, C = _conditional_parts(sigma, s)
    basis = np.hstack([np.full((n, 1), 1.0 / np.sqrt(n)), X, rng.standard_normal((n, p))])
    q, _ = la.qr(basis, mode="economic")
    U = q[:, p + 1 :]
    knockoffs: FloatArray = X @ mean_map + U @ C
    return knockoffs


def model_x_knockoffs(
    Z: FloatArray, sigma: FloatArray, s: FloatArray, rng: np.random.Generator
) -> FloatArray:
    """Gaussian model-X knockoffs of the standardized rows Z (n, p) under N(0, Sigma)."""
    mean_map, C = _conditional_parts(sigma, s)
    noise = rng.standard_normal(Z.shape)
    knockoffs: FloatArray = Z @ mean_map + noise @ C
    return knockoffs
