"""The one boundary between what to fit and how to solve it: ``solve_path`` and ``alpha_max``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from service.modeling.engine.columns import RawMoments
from service.modeling.engine.gaussian_data import GaussianData
from service.modeling.engine.gaussian_engine import fit_gaussian_null, gaussian_path
from service.modeling.engine.group_solver import (
    build_group_penalty,
    group_alpha_max,
    group_engine,
    group_path,
)
from service.modeling.engine.logistic_engine import (
    LogisticData,
    NewtonSolver,
    fit_logistic_null,
    logistic_path,
)
from service.modeling.engine.logistic_problem import PROBABILITY_FLOOR
from service.modeling.engine.path_control import PathControl
from service.modeling.engine.penalty import Penalty
from service.modeling.engine.residual_solver import ResidualSolver
from service.modeling.engine.ridge_solver import closed_form_applies, solve_ridge_path
from service.modeling.engine.solution import PathProgress, PathSolution
from service.modeling.scaling import penalty_units
from service.modeling.specs import Family, FloatArray, IntArray

# Everything above this module (standardization, path alphas, CV, selection, metrics) calls only
# these two functions. Both take the design as given (dense, or scipy.sparse CSC) plus the column
# ``center`` and ``scale`` of the standardization, applied on the fly: X is never copied.

__all__ = ["PathProgress", "PathSolution", "alpha_max", "solve_path"]

# glmnet's convention for ridge: alpha_max is computed as if l1_ratio were at least 1e-3, which
# gives a finite start where (nearly) all coefficients are (nearly) zero.
MIN_L1_RATIO_FOR_ALPHA_MAX = 1e-3


def _penalty(
    p: int, l1_ratio: float, factors: FloatArray | None, lower: FloatArray | None, upper: FloatArray | None
) -> Penalty:
    return Penalty.build(p, l1_ratio, factors, lower, upper)


def _standardization(
    p: int, center: FloatArray | None, scale: FloatArray | None
) -> tuple[FloatArray, FloatArray]:
    mean = np.zeros(p) if center is None else np.asarray(center, dtype=np.float64)
    sd = np.ones(p) if scale is None else np.asarray(scale, dtype=np.float64)
    return mean, sd


def _present_classes(y: IntArray, w: FloatArray, n_classes: int) -> IntArray:
    totals = np.bincount(y, weights=w, minlength=n_classes)
    return np.flatnonzero(totals > 0).astype(np.int64)


def null_gradient(
    X: Any,
    y: FloatArray | IntArray,
    w: FloatArray,
    family: Family,
    fit_intercept: bool,
    n_classes: int,
    penalty: Penalty,
    center: FloatArray,
    scale: FloatArray,
) -> FloatArray:
    """Minus the loss gradient (p, K') at the null model: intercept and unpenalized columns fitted,
    every penalized column held at zero."""
    if family == Family.GAUSSIAN:
        target = np.asarray(y, dtype=np.float64)
        data = GaussianData.build(X, target, w, center, scale, fit_intercept)
        if fit_intercept and np.ptp(target[w > 0]) == 0.0:
            # A constant target is fitted exactly by the intercept; rounding in its mean must
            # not produce a spurious, tiny alpha_max.
            return np.zeros((X.shape[1], 1))
        solver = ResidualSolver(data, penalty)
        fit_gaussian_null(solver, data.yy)
        return solver.q[:, np.newaxis]
    ldata = LogisticData.build(
        X, np.asarray(y, dtype=np.int64), w, family, n_classes, center, scale, fit_intercept
    )
    newton = NewtonSolver(ldata, penalty)
    fit_logistic_null(newton)
    return newton.q


def alpha_max(
    X: Any,
    y: FloatArray | IntArray,
    w: FloatArray,
    family: Family,
    l1_ratio: float,
    fit_intercept: bool,
    n_classes: int = 1,
    penalty_factors: FloatArray | None = None,
    lower: FloatArray | None = None,
    upper: FloatArray | None = None,
    *,
    center: FloatArray | None = None,
    scale: FloatArray | None = None,
    target_scale: float = 1.0,
    groups: IntArray | None = None,
) -> float:
    """The smallest alpha at which every penalized coefficient is zero.

    ``max_j push_j / pf_j / l1_ratio`` over penalized columns, where push is the loss gradient at the
    null model in the directions the bounds allow. For l1_ratio below 1e-3 (ridge included) the
    divisor is 1e-3, as glmnet does. Returns 0.0 when no column could move. ``target_scale``: y is
    the gaussian target divided by it (see ``solve_path``); alpha_max is that of the original target.
    With ``groups``, the group one: ``max_g ||grad_g|| / (pf_g sqrt|g| l1_ratio)`` (group_solver).
    """
    p = X.shape[1]
    penalty = _penalty(p, l1_ratio, penalty_factors, lower, upper)
    mean, sd = _standardization(p, center, scale)
    if groups is not None:
        if family == Family.GAUSSIAN and fit_intercept and np.ptp(np.asarray(y)[w > 0]) == 0.0:
            return 0.0  # a constant target: as null_gradient, no spurious tiny alpha_max
        group_penalty = build_group_penalty(groups, family, penalty)
        engine = group_engine(X, y, w, family, group_penalty, mean, sd, fit_intercept)
        return target_scale * group_alpha_max(engine)
    q = null_gradient(X, y, w, family, fit_intercept, n_classes, penalty, mean, sd)
    push = np.max(np.stack([penalty.allowed_push(q[:, k]) for k in range(q.shape[1])]), axis=0) if p else q
    penalized = (penalty.factors > 0.0) & penalty.free
    if not np.any(penalized):
        return 0.0
    ratio = push[penalized] / penalty.factors[penalized]
    # The gradient of the original target is target_scale times this one's.
    return target_scale * float(np.max(ratio)) / max(l1_ratio, MIN_L1_RATIO_FOR_ALPHA_MAX)


def solve_path(
    X: Any,
    y: FloatArray | IntArray,
    w: FloatArray,
    family: Family,
    l1_ratio: float,
    alphas: FloatArray,
    fit_intercept: bool,
    tol: float,
    max_iter: int,
    checkpoint: PathProgress | None = None,
    *,
    n_classes: int = 1,
    penalty_factors: FloatArray | None = None,
    lower: FloatArray | None = None,
    upper: FloatArray | None = None,
    max_features: int | None = None,
    column_features: IntArray | None = None,
    saturation: bool = False,
    center: FloatArray | None = None,
    scale: FloatArray | None = None,
    moments: RawMoments | None = None,
    target_scale: float = 1.0,
    groups: IntArray | None = None,
) -> PathSolution:
    """Minimize the objective at each of the decreasing ``alphas``, warm-starting along the path.

    Gaussian: ``1/(2W) sum w_i (y_i - b - z_i.beta)^2 + alpha * sum_j pf_j (l1_ratio |beta_j| +
    (1-l1_ratio)/2 beta_j^2)`` subject to ``lower <= beta <= upper``, where W = sum w and
    ``z_ij = (x_ij - center_j) / scale_j``; binomial/multinomial: the weighted mean negative
    log-likelihood plus the same penalty. ``y`` is float for gaussian, class codes 0..K-1
    (``n_classes`` = K) otherwise. Coefficients and intercepts are for the z columns.

    The path stops early before the first solution selecting more than ``max_features`` features
    (``column_features`` groups columns into features; when it jumps past that count, an alpha
    bisected for exactly ``max_features`` ends it instead, see ``path_control.walk_path``) and,
    with ``saturation``, when the deviance ratio saturates (glmnet's rule); the solution then holds
    fewer alphas, listed in its ``alphas``. ``moments``
    (gaussian): ``X^T diag(w) X`` and ``X^T w`` precomputed, e.g. a CV fold's from the full data's.

    What ``tol`` means, and so ``converged``: gaussian, the duality gap is at most ``tol`` times
    the weighted variance of y (``dual_gap`` is that gap in objective units); logistic, the largest
    KKT violation is at most ``tol`` (``dual_gap`` holds that violation). ``n_iter`` counts
    coordinate-descent epochs over the working sets.

    ``target_scale`` (gaussian): ``y`` is the target divided by this power of two, and ``alphas``
    are those of the original target; they are mapped to the scaled problem's (``penalty_units``)
    and back in the solution's ``alphas``, while coefficients, intercepts and gaps stay those of the
    scaled problem (``scaling.unscale_outcome`` maps them).

    ``groups`` (one id 0..G-1 per column): the group lasso of ``group_solver`` instead, gaussian or
    binomial, without bounds, l1_ratio > 0 (ValueError otherwise); ``dual_gap`` is its largest
    KKT violation and ``moments`` are not used.
    """
    alphas = np.asarray(alphas, dtype=np.float64)
    if target_scale != 1.0:
        l1_ratio, factor = penalty_units(l1_ratio, target_scale)
        effective = alphas * factor
        scaled = solve_path(
            X, y, w, family, l1_ratio, effective, fit_intercept, tol, max_iter, checkpoint,
            n_classes=n_classes, penalty_factors=penalty_factors, lower=lower, upper=upper,
            max_features=max_features, column_features=column_features, saturation=saturation,
            center=center, scale=scale, moments=moments, groups=groups,
        )  # fmt: skip
        if scaled.alphas is None:
            return scaled
        # The alphas asked for come back exactly as given; only a bisected one is mapped back.
        given = dict(zip(effective.tolist(), alphas.tolist(), strict=True))
        solved = np.array([given.get(a, a / factor) for a in scaled.alphas.tolist()], dtype=np.float64)
        return replace(scaled, alphas=solved)
    p = X.shape[1]
    penalty = _penalty(p, l1_ratio, penalty_factors, lower, upper)
    mean, sd = _standardization(p, center, scale)
    control = PathControl(max_features, column_features, saturation)
    group_penalty = None if groups is None else build_group_penalty(groups, family, penalty)
    if family == Family.GAUSSIAN and group_penalty is not None:
        engine = group_engine(X, y, w, family, group_penalty, mean, sd, fit_intercept)
        return group_path(engine, alphas, tol, max_iter, checkpoint, control)
    if family == Family.GAUSSIAN:
        data = GaussianData.build(X, np.asarray(y, dtype=np.float64), w, mean, sd, fit_intercept)
        if max_features is None and closed_form_applies(data, penalty):
            return solve_ridge_path(data, penalty, alphas, checkpoint)
        return gaussian_path(data, penalty, alphas, tol, max_iter, checkpoint, control, moments)
    codes = np.asarray(y, dtype=np.int64)
    present = _present_classes(codes, w, n_classes)
    if present.shape[0] < 2:
        return _single_class_path(p, family, n_classes, present, fit_intercept, alphas)
    if family == Family.MULTINOMIAL and present.shape[0] < n_classes:
        return _absent_classes_path(
            X,
            codes,
            w,
            present,
            n_classes,
            penalty,
            mean,
            sd,
            fit_intercept,
            alphas,
            tol,
            max_iter,
            checkpoint,
            control,
        )
    if group_penalty is not None:
        engine = group_engine(X, codes, w, family, group_penalty, mean, sd, fit_intercept)
        return group_path(engine, alphas, tol, max_iter, checkpoint, control)
    ldata = LogisticData.build(X, codes, w, family, n_classes, mean, sd, fit_intercept)
    return logistic_path(ldata, penalty, alphas, tol, max_iter, checkpoint, control)


def _single_class_path(
    p: int, family: Family, n_classes: int, present: IntArray, fit_intercept: bool, alphas: FloatArray
) -> PathSolution:
    """Only one class has weight (a CV fold can do that): zero coefficients, floored intercepts."""
    width = n_classes if family == Family.MULTINOMIAL else 1
    intercept = np.zeros(width)
    if fit_intercept and present.shape[0] == 1:
        floor = np.log(PROBABILITY_FLOOR)
        if family == Family.MULTINOMIAL:
            intercept[:] = floor
            intercept[present[0]] = 0.0
            intercept -= intercept.mean()
        else:
            intercept[0] = -floor if present[0] == 1 else floor
    m = alphas.shape[0]
    return PathSolution(
        coef=np.zeros((m, p, width)),
        intercept=np.tile(intercept, (m, 1)),
        n_iter=np.zeros(m, dtype=np.int64),
        dual_gap=np.zeros(m),
        converged=np.full(m, fit_intercept or present.shape[0] == 0, dtype=np.bool_),
    )


def _absent_classes_path(
    X: Any,
    codes: IntArray,
    w: FloatArray,
    present: IntArray,
    n_classes: int,
    penalty: Penalty,
    mean: FloatArray,
    sd: FloatArray,
    fit_intercept: bool,
    alphas: FloatArray,
    tol: float,
    max_iter: int,
    checkpoint: PathProgress | None,
    control: PathControl,
) -> PathSolution:
    """Fit the present classes only; absent ones get zero coefficients and probability ~1e-9."""
    reduced = np.searchsorted(present, codes).clip(0, present.shape[0] - 1)
    ldata = LogisticData.build(X, reduced, w, Family.MULTINOMIAL, present.shape[0], mean, sd, fit_intercept)
    part = logistic_path(ldata, penalty, alphas, tol, max_iter, checkpoint, control)
    m, p = part.coef.shape[0], part.coef.shape[1]
    coef = np.zeros((m, p, n_classes))
    coef[:, :, present] = part.coef
    intercept = np.zeros((m, n_classes))
    intercept[:, present] = part.intercept
    if fit_intercept:
        absent = np.setdiff1d(np.arange(n_classes), present)
        intercept[:, absent] = part.intercept.min(axis=1, keepdims=True) - 2.0 * abs(
            np.log(PROBABILITY_FLOOR)
        )
        intercept -= intercept.mean(axis=1, keepdims=True)
    return PathSolution(
        coef, intercept, part.n_iter, part.dual_gap, part.converged & fit_intercept, part.alphas
    )
