"""The knockoff filter: construction identities, the SDP against its dual, the threshold and the FDR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse as sp

from service.errors import InvalidDataError, JobCanceledError, ValidationError
from service.modeling.stats.knockoff_construction import (
    PSD_TOLERANCE,
    equicorrelated_s,
    fixed_x_knockoffs,
    model_x_knockoffs,
    sdp_dual_bound,
    sdp_s,
    smallest_eigenvalue,
)
from service.modeling.stats.knockoffs import (
    Construction,
    KnockoffMethod,
    KnockoffResult,
    knockoff_filter,
    knockoff_threshold,
)

FloatArray = npt.NDArray[np.float64]


def ar1(p: int, rho: float) -> FloatArray:
    index = np.arange(p)
    return np.asarray(rho ** np.abs(np.subtract.outer(index, index)), dtype=np.float64)


def random_correlation(p: int, seed: int) -> FloatArray:
    rng = np.random.default_rng(seed)
    return np.asarray(np.corrcoef(rng.standard_normal((2 * p, p)).T), dtype=np.float64)


def centred_unit(X: FloatArray) -> FloatArray:
    centred = X - X.mean(axis=0)
    return np.asarray(centred / np.linalg.norm(centred, axis=0), dtype=np.float64)


# --- the threshold ------------------------------------------------------------------------------


def test_knockoff_threshold_knockoff_plus_hand_worked() -> None:
    W = [5.0, 4.0, 3.0, 2.0, 1.0, -0.5]
    # t = 0.5: (1 + 1) / 5 = 0.4 > 0.2;  t = 1: (1 + 0) / 5 = 0.2 <= 0.2.
    assert knockoff_threshold(W, 0.2, offset=1) == 1.0
    # Without the +1, t = 0.5 already passes: (0 + 1) / 5 = 0.2.
    assert knockoff_threshold(W, 0.2, offset=0) == 0.5


def test_knockoff_threshold_needs_one_over_q_positives_for_knockoff_plus() -> None:
    # All positive: the ratio is 1 / #{W >= t}, at most q only with at least 1/q = 10 positives.
    assert knockoff_threshold(np.arange(1.0, 10.0), 0.1) == float("inf")
    assert knockoff_threshold(np.arange(1.0, 11.0), 0.1) == 1.0
    assert knockoff_threshold(np.arange(1.0, 10.0), 0.1, offset=0) == 1.0


def test_knockoff_threshold_ignores_zeros_and_counts_ties() -> None:
    # Zeros are no candidate t. t = 1: -1 counts as a negative, ratio (1 + 1) / 3 > 0.5;
    # t = 2: (1 + 0) / 2 = 0.5 passes.
    assert knockoff_threshold([0.0, 0.0, 1.0, -1.0, 2.0, 2.0], 0.5) == 2.0
    assert knockoff_threshold([0.0, 0.0], 0.5) == float("inf")
    # No t qualifies: every ratio is 1.
    assert knockoff_threshold([1.0, -1.0, 2.0], 0.1) == float("inf")


# --- the s vector --------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [random_correlation(40, 0), random_correlation(80, 1), ar1(60, 0.6)])
def test_sdp_s_reaches_its_dual_bound_and_is_feasible(sigma: FloatArray) -> None:
    s = sdp_s(sigma)
    p = sigma.shape[0]
    assert np.all((s >= 0) & (s <= 1))
    assert smallest_eigenvalue(2 * sigma - np.diag(s)) >= -PSD_TOLERANCE
    # Weak duality: any dual point bounds the optimum; the barrier's leaves a gap of ~1e-6 p.
    assert sdp_dual_bound(sigma, s) - s.sum() <= 1e-4 * p
    assert s.sum() >= equicorrelated_s(sigma).sum() - 1e-9


def test_sdp_s_known_solutions() -> None:
    np.testing.assert_allclose(sdp_s(np.eye(7)), np.ones(7), atol=1e-5)
    # Equicorrelated rho: symmetric, so the optimum is s_j = 2 lambda_min = 2 (1 - rho) everywhere;
    # a block-diagonal Sigma splits into its blocks.
    block = (1 - 0.7) * np.eye(4) + 0.7
    other = (1 - 0.2) * np.eye(3) + 0.2
    sigma = np.block([[block, np.zeros((4, 3))], [np.zeros((3, 4)), other]])
    np.testing.assert_allclose(sdp_s(sigma), [0.6] * 4 + [1.0] * 3, atol=1e-5)


def test_equicorrelated_s_is_twice_the_smallest_eigenvalue() -> None:
    sigma = ar1(30, 0.5)
    s = equicorrelated_s(sigma)
    lam_min = np.linalg.eigvalsh(sigma)[0]
    np.testing.assert_allclose(s, min(2 * lam_min, 1.0), rtol=1e-9)
    assert smallest_eigenvalue(2 * sigma - np.diag(s)) >= -PSD_TOLERANCE


# --- the constructions ---------------------------------------------------------------------------


@pytest.mark.parametrize("choose_s", [equicorrelated_s, sdp_s])
def test_fixed_x_knockoffs_satisfy_the_gram_conditions(choose_s: object) -> None:
    rng = np.random.default_rng(3)
    n, p = 45, 12
    X = centred_unit(rng.standard_normal((n, p)) @ np.linalg.cholesky(ar1(p, 0.5)).T)
    sigma = X.T @ X
    s = choose_s(sigma)  # type: ignore[operator]
    knockoffs = fixed_x_knockoffs(X, s, np.random.default_rng(0))
    np.testing.assert_allclose(knockoffs.T @ knockoffs, sigma, atol=1e-8)
    np.testing.assert_allclose(X.T @ knockoffs, sigma - np.diag(s), atol=1e-8)
    np.testing.assert_allclose(knockoffs.sum(axis=0), 0.0, atol=1e-8)
    # ||X_j - X~_j||^2 = 2 s_j: a real construction, not X~ = X (the SDP may set some s_j to 0).
    np.testing.assert_allclose(((X - knockoffs) ** 2).sum(axis=0), 2 * s, atol=1e-8)
    assert s.sum() > 0.25 * p


@pytest.mark.parametrize("choose_s", [equicorrelated_s, sdp_s])
def test_model_x_knockoffs_have_the_joint_covariance(choose_s: object) -> None:
    p, n = 5, 200_000
    sigma = ar1(p, 0.5)
    s = choose_s(sigma)  # type: ignore[operator]
    rng = np.random.default_rng(11)
    Z = rng.standard_normal((n, p)) @ np.linalg.cholesky(sigma).T
    joint = np.hstack([Z, model_x_knockoffs(Z, sigma, s, rng)])
    G = np.block([[sigma, sigma - np.diag(s)], [sigma - np.diag(s), sigma]])
    # Each entry of the empirical covariance has SD sqrt((G_ii G_jj + G_ij^2) / n) <= sqrt(2 / n);
    # 5 of those bounds all 55 entries with overwhelming probability.
    assert np.max(np.abs(joint.T @ joint / n - G)) <= 5 * np.sqrt(2 / n)


# --- the filter ----------------------------------------------------------------------------------


def simulate(
    n: int, p: int, k: int, amplitude: float, rho: float, seed: int
) -> tuple[FloatArray, FloatArray, set[int]]:
    """Rows N(0, AR(1) rho), k true columns of coefficient +-amplitude, unit Gaussian noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(ar1(p, rho)).T
    support = rng.choice(p, size=k, replace=False)
    beta = np.zeros(p)
    beta[support] = amplitude * rng.choice([-1.0, 1.0], size=k)
    y = X @ beta + rng.standard_normal(n)
    return np.asarray(X), np.asarray(y), {int(j) for j in support}


