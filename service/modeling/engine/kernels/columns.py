"""Compiled column operations (numba): weighted moments, X^T u and X b on column subsets, ranges.

Dense X is read in Fortran order and sparse X as CSC arrays; columns are standardized on the fly
(``(x_j - center_j) / scale_j``) where a function says so, and never copied.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from service.modeling.engine.kernels.coordinate import FAST, column_span, unsigned


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
        start, stop = column_span(indptr, unsigned(j))
        for k in range(start, stop):
            w = h[unsigned(indices[k])]
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
        start, stop = column_span(indptr, unsigned(idx[t]))
        acc = 0.0
        for k in range(start, stop):
            acc += data[k] * u[unsigned(indices[k])]
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


@njit(cache=True, nogil=True, fastmath=FAST)
def sparse_matvec_subset(indptr, indices, data, center, scale, idx, coef, out):
    """``dense_matvec_subset`` for CSC columns: no column slice is built."""
    out[:] = 0.0
    shift = 0.0
    for t in range(idx.shape[0]):
        j = unsigned(idx[t])
        a = coef[t] / scale[j]
        if a == 0.0:
            continue
        shift += a * center[j]
        start, stop = column_span(indptr, j)
        for k in range(start, stop):
            out[unsigned(indices[k])] += a * data[k]
    for i in range(out.shape[0]):
        out[i] -= shift
