"""Exact post-selection inference for the gaussian lasso at a fixed alpha (the polyhedral lemma).

Reference: J. D. Lee, D. L. Sun, Y. Sun and J. E. Taylor (2016), "Exact post-selection inference,
with application to the lasso", Annals of Statistics 44(3), 907-927. Transcribed from R's
selectiveInference 1.2.5 (github.com/selective-inference/R-software): ``fixedLassoInf`` with
``family="gaussian", type="partial"`` and ``fixedLassoPoly`` (R/funs.fixed.R), ``TG.limits``,
``TG.pvalue.base`` and ``TG.interval.base`` (R/funs.inf.R).

The lasso. Sparsefit's gaussian lasso at ``alpha`` (l1_ratio 1, unit weights) minimizes
``1/(2n) ||y - b0 - X b||^2 + alpha * sum_j pf_j |b_j|`` over the columns ``z_j = (x_j - m_j) / s_j``
(m_j the column mean with an intercept, else 0; s_j the population SD with ``standardize``, the
root mean square without an intercept, 1 without ``standardize``). The intercept profiles out as
centering, so with ``y_c = y - mean(y)`` (or y) and ``beta = b * s`` the problem times n is
``1/2 ||y_c - Z beta||^2 + sum_j lambda_j |beta_j|`` with ``lambda_j = n * alpha * pf_j``:
fixedLassoInf's objective with ``x = Z``, ``y = y_c``, ``lambda = n * alpha`` (a vector
``n * alpha * pf`` with penalty factors, as fixedLassoPoly accepts though fixedLassoInf's argument
check does not; pf_j = 0 leaves column j unpenalized and without a sign constraint).

The selection event. With E the nonzero coefficients and s their signs, the KKT conditions give
``beta_E = G^-1 (Z_E' y_c - lambda_E * s)``, ``G = Z_E' Z_E``, so the event {E, s} lies in
``{A y_c <= b}``, ``A = -diag(s) G^-1 Z_E'`` and ``b = -diag(s) G^-1 (lambda_E * s)`` (rows of
penalized columns). The inactive constraints are dropped, as R does for type "partial": they depend
on y only through ``(I - P_E) y``, orthogonal to every eta below, so they never truncate.

The targets. For j in E the partial coefficient ``theta_j = e_j' Z_E^+ mu`` (mu = E[y_c]) has the
estimate ``eta' y_c`` with ``eta = s_j Z_E^+' e_j / ||Z_E^+' e_j||``. Given the event, ``eta' y_c``
is N(eta' mu, sigma^2) truncated to [V-, V+] (``TG.limits``), and its survival function there
(``truncated_normal.survival``) is a uniform pivot: at theta = 0 it is R's one-sided p-value
(alternative: theta_j has the sign it was selected with); ``p_value`` is the two-sided
``2 min(pv, 1 - pv)``; the interval at ``level`` inverts the pivot at (1 -+ level)/2 by root
finding (R scans a grid of +-100 SDs around 0; here Brent's method within +-100 SDs of the
estimate, and a bound beyond that is reported infinite, as R does beyond its grid). Coefficients,
standard errors and intervals are reported on the original scale: theta_j / s_j.

Accuracy. The event is only as right as the solution: the given coefficients' support (the
nonzeros: coordinate descent's zeros are exact, where R thresholds |beta_j| at 1e-5) and signs
are re-solved exactly (``beta_E`` above) and the full KKT conditions are checked to
``KKT_TOL`` relative to the largest lambda_j (R warns at a far looser 0.1). ``selective_inference``
refits at a tight tolerance once when they fail. sigma is given or estimated (``noise_level``) and
plugged in, as R does: exact for a known sigma, approximate for an estimated one.
Observation weights, elastic net and coefficient bounds are not supported (refused).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from service.errors import FitFailedError
from service.modeling.results import FitOutcome
from service.modeling.specs import Checkpoint, Family, FitSpec, FloatArray, IntArray, PathSpec
from service.modeling.stats.centered_design import CenteredDesign
from service.modeling.stats.noise_level import NoiseLevel, SigmaMethod, estimate_sigma
from service.modeling.stats.truncated_normal import pivot_root, survival
from service.modeling.validation import invalid

# The exact solution on the given support must satisfy every KKT condition to this, relative to
# the largest lambda_j; above it the selection event is not the one the data produced.
KKT_TOL = 1e-6
# The tolerance of the one refit when the given solution is not accurate enough.
REFIT_TOL = 1e-12
# R's gridrange: interval bounds beyond this many SDs of the estimate are reported infinite.
INTERVAL_SPAN = 100.0


@dataclass(frozen=True)
class InferenceResult:
    """Selective p-values and intervals for the k selected columns (increasing column index).

    All per-column arrays are (k,) and on the original scale. ``coefficient`` is the least-squares
    coefficient on the selected columns (the estimate of the target, R's ``coef0``), ``lasso_coef``
    the exact lasso coefficient; ``lower``/``upper`` may be -inf/+inf (no finite bound within
    ``INTERVAL_SPAN`` SDs); ``truncation_lower``/``truncation_upper`` are the limits [V-, V+] of
    ``coefficient`` given the selection. ``p_value`` is two-sided, ``p_value_one_sided`` R's
    (alternative: the coefficient has its selected sign). ``kkt_violation``: of the exact solution,
    relative to the largest lambda_j; ``refit``: the given solution was not accurate enough and
    the lasso was refit at ``REFIT_TOL``.
    """

    alpha: float
    level: float
    sigma: float
    sigma_method: SigmaMethod
    sigma_df: int
    selected: IntArray
    signs: FloatArray
    lasso_coef: FloatArray
    coefficient: FloatArray
    std_error: FloatArray
    p_value: FloatArray
    p_value_one_sided: FloatArray
    lower: FloatArray
    upper: FloatArray
    truncation_lower: FloatArray
    truncation_upper: FloatArray
    kkt_violation: float
    refit: bool = False


@dataclass(frozen=True)
class _ExactLasso:
    """The lasso solution on a support, solved exactly from its KKT equations."""

    active: IntArray  # (k,)
    signs: FloatArray  # (k,)
    beta: FloatArray  # (k,) standardized scale
    gram_inv: FloatArray  # (k, k) (Z_E' Z_E)^-1
    ols: FloatArray  # (k,) Z_E^+ y_c
    lam: FloatArray  # (k,)
    violation: float


def _exact_lasso(
    design: CenteredDesign, y_c: FloatArray, coef: FloatArray, lam: FloatArray
) -> _ExactLasso | None:
    """Re-solve on the support and signs of ``coef`` (original scale); None when they are not the lasso's."""
    active = np.flatnonzero((coef != 0.0) & design.informative).astype(np.int64)
    signs = np.sign(coef[active])
    Z = design.columns(active)
    gram = Z.T @ Z
    if active.size and np.linalg.matrix_rank(gram) < active.size:
        # The lasso solution is then not unique and the partial targets are undefined.
        raise FitFailedError("the selected columns are collinear: no selective inference for them")
    gram_inv: FloatArray = np.asarray(
        np.linalg.inv(gram) if active.size else np.zeros((0, 0)), dtype=np.float64
    )
    ols = gram_inv @ (Z.T @ y_c)
    beta = ols - gram_inv @ (lam[active] * signs)
    penalized = lam[active] > 0.0
    if np.any(np.sign(beta[penalized]) != signs[penalized]):
        return None
    grad = design.correlate(y_c - Z @ beta)
    inactive = np.ones(coef.shape[0], dtype=bool)
    inactive[active] = False
    inactive &= design.informative
    excess = np.maximum(np.abs(grad[inactive]) - lam[inactive], 0.0)
    scale = float(lam.max()) if lam.size and lam.max() > 0 else 1.0
    violation = float(excess.max() / scale) if excess.size else 0.0
    if violation > KKT_TOL:
        return None
    return _ExactLasso(active, signs, beta, gram_inv, ols, lam[active], violation)


@dataclass(frozen=True)
class _Pivot:
    """One target's truncated normal on the unit-norm eta scale (R's limits.info)."""

    estimate: float
    vlo: float
    vup: float
    norm: float  # ||Z_E^+' e_j||: multiplies the unit scale back to the coefficient scale


def _pivot(fit: _ExactLasso, j: int) -> _Pivot:
    """TG.limits for eta = s_j M_j / ||M_j||, M = G^-1 Z_E', under fixedLassoPoly's A y <= b."""
    s, pen = fit.signs, fit.lam > 0.0
    norm = math.sqrt(fit.gram_inv[j, j])  # M M' = G^-1
    estimate = s[j] * fit.ols[j] / norm
    A_y = -(s * fit.ols)[pen]
    b = -(s * (fit.gram_inv @ (fit.lam * s)))[pen]
    rho = -(s * fit.gram_inv[:, j])[pen] * s[j] / norm  # A eta (eta has unit norm)
    with np.errstate(divide="ignore", invalid="ignore"):
        vec = (b - (A_y - rho * estimate)) / rho
    vlo = float(vec[rho < 0].max()) if np.any(rho < 0) else -math.inf
    vup = float(vec[rho > 0].min()) if np.any(rho > 0) else math.inf
    return _Pivot(estimate, vlo, vup, norm)


def _check_options(level: float, sigma: float | None) -> None:
    if not (0.0 < level < 1.0):
        raise invalid("inference.level", "must lie in (0, 1)")
    if sigma is not None and not (math.isfinite(sigma) and sigma > 0):
        raise invalid("inference.sigma", "must be a positive finite number")


def lasso_inference(
    X: Any,
    y: npt.ArrayLike,
    coef: FloatArray,
    alpha: float,
    *,
    sigma: float | None = None,
    level: float = 0.95,
    standardize: bool = True,
    fit_intercept: bool = True,
    penalty_factors: FloatArray | None = None,
    checkpoint: Checkpoint | None = None,
) -> InferenceResult:
    """fixedLassoInf(type="partial") for the lasso solution ``coef`` (p,), original scale, at ``alpha``.

    X: dense (n, p) or CSC (only the selected columns are densified). Raises FitFailedError when
    ``coef`` is not the lasso solution at ``alpha`` to ``KKT_TOL`` (refit with a smaller tol).
    """
    _check_options(level, sigma)
    design, y_arr, lam = _prepare(X, y, alpha, standardize, fit_intercept, penalty_factors)
    fit = _exact_lasso(design, design.center_target(y_arr), np.asarray(coef, dtype=np.float64), lam)
    if fit is None:
        raise FitFailedError(
            "the lasso solution at alpha is not accurate enough for inference (its support or "
            "signs fail the KKT conditions); refit with a smaller tol"
        )
    spec = _sigma_spec(standardize, fit_intercept, penalty_factors)
    noise = _noise(design, y_arr, spec, sigma, checkpoint)
    return _infer(design, fit, noise, alpha, level, checkpoint)


def _prepare(
    X: Any,
    y: npt.ArrayLike,
    alpha: float,
    standardize: bool,
    fit_intercept: bool,
    penalty_factors: FloatArray | None,
) -> tuple[CenteredDesign, FloatArray, FloatArray]:
    y_arr = np.asarray(y, dtype=np.float64).reshape(-1)
    n, p = X.shape
    if y_arr.shape[0] != n:
        raise ValueError(f"y has {y_arr.shape[0]} rows, X has {n}")
    if not (math.isfinite(alpha) and alpha > 0):
        raise invalid("alpha", "inference needs a positive finite alpha")
    pf = np.ones(p) if penalty_factors is None else np.asarray(penalty_factors, dtype=np.float64)
    if pf.shape != (p,) or np.any(~np.isfinite(pf) | (pf < 0)):
        raise invalid("penalty_factors", "must be one finite non-negative value per design column")
    design = CenteredDesign.build(X, standardize, fit_intercept)
    lam: FloatArray = np.where(design.informative, n * alpha * pf, 0.0)
    return design, y_arr, lam


def _sigma_spec(standardize: bool, fit_intercept: bool, penalty_factors: FloatArray | None) -> FitSpec:
    factors = None if penalty_factors is None else tuple(float(v) for v in penalty_factors)
    return FitSpec(
        family=Family.GAUSSIAN,
        l1_ratio=1.0,
        alpha=None,
        path=PathSpec(),
        cv=None,
        standardize=standardize,
        fit_intercept=fit_intercept,
        penalty_factors=factors,
    )


def _noise(
    design: CenteredDesign, y: FloatArray, spec: FitSpec, sigma: float | None, checkpoint: Checkpoint | None
) -> NoiseLevel:
    if sigma is not None:
        return NoiseLevel(float(sigma), SigmaMethod.GIVEN, 0)
    return estimate_sigma(design, y, spec, checkpoint)


def _infer(
    design: CenteredDesign,
    fit: _ExactLasso,
    noise: NoiseLevel,
    alpha: float,
    level: float,
    checkpoint: Checkpoint | None,
    refit: bool = False,
) -> InferenceResult:
    k = fit.active.size
    out = np.zeros((6, k))  # p one-sided, p two-sided, lower, upper, V-, V+ (coefficient scale)
    tail = (1.0 - level) / 2.0
    sigma = noise.sigma
    for j in range(k):
        if checkpoint is not None:
            checkpoint(j / k, "inference")
        pv = _pivot(fit, j)
        one = survival(pv.estimate, 0.0, sigma, pv.vlo, pv.vup)
        lo = pivot_root(pv.estimate, sigma, pv.vlo, pv.vup, tail, INTERVAL_SPAN)
        hi = pivot_root(pv.estimate, sigma, pv.vlo, pv.vup, 1.0 - tail, INTERVAL_SPAN)
        limits = np.array([lo, hi, pv.vlo, pv.vup]) * pv.norm
        if fit.signs[j] < 0:  # R's flip: eta was oriented by the sign
            limits = -limits[[1, 0, 3, 2]]
        out[:, j] = [one, min(1.0, 2.0 * min(one, 1.0 - one)), *limits]
    scale = design.scale[fit.active]
    norms = np.sqrt(np.diag(fit.gram_inv)) if k else np.zeros(0)
    return InferenceResult(
        alpha=alpha,
        level=level,
        sigma=sigma,
        sigma_method=noise.method,
        sigma_df=noise.df,
        selected=fit.active,
        signs=fit.signs,
        lasso_coef=fit.beta / scale,
        coefficient=fit.ols / scale,
        std_error=sigma * norms / scale,
        p_value=out[1],
        p_value_one_sided=out[0],
        lower=out[2] / scale,
        upper=out[3] / scale,
        truncation_lower=out[4] / scale,
        truncation_upper=out[5] / scale,
        kkt_violation=fit.violation,
        refit=refit,
    )


def _check_spec(spec: FitSpec, sample_weight: npt.ArrayLike | None) -> None:
    if spec.family != Family.GAUSSIAN:
        raise invalid("family", "inference is for the gaussian family only")
    if spec.l1_ratio != 1.0 or (spec.cv is not None and spec.cv.l1_ratios is not None):
        raise invalid("penalty", "inference is for the lasso (l1_ratio 1) only")
    if spec.alpha is None:
        raise invalid("alpha", "inference needs a fixed alpha (a CV-chosen alpha depends on y)")
    bounded = [b for b in (spec.lower_bounds, spec.upper_bounds) if b is not None]
    if any(math.isfinite(v) for bound in bounded for v in bound):
        raise invalid("bounds", "inference does not support coefficient bounds")
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.size and np.any(w != w.flat[0]):
            raise invalid("weights_column", "inference does not support observation weights")


def selective_inference(
    X: Any,
    y: npt.ArrayLike,
    spec: FitSpec,
    outcome: FitOutcome,
    *,
    sample_weight: npt.ArrayLike | None = None,
    sigma: float | None = None,
    level: float = 0.95,
    checkpoint: Checkpoint | None = None,
) -> InferenceResult:
    """Inference for the model ``fit_model(X, y, spec)`` returned, at its alpha (see the module doc).

    Refuses (ValidationError naming the field) a non-gaussian family, l1_ratio != 1, no fixed
    alpha, finite bounds and unequal weights. When ``outcome``'s coefficients fail the KKT check,
    refits once at ``REFIT_TOL`` (``refit`` True); FitFailedError when that fails too.
    """
    _check_spec(spec, sample_weight)
    _check_options(level, sigma)
    pf = None if spec.penalty_factors is None else np.asarray(spec.penalty_factors, dtype=np.float64)
    design, y_arr, lam = _prepare(X, y, outcome.alpha, spec.standardize, spec.fit_intercept, pf)
    y_c = design.center_target(y_arr)
    fit = _exact_lasso(design, y_c, outcome.coef[:, 0], lam)
    refit = fit is None
    if fit is None:
        from service.modeling.fit import fit_model  # the engine's kernels, only when needed

        tight = replace(spec, alpha=outcome.alpha, cv=None, tol=REFIT_TOL)
        again = fit_model(X, y_arr, tight, checkpoint=checkpoint)
        fit = _exact_lasso(design, y_c, again.coef[:, 0], lam)
        if fit is None:
            raise FitFailedError("the lasso solution at alpha fails the KKT conditions even at a tight tol")
    noise = _noise(design, y_arr, spec, sigma, checkpoint)
    return _infer(design, fit, noise, outcome.alpha, level, checkpoint, refit)
