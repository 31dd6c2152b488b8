"""What a tall fit supports, and the data checks ``fit_model`` makes, here on reduced statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.errors import InvalidDataError
from service.modeling.scaling import TINY, column_label, target_label, too_small, unit_scale, unit_scales
from service.modeling.specs import CVMetric, Family, FitSpec, FloatArray, IntArray
from service.modeling.tall.moments import FoldMoments
from service.modeling.validation import check_column_options, check_spec, invalid


@dataclass(frozen=True)
class ColumnOptions:
    """Penalty factors, bounds (original scale) and the column -> feature map, one per column."""

    factors: FloatArray
    lower: FloatArray
    upper: FloatArray
    features: IntArray | None


def check_supported(spec: FitSpec) -> None:
    """ValidationError naming the option a tall fit does not support (``fit_model`` does)."""
    check_spec(spec)
    if spec.family == Family.MULTINOMIAL:
        raise invalid("family", "multinomial is not available on a partitioned dataset")
    refused = {"relax": spec.relax, "adaptive": spec.adaptive is not None, "groups": spec.groups is not None}
    for name, used in refused.items():
        if used:
            raise invalid(name, "is not available on a partitioned dataset")
    metric = spec.cv_metric()
    if spec.cv is not None and metric in (CVMetric.MAE, CVMetric.AUC):
        # Neither is a sum over rows of a few statistics: each would need every held-out prediction.
        raise invalid("cv.metric", f"{metric} is not available on a partitioned dataset")


def check_moments(spec: FitSpec, moments: FoldMoments) -> ColumnOptions:
    """The checks ``fit_model`` makes on the arrays, from the reduced statistics.

    InvalidDataError for fewer than 2 rows, all-zero weights, no varying feature, and a column or
    target outside the range the engine solves as given (the in-memory fit rescales those by
    powers of two; a tall fit refuses them, naming the column).
    """
    if int(moments.count.sum()) < 2:
        raise InvalidDataError(f"a fit needs at least 2 rows; the dataset has {int(moments.count.sum())}")
    if not moments.total.sum() > 0:
        raise invalid("weights_column", "weights must not all be zero")
    lo, hi = moments.x_min.min(axis=0), moments.x_max.max(axis=0)
    if not np.any(lo < hi):
        raise InvalidDataError("every feature is constant: no alpha could select anything")
    _check_magnitudes(spec, moments)
    factors, lower, upper, features = check_column_options(spec, moments.sx.shape[1])
    return ColumnOptions(factors, lower, upper, features)


def _check_magnitudes(spec: FitSpec, moments: FoldMoments) -> None:
    for j in np.flatnonzero((moments.x_abs > 0.0) & (moments.x_abs < TINY)):
        label, extensions = column_label(spec.column_names, int(j))
        raise too_small(label, float(moments.x_abs[j]), extensions)
    for j in np.flatnonzero(unit_scales(moments.x_abs) != 1.0):
        label, extensions = column_label(spec.column_names, int(j))
        raise InvalidDataError(
            f"the largest magnitude in {label} is {moments.x_abs[j]:.3g}: on a partitioned dataset "
            "columns must lie within about 1e-60 to 1e60 in magnitude (rescale the column)",
            **extensions,
        )
    large = unit_scale(moments.y_abs) != 1.0
    if spec.family == Family.GAUSSIAN and (large or 0 < moments.y_abs < TINY):
        label, extensions = target_label(spec.target_name)
        raise InvalidDataError(
            f"the largest magnitude of {label} is {moments.y_abs:.3g}: on a partitioned dataset the "
            "target must lie within about 1e-60 to 1e60 in magnitude (rescale it)",
            **extensions,
        )
