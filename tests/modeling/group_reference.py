"""The group lasso written from its documented objective alone: its value and a cvxpy solution.

    gaussian:  1/2 sum_i v_i (y_i - b0 - z_i.b)^2
    binomial:  sum_i v_i (log(1 + exp(eta_i)) - y_i eta_i),   eta_i = b0 + z_i.b
    + alpha * sum_g pf_g sqrt(|g|) (l1_ratio ||b_g||_2 + (1 - l1_ratio)/2 ||b_g||_2^2)

with v = w / sum(w) and z the standardized columns. Nothing here imports the service, so a wrong
convention in the engine fails the tests instead of being shared by them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Clarabel (interior point) at tolerances near the limits of double precision.
CLARABEL = {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11, "max_iter": 500}


@dataclass(frozen=True)
class GroupProblem:
    Z: FloatArray  # standardized columns
    y: FloatArray  # gaussian target, or 0/1 for binomial
    w: FloatArray
    groups: IntArray
    binomial: bool
    l1_ratio: float
    factors: FloatArray | None = None  # per group; None = 1

    @property
    def v(self) -> FloatArray:
        out: FloatArray = self.w / self.w.sum()
        return out

    def weights(self) -> FloatArray:
        sizes = np.bincount(self.groups).astype(np.float64)
        pf = np.ones(sizes.shape[0]) if self.factors is None else self.factors
        out: FloatArray = pf * np.sqrt(sizes)
        return out

    def objective(self, alpha: float, b0: float, b: FloatArray) -> float:
        eta = b0 + self.Z @ b
        if self.binomial:
            loss = float(self.v @ (np.logaddexp(0.0, eta) - self.y * eta))
        else:
            loss = 0.5 * float(self.v @ (self.y - eta) ** 2)
        norms = np.sqrt(np.bincount(self.groups, weights=b * b))
        pen = self.weights() @ (self.l1_ratio * norms + 0.5 * (1.0 - self.l1_ratio) * norms**2)
        return loss + alpha * float(pen)

    def gradient(self, b0: float, b: FloatArray) -> FloatArray:
        """Minus the loss gradient in b."""
        eta = b0 + self.Z @ b
        fitted = 1.0 / (1.0 + np.exp(-eta)) if self.binomial else eta
        out: FloatArray = self.Z.T @ (self.v * (self.y - fitted))
        return out

    def kkt(self, alpha: float, b0: float, b: FloatArray) -> float:
        """The largest KKT violation over groups: zero groups' excess gradient, nonzero groups'
        stationarity residual."""
        q = self.gradient(b0, b)
        worst = 0.0
        wg = self.weights()
        for g in range(wg.shape[0]):
            idx = self.groups == g
            lam1, lam2 = alpha * self.l1_ratio * wg[g], alpha * (1.0 - self.l1_ratio) * wg[g]
            norm = float(np.linalg.norm(b[idx]))
            if norm == 0.0:
                worst = max(worst, float(np.linalg.norm(q[idx])) - lam1)
            else:
                worst = max(worst, float(np.linalg.norm(-q[idx] + (lam2 + lam1 / norm) * b[idx])))
        return worst

    def solve_cvxpy(self, alpha: float) -> tuple[float, FloatArray]:
        """The minimizer by a conic interior-point solver (Clarabel through cvxpy).

        A gaussian target is divided by its SD first (interior-point methods are most accurate on
        data of unit scale): with y = s y' and b = s b', the objective is s^2 times the one of y'
        with the norm's strength divided by s and the squared norm's unchanged.
        """
        p = self.Z.shape[1]
        b, b0 = cp.Variable(p), cp.Variable()
        eta = b0 + self.Z @ b
        s = 1.0 if self.binomial else float(np.sqrt(self.v @ (self.y - self.v @ self.y) ** 2))
        if self.binomial:
            loss = cp.sum(cp.multiply(self.v, cp.logistic(eta) - cp.multiply(self.y, eta)))
        else:
            loss = 0.5 * cp.sum_squares(cp.multiply(np.sqrt(self.v), self.y / s - eta))
        wg = self.weights()
        lam1, lam2 = alpha * self.l1_ratio / s, alpha * (1.0 - self.l1_ratio)
        pen = 0
        for g in range(wg.shape[0]):
            idx = np.flatnonzero(self.groups == g)
            pen += wg[g] * (lam1 * cp.norm(b[idx], 2) + 0.5 * lam2 * cp.sum_squares(b[idx]))
        problem = cp.Problem(cp.Minimize(loss + pen))
        with warnings.catch_warnings():
            # Near the limits of its tolerances Clarabel may call its answer inaccurate; the
            # objective comparison and ``polished`` say how good it is.
            warnings.filterwarnings("ignore", "Solution may be inaccurate", UserWarning)
            problem.solve(solver=cp.CLARABEL, **CLARABEL)
        assert problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE), problem.status
        return s * float(b0.value), s * np.asarray(b.value, dtype=np.float64)

    def polished(self, alpha: float, b0: float, b: FloatArray, steps: int = 30) -> tuple[float, FloatArray]:
        """Newton's method on the objective restricted to the groups nonzero in ``b`` (where it is
        smooth), from (b0, b): the conic solution refined to the stationary point of its support."""
        wg = self.weights()
        active_groups = [
            g
            for g in range(wg.shape[0])
            if np.linalg.norm(b[self.groups == g]) > 1e-6 * max(1.0, np.abs(b).max())
        ]
        cols = np.flatnonzero(np.isin(self.groups, active_groups))
        A = np.column_stack([np.ones(self.Z.shape[0]), self.Z[:, cols]])
        theta = np.concatenate([[b0], b[cols]])
        for _ in range(steps):
            eta = A @ theta
            fitted = 1.0 / (1.0 + np.exp(-eta)) if self.binomial else eta
            curvature = self.v * fitted * (1.0 - fitted) if self.binomial else self.v
            grad = A.T @ (self.v * (fitted - self.y))
            hess = A.T @ (curvature[:, np.newaxis] * A)
            for g in active_groups:
                k = 1 + np.flatnonzero(self.groups[cols] == g)
                bg = theta[k]
                norm = float(np.linalg.norm(bg))
                lam1, lam2 = alpha * self.l1_ratio * wg[g], alpha * (1.0 - self.l1_ratio) * wg[g]
                grad[k] += lam1 * bg / norm + lam2 * bg
                hess[np.ix_(k, k)] += lam1 * (
                    np.eye(k.size) / norm - np.outer(bg, bg) / norm**3
                ) + lam2 * np.eye(k.size)
            step = np.linalg.solve(hess, grad)
            theta = theta - step
            if np.max(np.abs(step)) <= 1e-15 * max(1.0, np.max(np.abs(theta))):
                break
        out = np.zeros_like(b)
        out[cols] = theta[1:]
        return float(theta[0]), out
