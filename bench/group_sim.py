"""Group lasso against the plain lasso on grouped truth, and against cvxpy on one larger problem.

Design (each rep seeded by its index): n = 200 rows, G = 30 groups of 4 columns; the columns of a
group share a factor (within-group correlation 0.6, none across groups); groups 0, 1 and 2 are
in the truth with coefficients ``TRUE_BLOCK`` * (1, 0.8, 0.6); gaussian noise SD 1, or binomial
with the logistic link. Both methods: 10-fold CV (seed = rep), rule ``--rule``, l1_ratio 1. A group
counts as selected when any of its columns is nonzero, as split when some but not all are.

    .venv/bin/python -m bench.group_sim --reps 100 --family gaussian
    .venv/bin/python -m bench.group_sim --cvxpy        # objective and KKT against Clarabel
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from service.modeling import CVSpec, Family, FitSpec, PathSpec, SelectionRule, fit_model

FloatArray = npt.NDArray[np.float64]
TRUE_BLOCK = (1.0, -0.5, 0.5, -1.0)
SCALES = (1.0, 0.8, 0.6)
N_GROUPS, SIZE, RHO = 30, 4, 0.6


def simulate(seed: int, family: Family, n: int = 200) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """(X, y, group of each column) of one replication."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(N_GROUPS), SIZE).astype(np.int64)
    factors = rng.standard_normal((n, N_GROUPS))[:, groups]
    X = math.sqrt(RHO) * factors + math.sqrt(1 - RHO) * rng.standard_normal((n, groups.shape[0]))
    beta = np.zeros(groups.shape[0])
    for g, scale in enumerate(SCALES):
        beta[groups == g] = scale * np.asarray(TRUE_BLOCK)
    eta = X @ beta
    if family == Family.GAUSSIAN:
        y = eta + rng.standard_normal(n)
    else:
        y = (rng.uniform(size=n) < 1.0 / (1.0 + np.exp(-eta))).astype(np.float64)
    return np.asfortranarray(X), y, groups


def one_rep(seed: int, family: Family, grouped: bool, rule: SelectionRule) -> dict[str, float]:
    X, y, groups = simulate(seed, family)
    cv = CVSpec(n_folds=10, seed=seed, rule=rule)
    spec = FitSpec(family, 1.0, None, PathSpec(), cv, groups=tuple(groups.tolist()) if grouped else None)
    target: Any = y if family == Family.GAUSSIAN else y.astype(np.int64)
    start = time.perf_counter()
    outcome = fit_model(X, target, spec)
    seconds = time.perf_counter() - start
    nonzero = np.bincount(groups, weights=(outcome.coef[:, 0] != 0.0).astype(np.float64))
    selected = nonzero > 0
    truth = np.arange(N_GROUPS) < len(SCALES)
    return {
        "true_groups": float(np.sum(selected & truth)),
        "false_groups": float(np.sum(selected & ~truth)),
        "split_groups": float(np.sum((nonzero > 0) & (nonzero < SIZE))),
        "exact": float(np.array_equal(selected, truth)),
        "seconds": seconds,
        "converged": float(np.all(outcome.path.converged)),
    }


def summary(rows: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and Monte Carlo SE of every measure."""
    out = {}
    for key in rows[0]:
        values = np.array([r[key] for r in rows])
        out[key] = (float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values))))
    return out


def against_cvxpy(family: Family, n: int = 1000, seed: int = 0) -> None:
    """Objective gap and KKT at three alphas of a 1000 x 200 problem (50 groups) against Clarabel."""
    from service.modeling.engine import alpha_max, solve_path
    from tests.modeling.group_reference import GroupProblem  # cvxpy: the test extra

    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(50), 4).astype(np.int64)
    X = np.asfortranarray(rng.standard_normal((n, 200)) + 0.5 * rng.standard_normal((n, 50))[:, groups])
    eta = X[:, :12] @ rng.uniform(-1, 1, 12)
    if family == Family.GAUSSIAN:
        y: Any = eta + rng.standard_normal(n)
    else:
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(np.int64)
    w = np.ones(n)
    mean, sd = X.mean(axis=0), X.std(axis=0)
    k = 1 if family == Family.GAUSSIAN else 2
    kw: dict[str, Any] = {"center": mean, "scale": sd, "groups": groups}
    top = alpha_max(X, y, w, family, 1.0, True, k, **kw)
    alphas = top * np.array([0.3, 0.05, 0.005])
    start = time.perf_counter()
    path = solve_path(X, y, w, family, 1.0, alphas, True, 1e-10, 100_000, n_classes=k, **kw)
    seconds = time.perf_counter() - start
    ref = GroupProblem(
        (X - mean) / sd, np.asarray(y, dtype=np.float64), w, groups, family == Family.BINOMIAL, 1.0
    )
    for i, alpha in enumerate(alphas):
        b0, b = float(path.intercept[i, 0]), path.coef[i, :, 0]
        start = time.perf_counter()
        c0, c = ref.solve_cvxpy(float(alpha))
        cvx_seconds = time.perf_counter() - start
        ours, theirs = ref.objective(alpha, b0, b), ref.objective(alpha, c0, c)
        relative = (ours - theirs) / abs(theirs)
        print(
            f"{family} alpha={alpha:.4g}: (ours - clarabel) / clarabel = {relative:.2e}, "
            f"KKT ours {ref.kkt(alpha, b0, b):.1e} clarabel {ref.kkt(alpha, c0, c):.1e}, "
            f"groups in {int(np.sum(np.bincount(groups, weights=b * b) > 0))}, clarabel {cvx_seconds:.2f} s"
        )
    print(f"{family}: sparsefit path of 3 alphas at tol 1e-10: {seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--family", choices=["gaussian", "binomial"], default="gaussian")
    parser.add_argument("--rule", choices=["min", "1se"], default="min", help="CV's selection rule")
    parser.add_argument("--cvxpy", action="store_true", help="only the comparison against cvxpy")
    args = parser.parse_args()
    family = Family(args.family)
    if args.cvxpy:
        against_cvxpy(Family.GAUSSIAN)
        against_cvxpy(Family.BINOMIAL)
        return
    for grouped in (True, False):
        rows = [one_rep(seed, family, grouped, SelectionRule(args.rule)) for seed in range(args.reps)]
        name = "group lasso" if grouped else "lasso"
        stats = ", ".join(f"{k} {m:.3f} +- {se:.3f}" for k, (m, se) in summary(rows).items())
        print(f"{family} {name}, rule {args.rule} ({args.reps} reps): {stats}")


if __name__ == "__main__":
    main()
