"""The in-memory standardization (weighted mean and SD, informative columns) from reduced moments."""

from __future__ import annotations

import numpy as np

from service.modeling.engine import GramMoments
from service.modeling.specs import FloatArray
from service.modeling.standardize import Standardization


def moment_standardization(
    moments: GramMoments,
    x_min: FloatArray,
    x_max: FloatArray,
    standardize: bool,
    fit_intercept: bool,
) -> Standardization:
    """``standardize.fit_standardization`` from the rows' moments and their column ranges.

    ``x_min`` / ``x_max`` are over the positive-weight rows: a column is informative when it is not
    constant there (with an intercept) or not all zero (without), decided exactly, as in memory.
    The second moment about the mean is ``S_jj / W - 2 m_j sx_j / W + m_j^2``: it loses
    ``mean^2 / variance`` ulps to cancellation where the in-memory two-pass sum loses none.
    """
    p = moments.sx.shape[0]
    active = x_min < x_max if fit_intercept else (x_min != 0.0) | (x_max != 0.0)
    mean = np.zeros(p, dtype=np.float64)
    scale = np.ones(p, dtype=np.float64)
    if standardize:
        total = moments.total
        first = moments.sx / total
        if fit_intercept:
            mean = first
        second = np.diag(moments.S) / total - 2.0 * mean * first + mean * mean
        scale = np.where(active, np.sqrt(np.maximum(second, 0.0)), 1.0)
        scale = np.where(scale > 0, scale, 1.0)
    return Standardization(mean=mean, scale=scale, active=active)
