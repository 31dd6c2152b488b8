"""Block coordinate descent sweeps for the group penalty over a packed working set of groups.

The model is ``1/2 sum_i h_i r_i^2 + sum_g lam1_g ||b_g|| + lam2_g/2 ||b_g||^2`` with the residual
``r = z - b0 - Z b`` kept current. Group ``g`` of the working set owns the packed columns
``offs[g]:offs[g+1]`` of ``Z`` (dense, Fortran), which are solver columns ``cols[...]`` of ``beta``;
its curvature ``Z_g^T diag(h) Z_g = U diag(d) U^T`` is packed row-major at ``uoffs[g]`` of ``U``.

Each block step is exact: zero when ``||c|| <= lam1`` (the group soft-threshold), with
``c = Z_g^T h r + H b_old`` the block's linear term; otherwise ``b = (H + (lam2 + lam1/t) I)^-1 c``
where ``t = ||b||`` is the root of the secular equation ``sum_e c_e'^2 / ((d_e + lam2) t + lam1)^2 = 1``
(c' = U^T c), found by Newton's method. This is adelie's block update (Yang & Hastie 2024, "A fast
and scalable pathwise-solver for group lasso and elastic net penalized regression via
block-coordinate descent"), where grpreg and gglasso majorize the block by its largest eigenvalue
instead. The left side is convex and decreasing in t, so Newton's method started left of the root,
at ``(||c'|| - lam1) / max(d + lam2)``, rises to it monotonically. Directions of zero curvature
(rank deficiency) carry no gradient and get no step.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Newton's method on the secular equation stops at this relative step (quadratic convergence
# reaches it in a handful of steps); the cap only guards against a pathological block.
NEWTON_RTOL = 1e-15
MAX_NEWTON = 100
# A sweep threshold that proved too loose (KKT still above target) is tightened by this factor.
THRESH_TIGHTEN = 0.1


@njit(cache=True, nogil=True)
def _secular_root(ct, D, lam1, t):
    """Root of ``sum ct^2 / (D t + lam1)^2 = 1`` by Newton's method from ``t``, left of it."""
    for _ in range(MAX_NEWTON):
        value = -1.0
        slope = 0.0
        for e in range(ct.shape[0]):
            denom = D[e] * t + lam1
            c2 = ct[e] * ct[e]
            value += c2 / (denom * denom)
            slope -= 2.0 * c2 * D[e] / (denom * denom * denom)
        if value <= 0.0 or slope == 0.0:
            break
        move = -value / slope
        t += move
        if move <= NEWTON_RTOL * t or not math.isfinite(t):
            break
    return t


@njit(cache=True, nogil=True)
def _gradient(Z, a, b, h, r, out):
    """out[j - a] = sum_i Z_ij h_i r_i for the packed columns a..b."""
    n = Z.shape[0]
    for j in range(a, b):
        acc = 0.0
        for i in range(n):
            acc += Z[i, j] * h[i] * r[i]
        out[j - a] = acc


@njit(cache=True, nogil=True)
def _linear_term(Z, a, b, cols, U, u0, d, lam2, h, r, beta, ct, D):
    """In the block's eigenbasis: ``ct = U^T (Z^T h r + H b_old)`` and ``D = d + lam2`` (ct is 0
    where D is: no curvature, no gradient); returns ``||ct||``."""
    k = b - a
    g = np.empty(k)
    _gradient(Z, a, b, h, r, g)
    norm2 = 0.0
    for e in range(k):
        acc = 0.0
        for j in range(k):
            u = U[u0 + j * k + e]
            acc += u * (g[j] + d[a + e] * beta[cols[a + j]])
        D[e] = d[a + e] + lam2
        ct[e] = acc if D[e] > 0.0 else 0.0
        norm2 += ct[e] * ct[e]
    return math.sqrt(norm2)


@njit(cache=True, nogil=True)
def _move(Z, a, b, cols, U, u0, s, r, beta):
    """Set the block to ``U s`` and update the residual; returns the step's norm."""
    k = b - a
    step2 = 0.0
    delta = np.empty(k)
    for j in range(k):
        acc = 0.0
        for e in range(k):
            acc += U[u0 + j * k + e] * s[e]
        delta[j] = acc - beta[cols[a + j]]
        beta[cols[a + j]] = acc
        step2 += delta[j] * delta[j]
    if step2 > 0.0:
        n = Z.shape[0]
        for j in range(k):
            if delta[j] != 0.0:
                for i in range(n):
                    r[i] -= Z[i, a + j] * delta[j]
    return math.sqrt(step2)


