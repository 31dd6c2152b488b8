"""The adaptive lasso (Zou 2006, JASA 101:1418): penalty factors from an initial fit, then the usual fit.

Procedure: (1) an initial fit, ridge (l1_ratio 0) or lasso (l1_ratio 1) as ``AdaptiveSpec.initial``
says, over its own default path, its alpha chosen by cross-validation's ``min`` rule (alpha_min: the
initial estimate should predict well, not be sparse), on the same folds, weights, bounds and
penalty factors as the fit asked for; (2) per design column

    w_j = pf_j / |b_j|^gamma     (b_j the initial fit's STANDARDIZED coefficient)

where pf_j is the user's factor (0 stays 0: unpenalized); (3) the requested fit (path, CV, relax)
with ``w`` as its penalty factors. ``b_j`` is taken on the scale the penalty applies to (the
standardized one when ``standardize``, else the original one, which is then the same): with the
penalty and the weights on one scale, rescaling a column changes neither the selected set nor the
fit, as in Zou's definition; on the original scale, a column measured in grams instead of kilograms
would be penalized 1000^gamma times more. Multinomial: ``|b_j|`` is the largest over the classes
(a column is kept if it matters to any class). A column with ``b_j = 0`` (possible with a lasso
initial fit) has an infinite factor: it is excluded, held at exactly zero through bounds [0, 0],
and reported as excluded with factor ``inf``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from service.modeling.results import AdaptiveResult, FitOutcome
from service.modeling.specs import AdaptiveInitial, AdaptiveSpec, CVSpec, FitSpec, PathSpec, SelectionRule
from service.modeling.validation import MIN_PENALTY_FACTOR, invalid


def check_adaptive(spec: FitSpec) -> AdaptiveSpec | None:
    adaptive = spec.adaptive
    if adaptive is None:
        return None
    if not (math.isfinite(adaptive.gamma) and adaptive.gamma > 0):
        raise invalid("adaptive.gamma", "must be a positive finite number")
    if spec.groups is not None:
        # A group needs one penalty factor for all its columns and admits no bounds (which hold
        # excluded columns at zero here); per-column factors have no place in it.
        raise invalid("adaptive", "cannot be combined with groups")
    return adaptive


def initial_spec(spec: FitSpec, adaptive: AdaptiveSpec) -> FitSpec:
    """The initial fit: ridge or lasso over the default path, CV's min rule on the fit's folds."""
    cv = spec.cv or CVSpec()
    return replace(
        spec,
        l1_ratio=0.0 if adaptive.initial == AdaptiveInitial.RIDGE else 1.0,
        alpha=None,
        path=PathSpec(),
        cv=replace(cv, rule=SelectionRule.MIN, l1_ratios=None),
        max_features=None,
        relax=False,
        adaptive=None,
    )


def adaptive_factors(spec: FitSpec, adaptive: AdaptiveSpec, initial: FitOutcome) -> AdaptiveResult:
    """The factors ``pf_j / |b_j|^gamma`` from the initial fit's standardized coefficients."""
    p = initial.coef_std.shape[0]
    user = np.ones(p) if spec.penalty_factors is None else np.asarray(spec.penalty_factors, dtype=np.float64)
    magnitude = np.max(np.abs(initial.coef_std), axis=1)
    with np.errstate(divide="ignore", over="ignore"):
        weights = magnitude ** (-adaptive.gamma)
    penalized = user > 0
    # An overflowing weight (|b_j| ~ 1e-300) excludes its column as b_j = 0 does.
    excluded = penalized & ~np.isfinite(weights)
    factors = np.where(penalized, user * np.where(excluded, 1.0, weights), 0.0)
    # A factor below the engine's floor (|b_j| near 1e300) would be refused: it is as good as 0 then.
    factors = np.where(penalized, np.maximum(factors, MIN_PENALTY_FACTOR), 0.0)
    factors = np.where(excluded, np.inf, factors)
    return AdaptiveResult(
        gamma=float(adaptive.gamma),
        initial=str(adaptive.initial),
        initial_alpha=float(initial.alpha),
        factors=factors.astype(np.float64),
        excluded=excluded,
    )


def adapted_spec(spec: FitSpec, result: AdaptiveResult) -> FitSpec:
    """``spec`` with the adaptive factors, excluded columns held at zero by bounds [0, 0]."""
    p = result.factors.shape[0]
    excluded = result.excluded
    lower = np.full(p, -np.inf) if spec.lower_bounds is None else np.asarray(spec.lower_bounds, np.float64)
    upper = np.full(p, np.inf) if spec.upper_bounds is None else np.asarray(spec.upper_bounds, np.float64)
    return replace(
        spec,
        adaptive=None,
        penalty_factors=tuple(np.where(excluded, 1.0, result.factors).tolist()),
        lower_bounds=tuple(np.where(excluded, 0.0, lower).tolist()),
        upper_bounds=tuple(np.where(excluded, 0.0, upper).tolist()),
    )
