"""The solver engine against independent solvers: scikit-learn at tol 1e-12 and L-BFGS-B on a split-sign form.

Objectives are compared, each evaluated by ``engine_checks.objective`` (the documented objective,
never the engine's or scikit-learn's own): the engine may be better than the reference, but not
worse by more than ``REL`` relative. A reference that ends far above the engine did not converge,
which would make the comparison meaningless, so that is checked too.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression

from service.modeling.engine.solution import PathSolution
from tests.modeling.engine_checks import (
    EngineProblem,
    FloatArray,
    dataset,
    objective,
    reference_minimum,
    tight_tol,
    variant,
)

REL = 1e-6  # the engine's objective may exceed the reference's by this much, relative
REFERENCE_SLACK = 1e-4  # ... and be below it by at most this much (else the reference failed)


def assert_objective_matches(ours: float, reference: float, what: str) -> None:
    assert np.isfinite(ours), f"{what}: the engine's solution is infeasible or not finite"
    excess = (ours - reference) / abs(reference)
    assert excess <= REL, (
        f"{what}: engine objective {ours!r} exceeds the reference {reference!r} by {excess:.3e}"
    )
    assert excess >= -REFERENCE_SLACK, f"{what}: the reference {reference!r} did not converge (ours {ours!r})"


def engine_path(
    problem: EngineProblem, l1_ratio: float, down_to: float, n: int = 10
) -> tuple[FloatArray, PathSolution]:
    """A path from alpha_max down to ``down_to`` times it, at the tight tolerance."""
    start = problem.alpha_max(l1_ratio)
    alphas = np.geomspace(start, start * down_to, n)
    return alphas, problem.solve(l1_ratio, alphas, tight_tol(problem.family))


def sklearn_elastic_net(
    problem: EngineProblem, l1_ratio: float, alpha: float, **options: Any
) -> tuple[FloatArray, FloatArray]:
    """scikit-learn's ElasticNet (1/(2n) objective; sample_weight rescaled to sum to n, i.e. 1/(2W))."""
    model = ElasticNet(
        alpha=alpha,
        l1_ratio=l1_ratio,
        fit_intercept=problem.fit_intercept,
        tol=1e-12,
        max_iter=1_000_000,
        **options,
    )
    weighted = not np.all(problem.w == 1.0)
    model.fit(problem.X, problem.y, sample_weight=problem.w if weighted else None)
    return model.coef_[:, np.newaxis], np.atleast_1d(model.intercept_).astype(np.float64)


GAUSSIAN_CASES = [
    (name, variant_name)
    for name in ("diabetes", "dense_gaussian")
    for variant_name in ("plain", "weights", "no_intercept")
]


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize(("name", "variant_name"), GAUSSIAN_CASES)
def test_gaussian_matches_sklearn_elastic_net(name: str, variant_name: str, l1_ratio: float) -> None:
    problem = variant(dataset(name), variant_name)
    alphas, solution = engine_path(problem, l1_ratio, 1e-2)
    for i in (2, 5, 9):
        alpha = float(alphas[i])
        coef, intercept = sklearn_elastic_net(problem, l1_ratio, alpha)
        reference = objective(problem, l1_ratio, alpha, coef, intercept)
        ours = objective(problem, l1_ratio, alpha, solution.coef[i], solution.intercept[i])
        assert_objective_matches(ours, reference, f"alpha #{i} = {alpha:.6g}")
        # The optimum is unique here (strongly convex, or the lasso in general position): the
        # coefficients agree as well, to the precision the objective pins them down.
        scale = np.max(np.abs(coef))
        assert np.max(np.abs(solution.coef[i] - coef)) <= 1e-4 * scale


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("variant_name", ["plain", "weights"])
@pytest.mark.parametrize("name", ["diabetes", "dense_gaussian"])
def test_lasso_penalty_factors_equal_sklearn_on_rescaled_columns(
    name: str, variant_name: str, fit_intercept: bool
) -> None:
    """For the lasso, penalty factor pf_j > 0 is column x_j / pf_j with coefficient b_j = pf_j beta_j."""
    base = variant(dataset(name), variant_name).with_(fit_intercept=fit_intercept)
    pf = np.resize(np.array([0.5, 1.0, 3.0, 2.0, 0.25]), base.p)
    problem = base.with_(penalty_factors=pf)
    alphas, solution = engine_path(problem, 1.0, 1e-2)
    rescaled = base.with_(X=np.asfortranarray(np.asarray(base.X) / pf))
    for i in (1, 4, 9):
        alpha = float(alphas[i])
        model = Lasso(alpha=alpha, fit_intercept=fit_intercept, tol=1e-12, max_iter=1_000_000)
        weighted = not np.all(base.w == 1.0)
        model.fit(rescaled.X, rescaled.y, sample_weight=base.w if weighted else None)
        coef = (model.coef_ / pf)[:, np.newaxis]
        intercept = np.atleast_1d(model.intercept_).astype(np.float64)
        reference = objective(problem, 1.0, alpha, coef, intercept)
        ours = objective(problem, 1.0, alpha, solution.coef[i], solution.intercept[i])
        assert_objective_matches(ours, reference, f"alpha #{i} = {alpha:.6g}")
        assert np.max(np.abs(solution.coef[i] - coef)) <= 1e-4 * np.max(np.abs(coef))


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("name", ["diabetes", "dense_gaussian"])
def test_nonnegative_bounds_equal_sklearn_positive(name: str, l1_ratio: float) -> None:
    base = dataset(name)
    problem = base.with_(lower=np.zeros(base.p), upper=np.full(base.p, np.inf))
    alphas, solution = engine_path(problem, l1_ratio, 1e-2)
    assert np.all(solution.coef >= 0.0)
    for i in (2, 5, 9):
        alpha = float(alphas[i])
        coef, intercept = sklearn_elastic_net(problem, l1_ratio, alpha, positive=True)
        reference = objective(problem, l1_ratio, alpha, coef, intercept)
        ours = objective(problem, l1_ratio, alpha, solution.coef[i], solution.intercept[i])
        assert_objective_matches(ours, reference, f"alpha #{i} = {alpha:.6g}")
        assert np.max(np.abs(solution.coef[i] - coef)) <= 1e-4 * np.max(np.abs(coef))
    # The bound binds: unconstrained, some coefficients would be negative.
    unconstrained = base.solve(l1_ratio, alphas[-1:], tight_tol(base.family))
    assert np.any(unconstrained.coef < 0.0)


