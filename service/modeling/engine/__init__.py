"""The solver engine: numba kernels, coordinate-descent and Newton solvers, screening, certificates.

Everything above it in ``service.modeling`` (the path, cross-validation, the selection rules, the
selection procedures) uses only the names exported here; an import-linter contract holds them to
it. ``solve_path`` and ``alpha_max`` are the entry points; ``Columns`` and ``RawMoments`` describe
a design matrix (dense or CSC) the way the solvers read it. For a table no process holds
(``modeling.tall``): ``solve_moment_path`` / ``moment_alpha_max`` solve a gaussian path from its
reduced ``GramMoments`` alone, and ``solve_quadratic`` takes one proximal Newton step on a Gram
matrix reduced over partitions (with ``Penalty`` and ``PathControl``, the engine's own rules).
"""

from service.modeling.engine.columns import Columns, RawMoments, is_sparse
from service.modeling.engine.gaussian_engine import GRAM_MAX_COLUMNS, GRAM_MIN_ALPHAS
from service.modeling.engine.kernels import dense_ranges, sparse_ranges
from service.modeling.engine.moment_path import GramMoments, moment_alpha_max, solve_moment_path
from service.modeling.engine.newton_settings import (
    CURVATURE_FLOOR,
    FORCING,
    INNER_EPOCHS,
    MAX_HALVINGS,
    NULL_MODEL_TOL,
)
from service.modeling.engine.path_control import PathControl
from service.modeling.engine.penalty import Penalty
from service.modeling.engine.quadratic import solve_quadratic
from service.modeling.engine.solution import PathProgress, PathSolution
from service.modeling.engine.solver import alpha_max, solve_path

__all__ = [
    "CURVATURE_FLOOR",
    "FORCING",
    "GRAM_MAX_COLUMNS",
    "GRAM_MIN_ALPHAS",
    "INNER_EPOCHS",
    "MAX_HALVINGS",
    "NULL_MODEL_TOL",
    "Columns",
    "GramMoments",
    "PathControl",
    "PathProgress",
    "PathSolution",
    "Penalty",
    "RawMoments",
    "alpha_max",
    "dense_ranges",
    "is_sparse",
    "moment_alpha_max",
    "solve_moment_path",
    "solve_path",
    "solve_quadratic",
    "sparse_ranges",
]
