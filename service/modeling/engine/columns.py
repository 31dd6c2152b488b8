"""The design as the engine sees it: ``(x_j - center_j) / scale_j`` on the fly, dense or sparse CSC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg.blas import dsyrk

from service.modeling.engine import kernels
from service.modeling.specs import FloatArray, IntArray

# Row blocks for the Gram matrix: large enough for BLAS to run at full speed, small enough that
# the weighted copy of one block stays a few MB whatever n is.
GRAM_BLOCK_ROWS = 4096


def is_sparse(X: Any) -> bool:
    return bool(sp.issparse(X))


@dataclass
class Columns:
    """X (n, p) with a per-column ``center`` and ``scale`` applied on the fly."""

    X: Any  # np.ndarray (Fortran order preferred) or scipy.sparse.csc_matrix
    center: FloatArray
    scale: FloatArray

    @classmethod
    def build(cls, X: Any, center: FloatArray, scale: FloatArray) -> Columns:
        if is_sparse(X):
            X = sp.csc_matrix(X)
            X.sort_indices()
        elif not X.flags.f_contiguous:
            # Coordinate descent walks columns; one Fortran copy beats strided access in every epoch.
            X = np.asfortranarray(X, dtype=np.float64)
        return cls(
            X=X, center=np.asarray(center, dtype=np.float64), scale=np.asarray(scale, dtype=np.float64)
        )

    @property
    def sparse(self) -> bool:
        return is_sparse(self.X)

    @property
    def shape(self) -> tuple[int, int]:
        n, p = self.X.shape
        return int(n), int(p)

    def raw_xt(self, u: FloatArray) -> FloatArray:
        """X^T u on the raw columns."""
        out: FloatArray = np.asarray(self.X.T @ u, dtype=np.float64).ravel()
        return out

    def xt(self, u: FloatArray) -> FloatArray:
        """Z^T u for the standardized-on-the-fly columns."""
        result: FloatArray = (self.raw_xt(u) - self.center * float(u.sum())) / self.scale
        return result

    def xt_subset(self, u: FloatArray, cols: IntArray) -> FloatArray:
        """Z[:, cols]^T u, without copying the columns."""
        X = self.X
        if self.sparse:
            raw = kernels.sparse_xt_subset(X.indptr, X.indices, X.data, u, cols)
        else:
            raw = kernels.dense_xt_subset(X, u, cols)
        result: FloatArray = (raw - self.center[cols] * float(u.sum())) / self.scale[cols]
        return result

    def matvec_subset(self, cols: IntArray, coef: FloatArray) -> FloatArray:
        """Z[:, cols] @ coef, without copying the columns."""
        out = np.empty(self.shape[0])
        X = self.X
        if self.sparse:
            kernels.sparse_matvec_subset(
                X.indptr, X.indices, X.data, self.center, self.scale, cols, coef, out
            )
        else:
            kernels.dense_matvec_subset(X, self.center, self.scale, cols, coef, out)
        return out

    def matvec(self, beta: FloatArray) -> FloatArray:
        """Z beta."""
        coef = beta / self.scale
        nz = np.flatnonzero(coef)
        if nz.size == 0:
            return np.zeros(self.shape[0])
        raw = np.asarray(self.X[:, nz] @ coef[nz], dtype=np.float64).ravel()
        result: FloatArray = raw - float(self.center[nz] @ coef[nz])
        return result

    def moments(self, h: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Per column sum_i h_i x_ij (raw) and sum_i h_i z_ij^2 (standardized)."""
        if not self.sparse:
            return self.moments_subset(h, np.arange(self.shape[1], dtype=np.int64))
        X = self.X
        hx, hxx = kernels.sparse_weighted_moments(X.indptr, X.indices, X.data, h, self.center)
        return np.asarray(hx, dtype=np.float64), np.maximum(hxx, 0.0) / self.scale**2

    def moments_subset(self, h: FloatArray, cols: IntArray) -> tuple[FloatArray, FloatArray]:
        """``moments`` for the columns in ``cols`` only (other entries are zero)."""
        if self.sparse:
            return self.moments(h)
        p = self.shape[1]
        hx, hxx = np.zeros(p), np.zeros(p)
        kernels.dense_moments_subset(self.X, h, self.center, cols, hx, hxx)
        return hx, np.maximum(hxx, 0.0) / self.scale**2

    def gram(self, h: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Uncentered weighted second moments X^T diag(h) X (p, p) and X^T h (p,), raw columns."""
        n, p = self.shape
        sx = np.asarray(self.X.T @ h, dtype=np.float64)
        if np.all(h == h[0]) and self.X.flags.f_contiguous:
            # Equal weights: one symmetric rank-k update (half a matrix product) on X itself, no copy.
            upper = dsyrk(h[0], self.X, trans=1)
            G = np.triu(upper) + np.triu(upper, 1).T
            return np.asfortranarray(G), sx
        G = np.zeros((p, p), order="F")
        for start in range(0, n, GRAM_BLOCK_ROWS):
            # A contiguous copy of one row block: strided operands would leave BLAS behind.
            block = np.ascontiguousarray(self.X[start : start + GRAM_BLOCK_ROWS])
            hb = h[start : start + GRAM_BLOCK_ROWS]
            G += block.T @ (block * hb[:, np.newaxis])
        return G, sx

    def solve(
        self,
        state: ResidualState,
        ws: IntArray,
        lam1: FloatArray,
        lam2: FloatArray,
        lower: FloatArray,
        upper: FloatArray,
        moments: tuple[FloatArray, FloatArray],
        thresh: float,
        max_epochs: int,
    ) -> tuple[int, float]:
        """Coordinate descent on the working set ``ws``; updates ``state`` in place; returns the
        epochs run and the largest change (h_jj * change^2) of the last full pass."""
        hx, hdiag = moments
        args = (state.beta, state.intercept, state.fit_intercept, ws, lam1, lam2, lower, upper, hdiag, hx)
        X = self.X
        if self.sparse:
            epochs, worst = kernels.solve_sparse(
                X.indptr, X.indices, X.data, self.center, self.scale, state.h, state.r, state.shift, *args,
                thresh, max_epochs,
            )  # fmt: skip
        else:
            epochs, worst = kernels.solve_dense(
                X, self.center, self.scale, state.h, state.r, *args, thresh, max_epochs
            )
        return int(epochs), float(worst)


@dataclass
class ResidualState:
    """What coordinate descent updates: coefficients, intercept, and the residual ``r + shift``.

    ``h`` are the row weights of the current quadratic model (the observation weights for gaussian,
    the Newton weights for logistic).
    """

    beta: FloatArray
    intercept: FloatArray  # (1,)
    fit_intercept: bool
    h: FloatArray
    r: FloatArray
    shift: FloatArray  # (1,): a constant added to every residual (sparse centering)

    def residual(self) -> FloatArray:
        out: FloatArray = self.r + self.shift[0]
        return out


@dataclass(frozen=True)
class RawMoments:
    """``S = X^T diag(w) X``, ``sx = X^T w`` and ``total = sum w`` on the raw columns.

    Computed once for the full data, a CV fold's moments are the full ones minus those of its
    held-out rows (n/K rows instead of n), scaled like the fold's weights.
    """

    S: FloatArray
    sx: FloatArray
    total: float

    @classmethod
    def of(cls, X: Any, w: FloatArray) -> RawMoments:
        S, sx = Columns.build(X, np.zeros(X.shape[1]), np.ones(X.shape[1])).gram(w)
        return cls(S, sx, float(w.sum()))

    def without(self, X: Any, rows: IntArray, w: FloatArray, factor: float) -> RawMoments:
        """The moments without ``rows`` (whose weights are ``w[rows]``), all multiplied by ``factor``."""
        held = np.ascontiguousarray(np.asarray(X[rows], dtype=np.float64))
        wr = w[rows]
        S = self.S - held.T @ (held * wr[:, np.newaxis])
        sx = self.sx - held.T @ wr
        return RawMoments(factor * S, factor * sx, factor * (self.total - float(wr.sum())))
