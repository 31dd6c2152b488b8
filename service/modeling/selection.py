"""glmnet's selection rules on a CV curve (min and 1se) and the choice among l1_ratios."""

from __future__ import annotations

import numpy as np

from service.errors import FitFailedError
from service.modeling.results import CVCurve
from service.modeling.specs import CVMetric, FloatArray, SelectionRule


def as_loss(metric: CVMetric, values: FloatArray) -> FloatArray:
    # AUC is the one metric where higher is better: flip it so every rule minimizes.
    return -values if metric == CVMetric.AUC else values


def select_indices(metric: CVMetric, mean: FloatArray, se: FloatArray) -> tuple[int, int]:
    """(index_min, index_1se) on a curve over decreasing alphas.

    ``min``: the lowest mean error, ties to the largest alpha. ``1se``: the largest alpha whose
    mean error is at most the minimum plus the standard error at the minimum. Undefined points
    (NaN, e.g. AUC on folds lacking a class) never win.
    """
    loss = as_loss(metric, mean)
    finite = np.isfinite(loss)
    if not np.any(finite):
        raise FitFailedError("Cross-validation gave no finite error at any alpha.")
    index_min = int(np.argmin(np.where(finite, loss, np.inf)))
    margin = float(se[index_min]) if np.isfinite(se[index_min]) else 0.0
    within = finite & (loss <= loss[index_min] + margin)
    return index_min, int(np.argmax(within))


def chosen_index(curve: CVCurve, rule: SelectionRule) -> int:
    return curve.index_min if rule == SelectionRule.MIN else curve.index_1se


def best_curve(curves: list[CVCurve]) -> int:
    """Index of the curve (one per l1_ratio) with the best minimum; ties go to the first listed."""
    best = [float(as_loss(c.metric, c.mean[c.index_min : c.index_min + 1])[0]) for c in curves]
    return int(np.argmin(best))
