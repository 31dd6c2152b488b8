"""Selective inference (fixedLassoInf): KS uniformity of null p-values and interval coverage over seeded reps.

Design per replication r (seed 1000 + r): rows N(0, AR(1) rho), the first k columns true with
coefficients ``--beta`` (default 1, -0.8, 0.3), y = X beta + N(0, sigma^2); the lasso at the fixed
``--alpha`` by ``fit_model`` (tol 1e-12), then ``selective_inference`` with sigma known or estimated
(least squares when n > p, CV lasso otherwise). Per replication one null p-value (the first
selected null column, when every true column is selected: its partial target is then exactly 0)
and one interval (that column's, else a random selected one's; both choices depend on the selected
set only), so the KS test and the binomial MC error see independent draws. Pooled figures over
every selected column are reported beside them, and the naive (unconditional z) interval's coverage
for comparison. The test suite runs the same design at n=100, p=10 and 200 reps.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np
from scipy.stats import kstest, norm

from service.modeling import Family, FitSpec, PathSpec, fit_model
from service.modeling.stats.inference import selective_inference


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--p", type=int, default=20)
    parser.add_argument("--beta", type=float, nargs="+", default=[1.0, -0.8, 0.3])
    parser.add_argument("--rho", type=float, default=0.0, help="AR(1) correlation of the columns")
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--noise", type=float, default=1.0, help="the true sigma")
    parser.add_argument("--sigma", choices=["known", "estimated", "both"], default="both")
    parser.add_argument("--level", type=float, default=0.95)


def _design(rng: np.random.Generator, n: int, p: int, rho: float) -> np.ndarray[Any, Any]:
    X = rng.standard_normal((n, p))
    for j in range(1, p):  # AR(1): column j = rho * column j-1 + sqrt(1 - rho^2) * noise
        X[:, j] = rho * X[:, j - 1] + math.sqrt(1 - rho**2) * X[:, j]
    return np.asfortranarray(X)


def _replicate(args: argparse.Namespace, sigma: float | None, rep: int) -> dict[str, Any]:
    rng = np.random.default_rng(1000 + rep)
    k = len(args.beta)
    X = _design(rng, args.n, args.p, args.rho)
    mu = X[:, :k] @ np.asarray(args.beta)
    y = mu + args.noise * rng.standard_normal(args.n)
    spec = FitSpec(Family.GAUSSIAN, 1.0, args.alpha, PathSpec(), None, tol=1e-12)
    result = selective_inference(X, y, spec, fit_model(X, y, spec), sigma=sigma, level=args.level)
    sel = result.selected
    out: dict[str, Any] = {"sigma": result.sigma, "refit": result.refit, "n_selected": int(sel.size)}
    if sel.size == 0:
        return out
    Xc = X[:, sel] - X[:, sel].mean(axis=0)
    targets = np.linalg.lstsq(Xc, mu - mu.mean(), rcond=None)[0]
    covers = (result.lower <= targets) & (targets <= result.upper)
    z = norm.ppf(0.5 + args.level / 2)
    naive = np.abs(result.coefficient - targets) <= z * result.std_error
    nulls = np.flatnonzero(sel >= k)
    with np.errstate(invalid="ignore"):  # both ends infinite: inf - inf
        widths = result.upper - result.lower
    all_true = bool(np.all(np.isin(np.arange(k), sel)))
    j = int(nulls[0]) if nulls.size else int(rng.integers(sel.size))
    out.update(
        covered=bool(covers[j]),
        naive_covered=bool(naive[j]),
        covered_all=covers.tolist(),
        width=float(widths[j]) if np.isfinite(widths[j]) else math.nan,
        null_p=float(result.p_value[nulls[0]]) if all_true and nulls.size else None,
        null_p_all=result.p_value[nulls].tolist() if all_true else [],
        infinite=bool(not np.isfinite(result.lower[j]) or not np.isfinite(result.upper[j])),
    )
    return out


def _summary(rows: list[dict[str, Any]], level: float) -> dict[str, Any]:
    with_sel = [r for r in rows if r["n_selected"] > 0]
    null_p = [r["null_p"] for r in with_sel if r["null_p"] is not None]
    pooled_p = [p for r in with_sel for p in r["null_p_all"]]
    covered = np.array([r["covered"] for r in with_sel], dtype=float)
    pooled_cov = np.array([c for r in with_sel for c in r["covered_all"]], dtype=float)
    m = covered.size
    return {
        "reps": len(rows),
        "reps_with_selection": m,
        "mean_selected": float(np.mean([r["n_selected"] for r in rows])),
        "mean_sigma": float(np.mean([r["sigma"] for r in rows])),
        "refits": int(sum(r["refit"] for r in rows)),
        "null_pvalues": len(null_p),
        "ks_pvalue": float(kstest(null_p, "uniform").pvalue) if null_p else None,
        "null_pvalues_pooled": len(pooled_p),
        "ks_pvalue_pooled": float(kstest(pooled_p, "uniform").pvalue) if pooled_p else None,
        "coverage": float(covered.mean()) if m else None,
        "coverage_mc_se": math.sqrt(level * (1 - level) / m) if m else None,
        "coverage_pooled": float(pooled_cov.mean()) if pooled_cov.size else None,
        "naive_coverage": float(np.mean([r["naive_covered"] for r in with_sel])) if m else None,
        "infinite_intervals": int(sum(r["infinite"] for r in with_sel)),
        "median_width": float(np.nanmedian([r["width"] for r in with_sel])) if m else None,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    modes = ["known", "estimated"] if args.sigma == "both" else [args.sigma]
    design = {name: getattr(args, name) for name in ("n", "p", "beta", "rho", "alpha", "noise", "level")}
    results: dict[str, Any] = {"procedure": "inference", "design": design}
    for mode in modes:
        start = time.perf_counter()
        sigma = args.noise if mode == "known" else None
        rows = [_replicate(args, sigma, rep) for rep in range(args.reps)]
        summary = _summary(rows, args.level)
        summary["seconds"] = round(time.perf_counter() - start, 1)
        results[f"sigma_{mode}"] = summary
    return results
