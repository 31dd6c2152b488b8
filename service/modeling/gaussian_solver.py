"""Gaussian elastic-net paths with scikit-learn's coordinate descent, and their duality gaps."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import enet_path

from service.modeling.solution import PathProgress, PathSolution, alpha_blocks
from service.modeling.specs import FloatArray, IntArray


@dataclass(frozen=True)
class WeightedLeastSquares:
    """The gaussian problem as plain least squares on sqrt(w)-scaled, weighted-centered data.

    ``1/(2n) sum w_i (y_i - b - x_i.beta)^2`` equals ``1/(2n) ||y_t - X_t beta||^2`` once the
    intercept is profiled out (b = ybar_w - xbar_w.beta) and rows are scaled by sqrt(w_i).
    The weights need not sum to n here: the logistic Newton steps use w_i * p_i (1 - p_i).
    """

    X: FloatArray  # (n, p), Fortran order for coordinate descent
    y: FloatArray  # (n,)
    x_offset: FloatArray  # (p,) weighted column means, 0 without intercept
    y_offset: float

    @classmethod
    def build(cls, X: FloatArray, y: FloatArray, w: FloatArray, fit_intercept: bool) -> WeightedLeastSquares:
        total = float(w.sum())
        x_offset = (w @ X) / total if fit_intercept else np.zeros(X.shape[1])
        y_offset = float(w @ y) / total if fit_intercept else 0.0
        root_w = np.sqrt(w)
        Xt = np.asfortranarray((X - x_offset) * root_w[:, np.newaxis])
        yt = np.ascontiguousarray((y - y_offset) * root_w, dtype=np.float64)
        return cls(X=Xt, y=yt, x_offset=x_offset, y_offset=y_offset)

    def gram(self) -> FloatArray | None:
        """X_t' X_t when rows outnumber columns (scikit-learn's own "auto" rule): each coordinate
        descent epoch then costs p^2 instead of n p."""
        rows, columns = self.X.shape
        return self.X.T @ self.X if rows > columns else None

    def intercept(self, coef: FloatArray) -> float:
        return self.y_offset - float(self.x_offset @ coef)

    def gap_tolerance(self, tol: float) -> float:
        """scikit-learn's criterion in our units: gap <= tol * (weighted variance of y)."""
        return tol * float(self.y @ self.y) / int(self.y.shape[0])


def enet_duality_gap(ls: WeightedLeastSquares, coef: FloatArray, alpha: float, l1_ratio: float) -> float:
    """Duality gap of the enet objective (our 1/(2n) scaling) at ``coef``.

    For l1_ratio > 0 the dual point is the rescaled residual of the equivalent lasso on augmented
    data (scikit-learn's "formulation A"); for ridge the residual itself ("formulation B").
    """
    n = int(ls.X.shape[0])
    l1_reg, l2_reg = alpha * l1_ratio * n, alpha * (1.0 - l1_ratio) * n
    residual = ls.y - ls.X @ coef
    r2, ry, w2 = float(residual @ residual), float(residual @ ls.y), float(coef @ coef)
    if l1_reg == 0.0:
        xtr = ls.X.T @ residual
        return (r2 + 0.5 * l2_reg * w2 - ry + float(xtr @ xtr) / (2.0 * l2_reg)) / n
    dual_norm = float(np.max(np.abs(ls.X.T @ residual - l2_reg * coef), initial=0.0))
    scale = l1_reg / dual_norm if dual_norm > l1_reg else 1.0
    primal = 0.5 * (r2 + l2_reg * w2) + l1_reg * float(np.abs(coef).sum())
    dual = -0.5 * scale**2 * (r2 + l2_reg * w2) + scale * ry
    return (primal - dual) / n


def solve_enet_path(
    ls: WeightedLeastSquares,
    l1_ratio: float,
    alphas: FloatArray,
    tol: float,
    max_iter: int,
    progress: PathProgress | None,
) -> PathSolution:
    """Coordinate descent along decreasing ``alphas`` with warm starts, in blocks for progress."""
    p = ls.X.shape[1]
    gram = ls.gram()
    coef = np.zeros(p, dtype=np.float64)
    coefs = np.empty((alphas.shape[0], p), dtype=np.float64)
    n_iter = np.empty(alphas.shape[0], dtype=np.int64)
    for block in alpha_blocks(alphas.shape[0], progress):
        coefs[block], n_iter[block] = coordinate_descent(
            ls, l1_ratio, alphas[block], coef, tol, max_iter, gram
        )
        coef = np.array(coefs[block.stop - 1])
    return _solution(ls, l1_ratio, alphas, coefs, n_iter, tol)


def coordinate_descent(
    ls: WeightedLeastSquares,
    l1_ratio: float,
    alphas: FloatArray,
    coef_init: FloatArray,
    tol: float,
    max_iter: int,
    gram: FloatArray | None = None,
) -> tuple[FloatArray, IntArray]:
    """scikit-learn's enet coordinate descent along ``alphas``: coefficients (m, p) and epochs (m,)."""
    # The arrays are ours and already in the layout coordinate descent wants, so scikit-learn's
    # argument validation (about 1 ms a call, most of a Newton step on small data) is skipped.
    with warnings.catch_warnings(), config_context(skip_parameter_validation=True):
        # Convergence is judged by the callers (duality gap, KKT residual) and reported as data.
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, coefs, _, n_iter = enet_path(
            ls.X,
            ls.y,
            l1_ratio=l1_ratio,
            alphas=alphas,
            precompute=np.ascontiguousarray(gram) if gram is not None else False,
            Xy=np.ascontiguousarray(ls.X.T @ ls.y) if gram is not None else None,
            copy_X=False,
            # scikit-learn updates coef_init in place when it is already contiguous: hand it a copy.
            coef_init=np.array(coef_init, dtype=np.float64, order="F"),
            return_n_iter=True,
            tol=tol,
            max_iter=max_iter,
            check_input=False,
        )
    return np.asarray(coefs.T, dtype=np.float64), np.asarray(n_iter, dtype=np.int64)


def _solution(
    ls: WeightedLeastSquares,
    l1_ratio: float,
    alphas: FloatArray,
    coefs: FloatArray,
    n_iter: IntArray,
    tol: float,
) -> PathSolution:
    gaps = np.array([enet_duality_gap(ls, c, float(a), l1_ratio) for c, a in zip(coefs, alphas, strict=True)])
    return PathSolution(
        coef=coefs[:, :, np.newaxis],
        intercept=np.array([[ls.intercept(c)] for c in coefs], dtype=np.float64),
        n_iter=np.asarray(n_iter, dtype=np.int64),
        dual_gap=gaps,
        converged=gaps <= ls.gap_tolerance(tol),
    )
