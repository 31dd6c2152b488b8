"""Gaussian tall fits from reduced moments equal fit_model on the concatenated rows (diabetes)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from service.errors import InvalidDataError, ValidationError
from service.modeling import CVMetric, CVSpec, Family, FitSpec, PathSpec, fit_model, make_folds
from service.modeling.tall import fit_tall
from service.modeling.tall.fit import tall_folds
from tests.modeling.conftest import Data
from tests.modeling.tall_parts import Partitioned, assert_same_outcome

# Uneven partitions, one of a single row: every fold is spread over several of them.
CUTS = (37, 150, 151, 300)
# The tolerance both fits run at (duality gap <= TOL * weighted variance of y). Both solve the same
# covariance-mode iterations on Gram matrices equal up to rounding, so they agree to ~1e-13; at
# the default 1e-3 a fold's stopping decision may flip on rounding and move a CV point by ~1e-5.
TOL = 1e-8
RTOL = 1e-8


def spec(**changes: object) -> FitSpec:
    base = FitSpec(
        family=Family.GAUSSIAN,
        l1_ratio=1.0,
        alpha=None,
        path=PathSpec(),
        cv=CVSpec(n_folds=5, seed=3),
        tol=TOL,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize(
    ("fit_intercept", "standardize"), [(True, True), (False, True), (True, False), (False, False)]
)
def test_tall_gaussian_path_and_cv_equal_fit_model(
    diabetes: Data, l1_ratio: float, fit_intercept: bool, standardize: bool
) -> None:
    fit = spec(l1_ratio=l1_ratio, fit_intercept=fit_intercept, standardize=standardize)
    table = Partitioned(diabetes.X, diabetes.y, CUTS)
    outcome = fit_tall(fit, table.row_counts, table.sequential)
    assert_same_outcome(fit_model(diabetes.X, diabetes.y, fit), outcome, RTOL)
    # One pass for the moments and one for the chosen model's mean absolute error.
    assert table.reads == 2 * len(table.row_counts)


def test_tall_gaussian_weights_equal_fit_model(diabetes: Data) -> None:
    rng = np.random.default_rng(0)
    w = rng.uniform(0.2, 3.0, diabetes.y.shape[0])
    w[::17] = 0.0  # rows of weight zero count in no moment and no fold score
    fit = spec(l1_ratio=0.7)
    table = Partitioned(diabetes.X, diabetes.y, CUTS, w)
    expected = fit_model(diabetes.X, diabetes.y, fit, sample_weight=w)
    assert_same_outcome(expected, fit_tall(fit, table.row_counts, table.sequential), RTOL)


def test_tall_gaussian_options_equal_fit_model(diabetes: Data) -> None:
    """An l1_ratio search, penalty factors (one unpenalized column), bounds and given fold ids."""
    p = diabetes.X.shape[1]
    factors = tuple(0.0 if j == 2 else 1.0 + 0.1 * j for j in range(p))
    upper = tuple(0.0 if j == 4 else np.inf for j in range(p))
    fit = spec(
        cv=CVSpec(n_folds=4, seed=1, l1_ratios=(0.2, 1.0), rule="min"),  # type: ignore[arg-type]
        penalty_factors=factors,
        upper_bounds=upper,
    )
    folds = make_folds(diabetes.y.shape[0], 4, 11)
    table = Partitioned(diabetes.X, diabetes.y, CUTS)
    expected = fit_model(diabetes.X, diabetes.y, fit, fold_ids=folds)
    actual = fit_tall(fit, table.row_counts, table.sequential, fold_ids=folds)
    assert_same_outcome(expected, actual, RTOL)
    assert np.all(actual.path.coef[:, 4, 0] <= 0.0) and np.all(actual.path.coef[:, 2, 0] != 0.0)


def test_tall_gaussian_single_alpha_and_no_cv_equal_fit_model(diabetes: Data) -> None:
    # One alpha is solved by residuals in memory and on the Gram matrix here: equal at a tight tol.
    for fit in (spec(alpha=0.5, cv=None, tol=1e-14), spec(cv=None)):
        table = Partitioned(diabetes.X, diabetes.y, CUTS)
        assert_same_outcome(
            fit_model(diabetes.X, diabetes.y, fit), fit_tall(fit, table.row_counts, table.sequential), RTOL
        )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tall_gaussian_reduction_order_does_not_matter(diabetes: Data, seed: int) -> None:
    fit = spec(l1_ratio=0.5)
    # Eight partitions, one of them empty.
    table = Partitioned(diabetes.X, diabetes.y, (5, 60, 61, 62, 200, 200, 201, 390))
    in_order = fit_tall(fit, table.row_counts, table.sequential)
    shuffled = fit_tall(fit, table.row_counts, table.shuffled(seed))
    assert_same_outcome(in_order, shuffled, 1e-11)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"family": Family.MULTINOMIAL}, "family"),
        ({"relax": True}, "relax"),
        ({"cv": CVSpec(n_folds=5, metric=CVMetric.MAE)}, "cv.metric"),
    ],
)
def test_tall_fit_refuses_unsupported_options(diabetes: Data, changes: dict[str, object], field: str) -> None:
    table = Partitioned(diabetes.X, diabetes.y, CUTS)
    with pytest.raises(ValidationError) as raised:
        fit_tall(spec(**changes), table.row_counts, table.sequential)
    assert raised.value.extensions["errors"][0]["loc"] == ["body", *field.split(".")]
    assert table.reads == 0


def test_tall_gaussian_refuses_extreme_column_naming_it(diabetes: Data) -> None:
    X = diabetes.X.copy()
    X[:, 3] *= 1e70
    names = tuple(f"x{j}" for j in range(X.shape[1]))
    table = Partitioned(X, diabetes.y, CUTS)
    with pytest.raises(InvalidDataError) as raised:
        fit_tall(spec(column_names=names), table.row_counts, table.sequential)
    assert raised.value.extensions["column"] == "x3"


def test_tall_gaussian_constant_features_refused(diabetes: Data) -> None:
    X = np.ones_like(diabetes.X)
    table = Partitioned(X, diabetes.y, CUTS)
    with pytest.raises(InvalidDataError):
        fit_tall(spec(), table.row_counts, table.sequential)
    assert table.reads == len(table.row_counts)  # refused after the moment pass, before any solve


def test_tall_folds_are_make_folds_for_millions_of_rows() -> None:
    """Dealt in steps to spare a small worker's memory, the folds are make_folds' exactly."""
    n = 2_500_003  # more than two dealing steps
    counts = [1_000_000, 3, 1_500_000]
    fit = spec(cv=CVSpec(n_folds=7, seed=5))
    folds = tall_folds(fit, counts, Partitioned(np.zeros((n, 1)), np.zeros(n), (1,)).sequential, None)
    assert folds is not None and np.array_equal(folds, make_folds(n, 7, 5))


@pytest.mark.parametrize(
    "changes",
    [
        {"l1_ratio": 0.0, "path": PathSpec(n_alphas=20)},  # ridge: in closed form, as in memory
        {"max_features": 4},  # the path ends at a bisected alpha with exactly 4 features
        {"l1_ratio": 0.0, "alpha": 3.0},  # a single ridge fit with its CV estimate
    ],
)
def test_tall_gaussian_ridge_and_feature_budget_equal_fit_model(
    diabetes: Data, changes: dict[str, object]
) -> None:
    fit = spec(**changes)
    table = Partitioned(diabetes.X, diabetes.y, CUTS)
    assert_same_outcome(
        fit_model(diabetes.X, diabetes.y, fit), fit_tall(fit, table.row_counts, table.sequential), RTOL
    )
