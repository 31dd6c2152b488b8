"""The truncated normal pivot: against scipy's truncnorm, a tail closed form, and its inversion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm, truncnorm

from service.modeling.stats.truncated_normal import log_gauss_mass, pivot_root, survival

CASES = [
    # z, mean, sd, lower, upper
    (0.3, 0.0, 1.0, -1.0, 2.0),
    (1.5, 0.5, 2.0, -math.inf, 4.0),
    (2.5, 1.0, 0.5, 2.0, math.inf),
    (31.0, 0.0, 1.0, 30.0, math.inf),  # far right tail: pnorm's ratio is 0/0 there
    (-31.0, 0.0, 1.0, -math.inf, -30.0),
    (40.5, 0.0, 1.0, 40.0, 41.0),
    (5.0, -30.0, 2.0, 3.0, math.inf),
    (-0.2, 0.0, 1.0, -0.4, 0.6),
]


@pytest.mark.parametrize(("z", "mean", "sd", "lower", "upper"), CASES)
def test_survival_matches_scipy_truncnorm(
    z: float, mean: float, sd: float, lower: float, upper: float
) -> None:
    expected = truncnorm.sf((z - mean) / sd, (lower - mean) / sd, (upper - mean) / sd)
    assert survival(z, mean, sd, lower, upper) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_survival_right_tail_matches_mills_ratio_where_pnorm_fails() -> None:
    # Q(x) = phi(x) / x * (1 - 1/x^2 + 3/x^4 - 15/x^6 + ...): relative error < 105 / x^8 at x >= 30.
    def upper_tail(x: float) -> float:
        return norm.pdf(x) / x * (1 - 1 / x**2 + 3 / x**4 - 15 / x**6)

    expected = upper_tail(38.0) / upper_tail(37.0)
    with np.errstate(invalid="ignore"):
        naive = (1 - norm.cdf(38.0)) / (1 - norm.cdf(37.0))
    assert math.isnan(naive)  # the plain formula R tries first gives 0/0 here
    assert survival(38.0, 0.0, 1.0, 37.0, math.inf) == pytest.approx(expected, rel=1e-9)


def test_survival_reflects_about_the_mean() -> None:
    # P(Z > z | [a, b]) = 1 - P(Z > -z | [-b, -a]) for Z ~ N(0, 1). Far out the log masses are
    # near -300, so a ratio near 1 carries an absolute error of a few hundred ulps of 1.
    for z, a, b in [(0.7, -0.5, 3.0), (25.0, 24.0, 26.0), (-3.0, -math.inf, 2.0)]:
        assert survival(z, 0.0, 1.0, a, b) == pytest.approx(1.0 - survival(-z, 0.0, 1.0, -b, -a), abs=1e-13)


def test_log_gauss_mass_of_the_whole_line_is_zero_and_of_an_empty_window_minus_inf() -> None:
    assert log_gauss_mass(-math.inf, math.inf) == pytest.approx(0.0, abs=1e-15)
    assert log_gauss_mass(1.0, 1.0) == -math.inf
    assert log_gauss_mass(-1.0, 1.0) == pytest.approx(math.log(norm.cdf(1) - norm.cdf(-1)), rel=1e-14)


def test_survival_increases_with_the_mean() -> None:
    means = np.linspace(-20.0, 20.0, 81)
    values = [survival(1.2, m, 1.0, 0.5, math.inf) for m in means]
    assert np.all(np.diff(values) >= 0)
    assert values[0] < 1e-6 and values[-1] > 1 - 1e-12


def test_pivot_root_solves_the_pivot_equation() -> None:
    for target in (0.025, 0.5, 0.975):
        root = pivot_root(1.2, 1.0, 0.5, math.inf, target, span=100.0)
        assert math.isfinite(root)
        assert survival(1.2, root, 1.0, 0.5, math.inf) == pytest.approx(target, abs=1e-10)


def test_pivot_root_is_infinite_beyond_the_span() -> None:
    # Just above a lower truncation point the lower confidence bound runs off far to the left.
    assert pivot_root(0.5001, 1.0, 0.5, math.inf, 0.025, span=100.0) == -math.inf
    assert pivot_root(0.5001, 1.0, 0.5, math.inf, 0.025, span=1e6) > -1e6
