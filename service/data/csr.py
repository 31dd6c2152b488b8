"""A sparse table from the JSON CSR form (shape, indptr, indices, data), every array checked."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from service.data.parsing import check_names
from service.data.sparse import SparseTable, canonical_csc
from service.errors import InvalidDatasetError

IntArray = NDArray[np.int64]


def parse_csr(
    columns: Sequence[str],
    shape: Sequence[int],
    indptr: Sequence[int],
    indices: Sequence[int],
    data: Sequence[float],
) -> SparseTable:
    """The sparse table of a CSR matrix whose columns are named by ``columns``.

    Raises :class:`InvalidDatasetError` whose ``field`` names the member at fault (``sparse.shape``,
    ``sparse.indptr``, ``sparse.indices``, ``sparse.data``) and, where one is, the 1-based ``row``:
    a shape that disagrees with the names or the arrays, an indptr that does not start at 0, goes
    down or does not end at the number of entries, a column index out of range or repeated within
    a row, a value that is not a finite number. Column names follow every upload's rule.
    """
    check_names(columns)
    n, p = _shape(shape, len(columns))
    pointers = _integers(indptr, "sparse.indptr")
    positions = _integers(indices, "sparse.indices")
    try:
        values = np.asarray(data, dtype=np.float64).reshape(-1)
    except (OverflowError, ValueError, TypeError):
        raise _error("holds something that is not a number", "sparse.data") from None
    _check_pointers(pointers, n, positions.shape[0], values.shape[0])
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(pointers))
    _check_positions(positions, rows, p)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(rows[np.argmax(bad)]) + 1
        raise _error(f"row {row} has a value that is not a finite number", "sparse.data", row)
    matrix = sp.csr_matrix((values, positions, pointers), shape=(n, p))
    return SparseTable(tuple(columns), canonical_csc(matrix))


def _error(detail: str, field: str, row: int | None = None) -> InvalidDatasetError:
    members = {"field": field} if row is None else {"field": field, "row": row}
    return InvalidDatasetError(f"{field}: {detail}", **members)


def _shape(shape: Sequence[int], n_names: int) -> tuple[int, int]:
    if len(shape) != 2:
        raise _error("the shape must be [rows, columns]", "sparse.shape")
    n, p = int(shape[0]), int(shape[1])
    if n < 1:
        raise _error("the dataset has no rows", "sparse.shape")
    if p != n_names:
        raise _error(f"the shape has {p} columns but `columns` names {n_names}", "sparse.shape")
    return n, p


def _integers(values: Sequence[int], field: str) -> IntArray:
    try:
        return np.asarray(values, dtype=np.int64).reshape(-1)
    except (OverflowError, ValueError, TypeError):
        raise _error("holds a number that is not a 64-bit integer", field) from None


def _check_pointers(pointers: IntArray, n: int, n_indices: int, n_data: int) -> None:
    if pointers.shape[0] != n + 1:
        raise _error(f"has {pointers.shape[0]} entries; a shape of {n} rows needs {n + 1}", "sparse.indptr")
    if pointers[0] != 0:
        raise _error("must start at 0", "sparse.indptr")
    down = np.diff(pointers) < 0
    if down.any():
        row = int(np.argmax(down)) + 1
        raise _error(f"goes down at row {row}; it must not decrease", "sparse.indptr", row)
    if n_indices != n_data:
        raise _error(f"has {n_data} values but indices has {n_indices}", "sparse.data")
    if pointers[-1] != n_indices:
        raise _error(f"ends at {pointers[-1]} but there are {n_indices} indices", "sparse.indptr")


def _check_positions(positions: IntArray, rows: IntArray, p: int) -> None:
    outside = (positions < 0) | (positions >= p)
    if outside.any():
        row = int(rows[np.argmax(outside)]) + 1
        raise _error(f"row {row} has a column index outside 0..{p - 1}", "sparse.indices", row)
    # One key per entry, unique unless a row names a column twice; sorting finds the repeats.
    keys = np.sort(rows * p + positions)
    repeated = keys[1:] == keys[:-1]
    if repeated.any():
        row = int(keys[np.argmax(repeated)] // p) + 1
        raise _error(f"row {row} names the same column twice", "sparse.indices", row)
