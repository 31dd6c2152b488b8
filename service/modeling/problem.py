"""One fit's checked data and options, and its restriction to the training rows of a CV fold."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from service.modeling.specs import BoolArray, Family, FitSpec, FloatArray, IntArray
from service.modeling.validation import (
    check_class_target,
    check_design,
    check_gaussian_target,
    normalized_weights,
)


@dataclass(frozen=True)
class Problem:
    """Design (original scale), target, weights summing to n, and how to fit them."""

    X: FloatArray
    y: FloatArray | IntArray
    w: FloatArray
    family: Family
    n_classes: int  # 1 for gaussian
    standardize: bool
    fit_intercept: bool
    tol: float
    max_iter: int

    @property
    def width(self) -> int:
        """K': coefficient vectors per column (K for multinomial, else 1)."""
        return self.n_classes if self.family == Family.MULTINOMIAL else 1

    def rows(self, keep: BoolArray) -> Problem:
        """The problem on a subset of rows, weights renormalized to sum to its row count.

        The caller makes sure the kept rows carry positive weight.
        """
        w = self.w[keep]
        return replace(self, X=self.X[keep], y=self.y[keep], w=w * (w.shape[0] / float(w.sum())))


def build_problem(
    X: npt.NDArray[np.float64],
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
    return Problem(
        X=design,
        y=target,
        w=w,
        family=spec.family,
        n_classes=k,
        standardize=spec.standardize,
        fit_intercept=spec.fit_intercept,
        tol=spec.tol,
        max_iter=spec.max_iter,
    )
