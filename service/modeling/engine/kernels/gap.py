"""The elastic-net duality gap with penalty factors and box bounds, compiled in one pass (numba)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _held_violation(q_j, b, lo, hi):
    """KKT violation of an unpenalized coefficient (minus gradient q_j), one-sided at a bound."""
    g = -q_j
    if b == 0.0:
        up = max(q_j, 0.0) if hi > 0.0 else 0.0
        down = max(-q_j, 0.0) if lo < 0.0 else 0.0
        return max(up, down)
    if b == hi:
        return max(g, 0.0)
    if b == lo:
        return -min(g, 0.0)
    return abs(g)


@njit(cache=True, nogil=True, inline="always")
def _conjugate(u, lam1, lam2, lo, hi):
    """sup over b in [lo, hi] of u b - lam1 |b| - lam2/2 b^2 (finite where the caller scaled u)."""
    shrunk = max(abs(u) - lam1, 0.0)
    if u < 0.0:
        shrunk = -shrunk
    if lam2 > 0.0:
        b = min(max(shrunk / lam2, lo), hi)
        return u * b - lam1 * abs(b) - 0.5 * lam2 * b * b
    if shrunk > 0.0:
        return shrunk * hi
    if shrunk < 0.0:
        return shrunk * lo
    return 0.0


@njit(cache=True, nogil=True)
def _dual_scale(q, alpha, l1_ratio, factors, lower, upper):
    """Largest s <= 1 keeping s q_j within lam1_j wherever column j is unbounded and ridge-free."""
    s = 1.0
    for j in range(q.shape[0]):
        pf = factors[j]
        if pf > 0.0 and l1_ratio == 1.0 and (lower[j] < 0.0 or upper[j] > 0.0):
            lam1 = alpha * pf
            if upper[j] == np.inf and q[j] > 0.0:
                s = min(s, lam1 / q[j])
            if lower[j] == -np.inf and q[j] < 0.0:
                s = min(s, lam1 / -q[j])
    return s


@njit(cache=True, nogil=True)
def enet_gap(beta, q, rr, alpha, l1_ratio, factors, lower, upper, hdiag):
    """``gaussian_data.duality_gap`` in one pass (see there); beta, q and the rest are (p,)."""
    ry = rr
    primal = 0.5 * rr
    for j in range(beta.shape[0]):
        pf = factors[j]
        b = beta[j]
        primal += alpha * pf * (l1_ratio * abs(b) + 0.5 * (1.0 - l1_ratio) * b * b)
        if pf > 0.0:
            ry += b * q[j]
    s = _dual_scale(q, alpha, l1_ratio, factors, lower, upper)
    conjugate = 0.0
    held = 0.0
    for j in range(beta.shape[0]):
        lo = lower[j]
        hi = upper[j]
        if not (lo < 0.0 or hi > 0.0):
            continue
        pf = factors[j]
        if pf > 0.0:
            lam1 = alpha * l1_ratio * pf
            conjugate += _conjugate(s * q[j], lam1, alpha * (1.0 - l1_ratio) * pf, lo, hi)
        elif hdiag[j] > 0.0:
            viol = _held_violation(q[j], beta[j], lo, hi)
            held += viol * viol / (2.0 * hdiag[j])
    dual = s * ry - 0.5 * s * s * rr - conjugate
    return max(primal - dual + held, 0.0)
