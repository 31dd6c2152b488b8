"""Stability selection with complementary pairs subsampling over the lasso / elastic-net path.

Procedure (Meinshausen & Buhlmann 2010, JRSS-B 72:417; Shah & Samworth 2013, JRSS-B 75:55; as R's
``stabs::stabsel(..., sampling.type = "SS")`` with the Meinshausen-Buhlmann parameter rules):

1. The alpha grid ``alpha_1 > ... > alpha_m`` is the full data's path (``spec.path``, no CV).
2. ``B = n_pairs`` times, the rows are split at random into two disjoint halves ``A_b``, ``A'_b`` of
   ``floor(fraction * n)`` rows each (within each class when ``strata`` is given: per class
   ``floor(fraction * n_c)``); on each of the 2B subsamples the path is fitted on that same grid.
   A feature is selected at alpha when any of its design columns is nonzero (any class); an
   unpenalized feature (penalty factor 0) is thus selected by every fit and counts in q and p.
3. The stability path is ``Pi_j(alpha_i)`` = the fraction of the 2B subsamples selecting feature j
   at alpha_i. ``q(i)`` is the average over subsamples of the number of features selected at any
   of alpha_1..alpha_i (Meinshausen-Buhlmann's ``q_Lambda``, nondecreasing in i).
4. The region kept is the longest prefix ``Lambda = {alpha_1..alpha_k}`` with ``q(k) <= q_target``;
   the stable set is ``{j : max_{alpha in Lambda} Pi_j(alpha) >= threshold}``.

The parameters follow stabs' ``stabsel_parameters`` with ``assumption = "none"`` (the bound of
Meinshausen & Buhlmann, ``E(V) <= q^2 / ((2 threshold - 1) p)``, p the number of features): of
``threshold``, ``pfer`` and ``q`` two determine the third. stabs needs two of them; the API gives
one, so the other defaults to stabs' own documented usage, ``cutoff = 0.75, PFER = 1``:

- threshold and pfer: ``q_target = floor(sqrt(pfer (2 threshold - 1) p))``;
- q and pfer: ``threshold = min(1, (q^2 / (pfer p) + 1) / 2)``;
- q and threshold: ``pfer = q^2 / ((2 threshold - 1) p)``;
- only threshold: pfer = 1; only pfer, or neither: threshold = 0.75 (pfer = 1 when neither).

The bounds reported (``stability_bounds``) use the realized ``q = q(k) <= q_target``: ``pfer_bound_mb``
as above, and Shah & Samworth's tighter bounds for complementary pairs, ``pfer_bound_ss`` under
unimodality and ``pfer_bound_rconcave`` under r-concavity of the noise features' selection
probabilities, each None where stabs declares it undefined. All assume ``fraction = 0.5``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from service.modeling.fit import fit_model
from service.modeling.parallel import fanned_out, run_folds
from service.modeling.specs import BoolArray, Checkpoint, Family, FitSpec, FloatArray, IntArray, PathSpec
from service.modeling.stats.arguments import ArgumentError, check_open_unit, check_positive_int
from service.modeling.stats.stability_bounds import mb_bound, ss_rconcave_bound, ss_unimodal_bound
from service.modeling.stats.subsamples import (
    class_strata,
    column_feature_map,
    selected_features,
    subsample_pairs,
)

# stabs' examples and vignette use cutoff = 0.75 with PFER = 1; its documentation recommends 0.6-0.9.
DEFAULT_THRESHOLD = 0.75
DEFAULT_PFER = 1.0
# A wide design's summary would otherwise carry thousands of near-zero paths; the plot draws 200.
MAX_DOCUMENT_PATHS = 500


@dataclass(frozen=True)
class StabilityParameters:
    """The threshold, the PFER target and the cap on q, as stabs' ``stabsel_parameters`` sets them."""

    threshold: float
    pfer: float
    q_target: float


