"""Coordinate-descent epochs on dense, sparse CSC and Gram columns, and the one cycling driver.

Every epoch minimizes, over the coefficients listed in a working set, the quadratic model

    1/2 sum_i h_i (r_i - sum_j z_ij d_j)^2 + sum_j lam1_j |beta_j| + lam2_j/2 beta_j^2,
    lower_j <= beta_j <= upper_j,

where ``z_j = (x_j - center_j) / scale_j`` is a column standardized on the fly (X is never
copied), ``h`` are row weights and ``r`` the current residual. The intercept, when fitted, is one
more (unpenalized) coordinate. In covariance mode the same model is held as ``q = c - G beta``.

The three layouts share one driver, :func:`cycle`: numba resolves ``epoch(columns, ...)`` at
compile time from the layout of ``columns`` (a tuple; see ``DENSE``, ``SPARSE``, ``GRAM``), so
each layout gets its own compiled, cached driver without the loop being written three times.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numba.extending import overload

# Reassociation lets LLVM vectorize the dot products (the bulk of the work); the flags that assume
# no NaN or inf are left out because unbounded coefficients use +-inf bounds.
FAST = {"reassoc", "contract", "arcp", "nsz"}

# The layouts are told apart by the length of their column tuple (numba dispatches on types).
DENSE = 10  # (X, center, scale, h, h0, r, shift, hx, H, acc); shift is unused (always 0)
SPARSE = 12  # (indptr, indices, data, center, scale, h, h0, r, shift, hx, H, acc)
GRAM = 2  # (G, q)


@njit(cache=True, nogil=True, inline="always")
def unsigned(i):
    """An index known to be non-negative, as uint64: numba then skips its negative-index
    wraparound, which in the gather loops of sparse columns cost half the time of an epoch."""
    return np.uint64(i)


@njit(cache=True, nogil=True, inline="always")
def column_span(indptr, j):
    """The [start, stop) range of CSC column ``j``'s nonzeros, as unsigned indices."""
    return np.uint64(indptr[j]), np.uint64(indptr[j + np.uint64(1)])


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


@njit(cache=True, nogil=True, inline="always")
def _move(beta, j, q_j, h_jj, penalty):
    """Set ``beta[j]`` to its coordinate minimizer; return the change (0 when none)."""
    lam1, lam2, lo, hi, _ = penalty
    old = beta[j]
    new = _step(old, q_j, h_jj, lam1[j], lam2[j], lo[j], hi[j])
    beta[j] = new
    return new - old


@njit(cache=True, nogil=True, fastmath=FAST)
def _dense_epoch(columns, beta, idx, m, penalty):
    """One pass over idx[:m]; ``acc[0]`` holds sum_i h_i r_i. Returns max h_jj * change^2.

    ``h0`` is the common weight when all rows weigh the same (one stream fewer in the hot loop),
    else 0."""
    X, center, scale, h, h0, r, _, hx, H, acc = columns
    hdiag = penalty[4]
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
        if h0 > 0.0:
            for i in range(n):
                dot += X[i, j] * r[i]
            dot *= h0
        else:
            for i in range(n):
                dot += h[i] * X[i, j] * r[i]
        d = _move(beta, j, (dot - c * acc[0]) / s, hjj, penalty)
        if d != 0.0:
            a = d / s
            for i in range(n):
                r[i] -= a * (X[i, j] - c)
            acc[0] -= a * (hx[j] - c * H)
            worst = max(worst, hjj * d * d)
    return worst


@njit(cache=True, nogil=True, fastmath=FAST)
def _sparse_epoch(columns, beta, idx, m, penalty):
    """As the dense epoch on CSC data; the residual is ``r + shift[0]`` so centering stays sparse."""
    indptr, indices, data, center, scale, h, h0, r, shift, hx, H, acc = columns
    hdiag = penalty[4]
    worst = 0.0
    for t in range(m):
        j = unsigned(idx[t])
        hjj = hdiag[j]
        if hjj <= 0.0:
            continue
        s = scale[j]
        c = center[j]
        start, stop = column_span(indptr, j)
        dot = 0.0
        if h0 > 0.0:
            for k in range(start, stop):
                dot += data[k] * r[unsigned(indices[k])]
            dot *= h0
        else:
            for k in range(start, stop):
                i = unsigned(indices[k])
                dot += h[i] * data[k] * r[i]
        d = _move(beta, j, (dot + shift[0] * hx[j] - c * acc[0]) / s, hjj, penalty)
        if d != 0.0:
            a = d / s
            for k in range(start, stop):
                r[unsigned(indices[k])] -= a * data[k]
            shift[0] += a * c
            acc[0] -= a * (hx[j] - c * H)
            worst = max(worst, hjj * d * d)
    return worst


@njit(cache=True, nogil=True, fastmath=FAST)
def _gram_epoch(columns, beta, idx, m, penalty):
    """One pass in covariance mode: ``q = c - G beta`` is kept current for every feature."""
    G, q = columns
    p = G.shape[0]
    worst = 0.0
    for t in range(m):
        j = idx[t]
        hjj = G[j, j]
        if hjj <= 0.0:
            continue
        d = _move(beta, j, q[j], hjj, penalty)
        if d != 0.0:
            for k in range(p):
                q[k] -= G[k, j] * d
            worst = max(worst, hjj * d * d)
    return worst


