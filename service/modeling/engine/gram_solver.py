"""Coordinate descent in covariance mode for the gaussian elastic net (tall dense designs)."""

from __future__ import annotations

import numpy as np

from service.modeling.engine import kernels
from service.modeling.engine.columns import RawMoments
from service.modeling.engine.gaussian_data import (
    SETTLE,
    Certificate,
    GaussianData,
    GramTarget,
    duality_gap,
)
from service.modeling.engine.penalty import Penalty
from service.modeling.engine.screening import indices, violators
from service.modeling.engine.stall import StallGuard
from service.modeling.specs import BoolArray, FloatArray

# Between gap checks the kernel runs CHUNK_EPOCHS at first, doubling: an epoch costs |ws| * p
# flops, far less than the Python around a check.
CHUNK_EPOCHS = 5
# Each chunk runs as many epochs as all before it: a gap with no new low over this many chunks has
# stalled (rounding, or a tolerance below it), and doubling on would run to max_iter.
STALL_CHUNKS = 3


class GramSolver:
    """Coordinate descent in covariance mode: every update costs p, the residual is never formed."""

    def __init__(self, data: GramTarget, penalty: Penalty, gram: FloatArray, xty: FloatArray) -> None:
        self.data, self.penalty = data, penalty
        self.G = gram
        self.c = xty
        self.beta = np.zeros(gram.shape[0])
        self.q = xty.copy()
        self.hdiag = np.diag(gram).copy()

    @classmethod
    def build(cls, data: GaussianData, penalty: Penalty, moments: RawMoments | None = None) -> GramSolver:
        """Centered, scaled Gram matrix of the weighted design from its raw moments: computed here
        in row blocks, or given (a CV fold's: the full data's minus its held-out rows')."""
        cols = data.cols
        if moments is None:
            raw, sx = cols.gram(data.v)
        else:
            raw, sx = moments.S / moments.total, moments.sx / moments.total
        c, s = cols.center, cols.scale
        G = raw - np.outer(sx, c) - np.outer(c, sx) + np.outer(c, c)
        G /= np.outer(s, s)
        xty = cols.xt(data.v * data.y)
        return cls(data, penalty, np.asfortranarray(G), xty)

    def certificate(self, alpha: float, tol: float) -> Certificate:
        yy = self.data.yy
        bc, bq = float(self.beta @ self.c), float(self.beta @ self.q)
        rr = max(yy - bc - bq, 0.0)
        gap = duality_gap(self.penalty, alpha, self.beta, self.q, rr, self.hdiag)
        return Certificate.of(gap, self.data.goal(tol))

    def sweep(self, working: BoolArray, alpha: float, target: float, budget: int) -> int:
        """Covariance-mode descent on the working set until the (full, cheap here) gap <= target
        or a column outside the set violates its KKT condition.

        An epoch costs |ws| * p flops, far less than the Python around a gap check, so the epochs
        between checks double each time.
        """
        lam1, lam2 = self.penalty.strengths(alpha)
        pen = self.penalty
        ws = indices(working)
        epochs = 0
        chunk = CHUNK_EPOCHS
        settle = thresh = SETTLE * self.data.yy
        guard = StallGuard("duality gap", alpha, STALL_CHUNKS)
        while epochs < budget:
            chunk = min(chunk, budget - epochs)
            used, worst = kernels.solve_gram(
                self.G, self.q, self.beta, ws, lam1, lam2, pen.lower, pen.upper, thresh, chunk
            )
            epochs += int(used)
            # The full gap is cheap here, but it cannot close while a column outside the working
            # set violates its KKT condition: hand back to the caller to grow the set.
            cert = self.certificate(alpha, target)
            if (worst <= settle and cert.converged) or np.any(violators(pen, self.q, alpha, ~working)):
                break
            if guard.check(cert.gap):
                break
            thresh = 0.0  # settled but not certified: run whole chunks, the gap decides
            chunk *= 2
        return epochs

    def deviance_ratio(self) -> float:
        yy = self.data.yy
        if not np.any(self.beta):
            return 0.0
        rr = max(yy - float(self.beta @ self.c) - float(self.beta @ self.q), 0.0)
        return 1.0 - rr / yy if yy > 0 else 0.0
