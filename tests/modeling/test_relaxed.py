"""The relaxed lasso against its definition: unpenalized refits on the active sets, blended by gamma."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import lsq_linear
from sklearn.linear_model import LinearRegression, LogisticRegression

from service.errors import ValidationError
from service.modeling import CVCurve, CVMetric, CVSpec, Family, FitSpec, PathSpec, SelectionRule, fit_model
from service.modeling.problem import build_problem
from service.modeling.stats.relaxed import RELAX_GAMMAS, RelaxedPath, choose, relaxed_path
from tests.modeling.conftest import Data


def _relaxed(
    X: object, y: np.ndarray, spec: FitSpec, w: np.ndarray | None = None
) -> tuple[object, RelaxedPath]:
    """The lasso path of ``spec`` and its relaxed refits."""
    path = fit_model(X, y, spec, sample_weight=w).path  # type: ignore[arg-type]
    problem = build_problem(X, y, spec, w, None)
    return path, relaxed_path(problem, path.coef, path.intercept)


def _active_sets(coef: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(first alpha index, columns) of every distinct nonempty active set along a path."""
    seen: dict[bytes, tuple[int, np.ndarray]] = {}
    for i, row in enumerate(np.any(coef != 0.0, axis=2)):
        if row.any() and row.tobytes() not in seen:
            seen[row.tobytes()] = (i, np.flatnonzero(row))
    return list(seen.values())


def test_relaxed_gaussian_refits_are_least_squares_on_active_sets(diabetes: Data) -> None:
    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=40), None, tol=1e-10)
    w = np.asarray(np.random.default_rng(3).uniform(0.5, 2.0, diabetes.y.shape[0]))
    path, relaxed = _relaxed(diabetes.X, diabetes.y, spec, w)
    sets = _active_sets(path.coef)  # type: ignore[attr-defined]
    assert len(sets) >= 8
    for i, columns in sets:
        ols = LinearRegression().fit(diabetes.X[:, columns], diabetes.y, sample_weight=w)
        np.testing.assert_allclose(relaxed.coef[i, columns, 0], ols.coef_, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(relaxed.intercept[i, 0], ols.intercept_, rtol=1e-10)
        others = np.setdiff1d(np.arange(diabetes.X.shape[1]), columns)
        assert np.all(relaxed.coef[i, others, 0] == 0.0)
    assert relaxed.refitted.all() and relaxed.converged.all()


def test_relaxed_blend_is_gamma_weighted_and_gamma_one_is_the_lasso(diabetes: Data) -> None:
    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=30), None)
    path, relaxed = _relaxed(diabetes.X, diabetes.y, spec)
    lasso_coef, lasso_intercept = path.coef, path.intercept  # type: ignore[attr-defined]
    for gamma in RELAX_GAMMAS:
        coef, intercept = relaxed.blend(gamma, lasso_coef, lasso_intercept)
        np.testing.assert_allclose(coef, gamma * lasso_coef + (1 - gamma) * relaxed.coef, rtol=1e-15)
        np.testing.assert_allclose(intercept, gamma * lasso_intercept + (1 - gamma) * relaxed.intercept)
    coef, _ = relaxed.blend(1.0, lasso_coef, lasso_intercept)
    np.testing.assert_array_equal(coef, lasso_coef)
    # The refit is unpenalized: at every alpha with a nonempty set, its coefficients are larger.
    nonempty = np.any(lasso_coef != 0, axis=(1, 2))
    assert np.all(
        np.abs(relaxed.coef[nonempty]).sum(axis=(1, 2)) > np.abs(lasso_coef[nonempty]).sum(axis=(1, 2))
    )


def test_relaxed_binomial_refits_match_unpenalized_logistic_regression(breast_cancer: Data) -> None:
    spec = FitSpec(Family.BINOMIAL, 1.0, None, PathSpec(n_alphas=40), None)
    path, relaxed = _relaxed(breast_cancer.X, breast_cancer.y, spec)
    compared = 0
    for i, columns in _active_sets(path.coef):  # type: ignore[attr-defined]
        if not relaxed.converged[i]:
            continue  # separated data: no finite maximum-likelihood estimate to compare with
        X = breast_cancer.X[:, columns]
        mean, sd = X.mean(axis=0), X.std(axis=0)
        reference = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-14, max_iter=1000)
        reference.fit((X - mean) / sd, breast_cancer.y)
        coef = reference.coef_[0] / sd
        np.testing.assert_allclose(relaxed.coef[i, columns, 0], coef, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(relaxed.intercept[i, 0], reference.intercept_[0] - mean @ coef, rtol=1e-7)
        compared += 1
    assert compared >= 5


def test_relaxed_refit_of_separated_data_stops_and_reports_it() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = (X[:, 0] > 0).astype(np.int64)  # column 0 separates the classes perfectly
    spec = FitSpec(Family.BINOMIAL, 1.0, None, PathSpec(n_alphas=20), None)
    path, relaxed = _relaxed(X, y, spec)
    with_first = np.flatnonzero(path.coef[:, 0, 0] != 0)  # type: ignore[attr-defined]
    assert with_first.size and not relaxed.converged[with_first].any()
    assert np.all(np.isfinite(relaxed.coef)) and np.all(relaxed.coef[with_first, 0, 0] > 0)


def test_relaxed_sparse_design_gives_the_dense_refits(diabetes: Data) -> None:
    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=25), None, tol=1e-10)
    path, dense = _relaxed(diabetes.X, diabetes.y, spec)
    problem = build_problem(sp.csc_matrix(diabetes.X), diabetes.y, spec, None, None)
    sparse = relaxed_path(problem, path.coef, path.intercept)  # type: ignore[attr-defined]
    np.testing.assert_allclose(sparse.coef, dense.coef, rtol=1e-6, atol=1e-6 * np.abs(dense.coef).max())
    np.testing.assert_allclose(sparse.intercept, dense.intercept, rtol=1e-8)


