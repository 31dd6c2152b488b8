"""Binomial and multinomial elastic-net paths: the engines behind ``solve_path`` for logistic losses."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from service.modeling.link import linear_predictor, row_logsumexp
from service.modeling.logistic_problem import (
    PROBABILITY_FLOOR,
    LogisticProblem,
    kkt_residual,
    null_intercepts,
    penalty_center,
)
from service.modeling.newton_solver import NewtonFit, NewtonPath
from service.modeling.solution import PathProgress, PathSolution, alpha_blocks, stack_solution
from service.modeling.specs import FloatArray, IntArray


class LbfgsPath:
    """Warm-started LogisticRegression(lbfgs) fits for the pure L2 penalty, C = 1 / (n alpha).

    Two classes in the symmetric parametrization are fitted as a binary problem on
    d = beta_1 - beta_0: at the optimum beta_1 = -beta_0 = d/2, so the penalty
    alpha/2 (|d/2|^2 + |d/2|^2) is a ridge penalty on d with alpha' = alpha / 2.
    """

    def __init__(self, problem: LogisticProblem, tol: float, max_iter: int) -> None:
        self._problem = problem
        self._pair = problem.multinomial and problem.n_classes == 2
        self._model = LogisticRegression(
            l1_ratio=0.0,
            solver="lbfgs",
            tol=tol,
            max_iter=max_iter,
            fit_intercept=problem.fit_intercept,
            warm_start=True,
        )

    def fit(self, alpha: float) -> NewtonFit:
        problem, model = self._problem, self._model
        effective = alpha / 2.0 if self._pair else alpha
        model.set_params(C=1.0 / (problem.w.shape[0] * effective))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(problem.X, problem.y, sample_weight=problem.w)
        converged = True
        for record in caught:
            if issubclass(record.category, ConvergenceWarning):
                converged = False
            else:  # anything else is not ours to swallow
                warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
        coef, intercept = (
            np.asarray(model.coef_, dtype=np.float64).T,
            np.asarray(model.intercept_, dtype=np.float64),
        )
        if self._pair:
            coef, intercept = (
                np.hstack([-coef / 2.0, coef / 2.0]),
                np.hstack([-intercept / 2.0, intercept / 2.0]),
            )
        return NewtonFit(coef.copy(), intercept.copy(), int(np.max(model.n_iter_)), converged)


def _expand(
    problem: LogisticProblem, present: IntArray, fit: NewtonFit, l1_ratio: float
) -> tuple[FloatArray, FloatArray]:
    """Coefficients of the present classes placed among all K; absent classes floored at 1e-9."""
    if not problem.multinomial:
        return fit.coef, fit.intercept
    coef = np.zeros((problem.X.shape[1], problem.n_classes), dtype=np.float64)
    intercept = np.zeros(problem.n_classes, dtype=np.float64)
    coef[:, present], intercept[present] = fit.coef, fit.intercept
    if problem.fit_intercept:
        absent = np.setdiff1d(np.arange(problem.n_classes), present)
        if absent.shape[0] > 0:
            eta = linear_predictor(problem.X, fit.intercept, fit.coef)
            intercept[absent] = float(np.min(row_logsumexp(eta))) + np.log(PROBABILITY_FLOOR)
        intercept -= intercept.mean()
    return coef - penalty_center(coef, l1_ratio)[:, np.newaxis], intercept


def _null_path(problem: LogisticProblem, alphas: FloatArray, l1_ratio: float) -> PathSolution:
    coef = np.zeros((problem.X.shape[1], problem.width), dtype=np.float64)
    intercept = null_intercepts(problem)
    gaps = [kkt_residual(problem, coef, intercept, float(a), l1_ratio) for a in alphas]
    m = alphas.shape[0]
    return stack_solution([coef] * m, [intercept] * m, [0] * m, gaps, [True] * m)


@dataclass(frozen=True)
class _Fits:
    coefs: list[FloatArray]
    intercepts: list[FloatArray]
    n_iter: list[int]
    gaps: list[float]
    converged: list[bool]


def solve_logistic_path(
    problem: LogisticProblem,
    l1_ratio: float,
    alphas: FloatArray,
    tol: float,
    max_iter: int,
    progress: PathProgress | None,
) -> PathSolution:
    """Fits along decreasing ``alphas``, each warm-started from the previous one.

    l1_ratio > 0: proximal Newton on scikit-learn's coordinate descent (``newton_solver``).
    l1_ratio == 0: scikit-learn's LogisticRegression with lbfgs (smooth, so quasi-Newton is fast).
    Both see only the present classes and positive-weight rows; classes absent from the rows (a CV
    training part may lack one) get zero coefficients and a floored probability afterwards.
    """
    present = problem.present()
    if problem.X.shape[1] == 0 or present.shape[0] < 2:
        # No column or a single class: all coefficients are 0 and the intercepts are the null
        # model's, at every alpha, exactly.
        return _null_path(problem, alphas, l1_ratio)
    reduced = problem.reduced(present)
    engine = (
        NewtonPath(reduced, l1_ratio, tol, max_iter) if l1_ratio > 0 else LbfgsPath(reduced, tol, max_iter)
    )
    # Without an intercept an absent class cannot be pushed to probability 0; say so honestly.
    absent_ok = problem.fit_intercept or present.shape[0] == problem.n_classes
    fits = _Fits([], [], [], [], [])
    for block in alpha_blocks(alphas.shape[0], progress):
        for alpha in alphas[block]:
            fit = engine.fit(float(alpha))
            coef, intercept = _expand(problem, present, fit, l1_ratio)
            fits.coefs.append(coef)
            fits.intercepts.append(intercept)
            fits.n_iter.append(fit.n_iter)
            fits.gaps.append(kkt_residual(problem, coef, intercept, float(alpha), l1_ratio))
            fits.converged.append(fit.converged and absent_ok)
    return stack_solution(fits.coefs, fits.intercepts, fits.n_iter, fits.gaps, fits.converged)
