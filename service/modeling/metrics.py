"""Weighted error measures: CV metrics per fold, deviances, deviance ratios and training metrics."""

from __future__ import annotations

import numpy as np

from service.modeling.link import log_probabilities
from service.modeling.specs import BoolArray, CVMetric, Family, FloatArray, IntArray

# cv.glmnet clamps predicted probabilities to [1e-5, 1 - 1e-5] before computing the CV deviance,
# so one confidently wrong held-out row cannot make a fold's deviance infinite.
CV_PROBABILITY_CLIP = 1e-5

Target = FloatArray | IntArray


def weighted_mean(values: FloatArray, w: FloatArray) -> float:
    total = float(w.sum())
    return float(w @ values) / total if total > 0 else float("nan")


def _class_log_likelihood(y: Target, eta: FloatArray, family: Family, clip: bool) -> FloatArray:
    log_p = log_probabilities(eta, family)
    observed: FloatArray = log_p[np.arange(y.shape[0]), np.asarray(y, dtype=np.int64)]
    if clip:
        observed = np.clip(observed, np.log(CV_PROBABILITY_CLIP), np.log1p(-CV_PROBABILITY_CLIP))
    return observed


def observation_errors(
    metric: CVMetric, family: Family, y: Target, eta: FloatArray, clip: bool
) -> FloatArray:
    """Per-row error (n,) for every metric but auc; gaussian deviance is the squared error."""
    if family == Family.GAUSSIAN:
        residual = np.asarray(y, dtype=np.float64) - eta[:, 0]
        return np.abs(residual) if metric == CVMetric.MAE else residual**2
    if metric == CVMetric.MISCLASSIFICATION:
        predicted = np.argmax(log_probabilities(eta, family), axis=1)
        return np.asarray(predicted != y, dtype=np.float64)
    if metric == CVMetric.DEVIANCE:
        return -2.0 * _class_log_likelihood(y, eta, family, clip)
    raise ValueError(f"metric {metric} has no per-row error for family {family}")


def weighted_auc(positive: BoolArray, score: FloatArray, w: FloatArray) -> float:
    """Weighted area under the ROC curve (ties count one half); NaN unless both classes have weight."""
    pos_w = np.where(positive, w, 0.0)
    neg_w = np.where(positive, 0.0, w)
    total_pos, total_neg = float(pos_w.sum()), float(neg_w.sum())
    if total_pos <= 0 or total_neg <= 0:
        return float("nan")
    _, level = np.unique(score, return_inverse=True)
    pos_at = np.bincount(level, weights=pos_w)
    neg_at = np.bincount(level, weights=neg_w)
    neg_below = np.cumsum(neg_at) - neg_at
    return float(pos_at @ (neg_below + 0.5 * neg_at)) / (total_pos * total_neg)


def fold_score(metric: CVMetric, family: Family, y: Target, eta: FloatArray, w: FloatArray) -> float:
    """The CV value of one held-out fold: a weighted mean of row errors, or the fold's weighted AUC."""
    if metric == CVMetric.AUC:
        return weighted_auc(np.asarray(y) == 1, eta[:, 0], w)
    return weighted_mean(observation_errors(metric, family, y, eta, clip=True), w)


def deviance(family: Family, y: Target, eta: FloatArray, w: FloatArray) -> float:
    """Weighted deviance: residual sum of squares, or -2 x log-likelihood."""
    if family == Family.GAUSSIAN:
        return float(w @ observation_errors(CVMetric.MSE, family, y, eta, clip=False))
    return float(-2.0 * (w @ _class_log_likelihood(y, eta, family, clip=False)))


def null_deviance(family: Family, y: Target, w: FloatArray, n_classes: int, fit_intercept: bool) -> float:
    """Deviance of the intercept-only model, or of the zero model without intercept."""
    if family == Family.GAUSSIAN:
        target = np.asarray(y, dtype=np.float64)
        center = weighted_mean(target, w) if fit_intercept else 0.0
        return float(w @ (target - center) ** 2)
    class_weight = np.bincount(np.asarray(y, dtype=np.int64), weights=w, minlength=n_classes)
    if not fit_intercept:
        return float(-2.0 * class_weight.sum() * np.log(1.0 / n_classes))
    seen = class_weight[class_weight > 0]
    return float(-2.0 * (seen @ np.log(seen / seen.sum())))


def deviance_ratio(dev: float, null_dev: float) -> float:
    """1 - dev / null_dev; 0 when the null model is already perfect (nothing left to explain)."""
    return 1.0 - dev / null_dev if null_dev > 0 else 0.0


def train_metrics(family: Family, y: Target, eta: FloatArray, w: FloatArray) -> dict[str, float]:
    """Gaussian: r2, mse, mae. Binomial: deviance, misclassification, auc. Multinomial: no auc.

    Deviance is per row here (weighted mean), like the CV deviance, but without the CV clamp. r2 is
    measured against the weighted mean of y (as scikit-learn's ``score``), even without intercept.
    """
    if family == Family.GAUSSIAN:
        sse = deviance(family, y, eta, w)
        return {
            "r2": deviance_ratio(sse, null_deviance(family, y, w, 1, fit_intercept=True)),
            "mse": sse / float(w.sum()),
            "mae": weighted_mean(observation_errors(CVMetric.MAE, family, y, eta, clip=False), w),
        }
    metrics = {
        "deviance": deviance(family, y, eta, w) / float(w.sum()),
        "misclassification": weighted_mean(
            observation_errors(CVMetric.MISCLASSIFICATION, family, y, eta, clip=False), w
        ),
    }
    if family == Family.BINOMIAL:
        metrics["auc"] = weighted_auc(np.asarray(y) == 1, eta[:, 0], w)
    return metrics
