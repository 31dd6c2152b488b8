"""Stability selection: its error bound holds in simulation, it finds strong signals, it is reproducible."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse as sp

from service.errors import ValidationError
from service.modeling import Family, FitSpec, PathSpec
from service.modeling.stats.stability import (
    MAX_DOCUMENT_PATHS,
    StabilityResult,
    stability_parameters,
    stability_selection,
)
from service.modeling.stats.stability_bounds import mb_bound, ss_rconcave_bound, ss_unimodal_bound
from service.modeling.stats.subsamples import class_strata, subsample_pairs

FloatArray = npt.NDArray[np.float64]
LASSO = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=25, alpha_min_ratio=0.01), None)


def _toeplitz_design(rng: np.random.Generator, n: int, p: int, rho: float) -> FloatArray:
    """Rows N(0, Sigma), Sigma_jk = rho^|j-k|: noise features next to true ones are correlated with them."""
    sigma = rho ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    return np.asfortranarray(rng.standard_normal((n, p)) @ np.linalg.cholesky(sigma).T)


def _sparse_signal(
    seed: int, n: int = 100, p: int = 50, s: int = 5, size: float = 1.0
) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    X = _toeplitz_design(rng, n, p, 0.5)
    beta = np.zeros(p)
    beta[np.arange(s) * (p // s)] = size  # spread out, each with correlated noise neighbours
    return X, X @ beta + rng.standard_normal(n)


def _truth(p: int = 50, s: int = 5) -> set[int]:
    return set((np.arange(s) * (p // s)).tolist())


# ---------------------------------------------------------------- the parameters and bounds, against stabs


def test_stability_parameters_follow_stabs_rules() -> None:
    # stabsel_parameters(p = 100, cutoff = 0.75, PFER = 1, assumption = "none"): q = floor(sqrt(50)).
    assert stability_parameters(100, 0.75, 1.0, None).q_target == 7.0
    # Only pfer: the cutoff defaults to 0.75; only threshold: PFER defaults to 1.
    assert stability_parameters(100, None, 2.0, None) == stability_parameters(100, 0.75, 2.0, None)
    assert stability_parameters(100, 0.9, None, None).q_target == math.floor(math.sqrt(0.8 * 100))
    # q and PFER give the cutoff (q^2 / (PFER p) + 1) / 2, capped at 1; q and cutoff give the bound.
    assert stability_parameters(100, None, 1.0, 8.0).threshold == pytest.approx(0.82)
    assert stability_parameters(100, None, 0.5, 10.0).threshold == 1.0
    assert stability_parameters(100, 0.6, None, 5.0).pfer == pytest.approx(1.25)  # stabs' regtest: 1.25


@pytest.mark.parametrize(
    ("q", "unimodal", "rconcave"),
    # stabs' tests/regtest-inference.Rout.save: stabsel_parameters(cutoff = 0.6, q, p = 100, B = 50,
    # sampling.type = "SS", assumption = "unimodal" / "r-concave"), printed to 3 significant digits.
    [(1, 0.0263, 0.00697), (2, 0.105, 0.0334), (3, 0.237, 0.0869), (5, 0.658, 0.261), (8, 1.68, 0.704)],
)
def test_shah_samworth_bounds_match_stabs(q: int, unimodal: float, rconcave: float) -> None:
    assert ss_unimodal_bound(q, 100, 0.6, 50) == pytest.approx(unimodal, rel=5e-3)
    assert ss_rconcave_bound(q, 100, 0.6, 50) == pytest.approx(rconcave, rel=5e-3)
    assert mb_bound(q, 100, 0.6) == pytest.approx(q * q / 20)


def test_rconcave_bound_matches_stabs_optimal_q_and_cutoff_checks() -> None:
    # The same file: minD(q, p = 200, cutoff, B = 50) * p for q = 6, 7 at 0.6 and q = 7 at 0.62, 0.61.
    assert ss_rconcave_bound(6, 200, 0.6, 50) == pytest.approx(0.174, abs=6e-4)
    assert ss_rconcave_bound(7, 200, 0.6, 50) == pytest.approx(0.248, abs=6e-4)
    assert ss_rconcave_bound(7, 200, 0.62, 50) == pytest.approx(0.196, abs=6e-4)
    assert ss_rconcave_bound(7, 200, 0.61, 50) == pytest.approx(0.219, abs=6e-4)


def test_shah_samworth_bounds_are_none_outside_their_range() -> None:
    # um_const stops with "cutoff out of bounds" below 1/2 + min(theta^2, 1/(2B) + 3/4 theta^2).
    assert ss_unimodal_bound(50, 100, 0.55, 50) is None
    # minD stops when q exceeds maxQ (here about p / sqrt(2)).
    assert ss_rconcave_bound(90, 100, 0.9, 50) is None


# ---------------------------------------------------------------- simulation with known truth


@pytest.mark.slow
def test_stability_false_selections_stay_within_the_pfer_bound() -> None:
    """E(V) <= q^2 / ((2 pi - 1) p) <= pfer: the mean number of noise features selected over 20
    seeded data sets stays below the mean bound plus 3 Monte Carlo standard errors (bench/selection_sim.py
    stability runs the larger version)."""
    truth = _truth()
    false_counts, bounds = [], []
    for rep in range(20):
        X, y = _sparse_signal(1000 + rep, size=0.6)
        result = stability_selection(X, y, LASSO, n_pairs=8, pfer=1.0, seed=rep)
        false_counts.append(len(set(result.selected.tolist()) - truth))
        bounds.append(result.pfer_bound_mb)
        assert result.pfer_bound_mb <= 1.0 + 1e-12
        assert result.q <= result.q_target
    errors = np.asarray(false_counts, dtype=np.float64)
    se = errors.std(ddof=1) / math.sqrt(errors.size)
    assert errors.mean() <= np.mean(bounds) + 3 * se + 1e-12
    # Not vacuous: the region does reach into the path, with several features per subsample.
    assert np.mean(bounds) > 0.5


def test_stability_finds_strong_signals_and_little_else() -> None:
    X, y = _sparse_signal(7, n=200, p=100, s=5, size=1.5)
    truth = _truth(100, 5)
    result = stability_selection(X, y, LASSO, n_pairs=20, pfer=1.0, seed=3)
    assert truth <= set(result.selected.tolist())
    assert np.all(result.max_probability[sorted(truth)] == 1.0)
    noise = np.setdiff1d(np.arange(100), sorted(truth))
    assert np.median(result.max_probability[noise]) < 0.2


def test_stability_path_is_consistent_with_its_own_quantities() -> None:
    X, y = _sparse_signal(11)
    result = stability_selection(X, y, LASSO, n_pairs=10, threshold=0.8, seed=0)
    n_sub = 20
    assert result.probabilities.shape == (50, result.alphas.shape[0])
    # Probabilities are counts over the 2B subsamples.
    np.testing.assert_allclose(
        result.probabilities * n_sub, np.round(result.probabilities * n_sub), atol=1e-9
    )
    assert np.all(np.diff(result.alphas) < 0)
    assert np.all(np.diff(result.q_path) >= 0)
    # The mean union size is at least the mean number selected at each alpha.
    assert np.all(result.q_path + 1e-12 >= result.probabilities.sum(axis=0))
    k = result.n_alphas_used
    assert 0 < k <= result.alphas.shape[0]
    assert (
        result.q_path[k - 1] <= result.q_target < (result.q_path[k] if k < result.q_path.shape[0] else np.inf)
    )
    np.testing.assert_array_equal(result.max_probability, result.probabilities[:, :k].max(axis=1))
    np.testing.assert_array_equal(result.selected, np.flatnonzero(result.max_probability >= 0.8))
    assert result.pfer == pytest.approx(1.0) and result.threshold == 0.8
    assert result.pfer_bound_mb == pytest.approx(result.q**2 / (0.6 * 50))


def test_stability_is_reproducible_and_the_seed_matters() -> None:
    X, y = _sparse_signal(5)
    first = stability_selection(X, y, LASSO, n_pairs=8, seed=4)
    again = stability_selection(X, y, LASSO, n_pairs=8, seed=4)
    other = stability_selection(X, y, LASSO, n_pairs=8, seed=5)
    np.testing.assert_array_equal(first.probabilities, again.probabilities)
    np.testing.assert_array_equal(first.selected, again.selected)
    assert not np.array_equal(first.probabilities, other.probabilities)


def test_stability_sparse_design_gives_the_dense_result() -> None:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((80, 30)) * (rng.random((80, 30)) < 0.3)
    y = X[:, :3] @ np.array([2.0, -2.0, 1.5]) + rng.standard_normal(80)
    tight = replace(LASSO, tol=1e-10)
    dense = stability_selection(np.asfortranarray(X), y, tight, n_pairs=6, seed=1)
    sparse = stability_selection(sp.csc_matrix(X), y, tight, n_pairs=6, seed=1)
    np.testing.assert_allclose(sparse.alphas, dense.alphas, rtol=1e-12)
    np.testing.assert_array_equal(sparse.probabilities, dense.probabilities)
    np.testing.assert_array_equal(sparse.selected, dense.selected)


@pytest.mark.slow
def test_stability_in_two_processes_gives_the_same_result() -> None:
    X, y = _sparse_signal(8)
    one = stability_selection(X, y, LASSO, n_pairs=4, seed=2)
    two = stability_selection(X, y, LASSO, n_pairs=4, seed=2, processes=2)
    np.testing.assert_array_equal(one.probabilities, two.probabilities)
    np.testing.assert_array_equal(one.q_path, two.q_path)


def test_stability_selects_original_features_over_their_columns() -> None:
    """A feature of two design columns is selected when either is: its probability is that of the
    union, at least each column's and at most their sum."""
    X, y = _sparse_signal(9, p=20, s=2)
    by_column = stability_selection(X, y, LASSO, n_pairs=6, seed=0)
    mapping = tuple(j // 2 for j in range(20))  # columns 2f and 2f+1 are feature f
    by_feature = stability_selection(X, y, replace(LASSO, column_features=mapping), n_pairs=6, seed=0)
    assert by_feature.probabilities.shape == (10, by_column.alphas.shape[0])
    pairs = by_column.probabilities.reshape(10, 2, -1)
    assert np.all(by_feature.probabilities >= pairs.max(axis=1) - 1e-12)
    assert np.all(by_feature.probabilities <= pairs.sum(axis=1) + 1e-12)
    assert np.any(by_feature.probabilities > pairs.max(axis=1))


def _classes(seed: int, k: int) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    X = np.asfortranarray(rng.standard_normal((150, 12)))
    eta = 2.5 * X[:, 0] - 2.5 * X[:, 1]
    cuts = [0.0] if k == 2 else [-1.0, 1.0]
    return X, np.digitize(eta + rng.logistic(size=150), cuts).astype(np.int64)


@pytest.mark.parametrize(("family", "k"), [(Family.BINOMIAL, 2), (Family.MULTINOMIAL, 3)])
def test_stability_classification_keeps_every_class_and_finds_the_signal(family: Family, k: int) -> None:
    X, y = _classes(4, k)
    spec = FitSpec(family, 1.0, None, PathSpec(n_alphas=12, alpha_min_ratio=0.05), None)
    result = stability_selection(X, y, spec, n_pairs=5, pfer=1.0, seed=0)
    assert {0, 1} <= set(result.selected.tolist())
    assert result.max_probability.shape == (12,)


def test_stability_weights_follow_their_rows() -> None:
    """Weights scaled by a constant change nothing; a weight pattern changes the fits."""
    X, y = _sparse_signal(6)
    w = np.random.default_rng(0).uniform(0.2, 2.0, X.shape[0])
    weighted = stability_selection(X, y, LASSO, n_pairs=5, seed=1, sample_weight=w)
    scaled = stability_selection(X, y, LASSO, n_pairs=5, seed=1, sample_weight=7 * w)
    plain = stability_selection(X, y, LASSO, n_pairs=5, seed=1)
    np.testing.assert_array_equal(weighted.probabilities, scaled.probabilities)
    assert not np.array_equal(weighted.probabilities, plain.probabilities)


def test_stability_reports_progress_and_lets_a_cancel_through() -> None:
    X, y = _sparse_signal(3)
    seen: list[tuple[float, str]] = []
    stability_selection(X, y, LASSO, n_pairs=3, seed=0, checkpoint=lambda f, s: seen.append((f, s)))
    fractions = [f for f, _ in seen]
    assert {s for _, s in seen} == {"stability"}
    assert fractions[-1] == 1.0 and all(0 <= f <= 1 for f in fractions)
    assert fractions == sorted(fractions)

    class Canceled(Exception):
        pass

    def cancel(fraction: float, stage: str) -> None:
        if fraction > 0.5:
            raise Canceled

    with pytest.raises(Canceled):
        stability_selection(X, y, LASSO, n_pairs=3, seed=0, checkpoint=cancel)


def test_stability_document_names_features_and_holds_the_path() -> None:
    X, y = _sparse_signal(12, n=150, size=1.5)
    result: StabilityResult = stability_selection(X, y, LASSO, n_pairs=5, seed=0)
    names = [f"x{j}" for j in range(50)]
    doc = result.document(names)
    assert doc["selected"] == [names[j] for j in result.selected]
    probabilities = [f["probability"] for f in doc["features"]]
    assert probabilities == sorted(probabilities, reverse=True) and len(probabilities) == 50
    assert doc["pfer_bound"] == result.pfer_bound_mb and doc["alphas_used"] == result.n_alphas_used
    for name in doc["selected"]:
        assert len(doc["paths"][name]) == len(doc["alphas"])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_pairs": 0}, "stability.n_pairs"),
        ({"fraction": 0.7}, "stability.fraction"),
        ({"fraction": 0.001}, "stability.fraction"),
        ({"threshold": 0.5}, "stability.threshold"),
        ({"threshold": 1.2}, "stability.threshold"),
        ({"pfer": 0.0}, "stability.pfer"),
        ({"pfer": math.nan}, "stability.pfer"),
        ({"q": 500.0}, "stability.q"),
        ({"threshold": 0.8, "pfer": 1.0, "q": 3.0}, "stability"),
        ({"processes": 0}, "processes"),
    ],
)
def test_stability_bad_arguments_raise_value_errors_naming_them(kwargs: dict[str, float], field: str) -> None:
    X, y = _sparse_signal(1, n=30, p=10, s=2)
    with pytest.raises(ValueError, match=f"^{field}: ") as caught:
        stability_selection(X, y, LASSO, **kwargs)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValidationError)  # answered as a 422 naming the field


