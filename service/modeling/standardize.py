"""glmnet's standardization of the design and the map of coefficients back to the original scale."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from service.modeling.engine import Columns, dense_ranges, is_sparse, sparse_ranges
from service.modeling.specs import BoolArray, FloatArray


@dataclass(frozen=True)
class Standardization:
    """Columns enter the solver as ``(x - mean) / scale``, applied on the fly by the engine.

    With an intercept and ``standardize``: weighted mean and weighted population SD. Without an
    intercept: mean 0 and scale the weighted root mean square (glmnet's ``intercept=FALSE``).
    Without ``standardize``: mean 0, scale 1 (the solver still handles the intercept itself).
    Inactive columns carry no information (constant among positive-weight rows, or all zero
    without an intercept); the solver holds them at exactly 0.
    """

    mean: FloatArray  # (p,)
    scale: FloatArray  # (p,)
    active: BoolArray  # (p,)

    def bounds(self, lower: FloatArray, upper: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Coefficient bounds on the standardized scale; inactive columns are pinned to zero."""
        lo = np.where(self.active, lower * self.scale, 0.0)
        hi = np.where(self.active, upper * self.scale, 0.0)
        return lo, hi

    def to_original(self, coef_std: FloatArray, intercept_std: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(m, p, K) standardized coefficients and (m, K) intercepts on the original scale."""
        coef: FloatArray = coef_std / self.scale[np.newaxis, :, np.newaxis]
        intercept: FloatArray = intercept_std - np.einsum("j,mjk->mk", self.mean, coef)
        return coef, intercept


def _informative(X: Any, w: FloatArray, fit_intercept: bool) -> BoolArray:
    # Exact comparisons, not a variance threshold: a column of 0.1s has a tiny nonzero
    # floating-point variance but is still constant and must get an exact zero.
    keep = w > 0
    if is_sparse(X):
        csc = sp.csc_matrix(X)
        lo, hi = sparse_ranges(csc.indptr, csc.indices, csc.data, keep, int(keep.sum()))
    else:
        lo, hi = dense_ranges(np.asarray(X, dtype=np.float64), keep)
    if fit_intercept:
        informative: BoolArray = lo < hi
    else:
        informative = (lo != 0.0) | (hi != 0.0)
    return informative


def fit_standardization(X: Any, w: FloatArray, standardize: bool, fit_intercept: bool) -> Standardization:
    """Statistics of the design under weights ``w`` (any positive total), without copying X."""
    p = X.shape[1]
    active = _informative(X, w, fit_intercept)
    mean = np.zeros(p, dtype=np.float64)
    scale = np.ones(p, dtype=np.float64)
    if standardize:
        v = w / float(w.sum())
        cols = Columns.build(X, mean, scale)
        if fit_intercept:
            mean = cols.raw_xt(v)
        _, second_moment = Columns(X=cols.X, center=mean, scale=scale).moments(v)
        scale = np.where(active, np.sqrt(second_moment), 1.0)
        scale = np.where(scale > 0, scale, 1.0)
    return Standardization(mean=mean, scale=scale, active=active)
