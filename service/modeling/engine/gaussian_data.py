"""A gaussian elastic-net problem as its solvers see it, and the duality gap that certifies them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from service.modeling.engine import kernels
from service.modeling.engine.columns import Columns
from service.modeling.engine.penalty import Penalty
from service.modeling.metrics import weighted_mean
from service.modeling.specs import FloatArray

TINY = np.finfo(np.float64).tiny
# Besides its certified gap, a solution is accepted only once a full pass of coordinate descent
# changes no coordinate's share of the objective by more than SETTLE times the null loss:
# glmnet's own stopping rule at its default (thresh 1e-7), so no default solution of ours is less
# converged than glmnet's default one where coordinate descent converges fast (tall, small data).
SETTLE = 1e-7


class GramTarget(Protocol):
    """What covariance-mode descent needs of the target: its null loss and the intercept."""

    @property
    def yy(self) -> float: ...

    def goal(self, tol: float) -> float: ...

    def intercept(self, beta: FloatArray) -> float: ...


@dataclass(frozen=True, eq=False)
class GaussianData:
    """Weighted least squares on ``z_j = (x_j - c_j) / s_j``; with an intercept c is the weighted
    mean, so the intercept decouples. ``v`` are the weights normalized to sum 1."""

    cols: Columns
    y: FloatArray  # centered when fit_intercept
    v: FloatArray
    y_mean: float
    mean: FloatArray  # the caller's centering, to report the intercept in its parametrization
    fit_intercept: bool

    @classmethod
    def build(
        cls, X: Any, y: FloatArray, w: FloatArray, mean: FloatArray, scale: FloatArray, fit_intercept: bool
    ) -> GaussianData:
        v = w / float(w.sum())
        raw = Columns.build(X, np.zeros(X.shape[1]), scale)
        center = raw.raw_xt(v) if fit_intercept else np.asarray(mean, dtype=np.float64)
        y_mean = weighted_mean(y, w) if fit_intercept else 0.0
        cols = Columns(X=raw.X, center=center, scale=raw.scale)
        return cls(cols, np.asarray(y - y_mean, dtype=np.float64), v, y_mean, mean, fit_intercept)

    def intercept(self, beta: FloatArray) -> float:
        """The intercept for columns centered at the caller's ``mean``."""
        return self.y_mean + float(beta @ self._intercept_weights)

    @functools.cached_property
    def _intercept_weights(self) -> FloatArray:
        weights: FloatArray = (self.mean - self.cols.center) / self.cols.scale
        return weights

    @functools.cached_property
    def yy(self) -> float:
        """sum_i v_i y_i^2 of the (centered) target: twice the null model's loss."""
        return float(self.v @ (self.y * self.y))

    def goal(self, tol: float) -> float:
        """The absolute duality gap that ``tol`` asks for (tiny for a constant target)."""
        return tol * self.yy if self.yy > 0 else TINY


def duality_gap(
    penalty: Penalty, alpha: float, beta: FloatArray, q: FloatArray, rr: float, hdiag: FloatArray
) -> float:
    """Primal minus dual objective at the dual point ``s * v * r`` (s keeps the dual feasible).

    With ``y'`` the target less the held columns' fit, ``sum v r y' = rr + sum_j beta_j q_j`` over
    the penalized columns; the conjugate of each column's penalty-plus-box is in closed form.

    ``q = Z^T (v r)``, ``rr = sum v r^2``. Unpenalized columns have no dual slack to scale; they
    are held at their values (an offset in y: the gap is that of the remaining problem) and their
    possible improvement, ``violation^2 / (2 h_jj)`` each, is added instead.
    """
    pen = penalty
    return float(kernels.enet_gap(beta, q, rr, alpha, pen.l1_ratio, pen.factors, pen.lower, pen.upper, hdiag))


@dataclass
class Certificate:
    """The duality gap of one solution and whether it met the tolerance: ``gap <= tol * sum v y^2``
    (scikit-learn's criterion, relative to the null loss).

    Not relative to the primal: near saturation the gap overstates the suboptimality by orders of
    magnitude, and certifying ``gap <= tol * primal`` there cost 30x the epochs for no real gain.
    """

    gap: float
    converged: bool

    @classmethod
    def of(cls, gap: float, goal: float) -> Certificate:
        return cls(gap, gap <= goal)