def test_stability_refuses_a_ridge() -> None:
    X, y = _sparse_signal(1, n=30, p=10, s=2)
    with pytest.raises(ValueError, match=r"^l1_ratio: "):
        stability_selection(X, y, replace(LASSO, l1_ratio=0.0))


def test_subsample_pairs_are_disjoint_halves_within_each_class() -> None:
    labels = np.repeat([0, 1, 2], [41, 30, 9])
    groups = class_strata(Family.MULTINOMIAL, labels, None, 80)
    pairs = subsample_pairs(80, 20, 0.5, groups, 3, "stability.fraction")
    for first, second in pairs:
        assert np.intersect1d(first, second).size == 0
        for rows in (first, second):
            np.testing.assert_array_equal(np.bincount(labels[rows], minlength=3), [20, 15, 4])
    # Unstratified: floor(fraction * n) rows, every row used about equally often.
    plain = subsample_pairs(81, 200, 0.5, [np.arange(81)], 0, "stability.fraction")
    assert all(a.size == b.size == 40 for a, b in plain)
    uses = np.bincount(np.concatenate([np.concatenate(pair) for pair in plain]), minlength=81)
    assert uses.min() > 0.8 * uses.mean()


def test_document_keeps_the_stable_paths_and_caps_the_others() -> None:
    p, m = MAX_DOCUMENT_PATHS + 100, 4
    probabilities = np.tile(np.linspace(0.0, 0.01, p)[:, None], (1, m))
    probabilities[0], probabilities[1] = 1.0, 0.0
    result = StabilityResult(
        alphas=np.geomspace(1, 0.1, m), probabilities=probabilities, q_path=np.ones(m), n_alphas_used=m,
        max_probability=probabilities.max(axis=1), selected=np.array([0]), threshold=0.75, pfer=1.0,
        q=1.0, q_target=2.0, pfer_bound_mb=0.1, pfer_bound_ss=None, pfer_bound_rconcave=None,
        n_pairs=10, fraction=0.5, l1_ratio=1.0,
    )  # fmt: skip
    doc = result.document([f"f{j}" for j in range(p)])
    assert "f0" in doc["paths"] and len(doc["paths"]) == MAX_DOCUMENT_PATHS + 1
    # Feature 1 is never selected (probability 0): it is not a path; the 500 highest others are.
    assert doc["paths_left_out"] == p - 2 - MAX_DOCUMENT_PATHS
    assert "f1" not in doc["paths"] and f"f{p - 1}" in doc["paths"]
