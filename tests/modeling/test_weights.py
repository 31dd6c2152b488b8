"""Observation weights: integer weights are row replication; impossible weights are refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from service.errors import ValidationError
from service.modeling import Family, FitSpec, PathSpec, fit_model

if TYPE_CHECKING:
    from tests.modeling.conftest import Data


def _replicated(data: Data, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.repeat(np.arange(data.X.shape[0]), counts)
    return data.X[rows], data.y[rows]


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5, 0.0])
def test_gaussian_integer_weights_equal_row_replication(diabetes: Data, l1_ratio: float) -> None:
    counts = np.arange(diabetes.X.shape[0]) % 3  # zero weights included
    spec = FitSpec(Family.GAUSSIAN, l1_ratio, None, PathSpec(n_alphas=8), None, tol=1e-12)
    weighted = fit_model(diabetes.X, diabetes.y, spec, sample_weight=counts)
    replicated = fit_model(*_replicated(diabetes, counts), spec)
    assert np.allclose(weighted.path.alphas, replicated.path.alphas, rtol=1e-12)
    assert np.allclose(weighted.path.coef, replicated.path.coef, rtol=1e-7, atol=1e-9)
    assert np.allclose(weighted.path.intercept, replicated.path.intercept, rtol=1e-9)
    assert np.allclose(weighted.x_scale, replicated.x_scale, rtol=1e-12)
    assert weighted.train_metrics == pytest.approx(replicated.train_metrics, rel=1e-9)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.0])
def test_binomial_integer_weights_equal_row_replication(breast_cancer: Data, l1_ratio: float) -> None:
    counts = 1 + np.arange(breast_cancer.X.shape[0]) % 2
    spec = FitSpec(Family.BINOMIAL, l1_ratio, 0.05, PathSpec(), None, tol=1e-10)
    weighted = fit_model(breast_cancer.X, breast_cancer.y, spec, sample_weight=counts)
    replicated = fit_model(*_replicated(breast_cancer, counts), spec)
    assert np.allclose(weighted.coef, replicated.coef, rtol=1e-5, atol=1e-7)
    assert weighted.train_metrics == pytest.approx(replicated.train_metrics, rel=1e-6)


@pytest.mark.parametrize("weights", [[-1.0, 1.0, 1.0], [np.nan, 1.0, 1.0], [0.0, 0.0, 0.0]])
def test_fit_model_refuses_impossible_weights(weights: list[float]) -> None:
    X = np.array([[0.0], [1.0], [2.0]])
    spec = FitSpec(Family.GAUSSIAN, 1.0, 0.1, PathSpec(), None)
    with pytest.raises(ValidationError) as raised:
        fit_model(X, np.array([0.0, 1.0, 3.0]), spec, sample_weight=np.array(weights))
    assert raised.value.detail.startswith("weights_column")
