"""Checks on the arrays and the spec before any numerics run, raised as the service's own errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from service.errors import InvalidDataError, ValidationError
from service.modeling.specs import (
    CLASSIFICATION_METRICS,
    GAUSSIAN_METRICS,
    CVMetric,
    CVSpec,
    Family,
    FitSpec,
    FloatArray,
    IntArray,
    PathSpec,
)

# A nonzero penalty factor below this (1e-320 was one) puts alpha_max, gradient / factor, beyond
# any double: refused, as at submit (service.data.checks). 0 is the way to leave a column unpenalized.
MIN_PENALTY_FACTOR = 1e-300
# Observation weights whose largest lies outside this range are divided by it before they are
# normalised to sum to n (their sum, or n over it, would overflow).
WEIGHT_RANGE = (1e-150, 1e150)


def invalid(field: str, message: str) -> ValidationError:
    """A ValidationError whose detail and ``errors`` member name the request field at fault."""
    loc = ["body", *field.split(".")]
    return ValidationError(
        f"{field}: {message}", errors=[{"loc": loc, "msg": message, "type": "value_error"}]
    )


def _positive_finite(value: float) -> bool:
    return math.isfinite(value) and value > 0


def check_spec(spec: FitSpec) -> None:
    if not (math.isfinite(spec.l1_ratio) and 0.0 <= spec.l1_ratio <= 1.0):
        raise invalid("l1_ratio", "must lie in [0, 1]")
    if spec.alpha is not None and not _positive_finite(spec.alpha):
        raise invalid("alpha", "must be a positive finite number")
    if spec.tol is not None and not _positive_finite(spec.tol):
        raise invalid("solver.tol", "must be a positive finite number")
    if spec.max_iter < 1:
        raise invalid("solver.max_iter", "must be at least 1")
    _check_path(spec.path)
    if spec.cv is not None:
        _check_cv(spec.cv, spec.family)


def _check_path(path: PathSpec) -> None:
    if path.n_alphas < 1:
        raise invalid("path.n_alphas", "must be at least 1")
    ratio = path.alpha_min_ratio
    if ratio is not None and not (math.isfinite(ratio) and 0.0 < ratio < 1.0):
        raise invalid("path.alpha_min_ratio", "must lie in (0, 1)")
    if path.alphas is not None and (len(path.alphas) == 0 or not all(map(_positive_finite, path.alphas))):
        raise invalid("path.alphas", "must be a non-empty list of positive finite numbers")


def _check_cv(cv: CVSpec, family: Family) -> None:
    allowed = GAUSSIAN_METRICS if family == Family.GAUSSIAN else CLASSIFICATION_METRICS
    if cv.metric is not None and cv.metric not in allowed:
        raise invalid("cv.metric", f"{cv.metric} does not apply to family {family}")
    if cv.metric == CVMetric.AUC and family != Family.BINOMIAL:
        raise invalid("cv.metric", "auc needs family binomial")
    if cv.stratify and family == Family.GAUSSIAN:
        raise invalid("cv.stratify", "stratification needs a classification family")
    ratios = cv.l1_ratios
    if ratios is not None and (len(ratios) == 0 or not all(math.isfinite(r) and 0 <= r <= 1 for r in ratios)):
        raise invalid("cv.l1_ratios", "must be a non-empty list of numbers in [0, 1]")


def check_design(X: Any) -> Any:
    """A 2-D float64 design, dense or scipy.sparse (kept sparse, as CSC), all finite."""
    if sp.issparse(X):
        csc = sp.csc_matrix(X, dtype=np.float64)
        if csc.shape[0] == 0:
            raise InvalidDataError("The data has no rows to fit.")
        if not np.all(np.isfinite(csc.data)):
            raise InvalidDataError("The design matrix contains missing or non-finite values.")
        return csc
    # Fortran order once here (a no-op for the service's designs): coordinate descent walks columns,
    # and every CV fold then shares this one array.
    X = np.asfortranarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    if X.shape[0] == 0:
        raise InvalidDataError("The data has no rows to fit.")
    if not np.all(np.isfinite(X)):
        raise InvalidDataError("The design matrix contains missing or non-finite values.")
    return X


def _column_vector(values: tuple[float, ...] | None, p: int, field: str, default: float) -> FloatArray:
    if values is None:
        return np.full(p, default)
    vector = np.asarray(values, dtype=np.float64)
    if vector.shape != (p,):
        raise invalid(field, f"needs one value per design column ({p}), got {vector.shape[0]}")
    return vector


def check_column_options(spec: FitSpec, p: int) -> tuple[FloatArray, FloatArray, FloatArray, IntArray | None]:
    """Penalty factors (finite, >= 0), bounds (lower <= 0 <= upper) and the column -> feature map."""
    factors = _column_vector(spec.penalty_factors, p, "penalty_factors", 1.0)
    if not np.all(np.isfinite(factors) & (factors >= 0)):
        raise invalid("penalty_factors", "must be finite and non-negative")
    if np.any((factors > 0) & (factors < MIN_PENALTY_FACTOR)):
        raise invalid("penalty_factors", f"must be 0 (unpenalized) or at least {MIN_PENALTY_FACTOR:g}")
    lower = _column_vector(spec.lower_bounds, p, "bounds", -np.inf)
    upper = _column_vector(spec.upper_bounds, p, "bounds", np.inf)
    if np.any(np.isnan(lower) | np.isnan(upper)) or np.any(lower > 0) or np.any(upper < 0):
        raise invalid("bounds", "each [lower, upper] must satisfy lower <= 0 <= upper")
    if spec.max_features is not None and spec.max_features < 1:
        raise invalid("max_features", "must be at least 1")
    features = None
    if spec.column_features is not None:
        features = np.asarray(spec.column_features, dtype=np.int64)
        if features.shape != (p,):
            raise ValueError(f"column_features must have shape ({p},), got {features.shape}")
    return factors, lower, upper, features


def normalized_weights(sample_weight: npt.ArrayLike | None, n: int) -> FloatArray:
    """Observation weights scaled to sum to n, as the objective assumes."""
    if sample_weight is None:
        return np.ones(n, dtype=np.float64)
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise invalid("weights_column", "weights must be finite and non-negative")
    largest = float(w.max(initial=0.0))
    if largest <= 0:
        raise invalid("weights_column", "weights must not all be zero")
    if not WEIGHT_RANGE[0] <= largest <= WEIGHT_RANGE[1]:
        # The sum of weights near 1e308 overflows, and n over that of subnormal ones does: divided
        # by the largest first, they sum to [1, n]. Ordinary weights are normalised as they were.
        w = w / largest
    normalized: FloatArray = w * (n / float(w.sum()))
    return normalized


def check_gaussian_target(y: npt.ArrayLike, n: int) -> FloatArray:
    target = np.asarray(y, dtype=np.float64)
    if target.shape != (n,):
        raise ValueError(f"y must have shape ({n},), got {target.shape}")
    if not np.all(np.isfinite(target)):
        raise InvalidDataError("The target contains missing or non-finite values.")
    return target


def _integer_codes(values: npt.ArrayLike, n: int, name: str) -> IntArray | None:
    """Integer codes of shape (n,); integral floats are accepted, anything else gives None."""
    raw = np.asarray(values)
    if raw.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got {raw.shape}")
    if np.issubdtype(raw.dtype, np.integer):
        return raw.astype(np.int64)
    if np.issubdtype(raw.dtype, np.floating) and np.all(np.isfinite(raw)) and np.all(raw == np.round(raw)):
        return raw.astype(np.int64)
    return None


def check_class_target(
    y: npt.ArrayLike, w: FloatArray, family: Family, n_classes: int | None
) -> tuple[IntArray, int]:
    """Class codes 0..K-1 and K; every class needs positive weight, binomial needs K == 2."""
    codes = _integer_codes(y, w.shape[0], "y")
    if codes is None:
        raise InvalidDataError("A classification target must be integer class codes.")
    k = int(codes.max()) + 1 if n_classes is None else int(n_classes)
    if codes.min() < 0 or codes.max() >= k:
        raise InvalidDataError(f"Class codes must lie in 0..{k - 1}.")
    if family == Family.BINOMIAL and k != 2:
        raise InvalidDataError(f"Family binomial needs exactly 2 classes, got {k}.")
    if k < 2:
        raise InvalidDataError("A classification target needs at least 2 classes.")
    class_weight = np.bincount(codes, weights=w, minlength=k)
    if np.any(class_weight <= 0):
        raise InvalidDataError("Every class of the target needs at least one row with positive weight.")
    return codes, k


def check_fold_ids(fold_ids: npt.ArrayLike, n: int) -> IntArray:
    """User-given folds: integers 0..K-1 with K >= 2, every fold non-empty."""
    codes = _integer_codes(fold_ids, n, "fold_ids")
    if codes is None or codes.min() < 0:
        raise invalid("cv.fold_column", "fold ids must be 0..K-1")
    counts = np.bincount(codes)
    if counts.shape[0] < 2 or np.any(counts == 0):
        raise invalid("cv.fold_column", "needs at least 2 folds, each with at least one row")
    return codes