def test_relaxed_refit_keeps_the_bounds(diabetes: Data) -> None:
    p = diabetes.X.shape[1]
    upper = np.full(p, np.inf)
    upper[2] = 200.0  # bmi's OLS coefficient is ~500: the bound binds
    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=25), None, upper_bounds=tuple(upper))
    path, relaxed = _relaxed(diabetes.X, diabetes.y, spec)
    for i, columns in _active_sets(path.coef)[-3:]:  # type: ignore[attr-defined]
        Xa = diabetes.X[:, columns]
        A = np.column_stack([np.ones(len(diabetes.y)), Xa])
        lo = np.r_[-np.inf, np.full(columns.size, -np.inf)]
        hi = np.r_[np.inf, upper[columns]]
        reference = lsq_linear(A, diabetes.y, bounds=(lo, hi), method="bvls", tol=1e-14).x
        assert relaxed.coef[i, 2, 0] <= 200.0 + 1e-9
        np.testing.assert_allclose(relaxed.coef[i, columns, 0], reference[1:], rtol=1e-6, atol=1e-6)


def test_relaxed_fit_with_cv_blends_at_the_chosen_alpha_and_gamma(diabetes: Data) -> None:
    cv = CVSpec(n_folds=5, seed=1, rule=SelectionRule.MIN)
    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=40), cv, relax=True)
    outcome = fit_model(diabetes.X, diabetes.y, spec)
    plain = fit_model(diabetes.X, diabetes.y, replace(spec, relax=False))
    assert outcome.cv is not None and outcome.selection is not None and outcome.relax_gamma is not None
    curves = outcome.cv.relaxed
    assert [c.relax_gamma for c in curves] == list(RELAX_GAMMAS)
    # gamma 1 is the lasso: its curve is the plain fit's, on the same folds.
    np.testing.assert_array_equal(curves[-1].folds, plain.cv.curves[0].folds)  # type: ignore[union-attr]
    # min over the whole (gamma, alpha) grid
    best = min(float(c.mean.min()) for c in curves)
    chosen = next(c for c in curves if c.relax_gamma == outcome.relax_gamma)
    i = int(np.flatnonzero(outcome.path.alphas == outcome.alpha)[0])
    assert chosen.mean[i] == best and outcome.cv_metrics == {"mse": best, "se": float(chosen.se[i])}
    assert outcome.selection.alpha_min == outcome.alpha and outcome.selection.gamma_min == outcome.relax_gamma
    # the model is the blend at that point
    _, relaxed = _relaxed(diabetes.X, diabetes.y, replace(spec, relax=False, cv=None))
    gamma = outcome.relax_gamma
    np.testing.assert_allclose(
        outcome.coef, gamma * plain.path.coef[i] + (1 - gamma) * relaxed.coef[i], atol=1e-8
    )
    # the relaxed model fits the training data at least as well as the lasso at the same alpha
    assert outcome.train_metrics["mse"] <= plain.train_metrics["mse"] or outcome.alpha != plain.alpha


def test_relaxed_without_cv_is_the_refit_at_the_given_alpha(diabetes: Data) -> None:
    lasso = fit_model(diabetes.X, diabetes.y, FitSpec(Family.GAUSSIAN, 1.0, 2.0, PathSpec(), None))
    outcome = fit_model(
        diabetes.X, diabetes.y, FitSpec(Family.GAUSSIAN, 1.0, 2.0, PathSpec(), None, relax=True)
    )
    columns = np.flatnonzero(lasso.coef[:, 0])
    assert outcome.relax_gamma == 0.0 and 0 < columns.size < diabetes.X.shape[1]
    ols = LinearRegression().fit(diabetes.X[:, columns], diabetes.y)
    np.testing.assert_allclose(outcome.coef[columns, 0], ols.coef_, rtol=1e-8)
    np.testing.assert_array_equal(np.flatnonzero(outcome.coef[:, 0]), columns)
    # coef_std is the same blend on the standardized scale
    np.testing.assert_allclose(outcome.coef_std[:, 0], outcome.coef[:, 0] * diabetes.X.std(axis=0), rtol=1e-8)


