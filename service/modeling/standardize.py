"""glmnet's standardization of the design and the map of coefficients back to the original scale."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.modeling.specs import BoolArray, FloatArray


@dataclass(frozen=True)
class Standardization:
    """Columns enter the solver as ``(x - mean) / scale``, restricted to the ``active`` ones.

    With an intercept and ``standardize``: weighted mean and weighted population SD. Without an
    intercept: mean 0 and scale the weighted root mean square (glmnet's ``intercept=FALSE``).
    Without ``standardize``: mean 0, scale 1 (the solver still handles the intercept itself).
    Inactive columns carry no information (constant among positive-weight rows, or all zero
    without an intercept); they never reach the solver, so their coefficients are exactly 0.
    """

    mean: FloatArray  # (p,)
    scale: FloatArray  # (p,)
    active: BoolArray  # (p,)

    def transform(self, X: FloatArray) -> FloatArray:
        """The solver's design: standardized active columns, (n, n_active)."""
        cols = self.active
        scaled: FloatArray = (X[:, cols] - self.mean[cols]) / self.scale[cols]
        return scaled

    def expand(self, coef_active: FloatArray) -> FloatArray:
        """Coefficients (m, n_active, K) to (m, p, K), zeros for inactive columns."""
        m, _, k = coef_active.shape
        full = np.zeros((m, self.active.shape[0], k), dtype=np.float64)
        full[:, self.active, :] = coef_active
        return full

    def to_original(self, coef_std: FloatArray, intercept_std: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(m, p, K) standardized coefficients and (m, K) intercepts on the original scale."""
        coef: FloatArray = coef_std / self.scale[np.newaxis, :, np.newaxis]
        intercept: FloatArray = intercept_std - np.einsum("j,mjk->mk", self.mean, coef)
        return coef, intercept


def _informative(X: FloatArray, w: FloatArray, fit_intercept: bool) -> BoolArray:
    # Exact comparisons, not a variance threshold: a column of 0.1s has a tiny nonzero
    # floating-point variance but is still constant and must get an exact zero.
    rows = X[w > 0]
    if fit_intercept:
        informative: BoolArray = np.any(rows != rows[:1], axis=0)
    else:
        informative = np.any(rows != 0.0, axis=0)
    return informative


def fit_standardization(
    X: FloatArray, w: FloatArray, standardize: bool, fit_intercept: bool
) -> Standardization:
    """Statistics of the design under weights ``w`` (normalized to sum n)."""
    n, p = X.shape
    active = _informative(X, w, fit_intercept)
    mean = np.zeros(p, dtype=np.float64)
    scale = np.ones(p, dtype=np.float64)
    if standardize:
        if fit_intercept:
            mean = (w @ X) / n
        second_moment = (w @ (X - mean) ** 2) / n
        scale = np.where(active, np.sqrt(second_moment), 1.0)
    return Standardization(mean=mean, scale=scale, active=active)
