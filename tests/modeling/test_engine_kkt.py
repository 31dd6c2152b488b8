"""The solver engine's answers are optimal: KKT conditions along whole paths, checked independently.

Every case runs a 30-alpha path from the engine's alpha_max down to 1e-3 of it and checks, at every
alpha, the subgradient conditions of the documented objective (``engine_checks.kkt_violations``:
penalty factors, box constraints and the intercept included), measured in units of the largest loss
gradient at the null model. Also: where the path starts with penalty factors, weight conventions,
and glmnet's ``dfmax`` (``max_features``).
"""

from __future__ import annotations

import numpy as np
import pytest

from service.modeling.engine.solution import PathSolution
from service.modeling.specs import Family
from tests.modeling.engine_checks import (
    DATASETS,
    VARIANTS,
    EngineProblem,
    FloatArray,
    dataset,
    gradient_scale,
    kkt_violation,
    loss_gradient,
    nonzero_rows,
    objective,
    reference_minimum,
    tight_tol,
    variant,
)

# Violations are measured relative to gradient_scale (max |gradient of the loss| at the null model).
# At tight_tol they stay below ~2e-7 (gaussian: tol 1e-13 bounds the duality gap; logistic: tol 1e-7
# bounds the KKT residual itself, in absolute terms).
KKT_RTOL = 1e-5
N_ALPHAS = 30
MIN_RATIO = 1e-3


def path_alphas(
    problem: EngineProblem, l1_ratio: float, n: int = N_ALPHAS, ratio: float = MIN_RATIO
) -> FloatArray:
    start = problem.alpha_max(l1_ratio)
    assert np.isfinite(start) and start > 0.0, f"alpha_max = {start}"
    return np.geomspace(start, start * ratio, n)


def relative_kkt(
    problem: EngineProblem, l1_ratio: float, alphas: FloatArray, solution: PathSolution
) -> FloatArray:
    coef, intercept = solution.coef, solution.intercept
    scale = gradient_scale(problem)
    return np.array(
        [
            kkt_violation(problem, l1_ratio, float(a), coef[i], intercept[i]) / scale
            for i, a in enumerate(alphas)
        ]
    )


def assert_feasible(problem: EngineProblem, coef: FloatArray) -> None:
    lower, upper = problem.lo()[np.newaxis, :, np.newaxis], problem.hi()[np.newaxis, :, np.newaxis]
    below, above = coef < lower, coef > upper
    assert not below.any(), (
        f"coefficients below their lower bound at (alpha, column, class) {np.argwhere(below)[:5]}"
    )
    assert not above.any(), (
        f"coefficients above their upper bound at (alpha, column, class) {np.argwhere(above)[:5]}"
    )


# Every variant for the lasso; for the elastic net the ones where the ridge part meets the new
# options (it changes the coordinate update's denominator and the bound clipping). Wine
# (multinomial, nearly separable at small alphas) is the slowest: it gets a subset.
ENET_VARIANTS = ("plain", "bounds", "combined", "combined_no_intercept")
WINE_CASES = {
    ("plain", 1.0),
    ("weights", 1.0),
    ("penalty_factors", 1.0),
    ("combined", 1.0),
    ("bounds", 0.5),
    ("combined_no_intercept", 0.5),
}
KKT_CASES = [
    (name, variant_name, l1_ratio)
    for name in DATASETS
    for variant_name, l1_ratio in [(v, 1.0) for v in VARIANTS] + [(v, 0.5) for v in ENET_VARIANTS]
    if name != "wine" or (variant_name, l1_ratio) in WINE_CASES
]


@pytest.mark.parametrize(("name", "variant_name", "l1_ratio"), KKT_CASES)
def test_every_solution_on_the_path_satisfies_the_kkt_conditions(
    name: str, variant_name: str, l1_ratio: float
) -> None:
    problem = variant(dataset(name), variant_name)
    alphas = path_alphas(problem, l1_ratio)
    X_before = np.array(problem.X, copy=True)
    solution = problem.solve(l1_ratio, alphas, tight_tol(problem.family))

    m, p, width = alphas.shape[0], problem.p, problem.width
    assert solution.coef.shape == (m, p, width) and solution.intercept.shape == (m, width)
    assert solution.n_iter.shape == solution.dual_gap.shape == solution.converged.shape == (m,)
    assert np.all(np.isfinite(solution.coef)) and np.all(np.isfinite(solution.intercept))
    assert np.array_equal(problem.X, X_before), "solve_path modified X"
    assert_feasible(problem, solution.coef)
    if not problem.fit_intercept:
        assert np.all(solution.intercept == 0.0)
    violations = relative_kkt(problem, l1_ratio, alphas, solution)
    worst = int(np.argmax(violations))
    assert violations[worst] <= KKT_RTOL, (
        f"KKT violation {violations[worst]:.3e} (relative) at alpha #{worst} = {alphas[worst]:.6g}; "
        f"per alpha: {np.array2string(violations, precision=1)}"
    )
    assert solution.converged.all(), f"not converged at alphas #{np.flatnonzero(~solution.converged)}"
    penalized = problem.pf() > 0
    assert np.count_nonzero(solution.coef[-1][penalized]) > 0, "the path never left the null model"


