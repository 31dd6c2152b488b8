"""Weighted metrics against scikit-learn's implementations."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

from service.modeling.metrics import deviance, null_deviance, weighted_auc
from service.modeling.specs import Family


def test_weighted_auc_matches_sklearn_with_ties_and_weights() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    score = np.round(rng.normal(size=200) + y, 1)  # rounding creates ties
    w = rng.uniform(0.1, 3.0, 200)
    expected = roc_auc_score(y, score, sample_weight=w)
    assert abs(weighted_auc(y == 1, score, w) - expected) < 1e-12


def test_weighted_auc_is_undefined_with_one_class() -> None:
    assert np.isnan(weighted_auc(np.ones(5, dtype=bool), np.arange(5.0), np.ones(5)))


def test_multinomial_deviance_matches_log_loss() -> None:
    rng = np.random.default_rng(1)
    eta = rng.normal(size=(50, 3))
    y = rng.integers(0, 3, 50)
    w = rng.uniform(0.5, 2.0, 50)
    probs = np.exp(eta) / np.exp(eta).sum(axis=1, keepdims=True)
    expected = 2 * log_loss(y, probs, sample_weight=w, normalize=False)
    assert abs(deviance(Family.MULTINOMIAL, y, eta, w) - expected) < 1e-9 * expected
    null = 2 * log_loss(
        y, np.tile(np.bincount(y, weights=w) / w.sum(), (50, 1)), sample_weight=w, normalize=False
    )
    assert abs(null_deviance(Family.MULTINOMIAL, y, w, 3, fit_intercept=True) - null) < 1e-9 * null
