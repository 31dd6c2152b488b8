"""One fit's checked data and options, and its restriction to the training rows of a CV fold."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from service.modeling.groups import check_groups
from service.modeling.scaling import Scaling, choose_scaling
from service.modeling.specs import Family, FitSpec, FloatArray, IntArray
from service.modeling.validation import (
    check_class_target,
    check_column_options,
    check_design,
    check_gaussian_target,
    normalized_weights,
)


@dataclass(frozen=True)
class Problem:
    """Design (original scale), target, weights summing to n, and how to fit them."""

    X: Any  # dense (n, p) or scipy.sparse CSC
    y: FloatArray | IntArray
    w: FloatArray
    family: Family
    n_classes: int  # 1 for gaussian
    standardize: bool
    fit_intercept: bool
    tol: float
    max_iter: int
    penalty_factors: FloatArray  # (p,) per design column
    lower: FloatArray  # (p,) original scale, <= 0
    upper: FloatArray  # (p,) original scale, >= 0
    max_features: int | None = None
    column_features: IntArray | None = None
    # X and y as given were divided by these powers of two (see scaling.py); the solver maps alphas.
    scaling: Scaling | None = None
    # The group lasso's group id per design column (FitSpec.groups); None: no groups.
    groups: IntArray | None = None

    @property
    def target_scale(self) -> float:
        return 1.0 if self.scaling is None else self.scaling.target

    @property
    def width(self) -> int:
        """K': coefficient vectors per column (K for multinomial, else 1)."""
        return self.n_classes if self.family == Family.MULTINOMIAL else 1

    def with_weights(self, w: FloatArray) -> Problem:
        """The same problem under other observation weights (a CV fold: zero on held-out rows).

        The caller makes sure some row keeps a positive weight.
        """
        return replace(self, w=w * (np.count_nonzero(w) / float(w.sum())))

    def restricted(self, rows: IntArray) -> Problem:
        """The same problem on ``rows`` only: for a sparse design, a CV fold's training rows cost
        less as a copy (a few MB) than as zero weights read in every epoch."""
        return replace(self, X=self.X[rows], y=self.y[rows]).with_weights(self.w[rows])


def build_problem(
    X: Any,
    y: npt.ArrayLike,
    spec: FitSpec,
    sample_weight: npt.ArrayLike | None,
    n_classes: int | None,
) -> Problem:
    design = check_design(X)
    w = normalized_weights(sample_weight, design.shape[0])
    target: FloatArray | IntArray
    if spec.family == Family.GAUSSIAN:
        target, k = check_gaussian_target(y, design.shape[0]), 1
    else:
        target, k = check_class_target(y, w, spec.family, n_classes)
    factors, lower, upper, features = check_column_options(spec, design.shape[1])
    groups = check_groups(spec, design.shape[1], factors, lower, upper)
    gaussian_target = np.asarray(target, dtype=np.float64) if spec.family == Family.GAUSSIAN else None
    scaling = choose_scaling(design, gaussian_target, spec.standardize, spec.column_names, spec.target_name)
    if not scaling.identity:
        design = scaling.design(design)
        if spec.family == Family.GAUSSIAN:
            target = target / scaling.target
        lower, upper = scaling.coefficient_bounds(lower, upper)
    return Problem(
        X=design,
        y=target,
        w=w,
        family=spec.family,
        n_classes=k,
        standardize=spec.standardize,
        fit_intercept=spec.fit_intercept,
        tol=spec.solver_tol(),
        max_iter=spec.max_iter,
        penalty_factors=factors,
        lower=lower,
        upper=upper,
        max_features=spec.max_features,
        column_features=features,
        scaling=None if scaling.identity else scaling,
        groups=groups,
    )
