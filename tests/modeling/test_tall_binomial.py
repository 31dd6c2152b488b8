"""Binomial tall fits by distributed proximal Newton equal fit_model on the concatenated rows."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from service.errors import InvalidDataError
from service.modeling import CVMetric, CVSpec, Family, FitSpec, PathSpec, fit_model
from service.modeling.tall import fit_tall
from tests.modeling.conftest import Data
from tests.modeling.tall_parts import Partitioned, assert_same_outcome

CUTS = (100, 101, 333)
# Both fits stop at a KKT violation of TOL (different iterates: the in-memory engine's working
# sets, here a Newton step on all columns); at 1e-12 they agree to ~1e-11, at 1e-10 only to ~1e-9.
TOL = 1e-12
RTOL = 1e-8
# Down to 1e-2 of alpha_max: below, breast cancer's columns are close to separating the classes and
# the in-memory solve takes 20 s at this tolerance.
PATH = PathSpec(n_alphas=20, alpha_min_ratio=1e-2)


def spec(**changes: object) -> FitSpec:
    base = FitSpec(
        family=Family.BINOMIAL, l1_ratio=1.0, alpha=None, path=PATH, cv=CVSpec(n_folds=4, seed=3), tol=TOL
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"l1_ratio": 0.5},
        {"cv": CVSpec(n_folds=4, seed=5, metric=CVMetric.MISCLASSIFICATION, rule="min")},  # type: ignore[arg-type]
        {"fit_intercept": False, "l1_ratio": 0.8},
    ],
)
def test_tall_binomial_path_and_cv_equal_fit_model(breast_cancer: Data, changes: dict[str, object]) -> None:
    fit = spec(**changes)
    table = Partitioned(breast_cancer.X, breast_cancer.y, CUTS)
    outcome = fit_tall(fit, table.row_counts, table.sequential)
    assert_same_outcome(fit_model(breast_cancer.X, breast_cancer.y, fit), outcome, RTOL)
    assert outcome.path.converged.all()
    # Every pass reads each partition once: moments, class codes (stratified folds), Newton steps,
    # fold scores and the chosen model's predictions.
    assert table.reads % len(table.row_counts) == 0


def test_tall_binomial_weights_equal_fit_model(breast_cancer: Data) -> None:
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 2.0, breast_cancer.y.shape[0])
    w[::11] = 0.0
    fit = spec(cv=None)
    table = Partitioned(breast_cancer.X, breast_cancer.y, CUTS, w)
    expected = fit_model(breast_cancer.X, breast_cancer.y, fit, sample_weight=w)
    assert_same_outcome(expected, fit_tall(fit, table.row_counts, table.sequential), RTOL)


@pytest.mark.parametrize("seed", [0, 1])
def test_tall_binomial_reduction_order_does_not_matter(breast_cancer: Data, seed: int) -> None:
    fit = spec(path=PathSpec(n_alphas=10, alpha_min_ratio=1e-2))
    table = Partitioned(breast_cancer.X, breast_cancer.y, (50, 51, 200, 400))
    in_order = fit_tall(fit, table.row_counts, table.sequential)
    shuffled = fit_tall(fit, table.row_counts, table.shuffled(seed))
    assert_same_outcome(in_order, shuffled, 1e-10)


def test_tall_binomial_refuses_a_target_that_is_not_0_1(breast_cancer: Data) -> None:
    y = breast_cancer.y.astype(np.float64)
    y[250] = 0.5
    table = Partitioned(breast_cancer.X, y, CUTS)
    with pytest.raises(InvalidDataError) as raised:
        fit_tall(spec(cv=None), table.row_counts, table.sequential)
    assert raised.value.extensions["row"] == 250


@pytest.mark.parametrize(
    "changes",
    [
        {"alpha": 0.01},  # one fit and its CV estimate
        {"cv": CVSpec(n_folds=3, l1_ratios=(0.3, 1.0)), "path": PathSpec(n_alphas=10, alpha_min_ratio=1e-2)},
    ],
)
def test_tall_binomial_single_alpha_and_l1_ratio_search_equal_fit_model(
    breast_cancer: Data, changes: dict[str, object]
) -> None:
    fit = spec(**changes)
    table = Partitioned(breast_cancer.X, breast_cancer.y, CUTS)
    expected = fit_model(breast_cancer.X, breast_cancer.y, fit)
    assert_same_outcome(expected, fit_tall(fit, table.row_counts, table.sequential), RTOL)
