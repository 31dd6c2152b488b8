"""Per-fold weighted moments of a block of rows, their reduction, and the quadratic forms they give."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from service.errors import InvalidDataError
from service.modeling.engine import GramMoments
from service.modeling.specs import FloatArray, IntArray
from service.modeling.tall.blocks import Block, Part


@dataclass(frozen=True, eq=False)
class FoldMoments:
    """Sums over the rows of each fold f (F = 1 without CV), weights ``w``.

    ``S[f] = sum w x x^T``, ``sx[f] = sum w x``, ``sxy[f] = sum w y x``, ``sy[f] = sum w y``,
    ``syy[f] = sum w y^2``, ``total[f] = sum w``, ``count[f]`` rows; ``x_min`` / ``x_max`` / ``y_min`` /
    ``y_max`` over the fold's positive-weight rows (which columns are constant, as the in-memory
    standardization decides it: exactly); ``x_abs`` / ``y_abs`` the largest magnitudes over all
    rows (the in-memory range checks). ``+`` adds two disjoint sets of rows: associative and
    commutative, so any reduction order gives the same sums up to rounding.
    """

    S: FloatArray  # (F, p, p)
    sx: FloatArray  # (F, p)
    sxy: FloatArray  # (F, p)
    sy: FloatArray  # (F,)
    syy: FloatArray  # (F,)
    total: FloatArray  # (F,)
    count: IntArray  # (F,)
    x_min: FloatArray  # (F, p)
    x_max: FloatArray  # (F, p)
    y_min: FloatArray  # (F,)
    y_max: FloatArray  # (F,)
    x_abs: FloatArray  # (p,)
    y_abs: float

    def __add__(self, other: FoldMoments) -> FoldMoments:
        return FoldMoments(
            S=self.S + other.S,
            sx=self.sx + other.sx,
            sxy=self.sxy + other.sxy,
            sy=self.sy + other.sy,
            syy=self.syy + other.syy,
            total=self.total + other.total,
            count=self.count + other.count,
            x_min=np.minimum(self.x_min, other.x_min),
            x_max=np.maximum(self.x_max, other.x_max),
            y_min=np.minimum(self.y_min, other.y_min),
            y_max=np.maximum(self.y_max, other.y_max),
            x_abs=np.maximum(self.x_abs, other.x_abs),
            y_abs=max(self.y_abs, other.y_abs),
        )

    @property
    def n_folds(self) -> int:
        return int(self.total.shape[0])

    def gram(self, keep: IntArray) -> GramMoments:
        """The moments of the folds in ``keep`` together (all of them: the full data)."""
        return GramMoments(
            S=self.S[keep].sum(axis=0),
            sx=self.sx[keep].sum(axis=0),
            sxy=self.sxy[keep].sum(axis=0),
            sy=float(self.sy[keep].sum()),
            syy=float(self.syy[keep].sum()),
            total=float(self.total[keep].sum()),
        )

    def ranges(self, keep: IntArray) -> tuple[FloatArray, FloatArray, float, float]:
        """Column minima and maxima and the target's over the positive-weight rows of ``keep``."""
        return (
            self.x_min[keep].min(axis=0),
            self.x_max[keep].max(axis=0),
            float(self.y_min[keep].min()),
            float(self.y_max[keep].max()),
        )


def block_moments(block: Block, folds: IntArray | None, n_folds: int) -> FoldMoments:
    """The FoldMoments of one block; ``folds`` gives each row's fold (None: all in fold 0)."""
    X, y, w = block.X, block.y, block.weights()
    p = X.shape[1]
    out = _empty(n_folds, p)
    # Column maxima and minima rather than np.abs(X): no temporary the size of the block.
    out.x_abs[:] = np.maximum(X.max(axis=0), -X.min(axis=0)) if X.shape[0] else 0.0
    y_abs = float(np.max(np.abs(y))) if y.shape[0] else 0.0
    for f in range(n_folds):
        rows = np.flatnonzero(folds == f) if folds is not None else None
        Xf = X if rows is None else np.ascontiguousarray(X[rows])
        yf, wf = (y, w) if rows is None else (y[rows], w[rows])
        if yf.shape[0] == 0:
            continue
        S = Xf.T @ Xf if block.w is None else Xf.T @ (Xf * wf[:, np.newaxis])
        # Symmetric exactly, as the in-memory Gram matrix (a rank-k update) is.
        out.S[f] = 0.5 * (S + S.T)
        out.sx[f] = Xf.T @ wf
        wy = wf * yf
        out.sxy[f] = Xf.T @ wy
        out.sy[f], out.syy[f], out.total[f] = wy.sum(), wy @ yf, wf.sum()
        out.count[f] = yf.shape[0]
        positive = wf > 0
        if np.all(positive):
            out.x_min[f], out.x_max[f] = Xf.min(axis=0), Xf.max(axis=0)
            out.y_min[f], out.y_max[f] = yf.min(), yf.max()
        elif np.any(positive):
            out.x_min[f] = Xf[positive].min(axis=0)
            out.x_max[f] = Xf[positive].max(axis=0)
            out.y_min[f], out.y_max[f] = yf[positive].min(), yf[positive].max()
    return replace(out, y_abs=y_abs)


def _empty(n_folds: int, p: int) -> FoldMoments:
    return FoldMoments(
        S=np.zeros((n_folds, p, p)),
        sx=np.zeros((n_folds, p)),
        sxy=np.zeros((n_folds, p)),
        sy=np.zeros(n_folds),
        syy=np.zeros(n_folds),
        total=np.zeros(n_folds),
        count=np.zeros(n_folds, dtype=np.int64),
        x_min=np.full((n_folds, p), np.inf),
        x_max=np.full((n_folds, p), -np.inf),
        y_min=np.full(n_folds, np.inf),
        y_max=np.full(n_folds, -np.inf),
        x_abs=np.zeros(p),
        y_abs=0.0,
    )


@dataclass(frozen=True)
class MomentStep:
    """The map step of the moment pass: a part's rows to its FoldMoments (picklable for Dask)."""

    n_folds: int
    # A binomial target: class codes 0 and 1 only (InvalidDataError naming the first other row).
    binary: bool = False

    def __call__(self, part: Part, block: Block) -> FoldMoments:
        if self.binary and not np.all((block.y == 0.0) | (block.y == 1.0)):
            row = part.start + int(np.flatnonzero((block.y != 0.0) & (block.y != 1.0))[0])
            raise InvalidDataError(
                f"a binomial target on a partitioned dataset must be 0 or 1; row {row} is not", row=row
            )
        return block_moments(block, part.folds, self.n_folds)


def residual_squares(m: GramMoments, intercept: float, coef: FloatArray) -> float:
    """``sum w (y - b0 - x.b)^2`` from the moments, a quadratic form in (b0, b)."""
    b0, b = intercept, coef
    value = (
        m.syy
        - 2.0 * (b0 * m.sy + float(b @ m.sxy))
        + b0 * b0 * m.total
        + 2.0 * b0 * float(b @ m.sx)
        + float(b @ m.S @ b)
    )
    # Rounding may take an exact fit a hair below zero.
    return max(value, 0.0)
