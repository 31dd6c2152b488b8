"""A spooled CSV or Parquet file converted batch by batch into Parquet partitions, with column summaries.

The whole table is never in memory: CSV blocks (pyarrow's streaming reader) or Parquet batches are
gathered into row groups of about :data:`GROUP_BYTES` and written into files of at most
``rows_per_partition`` rows. Files are written under temp names (swept at start-up after a crash)
and renamed only once every one of them is complete. Column summaries (missing values, the largest
magnitude) are computed in the same pass.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from service.data.csvread import NA_VALUES
from service.data.delimiters import check_header, choose
from service.data.parquet_source import SourceTable, summaries
from service.data.parsing import check_names
from service.data.partitions import Partition, PartitionedTable, numeric_columns
from service.data.table import quote, short
from service.errors import InvalidDatasetError

# A row group holds about this many bytes of float64 values: big enough for Parquet to compress
# well, small enough that converting a table of any height holds a few of them at most.
GROUP_BYTES = 4 << 20
# Arrow's CSV reader reads up to 32 blocks ahead of the conversion: 8 MiB blocks peaked at 270 MB
# for a 266 MB CSV, 256 KiB blocks at 20 MB. A block must still hold a whole row: a wide table's
# blocks grow with its header line.
CSV_BLOCK_BYTES = 256 << 10
ROW_TO_HEADER = 16
MAX_BLOCK_BYTES = 1 << 30
HEADER_BYTES = 16 << 20
_CONVERSION = re.compile(r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error")


class _Tally:
    """Per column: missing values (null or NaN) and the largest magnitude, over the batches seen."""

    def __init__(self, columns: tuple[str, ...]) -> None:
        self.columns = columns
        self.n_missing = np.zeros(len(columns), dtype=np.int64)
        self.largest = np.zeros(len(columns), dtype=np.float64)
        self.rows = 0

    def add(self, batch: pa.RecordBatch) -> None:
        for j, name in enumerate(self.columns):
            values = pc.cast(batch.column(j), pa.float64()).to_numpy(zero_copy_only=False)
            missing = np.isnan(values)
            infinite = np.isinf(values)
            if infinite.any():
                row = self.rows + int(np.flatnonzero(infinite)[0]) + 1
                raise InvalidDatasetError(
                    f"column {quote(name)} has an infinite value at row {row}; only finite numbers are data",
                    column=short(name),
                    row=row,
                )
            self.n_missing[j] += int(missing.sum())
            if not missing.all():
                self.largest[j] = max(self.largest[j], float(np.nanmax(np.abs(values))))
        self.rows += batch.num_rows


class _PartitionFiles:
    """Writes row groups into ``part-NNNNN.parquet`` files of at most ``rows_per_partition`` rows."""

    def __init__(self, directory: Path, schema: pa.Schema, rows_per_partition: int) -> None:
        self.directory = directory
        self.schema = schema
        self.rows_per_partition = rows_per_partition
        self.done: list[tuple[Path, int]] = []  # (temp path, rows) of closed files
        self._writer: pq.ParquetWriter | None = None
        self._rows = 0

    def write(self, table: pa.Table) -> None:
        start = 0
        while start < table.num_rows:
            if self._writer is None:
                temp = self.directory / f".part-{len(self.done):05d}.parquet.tmp"
                # No dictionary: measured columns rarely repeat, and its hash tables doubled the
                # conversion's memory (93 MB against 50 MB for a 266 MB CSV) and its time.
                self._writer = pq.ParquetWriter(temp, self.schema, compression="snappy", use_dictionary=False)
                self.done.append((temp, 0))
            take = min(table.num_rows - start, self.rows_per_partition - self._rows)
            self._writer.write_table(table.slice(start, take), row_group_size=take)
            start += take
            self._rows += take
            if self._rows == self.rows_per_partition:
                self._close()

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self.done[-1] = (self.done[-1][0], self._rows)
            self._writer, self._rows = None, 0

    def finish(self) -> tuple[Partition, ...]:
        """Close the last file, fsync and rename every file to its final name; the partitions."""
        self._close()
        partitions = []
        for temp, rows in self.done:
            final = temp.with_name(temp.name.removeprefix(".").removesuffix(".tmp"))
            with open(temp, "rb") as file:
                os.fsync(file.fileno())
            os.replace(temp, final)
            partitions.append(Partition(final.absolute().as_uri(), rows, final.stat().st_size))
        return tuple(partitions)

    def abort(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        for temp, _ in self.done:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def write_partitions(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, directory: Path, rows_per_partition: int
) -> SourceTable:
    """Write ``batches`` as partitions in ``directory`` (made here); the manifest and summaries.

    On any error the files written so far are removed before it propagates.
    """
    columns = tuple(schema.names)
    directory.mkdir(parents=True, exist_ok=True)
    files = _PartitionFiles(directory, schema, rows_per_partition)
    tally = _Tally(columns)
    group_rows = max(1024, GROUP_BYTES // (8 * max(1, len(columns))))
    pending: list[pa.RecordBatch] = []
    try:
        for batch in batches:
            tally.add(batch)
            pending.append(batch)
            if sum(b.num_rows for b in pending) >= group_rows:
                files.write(pa.Table.from_batches(pending, schema))
                pending = []
        if pending:
            files.write(pa.Table.from_batches(pending, schema))
        if tally.rows < 1:
            raise InvalidDatasetError("the dataset has a header but no rows")
        partitions = files.finish()
    except BaseException:
        files.abort()
        raise
    finally:
        # Arrow's allocator keeps what the conversion freed; a long-lived API process gives it back.
        pa.default_memory_pool().release_unused()
    return SourceTable(
        PartitionedTable(partitions, columns), summaries(columns, tally.n_missing, tally.largest)
    )


def convert_parquet(source: Path, directory: Path, rows_per_partition: int) -> SourceTable:
    """The partitions of a Parquet file; its columns must all be numeric."""
    try:
        file = pq.ParquetFile(source)
        schema = file.schema_arrow
    except (OSError, pa.ArrowException):
        raise InvalidDatasetError("the body is not a readable Parquet file") from None
    check_names(schema.names)
    numeric_columns(schema)
    batch_rows = max(1024, GROUP_BYTES // (8 * max(1, len(schema))))
    try:
        return write_partitions(
            file.iter_batches(batch_size=batch_rows), schema, directory, rows_per_partition
        )
    except (OSError, pa.ArrowException) as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise  # a full or read-only disk: the caller maps it to its storage problem
        raise InvalidDatasetError("the body is not a readable Parquet file") from None


def convert_csv(
    source: Path, directory: Path, rows_per_partition: int, delimiter: str | None = None
) -> SourceTable:
    """The partitions of a CSV file with a header row; every column is read as float64.

    A cell that is not a number is a 422 naming its column and row (a partitioned dataset holds
    numeric columns only); an empty cell or an NA spelling is a missing value.
    """
    with open(source, "rb") as file:
        head = file.read(HEADER_BYTES)
    if not head.strip():
        raise InvalidDatasetError("the CSV body is empty")
    separator = choose(head, delimiter)
    block_size = block_size_for(head)
    names = _header_names(source, separator, block_size)
    check_header(names, separator)
    check_names(names)
    schema = pa.schema([(name, pa.float64()) for name in names])
    reader = _open_csv(source, separator, names, block_size)
    return write_partitions(reader, schema, directory, rows_per_partition)


def _parse_options(separator: str, ragged: list[Any]) -> pacsv.ParseOptions:
    def stop_at_ragged(row: Any) -> str:
        ragged.append(row)
        return "error"

    return pacsv.ParseOptions(
        delimiter=separator, newlines_in_values=True, invalid_row_handler=stop_at_ragged
    )


def _read_options(block_size: int) -> pacsv.ReadOptions:
    # One thread: its errors carry row numbers, and the API process keeps a core for requests.
    return pacsv.ReadOptions(use_threads=False, block_size=block_size)


def block_size_for(head: bytes) -> int:
    """A CSV block that holds rows of values as long as the header line many times over."""
    end = head.find(b"\n")
    header = len(head) if end < 0 else end
    return min(MAX_BLOCK_BYTES, max(CSV_BLOCK_BYTES, ROW_TO_HEADER * header))


def _header_names(source: Path, separator: str, block_size: int) -> list[str]:
    """The header's names, from a reader that only infers the first block's types."""
    ragged: list[Any] = []
    try:
        reader = pacsv.open_csv(
            source,
            read_options=_read_options(block_size),
            parse_options=_parse_options(separator, ragged),
            convert_options=pacsv.ConvertOptions(null_values=list(NA_VALUES), strings_can_be_null=True),
        )
    except pa.ArrowException as error:
        raise _csv_error(ragged, [], error) from None
    try:
        names = list(reader.schema.names)
    except UnicodeDecodeError:
        raise InvalidDatasetError("the CSV header is not valid UTF-8 text") from None
    finally:
        reader.close()
    return names


def _open_csv(source: Path, separator: str, names: list[str], block_size: int) -> Iterator[pa.RecordBatch]:
    ragged: list[Any] = []
    options = pacsv.ConvertOptions(
        null_values=list(NA_VALUES),
        strings_can_be_null=True,
        column_types={name: pa.float64() for name in names},
    )
    try:
        reader = pacsv.open_csv(
            source,
            read_options=_read_options(block_size),
            parse_options=_parse_options(separator, ragged),
            convert_options=options,
        )
    except pa.ArrowException as error:
        raise _csv_error(ragged, names, error) from None
    return _guarded(reader, ragged, names)


def _guarded(
    reader: pacsv.CSVStreamingReader, ragged: list[Any], names: list[str]
) -> Iterator[pa.RecordBatch]:
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowException as error:
                raise _csv_error(ragged, names, error) from None
            yield batch
    finally:
        reader.close()


def _csv_error(ragged: list[Any], names: list[str], error: Exception | None) -> InvalidDatasetError:
    """The problem for what Arrow refused, without its message (which quotes the client's cells)."""
    if ragged and ragged[0].number is not None:
        bad = ragged[0]
        row = int(bad.number) - 1  # Arrow counts the header as row 1
        return InvalidDatasetError(
            f"row {row} has {bad.actual_columns} fields but the header has {bad.expected_columns}", row=row
        )
    found = _CONVERSION.search(str(error)) if error is not None else None
    if found is not None and int(found.group(1)) < len(names):
        name = names[int(found.group(1))]
        at = f" at row {int(found.group(2)) - 1}" if found.group(2) else ""
        extra: dict[str, Any] = {"row": int(found.group(2)) - 1} if found.group(2) else {}
        return InvalidDatasetError(
            f"column {quote(name)} has a value that is not a number{at}: a partitioned dataset holds "
            "numeric columns only",
            column=short(name),
            **extra,
        )
    return InvalidDatasetError("the body is not a readable CSV file (unbalanced quotes?)")
