"""Binomial and multinomial fits against an independent solver (L-BFGS-B on a split-sign form)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, logsumexp, softmax

from service.modeling import Family, FitOutcome, FitSpec, PathSpec, fit_model
from service.modeling.engine.logistic_problem import penalty_center
from service.modeling.engine.solver import solve_path

if TYPE_CHECKING:
    from tests.modeling.conftest import Data

TIGHT = 1e-10


def _losses(
    X: np.ndarray, y: np.ndarray, intercept: np.ndarray, coef: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row negative log-likelihood and its derivative w.r.t. eta (binomial when coef has 1 column)."""
    eta = X @ coef + intercept
    if coef.shape[1] == 1:
        z = eta[:, 0]
        return np.logaddexp(0.0, z) - y * z, (expit(z) - y)[:, None]
    onehot = np.eye(coef.shape[1])[y]
    return logsumexp(eta, axis=1) - eta[np.arange(len(y)), y], softmax(eta, axis=1) - onehot


def objective(X, y, intercept, coef, coef_std, alpha, l1_ratio) -> float:  # type: ignore[no-untyped-def]
    """The API's objective: mean NLL on X with (intercept, coef), penalty on the standardized coef."""
    nll, _ = _losses(X, y, intercept, coef)
    penalty = l1_ratio * np.abs(coef_std).sum() + (1 - l1_ratio) / 2 * (coef_std**2).sum()
    return float(nll.mean() + alpha * penalty)


def outcome_objective(data: Data, outcome: FitOutcome, i: int = -1) -> float:
    path = outcome.path
    return objective(
        data.X, data.y, path.intercept[i], path.coef[i], path.coef_std[i], path.alphas[i], path.l1_ratio
    )


def reference_minimum(
    Xs: np.ndarray, y: np.ndarray, width: int, alpha: float, l1_ratio: float, fit_intercept: bool = True
) -> float:
    """Minimize with beta = b_plus - b_minus, both >= 0: smooth, so L-BFGS-B converges tightly."""
    n, p = Xs.shape
    size = p * width

    def f(z: np.ndarray) -> tuple[float, np.ndarray]:
        bp, bm, b0 = z[:size].reshape(p, width), z[size : 2 * size].reshape(p, width), z[2 * size :]
        beta = bp - bm
        nll, d_eta = _losses(Xs, y, b0, beta)
        grad_beta = Xs.T @ d_eta / n + alpha * (1 - l1_ratio) * beta
        value = nll.mean() + alpha * (l1_ratio * (bp + bm).sum() + (1 - l1_ratio) / 2 * (beta**2).sum())
        gradient = np.concatenate(
            [
                (grad_beta + alpha * l1_ratio).ravel(),
                (-grad_beta + alpha * l1_ratio).ravel(),
                d_eta.mean(axis=0),
            ]
        )
        return float(value), gradient

    bounds = [(0.0, None)] * (2 * size) + [(None, None) if fit_intercept else (0.0, 0.0)] * width
    start = np.zeros(2 * size + width)
    result = minimize(
        f,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 100_000, "ftol": 1e-15, "gtol": 1e-11},
    )
    return float(result.fun)


def _spec(family: Family, l1_ratio: float, alphas: tuple[float, ...]) -> FitSpec:
    return FitSpec(family, l1_ratio, None, PathSpec(alphas=alphas), None, tol=TIGHT)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.0])
def test_binomial_objective_matches_reference_on_breast_cancer(breast_cancer: Data, l1_ratio: float) -> None:
    alphas = (0.05, 0.02)
    outcome = fit_model(breast_cancer.X, breast_cancer.y, _spec(Family.BINOMIAL, l1_ratio, alphas))
    for i, alpha in enumerate(sorted(alphas, reverse=True)):
        ours = outcome_objective(breast_cancer, outcome, i)
        reference = reference_minimum(breast_cancer.X_std, breast_cancer.y, 1, alpha, l1_ratio)
        assert abs(ours - reference) <= 1e-6 * reference
    assert outcome.path.converged.all()
    assert np.all(outcome.path.dual_gap < 1e-6)
    if l1_ratio == 1.0:
        assert 0 < outcome.path.n_selected[0] < breast_cancer.X.shape[1]


