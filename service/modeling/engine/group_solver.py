"""Group lasso paths, gaussian and binomial: block coordinate descent on working sets of groups.

Objective on the standardized columns z (weights v summing to 1), for decreasing alphas::

    loss(b0, b) + alpha * sum_g pf_g sqrt(|g|) (l1_ratio ||b_g||_2 + (1 - l1_ratio)/2 ||b_g||_2^2)

gaussian loss ``1/2 sum v_i (y_i - b0 - z_i b)^2``, binomial the mean weighted negative
log-likelihood. Gaussian: block coordinate descent with the exact block step (``kernels.blocks``);
binomial: proximal Newton (glmnet's IRLS outer loop), each step the same block coordinate descent
on the weighted least-squares model, then a backtracking line search on the objective. Both
screen with the sequential strong rule for groups (Tibshirani et al. 2012, section 4: keep g when
``||grad_g|| >= l1_ratio pf_g sqrt|g| (2 alpha - alpha_prev)``) and check every group's KKT
condition before accepting a solution. The certificate, reported as ``dual_gap``, is the largest
KKT violation over groups (and the intercept): ``max(||grad_g|| - lam1_g (1 + 1e-9), 0)`` for a
zero group (the slack is rounding at alpha_max), the stationarity residual's norm for a nonzero
one. Converged: at most ``tol`` (binomial) or ``tol * sqrt(sum v y_c^2)`` (gaussian, so the
criterion does not depend on the target's unit).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from service.modeling.engine.gaussian_data import TINY, GaussianData
from service.modeling.engine.group_blocks import BlockModel, QuadState
from service.modeling.engine.group_penalty import GroupPenalty
from service.modeling.engine.logistic_engine import LogisticData
from service.modeling.engine.newton_settings import CURVATURE_FLOOR
from service.modeling.engine.path_control import PathControl, Step, walk_path
from service.modeling.engine.penalty import Penalty
from service.modeling.engine.solution import PathProgress, PathRecorder, PathSolution
from service.modeling.engine.stall import StallGuard
from service.modeling.specs import BoolArray, Family, FloatArray, IntArray

# Working-set solves aim at this fraction of the tolerance, leaving room for the groups outside it.
FINAL_FRACTION = 0.5
# A zero group whose gradient exceeds its threshold by less than this (relative) stays out, and
# counts as satisfying its KKT condition: at alpha_max that is rounding.
SLACK = 1e-9
# A cold start (one alpha, or a bisection going up) begins with at most this many violating groups.
FIRST_WORKING_SET = 32
# Inexact Newton: each inner solve stops at this fraction of the KKT residual it starts from, and
# spends at most INNER_EPOCHS sweeps (the outer loop keeps its KKT check and stall guard).
FORCING = 1e-2
INNER_EPOCHS = 1000
MAX_HALVINGS = 30
# The null model (intercept and unpenalized groups) is solved to this KKT residual.
NULL_MODEL_TOL = 1e-12


def build_group_penalty(groups: IntArray, family: Family, penalty: Penalty) -> GroupPenalty:
    """The group penalty for ``groups`` (one id 0..G-1 per column); ValueError for what it cannot do."""
    if family == Family.MULTINOMIAL:
        raise ValueError("group lasso supports the gaussian and binomial families, not multinomial")
    if penalty.l1_ratio <= 0.0:
        raise ValueError("group lasso needs l1_ratio > 0 (with 0 the penalty is a ridge: no groups select)")
    free = penalty.free
    if np.any(np.isfinite(penalty.lower[free]) | np.isfinite(penalty.upper[free])):
        raise ValueError("group lasso does not support coefficient bounds")
    groups = np.asarray(groups, dtype=np.int64)
    if groups.shape != penalty.factors.shape or (groups.size and groups.min() < 0):
        raise ValueError("groups needs one group id 0..G-1 per design column")
    return GroupPenalty.build(groups, penalty.l1_ratio, penalty.factors, free)


class GaussianGroups:
    """Weighted least squares on centered columns (the intercept decouples), warm along the path."""

    def __init__(self, data: GaussianData, penalty: GroupPenalty) -> None:
        self.data, self.penalty = data, penalty
        self.model = BlockModel(data.cols, penalty)
        p = data.cols.shape[1]
        self.state = QuadState(np.zeros(p), 0.0, data.y.copy(), data.v, False)
        self.q = data.cols.xt(data.v * data.y)

    @property
    def beta(self) -> FloatArray:
        return self.state.beta

    def use(self, penalty: GroupPenalty) -> None:
        self.penalty = self.model.penalty = penalty

    def refresh(self) -> None:
        self.q = self.data.cols.xt(self.data.v * self.state.r)

    def worst(self, alpha: float) -> float:
        return float(np.max(self.penalty.kkt_violation(alpha, self.beta, self.q, SLACK), initial=0.0))

    def goal(self, tol: float) -> float:
        yy = self.data.yy
        return tol * float(np.sqrt(yy)) if yy > 0 else TINY

    def round(self, alpha: float, ws: IntArray, kkt: float, goal: float, budget: int) -> int:
        lam = self.penalty.strengths(alpha)
        return self.model.solve(self.state, ws, lam, FINAL_FRACTION * goal, budget)

    def intercept(self) -> FloatArray:
        return np.array([self.data.intercept(self.beta)])

    def deviance_ratio(self) -> float:
        yy = self.data.yy
        r = self.state.r
        return 1.0 - float(self.data.v @ (r * r)) / yy if yy > 0 else 0.0


class BinomialGroups:
    """Proximal Newton state: coefficients, intercept and the linear predictor ``eta``."""

    def __init__(self, data: LogisticData, penalty: GroupPenalty) -> None:
        self.data, self.penalty = data, penalty
        self.model = BlockModel(data.cols, penalty)
        n, p = data.cols.shape
        self.y = data.Y[:, 0]
        self.beta = np.zeros(p)
        self.b0 = float(data.null_intercepts()[0])
        self.eta = np.full(n, self.b0)
        self.null_loss = self.loss(self.eta)
        self.q = np.zeros(p)
        self.refresh()

    def use(self, penalty: GroupPenalty) -> None:
        self.penalty = self.model.penalty = penalty

    def loss(self, eta: FloatArray) -> float:
        return float(self.data.v @ (np.logaddexp(0.0, eta) - self.y * eta))

    def residual(self) -> FloatArray:
        """v (y - p): minus the per-row loss gradient."""
        out: FloatArray = self.data.v * (self.y - expit(self.eta))
        return out

    def refresh(self) -> None:
        self.q = self.data.cols.xt(self.residual())

    def worst(self, alpha: float) -> float:
        worst = float(np.max(self.penalty.kkt_violation(alpha, self.beta, self.q, SLACK), initial=0.0))
        if self.data.fit_intercept:
            worst = max(worst, abs(float(self.residual().sum())))
        return worst

    def goal(self, tol: float) -> float:
        return tol

    def round(self, alpha: float, ws: IntArray, kkt: float, goal: float, budget: int) -> int:
        """One proximal Newton step over the groups of ``ws``, with backtracking."""
        v = self.data.v
        prob = expit(self.eta)
        clipped = np.clip(prob, CURVATURE_FLOOR, 1.0 - CURVATURE_FLOOR)
        h = v * clipped * (1.0 - clipped)
        # Rows of weight zero (held out in a CV fold) have h = 0 and no residual.
        r = np.divide(v * (self.y - prob), h, out=np.zeros_like(h), where=h > 0)
        self.model.new_weights()
        state = QuadState(self.beta.copy(), self.b0, r.copy(), h, self.data.fit_intercept)
        lam = self.penalty.strengths(alpha)
        epochs = self.model.solve(state, ws, lam, FORCING * kkt, min(budget, INNER_EPOCHS))
        self._backtrack(alpha, state.beta - self.beta, state.b0 - self.b0, r - state.r)
        return epochs

    def _backtrack(self, alpha: float, d_beta: FloatArray, d_b0: float, d_eta: FloatArray) -> None:
        start = self.loss(self.eta) + self.penalty.value(alpha, self.beta)
        t = 1.0
        for _ in range(MAX_HALVINGS):
            beta, eta = self.beta + t * d_beta, self.eta + t * d_eta
            if self.loss(eta) + self.penalty.value(alpha, beta) <= start + 1e-12 * abs(start):
                self.beta, self.eta, self.b0 = beta, eta, self.b0 + t * d_b0
                return
            t *= 0.5

    def intercept(self) -> FloatArray:
        return np.array([self.b0])

    def deviance_ratio(self) -> float:
        return 1.0 - self.loss(self.eta) / self.null_loss if self.null_loss > 0 else 0.0


Engine = GaussianGroups | BinomialGroups


def _nonzero(penalty: GroupPenalty, beta: FloatArray) -> BoolArray:
    nz: BoolArray = penalty.norms(beta) > 0.0
    return nz


def strong_groups(
    penalty: GroupPenalty, q_prev: FloatArray, alpha: float, alpha_prev: float, beta: FloatArray
) -> BoolArray:
    """The sequential strong rule for groups, plus every nonzero and unpenalized group."""
    threshold = penalty.l1_ratio * penalty.weights * (2.0 * alpha - alpha_prev)
    keep: BoolArray = (penalty.norms(q_prev) >= threshold) | _nonzero(penalty, beta) | penalty.unpenalized
    return keep & penalty.movable


def starting_groups(penalty: GroupPenalty, q: FloatArray, alpha: float, beta: FloatArray) -> BoolArray:
    """For a cold or upward start: the nonzero and unpenalized groups and the worst violators."""
    keep = _nonzero(penalty, beta) | penalty.unpenalized
    return _add_violators(penalty, q, alpha, keep & penalty.movable, 2 * int(keep.sum()))


def _add_violators(
    penalty: GroupPenalty, q: FloatArray, alpha: float, working: BoolArray, limit: int
) -> BoolArray:
    lam1, _ = penalty.strengths(alpha)
    found = np.flatnonzero(penalty.screened_out(q, alpha, SLACK) & ~working)
    limit = max(FIRST_WORKING_SET, limit)
    if found.size > limit:
        excess = penalty.norms(q)[found] - lam1[found]
        found = found[np.argpartition(-excess, limit)[:limit]]
    grown = working.copy()
    grown[found] = True
    return grown


def solve_at(
    engine: Engine, alpha: float, working: BoolArray, tol: float, max_iter: int, grow: bool = True
) -> tuple[int, float, bool]:
    """Rounds on the working set, grown by KKT violators, until every group's KKT violation (and
    the intercept's) is at most ``engine.goal(tol)``; ``engine.q`` must be current on entry."""
    goal = engine.goal(tol)
    epochs = 0
    kkt = engine.worst(alpha)
    guard = StallGuard("KKT violation", alpha)
    guard.check(kkt)
    while kkt > goal and epochs < max_iter:
        ws = np.flatnonzero(working).astype(np.int64)
        epochs += max(engine.round(alpha, ws, kkt, goal, max_iter - epochs), 1)
        engine.refresh()
        if grow:
            working = _add_violators(engine.penalty, engine.q, alpha, working, int(working.sum()))
        kkt = engine.worst(alpha)
        if guard.check(kkt):
            break  # reported not converged, as at max_iter
    return epochs, kkt, kkt <= goal


