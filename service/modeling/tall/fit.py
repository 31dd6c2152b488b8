"""``fit_tall``: a FitSpec fitted to a partitioned table through the caller's mapreduce."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from service.errors import InvalidDataError
from service.modeling.folds import make_folds
from service.modeling.results import FitOutcome
from service.modeling.specs import Checkpoint, Family, FitSpec, IntArray
from service.modeling.tall.blocks import Block, MapReduce, Part, make_parts
from service.modeling.tall.checks import check_supported
from service.modeling.tall.gaussian import fit_gaussian
from service.modeling.validation import check_fold_ids


class ClassCodesStep:
    """The map step that collects a part's class codes (stratified folds need them all)."""

    def __call__(self, part: Part, block: Block) -> _Codes:
        return _Codes([(part.start, block.y.astype(np.int8))])


class _Codes:
    """Class codes of some parts, keyed by first row; ``+`` merges (any order)."""

    def __init__(self, pieces: list[tuple[int, npt.NDArray[np.int8]]]) -> None:
        self.pieces = pieces

    def __add__(self, other: _Codes) -> _Codes:
        return _Codes(self.pieces + other.pieces)

    def concatenated(self) -> IntArray:
        return np.concatenate([c for _, c in sorted(self.pieces, key=lambda piece: piece[0])]).astype(
            np.int64
        )


# Rows dealt per step when folds are assigned: the job then holds the permutation and the folds
# (16 bytes a row), not make_folds' two further n-long temporaries (80 MB more at 5,000,000 rows).
DEAL_ROWS = 1 << 20


def _unstratified_folds(n: int, n_folds: int, seed: int) -> IntArray:
    """``make_folds(n, n_folds, seed)`` exactly (the same permutation dealt round-robin), dealt in
    steps so that a job on a small Dask worker does not peak at four n-long arrays."""
    if n_folds < 2 or n_folds > n:
        return make_folds(n, n_folds, seed)  # refuses, naming cv.folds
    order = np.random.default_rng(seed).permutation(n)
    folds = np.empty(n, dtype=np.int64)
    for start in range(0, n, DEAL_ROWS):
        stop = min(start + DEAL_ROWS, n)
        folds[order[start:stop]] = np.arange(start, stop, dtype=np.int64) % n_folds
    return folds


def tall_folds(
    spec: FitSpec,
    row_counts: Sequence[int],
    mapreduce: MapReduce,
    fold_ids: npt.ArrayLike | None,
) -> IntArray | None:
    """``fit_model``'s fold ids for the concatenated rows: given, or ``make_folds(n, K, seed)``
    (stratified by class for classification unless ``cv.stratify`` is false: one pass for y)."""
    cv = spec.cv
    if cv is None:
        return None
    n = int(sum(row_counts))
    if fold_ids is not None:
        return check_fold_ids(fold_ids, n)
    stratify = cv.stratify if cv.stratify is not None else spec.family != Family.GAUSSIAN
    if not stratify:
        return _unstratified_folds(n, cv.n_folds, cv.seed)
    codes: _Codes = mapreduce(ClassCodesStep(), make_parts(row_counts, None))
    return make_folds(n, cv.n_folds, cv.seed, codes.concatenated())


def fit_tall(
    spec: FitSpec,
    row_counts: Sequence[int],
    mapreduce: MapReduce,
    *,
    fold_ids: npt.ArrayLike | None = None,
    checkpoint: Checkpoint | None = None,
) -> FitOutcome:
    """Fit ``spec`` to a table held as partitions of ``row_counts`` rows (in row order).

    ``mapreduce(fn, parts)`` applies ``fn(part, block)`` to the rows of each part (``part.index``
    is the partition's position in ``row_counts``) and reduces the results with ``+``. Gaussian
    targets are floats, binomial ones class codes 0/1. The outcome is ``fit_model``'s on the
    concatenated rows (same spec, same fold ids) up to the solvers' tolerance: see the package
    docstring. ``checkpoint`` as in ``fit_model``, plus stage ``"moments"`` / ``"newton"`` (passes)
    and ``"scoring"``. ValidationError for options a tall fit does not support.
    """
    check_supported(spec)
    if int(sum(row_counts)) < 2:
        raise InvalidDataError(f"a fit needs at least 2 rows; the dataset has {int(sum(row_counts))}")
    folds = tall_folds(spec, row_counts, mapreduce, fold_ids)
    parts = make_parts(row_counts, folds)
    if spec.family == Family.GAUSSIAN:
        return fit_gaussian(spec, parts, folds, mapreduce, checkpoint)
    from service.modeling.tall.logistic import fit_binomial

    return fit_binomial(spec, parts, folds, mapreduce, checkpoint)