def false_discovery_and_power(result: KnockoffResult, truth: set[int]) -> tuple[float, float]:
    selected = {int(j) for j in result.selected}
    return len(selected - truth) / max(1, len(selected)), len(selected & truth) / len(truth)


@dataclass(frozen=True)
class Design:
    method: str
    n: int
    p: int
    k: int
    amplitude: float
    rho: float
    oracle: bool = False  # model-X with the rows' true covariance instead of the Ledoit-Wolf estimate


def fdr_and_power(design: Design, reps: int) -> tuple[float, float, float]:
    """Mean false discovery proportion, its Monte Carlo SE and mean power at q = 0.2.

    Three CV folds instead of five keep the test at about a second per replication;
    bench/knockoff_sim.py runs these designs with the defaults and 100+ replications.
    """
    fdps, powers = [], []
    for rep in range(reps):
        X, y, truth = simulate(design.n, design.p, design.k, design.amplitude, design.rho, seed=rep)
        covariance = ar1(design.p, design.rho) if design.oracle else None
        result = knockoff_filter(
            X,
            y,
            family="gaussian",
            fdr=0.2,
            method=design.method,
            seed=rep,
            cv_folds=3,
            covariance=covariance,
        )
        assert result.method == design.method
        fdp, power = false_discovery_and_power(result, truth)
        fdps.append(fdp)
        powers.append(power)
    return float(np.mean(fdps)), float(np.std(fdps, ddof=1) / np.sqrt(reps)), float(np.mean(powers))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("design", "reps"),
    [
        (Design("fixed-x", n=300, p=60, k=10, amplitude=0.3, rho=0.3), 40),
        # Sigma estimated (Ledoit-Wolf) where the estimate is adequate; at AR(1) 0.5 the shrunk
        # estimate misses the correlations and the FDR exceeds q (bench/knockoff_sim.py measures it),
        # so the theorem's setting, Sigma known, is checked there.
        (Design("model-x", n=200, p=150, k=20, amplitude=0.6, rho=0.3), 40),
        (Design("model-x", n=150, p=100, k=15, amplitude=0.5, rho=0.5, oracle=True), 30),
    ],
    ids=["fixed-x", "model-x-ledoit-wolf", "model-x-known-sigma"],
)
def test_knockoff_filter_controls_the_fdr(design: Design, reps: int) -> None:
    fdr, se, power = fdr_and_power(design, reps)
    assert fdr <= 0.2 + 2 * se
    assert power >= 0.5  # the filter selects: an empty selection would pass the FDR bound alone


