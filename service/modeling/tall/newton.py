"""Binomial proximal Newton over partitions: the map step (weighted Gram, gradient, loss) and one
training set's outer loop, driven in lockstep with others so one pass serves them all."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from service.modeling.engine import (  # the in-memory engine's Newton settings: the same steps
    CURVATURE_FLOOR,
    FORCING,
    INNER_EPOCHS,
    MAX_HALVINGS,
    Penalty,
    solve_quadratic,
)
from service.modeling.specs import FloatArray
from service.modeling.standardize import Standardization
from service.modeling.tall.blocks import Block, Part


@dataclass(frozen=True)
class Model:
    """A logistic model on the raw columns, trained without the rows of fold ``held`` (-1: none)."""

    held: int
    intercept: float
    coef: FloatArray


@dataclass(frozen=True, eq=False)
class NewtonSums:
    """Per model m, over its training rows at its coefficients: ``H = sum h x x^T`` with Newton
    weights ``h = w p (1 - p)`` (p clipped to the curvature floor), ``hx = sum h x``, ``hsum``,
    the gradient sums ``gx = sum w (y - p) x``, ``gsum``, and ``loss = sum w (log(1 + e^eta) - y eta)``."""

    H: FloatArray  # (M, p, p)
    hx: FloatArray  # (M, p)
    hsum: FloatArray  # (M,)
    gx: FloatArray  # (M, p)
    gsum: FloatArray  # (M,)
    loss: FloatArray  # (M,)

    def __add__(self, other: NewtonSums) -> NewtonSums:
        return NewtonSums(
            self.H + other.H,
            self.hx + other.hx,
            self.hsum + other.hsum,
            self.gx + other.gx,
            self.gsum + other.gsum,
            self.loss + other.loss,
        )


@dataclass(frozen=True)
class NewtonStep:
    """The map step of one Newton pass: every model's sums over this part's training rows."""

    models: tuple[Model, ...]

    def __call__(self, part: Part, block: Block) -> NewtonSums:
        p, count = block.X.shape[1], len(self.models)
        out = NewtonSums(
            np.zeros((count, p, p)), np.zeros((count, p)), np.zeros(count), np.zeros((count, p)),
            np.zeros(count), np.zeros(count),
        )  # fmt: skip
        w = block.weights()
        for m, model in enumerate(self.models):
            if model.held >= 0 and part.folds is not None:
                rows = np.flatnonzero(part.folds != model.held)
                X, y, wm = np.ascontiguousarray(block.X[rows]), block.y[rows], w[rows]
            else:
                X, y, wm = block.X, block.y, w
            eta = model.intercept + X @ model.coef
            prob = expit(eta)
            clipped = np.clip(prob, CURVATURE_FLOOR, 1.0 - CURVATURE_FLOOR)
            h = wm * clipped * (1.0 - clipped)
            g = wm * (y - prob)
            H = X.T @ (X * h[:, np.newaxis])
            out.H[m] = 0.5 * (H + H.T)
            out.hx[m], out.hsum[m] = X.T @ h, h.sum()
            out.gx[m], out.gsum[m] = X.T @ g, g.sum()
            out.loss[m] = float(wm @ (np.logaddexp(0.0, eta) - y * eta))
        return out


@dataclass(frozen=True, eq=False)
class Reduced:
    """One model's sums on the standardized columns ``z = (x - mean) / scale``, per unit weight."""

    Hz: FloatArray
    hz: FloatArray
    hsum: float
    q: FloatArray  # minus the mean loss's gradient in z
    q0: float  # the same for the intercept
    loss: float  # mean loss

    @classmethod
    def of(cls, sums: NewtonSums, m: int, st: Standardization, total: float) -> Reduced:
        c, s = st.mean, st.scale
        hx, hsum, gsum = sums.hx[m], float(sums.hsum[m]), float(sums.gsum[m])
        Hz = sums.H[m] - np.outer(hx, c) - np.outer(c, hx) + hsum * np.outer(c, c)
        Hz /= np.outer(s, s)
        hz = (hx - hsum * c) / s
        q = (sums.gx[m] - gsum * c) / s / total
        return cls(Hz / total, hz / total, hsum / total, q, gsum / total, float(sums.loss[m]) / total)


@dataclass(eq=False)
class NewtonState:
    """One training set's proximal Newton along a path: the accepted point and its reduced sums,
    and the trial point waiting for a pass (backtracking: halve until the objective does not rise).

    Coefficients ``beta`` are on the standardized columns; ``b0`` is the intercept for them.
    """

    held: int
    st: Standardization
    penalty: Penalty
    total: float
    fit_intercept: bool
    beta: FloatArray
    b0: float
    now: Reduced | None = None
    trial: tuple[FloatArray, float] | None = None
    step: tuple[FloatArray, float] = field(default_factory=lambda: (np.zeros(0), 0.0))
    t: float = 1.0
    halvings: int = 0
    epochs: int = 0
    stalled: bool = False

    def model(self, point: tuple[FloatArray, float] | None = None) -> Model:
        beta, b0 = (self.beta, self.b0) if point is None else point
        coef = beta / self.st.scale
        return Model(self.held, float(b0 - self.st.mean @ coef), coef)

    def objective(self, reduced: Reduced, alpha: float, beta: FloatArray) -> float:
        return reduced.loss + self.penalty.value(alpha, beta)

    def kkt(self, alpha: float) -> float:
        """Largest KKT violation over the coefficients and the intercept at the accepted point."""
        assert self.now is not None
        worst = float(np.max(self.penalty.kkt_violation(alpha, self.beta, self.now.q), initial=0.0))
        return max(worst, abs(self.now.q0)) if self.fit_intercept else worst

    def propose(self, alpha: float, kkt: float) -> None:
        """The Newton direction from the accepted point (inner coordinate descent on its Gram
        matrix, the intercept eliminated), as a trial at full step."""
        now = self.now
        assert now is not None
        if self.fit_intercept:
            A = now.Hz - np.outer(now.hz, now.hz) / now.hsum
            b = now.q - now.q0 * now.hz / now.hsum + A @ self.beta
        else:
            A, b = now.Hz, now.q + now.Hz @ self.beta
        target = self.beta.copy()
        self.epochs += max(
            solve_quadratic(A, b, target, alpha, self.penalty, FORCING * kkt * kkt, INNER_EPOCHS), 1
        )
        d_beta = target - self.beta
        d_b0 = (now.q0 - float(now.hz @ d_beta)) / now.hsum if self.fit_intercept else 0.0
        self.step, self.t, self.halvings = (d_beta, d_b0), 1.0, 0
        self.trial = (target, self.b0 + d_b0)

    def settle(self, alpha: float, reduced: Reduced) -> None:
        """Accept the evaluated trial if the objective did not rise; else halve the step."""
        assert self.trial is not None and self.now is not None
        start = self.objective(self.now, alpha, self.beta)
        beta, b0 = self.trial
        if self.objective(reduced, alpha, beta) <= start + 1e-12 * abs(start):
            self.beta, self.b0, self.now, self.trial = beta, b0, reduced, None
            return
        self.halvings += 1
        if self.halvings >= MAX_HALVINGS:
            self.trial, self.stalled = None, True  # no descent left: reported not converged
            return
        self.t *= 0.5
        d_beta, d_b0 = self.step
        self.trial = (self.beta + self.t * d_beta, self.b0 + self.t * d_b0)
