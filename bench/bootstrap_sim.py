"""Bootstrap: percentile-interval coverage of near-OLS fits, lasso frequencies, over seeded replications.

Design per replication r (seed r): rows N(0, I_p), beta = (1, -2, 0.5, 0, ..., 0), y = 0.5 + X beta
+ N(0, 1). At alpha = 1e-8 (the fit is OLS) the percentile interval of every coefficient should
cover the truth at about ``--level``; the half width over z is compared with the OLS standard error.
At ``--lasso-alpha`` the selection frequencies of the true and the null features are reported.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from scipy.stats import norm

from service.modeling import Family, FitSpec, PathSpec
from service.modeling.stats.bootstrap import bootstrap

BETA = (1.0, -2.0, 0.5)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--p", type=int, default=5, help="the first 3 are true")
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--level", type=float, default=0.9)
    parser.add_argument("--lasso-alpha", type=float, default=0.1)


def _replicate(args: argparse.Namespace, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    beta = np.zeros(args.p)
    beta[:3] = BETA
    X = np.asfortranarray(rng.standard_normal((args.n, args.p)))
    y = 0.5 + X @ beta + rng.standard_normal(args.n)
    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(), None, tol=1e-12)
    ols = bootstrap(X, y, spec, replicates=args.replicates, level=args.level, seed=seed, alpha=1e-8)
    lower, upper = ols.lower[0, :, 0], ols.upper[0, :, 0]
    design = np.column_stack([np.ones(args.n), X])
    resid = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    se = np.sqrt(np.diag(np.linalg.inv(design.T @ design)) * (resid @ resid) / (args.n - args.p - 1))[1:]
    ratio = (upper - lower) / (2 * norm.ppf(0.5 + args.level / 2)) / se
    lasso = bootstrap(
        X, y, spec, replicates=args.replicates, level=args.level, seed=seed, alpha=args.lasso_alpha
    )
    return (lower <= beta) & (beta <= upper), ratio, lasso.frequency[0], beta


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    covered, ratios, frequencies = [], [], []
    for seed in range(args.reps):
        hit, ratio, frequency, beta = _replicate(args, seed)
        covered.append(hit)
        ratios.append(ratio)
        frequencies.append(frequency)
    hits = np.array(covered, dtype=np.float64)  # (reps, p)
    coverage = float(hits.mean())
    mc_se = float(np.sqrt(args.level * (1 - args.level) / hits.size))
    freq = np.array(frequencies)
    true = beta != 0
    return {
        "procedure": "bootstrap",
        "design": {"n": args.n, "p": args.p, "beta": list(BETA), "replicates": args.replicates},
        "reps": args.reps,
        "level": args.level,
        "coverage_near_ols": coverage,
        "coverage_mc_se": mc_se,
        "coverage_within_3se": bool(abs(coverage - args.level) <= 3 * mc_se),
        "coverage_per_coefficient": hits.mean(axis=0).round(4).tolist(),
        "median_half_width_over_ols_se": float(np.median(np.array(ratios))),
        "lasso_alpha": args.lasso_alpha,
        "mean_frequency_true_features": float(freq[:, true].mean()),
        "mean_frequency_null_features": float(freq[:, ~true].mean()),
        "seconds": round(time.perf_counter() - started, 1),
    }
