"""Gaussian elastic-net paths: coordinate descent on working sets, by residuals or by the Gram matrix."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.modeling import kernels
from service.modeling.columns import Columns, RawMoments, ResidualState
from service.modeling.metrics import weighted_mean
from service.modeling.path_control import PathControl, Step, walk_path
from service.modeling.penalty import Penalty
from service.modeling.screening import grow, indices, starting_set, strong_set, violators
from service.modeling.solution import PathProgress, PathRecorder, PathSolution
from service.modeling.specs import BoolArray, FloatArray, IntArray

# Covariance updates pay n p^2 once for the Gram matrix and then p per coordinate update instead of n:
# worth it for a path on a dense, tall design whose Gram matrix fits comfortably in memory.
GRAM_MAX_COLUMNS = 4096
GRAM_MIN_ROWS_PER_COLUMN = 2
GRAM_MIN_ALPHAS = 3
# Working-set solves aim at FINAL_FRACTION of the gap tolerance once the set is trusted, and at
# GROWTH_FRACTION of the current gap while it still grows. Kernels run a fixed number of epochs
# between gap checks (no threshold of their own: the gap decides): on residuals one full pass plus
# ANDERSON_DEPTH accelerated passes, in covariance mode CHUNK_EPOCHS at first, doubling.
FINAL_FRACTION = 0.01
GROWTH_FRACTION = 0.3
CHUNK_EPOCHS = 5
# Anderson acceleration (Bertrand & Massias; skglm): extrapolate from this many epochs' iterates.
ANDERSON_DEPTH = 5
# The null model (intercept and unpenalized columns) is solved this tightly (relative gap).
NULL_MODEL_TOL = 1e-14


@dataclass(frozen=True, eq=False)
class GaussianData:
    """Weighted least squares on ``z_j = (x_j - c_j) / s_j``; with an intercept c is the weighted
    mean, so the intercept decouples. ``v`` are the weights normalized to sum 1."""

    cols: Columns
    y: FloatArray  # centered when fit_intercept
    v: FloatArray
    y_mean: float
    mean: FloatArray  # the caller's centering, to report the intercept in its parametrization
    fit_intercept: bool

    @classmethod
    def build(
        cls, X: Any, y: FloatArray, w: FloatArray, mean: FloatArray, scale: FloatArray, fit_intercept: bool
    ) -> GaussianData:
        v = w / float(w.sum())
        raw = Columns.build(X, np.zeros(X.shape[1]), scale)
        center = raw.raw_xt(v) if fit_intercept else np.asarray(mean, dtype=np.float64)
        y_mean = weighted_mean(y, w) if fit_intercept else 0.0
        cols = Columns(X=raw.X, center=center, scale=raw.scale)
        return cls(cols, np.asarray(y - y_mean, dtype=np.float64), v, y_mean, mean, fit_intercept)

    def intercept(self, beta: FloatArray) -> float:
        """The intercept for columns centered at the caller's ``mean``."""
        return self.y_mean + float(beta @ ((self.mean - self.cols.center) / self.cols.scale))

    @functools.cached_property
    def yy(self) -> float:
        """sum_i v_i y_i^2 of the (centered) target: twice the null model's loss."""
        return float(self.v @ (self.y * self.y))


@dataclass
class Certificate:
    """The duality gap of one solution, and whether it met the tolerance."""

    gap: float
    converged: bool


