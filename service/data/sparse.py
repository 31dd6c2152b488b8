"""Sparse tables: named numeric columns held as one CSC matrix, never densified as a whole."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from service.data.magnitudes import extreme_maxima
from service.data.schema import EXTREME_KEY
from service.data.table import Column, ColumnKind, quote, short
from service.errors import ValidationError

_INT32_LIMIT = 2**31 - 1


def canonical_csc(matrix: Any) -> Any:
    """``matrix`` as a float64 CSC matrix with sorted, unique row indices and no stored zeros.

    A stored zero would count as a nonzero in the density and in the limits; duplicates are summed
    (scipy's convention), though every parser here refuses them first.
    """
    csc = sp.csc_matrix(matrix, dtype=np.float64)
    csc.sum_duplicates()  # also sorts the indices
    csc.eliminate_zeros()
    if max(csc.nnz, *csc.shape) < _INT32_LIMIT:
        # One index type for every design: the engine's sparse kernels are compiled for int32.
        csc = sp.csc_matrix(
            (csc.data, csc.indices.astype(np.int32), csc.indptr.astype(np.int32)), shape=csc.shape
        )
        csc.has_sorted_indices = True
    return csc


@dataclass(frozen=True, eq=False)
class SparseTable:
    """Numeric columns of ``matrix`` (an (n_rows, n_columns) scipy CSC matrix) named by ``names``.

    The matrix is canonical (see :func:`canonical_csc`) and holds finite values only; a sparse table
    has no missing values and no categorical columns. ``eq=False``: matrices have no single truth
    value for equality.
    """

    names: tuple[str, ...]
    matrix: Any
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.names) != self.matrix.shape[1]:
            raise ValueError(f"{len(self.names)} names for {self.matrix.shape[1]} columns")
        index = {name: j for j, name in enumerate(self.names)}
        if len(index) != len(self.names):
            raise ValueError("column names must be unique")
        object.__setattr__(self, "_index", index)

    @property
    def n_rows(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def n_columns(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def nnz(self) -> int:
        """Stored nonzeros."""
        return int(self.matrix.nnz)

    @property
    def density(self) -> float:
        """Nonzeros / cells."""
        cells = self.n_rows * self.n_columns
        return self.nnz / cells if cells else 0.0

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def position(self, name: str) -> int:
        """The column index of ``name``; ValidationError when there is no such column."""
        j = self._index.get(name)
        if j is None:
            raise ValidationError(f"the table has no column named {quote(name)}", column=short(name))
        return j

    def dense_column(self, name: str) -> NDArray[np.float64]:
        """One column as a dense vector (n_rows values): cheap, whatever the table's width."""
        j = self.position(name)
        start, stop = self.matrix.indptr[j], self.matrix.indptr[j + 1]
        values = np.zeros(self.n_rows, dtype=np.float64)
        values[self.matrix.indices[start:stop]] = self.matrix.data[start:stop]
        return values

    def column(self, name: str) -> Column:
        """One column as a dense numeric :class:`Column` (for a target, weights or fold column)."""
        return Column.numeric(name, self.dense_column(name))

    def select(self, names: Sequence[str]) -> Any:
        """The CSC matrix of the columns ``names``, in that order (a copy of their nonzeros only)."""
        positions = np.fromiter((self.position(n) for n in names), dtype=np.int64, count=len(names))
        if positions.shape[0] == self.n_columns and np.array_equal(positions, np.arange(self.n_columns)):
            return self.matrix
        return self.matrix[:, positions]

    def summaries(self, record_extremes: bool = False) -> list[dict[str, Any]]:
        """The API's ``columns`` entries: every column numeric, none missing; with
        ``record_extremes`` (for the catalog, at upload), the largest magnitude of a column outside
        the engine's band."""
        kind = ColumnKind.NUMERIC.value
        summaries: list[dict[str, Any]] = [
            {"name": name, "kind": kind, "n_missing": 0, "levels": None} for name in self.names
        ]
        if not record_extremes:
            return summaries
        maxima = np.asarray(abs(self.matrix).max(axis=0).toarray()).reshape(-1)
        for j in np.flatnonzero(extreme_maxima(maxima)):
            summaries[j][EXTREME_KEY] = float(maxima[j])
        return summaries
