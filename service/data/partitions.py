"""Partitioned Parquet datasets: the manifest listing a tall table's files, and reading one partition.

A partitioned dataset is never read whole by one process: its manifest (what the catalog's checksum
covers) names the Parquet files in row order, each with its row count, and a job maps a function
over them (in turn in the local pool, as Dask tasks on a cluster). Global row ``i`` is the row of
the partition that holds it, counting partitions in manifest order. Every column is numeric
(float64 when read); a table with other columns is refused when it is stored or registered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from service.errors import InvalidDataError, InvalidDatasetError

MANIFEST_FORMAT = "sparsefit.partitions/1"
FloatMatrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Partition:
    """One Parquet file of a partitioned dataset: where any worker reads it, and its row count."""

    url: str
    n_rows: int
    size_bytes: int = 0


@dataclass(frozen=True)
class PartitionedTable:
    """A tall numeric table as Parquet files in row order (the manifest of a partitioned dataset)."""

    partitions: tuple[Partition, ...]
    columns: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        return sum(p.n_rows for p in self.partitions)

    @property
    def size_bytes(self) -> int:
        return sum(p.size_bytes for p in self.partitions)

    def offsets(self) -> npt.NDArray[np.int64]:
        """Global index of each partition's first row, and the row count at the end (len + 1)."""
        return np.concatenate([[0], np.cumsum([p.n_rows for p in self.partitions])]).astype(np.int64)

    def to_json(self) -> bytes:
        """The manifest's stored bytes (sorted keys, so equal manifests have equal checksums)."""
        document = {
            "format": MANIFEST_FORMAT,
            "columns": list(self.columns),
            "partitions": [
                {"url": p.url, "n_rows": p.n_rows, "size_bytes": p.size_bytes} for p in self.partitions
            ],
        }
        return json.dumps(document, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> PartitionedTable:
        document = json.loads(data)
        if document.get("format") != MANIFEST_FORMAT:
            raise InvalidDatasetError("The dataset's manifest has an unknown format.")
        return cls(
            partitions=tuple(
                Partition(str(p["url"]), int(p["n_rows"]), int(p.get("size_bytes", 0)))
                for p in document["partitions"]
            ),
            columns=tuple(str(c) for c in document["columns"]),
        )


def read_partition(partition: Partition, columns: Sequence[str]) -> FloatMatrix:
    """The ``columns`` of one partition as a Fortran-ordered float64 matrix (rows x columns).

    InvalidDataError naming the column and the partition's rows for a missing or non-finite value
    or a row count that differs from the manifest's (the file changed after it was registered).
    """
    table = pq.read_table(partition.url, columns=list(columns))
    if table.num_rows != partition.n_rows:
        raise InvalidDataError(
            f"Partition {partition.url} has {table.num_rows} rows; the dataset's manifest says "
            f"{partition.n_rows}: the file changed after the dataset was stored."
        )
    out = np.empty((table.num_rows, len(columns)), dtype=np.float64, order="F")
    for j, name in enumerate(columns):
        column = table.column(name)
        if column.null_count:
            raise InvalidDataError(f"Column '{name}' has missing values in partition {partition.url}.")
        values = column.cast(pa.float64()).to_numpy()
        out[:, j] = values
        if not np.isfinite(out[:, j]).all():
            first = int(np.flatnonzero(~np.isfinite(out[:, j]))[0])
            raise InvalidDataError(
                f"Column '{name}' has a non-finite value at row {first} of partition {partition.url}."
            )
    return out


def numeric_columns(schema: pa.Schema) -> tuple[str, ...]:
    """The schema's columns, all numeric; InvalidDatasetError naming the first that is not."""
    for field in schema:
        if not (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)):
            raise InvalidDatasetError(
                f"Column '{field.name}' has type {field.type}: a partitioned dataset holds numeric "
                "columns only."
            )
    return tuple(schema.names)


def iter_partition(partition: Partition, columns: Sequence[str], batch_rows: int) -> Iterator[FloatMatrix]:
    """``read_partition`` in row batches of at most ``batch_rows`` rows, in row order: a task on a
    worker with little memory never holds the partition (added for tall fits).

    Parquet decodes a row group at a time; it is read here a few columns at a time (decoding all
    51 columns of a 125,000-row group at once took 220 MB of resident memory, 10 at a time 120 MB),
    so memory is about the row group's float64 matrix plus one column group's decoding. Files with
    small row groups keep even that small. The same checks as ``read_partition``; a bad value's row
    is counted from the partition's start.
    """
    file = pq.ParquetFile(partition.url, buffer_size=READ_BUFFER_BYTES, pre_buffer=False)
    if file.metadata.num_rows != partition.n_rows:
        raise InvalidDataError(
            f"Partition {partition.url} has {file.metadata.num_rows} rows; the dataset's manifest says "
            f"{partition.n_rows}: the file changed after the dataset was stored."
        )
    first = 0
    for group in range(file.num_row_groups):
        rows = file.metadata.row_group(group).num_rows
        out = np.empty((rows, len(columns)), dtype=np.float64, order="F")
        for start in range(0, len(columns), COLUMNS_PER_READ):
            names = list(columns[start : start + COLUMNS_PER_READ])
            piece = file.read_row_group(group, columns=names, use_threads=False)
            for j, name in enumerate(names, start):
                out[:, j] = _checked_values(piece.column(name), name, partition, first)
            del piece
        # Arrow's allocator keeps freed decoding buffers for reuse; on a worker of 500 MB that
        # cache pushed the resident size past Dask's pause threshold (80%), and the job waited.
        pa.default_memory_pool().release_unused()
        for begin in range(0, rows, batch_rows):
            yield np.asfortranarray(out[begin : begin + batch_rows])
        first += rows


# Column chunks are read through a buffer of this size instead of whole (pyarrow's default).
READ_BUFFER_BYTES = 1 << 20
COLUMNS_PER_READ = 8


def _checked_values(column: pa.ChunkedArray, name: str, partition: Partition, first: int) -> FloatMatrix:
    if column.null_count:
        raise InvalidDataError(f"Column '{name}' has missing values in partition {partition.url}.")
    values: FloatMatrix = np.asarray(column.cast(pa.float64()).to_numpy(), dtype=np.float64)
    if not np.isfinite(values).all():
        row = first + int(np.flatnonzero(~np.isfinite(values))[0])
        raise InvalidDataError(
            f"Column '{name}' has a non-finite value at row {row} of partition {partition.url}."
        )
    return values