def fit_null(engine: Engine) -> None:
    """Fit the intercept and the unpenalized groups alone (penalized groups held at 0), in place."""
    full = engine.penalty
    engine.use(full.null())
    try:
        # Without unpenalized groups the null model is the intercept alone, exact from the start.
        if np.any(engine.penalty.movable):
            solve_at(engine, 1.0, engine.penalty.movable.copy(), NULL_MODEL_TOL, 100_000, grow=False)
    finally:
        engine.use(full)
        engine.refresh()


def group_path(
    engine: Engine,
    alphas: FloatArray,
    tol: float,
    max_iter: int,
    progress: PathProgress | None,
    control: PathControl,
) -> PathSolution:
    """Warm-started solutions along decreasing ``alphas``, each certified by its KKT violation."""
    penalty = engine.penalty
    fit_null(engine)

    def solve_one(alpha: float, previous: float | None) -> Step:
        if previous is not None and alpha <= previous:
            working = strong_groups(penalty, engine.q, alpha, previous, engine.beta)
        else:
            working = starting_groups(penalty, engine.q, alpha, engine.beta)
        epochs, kkt, ok = solve_at(engine, alpha, working, tol, max_iter)
        return Step(engine.beta, engine.intercept(), epochs, kkt, ok, engine.deviance_ratio())

    recorder = PathRecorder(penalty.column_group.shape[0], 1)
    return walk_path(alphas, progress, control, recorder, solve_one)