def duality_gap(
    penalty: Penalty, alpha: float, beta: FloatArray, q: FloatArray, rr: float, hdiag: FloatArray
) -> float:
    """Primal minus dual objective at the dual point ``s * v * r`` (s keeps the dual feasible).

    With ``y'`` the target less the held columns' fit, ``sum v r y' = rr + sum_j beta_j q_j`` over
    the penalized columns; the conjugate of each column's penalty-plus-box is in closed form.

    ``q = Z^T (v r)``, ``rr = sum v r^2``. Unpenalized columns have no dual slack to scale; they
    are held at their values (an offset in y: the gap is that of the remaining problem) and their
    possible improvement, ``violation^2 / (2 h_jj)`` each, is added instead.
    """
    pen = penalty
    return float(kernels.enet_gap(beta, q, rr, alpha, pen.l1_ratio, pen.factors, pen.lower, pen.upper, hdiag))


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

    def gradient(self) -> FloatArray:
        return self.data.cols.xt(self.data.v * self.state.residual())

    def certificate(self, alpha: float, tol_abs: float) -> Certificate:
        r = self.state.residual()
        vr = self.data.v * r
        gap = duality_gap(self.penalty, alpha, self.state.beta, self.q, float(vr @ r), self.moments[1])
        return Certificate(gap, gap <= tol_abs)

    def _ensure_moments(self, ws: IntArray) -> None:
        missing = ws[~self.known[ws]]
        if missing.size == 0:
            return
        hx, hdiag = self.data.cols.moments_subset(self.data.v, missing)
        self.moments[0][missing] = hx[missing]
        self.moments[1][missing] = hdiag[missing]
        self.known[missing] = True

    def sweep(self, working: BoolArray, alpha: float, target: float, budget: int) -> int:
        """Coordinate descent on the working set until its own duality gap is at most ``target``,
        checked after each full pass and its accelerated passes, at the cost of the working columns."""
        lam1, lam2 = self.penalty.strengths(alpha)
        pen = self.penalty
        ws = indices(working)
        if ws.size == 0:
            return 0
        self._ensure_moments(ws)
        sub = pen.subset(ws)
        epochs = 0
        while epochs < budget:
            epochs += self._epochs(ws, lam1, lam2, 1)
            active = ws[self.state.beta[ws] != 0.0]
            if active.size > 0 and budget - epochs >= ANDERSON_DEPTH:
                epochs += self._accelerated(active, alpha, lam1, lam2)
            r = self.state.residual()
            vr = self.data.v * r
            q_ws = self.data.cols.xt_subset(vr, ws)
            gap = duality_gap(sub, alpha, self.state.beta[ws], q_ws, float(vr @ r), self.moments[1][ws])
            if gap <= target:
                break
        self.q = self.gradient()
        return epochs

    def _epochs(self, cols: IntArray, lam1: FloatArray, lam2: FloatArray, count: int) -> int:
        pen = self.penalty
        return self.data.cols.solve(
            self.state, cols, lam1, lam2, pen.lower, pen.upper, self.moments, 0.0, count
        )

    def _accelerated(self, active: IntArray, alpha: float, lam1: FloatArray, lam2: FloatArray) -> int:
        """ANDERSON_DEPTH epochs over the nonzero coefficients, then Anderson extrapolation of
        their iterates (as skglm does), kept only if it lowers the objective."""
        snapshots = [self.state.beta[active].copy()]
        for _ in range(ANDERSON_DEPTH):
            self._epochs(active, lam1, lam2, 1)
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
        return ANDERSON_DEPTH

    @property
    def beta(self) -> FloatArray:
        return self.state.beta

    def deviance_ratio(self) -> float:
        r = self.state.residual()
        yy = self.data.yy
        return 1.0 - float(self.data.v @ r**2) / yy if yy > 0 else 0.0


class GramSolver:
    """Coordinate descent in covariance mode: every update costs p, the residual is never formed."""

    def __init__(self, data: GaussianData, penalty: Penalty, gram: FloatArray, xty: FloatArray) -> None:
        self.data, self.penalty = data, penalty
        self.G = gram
        self.c = xty
        self.beta = np.zeros(gram.shape[0])
        self.q = xty.copy()
        self.hdiag = np.diag(gram).copy()

    @classmethod
    def build(cls, data: GaussianData, penalty: Penalty, moments: RawMoments | None = None) -> GramSolver:
        """Centered, scaled Gram matrix of the weighted design from its raw moments: computed here
        in row blocks, or given (a CV fold's: the full data's minus its held-out rows')."""
        cols = data.cols
        if moments is None:
            raw, sx = cols.gram(data.v)
        else:
            raw, sx = moments.S / moments.total, moments.sx / moments.total
        c, s = cols.center, cols.scale
        G = raw - np.outer(sx, c) - np.outer(c, sx) + np.outer(c, c)
        G /= np.outer(s, s)
        xty = cols.xt(data.v * data.y)
        return cls(data, penalty, np.asfortranarray(G), xty)

    def certificate(self, alpha: float, tol_abs: float) -> Certificate:
        yy = self.data.yy
        bc, bq = float(self.beta @ self.c), float(self.beta @ self.q)
        rr = max(yy - bc - bq, 0.0)
        gap = duality_gap(self.penalty, alpha, self.beta, self.q, rr, self.hdiag)
        return Certificate(gap, gap <= tol_abs)

    def sweep(self, working: BoolArray, alpha: float, target: float, budget: int) -> int:
        """Covariance-mode descent on the working set until the (full, cheap here) gap <= target
        or a column outside the set violates its KKT condition.

        An epoch costs |ws| * p flops, far less than the Python around a gap check, so the epochs
        between checks double each time.
        """
        lam1, lam2 = self.penalty.strengths(alpha)
        pen = self.penalty
        ws = indices(working)
        epochs = 0
        chunk = CHUNK_EPOCHS
        while epochs < budget:
            chunk = min(chunk, budget - epochs)
            epochs += int(
                kernels.solve_gram(
                    self.G,
                    self.q,
                    self.beta,
                    ws,
                    lam1,
                    lam2,
                    pen.lower,
                    pen.upper,
                    0.0,
                    chunk,
                )
            )
            # The full gap is cheap here, but it cannot close while a column outside the working
            # set violates its KKT condition: hand back to the caller to grow the set.
            if self.certificate(alpha, target).converged or np.any(violators(pen, self.q, alpha, ~working)):
                break
            chunk *= 2
        return epochs

    def deviance_ratio(self) -> float:
        yy = self.data.yy
        if not np.any(self.beta):
            return 0.0
        rr = max(yy - float(self.beta @ self.c) - float(self.beta @ self.q), 0.0)
        return 1.0 - rr / yy if yy > 0 else 0.0


