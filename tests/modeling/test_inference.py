"""Selective inference for the lasso: R's fixedLassoInf transcribed, closed forms, the event, simulation."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import numpy.typing as npt
import pytest
import scipy.sparse as sp
from scipy.stats import kstest, truncnorm
from sklearn.linear_model import Lasso

from service.errors import FitFailedError, ValidationError
from service.modeling import Family, FitOutcome, FitSpec, PathSpec, fit_model
from service.modeling.stats.inference import InferenceResult, lasso_inference, selective_inference
from service.modeling.stats.noise_level import SigmaMethod

Array = npt.NDArray[np.float64]


def _spec(alpha: float | None = 0.1, **kw: object) -> FitSpec:
    base = FitSpec(family=Family.GAUSSIAN, l1_ratio=1.0, alpha=alpha, path=PathSpec(), cv=None, tol=1e-12)
    return replace(base, **kw)  # type: ignore[arg-type]


def _data(
    seed: int, n: int = 60, p: int = 8, beta: tuple[float, ...] = (1.0, -0.8, 0.4)
) -> tuple[Array, Array]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.5, 3.0, p) + rng.uniform(-2, 2, p)
    coef = np.zeros(p)
    coef[: len(beta)] = beta
    y = 3.0 + (X - X.mean(axis=0)) / X.std(axis=0) @ coef + rng.standard_normal(n)
    return np.asfortranarray(X), y


def _standardized(X: Array) -> Array:
    Z: Array = (X - X.mean(axis=0)) / X.std(axis=0)
    return Z


def _r_fixed_lasso_inf(Z: Array, y_c: Array, beta: Array, lam: Array, sigma: float) -> dict[str, Array]:
    """fixedLassoInf ("partial"), fixedLassoPoly, TG.limits as R writes them: n x n matrices, eigen pinv."""
    n = Z.shape[0]
    active = beta != 0
    XA = Z[:, active]
    e, v = np.linalg.eigh(XA.T @ XA)
    XAi = v @ np.diag(1 / e) @ v.T
    XAp = XAi @ XA.T
    signA, lamA = np.sign(beta[active]), lam[active]
    pen = lamA != 0
    A = -(np.diag(signA) @ XAp)[pen]
    b = -(np.diag(signA) @ XAi @ (signA * lamA))[pen]
    M = XAp
    out: dict[str, list[float]] = {"pv": [], "vlo": [], "vup": [], "coef0": []}
    for j in range(M.shape[0]):
        mj = np.linalg.norm(M[j])
        vj = signA[j] * M[j] / mj
        Sigma = sigma**2 * np.eye(n)
        var = vj @ Sigma @ vj
        cross = Sigma @ vj
        resid = (np.eye(n) - np.outer(cross / var, vj)) @ y_c
        rho = A @ cross / var
        with np.errstate(divide="ignore", invalid="ignore"):
            vec = (b - A @ resid) / rho
        vlo = vec[rho < 0].max() if np.any(rho < 0) else -np.inf
        vup = vec[rho > 0].min() if np.any(rho > 0) else np.inf
        sd, est = math.sqrt(var), vj @ y_c
        out["pv"].append(truncnorm.sf(est / sd, vlo / sd, vup / sd))
        out["vlo"].append(vlo * mj)
        out["vup"].append(vup * mj)
        out["coef0"].append(M[j] @ y_c)
    return {k: np.array(v) for k, v in out.items()}


@pytest.mark.parametrize("unpenalized", [False, True])
def test_inference_matches_literal_transcription_of_fixed_lasso_inf(unpenalized: bool) -> None:
    X, y = _data(1)
    pf = (0.0,) + (1.0,) * 7 if unpenalized else None
    spec = _spec(0.15, penalty_factors=pf)
    outcome = fit_model(X, y, spec)
    result = selective_inference(X, y, spec, outcome, sigma=1.3)
    Z, scale, n = _standardized(X), X.std(axis=0), X.shape[0]
    lam = n * 0.15 * (np.array(pf) if pf else np.ones(8))
    ref = _r_fixed_lasso_inf(Z, y - y.mean(), outcome.coef[:, 0] * scale, lam, 1.3)
    sel = result.selected
    np.testing.assert_array_equal(sel, np.flatnonzero(outcome.coef[:, 0]))
    assert sel.size >= 3 and (0 in sel if unpenalized else True)
    np.testing.assert_allclose(result.p_value_one_sided, ref["pv"], rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(result.coefficient, ref["coef0"] / scale[sel], rtol=1e-10)
    # R reports [V-, V+] for sign * coefficient; ours are for the coefficient itself.
    s = result.signs
    lo_r = np.where(s > 0, ref["vlo"], -ref["vup"]) / scale[sel]
    hi_r = np.where(s > 0, ref["vup"], -ref["vlo"]) / scale[sel]
    np.testing.assert_allclose(result.truncation_lower, lo_r, rtol=1e-8)
    np.testing.assert_allclose(result.truncation_upper, hi_r, rtol=1e-8)
    if unpenalized:
        # No sign constraint for the unpenalized column, and its own row is gone from A.
        assert result.truncation_lower[0] < result.coefficient[0] < result.truncation_upper[0]


def test_orthogonal_design_truncates_at_alpha_by_hand() -> None:
    # Z'Z = n I: the lasso soft-thresholds z_j'y / n at alpha, so a selected coefficient's
    # least-squares estimate is N(theta_j, sigma^2 / n) truncated to [alpha, inf) (sign +) or
    # (-inf, -alpha] (sign -): no other constraint involves it.
    rng = np.random.default_rng(7)
    n, p, alpha, sigma = 80, 6, 0.12, 1.0
    Q, _ = np.linalg.qr(rng.standard_normal((n, p)) - rng.standard_normal((n, p)).mean(axis=0))
    Q = np.linalg.qr(Q - Q.mean(axis=0))[0] * math.sqrt(n)
    X = np.asfortranarray(Q * np.arange(1, p + 1) + 5.0)  # scaled and shifted: standardize undoes it
    y = Q @ np.array([0.5, -0.3, 0.1, 0.0, 0.0, 0.0]) + sigma * rng.standard_normal(n)
    spec = _spec(alpha)
    result = selective_inference(X, y, spec, fit_model(X, y, spec), sigma=sigma)
    z = Q.T @ (y - y.mean()) / n
    expected_sel = np.flatnonzero(np.abs(z) > alpha)
    np.testing.assert_array_equal(result.selected, expected_sel)
    scale = np.arange(1, p + 1)[expected_sel]
    s, se = np.sign(z[expected_sel]), sigma / math.sqrt(n)
    np.testing.assert_allclose(result.coefficient * scale, z[expected_sel], rtol=1e-10)
    np.testing.assert_allclose(result.std_error * scale, se, rtol=1e-10)
    np.testing.assert_allclose(result.truncation_lower * scale, np.where(s > 0, alpha, -np.inf), rtol=1e-10)
    np.testing.assert_allclose(result.truncation_upper * scale, np.where(s > 0, np.inf, -alpha), rtol=1e-10)
    one_sided = truncnorm.sf(np.abs(z[expected_sel]) / se, alpha / se, np.inf)
    np.testing.assert_allclose(result.p_value_one_sided, one_sided, rtol=1e-9)
    np.testing.assert_allclose(result.p_value, 2 * np.minimum(one_sided, 1 - one_sided), rtol=1e-9)
    # The interval's ends put the observed estimate at the (1 -+ level)/2 quantiles.
    for j, k in enumerate(expected_sel):
        lo, hi = sorted((s[j] * result.lower[j] * scale[j], s[j] * result.upper[j] * scale[j]))
        a = lambda m: (alpha - m) / se  # noqa: E731
        assert truncnorm.sf((abs(z[k]) - lo) / se, a(lo), np.inf) == pytest.approx(0.025, abs=1e-8)
        assert truncnorm.sf((abs(z[k]) - hi) / se, a(hi), np.inf) == pytest.approx(0.975, abs=1e-8)


def _sklearn_selects(Z: Array, y: Array, alpha: float) -> Array:
    lasso = Lasso(alpha=alpha, fit_intercept=True, tol=1e-14, max_iter=1_000_000).fit(Z, y)
    return np.sign(lasso.coef_)


def test_truncation_limits_are_where_sklearn_changes_the_selection() -> None:
    X, y = _data(3)
    spec, alpha = _spec(0.12), 0.12
    result = selective_inference(X, y, spec, fit_model(X, y, spec), sigma=1.0)
    Z, scale = _standardized(X), X.std(axis=0)
    pattern = _sklearn_selects(Z, y, alpha)
    sel = result.selected
    M = np.linalg.pinv(Z[:, sel])  # rows: the contrasts of the partial coefficients
    checked = 0
    for j, k in enumerate(sel):
        direction = M[j] / (M[j] @ M[j])  # moves coefficient j's estimate by 1 (standardized)
        for end, outward in ((result.truncation_lower[j], -1.0), (result.truncation_upper[j], 1.0)):
            if not math.isfinite(end):
                continue
            for offset, same in ((-1e-3, True), (1e-3, False)):
                target = end + outward * offset * result.std_error[j]
                y_moved = y + (target - result.coefficient[j]) * scale[k] * direction
                assert np.array_equal(_sklearn_selects(Z, y_moved, alpha), pattern) == same
                checked += 1
    assert checked >= 2 * sel.size


def _simulate(reps: int, sigma: float | None, p: int = 10) -> tuple[list[float], list[bool]]:
    """One null p-value and one interval per replication.

    The interval is that of the first selected null feature when there is one (where ignoring the
    selection hurts most: naive 95% intervals cover 88% there), else of a random selected one;
    either choice depends on the selected set only, so the conditional guarantee applies.
    """
    beta, alpha, n = np.array([1.0, -0.8, 0.3]), 0.1, 100
    null_pvalues, covered = [], []
    spec = _spec(alpha)
    for rep in range(reps):
        rng = np.random.default_rng(1000 + rep)
        X = np.asfortranarray(rng.standard_normal((n, p)))
        mu = X[:, :3] @ beta
        y = mu + rng.standard_normal(n)
        result = selective_inference(X, y, spec, fit_model(X, y, spec), sigma=sigma)
        sel = result.selected
        if sel.size == 0:
            continue
        nulls = sel[sel >= 3]
        if np.all(np.isin([0, 1, 2], sel)) and nulls.size:  # every true effect in: null targets are 0
            null_pvalues.append(float(result.p_value[np.searchsorted(sel, nulls[0])]))
        j = int(np.searchsorted(sel, nulls[0])) if nulls.size else int(rng.integers(sel.size))
        Xc = X[:, sel] - X[:, sel].mean(axis=0)
        target = np.linalg.lstsq(Xc, mu - mu.mean(), rcond=None)[0][j]
        covered.append(bool(result.lower[j] <= target <= result.upper[j]))
    return null_pvalues, covered


@pytest.mark.parametrize("sigma", [1.0, None])
def test_null_pvalues_are_uniform_and_intervals_cover(sigma: float | None) -> None:
    null_pvalues, covered = _simulate(200, sigma)
    assert len(null_pvalues) >= 150
    assert kstest(null_pvalues, "uniform").pvalue > 0.01
    m, rate = len(covered), float(np.mean(covered))
    assert abs(rate - 0.95) <= 3 * math.sqrt(0.95 * 0.05 / m)


def test_sigma_estimate_is_least_squares_when_n_exceeds_p() -> None:
    X, y = _data(4)
    spec = _spec(0.1)
    result = selective_inference(X, y, spec, fit_model(X, y, spec))
    design = np.column_stack([np.ones(X.shape[0]), X])
    rss = float(np.sum((y - design @ np.linalg.lstsq(design, y, rcond=None)[0]) ** 2))
    assert result.sigma_method == SigmaMethod.OLS and result.sigma_df == 60 - 8 - 1
    assert result.sigma == pytest.approx(math.sqrt(rss / (60 - 8 - 1)), rel=1e-10)


@pytest.mark.slow
def test_sigma_estimate_by_cv_lasso_when_p_exceeds_n() -> None:
    estimates = []
    for seed in range(6):
        X, y = _data(seed, n=60, p=80, beta=(1.0, -1.0, 0.5))
        spec = _spec(0.2)
        result = selective_inference(X, y, spec, fit_model(X, y, spec))
        assert result.sigma_method == SigmaMethod.CV_LASSO and 0 < result.sigma_df < 60
        estimates.append(result.sigma)
    # The true sigma is 1; CV-lasso residuals are a little biased either way (Reid et al. 2016):
    # the mean of 6 estimates, each with an SD near 0.1, within 0.2 of it.
    assert abs(float(np.mean(estimates)) - 1.0) < 0.2


def test_sparse_design_gives_the_dense_answer() -> None:
    X, y = _data(5)
    X[np.abs(X) < 1.0] = 0.0
    spec = _spec(0.1)
    dense = selective_inference(X, y, spec, fit_model(X, y, spec))
    csc = sp.csc_matrix(X)
    sparse = selective_inference(csc, y, spec, fit_model(csc, y, spec))
    np.testing.assert_array_equal(sparse.selected, dense.selected)
    for field in ("coefficient", "p_value", "lower", "upper"):
        np.testing.assert_allclose(getattr(sparse, field), getattr(dense, field), rtol=1e-7)
    assert sparse.sigma == pytest.approx(dense.sigma, rel=1e-10)


def test_rescaling_a_column_rescales_its_coefficient_only() -> None:
    X, y = _data(6)
    spec = _spec(0.1)
    base = selective_inference(X, y, spec, fit_model(X, y, spec), sigma=1.0)
    X2 = X.copy(order="F")
    X2[:, 0] *= 1000.0
    moved = selective_inference(X2, y, spec, fit_model(X2, y, spec), sigma=1.0)
    np.testing.assert_allclose(moved.p_value, base.p_value, rtol=1e-7, atol=1e-12)
    assert moved.coefficient[0] == pytest.approx(base.coefficient[0] / 1000.0, rel=1e-8)
    assert moved.upper[0] == pytest.approx(base.upper[0] / 1000.0, rel=1e-6)


def test_inaccurate_solution_is_refit_once() -> None:
    X, y = _data(8)
    spec = _spec(0.1)
    good = fit_model(X, y, spec)
    coef = good.coef.copy()
    coef[np.flatnonzero(coef[:, 0] == 0)[0], 0] = 1e-3  # a spurious member of the support
    bad: FitOutcome = replace(good, coef=coef)
    result = selective_inference(X, y, spec, bad, sigma=1.0)
    expected = selective_inference(X, y, spec, good, sigma=1.0)
    assert result.refit and not expected.refit
    np.testing.assert_array_equal(result.selected, expected.selected)
    np.testing.assert_allclose(result.p_value, expected.p_value, rtol=1e-8)
    with pytest.raises(FitFailedError):
        lasso_inference(X, y, coef[:, 0], 0.1, sigma=1.0)


def test_checkpoint_reports_progress_and_can_cancel() -> None:
    X, y = _data(2)
    spec = _spec(0.1)
    outcome = fit_model(X, y, spec)
    seen: list[tuple[float, str]] = []
    result = selective_inference(X, y, spec, outcome, checkpoint=lambda f, s: seen.append((f, s)))
    assert [s for _, s in seen] == ["inference"] * result.selected.size
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and 0.0 <= seen[-1][0] < 1.0

    class Canceled(Exception):
        pass

    def cancel(fraction: float, stage: str) -> None:
        raise Canceled

    with pytest.raises(Canceled):
        selective_inference(X, y, spec, outcome, checkpoint=cancel)


def test_collinear_selection_is_refused() -> None:
    X, y = _data(8)
    X[:, 1] = X[:, 0]
    spec = _spec(0.1)
    coef = fit_model(X, y, spec).coef[:, 0].copy()
    total = coef[0] + coef[1]
    assert total > 0.5
    coef[[0, 1]] = total / 2  # as good a lasso solution: the split is arbitrary
    with pytest.raises(FitFailedError):
        lasso_inference(X, y, coef, 0.1, sigma=1.0)


def test_empty_selection_has_no_rows_but_a_sigma() -> None:
    X, y = _data(9)
    spec = _spec(100.0)
    result: InferenceResult = selective_inference(X, y, spec, fit_model(X, y, spec))
    assert result.selected.size == 0 and result.p_value.size == 0
    assert result.sigma > 0 and result.sigma_method == SigmaMethod.OLS


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"family": Family.BINOMIAL}, "family"),
        ({"l1_ratio": 0.5}, "penalty"),
        ({"alpha": None}, "alpha"),
        ({"upper_bounds": (1.0,) + (math.inf,) * 7}, "bounds"),
    ],
)
def test_unsupported_fits_are_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    X, y = _data(2)
    outcome = fit_model(X, y, _spec(0.1))
    with pytest.raises(ValidationError) as info:
        selective_inference(X, y, replace(_spec(0.1), **change), outcome)  # type: ignore[arg-type]
    assert info.value.extensions["errors"][0]["loc"] == ["body", field]


def test_weights_and_bad_options_are_refused() -> None:
    X, y = _data(2)
    spec = _spec(0.1)
    outcome = fit_model(X, y, spec)
    weights = np.ones(60)
    weights[0] = 2.0
    with pytest.raises(ValidationError):
        selective_inference(X, y, spec, outcome, sample_weight=weights)
    for options in ({"level": 1.0}, {"sigma": -1.0}, {"sigma": math.nan}):
        with pytest.raises(ValidationError):
            selective_inference(X, y, spec, outcome, **options)  # type: ignore[arg-type]
    # Equal weights are the unweighted fit: accepted.
    assert selective_inference(X, y, spec, outcome, sample_weight=np.full(60, 3.0)).selected.size > 0
