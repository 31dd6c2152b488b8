"""Exact power-of-two rescaling of an extreme target and extreme columns, and its undoing on a FitOutcome."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from service.errors import InvalidDataError
from service.modeling.results import CVCurve, FitOutcome, PathResult
from service.modeling.specs import CVMetric, FloatArray

# Data whose largest magnitude lies in [2^-BAND, 2^BAND] (~1e-60 to ~1e60) is solved as given, bit
# for bit. Beyond, squares, Gram entries and duality gaps overflow or underflow (a target at 1e300
# made the gaussian solver spin to the job timeout; one at 1e-300 looked constant): such a target
# or column is divided by a power of two near its largest magnitude, which rounds nothing, so the
# engine works in a unit range, and the results are mapped back.
BAND = 200
_LOW, _HIGH = math.ldexp(1.0, -BAND), math.ldexp(1.0, BAND)
# Below the smallest normal double, values keep only a few significant bits: not data to fit.
TINY = float(np.finfo(np.float64).tiny)


def unit_scale(largest: float) -> float:
    """1.0 inside the band (or for 0), else the power of two 2^e with ``largest / 2^e`` in [1, 2)."""
    if largest == 0.0 or _LOW <= largest <= _HIGH:
        return 1.0
    _, exponent = math.frexp(largest)  # largest = m * 2^exponent, m in [0.5, 1)
    return math.ldexp(1.0, exponent - 1)  # at most 2^1023: never overflows


def unit_scales(maxima: FloatArray) -> FloatArray:
    """``unit_scale`` of each entry, vectorized (a sparse design may have 250,000 columns)."""
    scales = np.ones(maxima.shape[0], dtype=np.float64)
    outside = (maxima > 0.0) & ((maxima < _LOW) | (maxima > _HIGH))
    if np.any(outside):
        _, exponents = np.frexp(maxima[outside])
        scales[outside] = np.ldexp(1.0, exponents - 1)
    return scales


def column_label(names: tuple[str, ...] | None, j: int) -> tuple[str, dict[str, Any]]:
    """How a message names design column j, and the problem's ``column`` member when it has a name."""
    if names is not None and j < len(names):
        return f'column "{names[j]}"', {"column": names[j]}
    return f"design column {j}", {}


def target_label(name: str | None) -> tuple[str, dict[str, Any]]:
    return ("the target", {}) if name is None else (f'the target "{name}"', {"column": name})


def too_small(label: str, largest: float, extensions: dict[str, Any]) -> InvalidDataError:
    return InvalidDataError(
        f"the values of {label} are all below {TINY:.3g} in magnitude (the largest is {largest:.3g}): "
        "too small to fit; rescale it",
        **extensions,
    )


def penalty_units(l1_ratio: float, target_scale: float) -> tuple[float, float]:
    """``(l1_ratio', k)``: the penalty of the problem whose target is divided by ``target_scale``.

    With y = s y' and beta = s beta', the objective is s^2 times that of y' with L1 strength
    ``alpha l1 / s`` and L2 strength ``alpha (1 - l1)``: an elastic net at ``alpha' = k alpha``
    with ``k = l1 / s + 1 - l1`` and ``l1' = (l1 / s) / k``. Identity for s = 1.
    """
    if target_scale == 1.0:
        return l1_ratio, 1.0
    l1_part = l1_ratio / target_scale
    k = l1_part + (1.0 - l1_ratio)
    return (l1_part / k if k > 0 else l1_ratio), k