Solver = ResidualSolver | GramSolver


def solve_at(
    solver: Solver, alpha: float, working: BoolArray, tol_abs: float, max_iter: int, trusted: bool = True
) -> tuple[int, Certificate, BoolArray]:
    """Solve on the working set, grow it with KKT violators, until the full duality gap certifies.

    A ``trusted`` set (the strong rule's) is solved to the final tolerance at once; an untrusted or
    just-grown one only to a fraction of the current gap, since it will change anyway.
    """
    cert = solver.certificate(alpha, tol_abs)
    epochs = 0
    while not (cert.converged and epochs > 0) and epochs < max_iter:
        target = (
            FINAL_FRACTION * tol_abs if trusted else max(GROWTH_FRACTION * cert.gap, FINAL_FRACTION * tol_abs)
        )
        epochs += max(solver.sweep(working, alpha, target, max_iter - epochs), 1)
        missed = violators(solver.penalty, solver.q, alpha, ~working)
        cert = solver.certificate(alpha, tol_abs)
        trusted = not np.any(missed)
        if not trusted:
            working = grow(solver.penalty, solver.q, alpha, working)
            cert = Certificate(cert.gap, False)
    return epochs, cert, working


def fit_gaussian_null(solver: Solver, yy: float) -> None:
    """Fit the unpenalized columns alone (penalized ones held at 0) to NULL_MODEL_TOL, in place.

    A path starts here, so that at alpha_max the penalized gradients are those of the exact null
    model and every penalized coefficient stays exactly zero.
    """
    full = solver.penalty
    if not np.any(full.unpenalized):
        return
    solver.penalty = full.null()
    try:
        solve_at(solver, 1.0, solver.penalty.free.copy(), NULL_MODEL_TOL * max(yy, 1e-300), 100_000)
    finally:
        solver.penalty = full


def use_gram(data: GaussianData, n_alphas: int) -> bool:
    n, p = data.cols.shape
    return (
        not data.cols.sparse
        and p <= GRAM_MAX_COLUMNS
        and n >= GRAM_MIN_ROWS_PER_COLUMN * p
        and n_alphas >= GRAM_MIN_ALPHAS
    )


def gaussian_path(
    data: GaussianData,
    penalty: Penalty,
    alphas: FloatArray,
    tol: float,
    max_iter: int,
    progress: PathProgress | None,
    control: PathControl,
    moments: RawMoments | None = None,
) -> PathSolution:
    """Warm-started solutions along decreasing ``alphas``; each certified by its duality gap
    (``gap <= tol * sum v y^2``), stopping early as ``control`` says. ``moments``, when given, are
    the design's raw weighted moments (used in covariance mode instead of recomputing them)."""
    solver: Solver
    if use_gram(data, alphas.shape[0]):
        solver = GramSolver.build(data, penalty, moments)
    else:
        solver = ResidualSolver(data, penalty)
    tol_abs = tol * data.yy if data.yy > 0 else np.finfo(np.float64).tiny
    fit_gaussian_null(solver, data.yy)

    def solve_one(alpha: float, previous: float | None) -> Step:
        trusted = previous is not None and alpha <= previous
        if previous is not None and trusted:
            working = strong_set(penalty, solver.q, alpha, previous, solver.beta)
        else:
            working = starting_set(penalty, solver.q, alpha, solver.beta)
        epochs, cert, _ = solve_at(solver, alpha, working, tol_abs, max_iter, trusted)
        beta = solver.beta
        intercept = np.array([data.intercept(beta)])
        return Step(beta, intercept, epochs, cert.gap, cert.converged, solver.deviance_ratio())

    recorder = PathRecorder(data.cols.shape[1], 1)
    return walk_path(alphas, progress, control, recorder, solve_one)
