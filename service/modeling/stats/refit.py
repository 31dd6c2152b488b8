"""The unpenalized refit of a model on a given set of design columns (the relaxed lasso's refit).

It minimizes the family's weighted loss with an intercept (when fitted) over the columns ``A`` alone,
every other coefficient held at zero, within the coefficient bounds: glmnet's ``glmnet(x, y,
lambda = 0, exclude = -A)`` as ``relax.glmnet`` calls it. Three solvers, chosen by what they can do:

- gaussian, dense, no finite bound on ``A``: weighted least squares by ``numpy.linalg.lstsq`` on the
  weighted, centered columns (exact; a rank-deficient set gets the minimum-norm solution);
- binomial, dense, no finite bound on ``A``: Newton's method with step halving on the standardized
  columns, at most ``MAX_NEWTON`` (25) steps, glmnet's ``mxitnr``. Separated data has no finite
  maximum-likelihood estimate: Newton stops, reporting not converged, once the fit explains 99.9%
  of the null deviance (glmnet's ``devmax``) or after those steps;
- anything else (a sparse design, finite bounds, multinomial): the engine's ``solve_path`` with every
  penalty factor 0, which is the unpenalized problem at any alpha. Its null-model fit runs up to
  100,000 coordinate-descent epochs, so a separated multinomial set costs seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from service.modeling.engine import is_sparse, solve_path
from service.modeling.problem import Problem
from service.modeling.specs import Family, FloatArray, IntArray
from service.modeling.standardize import fit_standardization

# Newton steps for the binomial refit, glmnet's mxitnr: data with a finite MLE converges in far
# fewer (quadratically); on separated data more steps only let the coefficients grow.
MAX_NEWTON = 25
# Newton stops once the largest loss gradient (standardized columns, mean-weighted loss) is this small.
NEWTON_TOL = 1e-12
MAX_HALVINGS = 40
# glmnet's devmax: a fit explaining more than this fraction of the null deviance is saturated (the
# classes are, or nearly are, separated) and Newton stops there, reporting not converged.
SATURATED = 0.999


@dataclass(frozen=True)
class Refit:
    """Coefficients (|A|, K') and intercepts (K',) on the problem's original scale."""

    coef: FloatArray
    intercept: FloatArray
    converged: bool


def refit_unpenalized(problem: Problem, columns: IntArray) -> Refit:
    """The unpenalized fit of ``problem`` (its weights, bounds, intercept) on design ``columns``."""
    pr = problem
    bounded = bool(np.any(np.isfinite(pr.lower[columns])) or np.any(np.isfinite(pr.upper[columns])))
    dense = not is_sparse(pr.X)
    if dense and not bounded and pr.family == Family.GAUSSIAN:
        return _least_squares(
            np.asarray(pr.X)[:, columns], np.asarray(pr.y, np.float64), pr.w, pr.fit_intercept
        )
    if dense and not bounded and pr.family == Family.BINOMIAL:
        return _newton(np.asarray(pr.X)[:, columns], np.asarray(pr.y, np.float64), pr.w, pr.fit_intercept)
    return _engine(pr, columns)


def _weighted_center(X: FloatArray, v: FloatArray, fit_intercept: bool) -> FloatArray:
    return v @ X if fit_intercept else np.zeros(X.shape[1])


def _least_squares(X: FloatArray, y: FloatArray, w: FloatArray, fit_intercept: bool) -> Refit:
    v = w / w.sum()
    mean = _weighted_center(X, v, fit_intercept)
    y_mean = float(v @ y) if fit_intercept else 0.0
    root = np.sqrt(v)[:, np.newaxis]
    beta = np.linalg.lstsq(root * (X - mean), root[:, 0] * (y - y_mean), rcond=None)[0]
    intercept = y_mean - float(mean @ beta)
    return Refit(beta[:, np.newaxis], np.array([intercept]), True)


def _logistic_loss(eta: FloatArray, y: FloatArray, v: FloatArray) -> float:
    return float(v @ (np.logaddexp(0.0, eta) - y * eta))


def _newton(X: FloatArray, y: FloatArray, w: FloatArray, fit_intercept: bool) -> Refit:
    """Newton on ``[1, Z]`` (``Z`` the standardized columns), step-halved until the loss decreases."""
    v = w / w.sum()
    mean = _weighted_center(X, v, fit_intercept)
    scale = np.sqrt(v @ (X - mean) ** 2)
    scale = np.where(scale > 0, scale, 1.0)
    Z = (X - mean) / scale
    if fit_intercept:
        Z = np.column_stack([np.ones(X.shape[0]), Z])
    theta = np.zeros(Z.shape[1])
    if fit_intercept:
        prior = float(np.clip(v @ y, 1e-12, 1 - 1e-12))
        theta[0] = np.log(prior / (1 - prior))
    converged = False
    null_loss = _logistic_loss(Z @ theta, y, v)
    for _ in range(MAX_NEWTON):
        eta = Z @ theta
        mu = expit(eta)
        gradient = Z.T @ (v * (mu - y))
        if float(np.max(np.abs(gradient), initial=0.0)) <= NEWTON_TOL:
            converged = True
            break
        loss = _logistic_loss(eta, y, v)
        if loss < (1 - SATURATED) * null_loss:
            break  # (nearly) separated: no finite optimum worth more steps
        hessian = (Z * (v * mu * (1 - mu))[:, np.newaxis]).T @ Z
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        previous, theta = theta, _halve(Z, y, v, theta, step, loss)
        if theta is previous:
            break  # no step lowers the loss any more: rounding has the last word
    intercept = theta[0] if fit_intercept else 0.0
    beta = theta[1:] / scale if fit_intercept else theta / scale
    return Refit(beta[:, np.newaxis], np.array([intercept - float(mean @ beta)]), converged)


def _halve(
    Z: FloatArray, y: FloatArray, v: FloatArray, theta: FloatArray, step: FloatArray, loss: float
) -> FloatArray:
    """``theta - t * step`` for the first t in 1, 1/2, 1/4, ... that does not increase the loss."""
    t = 1.0
    for _ in range(MAX_HALVINGS):
        candidate = theta - t * step
        if _logistic_loss(Z @ candidate, y, v) <= loss:
            return candidate
        t *= 0.5
    return theta


def _engine(problem: Problem, columns: IntArray) -> Refit:
    pr = problem
    X = pr.X[:, columns] if is_sparse(pr.X) else np.asfortranarray(np.asarray(pr.X)[:, columns])
    st = fit_standardization(X, pr.w, True, pr.fit_intercept)
    lower, upper = st.bounds(pr.lower[columns], pr.upper[columns])
    solution = solve_path(
        X, pr.y, pr.w, pr.family, 1.0, np.array([1.0]), pr.fit_intercept, pr.tol, pr.max_iter,
        n_classes=pr.n_classes, penalty_factors=np.zeros(columns.shape[0]), lower=lower, upper=upper,
        center=st.mean, scale=st.scale,
    )  # fmt: skip
    coef, intercept = st.to_original(solution.coef, solution.intercept)
    if pr.family == Family.MULTINOMIAL:
        intercept = intercept - intercept.mean(axis=1, keepdims=True)
    return Refit(coef[0], intercept[0], bool(solution.converged[0]))
