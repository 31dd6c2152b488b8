"""Knockoff filter: empirical FDR (with its Monte Carlo error) and power over seeded replications.

Design per replication r (seed r): rows N(0, AR(1) rho), k true columns at random with
coefficients +-amplitude (random signs), y = X beta + N(0, 1). The designs are the test suite's
(tests/modeling/test_knockoffs.py): fixed-X n=300, p=60; model-X n=200, p=150 with Sigma
estimated (Ledoit-Wolf) at AR(1) 0.3 and 0.5, and with Sigma known (the theorem's setting) at 0.5.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from service.modeling.stats.knockoffs import knockoff_filter


def _design(method: str, n: int, p: int, k: int, amplitude: float, rho: float, known: bool) -> dict[str, Any]:
    return {"method": method, "n": n, "p": p, "k": k, "amplitude": amplitude, "rho": rho, "known": known}


DESIGNS = {
    "fixed-x": _design("fixed-x", 300, 60, 10, 0.3, 0.3, known=False),
    "model-x": _design("model-x", 200, 150, 20, 0.6, 0.3, known=False),
    "model-x-ar05": _design("model-x", 200, 150, 20, 0.5, 0.5, known=False),
    "model-x-ar05-known": _design("model-x", 200, 150, 20, 0.5, 0.5, known=True),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--design", choices=[*DESIGNS, "all"], default="all")
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--fdr", type=float, default=0.1)
    parser.add_argument("--offset", type=int, default=1, choices=[0, 1])
    parser.add_argument("--construction", default="auto", choices=["auto", "sdp", "equicorrelated"])
    for name in ("n", "p", "k"):
        parser.add_argument(f"--{name}", type=int, help="overrides the method's design")
    for name in ("amplitude", "rho"):
        parser.add_argument(f"--{name}", type=float, help="overrides the method's design")


def _replicate(design: dict[str, Any], args: argparse.Namespace, seed: int) -> tuple[float, float, int]:
    rng = np.random.default_rng(seed)
    n, p, k = design["n"], design["p"], design["k"]
    index = np.arange(p)
    covariance = design["rho"] ** np.abs(np.subtract.outer(index, index))
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(covariance).T
    support = rng.choice(p, size=k, replace=False)
    beta = np.zeros(p)
    beta[support] = design["amplitude"] * rng.choice([-1.0, 1.0], size=k)
    y = X @ beta + rng.standard_normal(n)
    result = knockoff_filter(
        X, y, family="gaussian", fdr=args.fdr, method=design["method"], offset=args.offset, seed=seed,
        construction=args.construction, covariance=covariance if design["known"] else None,
    )  # fmt: skip
    selected = set(result.selected.tolist())
    truth = set(support.tolist())
    return len(selected - truth) / max(1, len(selected)), len(selected & truth) / k, len(selected)


def _summary(name: str, args: argparse.Namespace) -> dict[str, Any]:
    design = dict(DESIGNS[name])
    for key in ("n", "p", "k", "amplitude", "rho"):
        if getattr(args, key) is not None:
            design[key] = getattr(args, key)
    started = time.perf_counter()
    rows = np.array([_replicate(design, args, seed) for seed in range(args.reps)])
    fdp, power, size = rows[:, 0], rows[:, 1], rows[:, 2]
    reps = args.reps
    return {
        "design": name,
        **design,
        "reps": reps,
        "fdr_target": args.fdr,
        "offset": args.offset,
        "construction": args.construction,
        "fdr": float(fdp.mean()),
        "fdr_mc_se": float(fdp.std(ddof=1) / np.sqrt(reps)),
        "fdr_within_target_plus_2se": bool(fdp.mean() <= args.fdr + 2 * fdp.std(ddof=1) / np.sqrt(reps)),
        "power": float(power.mean()),
        "power_mc_se": float(power.std(ddof=1) / np.sqrt(reps)),
        "mean_selected": float(size.mean()),
        "empty_selections": int((size == 0).sum()),
        "seconds_per_rep": (time.perf_counter() - started) / reps,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    names = list(DESIGNS) if args.design == "all" else [args.design]
    return {"procedure": "knockoffs", "results": [_summary(name, args) for name in names]}
