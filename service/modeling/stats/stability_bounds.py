"""Error bounds of stability selection: Meinshausen-Buhlmann's and Shah-Samworth's (unimodal, r-concave).

With p features, the threshold pi, ``q`` the average number of features selected per subsample
and B complementary pairs, each bound is on E(V), the expected number of selected noise features:

- Meinshausen & Buhlmann (2010), Theorem 1: ``q^2 / ((2 pi - 1) p)``.
- Shah & Samworth (2013), unimodal selection probabilities (their eq. 8-9, as stabs' ``um_const``):
  ``q^2 / (p C)`` with ``C = 2 (2 pi - 1 - 1/(2B))`` for pi <= 3/4 and
  ``C = (1 + 1/B) / (4 (1 - pi + 1/(2B)))`` above.
- Shah & Samworth (2013), r-concave tails (their Theorem 3 with r = -1/2 and -1/4, as stabs'
  ``minD``): ``p * min(1, D(theta^2, 2B pi - B, B, -1/2), D(theta, 2B pi, 2B, -1/4))``,
  theta = q/p, D the largest tail probability of an r-concave law with that mean, computed as in
  Shah & Samworth's published R code ``r_concave_tail.R`` (via stabs' ``helpers.R``).

Each is transcribed from stabs 0.7-1 (R/helpers.R, R/stabsel.R); None where stabs stops with an
error (threshold or q outside the bound's range).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq, minimize_scalar

# stabs' uniroot tolerance, .Machine$double.eps^0.75, and optimize's default, eps^0.25.
ROOT_TOL = float(np.finfo(np.float64).eps ** 0.75)
OPTIMIZE_TOL = float(np.finfo(np.float64).eps ** 0.25)


def mb_bound(q: float, p: int, threshold: float) -> float:
    """Meinshausen & Buhlmann's bound on E(V): q^2 / ((2 threshold - 1) p)."""
    if q == 0:
        return 0.0
    return q * q / ((2 * threshold - 1) * p) if threshold > 0.5 else math.inf


def ss_unimodal_bound(q: float, p: int, threshold: float, n_pairs: int) -> float | None:
    """Shah & Samworth's bound under unimodality, stabs' ``q^2 / p / um_const(cutoff, B, q/p)``."""
    if q == 0:
        return 0.0
    theta, b = q / p, n_pairs
    if threshold <= 0.75:
        if threshold < 0.5 + min(theta**2, 1 / (2 * b) + 0.75 * theta**2):
            return None  # stabs: "cutoff out of bounds"
        constant = 2 * (2 * threshold - 1 - 1 / (2 * b))
    else:
        constant = (1 + 1 / b) / (4 * (1 - threshold + 1 / (2 * b)))
    return q * q / p / constant


def _max_q(p: int, n_pairs: int) -> int:
    """stabs' ``maxQ``: the largest q for which the r-concave bound is defined."""
    q = np.arange(1, p + 1, dtype=np.float64)
    return int(np.count_nonzero(np.ceil(q * 4 * n_pairs / p) + 1 - 2 * n_pairs < 0))


def _tail(theta: float, which: int, b: int, r: float) -> float | None:
    """stabs' ``D(theta, which, B, r)``: the upper tail at ``which`` of an r-concave law on 0..B
    with mean theta * B, maximized over the law (Shah & Samworth's r_concave_tail.R)."""
    s, theta_b = 1 / r, theta * b
    k_start = math.ceil(2 * theta_b) + 1
    if which < k_start:
        return 1.0
    if k_start > b - 1:
        return None  # stabs: "theta to large" (or an empty optimization range)

    def mean_gap(a: float, k: int) -> float:
        weights = (a + np.arange(k + 1)) ** s
        return float(np.dot(np.arange(k + 1), weights) / weights.sum()) - theta_b

    a_vec = np.full(b + 1, 100000.0)  # 1-based as in R: a_vec[k] for k in k_start..B
    for k in range(k_start, b + 1):
        a_vec[k] = brentq(mean_gap, 0.00001, a_vec[k - 1], args=(k,), xtol=ROOT_TOL)

    def negative_tail(a: float, k: int) -> float:
        head = np.sum((a + np.arange(which)) ** s)
        denom = np.sum((k + 1 - np.arange(k + 1)) * (a + np.arange(k + 1)) ** s)
        return -float(1 - (k + 1 - theta_b) * head / denom)

    best = 0.0
    for k in range(k_start, b):
        found = minimize_scalar(
            negative_tail, bounds=(a_vec[k + 1], a_vec[k]), args=(k,), method="bounded",
            options={"xatol": OPTIMIZE_TOL},
        )  # fmt: skip
        best = max(best, -float(found.fun))
    return best


def ss_rconcave_bound(q: float, p: int, threshold: float, n_pairs: int) -> float | None:
    """Shah & Samworth's bound under r-concavity, stabs' ``minD(q, p, cutoff, B) * p``."""
    if q == 0:
        return 0.0
    if q > _max_q(p, n_pairs):
        return None  # stabs: "q must be <= maxQ"
    which = math.ceil(float(f"{threshold * 2 * n_pairs:.10g}"))
    first = _tail(q * q / (p * p), which - n_pairs, n_pairs, -0.5)
    second = _tail(q / p, which, 2 * n_pairs, -0.25)
    if first is None or second is None:
        return None
    return min(1.0, first, second) * p
