"""The relaxed lasso, as glmnet's ``relax = TRUE`` (Hastie, Tibshirani and Tibshirani 2020, Stat. Sci.).

For each alpha of a path with coefficients ``b_lasso(alpha)`` and active set ``A(alpha)`` (columns
nonzero in any class), ``b_relaxed(alpha)`` is the unpenalized fit on ``A(alpha)`` alone (see
``refit.py``; glmnet's ``relax.glmnet``), and the relaxed model is the blend

    b(alpha, gamma) = gamma * b_lasso(alpha) + (1 - gamma) * b_relaxed(alpha),  gamma in RELAX_GAMMAS

(intercepts likewise), so gamma = 1 is the lasso and gamma = 0 the refit. As ``relax.glmnet`` does:
each distinct active set is refitted once; a set of more than ``n - 3`` columns (n = rows with
positive weight, glmnet's ``maxp``) is not refitted, and its alphas take the refit of the last
alpha that was (``blend.relaxed(extend = TRUE)``); the empty set keeps the lasso's null model.

Cross-validation (glmnet's ``cv.relaxed.raw``): each fold refits the relaxed path on its training
rows and scores every blend on its held-out rows, giving one CV curve per gamma. As in the plain CV
of ``cv.py``, folds solve at the full data's alphas (glmnet's folds make their own lambda grid and
interpolate between its points at the full data's lambdas).

``choose`` is glmnet's ``getOptcv.relaxed``: ``min`` takes the lowest mean error over the whole
(gamma, alpha) grid, ties to the largest alpha and then the largest gamma; ``1se`` takes, among all
points whose mean error is at most that minimum plus its standard error, the largest alpha and then
the largest gamma. Without CV the model is the refit itself (gamma 0) at the given alpha or the
path's last: the user asked for the relaxed fit, and glmnet's default ``predict(gamma = 1)`` would
return the lasso.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.modeling.link import path_predictors
from service.modeling.metrics import fold_score
from service.modeling.problem import Problem
from service.modeling.results import CVCurve
from service.modeling.selection import as_loss
from service.modeling.specs import BoolArray, CVMetric, FloatArray, IntArray, SelectionRule
from service.modeling.stats.refit import refit_unpenalized

RELAX_GAMMAS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
# glmnet's maxp = n - 3: larger active sets are not refitted.
MAXP_MARGIN = 3


@dataclass(frozen=True)
class RelaxedPath:
    """The unpenalized refits along a path, on the problem's original scale.

    ``coef`` (m, p, K'), ``intercept`` (m, K'); ``refitted`` is False where the active set was too
    large (the refit of the last refitted alpha stands in); ``converged`` is the refit's report.
    """

    coef: FloatArray
    intercept: FloatArray
    refitted: BoolArray
    converged: BoolArray

    def blend(self, gamma: float, coef: FloatArray, intercept: FloatArray) -> tuple[FloatArray, FloatArray]:
        """``gamma * lasso + (1 - gamma) * relaxed`` for lasso ``coef`` and ``intercept`` of any
        leading shape matching this path's (all alphas, or one alpha with an index applied)."""
        return gamma * coef + (1 - gamma) * self.coef, gamma * intercept + (1 - gamma) * self.intercept


def relaxed_path(problem: Problem, coef: FloatArray, intercept: FloatArray) -> RelaxedPath:
    """The relaxed refits of the lasso path ``coef`` (m, p, K') / ``intercept`` (m, K') on ``problem``."""
    m = coef.shape[0]
    active = np.any(coef != 0.0, axis=2)  # (m, p)
    out_coef, out_intercept = coef.copy(), intercept.copy()
    refitted = np.ones(m, dtype=np.bool_)
    converged = np.ones(m, dtype=np.bool_)
    maxp = int(np.count_nonzero(problem.w > 0)) - MAXP_MARGIN
    sets, inverse = np.unique(active, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    for s, columns_mask in enumerate(sets):
        rows = np.flatnonzero(inverse == s)
        columns = np.flatnonzero(columns_mask)
        if columns.shape[0] == 0:
            continue  # the null model: the lasso's own, already unpenalized
        if columns.shape[0] > maxp:
            refitted[rows] = False
            continue
        refit = refit_unpenalized(problem, columns)
        out_coef[rows] = 0.0
        out_coef[np.ix_(rows, columns)] = refit.coef[np.newaxis, :, :]
        out_intercept[rows] = refit.intercept
        converged[rows] = refit.converged
    if not np.all(refitted):
        last = int(np.flatnonzero(refitted).max())
        out_coef[~refitted] = out_coef[last]
        out_intercept[~refitted] = out_intercept[last]
        converged[~refitted] = converged[last]
    return RelaxedPath(out_coef, out_intercept, refitted, converged)


def relaxed_fold_scores(
    train: Problem,
    full: Problem,
    test: IntArray,
    coef: FloatArray,
    intercept: FloatArray,
    metric: CVMetric,
    gammas: tuple[float, ...] = RELAX_GAMMAS,
) -> FloatArray:
    """(len(gammas), m) held-out scores of every blend of a fold's lasso path (fitted on ``train``)."""
    relaxed = relaxed_path(train, coef, intercept)
    X, y, w = full.X[test], full.y[test], full.w[test]
    scores = np.full((len(gammas), coef.shape[0]), np.nan)
    lasso_etas = path_predictors(X, intercept, coef)
    relaxed_etas = path_predictors(X, relaxed.intercept, relaxed.coef)
    for i, (eta_lasso, eta_relaxed) in enumerate(zip(lasso_etas, relaxed_etas, strict=True)):
        for g, gamma in enumerate(gammas):
            eta = gamma * eta_lasso + (1 - gamma) * eta_relaxed
            scores[g, i] = fold_score(metric, full.family, y, eta, w)
    return scores


def choose(curves: tuple[CVCurve, ...], rule: SelectionRule) -> tuple[int, float]:
    """(alpha index, gamma) by glmnet's ``getOptcv.relaxed`` over curves sharing their alphas."""
    gammas = np.array([c.relax_gamma for c in curves], dtype=np.float64)
    alphas = curves[0].alphas
    loss = np.stack([as_loss(c.metric, c.mean) for c in curves])  # (G, m)
    se = np.stack([c.se for c in curves])
    best = float(np.nanmin(loss))
    g, i = _largest_alpha_then_gamma(loss <= best, alphas, gammas)
    if rule == SelectionRule.ONE_SE:
        margin = float(se[g, i]) if np.isfinite(se[g, i]) else 0.0
        g, i = _largest_alpha_then_gamma(loss <= best + margin, alphas, gammas)
    return i, float(gammas[g])


def _largest_alpha_then_gamma(eligible: BoolArray, alphas: FloatArray, gammas: FloatArray) -> tuple[int, int]:
    g_idx, i_idx = np.nonzero(eligible)  # NaN compares False: never eligible
    # lexsort sorts by the last key first: alpha, then gamma, both descending.
    order = np.lexsort((-gammas[g_idx], -alphas[i_idx]))
    return int(g_idx[order[0]]), int(i_idx[order[0]])
