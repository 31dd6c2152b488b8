"""Logistic fits against scikit-learn's LogisticRegression at tight tolerance, and wine multinomial."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from service.modeling import Family, FitSpec, PathSpec, fit_model
from tests.modeling.conftest import Data
from tests.modeling.test_logistic import outcome_objective, reference_minimum


def _sklearn_objective(X: np.ndarray, y: np.ndarray, model: LogisticRegression, alpha: float) -> float:
    """Mean log-loss + alpha * ||beta||_1, the API's binomial lasso objective."""
    eta = X @ model.coef_[0] + model.intercept_[0]
    loss = np.logaddexp(0.0, eta) - y * eta
    return float(loss.mean() + alpha * np.abs(model.coef_).sum())


@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_binomial_lasso_objective_matches_logistic_regression(breast_cancer: Data, alpha: float) -> None:
    X, y = breast_cancer.X_std, breast_cancer.y
    spec = FitSpec(Family.BINOMIAL, 1.0, alpha, PathSpec(), None, standardize=False, tol=1e-10)
    ours = fit_model(X, y, spec)
    # liblinear penalizes the intercept, so the reference is saga (unpenalized intercept) run tight;
    # C = 1 / (n * alpha) turns scikit-learn's sum-loss objective into the API's mean-loss one.
    reference = LogisticRegression(
        l1_ratio=1.0, solver="saga", C=1.0 / (len(y) * alpha), tol=1e-12, max_iter=200_000
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(X, y)
    theirs = _sklearn_objective(X, y, reference, alpha)
    mine = float(
        np.mean(
            np.logaddexp(0.0, X @ ours.coef[:, 0] + ours.intercept[0])
            - y * (X @ ours.coef[:, 0] + ours.intercept[0])
        )
        + alpha * np.abs(ours.coef).sum()
    )
    # Ours may be lower (saga stops early); it must never be worse by more than 1e-6 relative.
    assert mine <= theirs * (1 + 1e-6)
    assert abs(mine - theirs) <= 1e-6 * theirs or mine < theirs
    np.testing.assert_array_equal(ours.coef[:, 0] != 0, np.abs(reference.coef_[0]) > 1e-6)


def test_multinomial_wine_objective_matches_reference() -> None:
    X, y = load_wine(return_X_y=True)
    data = Data(np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64))
    alphas = (0.05, 0.02)
    outcome = fit_model(
        data.X, data.y, FitSpec(Family.MULTINOMIAL, 1.0, None, PathSpec(alphas=alphas), None, tol=1e-8)
    )
    for i, alpha in enumerate(alphas):
        ours = outcome_objective(data, outcome, i)
        reference = reference_minimum(data.X_std, data.y, 3, alpha, 1.0)
        assert abs(ours - reference) <= 1e-6 * reference
    assert outcome.path.converged.all()
    assert outcome.intercept.shape == (3,) and 0 < outcome.path.n_selected[-1] <= X.shape[1]
