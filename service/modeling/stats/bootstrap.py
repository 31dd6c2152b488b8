"""Nonparametric (pairs) bootstrap of the penalized fit: selection frequencies and percentile intervals.

Procedure (Efron & Tibshirani 1993, ch. 6 and 13; the percentile interval of R's
``boot::boot.ci(type = "perc")`` up to its order-statistic interpolation):

1. The alphas: ``alpha`` at ``spec.l1_ratio`` (when None: ``spec.alpha``, else the alpha and
   l1_ratio ``fit_model(spec)`` chooses on the full data, by CV when ``spec.cv`` is set), or with
   ``over_path`` the full data's path grid (``spec.path``, ``spec.l1_ratio``).
2. ``B = replicates`` times, draw n rows with replacement (within each class for binomial /
   multinomial, or within ``strata``, so every replicate keeps every class) and refit on the same
   alphas. A row drawn c times gets weight ``c * w_i``: the objective's weighted sum then equals
   the fit on the duplicated rows, standardization included, and X is never copied.
3. Per design column j (and class k) over the B fits: ``frequency`` = the share with
   ``beta_j != 0`` (any class), ``mean``, and the percentile interval ``[lower, upper]`` =
   the ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of ``beta_jk`` on the original scale
   (numpy's linear interpolation, R's quantile type 7). ``feature_frequency`` is the share of
   fits where any column of the original feature is nonzero.

The percentile interval of a lasso coefficient is an interval for the penalized estimate's
sampling distribution, not a confidence interval for the true coefficient: at an alpha near zero
(OLS) it covers the truth at about ``level``, a little less in small samples (the pairs bootstrap
variance of OLS is the residual variance over n, not n - p - 1, and percentile intervals ignore
the t tails: 87% for a 90% interval at n = 100, p = 5 and 90% at n = 400 in
``bench/bootstrap_sim.py``); with a real penalty it is shrunk toward zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from service.modeling.fit import fit_model
from service.modeling.parallel import run_folds
from service.modeling.results import FitOutcome
from service.modeling.specs import Checkpoint, Family, FitSpec, FloatArray, IntArray, PathSpec
from service.modeling.stats.arguments import ArgumentError, check_open_unit, check_positive_int
from service.modeling.stats.subsamples import (
    bootstrap_counts,
    class_strata,
    column_feature_map,
    selected_features,
)


@dataclass(frozen=True)
class BootstrapResult:
    """Per alpha (one, or the path's), per design column (and class): the bootstrap summaries.

    Arrays with K' (1 for gaussian / binomial, K for multinomial) are per class as in PathResult.
    """

    alphas: FloatArray  # (m,) decreasing
    estimate: FloatArray  # (m, p, K') the full-data coefficients
    mean: FloatArray  # (m, p, K')
    lower: FloatArray  # (m, p, K')
    upper: FloatArray  # (m, p, K')
    frequency: FloatArray  # (m, p) share of replicates with the column nonzero (any class)
    feature_frequency: FloatArray  # (m, p_features)
    replicates: int
    level: float
    l1_ratio: float
    column_features: IntArray  # (p,) design column -> feature index

    def document(self, feature_names: list[str] | tuple[str, ...], column_names: list[str]) -> dict[str, Any]:
        """The JSON summary at the first (or only) alpha, API.md's per-feature ``frequency``,
        ``lower``, ``upper``: a feature of one design column carries its column's interval, mean
        and full-data ``estimate`` (per class lists for multinomial); ``columns`` has them for
        every design column (the levels of a categorical)."""

        def cell(array: FloatArray, j: int) -> float | list[float]:
            values = array[0, j]
            return float(values[0]) if values.shape[0] == 1 else values.tolist()

        def column(j: int) -> dict[str, Any]:
            return {
                "estimate": cell(self.estimate, j),
                "mean": cell(self.mean, j),
                "lower": cell(self.lower, j),
                "upper": cell(self.upper, j),
            }

        features: list[dict[str, Any]] = []
        for f, name in enumerate(feature_names):
            entry: dict[str, Any] = {"feature": name, "frequency": float(self.feature_frequency[0, f])}
            own = np.flatnonzero(self.column_features == f)
            if own.shape[0] == 1:
                entry.update(column(int(own[0])))
            features.append(entry)
        return {
            "kind": "bootstrap",
            "alpha": float(self.alphas[0]),
            "alphas": self.alphas.tolist(),
            "replicates": self.replicates,
            "level": self.level,
            "l1_ratio": self.l1_ratio,
            "features": features,
            "columns": [
                {"column": name, "frequency": float(self.frequency[0, j]), **column(j)}
                for j, name in enumerate(column_names)
            ],
        }


def _check(replicates: int, level: float, alpha: float | None, processes: int) -> None:
    check_positive_int(replicates, "bootstrap.replicates", 2)
    check_open_unit(level, "bootstrap.level")
    check_positive_int(processes, "processes")
    if alpha is not None and not (math.isfinite(alpha) and alpha > 0):
        raise ArgumentError("alpha", "must be a positive finite number")


def _full_fit(
    X: Any, y: npt.ArrayLike, spec: FitSpec, alpha: float | None, over_path: bool, **kwargs: Any
) -> tuple[FitOutcome, FitSpec]:
    """The full-data fit and the spec every replicate refits (no CV, the same alphas)."""
    if over_path:
        full = fit_model(X, y, replace(spec, alpha=None, cv=None), **kwargs)
        grid = tuple(full.path.alphas.tolist())
        return full, replace(spec, alpha=None, cv=None, max_features=None, path=PathSpec(alphas=grid))
    l1_ratio = spec.l1_ratio
    if alpha is None and spec.alpha is None:
        chosen = fit_model(X, y, spec, **kwargs)
        alpha, l1_ratio = chosen.alpha, chosen.l1_ratio
    elif alpha is None:
        alpha = spec.alpha
    single = replace(spec, alpha=alpha, l1_ratio=l1_ratio, cv=None)
    return fit_model(X, y, single, **kwargs), single


def bootstrap(
    X: Any,
    y: npt.ArrayLike,
    spec: FitSpec,
    *,
    replicates: int = 100,
    level: float = 0.95,
    seed: int = 0,
    alpha: float | None = None,
    over_path: bool = False,
    sample_weight: npt.ArrayLike | None = None,
    n_classes: int | None = None,
    strata: npt.ArrayLike | None = None,
    checkpoint: Checkpoint | None = None,
    processes: int = 1,
) -> BootstrapResult:
    """Bootstrap ``spec``'s fit on X (dense or CSC) and y at ``alpha`` or over the path; see the module.

    ``checkpoint(fraction, "bootstrap")`` is called after the full-data fit and every replicate;
    ``processes`` > 1 fits the replicates in forked processes sharing X, with the same result.
    Memory: the B fits' coefficients, B * m * p * K' doubles, are held for the quantiles.
    """
    _check(replicates, level, alpha, processes)
    n, p = X.shape
    kwargs: dict[str, Any] = {"sample_weight": sample_weight, "n_classes": n_classes}
    full, refit = _full_fit(X, y, spec, alpha, over_path, **kwargs)
    if checkpoint is not None:
        checkpoint(1 / (1 + replicates), "bootstrap")
    groups = class_strata(spec.family, y, strata, n)
    draws = bootstrap_counts(n, replicates, groups, seed)
    base = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    n_cls = full.n_classes if spec.family != Family.GAUSSIAN else None
    # A replicate refits the same alphas; one that stops short would misalign, so none may.
    m = full.path.alphas.shape[0]

    def replicate(b: int) -> FloatArray:
        out = fit_model(X, y, refit, sample_weight=base * draws[b], n_classes=n_cls)
        coef: FloatArray = out.path.coef
        if coef.shape[0] != m:
            raise RuntimeError(f"bootstrap replicate {b} solved {coef.shape[0]} of {m} alphas")
        return coef

    coefs = np.empty((replicates, *full.path.coef.shape), dtype=np.float64)
    done = 1
    for b, coef in run_folds(replicate, replicates, processes):
        coefs[b] = coef
        done += 1
        if checkpoint is not None:
            checkpoint(done / (1 + replicates), "bootstrap")
    return _summarize(full, coefs, level, spec.column_features, p)


def _summarize(
    full: FitOutcome, coefs: FloatArray, level: float, column_features: tuple[int, ...] | None, p: int
) -> BootstrapResult:
    features, p_features = column_feature_map(column_features, p)
    tails = np.quantile(coefs, [(1 - level) / 2, (1 + level) / 2], axis=0)
    per_feature = np.stack([selected_features(c, features, p_features) for c in coefs])
    return BootstrapResult(
        alphas=full.path.alphas,
        estimate=full.path.coef,
        mean=coefs.mean(axis=0),
        lower=tails[0],
        upper=tails[1],
        frequency=np.any(coefs != 0.0, axis=3).mean(axis=0),
        feature_frequency=per_feature.mean(axis=0),
        replicates=coefs.shape[0],
        level=level,
        l1_ratio=full.l1_ratio,
        column_features=np.arange(p) if column_features is None else np.asarray(column_features, np.int64),
    )
