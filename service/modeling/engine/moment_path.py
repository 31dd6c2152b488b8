"""Gaussian elastic-net paths from a table's weighted moments alone (no design matrix: tall data)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.modeling.engine.gaussian_data import TINY
from service.modeling.engine.gaussian_engine import fit_gaussian_null, solver_path
from service.modeling.engine.gram_solver import GramSolver
from service.modeling.engine.path_control import PathControl
from service.modeling.engine.penalty import Penalty
from service.modeling.engine.solution import PathProgress, PathSolution
from service.modeling.specs import FloatArray, IntArray

# glmnet's convention for ridge, as solver.alpha_max: alpha_max as if l1_ratio were at least 1e-3.
MIN_L1_RATIO_FOR_ALPHA_MAX = 1e-3


@dataclass(frozen=True)
class GramMoments:
    """Raw weighted moments of rows ``(x_i, y_i)`` under weights ``w_i`` (any positive total).

    ``S = sum w x x^T`` (p, p), ``sx = sum w x``, ``sxy = sum w y x``, ``sy = sum w y``,
    ``syy = sum w y^2``, ``total = sum w``: all a gaussian path needs besides the standardization.
    """

    S: FloatArray
    sx: FloatArray
    sxy: FloatArray
    sy: float
    syy: float
    total: float


@dataclass(frozen=True, eq=False)
class MomentTarget:
    """The centered target as covariance-mode descent sees it (``GramTarget``), from moments."""

    yy: float  # sum v y_c^2, v = w / sum w
    y_mean: float
    mean: FloatArray  # the caller's centering (the intercept is reported for it)
    center: FloatArray  # the solver's centering: the weighted mean with an intercept
    scale: FloatArray

    def goal(self, tol: float) -> float:
        return tol * self.yy if self.yy > 0 else float(TINY)

    def intercept(self, beta: FloatArray) -> float:
        return self.y_mean + float(beta @ ((self.mean - self.center) / self.scale))


def moment_solver(
    moments: GramMoments, penalty: Penalty, center: FloatArray, scale: FloatArray, fit_intercept: bool
) -> GramSolver:
    """``GramSolver.build`` with every product over rows replaced by its moment: the same centered,
    scaled Gram matrix, ``Z^T v y_c`` and ``sum v y_c^2`` as the in-memory build computes."""
    m, total = moments, moments.total
    c = m.sx / total if fit_intercept else np.asarray(center, dtype=np.float64)
    y_mean = m.sy / total if fit_intercept else 0.0
    sxv = m.sx / total
    G = m.S / total - np.outer(sxv, c) - np.outer(c, sxv) + np.outer(c, c)
    G /= np.outer(scale, scale)
    # Z^T (v y_c) = (X^T v y - y_mean X^T v - c sum v y_c) / s, as Columns.xt computes it.
    xvy = (m.sxy - y_mean * m.sx) / total
    xty = (xvy - c * (m.sy / total - y_mean)) / scale
    # sum v (y - y_mean)^2; rounding may take a constant target's a hair below zero.
    yy = max(m.syy / total - 2.0 * y_mean * m.sy / total + y_mean * y_mean, 0.0)
    target = MomentTarget(yy, y_mean, np.asarray(center, dtype=np.float64), c, np.asarray(scale))
    return GramSolver(target, penalty, np.asfortranarray(G), xty)


def moment_alpha_max(
    moments: GramMoments,
    l1_ratio: float,
    fit_intercept: bool,
    penalty_factors: FloatArray | None,
    lower: FloatArray | None,
    upper: FloatArray | None,
    *,
    center: FloatArray,
    scale: FloatArray,
    constant_target: bool,
) -> float:
    """``solver.alpha_max`` for gaussian from moments; ``constant_target``: y takes one value on
    the positive-weight rows (then, with an intercept, no column can move: 0.0)."""
    p = moments.sx.shape[0]
    penalty = Penalty.build(p, l1_ratio, penalty_factors, lower, upper)
    penalized = (penalty.factors > 0.0) & penalty.free
    if (fit_intercept and constant_target) or not np.any(penalized):
        return 0.0
    solver = moment_solver(moments, penalty, center, scale, fit_intercept)
    fit_gaussian_null(solver, solver.data.yy)
    push = penalty.allowed_push(solver.q)
    ratio = push[penalized] / penalty.factors[penalized]
    return float(np.max(ratio)) / max(l1_ratio, MIN_L1_RATIO_FOR_ALPHA_MAX)


def solve_moment_path(
    moments: GramMoments,
    l1_ratio: float,
    alphas: FloatArray,
    fit_intercept: bool,
    tol: float,
    max_iter: int,
    checkpoint: PathProgress | None = None,
    *,
    center: FloatArray,
    scale: FloatArray,
    penalty_factors: FloatArray | None = None,
    lower: FloatArray | None = None,
    upper: FloatArray | None = None,
    max_features: int | None = None,
    column_features: IntArray | None = None,
    saturation: bool = False,
) -> PathSolution:
    """``solve_path`` for gaussian in covariance mode from ``moments``: the same objective, the
    same certificates (``tol`` relative to ``sum v y_c^2``) and the same path control.

    Coordinate descent on the Gram matrix, pure ridge in closed form (as in memory); the in-memory
    engine solves a single alpha by residuals, to the same optimum within ``tol``.
    """
    p = moments.sx.shape[0]
    penalty = Penalty.build(p, l1_ratio, penalty_factors, lower, upper)
    solver = moment_solver(moments, penalty, center, scale, fit_intercept)
    alphas = np.asarray(alphas, dtype=np.float64)
    if max_features is None and _closed_form_applies(penalty):
        return _ridge_path(solver, alphas, tol, checkpoint)
    control = PathControl(max_features, column_features, saturation)
    return solver_path(solver, alphas, tol, max_iter, checkpoint, control)


def _closed_form_applies(penalty: Penalty) -> bool:
    """``ridge_solver.closed_form_applies`` for a Gram matrix: pure ridge, every column penalized,
    no finite bound."""
    free = penalty.free
    return (
        penalty.l1_ratio == 0.0
        and bool(np.all(penalty.factors > 0.0))
        and bool(np.all(np.isinf(penalty.lower[free])) and np.all(np.isinf(penalty.upper[free])))
    )


def _ridge_path(
    solver: GramSolver, alphas: FloatArray, tol: float, checkpoint: PathProgress | None
) -> PathSolution:
    """``solve_ridge_path`` from the Gram matrix: with ``A = P^-1/2 G P^-1/2 = Q diag(l) Q^T`` (P the
    penalty factors), ``beta = P^-1/2 Q diag(1 / (l + alpha)) Q^T P^-1/2 Z^T v y``: the same exact
    minimizers as the in-memory SVD of the design (``l`` are its squared singular values)."""
    penalty, free = solver.penalty, solver.penalty.free
    root = np.sqrt(penalty.factors[free])
    eigenvalues, vectors = np.linalg.eigh(solver.G[np.ix_(free, free)] / np.outer(root, root))
    projected = vectors.T @ (solver.c[free] / root)
    m, p = alphas.shape[0], solver.G.shape[0]
    coefs, gaps = np.zeros((m, p)), np.empty(m)
    for i, alpha in enumerate(alphas):
        coefs[i, free] = (vectors @ (projected / (np.maximum(eigenvalues, 0.0) + alpha))) / root
        # The certificate of the in-memory closed form, from the Gram matrix.
        solver.beta = coefs[i].copy()
        solver.q = solver.c - solver.G @ solver.beta
        gaps[i] = solver.certificate(float(alpha), tol).gap
    if checkpoint is not None:
        checkpoint(1.0)
    return PathSolution(
        coef=coefs[:, :, np.newaxis],
        intercept=np.array([[solver.data.intercept(c)] for c in coefs], dtype=np.float64),
        n_iter=np.zeros(m, dtype=np.int64),
        dual_gap=gaps,
        converged=np.ones(m, dtype=np.bool_),
    )