def test_knockoff_filter_auto_chooses_by_shape() -> None:
    X, y, _ = simulate(130, 20, 4, 1.0, 0.3, seed=1)
    assert knockoff_filter(X, y, family="gaussian").method == KnockoffMethod.FIXED_X
    narrow = knockoff_filter(X[:40], y[:40], family="gaussian")
    assert narrow.method == KnockoffMethod.MODEL_X
    assert narrow.shrinkage is not None and 0 <= narrow.shrinkage <= 1
    weighted = knockoff_filter(X, y, family="gaussian", sample_weight=np.r_[np.ones(65), 2 * np.ones(65)])
    assert weighted.method == KnockoffMethod.MODEL_X


def test_knockoff_filter_known_covariance_is_model_x_and_checked() -> None:
    X, y, _ = simulate(130, 20, 4, 1.0, 0.3, seed=1)
    sigma = 4.0 * ar1(20, 0.3)  # a covariance: used as its correlation matrix
    result = knockoff_filter(X, y, family="gaussian", covariance=sigma)
    assert result.method == KnockoffMethod.MODEL_X and result.shrinkage is None
    np.testing.assert_allclose(result.s, sdp_s(ar1(20, 0.3)), atol=1e-9)
    with pytest.raises(ValueError, match="model-X"):
        knockoff_filter(X, y, family="gaussian", method="fixed-x", covariance=sigma)
    with pytest.raises(ValueError, match="symmetric"):
        knockoff_filter(X, y, family="gaussian", covariance=sigma[:5, :5])


def test_knockoff_filter_is_reproducible_for_a_seed() -> None:
    X, y, _ = simulate(120, 30, 5, 0.5, 0.3, seed=2)
    first = knockoff_filter(X, y, family="gaussian", method="model-x", seed=7)
    again = knockoff_filter(X, y, family="gaussian", method="model-x", seed=7)
    other = knockoff_filter(X, y, family="gaussian", method="model-x", seed=8)
    np.testing.assert_array_equal(first.statistics, again.statistics)
    np.testing.assert_array_equal(first.selected, again.selected)
    assert not np.array_equal(first.statistics, other.statistics)


def test_knockoff_filter_selects_strong_signals_and_reports_its_parts() -> None:
    X, y, truth = simulate(300, 40, 10, 1.0, 0.3, seed=4)
    result = knockoff_filter(X, y, family="gaussian", fdr=0.1, construction="equicorrelated")
    assert result.construction == Construction.EQUICORRELATED
    assert set(result.selected.tolist()) >= truth
    assert np.all(result.statistics[result.selected] >= result.threshold)
    assert result.statistics.shape == result.s.shape == (40,)
    assert result.alpha > 0


