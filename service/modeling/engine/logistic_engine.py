"""Binomial and multinomial elastic-net paths: proximal Newton steps, each coordinate descent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from service.modeling.engine.columns import Columns, ResidualState
from service.modeling.engine.logistic_problem import PROBABILITY_FLOOR, penalty_center
from service.modeling.engine.newton_settings import (
    CURVATURE_FLOOR,
    FORCING,
    INNER_EPOCHS,
    MAX_HALVINGS,
    NULL_MODEL_TOL,
)
from service.modeling.engine.path_control import PathControl, Step, walk_path
from service.modeling.engine.penalty import Penalty
from service.modeling.engine.screening import grow, indices, starting_set, strong_set, violators
from service.modeling.engine.solution import PathProgress, PathRecorder, PathSolution
from service.modeling.engine.stall import StallGuard
from service.modeling.link import log_probabilities, one_hot
from service.modeling.specs import BoolArray, Family, FloatArray, IntArray


@dataclass(frozen=True)
class LogisticData:
    """Mean weighted negative log-likelihood on columns ``(x - center) / scale``; ``v`` sums to 1."""

    cols: Columns
    Y: FloatArray  # (n, K') indicators: of class 1 for binomial, one-hot for multinomial
    v: FloatArray
    multinomial: bool
    fit_intercept: bool

    @classmethod
    def build(
        cls,
        X: Any,
        y: IntArray,
        w: FloatArray,
        family: Family,
        n_classes: int,
        mean: FloatArray,
        scale: FloatArray,
        fit_intercept: bool,
    ) -> LogisticData:
        multinomial = family == Family.MULTINOMIAL
        Y = one_hot(y, n_classes) if multinomial else (y == 1).astype(np.float64)[:, np.newaxis]
        return cls(Columns.build(X, mean, scale), Y, w / float(w.sum()), multinomial, fit_intercept)

    @property
    def width(self) -> int:
        return int(self.Y.shape[1])

    def log_probabilities(self, eta: FloatArray) -> FloatArray:
        """log P (n, K') of the indicator columns."""
        if self.multinomial:
            return log_probabilities(eta, Family.MULTINOMIAL)
        return np.asarray(-np.logaddexp(0.0, -eta), dtype=np.float64)

    def probabilities(self, eta: FloatArray) -> FloatArray:
        if self.multinomial:
            return np.exp(self.log_probabilities(eta))
        return np.asarray(expit(eta), dtype=np.float64)

    def loss(self, eta: FloatArray) -> float:
        if self.multinomial:
            return -float(self.v @ (self.Y * self.log_probabilities(eta)).sum(axis=1))
        e = eta[:, 0]
        return float(self.v @ (np.logaddexp(0.0, e) - self.Y[:, 0] * e))

    def null_intercepts(self) -> FloatArray:
        if not self.fit_intercept:
            return np.zeros(self.width)
        freq = np.maximum(self.v @ self.Y, PROBABILITY_FLOOR)
        if self.multinomial:
            logf = np.log(freq)
            centered: FloatArray = logf - logf.mean()
            return centered
        f = float(min(freq[0], 1.0 - PROBABILITY_FLOOR))
        return np.array([np.log(f / (1.0 - f))])


class NewtonSolver:
    """Proximal Newton state along a path: coefficients (p, K'), intercepts (K',), eta (n, K')."""

    def __init__(self, data: LogisticData, penalty: Penalty) -> None:
        self.data, self.penalty = data, penalty
        n, p = data.cols.shape
        self.beta = np.zeros((p, data.width))
        self.intercept = data.null_intercepts()
        self.eta = np.tile(self.intercept, (n, 1))
        self.q = self.gradient()
        # Recentering the classes is a symmetry of the multinomial loss, not of a box constraint.
        self.recenter = data.multinomial and not (
            np.any(np.isfinite(penalty.lower)) or np.any(np.isfinite(penalty.upper))
        )

    def residual(self) -> FloatArray:
        """v (Y - P): minus the per-row loss gradient, (n, K')."""
        out: FloatArray = self.data.v[:, np.newaxis] * (self.data.Y - self.data.probabilities(self.eta))
        return out

    def gradient(self) -> FloatArray:
        """q = Z^T v (Y - P) for every column and class."""
        res = self.residual()
        return np.column_stack([self.data.cols.xt(res[:, k]) for k in range(res.shape[1])])

    def objective(self, alpha: float, beta: FloatArray, eta: FloatArray) -> float:
        return self.data.loss(eta) + self.penalty.value(alpha, beta)

    def kkt(self, alpha: float) -> float:
        """Largest KKT violation over every coefficient and intercept (``q`` must be current)."""
        worst = max(
            float(np.max(self.penalty.kkt_violation(alpha, self.beta[:, k], self.q[:, k]), initial=0.0))
            for k in range(self.data.width)
        )
        if self.data.fit_intercept:
            worst = max(worst, float(np.max(np.abs(self.residual().sum(axis=0)))))
        return worst

    def newton_step(self, k: int, alpha: float, ws: IntArray, thresh: float, budget: int) -> int:
        """One proximal Newton step on class k over the working set, with backtracking."""
        data = self.data
        prob = np.clip(data.probabilities(self.eta)[:, k], CURVATURE_FLOOR, 1.0 - CURVATURE_FLOOR)
        h = data.v * prob * (1.0 - prob)
        push = data.v * (data.Y[:, k] - data.probabilities(self.eta)[:, k])
        # Rows of weight zero (held out in a CV fold) have h = 0 and no residual.
        r = np.divide(push, h, out=np.zeros_like(h), where=h > 0)
        state = ResidualState(
            beta=self.beta[:, k].copy(), intercept=self.intercept[k : k + 1].copy(),
            fit_intercept=data.fit_intercept, h=h, r=r.copy(), shift=np.zeros(1),
        )  # fmt: skip
        lam1, lam2 = self.penalty.strengths(alpha)
        moments = data.cols.moments_subset(h, ws)
        pen = self.penalty
        epochs, _ = data.cols.solve(state, ws, lam1, lam2, pen.lower, pen.upper, moments, thresh, budget)
        step_eta = r - state.residual()
        self._backtrack(
            k, alpha, state.beta - self.beta[:, k], state.intercept[0] - self.intercept[k], step_eta
        )
        return epochs

    def _backtrack(self, k: int, alpha: float, d_beta: FloatArray, d_b: float, d_eta: FloatArray) -> None:
        start = self.objective(alpha, self.beta, self.eta)
        t = 1.0
        for _ in range(MAX_HALVINGS):
            beta, eta = self.beta.copy(), self.eta.copy()
            beta[:, k] += t * d_beta
            eta[:, k] += t * d_eta
            if self.objective(alpha, beta, eta) <= start + 1e-12 * abs(start):
                self.beta, self.eta = beta, eta
                self.intercept[k] += t * d_b
                return
            t *= 0.5

    def center_classes(self) -> None:
        """glmnet's canonical multinomial form: shift each column's K values by the penalty-minimizing
        center and the intercepts to mean zero; probabilities do not change."""
        if not self.recenter:
            return
        c = penalty_center(self.beta, self.penalty.l1_ratio if self.penalty.l1_ratio > 0 else 0.0)
        if np.any(c != 0.0):
            self.beta = self.beta - c[:, np.newaxis]
            self.eta = self.eta - self.data.cols.matvec(c)[:, np.newaxis]
        if self.data.fit_intercept:
            shift = self.intercept.mean()
            self.intercept = self.intercept - shift
            self.eta = self.eta - shift


def solve_at(
    solver: NewtonSolver, alpha: float, working: BoolArray, tol: float, max_iter: int
) -> tuple[int, float, bool]:
    """Newton rounds over the working set until the KKT residual over all columns is at most tol."""
    epochs = 0
    kkt = solver.kkt(alpha)
    guard = StallGuard("KKT violation", alpha)
    guard.check(kkt)  # a non-finite start (overflowing data) would otherwise end the loop unnoticed
    # Rounds are capped by max_iter (epochs), not by a count of their own: class-by-class steps on
    # a nearly separable multinomial fit converge linearly and may need many.
    while kkt > tol and epochs < max_iter:
        ws = indices(working)
        thresh = FORCING * kkt * kkt
        for k in range(solver.data.width):
            if epochs >= max_iter:
                # The budget is spent: a class stepped now would report more epochs than max_iter
                # (a step takes at least one), so the round ends here, reported not converged.
                break
            budget = min(max_iter - epochs, INNER_EPOCHS)
            epochs += solver.newton_step(k, alpha, ws, thresh, budget)
        solver.center_classes()
        solver.q = solver.gradient()
        missed = np.zeros_like(working)
        for k in range(solver.data.width):
            missed |= violators(solver.penalty, solver.q[:, k], alpha, ~working)
        if np.any(missed):
            working = grow(solver.penalty, solver.q, alpha, working)
        kkt = solver.kkt(alpha)
        if guard.check(kkt):
            break  # reported not converged, as at max_iter
    return epochs, kkt, kkt <= tol


def fit_logistic_null(solver: NewtonSolver) -> None:
    """Fit the unpenalized columns alone (penalized ones held at 0) to NULL_MODEL_TOL, in place."""
    full = solver.penalty
    if not np.any(full.unpenalized):
        return
    solver.penalty = full.null()
    try:
        solve_at(solver, 1.0, solver.penalty.free.copy(), NULL_MODEL_TOL, 100_000)
    finally:
        solver.penalty = full
        solver.q = solver.gradient()


def logistic_path(
    data: LogisticData,
    penalty: Penalty,
    alphas: FloatArray,
    tol: float,
    max_iter: int,
    progress: PathProgress | None,
    control: PathControl,
) -> PathSolution:
    """Warm-started fits along decreasing ``alphas``, each certified by its KKT residual (<= tol)."""
    solver = NewtonSolver(data, penalty)
    null_loss = data.loss(solver.eta)
    fit_logistic_null(solver)

    def solve_one(alpha: float, previous: float | None) -> Step:
        if previous is not None and alpha <= previous:
            working = strong_set(penalty, solver.q, alpha, previous, solver.beta)
        else:
            working = starting_set(penalty, solver.q, alpha, solver.beta)
        epochs, kkt, ok = solve_at(solver, alpha, working, tol, max_iter)
        ratio = 1.0 - data.loss(solver.eta) / null_loss if null_loss > 0 else 0.0
        return Step(solver.beta, solver.intercept, epochs, kkt, ok, ratio)

    recorder = PathRecorder(data.cols.shape[1], data.width)
    return walk_path(alphas, progress, control, recorder, solve_one)
