"""Penalized logistic fits by proximal Newton (glmnet's IRLS), each step a weighted enet solved by CD."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.modeling.gaussian_solver import WeightedLeastSquares, coordinate_descent
from service.modeling.logistic_problem import (
    LogisticProblem,
    kkt_residual,
    null_intercepts,
    objective,
    penalty_center,
)
from service.modeling.specs import FloatArray

# Curvature floor: a row predicted with probability 1 - 1e-9 (glmnet's pmin) still has weight.
MIN_CURVATURE = 1e-9
# The inner coordinate descent stops at a duality gap of inner_tol * |y_t|^2, which bounds the KKT
# residual the outer loop can reach by about sqrt(inner_tol). It starts at 1e-3 * tol (within
# [1e-14, 1e-6]) and tightens 100-fold whenever a Newton cycle stops decreasing the objective;
# below 1e-14 scikit-learn's gap is rounding noise and coordinate descent would run to max_iter.
INNER_TOL_FACTOR = 1e-3
INNER_TOL_RANGE = (1e-14, 1e-6)
INNER_TOL_TIGHTENING = 1e-2
# A cycle made progress when it cut the best KKT residual so far by 1%; after this many cycles
# without progress at the tightest inner tolerance the fit stops, unconverged.
PROGRESS = 0.99
PATIENCE = 10
MIN_STEP = 2.0**-30


@dataclass(frozen=True)
class NewtonFit:
    coef: FloatArray  # (p, K')
    intercept: FloatArray  # (K',)
    n_iter: int  # coordinate-descent epochs summed over the Newton steps (glmnet's "npasses")
    converged: bool


def _partial_newton(
    problem: LogisticProblem,
    coef: FloatArray,
    intercept: FloatArray,
    start: float,
    k: int,
    penalty: tuple[float, float],
    inner: tuple[float, int],
) -> tuple[FloatArray, FloatArray, float, int]:
    """One Newton step on coefficient vector k (the others fixed), backtracking from objective ``start``."""
    alpha, l1_ratio = penalty
    p = problem.class_probability(coef, intercept, k)
    curvature = np.maximum(p * (1.0 - p), MIN_CURVATURE)
    working = intercept[k] + problem.X @ coef[:, k] + (problem.indicator(k) - p) / curvature
    ls = WeightedLeastSquares.build(problem.X, working, problem.w * curvature, problem.fit_intercept)
    target, epochs = coordinate_descent(ls, l1_ratio, np.array([alpha]), coef[:, k], *inner, ls.gram())
    step_coef = target[0] - coef[:, k]
    step_intercept = (ls.intercept(target[0]) if problem.fit_intercept else 0.0) - intercept[k]
    size = 1.0
    while size >= MIN_STEP:
        trial_coef, trial_intercept = coef.copy(), intercept.copy()
        trial_coef[:, k] += size * step_coef
        trial_intercept[k] += size * step_intercept
        value = objective(problem, trial_coef, trial_intercept, alpha, l1_ratio)
        if value <= start:
            return trial_coef, trial_intercept, value, int(epochs[0])
        size /= 2.0
    return coef, intercept, start, int(epochs[0])


class NewtonPath:
    """Warm-started fits along decreasing alphas, starting from the intercept-only model.

    scikit-learn's saga, LogisticRegression's only solver with an L1 part, needed 65,000 to 100,000
    epochs (15-20 s) per alpha once the breast-cancer lasso path passed alpha_max / 150, so a default
    10-fold CV path took hours. glmnet's scheme takes a few Newton steps per alpha instead: the loss
    is replaced by its quadratic approximation ``1/(2n) sum w_i h_i (z_i - b - x_i.beta)^2`` with
    ``h = p (1 - p)`` and working response ``z = eta + (y - p) / h``, which is exactly the gaussian
    problem scikit-learn's coordinate descent solves; a backtracking line search on the true objective
    makes every step a descent. Multinomial cycles over the classes, one partial Newton step per class
    (glmnet's ``lognet``).
    """

    def __init__(self, problem: LogisticProblem, l1_ratio: float, tol: float, max_iter: int) -> None:
        self._problem = problem
        self._l1_ratio = l1_ratio
        self._tol = tol
        self._max_iter = max_iter
        self._coef = np.zeros((problem.X.shape[1], problem.width), dtype=np.float64)
        self._intercept = null_intercepts(problem)

    def fit(self, alpha: float) -> NewtonFit:
        """Newton cycles until the largest KKT violation is at most tol.

        Stops unconverged after max_iter cycles, or after PATIENCE cycles without progress at the
        tightest inner tolerance.
        """
        problem, coef, intercept, l1_ratio = self._problem, self._coef, self._intercept, self._l1_ratio
        low, high = INNER_TOL_RANGE
        inner_tol = min(max(self._tol * INNER_TOL_FACTOR, low), high)
        best, idle, epochs, residual = np.inf, 0, 0, np.inf
        for _ in range(self._max_iter):
            coef, intercept, used = self._cycle(coef, intercept, alpha, inner_tol)
            epochs += used
            residual = kkt_residual(problem, coef, intercept, alpha, l1_ratio)
            if residual <= self._tol:
                break
            if residual < PROGRESS * best:
                best, idle = residual, 0
            elif inner_tol > low:
                inner_tol = max(inner_tol * INNER_TOL_TIGHTENING, low)
            else:
                idle += 1
                if idle >= PATIENCE:
                    break
        self._coef, self._intercept = coef, intercept
        return NewtonFit(coef, intercept, epochs, bool(residual <= self._tol))

    def _cycle(
        self, coef: FloatArray, intercept: FloatArray, alpha: float, inner_tol: float
    ) -> tuple[FloatArray, FloatArray, int]:
        """One partial Newton step per coefficient vector, then (multinomial) glmnet's centering."""
        problem, epochs = self._problem, 0
        value = objective(problem, coef, intercept, alpha, self._l1_ratio)
        for k in range(coef.shape[1]):
            coef, intercept, value, used = _partial_newton(
                problem, coef, intercept, value, k, (alpha, self._l1_ratio), (inner_tol, self._max_iter)
            )
            epochs += used
        if problem.multinomial:
            # Shifting every class by the same amount leaves the loss unchanged; removing the
            # shift that minimizes the penalty keeps the iterates out of the flat direction,
            # where class-by-class steps would otherwise crawl.
            coef = coef - penalty_center(coef, self._l1_ratio)[:, np.newaxis]
            if problem.fit_intercept:
                intercept = intercept - intercept.mean()
        return coef, intercept, epochs
