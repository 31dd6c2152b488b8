"""The engine's compiled kernels (numba), by concept: coordinate descent, column operations, the
duality gap, and their warm-up. numba is chosen over Cython: kernels stay plain Python-syntax
functions next to the code that calls them, need no build step in ``pip install``, and compile
once into numba's on-disk cache (``cache=True``).
"""

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
from service.modeling.engine.kernels.warmup import warm_up

__all__ = [
    "dense_matvec_subset",
    "dense_moments_subset",
    "dense_ranges",
    "dense_xt_subset",
    "enet_gap",
    "solve_dense",
    "solve_gram",
    "solve_sparse",
    "sparse_matvec_subset",
    "sparse_ranges",
    "sparse_weighted_moments",
    "sparse_xt_subset",
    "warm_up",
]
