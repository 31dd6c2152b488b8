"""The design as a gaussian lasso fit sees it: columns (x - mean) / scale, y centered with an intercept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from service.modeling.engine import is_sparse
from service.modeling.specs import BoolArray, FloatArray, IntArray
from service.modeling.standardize import fit_standardization


@dataclass(frozen=True)
class CenteredDesign:
    """X (dense or CSC, original scale) with the column means and scales of the fit.

    With an intercept the intercept profiles out of the gaussian objective as centering, so the
    columns are centered even when ``standardize`` is off (where the fit itself reports mean 0).
    ``informative`` marks the columns the fit can move (nonconstant; nonzero without intercept).
    """

    X: Any
    mean: FloatArray  # (p,)
    scale: FloatArray  # (p,)
    informative: BoolArray  # (p,)
    fit_intercept: bool

    @classmethod
    def build(cls, X: Any, standardize: bool, fit_intercept: bool) -> CenteredDesign:
        n = X.shape[0]
        # The fit's own standardization (unit weights): the same means, SDs and informative columns.
        st = fit_standardization(X, np.ones(n), standardize, fit_intercept)
        mean = st.mean
        if fit_intercept and not standardize:
            mean = np.asarray(X.mean(axis=0), dtype=np.float64).reshape(-1)
        return cls(X=X, mean=mean, scale=st.scale, informative=st.active, fit_intercept=fit_intercept)

    def center_target(self, y: FloatArray) -> FloatArray:
        centered: FloatArray = y - y.mean() if self.fit_intercept else y.copy()
        return centered

    def columns(self, cols: IntArray) -> FloatArray:
        """The standardized columns ``cols`` as a dense (n, k) array (a CSC X is densified only there)."""
        block = self.X[:, cols]
        dense = block.toarray() if is_sparse(block) else np.asarray(block, dtype=np.float64)
        out: FloatArray = (dense - self.mean[cols]) / self.scale[cols]
        return out

    def correlate(self, r: FloatArray) -> FloatArray:
        """Z' r for every column (Z standardized; 0 on uninformative columns), X never densified."""
        raw = np.asarray(self.X.T @ r, dtype=np.float64).reshape(-1)
        out: FloatArray = (raw - self.mean * float(r.sum())) / self.scale
        return np.where(self.informative, out, 0.0)