def _kkt_violation(
    Xs: np.ndarray, y: np.ndarray, outcome: FitOutcome, alpha: float, l1_ratio: float
) -> float:
    """Independent check of the optimality conditions on the standardized design."""
    coef_std = outcome.coef_std
    intercept_std = outcome.intercept + outcome.x_mean @ outcome.coef
    _, d_eta = _losses(Xs, y, intercept_std, coef_std)
    smooth = Xs.T @ d_eta / len(y) + alpha * (1 - l1_ratio) * coef_std
    l1 = alpha * l1_ratio
    on_zero = np.maximum(np.abs(smooth) - l1, 0.0)[coef_std == 0]
    on_nonzero = np.abs(smooth + l1 * np.sign(coef_std))[coef_std != 0]
    return float(max(on_zero.max(initial=0.0), on_nonzero.max(initial=0.0), np.abs(d_eta.mean(axis=0)).max()))


@pytest.mark.parametrize(("l1_ratio", "alpha"), [(1.0, 0.02), (0.5, 0.01), (0.0, 0.05)])
def test_multinomial_kkt_and_objective_on_iris(iris: Data, l1_ratio: float, alpha: float) -> None:
    outcome = fit_model(iris.X, iris.y, _spec(Family.MULTINOMIAL, l1_ratio, (alpha,)))
    assert outcome.coef.shape == (4, 3) and outcome.intercept.shape == (3,)
    assert abs(outcome.intercept.sum()) < 1e-12
    assert _kkt_violation(iris.X_std, iris.y, outcome, alpha, l1_ratio) < 1e-6
    reference = reference_minimum(iris.X_std, iris.y, 3, alpha, l1_ratio)
    assert abs(outcome_objective(iris, outcome) - reference) <= 1e-6 * reference
    assert outcome.convergence.converged


def test_multinomial_with_two_classes_is_symmetric_and_optimal(breast_cancer: Data) -> None:
    alpha, l1_ratio = 0.05, 0.5
    outcome = fit_model(breast_cancer.X, breast_cancer.y, _spec(Family.MULTINOMIAL, l1_ratio, (alpha,)))
    assert outcome.coef.shape == (30, 2)
    assert np.allclose(outcome.coef[:, 0], -outcome.coef[:, 1], rtol=1e-12, atol=1e-15)
    reference = reference_minimum(breast_cancer.X_std, breast_cancer.y, 2, alpha, l1_ratio)
    assert abs(outcome_objective(breast_cancer, outcome) - reference) <= 1e-6 * reference
    assert _kkt_violation(breast_cancer.X_std, breast_cancer.y, outcome, alpha, l1_ratio) < 1e-6


def test_solve_path_class_without_weight_gets_floor_probability(iris: Data) -> None:
    Xs, y = iris.X_std, iris.y
    present = y < 2
    w = np.where(present, len(y) / present.sum(), 0.0)
    alphas = np.array([0.05, 0.01])
    three = solve_path(Xs, y, w, Family.MULTINOMIAL, 1.0, alphas, True, TIGHT, 100_000, n_classes=3)
    two = solve_path(
        Xs[present],
        y[present],
        np.ones(present.sum()),
        Family.MULTINOMIAL,
        1.0,
        alphas,
        True,
        TIGHT,
        100_000,
        n_classes=2,
    )
    assert np.allclose(three.coef[:, :, :2], two.coef, atol=1e-7)
    assert np.all(three.coef[:, :, 2] == 0.0)
    eta = Xs[present] @ three.coef[-1] + three.intercept[-1]
    assert softmax(eta, axis=1)[:, 2].max() <= 1.01e-9
    assert three.converged.all() and np.all(three.dual_gap < 1e-6)


def test_solve_path_single_class_is_the_null_model(breast_cancer: Data) -> None:
    y = breast_cancer.y
    w = np.where(y == 1, len(y) / (y == 1).sum(), 0.0)
    Xs = breast_cancer.X_std
    solution = solve_path(Xs, y, w, Family.BINOMIAL, 1.0, np.array([0.1]), True, 1e-7, 100, n_classes=2)
    assert np.all(solution.coef == 0.0)
    assert expit(solution.intercept[0, 0]) == pytest.approx(1 - 1e-9, abs=1e-12)


