"""Exact support recovery of the lasso, relaxed lasso and adaptive lasso at CV's alpha_min, known truth.

Design (each rep seeded by its index; defaults, all options of the subcommand): n = 400 rows,
p = 50 gaussian columns with AR(1) correlation rho^|i-j| (rho = 0.5), the first 5 ``TRUE_COEF`` =
(1.5, -1.25, 1.0, -0.75, 1.0), the rest 0, noise SD 1; 10-fold CV (seed = rep), rule ``min`` for
each method; relaxed: CV over (alpha, gamma); adaptive: ridge initial fit, gamma 1;
adaptive_relaxed: both. A method recovers the support when its model's nonzero coefficients are
exactly the first 5.

    .venv/bin/python -m bench.selection_sim support --reps 200
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from service.modeling import CVSpec, Family, FitSpec, PathSpec, SelectionRule, fit_model
from service.modeling.specs import AdaptiveInitial, AdaptiveSpec

TRUE_COEF = (1.5, -1.25, 1.0, -0.75, 1.0)
METHODS = ("lasso", "relaxed", "adaptive", "adaptive_relaxed")
DESIGN = {"n": 400, "p": 50, "rho": 0.5, "sigma": 1.0}


def simulate(
    seed: int, n: int = 400, p: int = 50, rho: float = 0.5, sigma: float = 1.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    """(X, y, true support) of one replication."""
    rng = np.random.default_rng(seed)
    # AR(1) columns: x_j = rho x_{j-1} + sqrt(1 - rho^2) e_j has correlation rho^|i-j|.
    X = np.empty((n, p))
    X[:, 0] = rng.standard_normal(n)
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    beta = np.zeros(p)
    beta[: len(TRUE_COEF)] = TRUE_COEF
    y = X @ beta + sigma * rng.standard_normal(n)
    return np.asfortranarray(X), y, beta != 0


def spec_of(method: str, seed: int, n_folds: int = 10) -> FitSpec:
    cv = CVSpec(n_folds=n_folds, seed=seed, rule=SelectionRule.MIN)
    adaptive = AdaptiveSpec(gamma=1.0, initial=AdaptiveInitial.RIDGE) if "adaptive" in method else None
    relax = "relaxed" in method
    return FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(), cv, relax=relax, adaptive=adaptive)


def recovered(method: str, seed: int, n_folds: int = 10, **design: Any) -> tuple[bool, int]:
    """(exact support recovered, number of columns selected) for one method on rep ``seed``."""
    X, y, truth = simulate(seed, **design)
    outcome = fit_model(X, y, spec_of(method, seed, n_folds))
    selected = np.any(outcome.coef != 0.0, axis=1)
    return bool(np.array_equal(selected, truth)), int(selected.sum())


def recovery_rates(
    reps: int, n_folds: int = 10, start: int = 0, methods: tuple[str, ...] = METHODS, **design: Any
) -> dict[str, dict[str, float]]:
    """Per method: exact recovery rate, its Monte Carlo SE, and the mean number selected."""
    summary: dict[str, dict[str, float]] = {}
    for method in methods:
        seeds = range(start, start + reps)
        hits, sizes = zip(*(recovered(method, seed, n_folds, **design) for seed in seeds), strict=True)
        rate = float(np.mean(hits))
        summary[method] = {
            "exact_recovery": rate,
            "mc_se": math.sqrt(rate * (1 - rate) / reps),
            "mean_selected": float(np.mean(sizes)),
        }
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--start", type=int, default=0, help="first seed")
    for name, value in DESIGN.items():
        parser.add_argument(f"--{name}", type=type(value), default=value)


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    design = {name: getattr(args, name) for name in DESIGN}
    rates = recovery_rates(args.reps, args.folds, args.start, **design)
    return {
        "procedure": "support",
        "design": {**design, "true_coef": list(TRUE_COEF)},
        "reps": args.reps,
        "folds": args.folds,
        "rule": "min",
        "methods": rates,
        "seconds": round(time.perf_counter() - started, 1),
    }
