"""Independent checks of the solver engine: the objective, its gradient, KKT violations, a reference solver.

Everything here is written from the documented objective of ``solver.solve_path`` only (no import
from ``service.modeling`` besides ``Family`` and the two entry points), so that a wrong convention
in the engine shows up as a failing test instead of being shared by test and engine:

    gaussian:     1/(2W) sum_i w_i (y_i - b - x_i.beta)^2
    binomial:     1/W sum_i w_i (log(1 + exp(eta_i)) - y_i eta_i),      eta_i = b + x_i.beta
    multinomial:  1/W sum_i w_i (logsumexp_k eta_ik - eta_i,y_i),        eta_i = b + x_i.B  (B is p x K)
    + alpha * sum_j pf_j * (l1_ratio |beta_j| + (1 - l1_ratio)/2 beta_j^2)  (summed over all K columns)
    subject to lower_j <= beta_j <= upper_j, with W = sum(w); b = 0 without intercept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.special import expit, logsumexp, softmax
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

from service.modeling.engine.solution import PathSolution
from service.modeling.engine.solver import alpha_max, solve_path
from service.modeling.specs import Family

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Design = Any  # (n, p): a float64 ndarray or a scipy.sparse CSC matrix/array (untyped)


def standardized(X: FloatArray, w: FloatArray | None = None) -> FloatArray:
    """Columns at weighted mean 0 and weighted population SD 1, Fortran order (what the caller passes)."""
    weights = np.ones(X.shape[0]) if w is None else w
    mean = weights @ X / weights.sum()
    sd = np.sqrt(weights @ (X - mean) ** 2 / weights.sum())
    return np.asfortranarray((X - mean) / sd)


@dataclass(frozen=True)
class EngineProblem:
    """One call's worth of data for ``solve_path``; ``None`` options are left out of the call.

    Leaving them out keeps the cases without penalty factors, bounds or a feature cap runnable
    against an engine that predates those keyword arguments.
    """

    X: Design
    y: FloatArray | IntArray
    w: FloatArray
    family: Family
    fit_intercept: bool = True
    n_classes: int = 1
    penalty_factors: FloatArray | None = None
    lower: FloatArray | None = None
    upper: FloatArray | None = None

    @property
    def p(self) -> int:
        return int(self.X.shape[1])

    @property
    def width(self) -> int:
        return self.n_classes if self.family == Family.MULTINOMIAL else 1

    def pf(self) -> FloatArray:
        return np.ones(self.p) if self.penalty_factors is None else self.penalty_factors

    def lo(self) -> FloatArray:
        return np.full(self.p, -np.inf) if self.lower is None else self.lower

    def hi(self) -> FloatArray:
        return np.full(self.p, np.inf) if self.upper is None else self.upper

    def with_(self, **changes: Any) -> EngineProblem:
        return replace(self, **changes)

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"n_classes": self.n_classes}
        for name in ("penalty_factors", "lower", "upper"):
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        return options

    def alpha_max(self, l1_ratio: float) -> float:
        return alpha_max(self.X, self.y, self.w, self.family, l1_ratio, self.fit_intercept, **self._options())

    def solve(
        self,
        l1_ratio: float,
        alphas: FloatArray,
        tol: float,
        max_iter: int = 100_000,
        max_features: int | None = None,
    ) -> PathSolution:
        options = self._options()
        if max_features is not None:
            options["max_features"] = max_features
        return solve_path(
            self.X,
            self.y,
            self.w,
            self.family,
            l1_ratio,
            np.asarray(alphas, dtype=np.float64),
            self.fit_intercept,
            tol,
            max_iter,
            None,
            **options,
        )


def _targets(problem: EngineProblem) -> FloatArray:
    """y as an (n, K') float matrix: the response (gaussian), the class-1 indicator or the one-hot codes."""
    y = np.asarray(problem.y)
    if problem.family == Family.GAUSSIAN:
        target = y.astype(np.float64)[:, np.newaxis]
    elif problem.family == Family.BINOMIAL:
        target = (y == 1).astype(np.float64)[:, np.newaxis]
    else:
        target = np.eye(problem.n_classes)[y.astype(np.int64)]
    return np.asarray(target, dtype=np.float64)


def linear_predictor(X: Design, coef: FloatArray, intercept: FloatArray) -> FloatArray:
    return np.asarray(X @ coef, dtype=np.float64) + intercept[np.newaxis, :]


def row_losses(
    problem: EngineProblem, coef: FloatArray, intercept: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per-row loss (n,) and its derivative with respect to eta (n, K')."""
    eta = linear_predictor(problem.X, coef, intercept)
    target = _targets(problem)
    if problem.family == Family.GAUSSIAN:
        residual = eta - target
        return 0.5 * residual[:, 0] ** 2, residual
    if problem.family == Family.BINOMIAL:
        z = eta[:, 0]
        return np.logaddexp(0.0, z) - target[:, 0] * z, expit(eta) - target
    return logsumexp(eta, axis=1) - (eta * target).sum(axis=1), softmax(eta, axis=1) - target


def loss_gradient(
    problem: EngineProblem, coef: FloatArray, intercept: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Gradient of the (unpenalized) weighted mean loss: coefficients (p, K') and intercepts (K',)."""
    _, d_eta = row_losses(problem, coef, intercept)
    weighted = d_eta * (problem.w / problem.w.sum())[:, np.newaxis]
    return np.asarray(problem.X.T @ weighted, dtype=np.float64), weighted.sum(axis=0)


def objective(
    problem: EngineProblem, l1_ratio: float, alpha: float, coef: FloatArray, intercept: FloatArray
) -> float:
    """The penalized objective at (coef (p, K'), intercept (K',)); infeasible points are +inf."""
    coef = np.asarray(coef, dtype=np.float64).reshape(problem.p, problem.width)
    if np.any(coef < problem.lo()[:, np.newaxis]) or np.any(coef > problem.hi()[:, np.newaxis]):
        return float("inf")
    losses, _ = row_losses(problem, coef, np.asarray(intercept, dtype=np.float64))
    pf = problem.pf()[:, np.newaxis]
    penalty = (pf * (l1_ratio * np.abs(coef) + (1.0 - l1_ratio) / 2.0 * coef**2)).sum()
    return float(problem.w @ losses / problem.w.sum() + alpha * penalty)


# A coefficient within this relative distance of a finite bound counts as sitting on it.
AT_BOUND = 1e-12


def kkt_violations(
    problem: EngineProblem, l1_ratio: float, alpha: float, coef: FloatArray, intercept: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Per coefficient (p, K') and per intercept (K',), how far the optimality conditions are from holding.

    With g the gradient of the smooth part (loss + alpha pf_j (1 - l1_ratio) beta_j) and
    lam_j = alpha pf_j l1_ratio, optimality is ``-g_j in lam_j d|beta_j| + N(beta_j)``, where N is the
    normal cone of the box [lower_j, upper_j]. That set is an interval [lo, hi]:

        beta_j > 0: lam_j;  beta_j < 0: -lam_j;  beta_j == 0: [-lam_j, lam_j]
        plus [0, inf) on the upper bound and (-inf, 0] on the lower bound (both when lower == upper == 0),

    so at the upper bound u > 0 it reads g_j + lam_j <= 0, at the lower bound l < 0 g_j - lam_j >= 0,
    at 0 == upper g_j <= lam_j and at 0 == lower g_j >= -lam_j. The violation is the distance of
    -g_j to that interval. Intercepts (when fitted) need a zero gradient.
    """
    coef = np.asarray(coef, dtype=np.float64).reshape(problem.p, problem.width)
    intercept = np.asarray(intercept, dtype=np.float64).reshape(problem.width)
    grad, grad_intercept = loss_gradient(problem, coef, intercept)
    pf = problem.pf()[:, np.newaxis]
    lo, hi = problem.lo()[:, np.newaxis], problem.hi()[:, np.newaxis]
    g = grad + alpha * pf * (1.0 - l1_ratio) * coef
    lam = np.broadcast_to(alpha * pf * l1_ratio, coef.shape)
    sub_lo = np.where(coef > 0, lam, -lam)  # the subdifferential of lam |beta|
    sub_hi = np.where(coef < 0, -lam, lam)
    finite_hi, finite_lo = np.where(np.isfinite(hi), hi, 0.0), np.where(np.isfinite(lo), lo, 0.0)
    at_upper = np.isfinite(hi) & (coef >= finite_hi - AT_BOUND * np.maximum(1.0, np.abs(finite_hi)))
    at_lower = np.isfinite(lo) & (coef <= finite_lo + AT_BOUND * np.maximum(1.0, np.abs(finite_lo)))
    low = np.where(at_lower, -np.inf, sub_lo)
    high = np.where(at_upper, np.inf, sub_hi)
    violation = np.maximum(np.maximum(low + g, -g - high), 0.0)
    intercept_violation = np.abs(grad_intercept) if problem.fit_intercept else np.zeros_like(grad_intercept)
    return violation, intercept_violation


def kkt_violation(
    problem: EngineProblem, l1_ratio: float, alpha: float, coef: FloatArray, intercept: FloatArray
) -> float:
    """The largest violation of the optimality conditions (see ``kkt_violations``)."""
    violation, intercept_violation = kkt_violations(problem, l1_ratio, alpha, coef, intercept)
    return float(max(violation.max(initial=0.0), intercept_violation.max(initial=0.0)))


def null_intercept(problem: EngineProblem) -> FloatArray:
    """Intercepts of the intercept-only model (zeros without intercept)."""
    if not problem.fit_intercept:
        return np.zeros(problem.width)
    mean = (problem.w @ _targets(problem)) / problem.w.sum()
    if problem.family == Family.GAUSSIAN:
        return np.asarray(mean, dtype=np.float64)
    if problem.family == Family.BINOMIAL:
        return np.asarray(np.log(mean / (1.0 - mean)), dtype=np.float64)
    log_freq = np.log(mean)
    return np.asarray(log_freq - log_freq.mean(), dtype=np.float64)


def gradient_scale(problem: EngineProblem) -> float:
    """max |loss gradient| at the null model: the natural unit of KKT violations (alpha_max for the lasso)."""
    grad, _ = loss_gradient(problem, np.zeros((problem.p, problem.width)), null_intercept(problem))
    return float(np.max(np.abs(grad)))


def nonzero_rows(coef: FloatArray) -> int:
    """Number of columns j with any nonzero coefficient among the K' classes."""
    return int(np.count_nonzero(np.any(np.asarray(coef) != 0.0, axis=-1)))


@dataclass(frozen=True)
class Minimum:
    value: float
    coef: FloatArray  # (p, K')
    intercept: FloatArray  # (K',)


def reference_minimum(
    problem: EngineProblem,
    l1_ratio: float,
    alpha: float,
    starts: tuple[tuple[FloatArray, FloatArray], ...] = (),
    from_zero: bool = True,
) -> Minimum:
    """An independent minimizer: L-BFGS-B on the split-sign form beta = b_plus - b_minus.

    With b_plus in [0, upper] and b_minus in [0, -lower] the problem is smooth with box constraints
    only, which L-BFGS-B solves tightly. It starts from zero and from each of ``starts`` (e.g. the
    engine's own answer, from which it can only descend) and returns the best value found;
    ``from_zero=False`` skips the (slower) start from zero.
    """
    p, width = problem.p, problem.width
    size = p * width
    pf = np.repeat(problem.pf(), width)
    l1, l2 = alpha * l1_ratio * pf, alpha * (1.0 - l1_ratio) * pf
    w = problem.w / problem.w.sum()

    def f(z: FloatArray) -> tuple[float, FloatArray]:
        bp, bm, b0 = z[:size], z[size : 2 * size], z[2 * size :]
        beta = bp - bm
        losses, d_eta = row_losses(problem, beta.reshape(p, width), b0)
        weighted = d_eta * w[:, np.newaxis]
        grad = np.asarray(problem.X.T @ weighted).ravel() + l2 * beta
        value = float(w @ losses + l1 @ (bp + bm) + 0.5 * l2 @ beta**2)
        grad_b0 = weighted.sum(axis=0) if problem.fit_intercept else np.zeros(width)
        return value, np.concatenate([grad + l1, -grad + l1, grad_b0])

    upper = np.repeat(problem.hi(), width)
    lower = np.repeat(problem.lo(), width)
    bounds = (
        [(0.0, None if np.isinf(u) else float(u)) for u in upper]
        + [(0.0, None if np.isinf(lo) else float(-lo)) for lo in lower]
        + [(None, None) if problem.fit_intercept else (0.0, 0.0)] * width
    )
    initial = [np.concatenate([np.zeros(2 * size), null_intercept(problem)])] if from_zero else []
    for coef, intercept in starts:
        flat = np.clip(np.asarray(coef, dtype=np.float64).ravel(), lower, upper)
        b0 = np.asarray(intercept, dtype=np.float64) if problem.fit_intercept else np.zeros(width)
        initial.append(np.concatenate([np.maximum(flat, 0.0), np.maximum(-flat, 0.0), b0]))
    best: Minimum | None = None
    for start in initial:
        result = minimize(
            f,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 200_000, "maxfun": 400_000, "ftol": 1e-16, "gtol": 1e-12, "maxcor": 30},
        )
        z = result.x
        beta = (z[:size] - z[size : 2 * size]).reshape(p, width)
        candidate = Minimum(objective(problem, l1_ratio, alpha, beta, z[2 * size :]), beta, z[2 * size :])
        if best is None or candidate.value < best.value:
            best = candidate
    assert best is not None
    return best


# --- The problems the tests share -------------------------------------------------------------------

DATASETS = ("diabetes", "breast_cancer", "wine", "dense_gaussian", "dense_binomial")


@cache
def dataset(name: str) -> EngineProblem:
    """A problem with unit weights and an intercept; the real ones standardized as the caller would."""
    if name == "diabetes":
        X, y = load_diabetes(return_X_y=True)
        return EngineProblem(
            standardized(X), np.asarray(y, dtype=np.float64), np.ones(len(y)), Family.GAUSSIAN
        )
    if name in ("breast_cancer", "wine"):
        X, y = (load_breast_cancer if name == "breast_cancer" else load_wine)(return_X_y=True)
        codes = np.asarray(y, dtype=np.int64)
        family = Family.BINOMIAL if name == "breast_cancer" else Family.MULTINOMIAL
        n_classes = int(codes.max()) + 1
        return EngineProblem(standardized(X), codes, np.ones(len(codes)), family, n_classes=n_classes)
    if name == "dense_gaussian":
        return _dense_gaussian()
    if name == "dense_binomial":
        return _dense_binomial()
    if name == "sparse_gaussian":
        return _sparse_gaussian()
    if name == "sparse_binomial":
        return _sparse_binomial()
    raise KeyError(name)


def _correlated(rng: np.random.Generator, n: int, p: int, rho: float) -> FloatArray:
    """Rows with AR(1) correlation rho between neighbouring columns."""
    Z = rng.standard_normal((n, p))
    X = np.empty_like(Z)
    X[:, 0] = Z[:, 0]
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1.0 - rho**2) * Z[:, j]
    return X


def _dense_gaussian() -> EngineProblem:
    """More columns than rows, unstandardized (column scales 0.1 to 10, nonzero means)."""
    rng = np.random.default_rng(20240601)
    n, p = 120, 200
    X = _correlated(rng, n, p, 0.6) * 10.0 ** rng.uniform(-1.0, 1.0, p) + rng.uniform(-2.0, 2.0, p)
    beta = np.zeros(p)
    beta[rng.choice(p, 12, replace=False)] = rng.normal(0.0, 2.0, 12)
    y = 5.0 + X @ beta + rng.normal(0.0, 1.0, n)
    return EngineProblem(np.asfortranarray(X), y, np.ones(n), Family.GAUSSIAN)


def _dense_binomial() -> EngineProblem:
    rng = np.random.default_rng(7)
    n, p = 250, 40
    X = _correlated(rng, n, p, 0.4)
    beta = np.zeros(p)
    beta[:8] = rng.normal(0.0, 1.5, 8)
    y = (rng.uniform(size=n) < expit(0.5 + X @ beta)).astype(np.int64)
    return EngineProblem(np.asfortranarray(X), y, np.ones(n), Family.BINOMIAL, n_classes=2)


def _sparse_design(rng: np.random.Generator, n: int, p: int, density: float) -> sp.csc_matrix:
    """Count-like positive entries (as in one-hot or bag-of-words designs), every column nonempty."""
    X = sp.random(
        n, p, density=density, format="csc", random_state=rng, data_rvs=lambda k: rng.uniform(0.5, 2.0, k)
    )
    empty = np.flatnonzero(np.diff(X.indptr) == 0)
    if empty.size:
        X = X.tolil()
        X[rng.integers(0, n, empty.size), empty] = 1.0
    return sp.csc_matrix(X)


def _sparse_gaussian() -> EngineProblem:
    rng = np.random.default_rng(11)
    n, p = 300, 150
    X = _sparse_design(rng, n, p, 0.05)
    beta = np.zeros(p)
    beta[rng.choice(p, 15, replace=False)] = rng.normal(0.0, 3.0, 15)
    y = 3.0 + X @ beta + rng.normal(0.0, 1.0, n)
    return EngineProblem(X, np.asarray(y, dtype=np.float64), np.ones(n), Family.GAUSSIAN)


def _sparse_binomial() -> EngineProblem:
    rng = np.random.default_rng(12)
    n, p = 400, 100
    X = _sparse_design(rng, n, p, 0.05)
    beta = np.zeros(p)
    beta[rng.choice(p, 10, replace=False)] = rng.normal(0.0, 4.0, 10)
    y = (rng.uniform(size=n) < expit(-0.3 + X @ beta)).astype(np.int64)
    return EngineProblem(X, y, np.ones(n), Family.BINOMIAL, n_classes=2)


VARIANTS = (
    "plain",
    "weights",
    "no_intercept",
    "penalty_factors",
    "bounds",
    "combined",
    "combined_no_intercept",
)


def penalty_factors(p: int) -> FloatArray:
    """A mix of 0 (unpenalized), 0.5, 1 and 3; column 3 (and every 8th after it) is unpenalized."""
    return np.resize(np.array([1.0, 0.5, 3.0, 0.0, 1.0, 0.5, 3.0, 1.0]), p)


def bounds(p: int) -> tuple[FloatArray, FloatArray]:
    """[0, inf) on columns 0, 4, 8, ...; (-inf, 0] on 1, 5, 9, ...; [-0.1, 0.2] on column 2; others free."""
    lower, upper = np.full(p, -np.inf), np.full(p, np.inf)
    column = np.arange(p)
    lower[column % 4 == 0] = 0.0
    upper[column % 4 == 1] = 0.0
    lower[2], upper[2] = -0.1, 0.2
    return lower, upper


def weights(n: int, seed: int = 3) -> FloatArray:
    """Positive weights with every 7th row at zero, scaled to sum to n."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.2, 3.0, n)
    w[::7] = 0.0
    return np.asarray(w * (n / w.sum()), dtype=np.float64)


def variant(problem: EngineProblem, name: str) -> EngineProblem:
    n, p = problem.X.shape
    lower, upper = bounds(p)
    if name == "plain":
        return problem
    if name == "weights":
        return problem.with_(w=weights(n))
    if name == "no_intercept":
        return problem.with_(fit_intercept=False)
    if name == "penalty_factors":
        return problem.with_(penalty_factors=penalty_factors(p))
    if name == "bounds":
        return problem.with_(lower=lower, upper=upper)
    if name == "combined":
        return problem.with_(w=weights(n), penalty_factors=penalty_factors(p), lower=lower, upper=upper)
    if name == "combined_no_intercept":
        return problem.with_(
            fit_intercept=False, penalty_factors=penalty_factors(p), lower=lower, upper=upper
        )
    raise KeyError(name)


def tight_tol(family: Family) -> float:
    """A tight ``tol``: gaussian's is relative (duality gap / variance of y), logistic's absolute (KKT)."""
    return 1e-13 if family == Family.GAUSSIAN else 1e-7