def sklearn_logistic(
    problem: EngineProblem, l1_ratio: float, alpha: float, rows: slice | None = None
) -> tuple[FloatArray, FloatArray]:
    """scikit-learn's saga (unpenalized intercept) run tight; C = 1/(W alpha) turns its summed,
    weighted loss into our weighted mean. Multinomial: K coefficient vectors, as ours."""
    model = LogisticRegression(
        l1_ratio=l1_ratio,
        C=1.0 / (float(problem.w.sum()) * alpha),
        solver="saga",
        fit_intercept=problem.fit_intercept,
        tol=1e-12,
        max_iter=200_000,
    )
    weighted = not np.all(problem.w == 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(problem.X, problem.y, sample_weight=problem.w if weighted else None)
    return model.coef_.T.astype(np.float64), np.atleast_1d(model.intercept_).astype(np.float64)


@pytest.mark.parametrize(
    ("variant_name", "l1_ratio", "alpha"),
    [
        ("plain", 1.0, 0.01),
        ("plain", 0.5, 0.01),
        ("weights", 1.0, 0.02),
        ("no_intercept", 1.0, 0.05),
        ("no_intercept", 0.5, 0.01),
    ],
)
def test_binomial_matches_sklearn_logistic_regression(
    variant_name: str, l1_ratio: float, alpha: float
) -> None:
    problem = variant(dataset("breast_cancer"), variant_name)
    start = problem.alpha_max(l1_ratio)
    alphas = np.geomspace(start, alpha, 6)
    solution = problem.solve(l1_ratio, alphas, tight_tol(problem.family))
    coef, intercept = sklearn_logistic(problem, l1_ratio, alpha)
    reference = objective(problem, l1_ratio, alpha, coef, intercept)
    ours = objective(problem, l1_ratio, alpha, solution.coef[-1], solution.intercept[-1])
    assert_objective_matches(ours, reference, f"alpha = {alpha}")
    assert 0 < np.count_nonzero(solution.coef[-1]) < problem.p


@pytest.mark.parametrize(("l1_ratio", "alpha"), [(1.0, 0.05), (1.0, 0.02), (0.5, 0.02)])
def test_multinomial_matches_sklearn_logistic_regression(l1_ratio: float, alpha: float) -> None:
    problem = dataset("wine")
    start = problem.alpha_max(l1_ratio)
    solution = problem.solve(l1_ratio, np.geomspace(start, alpha, 6), tight_tol(problem.family))
    coef, intercept = sklearn_logistic(problem, l1_ratio, alpha)
    assert coef.shape == (problem.p, 3)
    reference = objective(problem, l1_ratio, alpha, coef, intercept)
    ours = objective(problem, l1_ratio, alpha, solution.coef[-1], solution.intercept[-1])
    assert_objective_matches(ours, reference, f"alpha = {alpha}")


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("variant_name", ["penalty_factors", "combined", "combined_no_intercept"])
@pytest.mark.parametrize("name", ["diabetes", "breast_cancer", "wine"])
def test_penalty_factors_and_bounds_match_split_sign_reference(
    name: str, variant_name: str, l1_ratio: float
) -> None:
    """Where scikit-learn has no equivalent (pf = 0, pf with ridge, boxes, all of it in logistic
    models): L-BFGS-B on beta = b+ - b-, from the engine's answer (from which it can only descend)
    and, at the larger alpha, also from zero."""
    problem = variant(dataset(name), variant_name)
    alphas, solution = engine_path(problem, l1_ratio, 1e-2, n=8)
    for i in (2, 7):
        alpha = float(alphas[i])
        ours = objective(problem, l1_ratio, alpha, solution.coef[i], solution.intercept[i])
        engine_start = ((solution.coef[i], solution.intercept[i]),)
        reference = reference_minimum(problem, l1_ratio, alpha, engine_start, from_zero=i == 2)
        assert_objective_matches(ours, reference.value, f"alpha #{i} = {alpha:.6g}")