@dataclass(frozen=True)
class Scaling:
    """The target was divided by ``target`` and design column j by ``columns[j]`` (all powers of two)."""

    target: float
    columns: FloatArray  # (p,)

    @property
    def identity(self) -> bool:
        return self.target == 1.0 and not np.any(self.columns != 1.0)

    def coefficient_bounds(self, lower: FloatArray, upper: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Bounds on the scaled problem's coefficients: ``beta' = beta * column scale / target scale``."""
        exponent = _exponent(self.columns) - _exponent(self.target)
        with np.errstate(over="ignore", under="ignore"):
            return _times(lower, exponent), _times(upper, exponent)

    def design(self, X: Any) -> Any:
        """X with its scaled columns divided (a copy only when some column is scaled)."""
        if not np.any(self.columns != 1.0):
            return X
        if sp.issparse(X):
            csc = sp.csc_matrix(X, copy=True)
            csc.data /= np.repeat(self.columns, np.diff(csc.indptr))
            return csc
        out = np.array(X, dtype=np.float64, order="F", copy=True)
        for j in np.flatnonzero(self.columns != 1.0):
            out[:, j] /= self.columns[j]
        return out


def column_maxima(X: Any) -> FloatArray:
    """Largest |x_ij| of each column."""
    if sp.issparse(X):
        csc = sp.csc_matrix(X)
        return np.asarray(abs(csc).max(axis=0).toarray()).reshape(-1).astype(np.float64)
    if X.shape[0] == 0:
        return np.zeros(X.shape[1])
    # Column maxima and minima rather than np.abs(X): no temporary the size of the design.
    maxima: FloatArray = np.maximum(np.max(X, axis=0), -np.min(X, axis=0)).astype(np.float64)
    return maxima


def choose_scaling(
    X: Any,
    y: FloatArray | None,
    standardize: bool,
    column_names: tuple[str, ...] | None,
    target_name: str | None,
) -> Scaling:
    """The scaling that brings ``X`` (and the gaussian target ``y``) into the unit range.

    Refused (InvalidDataError naming the column): a column or target whose nonzero values are all
    subnormal, and a column outside the band under ``standardize: false``, whose penalty applies to
    its raw coefficient (about 1/scale: its square overflows or underflows with the column's).
    """
    maxima = column_maxima(X)
    for j in np.flatnonzero((maxima > 0.0) & (maxima < TINY)):
        label, extensions = column_label(column_names, int(j))
        raise too_small(label, float(maxima[j]), extensions)
    columns = unit_scales(maxima)
    if not standardize:
        for j in np.flatnonzero(columns != 1.0):
            label, extensions = column_label(column_names, int(j))
            raise InvalidDataError(
                f"the largest magnitude in {label} is {maxima[j]:.3g}; with standardize: false it must "
                f"lie within {_LOW:.3g} to {_HIGH:.3g} (standardize, or rescale the column)",
                **extensions,
            )
    target = 1.0
    if y is not None and y.size:
        largest = float(np.max(np.abs(y)))
        if 0.0 < largest < TINY:
            label, extensions = target_label(target_name)
            raise too_small(label, largest, extensions)
        target = unit_scale(largest)
    return Scaling(target=target, columns=columns)


def _exponent(power_of_two: float | FloatArray) -> Any:
    """k of 2^k, exactly (the scales are powers of two)."""
    return np.frexp(power_of_two)[1] - 1


def _times(values: Any, exponent: Any) -> Any:
    """``values * 2^exponent`` exactly: 0 stays 0 where a product of scales would be 0 * inf."""
    return np.ldexp(values, exponent)


# The gaussian measures that carry the target's unit (r2 and deviance ratios carry none).
_SCALED_METRICS = frozenset({"mse", "mae", "deviance"})


def _metric_exponent(metric: str, target: int) -> int:
    # Squared errors (mse, gaussian deviance) scale with s^2, absolute ones with s; r2 not at all.
    return target if metric == CVMetric.MAE else 2 * target if metric in _SCALED_METRICS else 0


def _scaled_curve(curve: CVCurve, exponent: int) -> CVCurve:
    e = _metric_exponent(curve.metric, exponent)
    return replace(curve, mean=_times(curve.mean, e), se=_times(curve.se, e), folds=_times(curve.folds, e))


def unscale_outcome(outcome: FitOutcome, scaling: Scaling, gaussian: bool) -> FitOutcome:
    """``outcome`` of the scaled problem on the original scale of target and columns.

    Squared measures of a target near 1e300 overflow here to inf (reported as null) and those near
    1e-300 underflow towards 0: they are what they are; selection and deviance ratios were made on
    the scaled problem, where they are exact. Every factor is a power of two: applied exactly.
    """
    if scaling.identity:
        return outcome
    es, ec = int(_exponent(scaling.target)), np.asarray(_exponent(scaling.columns), dtype=np.int64)
    coef_exponent = es - ec
    gap = 2 * es if gaussian else 0
    with np.errstate(over="ignore", under="ignore"):
        path: PathResult = outcome.path
        path = replace(
            path,
            coef=_times(path.coef, coef_exponent[np.newaxis, :, np.newaxis]),
            coef_std=_times(path.coef_std, es),
            intercept=_times(path.intercept, es),
            dual_gap=_times(path.dual_gap, gap),
        )
        cv = outcome.cv
        if cv is not None and gaussian:
            cv = replace(
                cv,
                curves=tuple(_scaled_curve(c, es) for c in cv.curves),
                relaxed=tuple(_scaled_curve(c, es) for c in cv.relaxed),
            )
        cv_metrics = outcome.cv_metrics
        if cv_metrics is not None and gaussian:
            e = _metric_exponent(next(k for k in cv_metrics if k != "se"), es)
            cv_metrics = {k: float(_times(v, e)) for k, v in cv_metrics.items()}
        train = dict(outcome.train_metrics)
        if gaussian:
            train = {k: float(_times(v, _metric_exponent(k, es))) for k, v in train.items()}
        return replace(
            outcome,
            intercept=_times(outcome.intercept, es),
            coef=_times(outcome.coef, coef_exponent[:, np.newaxis]),
            coef_std=_times(outcome.coef_std, es),
            path=path,
            cv=cv,
            cv_metrics=cv_metrics,
            train_metrics=train,
            convergence=replace(
                outcome.convergence, dual_gap=float(_times(outcome.convergence.dual_gap, gap))
            ),
            x_mean=_times(outcome.x_mean, ec),
            x_scale=_times(outcome.x_scale, ec),
        )


def check_representable(
    outcome: FitOutcome, column_names: tuple[str, ...] | None, target_name: str | None
) -> None:
    """InvalidDataError naming the column whose coefficient (at some alpha of the path) or the
    target whose intercept is too large for a double: data at opposite extremes (a target near
    1e300 on a column near 1e-300)."""
    coef = outcome.path.coef
    bad = np.flatnonzero(~np.all(np.isfinite(coef), axis=(0, 2))) if coef.size else np.zeros(0, np.int64)
    if bad.size:
        label, extensions = column_label(column_names, int(bad[0]))
        raise InvalidDataError(
            f"the coefficient of {label} is too large to represent: the target's magnitude is too "
            "far from the column's; rescale one of them",
            **extensions,
        )
    if not np.all(np.isfinite(outcome.path.intercept)):
        label, extensions = target_label(target_name)
        raise InvalidDataError(f"the intercept is too large to represent; rescale {label}", **extensions)
