"""Stability selection: mean false selections against the PFER bounds, and power, over seeded replications.

Design per replication r (seed r): rows N(0, Toeplitz rho^|j-k|), k true features spread evenly
(every p/k-th, so each has correlated noise neighbours) with coefficient ``amplitude``,
y = X beta + N(0, 1); the lasso path (``--n-alphas``, alpha_min_ratio 0.01) and complementary
pairs stability selection at ``--pfer`` (threshold 0.75, stabs' default) or ``--threshold``.
Beside it, for scale, the false selections of the plain lasso chosen by 10-fold CV (alpha_min).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Any

import numpy as np

from service.modeling import CVSpec, Family, FitSpec, PathSpec, SelectionRule, fit_model
from service.modeling.stats.stability import stability_selection


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--p", type=int, default=100)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--amplitude", type=float, default=0.3)
    parser.add_argument("--rho", type=float, default=0.5)
    parser.add_argument("--n-pairs", type=int, default=50)
    parser.add_argument("--n-alphas", type=int, default=50)
    parser.add_argument("--pfer", type=float, default=None, help="default 1 unless --threshold")
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--no-cv", action="store_true", help="skip the CV lasso comparison")


def _data(args: argparse.Namespace, seed: int) -> tuple[np.ndarray, np.ndarray, set[int]]:
    rng = np.random.default_rng(seed)
    index = np.arange(args.p)
    covariance = args.rho ** np.abs(np.subtract.outer(index, index))
    X = np.asfortranarray(rng.standard_normal((args.n, args.p)) @ np.linalg.cholesky(covariance).T)
    support = np.arange(args.k) * (args.p // args.k)
    beta = np.zeros(args.p)
    beta[support] = args.amplitude
    return X, X @ beta + rng.standard_normal(args.n), set(support.tolist())


def _replicate(args: argparse.Namespace, seed: int) -> dict[str, float]:
    X, y, truth = _data(args, seed)
    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=args.n_alphas, alpha_min_ratio=0.01), None)
    result = stability_selection(
        X, y, spec, n_pairs=args.n_pairs, pfer=args.pfer, threshold=args.threshold, seed=seed,
        processes=args.processes,
    )  # fmt: skip
    selected = set(result.selected.tolist())
    row = {
        "false": float(len(selected - truth)),
        "true": float(len(selected & truth)),
        "bound_mb": result.pfer_bound_mb,
        "bound_ss": np.nan if result.pfer_bound_ss is None else result.pfer_bound_ss,
        "bound_rconcave": np.nan if result.pfer_bound_rconcave is None else result.pfer_bound_rconcave,
        "q": result.q,
        "threshold": result.threshold,
        "pfer": result.pfer,
        "cv_false": np.nan,
        "cv_true": np.nan,
    }
    if not args.no_cv:
        cv = replace(spec, cv=CVSpec(n_folds=10, seed=seed, rule=SelectionRule.MIN))
        chosen = set(np.flatnonzero(fit_model(X, y, cv).coef[:, 0]).tolist())
        row["cv_false"], row["cv_true"] = float(len(chosen - truth)), float(len(chosen & truth))
    return row


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    se = float(finite.std(ddof=1) / np.sqrt(finite.size)) if finite.size > 1 else float("nan")
    return float(finite.mean()), se


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    rows = [_replicate(args, seed) for seed in range(args.reps)]
    columns = {key: np.array([row[key] for row in rows]) for key in rows[0]}
    false_mean, false_se = _mean_se(columns["false"])
    bound_mb = float(np.mean(columns["bound_mb"]))
    summary: dict[str, Any] = {
        "procedure": "stability",
        "design": {k: getattr(args, k) for k in ("n", "p", "k", "amplitude", "rho", "n_pairs", "n_alphas")},
        "reps": args.reps,
        "pfer_target": float(np.mean(columns["pfer"])),
        "threshold": float(np.mean(columns["threshold"])),
        "mean_false_selections": false_mean,
        "false_mc_se": false_se,
        "mean_pfer_bound_mb": bound_mb,
        "within_mb_bound_plus_2se": bool(false_mean <= bound_mb + 2 * false_se),
        "mean_pfer_bound_ss_unimodal": _mean_se(columns["bound_ss"])[0],
        "mean_pfer_bound_rconcave": _mean_se(columns["bound_rconcave"])[0],
        "reps_with_a_false_selection": int((columns["false"] > 0).sum()),
        "power": _mean_se(columns["true"] / args.k)[0],
        "power_mc_se": _mean_se(columns["true"] / args.k)[1],
        "mean_q": float(np.mean(columns["q"])),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if not args.no_cv:
        summary["cv_lasso_min_mean_false"] = _mean_se(columns["cv_false"])[0]
        summary["cv_lasso_min_power"] = _mean_se(columns["cv_true"] / args.k)[0]
    return summary
