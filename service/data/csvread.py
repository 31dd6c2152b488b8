"""Reading CSV bytes with Arrow, fast for wide tables: block sizes, numeric hints, the first ragged row."""

from __future__ import annotations

import contextlib
import re
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from service.errors import InvalidDatasetError

# Cells that mean "missing" in a CSV, as in pandas' defaults minus the rarer spellings.
NA_VALUES = ("", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "null", "NULL")
# Arrow's default block is 1 MiB; it takes block sizes as int32.
MIN_BLOCK_BYTES = 1 << 20
MAX_BLOCK_BYTES = 1 << 30
INT32_MAX = 2**31 - 1
ROWS_PER_BLOCK = 1024
PARALLEL_BLOCKS = 4
# Numeric hints come from this many first rows, and only for bodies worth the extra look.
SAMPLE_ROWS = 8
HINTED_BYTES = 8 << 20

Types = dict[str, pa.DataType]
_NA_BYTES = frozenset(value.encode() for value in NA_VALUES)
_NUMBER = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_BOM = b"\xef\xbb\xbf"


def block_size_for(body: bytes) -> int:
    """Arrow's CSV block size for ``body``: about :data:`ROWS_PER_BLOCK` rows, at least 1 MiB.

    Arrow does work per column in every block, so a wide table must come in few blocks: a 2,000 x
    20,000 CSV (180 KB rows) took 35 s to read in Arrow's default 1 MiB blocks, 5 rows each, and
    about 3 s in blocks of a thousand rows. A row is judged by the header's length.
    """
    header_end = body.find(b"\n")
    row_bytes = len(body) if header_end < 0 else header_end + 1
    return min(max(MIN_BLOCK_BYTES, ROWS_PER_BLOCK * row_bytes), MAX_BLOCK_BYTES, len(body) + 1)


def numeric_hints(body: bytes, delimiter: str = ",") -> Types:
    """float64 for every column whose first :data:`SAMPLE_ROWS` cells are plain numbers or missing.

    Told a column's type, Arrow skips inferring it: 2.0 -> 1.6 s of CPU for a 2,000 x 20,000 CSV.
    The sample is read here, not by Arrow, whose per-column cost made even a 4-row sample of that
    table take 0.6 s. A hint the rest of the body contradicts (a word in a column of numbers) fails
    the read, which :func:`read_csv_table` then repeats without hints, so hints change how fast a
    body is read, never what it reads. No hints for a small body, nor for one whose first lines
    quote anything (the simple split below would misread them).
    """
    if len(body) < HINTED_BYTES:
        return {}
    lines = _first_lines(body.removeprefix(_BOM), SAMPLE_ROWS + 1)
    if lines is None or any(b'"' in line for line in lines):
        return {}
    names = lines[0].decode("utf-8", errors="replace").split(delimiter)
    rows = [line.split(delimiter.encode()) for line in lines[1:]]
    if any(len(row) != len(names) for row in rows):
        return {}
    numeric = [j for j, cells in enumerate(zip(*rows, strict=True)) if _numbers(cells)]
    return {names[j]: pa.float64() for j in numeric}


def _first_lines(body: bytes, count: int) -> list[bytes] | None:
    end, lines = -1, []
    for _ in range(count):
        start, end = end + 1, body.find(b"\n", end + 1)
        if end < 0:
            return None
        lines.append(body[start:end].removesuffix(b"\r"))
    return lines


def _numbers(cells: tuple[bytes, ...]) -> bool:
    """Every cell a plain decimal number or a missing value, and at least one a number."""
    present = [cell for cell in cells if cell not in _NA_BYTES]
    return bool(present) and all(_NUMBER.fullmatch(cell) for cell in present)


def read_csv_table(
    body: bytes, column_types: Types, hints: Types | None = None, delimiter: str = ","
) -> pa.Table:
    """The Arrow table of ``body`` (fields separated by ``delimiter``) with ``column_types`` fixed,
    trying ``hints`` first.

    Raises :class:`InvalidDatasetError` at the first ragged row (naming it) or when Arrow cannot
    read the body at all.
    """
    block = block_size_for(body)
    # A block that ends inside a row longer than itself fails to parse: one block holds any row.
    sizes = dict.fromkeys((block, min(len(body) + 1, INT32_MAX)))
    tried = [({**hints, **column_types}, size) for size in sizes] if hints else []
    for types, size in [*tried, *((column_types, size) for size in sizes)]:
        arrow = _read_csv_blocks(body, types, size, delimiter)
        if arrow is not None:
            return arrow
    # Arrow's message quotes the offending text, which must not travel back to the client.
    raise InvalidDatasetError("the body is not a readable CSV file (unbalanced quotes?)")


def _convert_options(column_types: Types) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        null_values=list(NA_VALUES), strings_can_be_null=True, column_types=column_types
    )


def _read_csv_options(block_size: int, threads: bool = True) -> pacsv.ReadOptions:
    return pacsv.ReadOptions(use_threads=threads, block_size=block_size)


def _threaded(body: bytes, block_size: int) -> bool:
    # Arrow's threads parse blocks side by side; on a wide table's two or three big blocks they only
    # added work (3.1-3.5 s instead of 2.0-2.3 s for the 2,000 x 20,000 CSV, measured on 2 cores).
    return len(body) >= PARALLEL_BLOCKS * block_size


def _read_csv_blocks(body: bytes, column_types: Types, block_size: int, delimiter: str) -> pa.Table | None:
    """The parsed CSV, or None when Arrow cannot parse it; raises at the first ragged row."""
    ragged: list[bool] = []

    def stop_at_ragged(row: Any) -> str:
        ragged.append(True)
        return "error"

    # Without a quote character no value can hold a newline, and Arrow splits rows faster knowing it.
    quoted = b'"' in body
    try:
        return pacsv.read_csv(
            pa.BufferReader(body),
            read_options=_read_csv_options(block_size, threads=_threaded(body, block_size)),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=quoted, invalid_row_handler=stop_at_ragged
            ),
            convert_options=_convert_options(column_types),
        )
    except pa.ArrowInvalid:
        if ragged:
            raise _ragged_row_error(body, block_size, delimiter) from None
        return None


def _ragged_row_error(body: bytes, block_size: int, delimiter: str) -> InvalidDatasetError:
    # Multi-threaded reading does not know row numbers; a single-threaded pass up to the bad row does.
    first: list[Any] = []

    def note_and_stop(row: Any) -> str:
        first.append(row)
        return "error"

    with contextlib.suppress(pa.ArrowInvalid):  # raised once note_and_stop() has seen the row
        pacsv.read_csv(
            pa.BufferReader(body),
            read_options=_read_csv_options(block_size, threads=False),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=note_and_stop
            ),
        )
    if not first or first[0].number is None:
        return InvalidDatasetError("a row has a different number of fields than the header")
    bad = first[0]
    row = int(bad.number) - 1  # Arrow counts the header as row 1
    return InvalidDatasetError(
        f"row {row} has {bad.actual_columns} fields but the header has {bad.expected_columns}", row=row
    )
