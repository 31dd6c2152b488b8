"""Compile (or load from numba's disk cache) every kernel at worker start, so no request pays."""

from __future__ import annotations

import numpy as np

from service.modeling.engine.kernels.blocks import block_sweeps
from service.modeling.engine.kernels.columns import (
    dense_matvec_subset,
    dense_moments_subset,
    dense_ranges,
    dense_xt_subset,
    sparse_matvec_subset,
    sparse_ranges,
    sparse_weighted_moments,
    sparse_xt_subset,
)
from service.modeling.engine.kernels.coordinate import solve_dense, solve_gram, solve_sparse
from service.modeling.engine.kernels.gap import enet_gap


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
    sparse_matvec_subset(indptr, indices, data, f, one, ws, one, np.zeros(n))
    wide_indptr, wide_indices = indptr.astype(np.int64), indices.astype(np.int64)
    sparse_matvec_subset(wide_indptr, wide_indices, data, f, one, ws, one, np.zeros(n))
    sparse_xt_subset(indptr.astype(np.int64), indices.astype(np.int64), data, h, ws)
    sparse_weighted_moments(indptr.astype(np.int64), indices.astype(np.int64), data, h, f)
    keep = np.ones(n, dtype=np.bool_)
    dense_ranges(X, keep)
    sparse_ranges(indptr, indices, data, keep, n)
    sparse_ranges(indptr.astype(np.int64), indices.astype(np.int64), data, keep, n)
    enet_gap(f, hx, 1.0, 0.1, 1.0, one, lo, hi, hdiag)
    G = np.asfortranarray(X.T @ X)
    solve_gram(G, X.T @ h, f.copy(), ws, lam, f, lo, hi, 1e-9, 5)
    # The group lasso's sweeps, on one group holding every column, and on a single column (numba
    # types an (n, 1) block as C-contiguous: a second compilation).
    d, U = np.linalg.eigh(G)
    for Z, k in ((X, p), (np.asfortranarray(X[:, :1]), 1)):
        block_sweeps(
            Z, np.array([0, k], dtype=np.int64), ws[:k], np.ascontiguousarray(U[:k, :k]).ravel(),
            np.zeros(1, np.int64), d[:k], np.full(1, 0.1), np.zeros(1), h, rng.standard_normal(n), f.copy(),
            np.zeros(1), True, 1e-9, 5,
        )  # fmt: skip