def test_binomial_without_intercept_matches_reference(breast_cancer: Data) -> None:
    alpha, l1_ratio = 0.02, 0.5
    spec = FitSpec(Family.BINOMIAL, l1_ratio, alpha, PathSpec(), None, fit_intercept=False, tol=TIGHT)
    outcome = fit_model(breast_cancer.X, breast_cancer.y, spec)
    assert outcome.intercept.tolist() == [0.0]
    rms = np.sqrt(np.mean(breast_cancer.X**2, axis=0))  # glmnet's scale without intercept
    assert np.allclose(outcome.x_scale, rms, rtol=1e-12)
    reference = reference_minimum(
        breast_cancer.X / rms, breast_cancer.y, 1, alpha, l1_ratio, fit_intercept=False
    )
    assert abs(outcome_objective(breast_cancer, outcome) - reference) <= 1e-6 * reference


def test_binomial_lasso_full_path_converges_at_every_alpha(breast_cancer: Data) -> None:
    # Near-separable data down to alpha_max * 1e-4: scikit-learn's saga stalled here at 100,000
    # epochs per alpha; every point must now meet the default tolerance on its KKT residual.
    spec = FitSpec(Family.BINOMIAL, 1.0, None, PathSpec(n_alphas=100), None)
    outcome = fit_model(breast_cancer.X, breast_cancer.y, spec)
    path = outcome.path
    assert path.converged.all() and np.all(path.dual_gap <= spec.solver_tol())
    assert path.n_selected[0] == 0 and path.n_selected[-1] > 15
    assert path.deviance_ratio[-1] > 0.9


@pytest.mark.parametrize("l1_ratio", [1.0, 0.7, 0.2, 0.0])
def test_penalty_center_minimizes_the_penalty_over_shifts(l1_ratio: float) -> None:
    rng = np.random.default_rng(5)
    coef = rng.normal(size=(6, 4)) * np.array([[1.0], [0.0], [3.0], [0.1], [2.0], [1.0]])
    center = penalty_center(coef, l1_ratio)

    def penalty(shift: np.ndarray) -> np.ndarray:
        gap = coef[:, :, None] - shift[:, None, :]
        return l1_ratio * np.abs(gap).sum(axis=1) + (1 - l1_ratio) / 2 * (gap**2).sum(axis=1)

    grid = np.linspace(-8, 8, 160_001)
    brute = penalty(np.tile(grid, (6, 1))).min(axis=1)
    assert np.all(penalty(center[:, None])[:, 0] <= brute + 1e-12)
    pair = penalty_center(np.array([[-1.0, 3.0]]), 1.0)  # lasso, K = 2: the whole [-1, 3] is optimal
    assert pair.tolist() == [1.0]


def test_an_inner_solve_on_collinear_columns_is_bounded_and_the_path_still_converges(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Coordinate descent on two nearly identical columns converges at a rate near 1: one Newton
    step used to spend ~35,000 epochs, out of the stall guard's sight. Each inner solve now gets at
    most INNER_EPOCHS, and the outer loop still reaches the KKT tolerance."""
    import service.modeling.engine.logistic_engine as engine

    rng = np.random.default_rng(0)
    n = 200
    z = rng.standard_normal(n)
    X = np.column_stack([z, z + 1e-9 * rng.standard_normal(n), rng.standard_normal(n)])
    y = (z + 0.5 * rng.standard_normal(n) > 0).astype(float)
    epochs_per_step: list[int] = []
    original = engine.NewtonSolver.newton_step

    def counted(
        self: engine.NewtonSolver, k: int, alpha: float, ws: np.ndarray, thresh: float, budget: int
    ) -> int:
        epochs = original(self, k, alpha, ws, thresh, budget)
        epochs_per_step.append(epochs)
        return epochs

    monkeypatch.setattr(engine.NewtonSolver, "newton_step", counted)
    alphas = np.array([1e-2, 1e-4, 1e-6])
    solution = solve_path(X, y, np.full(n, 1.0 / n), Family.BINOMIAL, 0.0, alphas, True, 1e-10, 100_000)
    assert max(epochs_per_step) <= engine.INNER_EPOCHS
    assert max(epochs_per_step) == engine.INNER_EPOCHS  # the case does need the bound
    assert solution.converged.all()
    assert np.all(solution.dual_gap <= 1e-10)