def epoch(columns, beta, idx, m, penalty):
    """One coordinate pass over ``idx[:m]`` for whichever layout ``columns`` is (compiled only)."""
    raise NotImplementedError("called from compiled code only")


@overload(epoch)
def _epoch_for_layout(columns, beta, idx, m, penalty):
    if len(columns) == DENSE:
        return lambda columns, beta, idx, m, penalty: _dense_epoch(columns, beta, idx, m, penalty)
    if len(columns) == SPARSE:
        return lambda columns, beta, idx, m, penalty: _sparse_epoch(columns, beta, idx, m, penalty)
    if len(columns) == GRAM:
        return lambda columns, beta, idx, m, penalty: _gram_epoch(columns, beta, idx, m, penalty)
    return None


@njit(cache=True, nogil=True)
def _nonzero(beta, idx, m, out):
    count = 0
    for t in range(m):
        if beta[idx[t]] != 0.0:
            out[count] = idx[t]
            count += 1
    return count


@njit(cache=True, nogil=True)
def _residual_intercept_step(columns, intercept):
    """The unpenalized intercept's exact update on residual columns; returns H * change^2.

    Dense and sparse tuples end alike: (..., r, shift, hx, H, acc)."""
    r, shift, H, acc = columns[-5], columns[-4], columns[-2], columns[-1]
    db = acc[0] / H
    if db == 0.0:
        return 0.0
    intercept[0] += db
    if len(columns) == DENSE:
        for i in range(r.shape[0]):
            r[i] -= db
    else:
        shift[0] -= db
    acc[0] = 0.0
    return H * db * db


def intercept_step(columns, intercept):
    """The intercept's update for whichever layout ``columns`` is (compiled only)."""
    raise NotImplementedError("called from compiled code only")


@overload(intercept_step)
def _intercept_step_for_layout(columns, intercept):
    if len(columns) == GRAM:  # covariance mode works on centered columns: no intercept to move
        return lambda columns, intercept: 0.0
    return lambda columns, intercept: _residual_intercept_step(columns, intercept)


@njit(cache=True, nogil=True)
def _pass(columns, beta, intercept, fit_intercept, idx, m, penalty):
    worst = epoch(columns, beta, idx, m, penalty)
    if fit_intercept:
        worst = max(worst, intercept_step(columns, intercept))
    return worst


@njit(cache=True, nogil=True)
def cycle(columns, beta, intercept, fit_intercept, ws, penalty, thresh, max_epochs):
    """glmnet's cycling on a working set: a full pass, then passes over the nonzero coefficients
    until they settle, until a full pass changes nothing by more than ``thresh`` (largest
    h_jj * change^2). Returns the epochs run and the last full pass's largest change."""
    m = ws.shape[0]
    active = np.empty(m, dtype=np.int64)
    epochs = 0
    worst = np.inf
    while epochs < max_epochs:
        worst = _pass(columns, beta, intercept, fit_intercept, ws, m, penalty)
        epochs += 1
        if worst <= thresh:
            break
        k = _nonzero(beta, ws, m, active)
        while epochs < max_epochs:
            epochs += 1
            if _pass(columns, beta, intercept, fit_intercept, active, k, penalty) <= thresh:
                break
    return epochs, worst


@njit(cache=True, nogil=True)
def solve_dense(
    X, center, scale, h, r, beta, intercept, fit_intercept, ws, lam1, lam2, lo, hi, hdiag, hx, thresh,
    max_epochs,
):  # fmt: skip
    """:func:`cycle` on dense columns; ``r`` is updated in place."""
    H = h.sum()
    h0 = h[0] if h.shape[0] > 0 and np.all(h == h[0]) else 0.0
    acc = np.zeros(1)
    acc[0] = (h * r).sum()
    columns = (X, center, scale, h, h0, r, np.zeros(1), hx, H, acc)
    penalty = (lam1, lam2, lo, hi, hdiag)
    return cycle(columns, beta, intercept, fit_intercept, ws, penalty, thresh, max_epochs)


@njit(cache=True, nogil=True)
def solve_sparse(
    indptr, indices, data, center, scale, h, r, shift, beta, intercept, fit_intercept, ws, lam1, lam2, lo,
    hi, hdiag, hx, thresh, max_epochs,
):  # fmt: skip
    """:func:`cycle` on CSC columns; the residual is ``r + shift[0]`` (updated in place)."""
    H = h.sum()
    h0 = h[0] if h.shape[0] > 0 and np.all(h == h[0]) else 0.0
    acc = np.zeros(1)
    acc[0] = (h * r).sum() + shift[0] * H
    columns = (indptr, indices, data, center, scale, h, h0, r, shift, hx, H, acc)
    penalty = (lam1, lam2, lo, hi, hdiag)
    return cycle(columns, beta, intercept, fit_intercept, ws, penalty, thresh, max_epochs)


@njit(cache=True, nogil=True)
def solve_gram(G, q, beta, ws, lam1, lam2, lo, hi, thresh, max_epochs):
    """Covariance-mode :func:`cycle` (gaussian with centered columns); ``q`` stays ``c - G beta``."""
    penalty = (lam1, lam2, lo, hi, lo)  # the Gram epoch reads its diagonal from G
    return cycle((G, q), beta, np.zeros(1), False, ws, penalty, thresh, max_epochs)
