"""Gaussian fits against independent solvers: scikit-learn at tight tolerance, LARS, closed forms."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from sklearn.linear_model import ElasticNet, Lasso, lars_path

from service.modeling import Family, FitSpec, PathSpec, fit_model

if TYPE_CHECKING:
    from tests.modeling.conftest import Data

TIGHT = 1e-12


def _spec(l1_ratio: float, alpha: float | None, **options: object) -> FitSpec:
    path = options.pop("path", PathSpec())
    assert isinstance(path, PathSpec)
    tol = options.pop("tol", TIGHT)
    return FitSpec(Family.GAUSSIAN, l1_ratio, alpha, path, None, tol=tol, **options)  # type: ignore[arg-type]


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize(("l1_ratio", "alpha"), [(1.0, 0.5), (1.0, 0.05), (0.5, 0.5), (0.5, 0.02)])
def test_fit_model_matches_sklearn_enet_on_standardized_diabetes(
    diabetes: Data, l1_ratio: float, alpha: float
) -> None:
    reference = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=TIGHT, max_iter=1_000_000)
    reference.fit(diabetes.X_std, diabetes.y)
    outcome = fit_model(diabetes.X, diabetes.y, _spec(l1_ratio, alpha))
    assert _relative(outcome.coef_std[:, 0], reference.coef_) < 1e-6
    assert outcome.intercept[0] + outcome.x_mean @ outcome.coef[:, 0] == pytest.approx(
        reference.intercept_, rel=1e-9
    )
    assert np.allclose(outcome.coef[:, 0], outcome.coef_std[:, 0] / diabetes.X.std(axis=0), rtol=1e-12)
    assert outcome.convergence.converged


def test_fit_model_lasso_equals_sklearn_lasso(diabetes: Data) -> None:
    reference = Lasso(alpha=1.0, tol=TIGHT, max_iter=1_000_000).fit(diabetes.X_std, diabetes.y)
    outcome = fit_model(diabetes.X, diabetes.y, _spec(1.0, 1.0))
    assert _relative(outcome.coef_std[:, 0], reference.coef_) < 1e-6
    assert np.array_equal(outcome.coef[:, 0] == 0, reference.coef_ == 0)


@pytest.mark.parametrize("alpha", [10.0, 0.3, 1e-3])
def test_ridge_matches_normal_equations(diabetes: Data, alpha: float) -> None:
    Xs, n = diabetes.X_std, diabetes.X.shape[0]
    yc = diabetes.y - diabetes.y.mean()
    expected = np.linalg.solve(Xs.T @ Xs / n + alpha * np.eye(Xs.shape[1]), Xs.T @ yc / n)
    outcome = fit_model(diabetes.X, diabetes.y, _spec(0.0, alpha))
    assert _relative(outcome.coef_std[:, 0], expected) < 1e-9
    assert outcome.convergence.converged and outcome.convergence.n_iter == 0
    assert abs(outcome.convergence.dual_gap) < 1e-8 * np.var(diabetes.y)


def test_lasso_path_matches_lars_at_its_breakpoints(diabetes: Data) -> None:
    Xs, yc = diabetes.X_std, diabetes.y - diabetes.y.mean()
    lars_alphas, _, lars_coefs = lars_path(Xs, yc, method="lasso")
    breakpoints = lars_alphas[:-1]  # the last breakpoint is alpha = 0, the unpenalized fit
    outcome = fit_model(diabetes.X, diabetes.y, _spec(1.0, None, path=PathSpec(alphas=tuple(breakpoints))))
    path = outcome.path
    assert np.allclose(path.alphas, breakpoints, rtol=1e-15)
    # The first breakpoint is alpha_max as LARS rounds it: zero up to that rounding.
    assert np.max(np.abs(path.coef_std[0])) < 1e-12
    for i in range(1, breakpoints.shape[0]):
        scale = np.max(np.abs(lars_coefs[:, i]))
        assert np.max(np.abs(path.coef_std[i, :, 0] - lars_coefs[:, i])) < 1e-6 * scale
    assert path.converged.all()


def test_path_grid_starts_at_alpha_max_with_glmnet_ratio(diabetes: Data) -> None:
    Xs, n = diabetes.X_std, diabetes.X.shape[0]
    alpha_max = np.max(np.abs(Xs.T @ (diabetes.y - diabetes.y.mean()))) / n
    outcome = fit_model(
        diabetes.X, diabetes.y, FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=7), None)
    )
    path = outcome.path
    assert np.allclose(path.alphas, np.geomspace(alpha_max, alpha_max * 1e-4, 7), rtol=1e-12)
    assert path.n_selected[0] == 0 and path.n_selected[1] > 0
    assert outcome.alpha == path.alphas[-1]  # path only: the model is the smallest alpha
    assert (
        0.0 == path.deviance_ratio[0] < path.deviance_ratio[-1] == pytest.approx(outcome.train_metrics["r2"])
    )
    assert np.all(np.diff(path.deviance_ratio) >= -1e-12)


def test_ridge_alpha_max_uses_glmnet_l1_floor(diabetes: Data) -> None:
    Xs, n = diabetes.X_std, diabetes.X.shape[0]
    lasso_max = np.max(np.abs(Xs.T @ (diabetes.y - diabetes.y.mean()))) / n
    outcome = fit_model(
        diabetes.X, diabetes.y, FitSpec(Family.GAUSSIAN, 0.0, None, PathSpec(n_alphas=3), None)
    )
    assert outcome.path.alphas[0] == pytest.approx(lasso_max / 1e-3, rel=1e-12)


def test_fit_model_without_intercept_or_standardization_matches_sklearn(diabetes: Data) -> None:
    X = diabetes.X * 10.0 + 1.0  # not centered, so the intercept matters
    no_intercept = fit_model(X, diabetes.y, _spec(1.0, 0.2, standardize=False, fit_intercept=False))
    reference = Lasso(alpha=0.2, fit_intercept=False, tol=TIGHT, max_iter=1_000_000).fit(X, diabetes.y)
    assert _relative(no_intercept.coef[:, 0], reference.coef_) < 1e-6
    assert no_intercept.intercept[0] == 0.0
    assert np.all(no_intercept.x_scale == 1.0) and np.all(no_intercept.x_mean == 0.0)
    # Uncentered columns make the intercept ill-conditioned: 1e-8 on it needs the objective to
    # rounding (at 1e-14 both solvers agree on the objective to 5e-13 and differ by 4e-8 here).
    raw = fit_model(X, diabetes.y, _spec(0.5, 0.2, standardize=False, tol=1e-16))
    reference = ElasticNet(alpha=0.2, l1_ratio=0.5, tol=TIGHT, max_iter=1_000_000).fit(X, diabetes.y)
    assert _relative(raw.coef[:, 0], reference.coef_) < 1e-6
    assert raw.intercept[0] == pytest.approx(reference.intercept_, rel=1e-8)
    assert np.array_equal(raw.coef, raw.coef_std)


def test_standardize_without_intercept_scales_by_root_mean_square(diabetes: Data) -> None:
    X = diabetes.X + 2.0
    rms = np.sqrt(np.mean(X**2, axis=0))
    outcome = fit_model(X, diabetes.y, _spec(1.0, 0.5, fit_intercept=False))
    reference = Lasso(alpha=0.5, fit_intercept=False, tol=TIGHT, max_iter=1_000_000).fit(X / rms, diabetes.y)
    assert np.allclose(outcome.x_scale, rms, rtol=1e-12)
    assert _relative(outcome.coef_std[:, 0], reference.coef_) < 1e-6


def test_constant_columns_get_exact_zero_coefficients(diabetes: Data) -> None:
    X = np.column_stack([diabetes.X, np.full(diabetes.X.shape[0], 0.1), np.zeros(diabetes.X.shape[0])])
    for l1_ratio in (1.0, 0.0):
        outcome = fit_model(X, diabetes.y, _spec(l1_ratio, 0.01))
        assert np.all(outcome.coef[-2:] == 0.0) and np.all(outcome.coef_std[-2:] == 0.0)
        assert np.all(np.isfinite(outcome.path.coef))
        plain = fit_model(diabetes.X, diabetes.y, _spec(l1_ratio, 0.01))
        assert np.allclose(outcome.coef[:-2], plain.coef, rtol=1e-9, atol=0)


def test_intercept_only_when_every_column_is_constant(diabetes: Data) -> None:
    X = np.ones((diabetes.X.shape[0], 2))
    outcome = fit_model(X, diabetes.y, FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=5), None))
    assert np.all(outcome.path.coef == 0.0)
    assert outcome.intercept[0] == pytest.approx(diabetes.y.mean(), rel=1e-12)
    assert outcome.path.alphas.shape == (5,) and np.all(outcome.path.alphas > 0)


def test_enet_duality_gap_reports_unconverged_solutions(diabetes: Data) -> None:
    outcome = fit_model(diabetes.X, diabetes.y, _spec(1.0, 1e-3, max_iter=2))
    assert not outcome.convergence.converged
    assert outcome.convergence.dual_gap > TIGHT * np.var(diabetes.y)
    assert outcome.convergence.n_iter == 2