def _null_model_alpha_max(problem: EngineProblem, l1_ratio: float) -> tuple[float, FloatArray]:
    """alpha_max with penalty factors, computed independently: fit the unpenalized columns (and the
    intercept) alone, then alpha_max = max over penalized j of |gradient_j| / (pf_j * l1_ratio).

    Returns it and the null model's coefficients (p, K') (zero on penalized columns)."""
    pf = problem.pf()
    free = pf == 0.0
    sub = problem.with_(
        X=problem.X[:, free],
        penalty_factors=np.zeros(int(free.sum())),
        lower=problem.lo()[free],
        upper=problem.hi()[free],
    )
    null = reference_minimum(sub, 1.0, 1.0)
    coef = np.zeros((problem.p, problem.width))
    coef[free] = null.coef
    grad, _ = loss_gradient(problem, coef, null.intercept)
    ratios = np.abs(grad[~free]) / pf[~free, np.newaxis]
    return float(ratios.max()) / l1_ratio, coef


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("name", ["diabetes", "breast_cancer", "wine", "dense_gaussian"])
def test_alpha_max_with_penalty_factors_is_where_the_first_penalized_coefficient_enters(
    name: str, l1_ratio: float
) -> None:
    problem = variant(dataset(name), "penalty_factors")
    free = problem.pf() == 0.0
    expected, null_coef = _null_model_alpha_max(problem, l1_ratio)
    start = problem.alpha_max(l1_ratio)
    assert start == pytest.approx(expected, rel=1e-6)

    alphas = np.array([start, 0.99 * start, 0.5 * start])
    solution = problem.solve(l1_ratio, alphas, tight_tol(problem.family))
    penalized = solution.coef[:, ~free]
    # Zero up to the solver's tolerance: the unpenalized part is refitted from scratch to ``tol``,
    # so the penalized gradients at alpha_max are exact only to that accuracy.
    entry_scale = np.max(np.abs(penalized[2]))
    assert np.max(np.abs(penalized[0])) <= 1e-5 * entry_scale, (
        f"penalized coefficients nonzero at alpha_max: {penalized[0][penalized[0] != 0]}"
    )
    assert np.count_nonzero(penalized[1]) >= 1, "no penalized coefficient entered at 0.99 alpha_max"
    # Unpenalized columns are in the model from the start (at alpha_max: the null model's fit) and stay.
    for i in range(alphas.shape[0]):
        assert nonzero_rows(solution.coef[i, free]) == int(free.sum()), f"an unpenalized column is 0 at #{i}"
    scale = np.max(np.abs(null_coef[free]))
    difference = solution.coef[0, free] - null_coef[free]
    if problem.family == Family.MULTINOMIAL:
        # Shifting an unpenalized column's K coefficients by one constant changes no probability.
        difference = difference - difference.mean(axis=1, keepdims=True)
    assert np.max(np.abs(difference)) <= 1e-5 * scale


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
@pytest.mark.parametrize("name", ["diabetes", "breast_cancer", "wine"])
def test_bounds_keep_the_null_model_at_alpha_max(name: str, l1_ratio: float) -> None:
    problem = variant(dataset(name), "bounds")
    start = problem.alpha_max(l1_ratio)
    # Bounds can only delay a coefficient's entry: no later start than without them (glmnet ignores them).
    assert 0.0 < start <= dataset(name).alpha_max(l1_ratio) * (1.0 + 1e-12)
    solution = problem.solve(l1_ratio, np.array([start, 0.5 * start]), tight_tol(problem.family))
    assert np.all(solution.coef[0] == 0.0)
    assert np.count_nonzero(solution.coef[1]) >= 1


@pytest.mark.parametrize("name", ["diabetes", "breast_cancer", "wine"])
def test_weights_are_normalized_by_their_sum(name: str) -> None:
    """The loss is a weighted mean: multiplying every weight by a constant changes nothing."""
    problem = variant(dataset(name), "weights")
    heavier = problem.with_(w=problem.w * 3.7)
    assert heavier.alpha_max(0.5) == pytest.approx(problem.alpha_max(0.5), rel=1e-12)
    alphas = path_alphas(problem, 0.5, n=10, ratio=1e-2)
    tol = tight_tol(problem.family)
    one, other = problem.solve(0.5, alphas, tol), heavier.solve(0.5, alphas, tol)
    scale = np.max(np.abs(one.coef))
    assert np.max(np.abs(one.coef - other.coef)) <= 1e-7 * scale
    assert np.max(np.abs(one.intercept - other.intercept)) <= 1e-7 * max(1.0, np.max(np.abs(one.intercept)))


