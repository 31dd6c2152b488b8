"""The penalized logistic objective on the solver's design: gradients, KKT residuals, null model."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import expit

from service.modeling.link import linear_predictor, log_probabilities, one_hot, probabilities
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

    def reduced(self, present: IntArray) -> LogisticProblem:
        """The same objective on the positive-weight rows, classes renumbered 0..len(present)-1.

        Weights are rescaled to sum to the remaining row count, which leaves the objective (a
        weighted mean) unchanged.
        """
        rows = self.w > 0
        w = self.w[rows]
        codes = np.searchsorted(present, self.y[rows]).astype(np.int64)
        n_classes = present.shape[0] if self.multinomial else self.n_classes
        return replace(
            self, X=self.X[rows], y=codes, w=w * (w.shape[0] / float(w.sum())), n_classes=n_classes
        )

    def class_probability(self, coef: FloatArray, intercept: FloatArray, k: int) -> FloatArray:
        """Probability of class k (binomial: of class 1) for every row."""
        eta = linear_predictor(self.X, intercept, coef)
        if self.multinomial:
            return probabilities(eta, Family.MULTINOMIAL)[:, k]
        return np.asarray(expit(eta[:, 0]), dtype=np.float64)

    def indicator(self, k: int) -> FloatArray:
        """1.0 where the row is of class k (binomial: of class 1)."""
        return np.where(self.y == (k if self.multinomial else 1), 1.0, 0.0)


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


def objective(
    problem: LogisticProblem, coef: FloatArray, intercept: FloatArray, alpha: float, l1_ratio: float
) -> float:
    """``1/n sum w_i nll_i + alpha * (l1_ratio |beta|_1 + (1 - l1_ratio)/2 |beta|^2)``."""
    eta = linear_predictor(problem.X, intercept, coef)
    if problem.multinomial:
        log_p = log_probabilities(eta, Family.MULTINOMIAL)[np.arange(problem.y.shape[0]), problem.y]
    else:
        log_p = np.where(problem.y == 1, 1.0, 0.0) * eta[:, 0] - np.logaddexp(0.0, eta[:, 0])
    penalty = l1_ratio * float(np.abs(coef).sum()) + (1.0 - l1_ratio) / 2.0 * float((coef**2).sum())
    return -float(problem.w @ log_p) / int(problem.w.shape[0]) + alpha * penalty


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
