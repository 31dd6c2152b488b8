"""The group lasso (engine.group_solver) against a conic solver, the plain lasso, and its own rules."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from service.errors import ValidationError
from service.modeling import CVSpec, Family, FitSpec, PathSpec, fit_model
from service.modeling.engine import PathSolution, alpha_max, solve_path
from tests.modeling.conftest import Data
from tests.modeling.group_reference import FloatArray, GroupProblem, IntArray

# diabetes: age, sex, bmi, bp, s1..s6 -> {age, sex}, {bmi, bp}, {s1..s6}
DIABETES_GROUPS = np.array([0, 0, 1, 1, 2, 2, 2, 2, 2, 2], dtype=np.int64)
# breast cancer: 10 measurements, each as mean, standard error and worst -> one group per measurement
CANCER_GROUPS = np.arange(30, dtype=np.int64) % 10
TIGHT = 1e-12


def weighted_standardization(X: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean = w @ X / w.sum()
    sd = np.sqrt(w @ (X - mean) ** 2 / w.sum())
    return mean, sd


def solve(
    X: Any,
    y: Any,
    w: FloatArray,
    family: Family,
    l1: float,
    alphas: FloatArray,
    groups: IntArray | None,
    **kw: Any,
) -> PathSolution:
    mean, sd = weighted_standardization(X.toarray() if sp.issparse(X) else X, w)
    return solve_path(
        X, y, w, family, l1, alphas, True, kw.pop("tol", TIGHT), 100_000, center=mean, scale=sd,
        n_classes=1 if family == Family.GAUSSIAN else 2, groups=groups, **kw,
    )  # fmt: skip


def group_alpha_max(
    X: FloatArray, y: Any, w: FloatArray, family: Family, l1: float, groups: IntArray
) -> float:
    mean, sd = weighted_standardization(X, w)
    k = 1 if family == Family.GAUSSIAN else 2
    return alpha_max(X, y, w, family, l1, True, k, center=mean, scale=sd, groups=groups)


def reference(data: Data, w: FloatArray, binomial: bool, l1: float, groups: IntArray) -> GroupProblem:
    mean, sd = weighted_standardization(data.X, w)
    y = np.asarray(data.y, dtype=np.float64)
    return GroupProblem((data.X - mean) / sd, y, w, groups, binomial, l1)


@pytest.mark.parametrize("l1", [1.0, 0.5])
@pytest.mark.parametrize("weighted", [False, True])
def test_group_lasso_gaussian_matches_cvxpy(diabetes: Data, l1: float, weighted: bool) -> None:
    n = diabetes.X.shape[0]
    w = np.random.default_rng(3).uniform(0.2, 2.0, n) if weighted else np.ones(n)
    ref = reference(diabetes, w, False, l1, DIABETES_GROUPS)
    top = group_alpha_max(diabetes.X, diabetes.y, w, Family.GAUSSIAN, l1, DIABETES_GROUPS)
    alphas = top * np.array([0.5, 0.1, 0.01, 0.001])
    path = solve(diabetes.X, diabetes.y, w, Family.GAUSSIAN, l1, alphas, DIABETES_GROUPS)
    assert path.converged.all()
    for i, alpha in enumerate(alphas):
        b0, b = float(path.intercept[i, 0]), path.coef[i, :, 0]
        c0, c = ref.solve_cvxpy(float(alpha))
        ours, theirs = ref.objective(alpha, b0, b), ref.objective(alpha, c0, c)
        # Ours is the more exact: at most rounding above the conic solver's value.
        assert ours <= theirs + 1e-10 * abs(theirs)
        assert abs(ours - theirs) <= 1e-8 * abs(theirs)
        # Clarabel's coefficients are only good to ~1e-4 here (diabetes' s1..s6 are nearly
        # collinear: a flat objective); Newton on its support makes them exact.
        assert np.max(np.abs(b - c)) <= 1e-3 * max(1.0, np.max(np.abs(c)))
        p0, pc = ref.polished(float(alpha), c0, c)
        assert np.max(np.abs(b - pc)) <= 1e-6 * max(1.0, np.max(np.abs(pc)))
        assert abs(b0 - p0) <= 1e-6 * max(1.0, abs(p0))
        assert ref.kkt(alpha, b0, b) <= 1e-8 * np.sqrt(np.var(diabetes.y))


@pytest.mark.parametrize("l1", [1.0, 0.6])
def test_group_lasso_binomial_matches_cvxpy(breast_cancer: Data, l1: float) -> None:
    n = breast_cancer.X.shape[0]
    w = np.ones(n)
    ref = reference(breast_cancer, w, True, l1, CANCER_GROUPS)
    top = group_alpha_max(breast_cancer.X, breast_cancer.y, w, Family.BINOMIAL, l1, CANCER_GROUPS)
    alphas = top * np.array([0.5, 0.1, 0.02])
    path = solve(breast_cancer.X, breast_cancer.y, w, Family.BINOMIAL, l1, alphas, CANCER_GROUPS)
    assert path.converged.all()
    for i, alpha in enumerate(alphas):
        b0, b = float(path.intercept[i, 0]), path.coef[i, :, 0]
        c0, c = ref.solve_cvxpy(float(alpha))
        ours, theirs = ref.objective(alpha, b0, b), ref.objective(alpha, c0, c)
        assert ours <= theirs + 1e-10 * abs(theirs)
        assert abs(ours - theirs) <= 1e-8 * abs(theirs)
        assert np.max(np.abs(b - c)) <= 1e-6 * max(1.0, np.max(np.abs(c)))
        p0, pc = ref.polished(float(alpha), c0, c)
        assert np.max(np.abs(b - pc)) <= 1e-6 * max(1.0, np.max(np.abs(pc)))
        assert abs(b0 - p0) <= 1e-6 * max(1.0, abs(p0))
        assert ref.kkt(alpha, b0, b) <= 1e-9


@pytest.mark.parametrize("family", [Family.GAUSSIAN, Family.BINOMIAL])
def test_group_lasso_alpha_max_is_where_the_first_group_enters(
    diabetes: Data, breast_cancer: Data, family: Family
) -> None:
    data, groups = (
        (diabetes, DIABETES_GROUPS) if family == Family.GAUSSIAN else (breast_cancer, CANCER_GROUPS)
    )
    w = np.ones(data.X.shape[0])
    ref = reference(data, w, family == Family.BINOMIAL, 0.8, groups)
    top = group_alpha_max(data.X, data.y, w, family, 0.8, groups)
    # The closed form: max_g ||grad_g|| / (sqrt|g| l1_ratio) at the intercept-only model.
    b0 = (
        float(np.mean(data.y))
        if family == Family.GAUSSIAN
        else float(np.log(data.y.mean() / (1 - data.y.mean())))
    )
    norms = np.sqrt(np.bincount(groups, weights=ref.gradient(b0, np.zeros(groups.shape[0])) ** 2))
    assert top == pytest.approx(float(np.max(norms / np.sqrt(np.bincount(groups)))) / 0.8, rel=1e-10)
    path = solve(data.X, data.y, w, family, 0.8, top * np.array([1.0, 0.99]), groups)
    assert np.all(path.coef[0] == 0.0)
    assert np.any(path.coef[1] != 0.0)


def assert_groups_in_or_out(coef: FloatArray, groups: IntArray) -> None:
    """Along the path every group is all zero or all nonzero, and some are in while others are out."""
    in_and_out = False
    for beta in coef:
        nonzero = np.bincount(groups, weights=(beta != 0.0).astype(np.float64))
        sizes = np.bincount(groups)
        assert np.all((nonzero == 0) | (nonzero == sizes))
        in_and_out |= bool(np.any(nonzero == 0) and np.any(nonzero == sizes))
    assert in_and_out


@pytest.mark.parametrize("family", [Family.GAUSSIAN, Family.BINOMIAL])
def test_group_lasso_groups_enter_and_leave_whole(
    diabetes: Data, breast_cancer: Data, family: Family
) -> None:
    data, groups = (
        (diabetes, DIABETES_GROUPS) if family == Family.GAUSSIAN else (breast_cancer, CANCER_GROUPS)
    )
    w = np.ones(data.X.shape[0])
    top = group_alpha_max(data.X, data.y, w, family, 1.0, groups)
    path = solve(data.X, data.y, w, family, 1.0, np.geomspace(top, top * 0.01, 30), groups, tol=1e-8)
    assert path.converged.all()
    assert_groups_in_or_out(path.coef[:, :, 0], groups)
    # The plain lasso on the same data does split these groups: the test can tell the difference.
    lasso = solve(data.X, data.y, w, family, 1.0, np.geomspace(top, top * 0.01, 30), None, tol=1e-8)
    with pytest.raises(AssertionError):
        assert_groups_in_or_out(lasso.coef[:, :, 0], groups)


@pytest.mark.parametrize("l1", [1.0, 0.5])
@pytest.mark.parametrize("family", [Family.GAUSSIAN, Family.BINOMIAL])
def test_group_lasso_singleton_groups_are_the_elastic_net(
    diabetes: Data, breast_cancer: Data, family: Family, l1: float
) -> None:
    data = diabetes if family == Family.GAUSSIAN else breast_cancer
    p = data.X.shape[1]
    w = np.ones(data.X.shape[0])
    singletons = np.arange(p, dtype=np.int64)
    top = group_alpha_max(data.X, data.y, w, family, l1, singletons)
    alphas = np.geomspace(top, top * 0.01, 12)
    grouped = solve(data.X, data.y, w, family, l1, alphas, singletons)
    # The coordinate-descent engine at its tightest tolerance (its gaussian gap is relative to y's
    # variance, so it is asked for far below what double precision reaches: it stops at rounding).
    plain = solve(
        data.X, data.y, w, family, l1, alphas, None, tol=1e-20 if family == Family.GAUSSIAN else TIGHT
    )
    assert grouped.converged.all()
    assert np.max(np.abs(grouped.coef - plain.coef)) <= 1e-8 * max(1.0, np.max(np.abs(plain.coef)))
    assert np.max(np.abs(grouped.intercept - plain.intercept)) <= 1e-8 * max(
        1.0, np.max(np.abs(plain.intercept))
    )


@pytest.mark.parametrize("family", [Family.GAUSSIAN, Family.BINOMIAL])
def test_group_lasso_weights_are_replicated_rows(diabetes: Data, breast_cancer: Data, family: Family) -> None:
    data, groups = (
        (diabetes, DIABETES_GROUPS) if family == Family.GAUSSIAN else (breast_cancer, CANCER_GROUPS)
    )
    n = data.X.shape[0]
    counts = np.random.default_rng(7).integers(0, 4, n).astype(np.float64)
    counts[0] = 1.0
    rows = np.repeat(np.arange(n), counts.astype(np.int64))
    top = group_alpha_max(data.X, data.y, counts, family, 1.0, groups)
    alphas = top * np.array([0.5, 0.1, 0.02])
    weighted = solve(data.X, data.y, counts, family, 1.0, alphas, groups)
    replicated = solve(
        np.asfortranarray(data.X[rows]), data.y[rows], np.ones(rows.shape[0]), family, 1.0, alphas, groups
    )
    assert np.max(np.abs(weighted.coef - replicated.coef)) <= 1e-8 * max(1.0, np.max(np.abs(replicated.coef)))
    assert np.allclose(weighted.intercept, replicated.intercept, rtol=1e-8, atol=1e-8)


def sparse_problem(binomial: bool) -> tuple[FloatArray, FloatArray, IntArray]:
    """A design with 80 % zeros, 12 groups of 1 to 4 columns, 3 of them in the truth."""
    rng = np.random.default_rng(11)
    n, sizes = 300, np.array([1, 2, 3, 4] * 3)
    groups = np.repeat(np.arange(sizes.shape[0]), sizes).astype(np.int64)
    X = rng.standard_normal((n, groups.shape[0])) * (rng.uniform(size=(n, groups.shape[0])) < 0.2)
    beta = np.where(np.isin(groups, [1, 5, 9]), rng.uniform(0.5, 1.5, groups.shape[0]), 0.0)
    eta = X @ beta
    y = (
        (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(np.float64)
        if binomial
        else eta + rng.standard_normal(n)
    )
    return np.asfortranarray(X), y, groups


@pytest.mark.parametrize("family", [Family.GAUSSIAN, Family.BINOMIAL])
def test_group_lasso_sparse_design_gives_the_dense_path(family: Family) -> None:
    X, y, groups = sparse_problem(family == Family.BINOMIAL)
    w = np.random.default_rng(5).uniform(0.5, 1.5, X.shape[0])
    target = y if family == Family.GAUSSIAN else y.astype(np.int64)
    top = group_alpha_max(X, target, w, family, 0.9, groups)
    alphas = np.geomspace(top, top * 0.01, 15)
    dense = solve(X, target, w, family, 0.9, alphas, groups)
    sparse = solve(sp.csc_matrix(X), target, w, family, 0.9, alphas, groups)
    assert dense.converged.all() and sparse.converged.all()
    assert np.max(np.abs(dense.coef - sparse.coef)) <= 1e-9 * max(1.0, np.max(np.abs(dense.coef)))
    assert np.allclose(dense.intercept, sparse.intercept, rtol=1e-9, atol=1e-9)


def test_group_lasso_unpenalized_group_is_always_in(diabetes: Data) -> None:
    factors = np.where(DIABETES_GROUPS == 0, 0.0, 1.0)  # age and sex unpenalized
    w = np.ones(diabetes.X.shape[0])
    mean, sd = weighted_standardization(diabetes.X, w)
    kw: dict[str, Any] = {"center": mean, "scale": sd, "penalty_factors": factors, "groups": DIABETES_GROUPS}
    top = alpha_max(diabetes.X, diabetes.y, w, Family.GAUSSIAN, 1.0, True, **kw)
    path = solve_path(
        diabetes.X,
        diabetes.y,
        w,
        Family.GAUSSIAN,
        1.0,
        top * np.array([1.0, 0.3]),
        True,
        TIGHT,
        100_000,
        **kw,
    )
    assert np.all(path.coef[:, :2, 0] != 0.0)
    assert np.all(path.coef[0, 2:, 0] == 0.0)
    # At alpha_max the unpenalized group is the least-squares fit on age and sex alone.
    Z = np.column_stack([np.ones(w.shape[0]), (diabetes.X[:, :2] - mean[:2]) / sd[:2]])
    ols = np.linalg.lstsq(Z, diabetes.y, rcond=None)[0]
    assert np.allclose(path.coef[0, :2, 0], ols[1:], rtol=1e-9)


def group_spec(family: Family, **kw: Any) -> FitSpec:
    groups = tuple(int(g) for g in (DIABETES_GROUPS if family == Family.GAUSSIAN else CANCER_GROUPS))
    base: dict[str, Any] = {
        "family": family, "l1_ratio": 1.0, "alpha": None, "path": PathSpec(n_alphas=20, alpha_min_ratio=0.01),
        "cv": CVSpec(n_folds=5, seed=1), "groups": groups,
    }  # fmt: skip
    return FitSpec(**{**base, **kw})


@pytest.mark.parametrize("family", [Family.GAUSSIAN, Family.BINOMIAL])
def test_group_lasso_fit_model_cross_validates(diabetes: Data, breast_cancer: Data, family: Family) -> None:
    data = diabetes if family == Family.GAUSSIAN else breast_cancer
    spec = group_spec(family)
    groups = np.asarray(spec.groups, dtype=np.int64)
    outcome = fit_model(data.X, data.y, spec)
    path = outcome.path
    assert outcome.selection is not None and outcome.cv is not None
    assert outcome.selection.alpha_min in path.alphas and outcome.alpha in path.alphas
    assert path.converged.all()
    assert np.all(path.coef[0] == 0.0) and np.any(
        path.coef[1] != 0.0
    )  # the grid starts at the group alpha_max
    assert_groups_in_or_out(path.coef[:, :, 0], groups)
    # Coefficients come back on the original scale: the standardized ones divided by the column SD.
    assert np.allclose(path.coef, path.coef_std / data.X.std(axis=0)[np.newaxis, :, np.newaxis], rtol=1e-12)
    assert np.all(np.isfinite(outcome.cv.curves[0].mean))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"family": Family.MULTINOMIAL}, "groups"),
        ({"l1_ratio": 0.0}, "l1_ratio"),
        ({"cv": CVSpec(n_folds=3, l1_ratios=(0.5, 0.0))}, "cv.l1_ratios"),
        ({"lower_bounds": (-1.0,) * 10}, "bounds"),
        ({"penalty_factors": (1.0, 2.0) + (1.0,) * 8}, "penalty_factors"),
        ({"groups": (0, 0, 1)}, "groups"),
        ({"groups": (0, 0, 2, 2, 2, 2, 2, 2, 2, 2)}, "groups"),
    ],
)
def test_group_lasso_refuses_what_it_cannot_fit(diabetes: Data, change: dict[str, Any], field: str) -> None:
    spec = replace(group_spec(Family.GAUSSIAN), **change)
    y = diabetes.y if spec.family == Family.GAUSSIAN else (diabetes.y > 140).astype(np.int64)
    with pytest.raises(ValidationError) as raised:
        fit_model(diabetes.X, y, spec)
    assert raised.value.extensions["errors"][0]["loc"] == ["body", *field.split(".")]


def test_group_lasso_engine_refuses_with_value_errors(diabetes: Data) -> None:
    X, w = diabetes.X, np.ones(diabetes.X.shape[0])
    codes = (diabetes.y > 140).astype(np.int64) + (diabetes.y > 200).astype(np.int64)
    alphas = np.array([1.0])
    with pytest.raises(ValueError, match="multinomial"):
        solve_path(
            X, codes, w, Family.MULTINOMIAL, 1.0, alphas, True, 1e-6, 100, n_classes=3, groups=DIABETES_GROUPS
        )
    with pytest.raises(ValueError, match="l1_ratio"):
        solve_path(X, diabetes.y, w, Family.GAUSSIAN, 0.0, alphas, True, 1e-6, 100, groups=DIABETES_GROUPS)
    with pytest.raises(ValueError, match="bounds"):
        solve_path(
            X,
            diabetes.y,
            w,
            Family.GAUSSIAN,
            1.0,
            alphas,
            True,
            1e-6,
            100,
            upper=np.ones(10),
            groups=DIABETES_GROUPS,
        )


class Canceled(Exception):
    pass


def test_group_lasso_reports_progress_and_honours_cancel(diabetes: Data) -> None:
    calls: list[tuple[float, str]] = []
    fit_model(
        diabetes.X, diabetes.y, group_spec(Family.GAUSSIAN), checkpoint=lambda f, s: calls.append((f, s))
    )
    fractions = [f for f, _ in calls]
    assert {"path", "cv"} <= {s for _, s in calls}
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # Within the full-data path (before its end is reported) the solver reports per block of alphas.
    assert any(s == "path" and 0.0 < f < 1.0 / 6 for f, s in calls)

    def cancel(fraction: float, stage: str) -> None:
        if stage == "cv":
            raise Canceled

    with pytest.raises(Canceled):
        fit_model(diabetes.X, diabetes.y, group_spec(Family.GAUSSIAN), checkpoint=cancel)


def test_group_lasso_feature_budget_stops_the_path(diabetes: Data) -> None:
    spec = replace(group_spec(Family.GAUSSIAN), cv=None, max_features=4)
    outcome = fit_model(diabetes.X, diabetes.y, spec)
    selected = np.count_nonzero(outcome.path.coef[:, :, 0], axis=1)
    assert selected.max() <= 4
    assert outcome.path.alphas.shape[0] < spec.path.n_alphas  # stopped before the 6-column group
    assert_groups_in_or_out(outcome.path.coef[:, :, 0], DIABETES_GROUPS)