def group_engine(
    X: Any,
    y: FloatArray | IntArray,
    w: FloatArray,
    family: Family,
    penalty: GroupPenalty,
    center: FloatArray,
    scale: FloatArray,
    fit_intercept: bool,
) -> Engine:
    """The solver state at zero for the family (gaussian or binomial)."""
    if family == Family.GAUSSIAN:
        data = GaussianData.build(X, np.asarray(y, dtype=np.float64), w, center, scale, fit_intercept)
        return GaussianGroups(data, penalty)
    codes = np.asarray(y, dtype=np.int64)
    ldata = LogisticData.build(X, codes, w, Family.BINOMIAL, 2, center, scale, fit_intercept)
    return BinomialGroups(ldata, penalty)


def group_alpha_max(engine: Engine) -> float:
    """``max_g ||grad_g|| / (pf_g sqrt|g| l1_ratio)`` at the null model over penalized groups (0.0
    when none can move): the smallest alpha at which every penalized group is zero."""
    penalty = engine.penalty
    fit_null(engine)
    penalized = (penalty.weights > 0.0) & penalty.movable
    if not np.any(penalized):
        return 0.0
    ratio = penalty.norms(engine.q)[penalized] / penalty.weights[penalized]
    return float(np.max(ratio)) / penalty.l1_ratio
