"""The separable penalty: per-feature L1/L2 strengths, box bounds, its value and its conjugate."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from service.modeling.specs import BoolArray, FloatArray, IntArray


@dataclass(frozen=True)
class Penalty:
    """``alpha * sum_j pf_j (l1_ratio |b_j| + (1 - l1_ratio)/2 b_j^2)`` with ``lower <= b <= upper``.

    All arrays are per solver column (standardized scale). ``lower <= 0 <= upper`` always, so the
    all-zero model is feasible; a column with ``lower == upper == 0`` is held at zero.
    """

    l1_ratio: float
    factors: FloatArray
    lower: FloatArray
    upper: FloatArray

    @classmethod
    def build(
        cls,
        p: int,
        l1_ratio: float,
        factors: FloatArray | None = None,
        lower: FloatArray | None = None,
        upper: FloatArray | None = None,
    ) -> Penalty:
        return cls(
            l1_ratio=float(l1_ratio),
            factors=np.ones(p) if factors is None else np.asarray(factors, dtype=np.float64),
            lower=np.full(p, -np.inf) if lower is None else np.asarray(lower, dtype=np.float64),
            upper=np.full(p, np.inf) if upper is None else np.asarray(upper, dtype=np.float64),
        )

    def null(self) -> Penalty:
        """The null model's penalty: unpenalized columns free (and unpenalized), the rest pinned at 0."""
        penalized = self.factors > 0.0
        lower = np.where(penalized, 0.0, self.lower)
        upper = np.where(penalized, 0.0, self.upper)
        return Penalty(self.l1_ratio, np.zeros_like(self.factors), lower, upper)

    def subset(self, cols: IntArray) -> Penalty:
        return Penalty(self.l1_ratio, self.factors[cols], self.lower[cols], self.upper[cols])

    def strengths(self, alpha: float) -> tuple[FloatArray, FloatArray]:
        """Per-column L1 and L2 strengths at ``alpha``."""
        lam1: FloatArray = alpha * self.l1_ratio * self.factors
        lam2: FloatArray = alpha * (1.0 - self.l1_ratio) * self.factors
        return lam1, lam2

    # The masks below are read several times per alpha on every path: computed once (a Penalty's
    # arrays are never changed in place; a changed penalty is a new Penalty).
    @functools.cached_property
    def free(self) -> BoolArray:
        """Columns that can move: not pinned to zero by their bounds."""
        free: BoolArray = (self.lower < 0.0) | (self.upper > 0.0)
        return free

    @functools.cached_property
    def unpenalized(self) -> BoolArray:
        """Free columns with penalty factor 0: in every model, screened never."""
        mask: BoolArray = (self.factors == 0.0) & self.free
        return mask

    @functools.cached_property
    def unbounded(self) -> bool:
        """Every column free in both directions (no box constraints): the usual case."""
        return bool(np.all(self.lower == -np.inf) and np.all(self.upper == np.inf))

    def value(self, alpha: float, beta: FloatArray) -> float:
        """The penalty at ``beta`` (p,) or (p, K): summed over every entry."""
        if beta.size == 0:
            return 0.0
        lam1, lam2 = self.strengths(alpha)
        b = beta.reshape(beta.shape[0], -1)
        return float(lam1 @ np.abs(b).sum(axis=1) + 0.5 * lam2 @ (b**2).sum(axis=1))

    def allowed_push(self, q: FloatArray) -> FloatArray:
        """|q| in the directions the bounds allow from zero (q is minus the gradient at zero)."""
        if self.unbounded:
            return np.abs(q)
        up = np.where(self.upper > 0.0, np.maximum(q, 0.0), 0.0)
        down = np.where(self.lower < 0.0, np.maximum(-q, 0.0), 0.0)
        push: FloatArray = np.maximum(up, down)
        return push

    def kkt_violation(self, alpha: float, beta: FloatArray, q: FloatArray) -> FloatArray:
        """Per column, how far ``beta`` is from optimal given ``q`` = minus the loss gradient.

        Zero inside the bounds: the push beyond the L1 threshold; nonzero: the stationarity
        residual, one-sided at a bound.
        """
        lam1, lam2 = self.strengths(alpha)
        g = -q + lam2 * beta  # gradient of the smooth part
        at_zero = beta == 0.0
        excess = np.maximum(self.allowed_push(-g) - lam1, 0.0)
        residual = g + lam1 * np.sign(beta)
        at_upper = (beta == self.upper) & ~at_zero
        at_lower = (beta == self.lower) & ~at_zero
        residual = np.where(at_upper, np.maximum(residual, 0.0), residual)
        residual = np.where(at_lower, np.minimum(residual, 0.0), residual)
        violation: FloatArray = np.where(at_zero, excess, np.abs(residual))
        return np.where(self.free, violation, 0.0)
