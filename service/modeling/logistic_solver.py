"""Binomial and multinomial elastic-net paths with scikit-learn's LogisticRegression, and KKT residuals."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logsumexp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from service.modeling.link import linear_predictor, one_hot, probabilities
from service.modeling.solution import PathProgress, PathSolution, alpha_blocks, stack_solution
from service.modeling.specs import Family, FloatArray, IntArray

# A class without training rows has an MLE intercept of -inf; like glmnet (pmin = 1e-9) we stop at
# a probability of 1e-9 instead, which keeps every prediction and deviance finite.
PROBABILITY_FLOOR = 1e-9


@dataclass(frozen=True)
class LogisticProblem:
    """Mean weighted negative log-likelihood on the solver's design (weights summing to n).

    Multinomial uses the symmetric parametrization (K coefficient vectors, all penalized, intercepts
    centered to sum 0, as glmnet); binomial has one vector, the log-odds of class 1.
    """

    X: FloatArray
    y: IntArray
    w: FloatArray
    n_classes: int
    multinomial: bool
    fit_intercept: bool

    @property
    def width(self) -> int:
        return self.n_classes if self.multinomial else 1

    def residuals(self, coef: FloatArray, intercept: FloatArray) -> FloatArray:
        """Fitted probability minus observed indicator, (n, K'): the loss gradient per row."""
        eta = linear_predictor(self.X, intercept, coef)
        if self.multinomial:
            fitted: FloatArray = probabilities(eta, Family.MULTINOMIAL) - one_hot(self.y, self.n_classes)
            return fitted
        return np.asarray(expit(eta) - (self.y == 1)[:, np.newaxis], dtype=np.float64)

    def present(self) -> IntArray:
        """Classes with positive weight in these rows (a CV training part may lack some)."""
        totals = np.bincount(self.y, weights=self.w, minlength=self.n_classes)
        return np.flatnonzero(totals > 0).astype(np.int64)


def null_intercepts(problem: LogisticProblem) -> FloatArray:
    """Intercepts of the intercept-only model (zeros without intercept): log class frequencies."""
    if not problem.fit_intercept:
        return np.zeros(problem.width, dtype=np.float64)
    freq = np.bincount(problem.y, weights=problem.w, minlength=problem.n_classes) / problem.w.sum()
    log_freq = np.log(np.maximum(freq, PROBABILITY_FLOOR))
    if problem.multinomial:
        centered: FloatArray = log_freq - log_freq.mean()
        return centered
    return np.array([log_freq[1] - log_freq[0]], dtype=np.float64)


def kkt_residual(
    problem: LogisticProblem, coef: FloatArray, intercept: FloatArray, alpha: float, l1_ratio: float
) -> float:
    """Largest violation of the optimality conditions of the penalized objective.

    Zero coefficients need ``|grad| <= alpha*l1_ratio``; nonzero ones need
    ``grad + alpha*(1-l1_ratio)*beta + alpha*l1_ratio*sign(beta) = 0``; intercepts need a zero gradient.
    """
    weighted = problem.residuals(coef, intercept) * (problem.w / problem.w.shape[0])[:, np.newaxis]
    smooth = problem.X.T @ weighted + alpha * (1.0 - l1_ratio) * coef
    l1 = alpha * l1_ratio
    violation = np.where(
        coef != 0.0, np.abs(smooth + l1 * np.sign(coef)), np.maximum(np.abs(smooth) - l1, 0.0)
    )
    worst = float(np.max(violation, initial=0.0))
    if problem.fit_intercept:
        worst = max(worst, float(np.max(np.abs(weighted.sum(axis=0)))))
    return worst


@dataclass(frozen=True)
class _SklearnTask:
    """The problem as LogisticRegression sees it: present classes only, positive-weight rows only.

    Two classes in the symmetric parametrization are fitted as a binary problem on
    d = beta_1 - beta_0: at the optimum beta_1 = -beta_0 = d/2, so the penalty
    P(d/2) + P(-d/2) is an enet penalty on d with alpha' = alpha (1 + l1_ratio) / 2 and
    l1_ratio' = 2 l1_ratio / (1 + l1_ratio).
    """

    X: FloatArray
    labels: IntArray
    w: FloatArray
    classes: IntArray
    symmetric_pair: bool
    alpha_factor: float
    l1_ratio: float

    @classmethod
    def build(cls, problem: LogisticProblem, present: IntArray, l1_ratio: float) -> _SklearnTask:
        rows = problem.w > 0
        pair = problem.multinomial and present.shape[0] == 2
        return cls(
            X=problem.X[rows],
            labels=problem.y[rows],
            w=problem.w[rows],
            classes=present,
            symmetric_pair=pair,
            alpha_factor=(1.0 + l1_ratio) / 2.0 if pair else 1.0,
            l1_ratio=2.0 * l1_ratio / (1.0 + l1_ratio) if pair else l1_ratio,
        )

    def estimator(self, tol: float, max_iter: int, fit_intercept: bool) -> LogisticRegression:
        # saga is scikit-learn's only solver with an L1 part; lbfgs is faster for pure ridge.
        solver = "saga" if self.l1_ratio > 0 else "lbfgs"
        return LogisticRegression(
            l1_ratio=self.l1_ratio,
            solver=solver,
            tol=tol,
            max_iter=max_iter,
            fit_intercept=fit_intercept,
            warm_start=True,
            random_state=0,
        )


def _fit_one(model: LogisticRegression, task: _SklearnTask, alpha: float) -> bool:
    """Fit at ``alpha`` (warm-started from the model's last fit); True when the solver met its tol."""
    model.set_params(C=1.0 / (float(task.w.sum()) * alpha * task.alpha_factor))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(task.X, task.labels, sample_weight=task.w)
    others = [c for c in caught if not issubclass(c.category, ConvergenceWarning)]
    for other in others:
        warnings.warn_explicit(other.message, other.category, other.filename, other.lineno)
    return len(others) == len(caught)


def _full_layout(
    problem: LogisticProblem, task: _SklearnTask, model: LogisticRegression
) -> tuple[FloatArray, FloatArray]:
    """scikit-learn's coef_/intercept_ as (p, K'), (K',) in our parametrization."""
    coef_, intercept_ = (
        np.asarray(model.coef_, dtype=np.float64),
        np.asarray(model.intercept_, dtype=np.float64),
    )
    if not problem.multinomial:
        return coef_.T.copy(), intercept_.copy()
    coef = np.zeros((problem.X.shape[1], problem.n_classes), dtype=np.float64)
    intercept = np.zeros(problem.n_classes, dtype=np.float64)
    if task.symmetric_pair:
        low, high = task.classes
        coef[:, high], coef[:, low] = coef_[0] / 2.0, -coef_[0] / 2.0
        intercept[high], intercept[low] = intercept_[0] / 2.0, -intercept_[0] / 2.0
    else:
        coef[:, task.classes] = coef_.T
        intercept[task.classes] = intercept_
    return coef, _floor_absent(problem, task.classes, coef, intercept)


def _floor_absent(
    problem: LogisticProblem, present: IntArray, coef: FloatArray, intercept: FloatArray
) -> FloatArray:
    absent = np.setdiff1d(np.arange(problem.n_classes), present)
    if absent.shape[0] > 0 and problem.fit_intercept:
        eta = linear_predictor(problem.X, intercept[present], coef[:, present])
        intercept[absent] = float(np.min(logsumexp(eta, axis=1))) + np.log(PROBABILITY_FLOOR)
    if problem.fit_intercept:
        intercept -= intercept.mean()
    return intercept


def _null_path(problem: LogisticProblem, alphas: FloatArray, l1_ratio: float) -> PathSolution:
    coef = np.zeros((problem.X.shape[1], problem.width), dtype=np.float64)
    intercept = null_intercepts(problem)
    gaps = [kkt_residual(problem, coef, intercept, float(a), l1_ratio) for a in alphas]
    m = alphas.shape[0]
    return stack_solution([coef] * m, [intercept] * m, [0] * m, gaps, [True] * m)


def solve_logistic_path(
    problem: LogisticProblem,
    l1_ratio: float,
    alphas: FloatArray,
    tol: float,
    max_iter: int,
    progress: PathProgress | None,
) -> PathSolution:
    """Warm-started LogisticRegression fits along decreasing ``alphas`` (C = 1 / (n alpha))."""
    present = problem.present()
    if problem.X.shape[1] == 0 or present.shape[0] < 2:
        # No column or a single class: all coefficients are 0 and the intercepts are the null
        # model's, at every alpha, exactly.
        return _null_path(problem, alphas, l1_ratio)
    task = _SklearnTask.build(problem, present, l1_ratio)
    model = task.estimator(tol, max_iter, problem.fit_intercept)
    # Without an intercept an absent class cannot be pushed to probability 0; say so honestly.
    absent_ok = problem.fit_intercept or present.shape[0] == problem.n_classes
    coefs, intercepts, iters, gaps, converged = [], [], [], [], []
    for block in alpha_blocks(alphas.shape[0], progress):
        for alpha in alphas[block]:
            met_tol = _fit_one(model, task, float(alpha))
            coef, intercept = _full_layout(problem, task, model)
            coefs.append(coef)
            intercepts.append(intercept)
            iters.append(int(np.max(model.n_iter_)))
            gaps.append(kkt_residual(problem, coef, intercept, float(alpha), l1_ratio))
            converged.append(met_tol and absent_ok)
    return stack_solution(coefs, intercepts, iters, gaps, converged)
