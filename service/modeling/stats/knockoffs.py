"""The knockoff filter: selection of design columns with a controlled false discovery rate.

Procedure (Barber & Candes 2015 for fixed-X; Candes, Fan, Janson & Lv 2018 for model-X; as R's
``knockoff`` package, ``knockoff.filter`` with ``stat.glmnet_coefdiff``):

1. Knockoffs X~ of the non-constant design columns (``knockoff_design``, ``knockoff_construction``):
   fixed-X on centred unit-norm columns when ``n >= 2p + 1`` (the +1 is the intercept, which
   the knockoffs must also be orthogonal to), the Gram matrix giving Sigma; model-X Gaussian
   knockoffs otherwise, Sigma the Ledoit-Wolf shrunk covariance (scikit-learn's ``ledoit_wolf``)
   of the columns standardized to mean 0, SD 1, rescaled to a correlation matrix. ``s`` by the
   SDP (default up to ``SDP_MAX_COLUMNS`` columns) or equicorrelated.
2. Statistics ``W_j = |b_j| - |b~_j|``: a lasso (``fit_model``, l1_ratio 1, standardized) of y
   on ``[X, X~]`` at the alpha of least CV error (glmnet's lambda.min), the pair of each column
   swapped by a fair coin before the fit and the sign of W_j flipped back after it, as R does, so
   that the solver's column order cannot favour originals. ``b`` is on the standardized scale.
3. The knockoff(+) threshold ``T = min{t in {|W_j| > 0}: (offset + #{W_j <= -t}) /
   max(1, #{W_j >= t}) <= q}`` (offset 1: knockoff+, which controls the FDR at q; offset 0:
   knockoff, which controls a modified FDR) and the selection ``{j: W_j >= T}``; T is +inf and
   nothing is selected when no t qualifies. (R also tries t = 0; the paper does not, nor do we.)

Caveats, stated rather than hidden: fixed-X theory asks W to depend on y only through
``[X, X~]'y`` (and y'y); choosing alpha by CV departs from that, as R's ``stat.glmnet_coefdiff``
does. Model-X theory assumes the rows' distribution known; with Sigma estimated, FDR control is
approximate, and it fails where the shrunk estimate misses strong correlations: with rows AR(1)
0.5, n = 200, p = 150, Ledoit-Wolf shrinks the correlations by about half (so s = 1 and each
knockoff copies only the shrunk correlations), and the FDR came out at 0.29 +- 0.02 at q = 0.2,
against 0.10 +- 0.01 with Sigma known (bench/knockoff_sim.py, 100 replications; at q = 0.1 both
stayed below q). Constant columns get no knockoff, W_j = 0 and
are never selected. Observation weights enter the lasso; the covariance estimate ignores them;
fixed-X needs equal weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from service.errors import InvalidDataError
from service.modeling.specs import (
    BoolArray,
    Checkpoint,
    CVSpec,
    Family,
    FitSpec,
    FloatArray,
    IntArray,
    PathSpec,
    SelectionRule,
)
from service.modeling.stats.knockoff_construction import smallest_eigenvalue
from service.modeling.stats.knockoff_design import (
    CONSTRUCTION_SHARE,
    BuildOptions,
    Construction,
    KnockoffMethod,
    KnockoffPair,
    build_fixed_x,
    build_model_x,
)
from service.modeling.stats.knockoff_limits import DENSE_MAX_CELLS, MAX_COLUMNS, SDP_MAX_COLUMNS
from service.modeling.validation import check_design, invalid

__all__ = [
    "Construction",
    "KnockoffMethod",
    "KnockoffResult",
    "knockoff_filter",
    "knockoff_threshold",
]


@dataclass(frozen=True)
class KnockoffResult:
    """The filter's outcome, per design column (p of them).

    ``threshold`` is +inf when nothing is selected; ``shrinkage`` is Ledoit-Wolf's (model-X
    only); ``alpha`` is the lasso alpha chosen by CV; ``s`` is 0 for constant columns.
    """

    method: KnockoffMethod
    construction: Construction
    fdr: float
    offset: int
    seed: int
    statistics: FloatArray  # (p,)
    threshold: float
    selected: IntArray  # column indices, increasing
    s: FloatArray  # (p,)
    alpha: float
    shrinkage: float | None


def knockoff_threshold(statistics: npt.ArrayLike, fdr: float, offset: int = 1) -> float:
    """The knockoff(+) threshold T (module docstring, step 3); +inf when no t qualifies."""
    W = np.asarray(statistics, dtype=np.float64)
    candidates = np.unique(np.abs(W[W != 0]))
    if candidates.size == 0:
        return float("inf")
    negatives = (W[np.newaxis, :] <= -candidates[:, np.newaxis]).sum(axis=1)
    positives = (W[np.newaxis, :] >= candidates[:, np.newaxis]).sum(axis=1)
    ratios = (offset + negatives) / np.maximum(1, positives)
    passing = np.flatnonzero(ratios <= fdr)
    return float(candidates[passing[0]]) if passing.size else float("inf")


def knockoff_filter(
    X: Any,
    y: npt.ArrayLike,
    *,
    family: Family | str,
    fdr: float = 0.1,
    method: KnockoffMethod | str = KnockoffMethod.AUTO,
    offset: int = 1,
    seed: int = 0,
    construction: Construction | str = Construction.AUTO,
    sample_weight: npt.ArrayLike | None = None,
    n_classes: int | None = None,
    checkpoint: Checkpoint | None = None,
    cv_folds: int = 5,
    processes: int = 1,
    covariance: npt.ArrayLike | None = None,
) -> KnockoffResult:
    """Run the knockoff filter on the design X (n, p), dense or scipy.sparse, and target y.

    ``family`` gaussian or binomial (binomial: model-X only). ``method`` auto is fixed-X when the
    design is dense, gaussian, equally weighted, with ``n >= 2p + 1`` and well conditioned, and
    model-X otherwise. ``construction`` auto is the SDP up to ``SDP_MAX_COLUMNS`` non-constant
    columns and equicorrelated above. Bad options raise ``ValidationError`` naming the
    ``knockoffs.*`` field; ``checkpoint`` gets stage ``"knockoffs"`` while building, then the
    lasso's stages. ``covariance`` (p, p), model-X only: the rows' known covariance, used (as a
    correlation matrix) instead of the Ledoit-Wolf estimate. The same inputs and seed give the
    same result.
    """
    family, requested, construction = _check_options(family, fdr, method, offset, seed, construction)
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    dense = _dense_design(X, requested)
    n, p = dense.shape
    active = dense.max(axis=0) > dense.min(axis=0)
    p_active = int(active.sum())
    construction = _resolve_construction(construction, p_active)
    equal_weights = weights is None or bool(np.all(weights == weights[0]))
    # A sparse design (see _dense_design) or a known covariance makes auto take model-X.
    model_x_only = sp.issparse(X) or covariance is not None
    resolved = _resolve_method(requested, family, model_x_only, equal_weights, n, p_active)
    rng = np.random.default_rng(seed)
    known = None if covariance is None else _known_covariance(covariance, p, resolved)[np.ix_(active, active)]
    options = BuildOptions(construction, requested == KnockoffMethod.AUTO, checkpoint, known)
    build = build_fixed_x if resolved == KnockoffMethod.FIXED_X else build_model_x
    built = build(dense[:, active], options, rng)
    statistics = np.zeros(p)
    statistics[active], alpha = _coefficient_differences(
        built, y, family, weights, n_classes, rng, seed, cv_folds, processes, checkpoint
    )
    s = np.zeros(p)
    s[active] = built.s
    threshold = knockoff_threshold(statistics, fdr, offset)
    return KnockoffResult(
        method=built.method,
        construction=construction,
        fdr=fdr,
        offset=offset,
        seed=seed,
        statistics=statistics,
        threshold=threshold,
        selected=np.flatnonzero(statistics >= threshold).astype(np.int64),
        s=s,
        alpha=alpha,
        shrinkage=built.shrinkage,
    )


def _check_options(
    family: Family | str,
    fdr: float,
    method: KnockoffMethod | str,
    offset: int,
    seed: int,
    construction: Construction | str,
) -> tuple[Family, KnockoffMethod, Construction]:
    if family not in (Family.GAUSSIAN, Family.BINOMIAL):
        raise invalid("family", "knockoffs support the gaussian and binomial families")
    if not 0 < fdr < 1:
        raise invalid("knockoffs.fdr", "must lie in (0, 1)")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise invalid("knockoffs.seed", "must be a non-negative integer")
    if offset not in (0, 1):
        raise invalid("knockoffs.offset", "must be 0 (knockoff) or 1 (knockoff+)")
    if method not in tuple(KnockoffMethod):
        raise invalid("knockoffs.method", "must be auto, fixed-x or model-x")
    if construction not in tuple(Construction):
        raise invalid("knockoffs.construction", "must be auto, sdp or equicorrelated")
    return Family(family), KnockoffMethod(method), Construction(construction)


def _dense_design(X: Any, method: KnockoffMethod) -> FloatArray:
    design = check_design(X)
    if not sp.issparse(design):
        return np.asarray(design)
    if method == KnockoffMethod.FIXED_X:
        raise invalid("knockoffs.method", "fixed-x needs a dense design; use auto or model-x for sparse data")
    n, p = design.shape
    if n * p > DENSE_MAX_CELLS:
        raise invalid(
            "knockoffs",
            f"a sparse design is densified for knockoffs up to {DENSE_MAX_CELLS} cells, got {n * p}",
        )
    dense: FloatArray = design.toarray()
    return dense


def _resolve_construction(construction: Construction, p: int) -> Construction:
    if p == 0:
        raise InvalidDataError("Every design column is constant: knockoffs have nothing to select.")
    if p > MAX_COLUMNS:
        raise invalid(
            "knockoffs", f"the design has {p} non-constant columns; knockoffs support at most {MAX_COLUMNS}"
        )
    if construction == Construction.AUTO:
        return Construction.SDP if p <= SDP_MAX_COLUMNS else Construction.EQUICORRELATED
    if construction == Construction.SDP and p > SDP_MAX_COLUMNS:
        raise invalid("knockoffs.construction", f"sdp supports at most {SDP_MAX_COLUMNS} columns, got {p}")
    return construction


def _known_covariance(covariance: npt.ArrayLike, p: int, method: KnockoffMethod) -> FloatArray:
    known = np.asarray(covariance, dtype=np.float64)
    if method != KnockoffMethod.MODEL_X:
        raise ValueError("a known covariance applies to model-X knockoffs only")
    if known.shape != (p, p) or not np.all(np.isfinite(known)) or not np.allclose(known, known.T):
        raise ValueError(f"covariance must be a finite symmetric ({p}, {p}) matrix")
    if smallest_eigenvalue(known) <= 0:
        raise ValueError("covariance must be positive definite")
    return known


def _resolve_method(
    method: KnockoffMethod, family: Family, model_x_only: bool, equal_weights: bool, n: int, p: int
) -> KnockoffMethod:
    """Auto's choice, or the reason an explicit fixed-x cannot run (sparse X was refused before)."""
    reasons = {
        "family binomial needs model-x": family != Family.GAUSSIAN,
        "fixed-x needs equal observation weights": not equal_weights,
        f"fixed-x needs at least 2p + 1 = {2 * p + 1} rows, the data has {n}": n < 2 * p + 1,
    }
    failing = [reason for reason, fails in reasons.items() if fails]
    if method == KnockoffMethod.AUTO:
        return KnockoffMethod.MODEL_X if failing or model_x_only else KnockoffMethod.FIXED_X
    if method == KnockoffMethod.FIXED_X and failing:
        raise invalid("knockoffs.method", failing[0])
    return method


