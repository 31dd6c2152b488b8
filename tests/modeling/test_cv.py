"""Cross-validation against an independent per-fold computation, and glmnet's selection rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import Lasso, LogisticRegression
from sklearn.metrics import roc_auc_score

from service.errors import FitFailedError
from service.modeling import CVMetric, CVSpec, Family, FitSpec, PathSpec, SelectionRule, fit_model, make_folds
from service.modeling.selection import select_indices

if TYPE_CHECKING:
    from tests.modeling.conftest import Data

FoldError = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float], float]


def _lasso_fold_error(metric: str) -> FoldError:
    """Fit sklearn's Lasso on the fold's weighted-standardized training rows; score the held-out rows."""

    def error(X_train, y_train, w_train, X_test, y_test, w_test, alpha):  # type: ignore[no-untyped-def]
        mean = np.average(X_train, axis=0, weights=w_train)
        scale = np.sqrt(np.average((X_train - mean) ** 2, axis=0, weights=w_train))
        model = Lasso(alpha=alpha, tol=1e-12, max_iter=1_000_000)
        model.fit((X_train - mean) / scale, y_train, sample_weight=w_train)
        residual = y_test - model.predict((X_test - mean) / scale)
        values = residual**2 if metric == "mse" else np.abs(residual)
        return float(np.average(values, weights=w_test))

    return error  # type: ignore[return-value]


def _independent_curve(data: Data, w: np.ndarray, folds: np.ndarray, alphas: np.ndarray, fold_error) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    n_folds = folds.max() + 1
    scores = np.empty((n_folds, len(alphas)))
    fold_weight = np.array([w[folds == k].sum() for k in range(n_folds)])
    for k in range(n_folds):
        train, test = folds != k, folds == k
        for i, alpha in enumerate(alphas):
            args = (data.X[train], data.y[train], w[train], data.X[test], data.y[test], w[test])
            scores[k, i] = fold_error(*args, alpha)
    mean = fold_weight @ scores / fold_weight.sum()
    se = np.sqrt(fold_weight @ (scores - mean) ** 2 / fold_weight.sum() / (n_folds - 1))
    return scores, mean, se


def _gaussian_spec(
    rule: SelectionRule, metric: CVMetric | None = None, alpha: float | None = None
) -> FitSpec:
    cv = CVSpec(n_folds=5, seed=3, rule=rule, metric=metric)
    return FitSpec(Family.GAUSSIAN, 1.0, alpha, PathSpec(n_alphas=15), cv, tol=1e-12)


def test_cv_lasso_curve_and_rules_match_independent_folds(diabetes: Data) -> None:
    n = diabetes.X.shape[0]
    outcome = fit_model(diabetes.X, diabetes.y, _gaussian_spec(SelectionRule.ONE_SE))
    assert outcome.cv is not None and outcome.selection is not None and outcome.cv_metrics is not None
    curve = outcome.cv.curves[0]
    assert np.array_equal(outcome.cv.fold_ids, make_folds(n, 5, 3, None))
    alpha_max = np.max(np.abs(diabetes.X_std.T @ (diabetes.y - diabetes.y.mean()))) / n
    assert np.allclose(curve.alphas, np.geomspace(alpha_max, alpha_max * 1e-4, 15), rtol=1e-12)

    w = np.ones(n)
    scores, mean, se = _independent_curve(
        diabetes, w, outcome.cv.fold_ids, curve.alphas, _lasso_fold_error("mse")
    )
    assert np.allclose(curve.folds, scores, rtol=1e-7)
    assert np.allclose(curve.mean, mean, rtol=1e-7)
    assert np.allclose(curve.se, se, rtol=1e-6)
    index_min = int(np.argmin(mean))
    index_1se = int(np.flatnonzero(mean <= mean[index_min] + se[index_min])[0])
    assert 0 < index_1se < index_min  # the data make the two rules differ
    assert (curve.index_min, curve.index_1se) == (index_min, index_1se)
    assert (curve.alpha_min, curve.alpha_1se) == (curve.alphas[index_min], curve.alphas[index_1se])
    assert outcome.alpha == curve.alpha_1se == outcome.selection.alpha_1se
    assert np.array_equal(outcome.coef, outcome.path.coef[index_1se])
    assert outcome.cv_metrics == {"mse": curve.mean[index_1se], "se": curve.se[index_1se]}

    by_min = fit_model(diabetes.X, diabetes.y, _gaussian_spec(SelectionRule.MIN))
    assert by_min.alpha == curve.alpha_min and np.array_equal(by_min.coef, outcome.path.coef[index_min])


def test_cv_weighted_mae_matches_independent_folds(diabetes: Data) -> None:
    n = diabetes.X.shape[0]
    raw_weights = 1.0 + np.arange(n) % 4
    spec = _gaussian_spec(SelectionRule.MIN, CVMetric.MAE)
    outcome = fit_model(diabetes.X, diabetes.y, spec, sample_weight=raw_weights)
    assert outcome.cv is not None
    curve = outcome.cv.curves[0]
    assert curve.metric == CVMetric.MAE
    w = raw_weights * n / raw_weights.sum()
    scores, mean, se = _independent_curve(
        diabetes, w, outcome.cv.fold_ids, curve.alphas, _lasso_fold_error("mae")
    )
    assert np.allclose(curve.folds, scores, rtol=1e-7)
    assert np.allclose(curve.mean, mean, rtol=1e-7) and np.allclose(curve.se, se, rtol=1e-6)
    assert curve.index_min == int(np.argmin(mean))
    assert outcome.alpha == curve.alphas[int(np.argmin(mean))]


def test_cv_binomial_auc_matches_independent_folds(breast_cancer: Data) -> None:
    path = PathSpec(n_alphas=6, alpha_min_ratio=1e-2)
    cv = CVSpec(n_folds=4, seed=0, metric=CVMetric.AUC, rule=SelectionRule.ONE_SE)
    outcome = fit_model(
        breast_cancer.X, breast_cancer.y, FitSpec(Family.BINOMIAL, 0.0, None, path, cv, tol=1e-10)
    )
    assert outcome.cv is not None
    curve, folds = outcome.cv.curves[0], outcome.cv.fold_ids
    for k in range(4):  # stratified by default: every fold holds the class balance
        assert abs(breast_cancer.y[folds == k].mean() - breast_cancer.y.mean()) < 0.01

    def auc(X_train, y_train, w_train, X_test, y_test, w_test, alpha):  # type: ignore[no-untyped-def]
        mean, scale = X_train.mean(axis=0), X_train.std(axis=0)
        model = LogisticRegression(l1_ratio=0.0, C=1.0 / (len(y_train) * alpha), tol=1e-12, max_iter=100_000)
        model.fit((X_train - mean) / scale, y_train)
        return roc_auc_score(y_test, model.decision_function((X_test - mean) / scale))

    w = np.ones(breast_cancer.X.shape[0])
    scores, mean, se = _independent_curve(breast_cancer, w, folds, curve.alphas, auc)
    assert np.allclose(curve.folds, scores, atol=1e-9)
    best = int(np.argmax(mean))  # higher is better for AUC
    assert curve.index_min == best
    assert curve.index_1se == int(np.flatnonzero(mean >= mean[best] - se[best])[0])


def test_cv_scores_folds_whose_training_rows_lack_a_class(iris: Data) -> None:
    folds = (iris.y == 2).astype(np.int64)  # fold 1 holds all of class 2, fold 0 the rest
    path = PathSpec(alphas=(0.1, 0.01))
    spec = FitSpec(Family.MULTINOMIAL, 1.0, None, path, CVSpec(rule=SelectionRule.MIN))
    outcome = fit_model(iris.X, iris.y, spec, fold_ids=folds)
    assert outcome.cv is not None
    # Every held-out row belongs to a class its training part never saw: probability floored,
    # then clamped at 1e-5 as cv.glmnet does, so each row costs exactly -2 log(1e-5).
    assert np.allclose(outcome.cv.curves[0].folds, -2 * np.log(1e-5), rtol=1e-12)
    assert np.all(np.isfinite(outcome.path.coef))


def test_cv_over_l1_ratios_picks_the_best_curve(diabetes: Data) -> None:
    cv = CVSpec(n_folds=4, seed=1, rule=SelectionRule.MIN, l1_ratios=(1.0, 0.5, 0.05))
    outcome = fit_model(
        diabetes.X, diabetes.y, FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=12), cv)
    )
    assert outcome.cv is not None and outcome.selection is not None
    curves = outcome.cv.curves
    assert [c.l1_ratio for c in curves] == [1.0, 0.5, 0.05]
    assert curves[0].alphas[0] == pytest.approx(curves[1].alphas[0] / 2)  # own path per l1_ratio
    best = int(np.argmin([c.mean[c.index_min] for c in curves]))
    assert outcome.l1_ratio == outcome.cv.l1_ratio == outcome.path.l1_ratio == curves[best].l1_ratio
    assert outcome.alpha == curves[best].alpha_min == outcome.selection.alpha_min


def test_cv_with_given_alpha_estimates_its_error(diabetes: Data) -> None:
    outcome = fit_model(diabetes.X, diabetes.y, _gaussian_spec(SelectionRule.ONE_SE, alpha=1.0))
    assert outcome.selection is None and outcome.cv is not None and outcome.cv_metrics is not None
    assert outcome.path.alphas.tolist() == [1.0] and outcome.alpha == 1.0
    w = np.ones(diabetes.X.shape[0])
    _, mean, se = _independent_curve(
        diabetes, w, outcome.cv.fold_ids, np.array([1.0]), _lasso_fold_error("mse")
    )
    assert outcome.cv_metrics["mse"] == pytest.approx(mean[0], rel=1e-7)
    assert outcome.cv_metrics["se"] == pytest.approx(se[0], rel=1e-6)


def test_select_indices_ties_go_to_the_largest_alpha() -> None:
    mean = np.array([5.0, 3.0, 2.0, 2.0, 2.5])
    se = np.array([0.1, 0.1, 1.2, 0.1, 0.1])
    assert select_indices(CVMetric.MSE, mean, se) == (2, 1)


def test_select_indices_flips_auc_and_skips_undefined_points() -> None:
    mean = np.array([np.nan, 0.88, 0.90, 0.85])
    se = np.array([np.nan, 0.01, 0.03, 0.01])
    assert select_indices(CVMetric.AUC, mean, se) == (2, 1)
    with pytest.raises(FitFailedError):
        select_indices(CVMetric.MSE, np.full(3, np.nan), np.full(3, np.nan))


def test_cv_user_fold_ids_override_folds_and_seed(diabetes: Data) -> None:
    folds = make_folds(diabetes.X.shape[0], 4, seed=9, strata=None)
    path = PathSpec(n_alphas=6)
    by_seed = fit_model(
        diabetes.X, diabetes.y, FitSpec(Family.GAUSSIAN, 1.0, None, path, CVSpec(n_folds=4, seed=9))
    )
    by_ids = fit_model(
        diabetes.X,
        diabetes.y,
        FitSpec(Family.GAUSSIAN, 1.0, None, path, CVSpec(n_folds=10, seed=0)),
        fold_ids=folds,
    )
    assert by_seed.cv is not None and by_ids.cv is not None
    assert np.array_equal(by_ids.cv.fold_ids, folds)
    assert np.array_equal(by_ids.cv.curves[0].folds, by_seed.cv.curves[0].folds)


@pytest.mark.parametrize("relax", [False, True])
def test_cv_on_a_sparse_design_equals_cv_on_its_dense_twin(diabetes: Data, relax: bool) -> None:
    """Sparse folds fit on a copy of their training rows, dense ones weight held-out rows zero:
    the curves agree to the solver's accuracy, with uneven and zero weights and the relaxed lasso."""
    n = diabetes.X.shape[0]
    X = np.where(np.abs(diabetes.X) < 0.02, 0.0, diabetes.X)  # about a third of the entries zero
    weights = (1.0 + np.arange(n) % 3) * (np.arange(n) % 17 != 0)
    spec = FitSpec(
        Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=12), CVSpec(n_folds=4, seed=1), tol=1e-12, relax=relax
    )
    dense = fit_model(X, diabetes.y, spec, sample_weight=weights)
    sparse = fit_model(sp.csc_matrix(X), diabetes.y, spec, sample_weight=weights)
    assert dense.cv is not None and sparse.cv is not None
    for ours, twin in zip(sparse.cv.curves, dense.cv.curves, strict=True):
        assert np.allclose(ours.folds, twin.folds, rtol=1e-8, atol=0.0)
        assert ours.index_min == twin.index_min and ours.index_1se == twin.index_1se
    assert np.allclose(sparse.coef, dense.coef, rtol=1e-6, atol=1e-9)
