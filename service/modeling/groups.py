"""The group lasso's groups of a FitSpec, checked before any numerics run."""

from __future__ import annotations

import numpy as np

from service.modeling.specs import Family, FitSpec, FloatArray, IntArray
from service.modeling.validation import invalid


def check_groups(
    spec: FitSpec, p: int, factors: FloatArray, lower: FloatArray, upper: FloatArray
) -> IntArray | None:
    """``spec.groups`` as an array of ids 0..G-1 (each used), or None; ValidationError naming the
    field for what the group lasso cannot fit (the engine would refuse it with a ValueError)."""
    if spec.groups is None:
        return None
    groups = np.asarray(spec.groups, dtype=np.int64)
    if groups.shape != (p,):
        raise invalid("groups", f"needs one group per design column ({p}), got {groups.shape[0]}")
    if p and (groups.min() < 0 or np.any(np.bincount(groups) == 0)):
        raise invalid("groups", "group ids must be 0..G-1, each used by some column")
    if spec.family == Family.MULTINOMIAL:
        raise invalid("groups", "the group lasso fits families gaussian and binomial, not multinomial")
    if any(ratio <= 0.0 for ratio in spec.l1_ratios()):
        field = "cv.l1_ratios" if spec.cv is not None and spec.cv.l1_ratios is not None else "l1_ratio"
        raise invalid(field, "must be greater than 0 with groups (at 0 the penalty selects no group)")
    if np.any(np.isfinite(lower)) or np.any(np.isfinite(upper)):
        raise invalid("bounds", "cannot be combined with groups")
    first = np.full(int(groups.max(initial=-1)) + 1, np.nan)
    first[groups[::-1]] = factors[::-1]
    unequal = np.flatnonzero(factors != first[groups])
    if unequal.size:
        group = int(groups[unequal[0]])
        raise invalid(
            "penalty_factors", f"must be equal within each group (group {group} has different ones)"
        )
    return groups