def _coefficient_differences(
    built: KnockoffPair,
    y: npt.ArrayLike,
    family: Family,
    weights: FloatArray | None,
    n_classes: int | None,
    rng: np.random.Generator,
    seed: int,
    cv_folds: int,
    processes: int,
    checkpoint: Checkpoint | None,
) -> tuple[FloatArray, float]:
    """``W_j = |b_j| - |b~_j|`` at lambda.min of a CV'd lasso on the randomly swapped pairs."""
    from service.modeling.fit import fit_model  # the engine loads on first use (package docstring)

    p = built.X.shape[1]
    swap: BoolArray = rng.integers(0, 2, size=p).astype(bool)
    left = np.where(swap, built.knockoffs, built.X)
    right = np.where(swap, built.X, built.knockoffs)
    design = np.asfortranarray(np.hstack([left, right]))
    spec = FitSpec(
        family=family,
        l1_ratio=1.0,
        alpha=None,
        path=PathSpec(),
        cv=CVSpec(n_folds=cv_folds, seed=seed, rule=SelectionRule.MIN),
    )

    def scaled(fraction: float, stage: str) -> None:
        if checkpoint is not None:
            checkpoint(CONSTRUCTION_SHARE + (1 - CONSTRUCTION_SHARE) * fraction, stage)

    outcome = fit_model(
        design, y, spec, sample_weight=weights, n_classes=n_classes, checkpoint=scaled, cv_processes=processes
    )
    magnitude = np.abs(outcome.coef_std[:, 0])
    W: FloatArray = np.where(swap, -1.0, 1.0) * (magnitude[:p] - magnitude[p:])
    return W, float(outcome.alpha)
