"""Targets, columns, weights and penalty factors from 1e-320 to 1e308: fitted exactly as at unit
scale (rescaled), or refused at once with a problem naming the column; never a spinning solver."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from service.errors import InvalidDataError, NotConvergingError, ValidationError
from service.modeling import CVSpec, Family, FitSpec, PathSpec, fit_model
from service.modeling.engine.solver import solve_path
from service.modeling.problem import build_problem

RNG = np.random.default_rng(11)
X8 = RNG.normal(size=(8, 3))
Y8 = X8 @ np.array([1.0, -2.0, 0.5]) + 0.1 * RNG.normal(size=8)
CLASSES8 = np.array([0, 1, 0, 1, 1, 0, 1, 0])
NAMES = ("a", "b", "c")


def _spec(l1_ratio: float = 1.0, alpha: float | None = 0.05, **options: object) -> FitSpec:
    return FitSpec(
        family=Family(str(options.pop("family", Family.GAUSSIAN))),
        l1_ratio=l1_ratio,
        alpha=alpha,
        path=PathSpec(),
        cv=options.pop("cv", None),  # type: ignore[arg-type]
        tol=1e-12,
        column_names=NAMES,
        target_name="y",
        **options,  # type: ignore[arg-type]
    )


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-7) -> None:
    np.testing.assert_allclose(a, b, rtol=rtol, atol=0.0)


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e200, 3e-250])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5, 0.0])
def test_target_at_extreme_scale_fits_as_at_unit_scale(scale: float, l1_ratio: float) -> None:
    alpha = 0.05
    # An elastic net whose L1 and L2 parts both still count once the target is scaled (at 1e300
    # an L1 share of 0.5 would leave an L2 share of 1e-300, rounded away in l1_ratio).
    if 0.0 < l1_ratio < 1.0:
        l1_ratio /= max(scale, 1.0)
    unit = fit_model(X8, Y8, _spec(l1_ratio, alpha))
    # The same problem with y and beta times s: L1 strength times s, L2 strength unchanged.
    lam1, lam2 = scale * alpha * l1_ratio, alpha * (1.0 - l1_ratio)
    scaled_alpha = lam1 + lam2
    scaled = fit_model(X8, Y8 * scale, _spec(lam1 / scaled_alpha, scaled_alpha))
    assert scaled.convergence.converged
    _close(scaled.coef, unit.coef * scale)
    _close(scaled.intercept, unit.intercept * scale)
    _close(scaled.coef_std, unit.coef_std * scale)
    assert scaled.train_metrics["r2"] == pytest.approx(unit.train_metrics["r2"], rel=1e-9)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_target_at_extreme_scale_takes_the_same_cv_path(scale: float) -> None:
    cv = CVSpec(n_folds=4, seed=3)
    unit = fit_model(X8, Y8, _spec(alpha=None, cv=cv))
    scaled = fit_model(X8, Y8 * scale, _spec(alpha=None, cv=cv))
    _close(scaled.path.alphas, unit.path.alphas * scale, rtol=1e-9)
    _close(scaled.path.coef, unit.path.coef * scale, rtol=1e-6)
    np.testing.assert_array_equal(scaled.path.n_selected, unit.path.n_selected)
    assert scaled.alpha == pytest.approx(unit.alpha * scale, rel=1e-9)
    assert scaled.cv is not None and unit.cv is not None
    assert scaled.cv.curves[0].index_1se == unit.cv.curves[0].index_1se
    # The squared errors of a target near 1e300 overflow (the API reports them as null); near
    # 1e-300 they are the unit ones times s^2, rounded towards 0.
    if scale > 1:
        assert scaled.train_metrics["mse"] == np.inf
        assert scaled.train_metrics["mae"] == pytest.approx(unit.train_metrics["mae"] * scale, rel=1e-6)
    else:
        assert scaled.train_metrics["mse"] == pytest.approx(unit.train_metrics["mse"] * scale**2, abs=1e-300)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
@pytest.mark.parametrize("sparse", [False, True])
def test_columns_at_extreme_scale_fit_as_at_unit_scale(scale: float, sparse: bool) -> None:
    unit = fit_model(X8, Y8, _spec(0.5))
    X = X8 * np.array([scale, 1.0, 1.0 / scale])
    scaled = fit_model(sp.csc_matrix(X) if sparse else X, Y8, _spec(0.5))
    _close(scaled.coef[:, 0], unit.coef[:, 0] * np.array([1.0 / scale, 1.0, scale]))
    _close(scaled.coef_std, unit.coef_std)
    _close(scaled.intercept, unit.intercept)
    _close(scaled.x_scale, unit.x_scale * np.array([scale, 1.0, 1.0 / scale]))


def test_bounds_hold_on_a_scaled_column_and_target() -> None:
    unit = fit_model(X8, Y8, _spec(alpha=0.01, upper_bounds=(0.5, np.inf, np.inf)))
    assert unit.coef[0, 0] == pytest.approx(0.5)
    # Column a and y both times 1e-300: a's coefficient and its bound stay, b's and c's shrink.
    X = X8 * np.array([1e-300, 1.0, 1.0])
    scaled = fit_model(X, Y8 * 1e-300, _spec(alpha=0.01e-300, upper_bounds=(0.5, np.inf, np.inf)))
    _close(scaled.coef[:, 0], unit.coef[:, 0] * np.array([1.0, 1e-300, 1e-300]))


def test_logistic_columns_at_extreme_scale_fit_as_at_unit_scale() -> None:
    unit = fit_model(X8, CLASSES8, _spec(alpha=0.02, family=Family.BINOMIAL))
    X = X8 * np.array([1e300, 1.0, 1e-300])
    scaled = fit_model(X, CLASSES8, _spec(alpha=0.02, family=Family.BINOMIAL))
    _close(scaled.coef[:, 0], unit.coef[:, 0] * np.array([1e-300, 1.0, 1e300]), rtol=1e-6)
    _close(scaled.coef_std, unit.coef_std, rtol=1e-6)


def test_huge_weights_fit_as_unit_weights() -> None:
    unit = fit_model(X8, Y8, _spec())
    for weights in (np.full(8, 1e308), np.full(8, 1e-320)):
        weighted = fit_model(X8, Y8, _spec(), sample_weight=weights)
        _close(weighted.coef, unit.coef, rtol=1e-12)
        _close(weighted.intercept, unit.intercept, rtol=1e-12)


def test_a_subnormal_column_is_refused_by_name() -> None:
    X = X8.copy()
    X[:, 1] = np.where(np.arange(8) % 2 == 0, 1e-320, 0.0)
    with pytest.raises(InvalidDataError) as caught:
        fit_model(X, Y8, _spec(alpha=None, cv=CVSpec(n_folds=3)))
    assert caught.value.extensions["column"] == "b" and '"b"' in caught.value.detail


def test_a_subnormal_target_is_refused_by_name() -> None:
    with pytest.raises(InvalidDataError) as caught:
        fit_model(X8, np.where(Y8 > 0, 1e-320, 0.0), _spec())
    assert caught.value.extensions["column"] == "y"


def test_an_extreme_column_without_standardization_is_refused_by_name() -> None:
    X = X8 * np.array([1.0, 1.0, 1e-300])
    with pytest.raises(InvalidDataError) as caught:
        fit_model(X, Y8, _spec(standardize=False))
    assert caught.value.extensions["column"] == "c"


def test_a_coefficient_beyond_any_double_is_refused_by_name() -> None:
    # Column c near 1e-300 explains a target near 1e300: its coefficient would be near 1e600.
    X = X8 * np.array([1.0, 1.0, 1e-300])
    with pytest.raises(InvalidDataError) as caught:
        fit_model(X, Y8 * 1e300, _spec(alpha=1e290))
    assert caught.value.extensions["column"] == "c"


def test_penalty_factors_below_the_floor_are_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        fit_model(X8, Y8, _spec(alpha=None, penalty_factors=(1e-320, 1.0, 1.0)))
    assert caught.value.extensions["errors"][0]["loc"] == ["body", "penalty_factors"]
    # 0 (unpenalized) and the floor itself fit.
    for factor in (0.0, 1e-300):
        outcome = fit_model(X8, Y8, _spec(alpha=None, penalty_factors=(factor, 1.0, 1.0)))
        assert outcome.coef[0, 0] != 0.0 and np.all(np.isfinite(outcome.path.coef))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf * 0 on the way: what the guard catches
@pytest.mark.parametrize("family", [Family.GAUSSIAN, Family.BINOMIAL])
def test_a_non_finite_alpha_ends_the_solver_at_once(family: Family) -> None:
    y = Y8 if family == Family.GAUSSIAN else CLASSES8
    with pytest.raises(NotConvergingError):
        solve_path(X8, y, np.ones(8), family, 1.0, np.array([np.inf]), True, 1e-7, 10**9, n_classes=2)


@pytest.mark.parametrize("n_alphas", [1, 5])  # residual and covariance-mode coordinate descent
def test_a_stalled_gaussian_solver_stops_long_before_max_iter(n_alphas: int) -> None:
    # A gap of 1e-300 of the null loss is below rounding: the gap stops falling long before it.
    alphas = np.geomspace(0.5, 0.01, n_alphas)
    solution = solve_path(X8, Y8, np.ones(8), Family.GAUSSIAN, 1.0, alphas, True, 1e-300, 10**6)
    assert not solution.converged[-1]
    assert np.all(solution.n_iter < 10**5)


def test_ordinary_data_goes_to_the_engine_unscaled() -> None:
    # Within about 1e-60..1e60 nothing is rescaled: the engine gets the arrays as they are.
    problem = build_problem(X8 * 1e50, Y8 * 1e-50, _spec(alpha=None), None, None)
    assert problem.scaling is None
    assert build_problem(X8 * 1e70, Y8, _spec(alpha=None), None, None).scaling is not None
