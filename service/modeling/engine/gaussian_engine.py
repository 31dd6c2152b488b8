"""Gaussian elastic-net paths: coordinate descent on working sets, by residuals or by the Gram matrix."""

from __future__ import annotations

import numpy as np

from service.modeling.engine.columns import RawMoments
from service.modeling.engine.gaussian_data import Certificate, GaussianData
from service.modeling.engine.gram_solver import GramSolver
from service.modeling.engine.path_control import PathControl, Step, walk_path
from service.modeling.engine.penalty import Penalty
from service.modeling.engine.residual_solver import ResidualSolver
from service.modeling.engine.screening import grow, starting_set, strong_set, violators
from service.modeling.engine.solution import PathProgress, PathRecorder, PathSolution
from service.modeling.engine.stall import StallGuard
from service.modeling.specs import BoolArray, FloatArray

# Covariance updates pay n p^2 once for the Gram matrix and then p per coordinate update instead of n:
# worth it for a path on a dense, tall design whose Gram matrix fits comfortably in memory.
GRAM_MAX_COLUMNS = 4096
GRAM_MIN_ROWS_PER_COLUMN = 2
GRAM_MIN_ALPHAS = 3
# Working-set solves aim at FINAL_FRACTION of the gap tolerance once the set is trusted (the rest
# is room for the columns outside it), and at GROWTH_FRACTION of the current gap while it still
# grows. Between gap checks the kernels cycle until a full pass settles (glmnet's criterion).
FINAL_FRACTION = 0.9
GROWTH_FRACTION = 0.3
# The null model (intercept and unpenalized columns) is solved this tightly (relative gap).
NULL_MODEL_TOL = 1e-14

Solver = ResidualSolver | GramSolver


def solve_at(
    solver: Solver, alpha: float, working: BoolArray, tol: float, max_iter: int, trusted: bool = True
) -> tuple[int, Certificate, BoolArray]:
    """Solve on the working set, grow it with KKT violators, until the full duality gap certifies
    ``tol`` (see Certificate).

    A ``trusted`` set (the strong rule's) is solved to the final tolerance at once; an untrusted or
    just-grown one only to a fraction of the current gap, since it will change anyway. Targets are
    relative to the null loss, as ``tol`` is.
    """
    # An untrusted set aims at a fraction of the gap it starts from; a trusted one needs no look.
    cert = Certificate(np.inf, False) if trusted else solver.certificate(alpha, tol)
    epochs = 0
    guard = StallGuard("duality gap", alpha)
    while not (cert.converged and epochs > 0) and epochs < max_iter:
        final = FINAL_FRACTION * tol
        target = final if trusted else max(GROWTH_FRACTION * cert.gap / solver.data.goal(1.0), final)
        epochs += max(solver.sweep(working, alpha, target, max_iter - epochs), 1)
        missed = violators(solver.penalty, solver.q, alpha, ~working)
        cert = solver.certificate(alpha, tol)
        if guard.check(cert.gap):
            break  # reported not converged, as at max_iter
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
        solve_at(solver, 1.0, solver.penalty.free.copy(), NULL_MODEL_TOL, 100_000)
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
    return solver_path(solver, alphas, tol, max_iter, progress, control)


def solver_path(
    solver: Solver,
    alphas: FloatArray,
    tol: float,
    max_iter: int,
    progress: PathProgress | None,
    control: PathControl,
) -> PathSolution:
    """``gaussian_path`` on a solver already built (by residuals, by the design's Gram matrix, or
    by a Gram matrix reduced from a partitioned table's moments, ``moment_path``)."""
    data, penalty = solver.data, solver.penalty
    fit_gaussian_null(solver, data.yy)

    def solve_one(alpha: float, previous: float | None) -> Step:
        trusted = previous is not None and alpha <= previous
        if previous is not None and trusted:
            # The strong rule reads the previous solution's gradient: screen before moving.
            working = strong_set(penalty, solver.q, alpha, previous, solver.beta)
            if isinstance(solver, ResidualSolver):
                solver.extrapolate(alpha)
        else:
            working = starting_set(penalty, solver.q, alpha, solver.beta)
        epochs, cert, _ = solve_at(solver, alpha, working, tol, max_iter, trusted)
        if isinstance(solver, ResidualSolver):
            solver.remember(alpha)
        beta = solver.beta
        intercept = np.array([data.intercept(beta)])
        return Step(beta, intercept, epochs, cert.gap, cert.converged, solver.deviance_ratio())

    recorder = PathRecorder(solver.beta.shape[0], 1)
    return walk_path(alphas, progress, control, recorder, solve_one)
