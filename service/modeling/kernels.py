"""Compiled coordinate-descent kernels (numba): dense, sparse CSC and Gram (covariance) epochs.

Every kernel minimizes, over the coefficients listed in a working set, the quadratic model

    1/2 sum_i h_i (r_i - sum_j z_ij d_j)^2 + sum_j lam1_j |beta_j| + lam2_j/2 beta_j^2,
    lower_j <= beta_j <= upper_j,

where ``z_j = (x_j - center_j) / scale_j`` is a column standardized on the fly (X is never
copied), ``h`` are row weights and ``r`` the current residual. The intercept, when fitted, is one
more (unpenalized) coordinate. Kernels are compiled once and cached on disk (``cache=True``);
``warm_up`` compiles them at worker start so that no request pays for compilation.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Reassociation lets LLVM vectorize the dot products (the bulk of the work); the flags that assume
# no NaN or inf are left out because unbounded coefficients use +-inf bounds.
FAST = {"reassoc", "contract", "arcp", "nsz"}

# numba is chosen over Cython: kernels stay plain Python-syntax functions next to the code that
# calls them, need no build step in ``pip install``, and compile once into numba's on-disk cache.


@njit(cache=True, nogil=True, inline="always")
def _step(beta_j: float, q_j: float, h_jj: float, lam1: float, lam2: float, lo: float, hi: float) -> float:
    """Exact minimizer in one coordinate: soft-threshold, ridge shrink, then clip to the box."""
    z = h_jj * beta_j + q_j
    if z > lam1:
        b = (z - lam1) / (h_jj + lam2)
    elif z < -lam1:
        b = (z + lam1) / (h_jj + lam2)
    else:
        b = 0.0
    if b < lo:
        b = lo
    elif b > hi:
        b = hi
    return b


@njit(cache=True, nogil=True, fastmath=FAST)
def _epoch_dense(X, center, scale, h, r, beta, idx, m, lam1, lam2, lo, hi, hdiag, hx, H, acc):
    """One pass over idx[:m]; ``acc[0]`` holds sum_i h_i r_i. Returns max h_jj * change^2."""
    n = X.shape[0]
    worst = 0.0
    for t in range(m):
        j = idx[t]
        hjj = hdiag[j]
        if hjj <= 0.0:
            continue
        s = scale[j]
        c = center[j]
        dot = 0.0
        for i in range(n):
            dot += h[i] * X[i, j] * r[i]
        q = (dot - c * acc[0]) / s
        old = beta[j]
        new = _step(old, q, hjj, lam1[j], lam2[j], lo[j], hi[j])
        if new != old:
            d = new - old
            beta[j] = new
            a = d / s
            for i in range(n):
                r[i] -= a * (X[i, j] - c)
            acc[0] -= a * (hx[j] - c * H)
            change = hjj * d * d
            if change > worst:
                worst = change
    return worst


@njit(cache=True, nogil=True, fastmath=FAST)
def _epoch_sparse(
    indptr, indices, data, center, scale, h, r, shift, beta, idx, m, lam1, lam2, lo, hi, hdiag, hx, H, acc
):
    """As ``_epoch_dense`` on CSC data; the residual is ``r + shift[0]`` so centering stays sparse."""
    worst = 0.0
    for t in range(m):
        j = idx[t]
        hjj = hdiag[j]
        if hjj <= 0.0:
            continue
        s = scale[j]
        c = center[j]
        dot = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            i = indices[k]
            dot += h[i] * data[k] * r[i]
        q = (dot + shift[0] * hx[j] - c * acc[0]) / s
        old = beta[j]
        new = _step(old, q, hjj, lam1[j], lam2[j], lo[j], hi[j])
        if new != old:
            d = new - old
            beta[j] = new
            a = d / s
            for k in range(indptr[j], indptr[j + 1]):
                r[indices[k]] -= a * data[k]
            shift[0] += a * c
            acc[0] -= a * (hx[j] - c * H)
            change = hjj * d * d
            if change > worst:
                worst = change
    return worst


@njit(cache=True, nogil=True, fastmath=FAST)
def _epoch_gram(G, q, beta, idx, m, lam1, lam2, lo, hi):
    """One pass in covariance mode: ``q = c - G beta`` is kept current for every feature."""
    p = G.shape[0]
    worst = 0.0
    for t in range(m):
        j = idx[t]
        hjj = G[j, j]
        if hjj <= 0.0:
            continue
        old = beta[j]
        new = _step(old, q[j], hjj, lam1[j], lam2[j], lo[j], hi[j])
        if new != old:
            d = new - old
            beta[j] = new
            for k in range(p):
                q[k] -= G[k, j] * d
            change = hjj * d * d
            if change > worst:
                worst = change
    return worst


@njit(cache=True, nogil=True)
def _nonzero(beta, idx, m, out):
    count = 0
    for t in range(m):
        if beta[idx[t]] != 0.0:
            out[count] = idx[t]
            count += 1
    return count


@njit(cache=True, nogil=True)
def _intercept_step(r, shift, acc, H, intercept, dense):
    db = acc[0] / H
    if db == 0.0:
        return 0.0
    intercept[0] += db
    if dense:
        for i in range(r.shape[0]):
            r[i] -= db
    else:
        shift[0] -= db
    acc[0] = 0.0
    return H * db * db


@njit(cache=True, nogil=True)
def solve_dense(
    X,
    center,
    scale,
    h,
    r,
    beta,
    intercept,
    fit_intercept,
    ws,
    lam1,
    lam2,
    lo,
    hi,
    hdiag,
    hx,
    thresh,
    max_epochs,
):
    """glmnet's cycling on a working set: a full pass, then passes over the nonzero coefficients
    until they settle, until a full pass changes nothing by more than ``thresh``. Returns epochs."""
    H = h.sum()
    acc = np.zeros(1)
    acc[0] = (h * r).sum()
    shift = np.zeros(1)
    m = ws.shape[0]
    active = np.empty(m, dtype=np.int64)
    epochs = 0
    while epochs < max_epochs:
        worst = _epoch_dense(X, center, scale, h, r, beta, ws, m, lam1, lam2, lo, hi, hdiag, hx, H, acc)
        if fit_intercept:
            worst = max(worst, _intercept_step(r, shift, acc, H, intercept, True))
        epochs += 1
        if worst <= thresh:
            break
        k = _nonzero(beta, ws, m, active)
        while epochs < max_epochs:
            worst = _epoch_dense(
                X, center, scale, h, r, beta, active, k, lam1, lam2, lo, hi, hdiag, hx, H, acc
            )
            if fit_intercept:
                worst = max(worst, _intercept_step(r, shift, acc, H, intercept, True))
            epochs += 1
            if worst <= thresh:
                break
    return epochs


@njit(cache=True, nogil=True)
def solve_sparse(
    indptr,
    indices,
    data,
    center,
    scale,
    h,
    r,
    shift,
    beta,
    intercept,
    fit_intercept,
    ws,
    lam1,
    lam2,
    lo,
    hi,
    hdiag,
    hx,
    thresh,
    max_epochs,
):
    """``solve_dense`` on CSC columns; the residual is ``r + shift[0]`` (updated in place)."""
    H = h.sum()
    acc = np.zeros(1)
    acc[0] = (h * r).sum() + shift[0] * H
    m = ws.shape[0]
    active = np.empty(m, dtype=np.int64)
    epochs = 0
    while epochs < max_epochs:
        worst = _epoch_sparse(
            indptr,
            indices,
            data,
            center,
            scale,
            h,
            r,
            shift,
            beta,
            ws,
            m,
            lam1,
            lam2,
            lo,
            hi,
            hdiag,
            hx,
            H,
            acc,
        )
        if fit_intercept:
            worst = max(worst, _intercept_step(r, shift, acc, H, intercept, False))
        epochs += 1
        if worst <= thresh:
            break
        k = _nonzero(beta, ws, m, active)
        while epochs < max_epochs:
            worst = _epoch_sparse(
                indptr, indices, data, center, scale, h, r, shift, beta, active, k, lam1, lam2, lo, hi, hdiag,
                hx, H, acc,
            )  # fmt: skip
            if fit_intercept:
                worst = max(worst, _intercept_step(r, shift, acc, H, intercept, False))
            epochs += 1
            if worst <= thresh:
                break
    return epochs


@njit(cache=True, nogil=True)
def solve_gram(G, q, beta, ws, lam1, lam2, lo, hi, thresh, max_epochs):
    """Covariance-mode cycling (gaussian with centered columns); ``q`` stays ``c - G beta``."""
    m = ws.shape[0]
    active = np.empty(m, dtype=np.int64)
    epochs = 0
    while epochs < max_epochs:
        worst = _epoch_gram(G, q, beta, ws, m, lam1, lam2, lo, hi)
        epochs += 1
        if worst <= thresh:
            break
        k = _nonzero(beta, ws, m, active)
        while epochs < max_epochs:
            worst = _epoch_gram(G, q, beta, active, k, lam1, lam2, lo, hi)
            epochs += 1
            if worst <= thresh:
                break
    return epochs


@njit(cache=True, nogil=True, fastmath=FAST)
def sparse_weighted_moments(indptr, indices, data, h, center):
    """Per column: sum_i h_i x_ij and sum_i h_i (x_ij - center_j)^2 (implicit zeros included)."""
    p = indptr.shape[0] - 1
    hx = np.zeros(p)
    hxx = np.zeros(p)
    H = h.sum()
    for j in range(p):
        s1 = 0.0
        s2 = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            w = h[indices[k]]
            s1 += w * data[k]
            s2 += w * data[k] * data[k]
        hx[j] = s1
        c = center[j]
        hxx[j] = s2 - 2.0 * c * s1 + c * c * H
    return hx, hxx


@njit(cache=True, nogil=True, fastmath=FAST)
def dense_moments_subset(X, h, center, idx, hx, hxx):
    """For the columns in idx: hx_j = sum_i h_i x_ij and hxx_j = sum_i h_i (x_ij - center_j)^2."""
    n = X.shape[0]
    H = h.sum()
    for t in range(idx.shape[0]):
        j = idx[t]
        s1 = 0.0
        s2 = 0.0
        for i in range(n):
            x = X[i, j]
            s1 += h[i] * x
            s2 += h[i] * x * x
        c = center[j]
        hx[j] = s1
        hxx[j] = s2 - 2.0 * c * s1 + c * c * H


@njit(cache=True, nogil=True, fastmath=FAST)
def dense_xt_subset(X, u, idx):
    """X[:, idx]^T u without copying the columns."""
    n = X.shape[0]
    out = np.empty(idx.shape[0])
    for t in range(idx.shape[0]):
        j = idx[t]
        acc = 0.0
        for i in range(n):
            acc += X[i, j] * u[i]
        out[t] = acc
    return out


@njit(cache=True, nogil=True, fastmath=FAST)
def sparse_xt_subset(indptr, indices, data, u, idx):
    out = np.empty(idx.shape[0])
    for t in range(idx.shape[0]):
        j = idx[t]
        acc = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            acc += data[k] * u[indices[k]]
        out[t] = acc
    return out


@njit(cache=True, nogil=True)
def dense_ranges(X, keep):
    """Per column, min and max over the rows where ``keep`` is true."""
    n, p = X.shape
    lo = np.full(p, np.inf)
    hi = np.full(p, -np.inf)
    for j in range(p):
        a = np.inf
        b = -np.inf
        for i in range(n):
            if keep[i]:
                x = X[i, j]
                if x < a:
                    a = x
                if x > b:
                    b = x
        lo[j] = a
        hi[j] = b
    return lo, hi


@njit(cache=True, nogil=True)
def sparse_ranges(indptr, indices, data, keep, n_keep):
    """``dense_ranges`` for CSC data: implicit zeros count when a column misses a kept row."""
    p = indptr.shape[0] - 1
    lo = np.full(p, np.inf)
    hi = np.full(p, -np.inf)
    for j in range(p):
        a = np.inf
        b = -np.inf
        seen = 0
        for k in range(indptr[j], indptr[j + 1]):
            if keep[indices[k]]:
                seen += 1
                x = data[k]
                if x < a:
                    a = x
                if x > b:
                    b = x
        if seen < n_keep:
            a = min(a, 0.0)
            b = max(b, 0.0)
        lo[j] = a
        hi[j] = b
    return lo, hi


@njit(cache=True, nogil=True, fastmath=FAST)
def dense_matvec_subset(X, center, scale, idx, coef, out):
    """out = sum over t of coef[t] * (X[:, idx[t]] - center) / scale, without copying columns."""
    n = X.shape[0]
    out[:] = 0.0
    shift = 0.0
    for t in range(idx.shape[0]):
        j = idx[t]
        a = coef[t] / scale[j]
        if a == 0.0:
            continue
        shift += a * center[j]
        for i in range(n):
            out[i] += a * X[i, j]
    for i in range(n):
        out[i] -= shift


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
    """``gaussian_engine.duality_gap`` in one pass (see there); beta, q and the rest are (p,)."""
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


def warm_up() -> None:
    """Compile (or load from the cache) every kernel with the argument types the engine uses."""
    rng = np.random.default_rng(0)
    n, p = 6, 3
    X = np.asfortranarray(rng.standard_normal((n, p)))
    f = np.zeros(p)
    one = np.ones(p)
    h = np.ones(n)
    ws = np.arange(p, dtype=np.int64)
    hx = X.T @ h
    hdiag = (X**2).T @ h
    lam = np.full(p, 0.1)
    lo, hi = np.full(p, -np.inf), np.full(p, np.inf)
    b = np.zeros(1)
    solve_dense(
        X, f, one, h, rng.standard_normal(n), f.copy(), b, True, ws, lam, f, lo, hi, hdiag, hx, 1e-9, 5
    )
    indptr = np.arange(0, n * p + 1, n, dtype=np.int32)
    indices = np.tile(np.arange(n, dtype=np.int32), p)
    data = X.ravel(order="F").copy()
    sparse_weighted_moments(indptr, indices, data, h, f)
    solve_sparse(
        indptr, indices, data, f, one, h, rng.standard_normal(n), np.zeros(1), f.copy(), b, True, ws, lam, f,
        lo, hi, hdiag, hx, 1e-9, 5,
    )  # fmt: skip
    dense_moments_subset(X, h, f, ws, np.zeros(p), np.zeros(p))
    dense_xt_subset(X, h, ws)
    dense_matvec_subset(X, f, one, ws, one, np.zeros(n))
    sparse_xt_subset(indptr, indices, data, h, ws)
    sparse_xt_subset(indptr.astype(np.int64), indices.astype(np.int64), data, h, ws)
    sparse_weighted_moments(indptr.astype(np.int64), indices.astype(np.int64), data, h, f)
    keep = np.ones(n, dtype=np.bool_)
    dense_ranges(X, keep)
    sparse_ranges(indptr, indices, data, keep, n)
    sparse_ranges(indptr.astype(np.int64), indices.astype(np.int64), data, keep, n)
    enet_gap(f, hx, 1.0, 0.1, 1.0, one, lo, hi, hdiag)
    G = np.asfortranarray(X.T @ X)
    solve_gram(G, X.T @ h, f.copy(), ws, lam, f, lo, hi, 1e-9, 5)