@dataclass(frozen=True)
class StabilityResult:
    """The stability path and the stable set; see the module docstring for every quantity."""

    alphas: FloatArray  # (m,) the full data's grid, decreasing
    probabilities: FloatArray  # (p_features, m) the stability path Pi_j(alpha_i)
    q_path: FloatArray  # (m,) q(i): mean number of features selected at any of alpha_1..alpha_i
    n_alphas_used: int  # k: the region Lambda is alphas[:k]
    max_probability: FloatArray  # (p_features,) max over Lambda
    selected: IntArray  # feature indices, increasing
    threshold: float
    pfer: float  # the target
    q: float  # the realized q(k) (0 when Lambda is empty)
    q_target: float
    pfer_bound_mb: float
    pfer_bound_ss: float | None  # unimodal
    pfer_bound_rconcave: float | None
    n_pairs: int
    fraction: float
    l1_ratio: float

    def document(self, feature_names: list[str] | tuple[str, ...]) -> dict[str, Any]:
        """The JSON summary: API.md's selection fields plus the path the plot draws.

        ``paths`` holds, per feature ever selected on some subsample, its probability per alpha:
        the stable ones and, of the others, the MAX_DOCUMENT_PATHS reaching the highest
        probability anywhere on the path (``paths_left_out`` counts the rest).
        """
        names = list(feature_names)
        order = np.argsort(-self.max_probability, kind="stable")
        peak = self.probabilities.max(axis=1, initial=0.0)
        ever = np.flatnonzero(peak > 0)
        others = np.setdiff1d(ever, self.selected)
        kept = others[np.argsort(-peak[others], kind="stable")[:MAX_DOCUMENT_PATHS]]
        shown = np.union1d(self.selected, kept)
        return {
            "kind": "stability",
            "selected": [names[j] for j in self.selected],
            "features": [{"feature": names[j], "probability": float(self.max_probability[j])} for j in order],
            "threshold": self.threshold,
            "pfer": self.pfer,
            "pfer_bound": self.pfer_bound_mb,
            "pfer_bound_ss": self.pfer_bound_ss,
            "pfer_bound_rconcave": self.pfer_bound_rconcave,
            "q": self.q,
            "q_target": self.q_target,
            "n_pairs": self.n_pairs,
            "fraction": self.fraction,
            "l1_ratio": self.l1_ratio,
            "alphas": self.alphas.tolist(),
            "alphas_used": self.n_alphas_used,
            "q_path": self.q_path.tolist(),
            "paths": {names[j]: self.probabilities[j].tolist() for j in shown},
            "paths_left_out": int(others.shape[0] - kept.shape[0]),
        }


def stability_parameters(
    p: int, threshold: float | None, pfer: float | None, q: float | None
) -> StabilityParameters:
    """stabs' rules (assumption "none") completing two of threshold, pfer and q; see the module."""
    if threshold is not None:
        check_open_unit(threshold, "stability.threshold", 0.5, 1.0)
    if pfer is not None and not (math.isfinite(pfer) and pfer > 0):
        raise ArgumentError("stability.pfer", "must be a positive finite number")
    if q is not None and not (math.isfinite(q) and 0 < q <= p):
        raise ArgumentError("stability.q", f"must lie in (0, {p}], the number of features")
    if sum(v is not None for v in (threshold, pfer, q)) == 3:
        raise ArgumentError("stability", "give at most two of threshold, pfer and q")
    threshold, pfer, q = (None if v is None else float(v) for v in (threshold, pfer, q))
    if q is None:
        pi = DEFAULT_THRESHOLD if threshold is None else threshold
        target = DEFAULT_PFER if pfer is None else pfer
        return StabilityParameters(pi, target, float(math.floor(math.sqrt(target * (2 * pi - 1) * p))))
    if threshold is None:
        target = DEFAULT_PFER if pfer is None else pfer
        return StabilityParameters(min(1.0, (q * q / (target * p) + 1) / 2), target, q)
    return StabilityParameters(threshold, q * q / ((2 * threshold - 1) * p), q)


def _check(spec: FitSpec, n_pairs: int, fraction: float, processes: int) -> None:
    check_positive_int(n_pairs, "stability.n_pairs")
    check_positive_int(processes, "processes")
    if not (math.isfinite(fraction) and 0 < fraction <= 0.5):
        raise ArgumentError(
            "stability.fraction", "must lie in (0, 0.5]: the two halves of a pair are disjoint"
        )
    if not spec.l1_ratio > 0:
        raise ArgumentError("l1_ratio", "stability selection needs an L1 part (l1_ratio > 0)")