def test_relaxed_follows_a_power_of_two_rescaled_target(diabetes: Data) -> None:
    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=20), CVSpec(n_folds=5), relax=True)
    unit = fit_model(diabetes.X, diabetes.y, spec)
    scale = 2.0**300  # beyond the band (2^200): the fit runs on the rescaled problem
    big = fit_model(diabetes.X, diabetes.y * scale, spec)
    assert big.relax_gamma == unit.relax_gamma and big.alpha == pytest.approx(unit.alpha * scale, rel=1e-12)
    np.testing.assert_allclose(big.coef / scale, unit.coef, rtol=1e-9)
    np.testing.assert_allclose(big.cv.relaxed[0].mean / scale**2, unit.cv.relaxed[0].mean, rtol=1e-9)  # type: ignore[union-attr]


def test_relaxed_refuses_a_search_over_l1_ratios(diabetes: Data) -> None:
    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(), CVSpec(l1_ratios=(0.5, 1.0)), relax=True)
    with pytest.raises(ValidationError) as caught:
        fit_model(diabetes.X, diabetes.y, spec)
    assert caught.value.extensions["errors"][0]["loc"] == ["body", "relax"]


def _curve(gamma: float, mean: list[float], se: list[float]) -> CVCurve:
    alphas = np.array([4.0, 2.0, 1.0, 0.5])
    m, s = np.array(mean), np.array(se)
    return CVCurve(CVMetric.MSE, 1.0, alphas, m, s, m[np.newaxis], 4.0, 4.0, 0, 0, relax_gamma=gamma)


def test_relaxed_choice_follows_glmnet_getoptcv_relaxed() -> None:
    curves = (
        _curve(0.0, [5.0, 3.0, 2.0, 2.5], [0.1, 0.2, 0.4, 0.3]),
        _curve(0.5, [5.0, 2.9, 2.0, 2.6], [0.1, 0.2, 1.0, 0.3]),
        _curve(1.0, [5.0, 4.0, 3.0, 2.2], [0.1, 0.2, 0.3, 0.3]),
    )
    # min: 2.0 at alpha 1.0 for gammas 0 and 0.5, a tie broken towards the larger gamma
    assert choose(curves, SelectionRule.MIN) == (2, 0.5)
    # 1se: within 2.0 + 1.0 (the se at the min) the largest alpha is 2.0 (gammas 0, 0.5): gamma 0.5
    assert choose(curves, SelectionRule.ONE_SE) == (1, 0.5)
    # a smaller se there: only alpha 1.0 qualifies (2.0, 2.0) and alpha 0.5 (2.2 <= 2.3, smaller alpha)
    tight = (curves[0], _curve(0.5, [5.0, 2.9, 2.0, 2.6], [0.1, 0.2, 0.3, 0.3]), curves[2])
    assert choose(tight, SelectionRule.ONE_SE) == (2, 0.5)
    # NaN never wins
    nan_first = (_curve(0.0, [np.nan, 1.0, 2.0, 3.0], [0.1] * 4), curves[2])
    assert choose(nan_first, SelectionRule.MIN) == (1, 0.0)


def test_relaxed_multinomial_refits_solve_the_score_equations() -> None:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((200, 5))
    logits = X @ rng.normal(0.0, 0.6, (5, 3))
    y = np.array([rng.choice(3, p=np.exp(r) / np.exp(r).sum()) for r in logits])
    spec = FitSpec(Family.MULTINOMIAL, 1.0, None, PathSpec(n_alphas=15, alpha_min_ratio=0.05), None)
    path, relaxed = _relaxed(X, y, spec)
    onehot = np.eye(3)[y]
    for i, columns in _active_sets(path.coef):  # type: ignore[attr-defined]
        eta = X @ relaxed.coef[i] + relaxed.intercept[i]
        prob = np.exp(eta - eta.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        # unpenalized optimum: the mean score of each active column and of the intercepts vanishes
        np.testing.assert_allclose(X[:, columns].T @ (onehot - prob) / len(y), 0.0, atol=1e-7)
        np.testing.assert_allclose((onehot - prob).mean(axis=0), 0.0, atol=1e-7)
    assert relaxed.converged.all()


class _Canceled(Exception):
    pass


def test_relaxed_cv_propagates_what_the_checkpoint_raises(diabetes: Data) -> None:
    calls: list[str] = []

    def cancel(fraction: float, stage: str) -> None:
        calls.append(stage)
        if stage == "cv":
            raise _Canceled

    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=20), CVSpec(n_folds=3), relax=True)
    with pytest.raises(_Canceled):
        fit_model(diabetes.X, diabetes.y, spec, checkpoint=cancel)
    assert calls[-1] == "cv"
