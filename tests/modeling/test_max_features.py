"""max_features reaches its budget: the bisected alpha against LARS's exact knots, on every family.

The lasso path is piecewise linear between LARS's knots (``sklearn.linear_model.lars_path``), so on
standardized diabetes the alphas where exactly k features are selected, and the coefficients there,
are known exactly; the engine works on the same scale (``1/(2n) |y - b - X beta|^2 + alpha |beta|_1``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import lars_path

from service.modeling import CVSpec, Family, FitSpec, PathSpec, SelectionRule, fit_model
from service.modeling.engine.path_control import count_features
from service.modeling.engine.solution import PathSolution
from service.modeling.engine.solver import solve_path
from tests.modeling.engine_checks import (
    EngineProblem,
    FloatArray,
    dataset,
    gradient_scale,
    kkt_violation,
    standardized,
)

if TYPE_CHECKING:
    from tests.modeling.conftest import Data

TIGHT_TOL = 1e-12
KKT_RTOL = 1e-6
# The bisection stops within EDGE_BRACKET (1e-4) of where feature k + 1 enters; the solver's own
# resolution of that alpha adds a little.
EDGE_RTOL = 1e-3
BMI, S5, BP = 2, 8, 3


def capped(
    problem: EngineProblem, alphas: FloatArray, k: int, groups: Any = None, tol: float = TIGHT_TOL
) -> PathSolution:
    return solve_path(
        problem.X, problem.y, problem.w, problem.family, 1.0, alphas, problem.fit_intercept, tol, 100_000,
        n_classes=problem.n_classes, penalty_factors=problem.penalty_factors, max_features=k,
        column_features=groups,
    )  # fmt: skip


def coarse_grid(problem: EngineProblem, n: int = 3) -> FloatArray:
    """alpha_max, then alphas far below it: the path jumps from no feature to many."""
    start = problem.alpha_max(1.0)
    return np.geomspace(start, start / 100.0, n)


# How the gaussian engine solves: covariance updates (a dense, tall design and a path of at least
# GRAM_MIN_ALPHAS alphas), residual updates (a shorter path), or residual updates on CSC columns.
ENGINE_MODES = ("gram", "residual", "sparse")


def in_mode(problem: EngineProblem, mode: str) -> tuple[EngineProblem, FloatArray]:
    if mode == "sparse":
        return problem.with_(X=sp.csc_matrix(problem.X)), coarse_grid(problem)
    return problem, coarse_grid(problem, 3 if mode == "gram" else 2)


@dataclass(frozen=True)
class LarsWindow:
    """The interval of alphas (lower, upper) between two LARS knots, and the exact lasso coefficients
    at its ends (the path is linear in alpha in between)."""

    lower: float
    upper: float
    coef_lower: FloatArray
    coef_upper: FloatArray

    def coef_at(self, alpha: float) -> FloatArray:
        t = (alpha - self.lower) / (self.upper - self.lower)
        return np.asarray(self.coef_lower + t * (self.coef_upper - self.coef_lower), dtype=np.float64)


def lars_window(X: FloatArray, y: FloatArray, k: int, groups: Any = None) -> LarsWindow:
    """The last interval of LARS knots whose lasso solutions select exactly k features (columns,
    or ``groups`` of them) before more are selected."""
    knots, _, coefs = lars_path(X, y - y.mean(), method="lasso")
    ids = np.arange(X.shape[1]) if groups is None else np.asarray(groups)
    for i in range(1, knots.shape[0]):
        # Inside (knots[i], knots[i - 1]) the support is that of any interior point, e.g. the middle.
        middle = 0.5 * (coefs[:, i - 1] + coefs[:, i])
        if np.unique(ids[middle != 0.0]).shape[0] > k:
            return LarsWindow(float(knots[i - 1]), float(knots[i - 2]), coefs[:, i - 1], coefs[:, i - 2])
    raise AssertionError(f"LARS never selects more than {k} features")


def relative_kkt(problem: EngineProblem, alpha: float, coef: FloatArray, intercept: FloatArray) -> float:
    return kkt_violation(problem, 1.0, alpha, coef, intercept) / gradient_scale(problem)


@pytest.mark.parametrize("mode", ENGINE_MODES)
@pytest.mark.parametrize(("k", "support"), [(1, [BMI]), (2, [BMI, S5]), (3, [BMI, BP, S5])])
def test_solve_path_budget_lands_between_lars_knots(k: int, support: list[int], mode: str) -> None:
    problem, grid = in_mode(dataset("diabetes"), mode)
    solution = capped(problem, grid, k)
    assert solution.alphas is not None and solution.alphas.shape[0] == 2
    assert solution.alphas[0] == grid[0]
    alpha = float(solution.alphas[1])
    coef = solution.coef[1, :, 0]
    assert np.flatnonzero(coef).tolist() == support
    window = lars_window(dataset("diabetes").X, np.asarray(problem.y), k)
    assert window.lower < alpha < window.upper
    assert alpha / window.lower - 1.0 <= EDGE_RTOL  # the least shrunk k-feature model
    np.testing.assert_allclose(coef, window.coef_at(alpha), rtol=1e-7, atol=1e-9 * np.abs(coef).max())
    assert solution.converged.all()


def test_solve_path_budget_counts_unpenalized_features() -> None:
    # age unpenalized: it is in every model and counts toward the budget (glmnet's dfmax).
    base = dataset("diabetes")
    pf = np.ones(base.p)
    pf[0] = 0.0
    problem = base.with_(penalty_factors=pf)
    solution = capped(problem, coarse_grid(problem), 2)
    assert solution.alphas is not None and solution.alphas.shape[0] == 2
    assert [np.flatnonzero(c[:, 0]).tolist()[:1] for c in solution.coef] == [[0], [0]]
    assert count_features(solution.coef[1], None) == 2
    # The reference: age and the intercept projected out, the rest is a plain lasso.
    X, y = np.asarray(problem.X), np.asarray(problem.y, dtype=np.float64)
    age = X[:, 0] - X[:, 0].mean()
    project = np.eye(X.shape[0]) - np.outer(age, age) / float(age @ age)
    rest = project @ (X[:, 1:] - X[:, 1:].mean(axis=0))
    window = lars_window(rest, project @ (y - y.mean()), 1)
    alpha = float(solution.alphas[1])
    assert window.lower < alpha < window.upper and alpha / window.lower - 1.0 <= EDGE_RTOL
    np.testing.assert_allclose(solution.coef[1, 1:, 0], window.coef_at(alpha), rtol=1e-7, atol=1e-7)


def test_solve_path_budget_counts_grouped_columns_once() -> None:
    # Columns in pairs (as one-hot levels of one feature): (age, sex), (bmi, bp), (s1, s2), ...
    problem = dataset("diabetes")
    groups = np.repeat(np.arange(5), 2).astype(np.int64)
    solution = capped(problem, coarse_grid(problem), 2, groups)
    assert solution.alphas is not None and solution.alphas.shape[0] == 2
    alpha = float(solution.alphas[1])
    assert count_features(solution.coef[1], groups) == 2
    window = lars_window(problem.X, np.asarray(problem.y), 2, groups)
    assert window.lower < alpha < window.upper and alpha / window.lower - 1.0 <= EDGE_RTOL
    np.testing.assert_allclose(solution.coef[1, :, 0], window.coef_at(alpha), rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize(
    ("name", "k"), [("breast_cancer", 1), ("breast_cancer", 4), ("wine", 2), ("wine", 5)]
)
def test_solve_path_budget_reaches_k_for_classifiers(name: str, k: int) -> None:
    problem = dataset(name)
    grid = coarse_grid(problem)
    solution = capped(problem, grid, k, tol=1e-9)
    assert solution.alphas is not None and solution.alphas.shape[0] == 2
    alpha = float(solution.alphas[1])
    assert grid[1] < alpha < grid[0]
    assert count_features(solution.coef[1], None) == k  # multinomial: any class nonzero
    assert relative_kkt(problem, alpha, solution.coef[1], solution.intercept[1]) <= KKT_RTOL
    # The least shrunk: a little further down the path selects more than k.
    below = capped(problem, np.array([grid[0], alpha * (1.0 - EDGE_RTOL)]), k + 100, tol=1e-9)
    assert count_features(below.coef[1], None) > k


def test_solve_path_budget_without_a_k_feature_model_keeps_fewer() -> None:
    # Orthonormal columns with equal correlation to y: columns 0 and 1 enter at the same alpha.
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.standard_normal((60, 3)))
    X = np.asfortranarray(q)
    y = q[:, 0] + q[:, 1] + 0.2 * q[:, 2]
    problem = EngineProblem(X, y, np.ones(60), Family.GAUSSIAN, fit_intercept=False)
    grid = coarse_grid(problem)
    solution = capped(problem, grid, 1)
    assert solution.alphas is not None and solution.alphas.tolist() == [grid[0]]
    assert not np.any(solution.coef)
    two = capped(problem, grid, 2)  # the pair is a model: found below their common entry
    assert two.alphas is not None and two.alphas.shape[0] == 2
    assert np.flatnonzero(two.coef[1, :, 0]).tolist() == [0, 1]


def test_solve_path_budget_with_duplicated_columns_stays_within_k() -> None:
    # bmi twice: the lasso solution is not unique there; whatever the engine picks, at most k.
    base = dataset("diabetes")
    X = np.asfortranarray(np.column_stack([base.X[:, BMI], base.X[:, BMI], base.X[:, S5], base.X[:, BP]]))
    problem = base.with_(X=X)
    solution = capped(problem, coarse_grid(problem), 1)
    assert solution.alphas is not None
    assert all(count_features(c, None) <= 1 for c in solution.coef)
    for alpha, coef, intercept in zip(solution.alphas, solution.coef, solution.intercept, strict=True):
        assert relative_kkt(problem, float(alpha), coef, intercept) <= KKT_RTOL


@pytest.mark.parametrize("cv", [None, CVSpec(n_folds=10, rule=SelectionRule.MIN)])
def test_fit_model_max_features_one_selects_bmi_on_diabetes(diabetes: Data, cv: CVSpec | None) -> None:
    # The default grid jumps from no feature to two (bmi, s5): the bisected alpha holds bmi alone.
    # The model is the path's last fit without CV, the lowest CV error with rule min. (Rule 1se
    # may keep the null model: the lasso's bmi-only fits are strongly shrunk, s5 enters soon after.)
    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(), cv, max_features=1)
    outcome = fit_model(diabetes.X, diabetes.y, spec)
    assert np.flatnonzero(outcome.coef[:, 0]).tolist() == [BMI]
    path = outcome.path
    assert path.n_selected.tolist() == [0, 1]
    window = lars_window(standardized(diabetes.X), diabetes.y, 1)
    assert window.lower < float(path.alphas[1]) < window.upper and outcome.alpha == path.alphas[1]
    if outcome.cv is not None:
        np.testing.assert_array_equal(outcome.cv.curves[0].alphas, path.alphas)


@pytest.mark.parametrize("k", [1, 3])
def test_cross_validate_folds_solve_the_whole_budgeted_grid(diabetes: Data, k: int) -> None:
    # Folds solve every alpha of the full path (its bisected one too), whatever their own counts.
    spec = FitSpec(
        Family.GAUSSIAN, 1.0, None, PathSpec(), CVSpec(n_folds=5, rule=SelectionRule.MIN), max_features=k
    )
    outcome = fit_model(diabetes.X, diabetes.y, spec)
    assert outcome.cv is not None
    curve = outcome.cv.curves[0]
    np.testing.assert_array_equal(curve.alphas, outcome.path.alphas)
    assert np.isfinite(curve.folds).all() and np.isfinite(curve.mean).all()
    assert int(outcome.path.n_selected.max()) == k
    assert np.count_nonzero(outcome.coef) <= k
