"""The vocabulary of a fit: families, CV metrics, selection rules, the specs and the array types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

Checkpoint = Callable[[float, str], None]
"""Progress callback ``(fraction done in [0, 1], stage)`` with stage ``"path"``, ``"cv"`` or ``"refit"``.

It may raise (a canceled job); modeling lets that exception propagate untouched.
"""


class Family(StrEnum):
    GAUSSIAN = "gaussian"
    BINOMIAL = "binomial"
    MULTINOMIAL = "multinomial"


class CVMetric(StrEnum):
    MSE = "mse"
    MAE = "mae"
    DEVIANCE = "deviance"
    MISCLASSIFICATION = "misclassification"
    AUC = "auc"


class SelectionRule(StrEnum):
    MIN = "min"
    ONE_SE = "1se"


GAUSSIAN_METRICS = frozenset({CVMetric.MSE, CVMetric.MAE, CVMetric.DEVIANCE})
CLASSIFICATION_METRICS = frozenset({CVMetric.DEVIANCE, CVMetric.MISCLASSIFICATION, CVMetric.AUC})


@dataclass(frozen=True)
class PathSpec:
    """The alphas of a regularization path.

    ``alphas`` (any order; used sorted decreasing, duplicates dropped) overrides the grid of
    ``n_alphas`` values log-spaced from alpha_max down to ``alpha_max * alpha_min_ratio``; a
    ``None`` ratio is glmnet's default, 1e-4 when n > p and 1e-2 otherwise.
    """

    n_alphas: int = 100
    alpha_min_ratio: float | None = None
    alphas: tuple[float, ...] | None = None


@dataclass(frozen=True)
class CVSpec:
    """Cross-validation as glmnet's ``cv.glmnet`` does it.

    ``stratify`` None means True for binomial/multinomial and False for gaussian; ``metric`` None
    means mse for gaussian and deviance otherwise; ``l1_ratios`` adds a search over l1_ratio.
    """

    n_folds: int = 10
    seed: int = 0
    stratify: bool | None = None
    metric: CVMetric | None = None
    rule: SelectionRule = SelectionRule.ONE_SE
    l1_ratios: tuple[float, ...] | None = None


class AdaptiveInitial(StrEnum):
    RIDGE = "ridge"
    LASSO = "lasso"


@dataclass(frozen=True)
class AdaptiveSpec:
    """The adaptive lasso (Zou 2006): penalty factors ``1 / |b_j|^gamma`` from an ``initial`` fit
    (ridge or lasso, alpha by CV's min rule); see ``service.modeling.stats.adaptive``."""

    gamma: float = 1.0
    initial: AdaptiveInitial = AdaptiveInitial.RIDGE


# The solver's default tolerance per family, chosen so that a default solution is at least as
# close to the optimum as glmnet's default one while costing less (bench/README.md shows both).
# gaussian: the duality gap is at most tol * (1/n) sum y_c^2, scikit-learn's criterion (its
# default, 1e-4, costs 3-5x more on wide paths for a gap glmnet users never see), plus glmnet's own
# stopping rule at its default; logistic: the largest KKT violation is at most tol.
GAUSSIAN_DEFAULT_TOL = 1e-3
LOGISTIC_DEFAULT_TOL = 1e-5


def default_tol(family: Family) -> float:
    return GAUSSIAN_DEFAULT_TOL if family == Family.GAUSSIAN else LOGISTIC_DEFAULT_TOL


@dataclass(frozen=True)
class FitSpec:
    """What to fit.

    ``alpha`` given: one fit at that alpha (and a CV estimate of its error when ``cv`` is set).
    ``alpha`` None with ``cv``: the path, CV picks alpha by ``cv.rule``. ``alpha`` None without
    ``cv``: the path only, and the model is its smallest alpha. ``l1_ratio`` is ignored when
    ``cv.l1_ratios`` is set. ``tol`` and ``max_iter`` go to the solver (see ``solver.solve_path``);
    ``tol`` None is the family's default (``default_tol``).
    Penalty factors scale each column's penalty (0 = unpenalized); bounds box each coefficient on
    the original scale.
    """

    family: Family
    l1_ratio: float
    alpha: float | None
    path: PathSpec
    cv: CVSpec | None
    standardize: bool = True
    fit_intercept: bool = True
    tol: float | None = None
    max_iter: int = 100_000
    # Per design column, on the original scale; None means 1 / unbounded everywhere.
    penalty_factors: tuple[float, ...] | None = None
    lower_bounds: tuple[float, ...] | None = None  # each <= 0, -inf for none
    upper_bounds: tuple[float, ...] | None = None  # each >= 0, +inf for none
    # glmnet's dfmax: the path stops once more than this many features are selected; a feature
    # is selected when any of its design columns is nonzero (``column_features`` maps column ->
    # feature index; None means each column is its own feature).
    max_features: int | None = None
    column_features: tuple[int, ...] | None = None
    # Names of the design columns and of the target, for the messages of data the fit refuses
    # (None: columns are named by their index, the target "the target").
    column_names: tuple[str, ...] | None = None
    target_name: str | None = None
    # The group lasso: one group id 0..G-1 per design column; a group's columns enter and leave
    # together (engine.group_solver). Gaussian or binomial, l1_ratio > 0, no bounds, penalty
    # factors equal within a group. None: every column is penalized on its own.
    groups: tuple[int, ...] | None = None
    # glmnet's relax=TRUE: the model blends the lasso with its unpenalized refit on the active set
    # (service.modeling.stats.relaxed); CV chooses alpha and the blend's gamma together.
    relax: bool = False
    # The adaptive lasso: factors from an initial fit multiply penalty_factors (stats.adaptive).
    adaptive: AdaptiveSpec | None = None

    def solver_tol(self) -> float:
        return default_tol(self.family) if self.tol is None else self.tol

    def cv_metric(self) -> CVMetric:
        if self.cv is not None and self.cv.metric is not None:
            return self.cv.metric
        return CVMetric.MSE if self.family == Family.GAUSSIAN else CVMetric.DEVIANCE

    def l1_ratios(self) -> tuple[float, ...]:
        """The l1_ratios to fit: the CV search list when there is one, else just ``l1_ratio``."""
        if self.cv is not None and self.cv.l1_ratios is not None:
            return self.cv.l1_ratios
        return (self.l1_ratio,)
