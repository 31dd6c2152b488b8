"""The solver engine: numba kernels, coordinate-descent and Newton solvers, screening, certificates.

Everything above it in ``service.modeling`` (the path, cross-validation, the selection rules, the
selection procedures) uses only the names exported here; an import-linter contract holds them to
it. ``solve_path`` and ``alpha_max`` are the entry points; ``Columns`` and ``RawMoments`` describe
a design matrix (dense or CSC) the way the solvers read it.
"""

from service.modeling.engine.columns import Columns, RawMoments, is_sparse
from service.modeling.engine.gaussian_engine import GRAM_MAX_COLUMNS, GRAM_MIN_ALPHAS
from service.modeling.engine.kernels import dense_ranges, sparse_ranges
from service.modeling.engine.solution import PathProgress, PathSolution
from service.modeling.engine.solver import alpha_max, solve_path

__all__ = [
    "GRAM_MAX_COLUMNS",
    "GRAM_MIN_ALPHAS",
    "Columns",
    "PathProgress",
    "PathSolution",
    "RawMoments",
    "alpha_max",
    "dense_ranges",
    "is_sparse",
    "solve_path",
    "sparse_ranges",
]
