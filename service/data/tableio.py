"""The canonical stored form of a table (an Arrow IPC file) and its summary for the API."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from service.data.arrowcols import column_from_arrow
from service.data.blocktable import BlockTable, block_arrow, block_from_arrow
from service.data.magnitudes import extreme_magnitudes
from service.data.schema import EXTREME_KEY
from service.data.table import Column, ColumnKind, Table, frozen
from service.errors import IntegrityError, InvalidDatasetError

# Written into the schema metadata so that a future layout change can still read old files.
# Version 1 (until issue 10, point 5) had one LZ4-compressed Arrow column per table column; version
# 2 is the block layout (service.data.blocktable), uncompressed. Both read.
FORMAT_KEY = b"sparsefit.table"
FORMAT_VERSION = b"2"
COLUMNAR_VERSION = b"1"
ROWS_KEY = b"sparsefit.n_rows"
# How an Arrow IPC file starts; a Parquet file starts with b"PAR1".
IPC_MAGIC = b"ARROW1"
_STORED_TYPES = {ColumnKind.NUMERIC: pa.float64(), ColumnKind.CATEGORICAL: pa.string()}


def table_to_bytes(table: Table) -> bytes:
    """The stored bytes of ``table``: one row per column (the block layout), uncompressed.

    A job reads the file whole and wants its numeric columns as one matrix: in this layout they are
    one buffer, read without a copy or any Python work per column (the columnar layout of version 1
    cost some 40 us per column, 200 ms for 5,000, plus LZ4 decoding of numbers that do not compress).
    """
    metadata = {FORMAT_KEY: FORMAT_VERSION, ROWS_KEY: str(table.n_rows).encode()}
    return write_stored_arrow(block_arrow(table, metadata), compression=None)


def write_stored_arrow(arrow: pa.Table, compression: str | None = "lz4") -> bytes:
    """``arrow`` as an Arrow IPC file, its buffers LZ4-compressed unless ``compression`` is None.

    Not Parquet, which datasets were stored as before: a job reads its dataset back whole, and
    Parquet decodes column by column, 200-500 ms for a 500 x 5,000 table in a fresh job process
    against 20 ms for the IPC file, which is little more than a decompressed copy of the buffers.
    LZ4 rather than zstd for the same reason (19 vs 56 ms to read that table).
    """
    sink = io.BytesIO()
    options = ipc.IpcWriteOptions(compression=compression)
    with ipc.new_file(sink, arrow.schema, options=options) as writer:
        writer.write_table(arrow)
    return sink.getvalue()


def table_from_bytes(data: bytes) -> Table:
    """The table that :func:`table_to_bytes` (of this version or an earlier one) wrote, exactly.

    Raises :class:`IntegrityError` when ``data`` is not such a file: stored bytes that no longer read
    back are the service's fault, not the client's.
    """
    return table_from_arrow(read_stored_arrow(data))


def read_stored_arrow(data: bytes) -> pa.Table:
    """The Arrow table of a stored file (IPC, or Parquet as stored before); IntegrityError if neither."""
    try:
        if data[:6] == IPC_MAGIC:
            return ipc.open_file(pa.BufferReader(data)).read_all()
        return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError):
        raise IntegrityError("a stored table is not a readable Arrow or Parquet file") from None


def table_from_arrow(arrow: pa.Table) -> Table:
    """The table of a stored file read by :func:`read_stored_arrow` (IntegrityError if not ours)."""
    stored = stored_table_from_arrow(arrow)
    return stored.to_table() if isinstance(stored, BlockTable) else stored


def stored_table_from_arrow(arrow: pa.Table) -> Table | BlockTable:
    """A stored file's table as it is stored: a :class:`BlockTable` for the block layout, else a
    :class:`Table` (files of version 1, Parquet included). IntegrityError if not ours."""
    metadata = arrow.schema.metadata or {}
    version = metadata.get(FORMAT_KEY)
    if version == FORMAT_VERSION:
        try:
            return block_from_arrow(arrow, int(metadata[ROWS_KEY]))
        except (KeyError, ValueError, TypeError, pa.ArrowException):
            raise IntegrityError("a stored table does not hold valid data") from None
    if version != COLUMNAR_VERSION:
        raise IntegrityError("a stored table was not written by this version of Sparsefit")
    if any(f.type not in _STORED_TYPES.values() for f in arrow.schema):
        raise IntegrityError("a stored table has a column of an unexpected type")
    try:
        columns = [_stored_column(f.name, arrow.column(i)) for i, f in enumerate(arrow.schema)]
        return Table(tuple(columns), arrow.num_rows)
    except (InvalidDatasetError, ValueError):
        raise IntegrityError("a stored table does not hold valid data") from None


def _stored_column(name: str, data: pa.ChunkedArray) -> Column:
    """A column of a stored table, numeric ones without the checks an upload gets.

    Stored numbers were checked when they were uploaded and the file's checksum when it was read, so
    the infinity scan and the NaN count of ``column_from_arrow`` would only repeat them: skipping
    them halves the read of a 5,000-column table. A missing number is stored as a null, never NaN.
    """
    if data.type != pa.float64():
        return column_from_arrow(name, data)
    array = data.combine_chunks() if data.num_chunks != 1 else data.chunk(0)
    values = array.fill_null(math.nan) if array.null_count else array
    # A view of the file's buffers, not a copy: read-only, as every column's values are.
    return Column(name, ColumnKind.NUMERIC, frozen(values.to_numpy()), array.null_count, None)


def table_density(table: Table) -> float:
    """Nonzero cells / cells: a numeric cell other than 0 or missing, or any categorical value."""
    cells = table.n_rows * table.n_columns
    nonzero = sum(
        np.count_nonzero(c.values) - c.n_missing
        if c.kind is ColumnKind.NUMERIC
        else table.n_rows - c.n_missing
        for c in table.columns
    )
    return nonzero / cells if cells else 0.0


def column_summaries(table: Table, record_extremes: bool = False) -> list[dict[str, Any]]:
    """The API's ``columns`` entries: name, kind, n_missing, plus sorted levels for categoricals;
    with ``record_extremes`` (for the catalog, at upload), the largest magnitude of a numeric column
    outside the engine's band, so that a job the engine would refuse is refused at submit."""
    summaries: list[dict[str, Any]] = []
    for column in table.columns:
        entry: dict[str, Any] = {
            "name": column.name,
            "kind": column.kind.value,
            "n_missing": column.n_missing,
        }
        if column.levels is not None:
            entry["levels"] = list(column.levels)
        summaries.append(entry)
    if record_extremes:
        numeric = [j for j, c in enumerate(table.columns) if c.kind is ColumnKind.NUMERIC]
        found = extreme_magnitudes([table.columns[j].values for j in numeric])
        for position, largest in found.items():
            summaries[numeric[position]][EXTREME_KEY] = largest
    return summaries
