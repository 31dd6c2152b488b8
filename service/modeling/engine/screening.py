"""Which columns coordinate descent looks at: sequential strong rules, KKT checks, working sets."""

from __future__ import annotations

import numpy as np

from service.modeling.engine.penalty import Penalty
from service.modeling.specs import BoolArray, FloatArray, IntArray

# A single fit far below alpha_max gets no help from the strong rule (its threshold goes
# negative); it starts from the most promising columns and doubles the set on KKT failures.
FIRST_WORKING_SET = 32
# A zero coefficient whose gradient exceeds its threshold by less than this (relative) is left at
# zero: at alpha_max that is rounding, and moving it would change the objective by ~1e-18.
SLACK = 1e-9


def strong_set(
    penalty: Penalty, q_prev: FloatArray, alpha: float, alpha_prev: float, beta: FloatArray
) -> BoolArray:
    """Tibshirani et al.'s sequential strong rule, plus every nonzero and unpenalized column.

    ``q_prev`` (p,) or (p, K) is minus the loss gradient at the previous alpha's solution.
    """
    push = _push(penalty, q_prev)
    threshold = penalty.l1_ratio * penalty.factors * (2.0 * alpha - alpha_prev)
    keep: BoolArray = (push >= threshold) | _nonzero(beta) | penalty.unpenalized
    if penalty.l1_ratio == 0.0:
        keep = np.ones_like(keep)
    return keep & penalty.free


def starting_set(penalty: Penalty, q: FloatArray, alpha: float, beta: FloatArray) -> BoolArray:
    """For a cold or far jump: the nonzero and unpenalized columns and the top violators."""
    lam1, _ = penalty.strengths(alpha)
    excess = _push(penalty, q) - lam1
    keep: BoolArray = _nonzero(beta) | penalty.unpenalized
    if penalty.l1_ratio == 0.0:
        return penalty.free.copy()
    candidates = np.flatnonzero((excess > SLACK * lam1) & ~keep & penalty.free)
    size = max(FIRST_WORKING_SET, 2 * int(keep.sum()))
    if candidates.size > size:
        candidates = candidates[np.argpartition(-excess[candidates], size)[:size]]
    keep[candidates] = True
    return keep & penalty.free


def violators(penalty: Penalty, q: FloatArray, alpha: float, outside: BoolArray) -> BoolArray:
    """Columns outside the working set whose zero coefficient breaks the KKT conditions."""
    lam1, _ = penalty.strengths(alpha)
    found: BoolArray = outside & (_push(penalty, q) > lam1 * (1.0 + SLACK)) & penalty.free
    return found


def grow(penalty: Penalty, q: FloatArray, alpha: float, working: BoolArray) -> BoolArray:
    """Add the worst violators (at most as many as the set holds, at least FIRST_WORKING_SET)."""
    lam1, _ = penalty.strengths(alpha)
    found = np.flatnonzero(violators(penalty, q, alpha, ~working))
    limit = max(FIRST_WORKING_SET, int(working.sum()))
    if found.size > limit:
        excess = _push(penalty, q)[found] - lam1[found]
        found = found[np.argpartition(-excess, limit)[:limit]]
    grown = working.copy()
    grown[found] = True
    return grown


def indices(mask: BoolArray) -> IntArray:
    return np.flatnonzero(mask).astype(np.int64)


def _push(penalty: Penalty, q: FloatArray) -> FloatArray:
    if q.ndim == 1:
        return penalty.allowed_push(q)
    push: FloatArray = np.max(np.stack([penalty.allowed_push(q[:, k]) for k in range(q.shape[1])]), axis=0)
    return push


def _nonzero(beta: FloatArray) -> BoolArray:
    nz: BoolArray = beta != 0.0 if beta.ndim == 1 else np.any(beta != 0.0, axis=1)
    return nz
