"""What a fit returns: the path, the CV curves, the selection, convergence and the chosen model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from service.modeling.specs import BoolArray, CVMetric, Family, FloatArray, IntArray, SelectionRule


@dataclass(frozen=True)
class NonzeroArray:
    """An array as its shape and nonzero entries: how a path's coefficients are pickled."""

    shape: tuple[int, ...]
    positions: IntArray  # flat (C-order) positions of the nonzeros
    values: FloatArray

    @classmethod
    def of(cls, array: FloatArray) -> NonzeroArray:
        positions = np.flatnonzero(array)
        index_type = np.int32 if array.size < 2**31 else np.int64
        return cls(array.shape, positions.astype(index_type), array.reshape(-1)[positions])

    def dense(self) -> FloatArray:
        array = np.zeros(self.shape)
        array.reshape(-1)[self.positions] = self.values
        return array


@dataclass(frozen=True)
class PathResult:
    """A regularization path on the full data, one row per alpha (decreasing).

    K' is 1 for gaussian and binomial (the binomial coefficients are those of class 1) and K for
    multinomial. ``coef`` is on the original scale, ``coef_std`` on the standardized one.
    ``n_selected`` counts design columns nonzero in any class; ``deviance_ratio`` is
    1 - deviance / null deviance (null: intercept only, or the zero model without intercept).
    ``dual_gap`` is the enet duality gap (gaussian) or the max KKT violation (logistic), see
    ``solver.solve_path``.
    """

    alphas: FloatArray  # (m,)
    l1_ratio: float
    coef: FloatArray  # (m, p, K')
    coef_std: FloatArray  # (m, p, K')
    intercept: FloatArray  # (m, K')
    n_selected: IntArray  # (m,)
    deviance_ratio: FloatArray  # (m,)
    n_iter: IntArray  # (m,)
    dual_gap: FloatArray  # (m,)
    converged: BoolArray  # (m,)

    # A wide path is mostly zeros: 100 alphas x 20,000 features is 16 MB per coefficient array dense,
    # a few hundred KB as nonzeros. Pickled (model files, CV fold results) as nonzeros, the model
    # file is written and signed 10x faster; in memory the arrays stay dense for the readers.
    _PACKED = ("coef", "coef_std")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for name in self._PACKED:
            state[name] = NonzeroArray.of(state[name])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Files written before the packing hold dense arrays: both load.
        for name, value in state.items():
            object.__setattr__(self, name, value.dense() if isinstance(value, NonzeroArray) else value)


@dataclass(frozen=True)
class CVCurve:
    """Cross-validated error along one path: per fold, mean over folds and its standard error.

    For ``auc`` higher is better and the rules are flipped accordingly.
    """

    metric: CVMetric
    l1_ratio: float
    alphas: FloatArray  # (m,)
    mean: FloatArray  # (m,)
    se: FloatArray  # (m,)
    folds: FloatArray  # (n_folds, m)
    alpha_min: float
    alpha_1se: float
    index_min: int
    index_1se: int
    # The relaxed lasso's blend this curve scores (None: the plain path).
    relax_gamma: float | None = None


@dataclass(frozen=True)
class CVResult:
    """All CV curves (one per l1_ratio), the fold of every row and the chosen l1_ratio.

    With ``relax``, ``relaxed`` holds one curve per gamma of the chosen l1_ratio's path (gamma 1
    is the lasso, equal to its curve in ``curves``); otherwise it is empty.
    """

    curves: tuple[CVCurve, ...]
    fold_ids: IntArray  # (n,)
    l1_ratio: float
    rule: SelectionRule
    relaxed: tuple[CVCurve, ...] = ()


@dataclass(frozen=True)
class Selection:
    rule: SelectionRule
    alpha_min: float
    alpha_1se: float
    l1_ratio: float
    # The relaxed lasso's gamma at alpha_min and alpha_1se (glmnet's gamma.min, gamma.1se).
    gamma_min: float | None = None
    gamma_1se: float | None = None


@dataclass(frozen=True)
class Convergence:
    """The solver's report at the chosen alpha (see ``solver.solve_path`` for what tol means)."""

    converged: bool
    n_iter: int
    dual_gap: float


@dataclass(frozen=True)
class AdaptiveResult:
    """The adaptive lasso's penalty factors per design column and the initial fit they came from.

    ``factors`` are those the path used: the user's factors times ``1 / |b_j|^gamma``, infinite for
    an ``excluded`` column (b_j = 0 in the initial fit: held at zero in the path).
    """

    gamma: float
    initial: str  # "ridge" | "lasso"
    initial_alpha: float
    factors: FloatArray  # (p,)
    excluded: BoolArray  # (p,)


@dataclass(frozen=True)
class FitOutcome:
    """A trained model with the path and CV it came from.

    ``intercept`` (K',) and ``coef`` (p, K') are on the original scale, ``coef_std`` on the
    standardized one; ``x_mean`` / ``x_scale`` are the standardization used (mean 0 without an
    intercept, scale 1 when ``standardize`` is off). For a single-alpha fit ``path`` holds just
    that alpha. ``cv_metrics`` is ``{metric: mean CV error at alpha, "se": its standard error}``.
    """

    family: Family
    n_classes: int
    alpha: float
    l1_ratio: float
    intercept: FloatArray
    coef: FloatArray
    coef_std: FloatArray
    path: PathResult
    cv: CVResult | None
    selection: Selection | None
    convergence: Convergence
    train_metrics: dict[str, float]
    cv_metrics: dict[str, float] | None
    x_mean: FloatArray
    x_scale: FloatArray
    # With relax: the gamma of the blend in ``coef`` (``path`` stays the lasso's, gamma 1).
    relax_gamma: float | None = None
    adaptive: AdaptiveResult | None = None


@dataclass(frozen=True)
class LinearPrediction:
    """``values``: gaussian predictions or predicted class codes; ``probabilities``: (n, K) or None."""

    values: FloatArray | IntArray
    probabilities: FloatArray | None
