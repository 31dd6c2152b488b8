"""The pairs bootstrap: intervals cover at the nominal rate where theory says so, frequencies, determinism."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse as sp

from service.errors import ValidationError
from service.modeling import CVSpec, Family, FitSpec, PathSpec, fit_model
from service.modeling.stats.bootstrap import bootstrap
from service.modeling.stats.subsamples import bootstrap_counts, class_strata

FloatArray = npt.NDArray[np.float64]
BETA = np.array([1.0, -2.0, 0.5])
# alpha near zero at a tight tolerance: the lasso is OLS to many digits.
NEAR_OLS = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=20), None, tol=1e-12)
LASSO = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=20, alpha_min_ratio=0.01), None)


def _linear(seed: int, n: int = 100) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    X = np.asfortranarray(rng.standard_normal((n, 3)))
    return X, 0.5 + X @ BETA + rng.standard_normal(n)


def _ols_se(X: FloatArray, y: FloatArray) -> FloatArray:
    design = np.column_stack([np.ones(X.shape[0]), X])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    sigma2 = resid @ resid / (X.shape[0] - design.shape[1])
    se: FloatArray = np.sqrt(np.diag(np.linalg.inv(design.T @ design)) * sigma2)[1:]
    return se


@pytest.mark.slow
def test_bootstrap_percentile_intervals_cover_ols_coefficients_at_the_nominal_rate() -> None:
    """At alpha ~ 0 the fit is OLS and the 90% percentile intervals cover the true coefficients about
    90% of the time: over 25 data sets x 3 coefficients, within 3 Monte Carlo standard errors."""
    level, hits = 0.9, []
    for rep in range(25):
        X, y = _linear(500 + rep)
        result = bootstrap(X, y, NEAR_OLS, replicates=80, level=level, seed=rep, alpha=1e-8)
        lower, upper = result.lower[0, :, 0], result.upper[0, :, 0]
        hits.extend(((lower <= BETA) & (upper >= BETA)).tolist())
    coverage = float(np.mean(hits))
    mc_se = math.sqrt(level * (1 - level) / len(hits))
    assert abs(coverage - level) <= 3 * mc_se


def test_bootstrap_spread_matches_the_ols_standard_error() -> None:
    """The 95% percentile interval of an OLS coefficient is about +-1.96 of its textbook standard error."""
    X, y = _linear(3, n=200)
    result = bootstrap(X, y, NEAR_OLS, replicates=300, level=0.95, seed=0, alpha=1e-8)
    half_width = (result.upper[0, :, 0] - result.lower[0, :, 0]) / 2
    np.testing.assert_allclose(half_width / 1.96, _ols_se(X, y), rtol=0.25)
    # The point estimate is the full-data fit, here OLS; the bootstrap mean sits next to it.
    design = np.column_stack([np.ones(X.shape[0]), X])
    ols = np.linalg.lstsq(design, y, rcond=None)[0][1:]
    np.testing.assert_allclose(result.estimate[0, :, 0], ols, atol=1e-6)
    assert np.all(np.abs(result.mean[0, :, 0] - ols) <= 3 * _ols_se(X, y) / math.sqrt(300) + 0.01)


def test_bootstrap_frequencies_are_one_and_zero_where_obvious() -> None:
    rng = np.random.default_rng(1)
    X = np.asfortranarray(
        np.column_stack([rng.standard_normal((120, 2)), np.zeros(120), rng.standard_normal(120)])
    )
    y = 3 * X[:, 0] - 3 * X[:, 1] + 0.5 * rng.standard_normal(120)
    result = bootstrap(X, y, LASSO, replicates=30, seed=0, alpha=0.05)
    assert result.frequency[0, 0] == 1.0 and result.frequency[0, 1] == 1.0
    assert result.frequency[0, 2] == 0.0  # a constant column never enters
    assert result.lower[0, 2, 0] == result.upper[0, 2, 0] == 0.0
    assert result.lower[0, 0, 0] > 2.0 and result.upper[0, 1, 0] < -2.0
    # Above alpha_max every coefficient of every replicate is zero.
    empty = bootstrap(X, y, LASSO, replicates=5, seed=0, alpha=1e3)
    assert np.all(empty.frequency == 0.0) and np.all(empty.feature_frequency == 0.0)


def test_bootstrap_feature_frequency_is_over_the_feature_columns() -> None:
    rng = np.random.default_rng(2)
    X = np.asfortranarray(rng.standard_normal((100, 4)))
    y = X[:, 0] + 0.3 * X[:, 3] + rng.standard_normal(100)
    spec = replace(LASSO, column_features=(0, 0, 1, 1))
    result = bootstrap(X, y, spec, replicates=20, seed=0, alpha=0.05)
    assert result.feature_frequency.shape == (1, 2)
    column = result.frequency[0]
    assert max(column[0], column[1]) <= result.feature_frequency[0, 0] <= column[0] + column[1]
    assert max(column[2], column[3]) <= result.feature_frequency[0, 1] <= column[2] + column[3]
    # A feature of two columns has its intervals per column only.
    doc = result.document(["a", "b"], ["a1", "a2", "b1", "b2"])
    assert "lower" not in doc["features"][0] and doc["columns"][2]["lower"] == result.lower[0, 2, 0]


def test_bootstrap_is_reproducible_and_sparse_equals_dense() -> None:
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 8)) * (rng.random((60, 8)) < 0.4)
    y = X[:, 0] - X[:, 1] + rng.standard_normal(60)
    tight = replace(LASSO, tol=1e-11)
    dense = bootstrap(np.asfortranarray(X), y, tight, replicates=10, seed=3, alpha=0.02)
    again = bootstrap(np.asfortranarray(X), y, tight, replicates=10, seed=3, alpha=0.02)
    sparse = bootstrap(sp.csc_matrix(X), y, tight, replicates=10, seed=3, alpha=0.02)
    np.testing.assert_array_equal(dense.lower, again.lower)
    np.testing.assert_array_equal(dense.frequency, sparse.frequency)
    np.testing.assert_allclose(sparse.lower, dense.lower, atol=1e-8)
    np.testing.assert_allclose(sparse.upper, dense.upper, atol=1e-8)
    other = bootstrap(np.asfortranarray(X), y, tight, replicates=10, seed=4, alpha=0.02)
    assert not np.array_equal(other.lower, dense.lower)


@pytest.mark.slow
def test_bootstrap_in_two_processes_gives_the_same_result() -> None:
    X, y = _linear(5)
    one = bootstrap(X, y, LASSO, replicates=6, seed=1, alpha=0.01)
    two = bootstrap(X, y, LASSO, replicates=6, seed=1, alpha=0.01, processes=2)
    np.testing.assert_array_equal(one.lower, two.lower)
    np.testing.assert_array_equal(one.mean, two.mean)


def test_bootstrap_over_the_path_uses_the_full_data_grid() -> None:
    X, y = _linear(6)
    result = bootstrap(X, y, LASSO, replicates=8, seed=0, over_path=True)
    full = fit_model(X, y, LASSO)
    np.testing.assert_array_equal(result.alphas, full.path.alphas)
    m = full.path.alphas.shape[0]
    assert result.lower.shape == (m, 3, 1) and result.frequency.shape == (m, 3)
    np.testing.assert_array_equal(result.estimate, full.path.coef)
    assert np.all(result.lower <= result.mean + 1e-12) and np.all(result.mean <= result.upper + 1e-12)
    # From the full data's alpha_max (empty there, not always on a resample) to every feature in.
    assert result.frequency[0].mean() < 1.0 and np.all(result.frequency[-1] == 1.0)


def test_bootstrap_without_alpha_uses_the_cv_choice() -> None:
    X, y = _linear(7)
    spec = replace(LASSO, cv=CVSpec(n_folds=5, seed=1))
    result = bootstrap(X, y, spec, replicates=4, seed=0)
    assert result.alphas.tolist() == [fit_model(X, y, spec).alpha]


def test_bootstrap_classification_resamples_within_classes() -> None:
    """With 4 positives in 60 rows an unstratified resample would often lose them all (and the fit
    would be refused); within classes every replicate keeps them."""
    rng = np.random.default_rng(8)
    X = np.asfortranarray(rng.standard_normal((60, 3)))
    y = np.zeros(60, dtype=np.int64)
    y[np.argsort(X[:, 0])[-4:]] = 1
    spec = FitSpec(Family.BINOMIAL, 1.0, None, PathSpec(), None)
    result = bootstrap(X, y, spec, replicates=40, seed=0, alpha=0.02)
    assert result.frequency[0, 0] == 1.0
    assert result.lower.shape == (1, 3, 1)


def test_bootstrap_multinomial_reports_per_class_intervals() -> None:
    rng = np.random.default_rng(9)
    X = np.asfortranarray(rng.standard_normal((90, 4)))
    y = np.digitize(3 * X[:, 0] + rng.logistic(size=90), [-1.5, 1.5]).astype(np.int64)
    spec = FitSpec(Family.MULTINOMIAL, 1.0, None, PathSpec(), None)
    result = bootstrap(X, y, spec, replicates=8, seed=0, alpha=0.05)
    assert result.lower.shape == (1, 4, 3)
    assert result.frequency[0, 0] == 1.0
    # Class 0 falls and class 2 rises with x0.
    assert result.upper[0, 0, 0] < 0 < result.lower[0, 0, 2]
    doc = result.document(["a", "b", "c", "d"], ["a", "b", "c", "d"])
    first = doc["features"][0]
    assert first["frequency"] == 1.0 and first["lower"] == result.lower[0, 0].tolist()
    assert len(doc["columns"][0]["upper"]) == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"replicates": 1}, "bootstrap.replicates"),
        ({"level": 1.0}, "bootstrap.level"),
        ({"level": math.nan}, "bootstrap.level"),
        ({"alpha": -1.0}, "alpha"),
        ({"processes": 0}, "processes"),
    ],
)
def test_bootstrap_bad_arguments_raise_value_errors_naming_them(kwargs: dict[str, float], field: str) -> None:
    X, y = _linear(1, n=20)
    with pytest.raises(ValueError, match=f"^{field}: ") as caught:
        bootstrap(X, y, LASSO, **kwargs)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValidationError)


def test_bootstrap_draws_n_rows_within_every_class() -> None:
    labels = np.repeat([0, 1], [50, 7])
    groups = class_strata(Family.BINOMIAL, labels, None, 57)
    draws = bootstrap_counts(57, 200, groups, seed=1)
    for counts in draws:
        assert counts.sum() == 57 and np.all(counts >= 0) and np.all(counts == np.round(counts))
        assert counts[labels == 1].sum() == 7
    # Each row is drawn once per replicate on average (binomial(n, 1/n) counts).
    assert np.mean(draws, axis=0) == pytest.approx(np.ones(57), abs=0.3)
