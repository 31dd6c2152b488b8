"""The one boundary between what to fit and how to solve it: ``solve_path`` and ``alpha_max``."""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from service.modeling.gaussian_solver import WeightedLeastSquares, solve_enet_path
from service.modeling.link import one_hot, probabilities
from service.modeling.logistic_problem import LogisticProblem, null_intercepts
from service.modeling.logistic_solver import solve_logistic_path
from service.modeling.ridge_solver import solve_ridge_path
from service.modeling.solution import PathProgress, PathSolution
from service.modeling.specs import Family, FloatArray, IntArray

# Everything above this module (standardization, path alphas, CV, selection, metrics) calls only
# these two functions; the engines behind them (scikit-learn today) can be swapped without touching
# it. Both work on the solver's design: the active, standardized-if-requested columns, with
# weights normalized to sum to n.

__all__ = ["PathProgress", "PathSolution", "alpha_max", "solve_path"]

# glmnet's convention for ridge: alpha_max is computed as if l1_ratio were at least 1e-3, which
# gives a finite start where (nearly) all coefficients are (nearly) zero.
MIN_L1_RATIO_FOR_ALPHA_MAX = 1e-3


def _logistic_problem(
    X: FloatArray,
    y: FloatArray | IntArray,
    w: FloatArray,
    family: Family,
    n_classes: int,
    fit_intercept: bool,
) -> LogisticProblem:
    return LogisticProblem(
        X=X,
        y=np.asarray(y, dtype=np.int64),
        w=w,
        n_classes=n_classes,
        multinomial=family == Family.MULTINOMIAL,
        fit_intercept=fit_intercept,
    )


def null_gradient(
    X: FloatArray,
    y: FloatArray | IntArray,
    w: FloatArray,
    family: Family,
    n_classes: int,
    fit_intercept: bool,
) -> FloatArray:
    """Gradient (p, K') of the loss w.r.t. the coefficients at the intercept-only (or zero) model."""
    n = X.shape[0]
    if family == Family.GAUSSIAN:
        target = np.asarray(y, dtype=np.float64)
        residual = target - (float(w @ target) / n if fit_intercept else 0.0)
        if fit_intercept and np.ptp(target[w > 0]) == 0.0:
            # A constant target is fitted exactly by the intercept; rounding in its mean must
            # not produce a spurious, tiny alpha_max.
            residual = np.zeros_like(target)
        gradient: FloatArray = -(X.T @ (w * residual) / n)[:, np.newaxis]
        return gradient
    problem = _logistic_problem(X, y, w, family, n_classes, fit_intercept)
    intercept = null_intercepts(problem)
    eta = np.broadcast_to(intercept, (n, problem.width))
    if problem.multinomial:
        fitted = probabilities(eta, Family.MULTINOMIAL) - one_hot(problem.y, n_classes)
    else:
        fitted = expit(eta) - (problem.y == 1)[:, np.newaxis]
    return np.asarray(X.T @ (fitted * w[:, np.newaxis]) / n, dtype=np.float64)


def alpha_max(
    X: FloatArray,
    y: FloatArray | IntArray,
    w: FloatArray,
    family: Family,
    l1_ratio: float,
    fit_intercept: bool,
    n_classes: int = 1,
) -> float:
    """The smallest alpha at which every coefficient is zero: max |gradient at the null model| / l1_ratio.

    For l1_ratio below 1e-3 (ridge included) the divisor is 1e-3, as glmnet does. Returns 0.0
    when the design has no columns or the null model already fits perfectly.
    """
    gradient = null_gradient(X, y, w, family, n_classes, fit_intercept)
    return float(np.max(np.abs(gradient), initial=0.0)) / max(l1_ratio, MIN_L1_RATIO_FOR_ALPHA_MAX)


def solve_path(
    X: FloatArray,
    y: FloatArray | IntArray,
    w: FloatArray,
    family: Family,
    l1_ratio: float,
    alphas: FloatArray,
    fit_intercept: bool,
    tol: float,
    max_iter: int,
    checkpoint: PathProgress | None = None,
    *,
    n_classes: int = 1,
) -> PathSolution:
    """Minimize the objective at each of the decreasing ``alphas``, warm-starting along the path.

    Gaussian: ``1/(2n) sum w_i (y_i - b - x_i.beta)^2 + alpha * sum_j (l1_ratio |beta_j| +
    (1-l1_ratio)/2 beta_j^2)``; binomial/multinomial: the mean weighted negative log-likelihood
    plus the same penalty. ``w`` sums to n; ``y`` is float for gaussian, class codes 0..K-1
    (``n_classes`` = K) otherwise.

    What ``tol`` means, and so ``converged``:
      - gaussian, l1_ratio > 0 (coordinate descent): the duality gap, recomputed here from the
        solution, is at most ``tol`` times the weighted variance of y (scikit-learn's criterion);
        ``dual_gap`` is that gap in objective units and ``n_iter`` counts coordinate-descent epochs.
      - gaussian ridge: solved in closed form; always converged, ``n_iter`` 0, ``dual_gap`` shown.
      - logistic with lbfgs (l1_ratio == 0): scipy's L-BFGS-B reports success, i.e. the largest
        projected gradient component is at most ``tol`` (or the relative decrease of the objective
        fell below 64 machine epsilons, scipy's ``ftol``).
      - logistic with l1_ratio > 0 (proximal Newton, ``newton_solver``): the largest KKT violation
        is at most ``tol``; ``max_iter`` caps both the Newton cycles and each inner
        coordinate-descent solve, and ``n_iter`` sums the coordinate-descent epochs.
      For logistic, ``dual_gap`` is the largest KKT violation (``logistic_problem.kkt_residual``,
      in gradient units of the objective), comparable across engines; lbfgs's ``n_iter`` counts
      its iterations.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    if family == Family.GAUSSIAN:
        ls = WeightedLeastSquares.build(X, np.asarray(y, dtype=np.float64), w, fit_intercept)
        if l1_ratio == 0.0 or X.shape[1] == 0:
            # Without columns the closed form is just the intercept; coordinate descent needs one.
            return solve_ridge_path(ls, alphas, checkpoint)
        return solve_enet_path(ls, l1_ratio, alphas, tol, max_iter, checkpoint)
    problem = _logistic_problem(X, y, w, family, n_classes, fit_intercept)
    return solve_logistic_path(problem, l1_ratio, alphas, tol, max_iter, checkpoint)