@pytest.mark.parametrize("name", ["diabetes", "breast_cancer", "wine"])
def test_rows_with_zero_weight_are_as_good_as_absent(name: str) -> None:
    problem = variant(dataset(name), "weights")
    kept = problem.w > 0
    assert not kept.all()
    dropped = problem.with_(X=problem.X[kept], y=problem.y[kept], w=problem.w[kept])
    assert dropped.alpha_max(1.0) == pytest.approx(problem.alpha_max(1.0), rel=1e-12)
    alphas = path_alphas(problem, 1.0, n=10, ratio=1e-2)
    tol = tight_tol(problem.family)
    full, short = problem.solve(1.0, alphas, tol), dropped.solve(1.0, alphas, tol)
    assert np.max(np.abs(full.coef - short.coef)) <= 1e-7 * np.max(np.abs(full.coef))
    assert np.max(np.abs(full.intercept - short.intercept)) <= 1e-7 * max(1.0, np.max(np.abs(full.intercept)))


@pytest.mark.parametrize(("name", "k"), [("diabetes", 3), ("diabetes", 6), ("breast_cancer", 5), ("wine", 4)])
def test_max_features_stops_the_path_before_more_than_k_are_selected(name: str, k: int) -> None:
    problem = dataset(name)
    alphas = path_alphas(problem, 1.0, ratio=1e-2)
    tol = tight_tol(problem.family)
    full = problem.solve(1.0, alphas, tol)
    full_counts = np.array([nonzero_rows(c) for c in full.coef])
    assert full_counts.max() > k  # the cap must bite for this test to mean anything

    capped = problem.solve(1.0, alphas, tol, max_features=k)
    m = capped.coef.shape[0]
    assert capped.intercept.shape[0] == capped.n_iter.shape[0] == capped.dual_gap.shape[0] == m
    assert capped.converged.shape[0] == m
    counts = np.array([nonzero_rows(c) for c in capped.coef])
    assert counts.max() <= k, f"selected per alpha: {counts.tolist()} with max_features={k}"
    # A prefix of the uncapped path (same alphas, same solutions), stopped at the first alpha that
    # selects more than k: that one is not returned.
    first_over = int(np.argmax(full_counts > k))
    assert m == first_over, f"returned {m} alphas; the uncapped path first exceeds {k} at #{first_over}"
    scale = np.max(np.abs(full.coef[:m]))
    assert np.max(np.abs(capped.coef - full.coef[:m]), initial=0.0) <= 1e-6 * scale
    assert np.allclose(capped.intercept, full.intercept[:m], rtol=1e-6, atol=1e-9)
    assert capped.converged.all()
    violations = relative_kkt(problem, 1.0, alphas[:m], capped)
    assert violations.max(initial=0.0) <= KKT_RTOL


def test_two_class_multinomial_lasso_reaches_the_binomial_optimum() -> None:
    """With K = 2 the multinomial lasso is the binomial lasso in disguise: for a log-odds vector d the
    cheapest split (B1, B2) with B2 - B1 = d costs alpha |d|_1, so both optimal values are equal."""
    binomial = dataset("breast_cancer")
    multinomial = binomial.with_(family=Family.MULTINOMIAL)
    alphas = np.array([0.05, 0.02])
    b = binomial.solve(1.0, alphas, tight_tol(Family.BINOMIAL))
    mu = multinomial.solve(1.0, alphas, tight_tol(Family.MULTINOMIAL))
    assert mu.coef.shape == (2, binomial.p, 2) and mu.intercept.shape == (2, 2)
    for i, alpha in enumerate(alphas):
        f_b = objective(binomial, 1.0, alpha, b.coef[i], b.intercept[i])
        d, d0 = b.coef[i, :, 0], b.intercept[i, 0]
        split = objective(
            multinomial, 1.0, alpha, np.column_stack([-d / 2, d / 2]), np.array([-d0 / 2, d0 / 2])
        )
        assert split == pytest.approx(f_b, rel=1e-12)  # the check's own consistency
        f_m = objective(multinomial, 1.0, alpha, mu.coef[i], mu.intercept[i])
        assert f_m == pytest.approx(f_b, rel=1e-8)
        eta_m = mu.intercept[i, 1] - mu.intercept[i, 0] + binomial.X @ (mu.coef[i, :, 1] - mu.coef[i, :, 0])
        eta_b = d0 + binomial.X @ d
        assert np.max(np.abs(eta_m - eta_b)) <= 1e-5 * np.max(np.abs(eta_b))
