"""The stored form of a sparse table (Arrow IPC, one row per column), and reading any stored dataset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from service.data.blocktable import BlockTable
from service.data.sparse import SparseTable
from service.data.table import Table
from service.data.tableio import (
    ROWS_KEY,
    column_summaries,
    read_stored_arrow,
    stored_table_from_arrow,
    table_density,
    table_to_bytes,
    write_stored_arrow,
)
from service.errors import IntegrityError

# Beside tableio's key: a file carries one of the two, so neither reader can mistake the other's.
SPARSE_KEY = b"sparsefit.sparse"
SPARSE_VERSION = b"1"
_INT32_LIMIT = 2**31 - 1


def sparse_to_bytes(table: SparseTable) -> bytes:
    """The stored bytes of ``table`` in CSC form: per column its name, row indices and values.

    A list column's offsets are the CSC ``indptr``: writing and reading are array copies, and the
    file is as small as the nonzeros.
    """
    matrix = table.matrix
    wide = matrix.nnz > _INT32_LIMIT
    offsets = pa.array(matrix.indptr.astype(np.int64 if wide else np.int32))
    lists = pa.LargeListArray if wide else pa.ListArray
    rows = lists.from_arrays(offsets, pa.array(matrix.indices.astype(np.int32)))
    values = lists.from_arrays(offsets, pa.array(matrix.data, type=pa.float64()))
    arrow = pa.table(
        {"name": pa.array(table.names, type=pa.string()), "rows": rows, "values": values},
        metadata={SPARSE_KEY: SPARSE_VERSION, ROWS_KEY: str(table.n_rows).encode()},
    )
    return write_stored_arrow(arrow)


def dataset_from_bytes(data: bytes) -> Table | SparseTable:
    """The stored dataset in ``data``: a dense :class:`Table` or a :class:`SparseTable`.

    Raises :class:`IntegrityError` when ``data`` is neither form as this service writes it.
    """
    stored = stored_dataset_from_bytes(data)
    return stored.to_table() if isinstance(stored, BlockTable) else stored


def stored_dataset_from_bytes(data: bytes) -> Table | BlockTable | SparseTable:
    """:func:`dataset_from_bytes` without turning a dense table of the block layout into a
    :class:`Table`: what a job builds its design from (service.data.design takes all three)."""
    arrow = read_stored_arrow(data)
    metadata = arrow.schema.metadata or {}
    if metadata.get(SPARSE_KEY) is None:
        return stored_table_from_arrow(arrow)
    if metadata[SPARSE_KEY] != SPARSE_VERSION or arrow.column_names != ["name", "rows", "values"]:
        raise IntegrityError("a stored sparse table was not written by this version of Sparsefit")
    try:
        return _sparse_from_arrow(arrow, int(metadata[ROWS_KEY]))
    except (KeyError, ValueError, TypeError, pa.ArrowException):
        raise IntegrityError("a stored sparse table does not hold valid data") from None


def _sparse_from_arrow(arrow: pa.Table, n_rows: int) -> SparseTable:
    names = arrow.column("name").combine_chunks()
    rows = arrow.column("rows").combine_chunks()
    values = arrow.column("values").combine_chunks()
    if names.null_count or rows.null_count or values.null_count:
        raise ValueError("a stored sparse table has nulls")
    indptr = rows.offsets.to_numpy()
    if not np.array_equal(indptr, values.offsets.to_numpy()):
        raise ValueError("rows and values disagree")
    start, stop = int(indptr[0]), int(indptr[-1])
    indices = rows.values.to_numpy()[start:stop]
    data = values.values.to_numpy()[start:stop]
    matrix = sp.csc_matrix((data, indices, indptr - start), shape=(n_rows, len(names)))
    matrix.check_format(full_check=True)
    matrix.has_sorted_indices = True
    return SparseTable(tuple(names.to_pylist()), matrix)


def dataset_to_bytes(table: Table | SparseTable) -> bytes:
    """The stored form of either kind of table."""
    return sparse_to_bytes(table) if isinstance(table, SparseTable) else table_to_bytes(table)


@dataclass(frozen=True)
class DatasetFacts:
    """What the catalog records of a table besides its file: storage, density, column summaries."""

    storage: str
    density: float
    columns: list[dict[str, Any]]


def dataset_facts(table: Table | SparseTable) -> DatasetFacts:
    if isinstance(table, SparseTable):
        return DatasetFacts("sparse", table.density, table.summaries(record_extremes=True))
    return DatasetFacts("dense", table_density(table), column_summaries(table, record_extremes=True))