def stability_selection(
    X: Any,
    y: npt.ArrayLike,
    spec: FitSpec,
    *,
    n_pairs: int = 50,
    fraction: float = 0.5,
    threshold: float | None = None,
    pfer: float | None = None,
    q: float | None = None,
    seed: int = 0,
    sample_weight: npt.ArrayLike | None = None,
    n_classes: int | None = None,
    strata: npt.ArrayLike | None = None,
    checkpoint: Checkpoint | None = None,
    processes: int = 1,
) -> StabilityResult:
    """Stability selection of ``spec``'s penalized model on X (dense or CSC) and y; see the module.

    ``spec.alpha``, ``spec.cv`` and ``spec.max_features`` are not used by the subsamples (the
    full-data grid honours ``spec.path`` and ``spec.max_features``). ``strata`` None means the
    class codes for binomial / multinomial and no strata for gaussian. Sample weights follow their
    rows. ``checkpoint(fraction, "stability")`` is called after the full-data fit and after every
    pair (and within the fits when ``processes`` is 1). ``processes`` > 1 fits the pairs in that
    many forked processes; the result is the same as with one.
    """
    _check(spec, n_pairs, fraction, processes)
    n = X.shape[0]
    features, p_features = column_feature_map(spec.column_features, X.shape[1])
    params = stability_parameters(p_features, threshold, pfer, q)
    total = 1 + 2 * n_pairs
    report = _reporter(checkpoint, total)
    full_spec = replace(spec, alpha=None, cv=None)
    full = fit_model(X, y, full_spec, sample_weight=sample_weight, n_classes=n_classes, checkpoint=report(0))
    grid = full.path.alphas
    sub_spec = replace(full_spec, max_features=None, path=PathSpec(alphas=tuple(grid.tolist())))
    groups = class_strata(spec.family, y, strata, n)
    pairs = subsample_pairs(n, n_pairs, fraction, groups, seed, "stability.fraction")
    y_all = np.asarray(y)
    w_all = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    n_cls = full.n_classes if spec.family != Family.GAUSSIAN else None

    def fit_half(rows: IntArray, callback: Checkpoint | None) -> BoolArray:
        # A copy of the half's rows, not zero weights on the others (as CV folds do): the solver
        # then sweeps n/2 rows instead of n, and a half is small next to its path's cost.
        w = None if w_all is None else w_all[rows]
        out = fit_model(X[rows], y_all[rows], sub_spec, sample_weight=w, n_classes=n_cls, checkpoint=callback)
        return selected_features(out.path.coef, features, p_features)

    # ``pair`` captures no checkpoint: in parallel it may be pickled to another process.
    def pair(k: int) -> tuple[BoolArray, BoolArray]:
        return fit_half(pairs[k][0], None), fit_half(pairs[k][1], None)

    def pair_reporting(k: int) -> tuple[BoolArray, BoolArray]:
        first = fit_half(pairs[k][0], report(1 + 2 * k))
        return first, fit_half(pairs[k][1], report(2 + 2 * k))

    m = grid.shape[0]
    counts = np.zeros((m, p_features), dtype=np.int64)
    union_sizes = np.zeros(m, dtype=np.float64)
    done = 1
    serial = processes <= 1 and not fanned_out()
    for _, halves in run_folds(pair_reporting if serial else pair, n_pairs, processes):
        for chosen in halves:
            counts += chosen
            union_sizes += np.count_nonzero(np.logical_or.accumulate(chosen, axis=0), axis=1)
        done += 2
        if checkpoint is not None:
            checkpoint(done / total, "stability")
    return _result(grid, counts, union_sizes, params, n_pairs, fraction, full.l1_ratio, p_features)


def _reporter(checkpoint: Checkpoint | None, total: int) -> Callable[[int], Checkpoint | None]:
    """For fit number ``i`` of ``total``, a checkpoint mapping its own fraction into the whole."""

    def for_fit(i: int) -> Checkpoint | None:
        if checkpoint is None:
            return None
        outer = checkpoint

        def report(fraction: float, stage: str) -> None:
            outer(min((i + fraction) / total, 1.0), "stability")

        return report

    return for_fit


def _result(
    grid: FloatArray,
    counts: IntArray,
    union_sizes: FloatArray,
    params: StabilityParameters,
    n_pairs: int,
    fraction: float,
    l1_ratio: float,
    p_features: int,
) -> StabilityResult:
    n_sub = 2 * n_pairs
    probabilities: FloatArray = (counts / n_sub).T.copy()
    q_path: FloatArray = union_sizes / n_sub
    # q_path is nondecreasing, so the alphas with q(i) <= q_target are a prefix.
    k = int(np.count_nonzero(q_path <= params.q_target + 1e-12))
    max_probability = probabilities[:, :k].max(axis=1, initial=0.0)
    selected = np.flatnonzero(max_probability >= params.threshold - 1e-12).astype(np.int64)
    q_used = float(q_path[k - 1]) if k else 0.0
    return StabilityResult(
        alphas=grid,
        probabilities=probabilities,
        q_path=q_path,
        n_alphas_used=k,
        max_probability=max_probability,
        selected=selected,
        threshold=params.threshold,
        pfer=params.pfer,
        q=q_used,
        q_target=params.q_target,
        pfer_bound_mb=mb_bound(q_used, p_features, params.threshold),
        pfer_bound_ss=ss_unimodal_bound(q_used, p_features, params.threshold, n_pairs),
        pfer_bound_rconcave=ss_rconcave_bound(q_used, p_features, params.threshold, n_pairs),
        n_pairs=n_pairs,
        fraction=fraction,
        l1_ratio=l1_ratio,
    )
