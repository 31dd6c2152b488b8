"""Predictions from coefficients, and coefficients at other alphas of a stored path."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from scipy.special import expit, softmax

from service.errors import ValidationError
from service.modeling import Family, FitSpec, PathSpec, coefficients_at, fit_model, predict_linear

if TYPE_CHECKING:
    from tests.modeling.conftest import Data


def test_predict_linear_gaussian_is_the_linear_predictor(diabetes: Data) -> None:
    outcome = fit_model(diabetes.X, diabetes.y, FitSpec(Family.GAUSSIAN, 1.0, 0.5, PathSpec(), None))
    prediction = predict_linear(diabetes.X, outcome.intercept, outcome.coef, Family.GAUSSIAN)
    assert prediction.probabilities is None
    assert np.allclose(prediction.values, outcome.intercept[0] + diabetes.X @ outcome.coef[:, 0], rtol=1e-12)
    assert np.mean((diabetes.y - prediction.values) ** 2) == pytest.approx(
        outcome.train_metrics["mse"], rel=1e-12
    )


def test_predict_linear_binomial_gives_class_one_probabilities() -> None:
    X = np.array([[-2.0], [0.0], [3.0]])
    prediction = predict_linear(X, np.array([0.0]), np.array([[1.0]]), Family.BINOMIAL)
    assert prediction.probabilities is not None
    assert np.allclose(prediction.probabilities[:, 1], expit(X[:, 0]), rtol=1e-12)
    assert np.allclose(prediction.probabilities.sum(axis=1), 1.0)
    assert prediction.values.tolist() == [0, 0, 1]  # p = 0.5 goes to the lower class code


def test_predict_linear_multinomial_uses_softmax() -> None:
    rng = np.random.default_rng(0)
    X, coef, intercept = rng.normal(size=(20, 3)), rng.normal(size=(3, 4)), rng.normal(size=4)
    prediction = predict_linear(X, intercept, coef, Family.MULTINOMIAL)
    expected = softmax(X @ coef + intercept, axis=1)
    assert prediction.probabilities is not None
    assert np.allclose(prediction.probabilities, expected, rtol=1e-12)
    assert np.array_equal(prediction.values, np.argmax(expected, axis=1))


def test_coefficients_at_path_points_interpolation_and_range(diabetes: Data) -> None:
    outcome = fit_model(
        diabetes.X, diabetes.y, FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=10), None)
    )
    path = outcome.path
    intercept, coef = coefficients_at(path, float(path.alphas[3]) * (1 + 1e-10))
    assert np.array_equal(coef, path.coef[3]) and np.array_equal(intercept, path.intercept[3])
    middle = float(np.sqrt(path.alphas[3] * path.alphas[4]))  # halfway in log(alpha)
    intercept, coef = coefficients_at(path, middle)
    assert np.allclose(coef, (path.coef[3] + path.coef[4]) / 2, rtol=1e-12)
    assert np.allclose(intercept, (path.intercept[3] + path.intercept[4]) / 2, rtol=1e-12)
    for outside in (float(path.alphas[0]) * 1.01, float(path.alphas[-1]) * 0.99):
        with pytest.raises(ValidationError) as raised:
            coefficients_at(path, outside)
        assert raised.value.detail.startswith("alpha")
