"""Coordinate descent on residuals for the gaussian elastic net (any shape, dense or sparse)."""

from __future__ import annotations

import numpy as np

from service.modeling.engine.columns import ResidualState
from service.modeling.engine.gaussian_data import SETTLE, Certificate, GaussianData, duality_gap
from service.modeling.engine.penalty import Penalty
from service.modeling.engine.screening import indices, violators
from service.modeling.engine.stall import StallGuard
from service.modeling.specs import BoolArray, FloatArray, IntArray

# Anderson acceleration (Bertrand & Massias; skglm): extrapolate from this many epochs' iterates,
# once cycling has run ACCELERATE_AFTER epochs without settling.
ANDERSON_DEPTH = 5
ACCELERATE_AFTER = 10
# The cycling threshold: tightened by the ratio of target to gap (times THRESH_TIGHTEN, at least
# THRESH_FLOOR_STEP-fold) when the gap misses, relaxed by THRESH_RELAX at each new sweep.
THRESH_TIGHTEN = 0.5
THRESH_FLOOR_STEP = 1e-3
THRESH_RELAX = 4.0
# A working set with at least 1/WHOLE_GRADIENT_SHARE of the columns is checked on all of them.
WHOLE_GRADIENT_SHARE = 4


class ResidualSolver:
    """Coordinate descent on residuals (any shape; dense or sparse)."""

    def __init__(self, data: GaussianData, penalty: Penalty) -> None:
        self.data, self.penalty = data, penalty
        p = data.cols.shape[1]
        # Column moments are computed when a column first enters a working set: most never do.
        self.moments = (np.zeros(p), np.zeros(p))
        self.known = np.zeros(p, dtype=np.bool_)
        self.state = ResidualState(
            beta=np.zeros(p), intercept=np.zeros(1), fit_intercept=False, h=data.v, r=data.y.copy(),
            shift=np.zeros(1),
        )  # fmt: skip
        self.q = data.cols.xt(data.v * data.y)
        # The kernel's stopping threshold (largest h_jj * change^2 of a full pass), adapted by sweep.
        self.thresh = np.inf
        # The last two solutions on a decreasing path: (alpha, coefficients).
        self.history: list[tuple[float, FloatArray]] = []
        # Counts changes to the solution; a certificate is reused while alpha, the solution, q and
        # the penalty are those it was computed for (a sweep and its caller both ask for it).
        self.moves = 0
        self._certified: tuple[float, int, FloatArray, Penalty, float] | None = None

    def remember(self, alpha: float) -> None:
        """Record the solution at ``alpha``; a path that turns back up (bisection) starts over."""
        if self.history and alpha >= self.history[-1][0]:
            self.history.clear()
        self.history = [*self.history[-1:], (alpha, self.state.beta.copy())]

    def extrapolate(self, alpha: float) -> None:
        """Move the warm start along the path's secant (lasso paths are piecewise linear in alpha)
        when that lowers the objective at ``alpha``: far fewer epochs where the support is settled.

        Only coefficients nonzero at both earlier alphas move; one that would change sign stops at
        zero. Costs one product with the active columns.
        """
        if len(self.history) < 2:
            return
        (a1, b1), (a2, b2) = self.history
        beta = self.state.beta
        active = np.flatnonzero((b1 != 0.0) & (b2 != 0.0)).astype(np.int64)
        if not a2 > alpha or active.size == 0 or not np.array_equal(beta, b2):
            return
        now = b2[active]
        guess = now + (alpha - a2) * (now - b1[active]) / (a2 - a1)
        pen = self.penalty
        guess[np.sign(guess) != np.sign(now)] = 0.0
        guess = np.clip(guess, pen.lower[active], pen.upper[active])
        r_old = self.state.residual()
        r_new = r_old - self.data.cols.matvec_subset(active, guess - now)
        sub, v = pen.subset(active), self.data.v
        old_value = 0.5 * float(v @ (r_old * r_old)) + sub.value(alpha, now)
        if 0.5 * float(v @ (r_new * r_new)) + sub.value(alpha, guess) < old_value:
            beta[active] = guess
            self.state.r[:] = r_new
            self.state.shift[0] = 0.0
            self.moves += 1

    def gradient(self) -> FloatArray:
        return self.data.cols.xt(self.data.v * self.state.residual())

    def certificate(self, alpha: float, tol: float) -> Certificate:
        memo = self._certified
        if (
            memo is not None
            and memo[:2] == (alpha, self.moves)
            and memo[2] is self.q
            and memo[3] is self.penalty
        ):
            return Certificate.of(memo[4], self.data.goal(tol))
        r = self.state.residual()
        vr = self.data.v * r
        gap = duality_gap(self.penalty, alpha, self.state.beta, self.q, float(vr @ r), self.moments[1])
        self._certified = (alpha, self.moves, self.q, self.penalty, gap)
        return Certificate.of(gap, self.data.goal(tol))

    def _ensure_moments(self, ws: IntArray) -> None:
        if self.data.cols.sparse and self.known.size and not self.known[0]:
            # One pass over the nonzeros gives every column's moments: cheaper than any subset pass.
            ws = np.arange(self.known.shape[0], dtype=np.int64)
        missing = ws[~self.known[ws]]
        if missing.size == 0:
            return
        hx, hdiag = self.data.cols.moments_subset(self.data.v, missing)
        self.moments[0][missing] = hx[missing]
        self.moments[1][missing] = hdiag[missing]
        self.known[missing] = True

    def sweep(self, working: BoolArray, alpha: float, target: float, budget: int) -> int:
        """Coordinate descent on the working set until its own duality gap is at most ``target``.

        glmnet's cycling decides when to look: the kernel runs until a full pass changes the
        objective by at most ``self.thresh`` per coordinate (free to check), and only then is the
        working set's gap computed (a pass over its columns). A gap above target tightens the
        threshold in proportion; one met relaxes it for the next call, so a path settles on the
        threshold its data need. Cycling that has not settled after ACCELERATE_AFTER epochs is
        slow (an ill-conditioned, near-saturated fit): Anderson extrapolation takes over.
        """
        lam1, lam2 = self.penalty.strengths(alpha)
        pen = self.penalty
        ws = indices(working)
        if ws.size == 0:
            return 0
        self._ensure_moments(ws)
        # Each coordinate's last change is at most thresh; a first guess at what the gap needs.
        settle = SETTLE * self.data.yy
        self.thresh = min(self.thresh * THRESH_RELAX, self.data.goal(target), settle)
        goal = self.data.goal(target)
        # A working set holding a good part of the columns is checked with the full gradient: it
        # costs little more than the set's own, and the caller needs it anyway (KKT, certificate).
        whole = WHOLE_GRADIENT_SHARE * ws.size >= self.known.shape[0]
        epochs = 0
        guard = StallGuard("duality gap", alpha)
        while epochs < budget:
            chunk = min(ACCELERATE_AFTER, budget - epochs)
            used, worst = self._epochs(ws, lam1, lam2, self.thresh, chunk)
            epochs += used
            if worst > self.thresh:  # not settled at this threshold
                active = ws[self.state.beta[ws] != 0.0]
                if active.size > 0 and budget - epochs >= ANDERSON_DEPTH:
                    epochs += self._accelerated(active, alpha, lam1, lam2)
            if whole:
                self.q = self.gradient()
                if np.any(violators(pen, self.q, alpha, ~working)):
                    return epochs  # the caller grows the set
                gap = self.certificate(alpha, target).gap
            else:
                gap = self._working_gap(ws, alpha)
            if (gap <= goal and worst <= settle) or guard.check(gap):
                break
            if gap <= goal:  # certified, but cycling has not settled as glmnet's criterion asks
                self.thresh = min(self.thresh, settle)
                continue
            self.thresh *= max(min(THRESH_TIGHTEN * goal / gap, THRESH_TIGHTEN), THRESH_FLOOR_STEP)
        if not whole:
            self.q = self.gradient()
        return epochs

    def _working_gap(self, ws: IntArray, alpha: float) -> float:
        """The duality gap of the problem restricted to the working set (one pass over its columns)."""
        r = self.state.residual()
        vr = self.data.v * r
        q_ws = self.data.cols.xt_subset(vr, ws)
        sub = self.penalty.subset(ws)
        return duality_gap(sub, alpha, self.state.beta[ws], q_ws, float(vr @ r), self.moments[1][ws])

    def _epochs(
        self, cols: IntArray, lam1: FloatArray, lam2: FloatArray, thresh: float, count: int
    ) -> tuple[int, float]:
        pen = self.penalty
        self.moves += 1
        return self.data.cols.solve(
            self.state, cols, lam1, lam2, pen.lower, pen.upper, self.moments, thresh, count
        )

    def _accelerated(self, active: IntArray, alpha: float, lam1: FloatArray, lam2: FloatArray) -> int:
        """ANDERSON_DEPTH epochs over the nonzero coefficients, then Anderson extrapolation of
        their iterates (as skglm does), kept only if it lowers the objective."""
        snapshots = [self.state.beta[active].copy()]
        for _ in range(ANDERSON_DEPTH):
            self._epochs(active, lam1, lam2, 0.0, 1)
            snapshots.append(self.state.beta[active].copy())
        iterates = np.stack(snapshots)
        steps = np.diff(iterates, axis=0)
        gram = steps @ steps.T
        norm = float(np.linalg.norm(gram))
        if not norm > 0.0:
            return ANDERSON_DEPTH
        try:
            z = np.linalg.solve(gram / norm + 1e-10 * np.eye(ANDERSON_DEPTH), np.ones(ANDERSON_DEPTH))
        except np.linalg.LinAlgError:
            return ANDERSON_DEPTH
        if not abs(z.sum()) > 0.0:
            return ANDERSON_DEPTH
        pen = self.penalty
        extrapolated = np.clip((z / z.sum()) @ iterates[1:], pen.lower[active], pen.upper[active])
        r_new = self.data.y - self.data.cols.matvec_subset(active, extrapolated)
        sub = pen.subset(active)
        r_old = self.state.residual()
        before = 0.5 * float(self.data.v @ (r_old * r_old)) + sub.value(alpha, self.state.beta[active])
        after = 0.5 * float(self.data.v @ (r_new * r_new)) + sub.value(alpha, extrapolated)
        if after < before:
            self.state.beta[active] = extrapolated
            self.state.r[:] = r_new
            self.state.shift[0] = 0.0
            self.moves += 1
        return ANDERSON_DEPTH

    @property
    def beta(self) -> FloatArray:
        return self.state.beta

    def deviance_ratio(self) -> float:
        r = self.state.residual()
        yy = self.data.yy
        return 1.0 - float(self.data.v @ r**2) / yy if yy > 0 else 0.0