def test_knockoff_filter_sparse_design_is_densified_for_model_x() -> None:
    X, y, _ = simulate(100, 20, 4, 1.0, 0.0, seed=5)
    X[np.abs(X) < 0.5] = 0.0
    dense = knockoff_filter(X, y, family="gaussian", seed=3)
    sparse = knockoff_filter(sp.csc_matrix(X), y, family="gaussian", seed=3)
    assert sparse.method == KnockoffMethod.MODEL_X
    model_x = knockoff_filter(X, y, family="gaussian", method="model-x", seed=3)
    np.testing.assert_array_equal(sparse.statistics, model_x.statistics)
    assert dense.method == KnockoffMethod.FIXED_X
    with pytest.raises(ValidationError) as error:
        knockoff_filter(sp.csc_matrix(X), y, family="gaussian", method="fixed-x")
    assert error.value.extensions["errors"][0]["loc"] == ["body", "knockoffs", "method"]


def test_knockoff_filter_constant_column_gets_no_statistic() -> None:
    X, y, _ = simulate(200, 15, 3, 1.0, 0.0, seed=6)
    X[:, 4] = 2.5
    for method in ("fixed-x", "model-x"):
        result = knockoff_filter(X, y, family="gaussian", method=method)
        assert result.statistics[4] == 0.0 and result.s[4] == 0.0
        assert 4 not in result.selected
        assert np.count_nonzero(result.statistics) > 0


def test_knockoff_filter_binomial_uses_model_x() -> None:
    rng = np.random.default_rng(9)
    X = rng.standard_normal((300, 12))
    eta = 2.0 * X[:, 0] - 2.0 * X[:, 1]
    y = (rng.random(300) < 1 / (1 + np.exp(-eta))).astype(np.int64)
    result = knockoff_filter(X, y, family="binomial", fdr=0.5, offset=0)
    assert result.method == KnockoffMethod.MODEL_X
    assert result.statistics[0] > 0 and result.statistics[1] > 0


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"fdr": 0.0}, ["knockoffs", "fdr"]),
        ({"fdr": 1.0}, ["knockoffs", "fdr"]),
        ({"offset": 2}, ["knockoffs", "offset"]),
        ({"method": "exact"}, ["knockoffs", "method"]),
        ({"construction": "mvr"}, ["knockoffs", "construction"]),
        ({"family": "multinomial"}, ["family"]),
        ({"family": "binomial", "method": "fixed-x"}, ["knockoffs", "method"]),
        ({"method": "fixed-x", "rows": 40}, ["knockoffs", "method"]),
    ],
)
def test_knockoff_filter_refuses_bad_options_naming_the_field(
    options: dict[str, object], field: list[str]
) -> None:
    X, y, _ = simulate(60, 20, 3, 1.0, 0.0, seed=0)
    rows = int(options.pop("rows", 60))  # type: ignore[call-overload]
    arguments: dict[str, object] = {"family": "gaussian", **options}
    target = (y > 0).astype(np.int64) if arguments["family"] == "binomial" else y
    with pytest.raises(ValidationError) as error:
        knockoff_filter(X[:rows], target[:rows], **arguments)  # type: ignore[arg-type]
    assert error.value.extensions["errors"][0]["loc"] == ["body", *field]


def test_knockoff_filter_fixed_x_refuses_a_collinear_design() -> None:
    X, y, _ = simulate(100, 10, 3, 1.0, 0.0, seed=0)
    X[:, 9] = X[:, 0] - X[:, 1]
    with pytest.raises(InvalidDataError):
        knockoff_filter(X, y, family="gaussian", method="fixed-x")
    assert knockoff_filter(X, y, family="gaussian").method == KnockoffMethod.MODEL_X


def test_knockoff_filter_reports_progress_and_honours_cancel() -> None:
    X, y, _ = simulate(100, 10, 3, 1.0, 0.0, seed=0)
    seen: list[tuple[float, str]] = []
    knockoff_filter(
        X, y, family="gaussian", checkpoint=lambda fraction, stage: seen.append((fraction, stage))
    )
    fractions = [fraction for fraction, _ in seen]
    assert (
        seen[0][1] == "knockoffs" and fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    )

    def cancel(fraction: float, stage: str) -> None:
        raise JobCanceledError("canceled")

    with pytest.raises(JobCanceledError):
        knockoff_filter(X, y, family="gaussian", checkpoint=cancel)
