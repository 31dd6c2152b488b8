"""The adaptive lasso: factors from the initial fit, and the plain lasso with those factors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sklearn.linear_model import Lasso

from bench.support_sim import simulate
from service.errors import ValidationError
from service.modeling import CVSpec, Family, FitSpec, PathSpec, SelectionRule, fit_model
from service.modeling.specs import AdaptiveInitial, AdaptiveSpec
from service.modeling.stats.adaptive import adaptive_factors
from tests.modeling.conftest import Data

CV = CVSpec(n_folds=4, seed=2, rule=SelectionRule.MIN)


def _spec(gamma: float = 1.0, initial: AdaptiveInitial = AdaptiveInitial.RIDGE, **changes: object) -> FitSpec:
    spec = FitSpec(
        Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=30), CV, adaptive=AdaptiveSpec(gamma, initial)
    )
    return replace(spec, **changes)  # type: ignore[arg-type]


def test_adaptive_factors_are_inverse_standardized_initial_coefficients(diabetes: Data) -> None:
    outcome = fit_model(diabetes.X, diabetes.y, _spec(gamma=0.5))
    assert outcome.adaptive is not None
    initial = fit_model(
        diabetes.X,
        diabetes.y,
        FitSpec(Family.GAUSSIAN, 0.0, None, PathSpec(), replace(CV, rule=SelectionRule.MIN)),
    )
    assert outcome.adaptive.initial_alpha == initial.alpha == initial.selection.alpha_min  # type: ignore[union-attr]
    np.testing.assert_allclose(outcome.adaptive.factors, np.abs(initial.coef_std[:, 0]) ** -0.5, rtol=1e-12)
    assert not outcome.adaptive.excluded.any()


def test_adaptive_equals_the_plain_lasso_with_the_reported_factors() -> None:
    X, y, _ = simulate(seed=5)  # 50 columns, 5 of them true
    outcome = fit_model(X, y, _spec(initial=AdaptiveInitial.LASSO, tol=1e-10))
    result = outcome.adaptive
    assert result is not None and result.excluded.any()  # the lasso initial fit drops some columns
    assert np.all(np.isinf(result.factors[result.excluded]))
    kept = ~result.excluded
    plain_spec = FitSpec(
        Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=30), CV, tol=1e-10,
        penalty_factors=tuple(np.where(kept, result.factors, 1.0)),
        upper_bounds=tuple(np.where(kept, np.inf, 0.0)), lower_bounds=tuple(np.where(kept, -np.inf, 0.0)),
    )  # fmt: skip
    plain = fit_model(X, y, plain_spec)
    assert plain.alpha == outcome.alpha
    np.testing.assert_array_equal(plain.coef, outcome.coef)
    np.testing.assert_array_equal(plain.path.coef, outcome.path.coef)
    assert np.all(outcome.path.coef[:, result.excluded] == 0.0)


def test_adaptive_is_the_sklearn_lasso_on_columns_divided_by_their_factors(diabetes: Data) -> None:
    """``alpha sum_j w_j |b_j|`` on Z is the plain lasso on ``Z_j / w_j`` with ``c_j = w_j b_j``."""
    alpha = 2.0
    outcome = fit_model(diabetes.X, diabetes.y, _spec(alpha=alpha, cv=None, tol=1e-12))
    assert outcome.adaptive is not None
    w = outcome.adaptive.factors
    reference = Lasso(alpha=alpha, tol=1e-14, max_iter=1_000_000).fit(diabetes.X_std / w, diabetes.y)
    np.testing.assert_allclose(outcome.coef_std[:, 0], reference.coef_ / w, rtol=1e-6, atol=1e-8)
    assert 0 < np.count_nonzero(reference.coef_) < diabetes.X.shape[1]


def test_adaptive_multiplies_user_factors_and_keeps_unpenalized_columns(diabetes: Data) -> None:
    user = np.ones(diabetes.X.shape[1])
    user[0], user[3] = 0.0, 4.0
    outcome = fit_model(diabetes.X, diabetes.y, _spec(penalty_factors=tuple(user)))
    plain = fit_model(diabetes.X, diabetes.y, _spec(adaptive=AdaptiveSpec()))
    assert outcome.adaptive is not None and plain.adaptive is not None
    assert outcome.adaptive.factors[0] == 0.0 and outcome.coef[0, 0] != 0.0
    # the initial fit itself used the user's factors, so compare with that fit's coefficients
    initial = fit_model(
        diabetes.X,
        diabetes.y,
        FitSpec(Family.GAUSSIAN, 0.0, None, PathSpec(), CV, penalty_factors=tuple(user)),
    )
    expected = np.where(user > 0, user / np.abs(initial.coef_std[:, 0]), 0.0)
    np.testing.assert_allclose(outcome.adaptive.factors, expected, rtol=1e-12)


def test_adaptive_multinomial_uses_the_largest_coefficient_over_classes(diabetes: Data) -> None:
    # The rule alone, on an outcome given per-class coefficients (a multinomial ridge CV over 100
    # alphas takes ~10 s here); the initial fit's coef_std is all the rule reads.
    base = fit_model(diabetes.X[:, :4], diabetes.y, FitSpec(Family.GAUSSIAN, 1.0, 1.0, PathSpec(), None))
    coef_std = np.array([[0.5, -2.0, 0.1], [0.0, 0.0, 0.0], [0.25, 0.3, -0.1], [-4.0, 1.0, 0.0]])
    initial = replace(base, family=Family.MULTINOMIAL, n_classes=3, coef_std=coef_std)
    spec = FitSpec(Family.MULTINOMIAL, 1.0, None, PathSpec(), CV, penalty_factors=(1.0, 1.0, 2.0, 0.0))
    result = adaptive_factors(spec, AdaptiveSpec(gamma=2.0), initial)
    np.testing.assert_allclose(result.factors[[0, 2]], [1.0 / 2.0**2, 2.0 / 0.3**2], rtol=1e-15)
    assert result.factors[1] == np.inf and result.excluded.tolist() == [False, True, False, False]
    assert result.factors[3] == 0.0  # unpenalized stays unpenalized


@pytest.mark.parametrize("gamma", [0.0, -1.0, float("inf"), float("nan")])
def test_adaptive_refuses_a_gamma_that_is_not_positive_and_finite(diabetes: Data, gamma: float) -> None:
    with pytest.raises(ValidationError) as caught:
        fit_model(diabetes.X, diabetes.y, _spec(gamma=gamma))
    assert caught.value.extensions["errors"][0]["loc"] == ["body", "adaptive", "gamma"]


def test_adaptive_reports_progress_over_both_fits(diabetes: Data) -> None:
    seen: list[float] = []
    fit_model(diabetes.X, diabetes.y, _spec(), checkpoint=lambda fraction, stage: seen.append(fraction))
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0) and any(0.45 < f < 0.55 for f in seen)


def test_adaptive_refuses_groups(diabetes: Data) -> None:
    groups = tuple(j // 2 for j in range(diabetes.X.shape[1]))
    with pytest.raises(ValidationError) as caught:
        fit_model(diabetes.X, diabetes.y, _spec(groups=groups))
    assert caught.value.extensions["errors"][0]["loc"] == ["body", "adaptive"]