@njit(cache=True, nogil=True)
def _block(Z, a, b, cols, U, u0, d, lam1, lam2, h, r, beta):
    """The exact step of one block; returns its largest curvature times the step's norm."""
    k = b - a
    ct = np.zeros(k)
    D = np.empty(k)
    norm = _linear_term(Z, a, b, cols, U, u0, d, lam2, h, r, beta, ct, D)
    s = np.zeros(k)
    if norm > lam1 and norm > 0.0:
        t = _secular_root(ct, D, lam1, (norm - lam1) / D.max()) if lam1 > 0.0 else 1.0
        for e in range(k):
            # lam1 = 0 (an unpenalized group): t drops out, s = ct / D.
            s[e] = ct[e] * t / (D[e] * t + lam1) if D[e] > 0.0 else 0.0
    top = 0.0
    for e in range(k):
        top = max(top, d[a + e])
    return top * _move(Z, a, b, cols, U, u0, s, r, beta)


@njit(cache=True, nogil=True)
def _sweep(Z, offs, cols, U, uoffs, d, lam1, lam2, h, r, beta, b0, fit_intercept):
    worst = 0.0
    for g in range(offs.shape[0] - 1):
        change = _block(Z, offs[g], offs[g + 1], cols, U, uoffs[g], d, lam1[g], lam2[g], h, r, beta)
        worst = max(worst, change)
    if fit_intercept:
        total = 0.0
        hr = 0.0
        for i in range(r.shape[0]):
            total += h[i]
            hr += h[i] * r[i]
        shift = hr / total if total > 0.0 else 0.0
        b0[0] += shift
        for i in range(r.shape[0]):
            r[i] -= shift
        worst = max(worst, abs(shift) * total)
    return worst


@njit(cache=True, nogil=True)
def block_kkt(Z, offs, cols, lam1, lam2, h, r, beta, fit_intercept):
    """The largest KKT violation of the model over the packed groups (and the intercept)."""
    worst = 0.0
    if fit_intercept:
        acc = 0.0
        for i in range(r.shape[0]):
            acc += h[i] * r[i]
        worst = abs(acc)
    for g in range(offs.shape[0] - 1):
        a, b = offs[g], offs[g + 1]
        q = np.empty(b - a)
        _gradient(Z, a, b, h, r, q)
        bnorm = 0.0
        for j in range(a, b):
            bnorm += beta[cols[j]] ** 2
        bnorm = math.sqrt(bnorm)
        total = 0.0
        for j in range(a, b):
            if bnorm == 0.0:
                total += q[j - a] ** 2
            else:
                res = -q[j - a] + (lam2[g] + lam1[g] / bnorm) * beta[cols[j]]
                total += res * res
        violation = math.sqrt(total) - lam1[g] if bnorm == 0.0 else math.sqrt(total)
        worst = max(worst, violation)
    return worst


@njit(cache=True, nogil=True)
def block_sweeps(Z, offs, cols, U, uoffs, d, lam1, lam2, h, r, beta, b0, fit_intercept, target, budget):
    """Sweeps until the packed groups' KKT residual is at most ``target`` (or ``budget`` sweeps).

    Cycling decides when to look, as glmnet's: sweeps run until no block moves the gradient by
    more than the threshold (its largest curvature times its step), and only then is the KKT
    residual computed (a pass as costly as a sweep); a threshold proven too loose is tightened.
    Returns the sweeps run.
    """
    thresh = target
    epochs = 0
    while epochs < budget:
        change = _sweep(Z, offs, cols, U, uoffs, d, lam1, lam2, h, r, beta, b0, fit_intercept)
        epochs += 1
        if change > thresh:
            continue
        kkt = block_kkt(Z, offs, cols, lam1, lam2, h, r, beta, fit_intercept)
        if kkt <= target or change == 0.0:
            break
        thresh = min(thresh, change) * THRESH_TIGHTEN
    return epochs
