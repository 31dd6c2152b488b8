"""Parsing uploads (CSV, Parquet, JSON "split") into a validated table."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from service.data.arrowcols import column_from_arrow, is_numeric_type
from service.data.csvread import numeric_hints, read_csv_table
from service.data.delimiters import check_header, choose
from service.data.table import Column, Table, first_row, quote, short
from service.errors import InvalidDatasetError

# JobCreate's ColumnName allows this many characters: a longer name could be stored but never named.
MAX_NAME_CHARS = 1000
# C0, DEL and C1 controls: invisible in messages, illegal in the SVG (XML) of plots, and a newline
# in a name cannot be written back as a one-line CSV header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_names(names: Sequence[object]) -> None:
    """Every upload's header rule: at least one column, names are non-blank strings, all distinct.

    A name also has at most :data:`MAX_NAME_CHARS` characters and no control characters.
    """
    if not names:
        raise InvalidDatasetError("the dataset has no columns")
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not isinstance(name, str) or not name.strip():
            raise InvalidDatasetError(f"column {position} has an empty name", position=position)
        if len(name) > MAX_NAME_CHARS:
            raise InvalidDatasetError(
                f"the name of column {position} has {len(name)} characters; at most {MAX_NAME_CHARS}",
                position=position,
            )
        if _CONTROL.search(name):
            raise InvalidDatasetError(
                f"the name of column {position} contains a control character", position=position
            )
        if name in seen:
            raise InvalidDatasetError(f"the column name {quote(name)} appears twice", column=short(name))
        seen.add(name)


def make_table(columns: Sequence[Column], n_rows: int) -> Table:
    """The table of an upload, after the checks every format shares."""
    check_names([c.name for c in columns])
    if n_rows < 1:
        raise InvalidDatasetError("the dataset has a header but no rows")
    return Table(tuple(columns), n_rows)


def parse_csv(body: bytes, delimiter: str | None = None) -> Table:
    """A table from CSV bytes with a header row (RFC 4180 quoting, UTF-8, an optional BOM).

    Fields are separated by ``delimiter`` (``,`` ``;`` tab ``|``, or ``"tab"``), or when it is None
    by the one the header shows (:func:`service.data.delimiters.detect`).
    """
    if not body or body.isspace():  # isspace() stops at the first byte of data, strip() would copy
        raise InvalidDatasetError("the CSV body is empty")
    _check_utf8(body)
    separator = choose(body, delimiter)
    hints = numeric_hints(body, separator)
    arrow = read_csv_table(body, {}, hints, separator)
    check_header(arrow.column_names, separator)  # before check_names: a tab is a control
    check_names(arrow.column_names)
    # Arrow infers dates, times and timestamps; Sparsefit keeps such columns as the text they were.
    text_types = {f.name: pa.string() for f in arrow.schema if not _keeps_inferred_type(f.type)}
    if text_types:
        arrow = read_csv_table(body, text_types, hints, separator)
    columns = [column_from_arrow(f.name, arrow.column(i)) for i, f in enumerate(arrow.schema)]
    return make_table(columns, arrow.num_rows)


def _keeps_inferred_type(dtype: pa.DataType) -> bool:
    return is_numeric_type(dtype) or pa.types.is_boolean(dtype) or pa.types.is_string(dtype)


def _check_utf8(body: bytes) -> None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Counted by physical lines: exact unless a quoted value spans lines before the bad byte.
        line = body.count(b"\n", 0, exc.start) + 1
        if line == 1:
            raise InvalidDatasetError("the CSV header is not valid UTF-8 text") from None
        raise InvalidDatasetError(f"row {line - 1} is not valid UTF-8 text", row=line - 1) from None


def parse_parquet(body: bytes) -> Table:
    """A table from the bytes of a Parquet file; a pandas index stored as columns is dropped."""
    try:
        arrow = pq.read_table(pa.BufferReader(body))
    except (pa.ArrowException, OSError, ValueError):
        raise InvalidDatasetError("the body is not a readable Parquet file") from None
    arrow = arrow.drop_columns(_pandas_index_columns(arrow))
    check_names(arrow.column_names)
    columns = [column_from_arrow(f.name, arrow.column(i)) for i, f in enumerate(arrow.schema)]
    return make_table(columns, arrow.num_rows)


def _pandas_index_columns(arrow: pa.Table) -> list[str]:
    # DataFrame.to_parquet stores a non-trivial index as columns; it is row labels, not data.
    metadata = arrow.schema.pandas_metadata or {}
    stored = [c for c in metadata.get("index_columns", []) if isinstance(c, str)]
    return [c for c in stored if c in arrow.column_names]


def parse_split_json(columns: Sequence[str], data: Sequence[Sequence[Any]]) -> Table:
    """A table from pandas' "split" orientation: column names and a list of rows.

    A column is numeric when every non-null value is an int or float (bool is not), categorical when
    every non-null value is a string, or every one a bool (as "true"/"false"); null is missing.
    """
    check_names(columns)
    width = len(columns)
    for row, values in enumerate(data, start=1):
        if not isinstance(values, list | tuple):
            raise InvalidDatasetError(f"row {row} is not a list of values", row=row)
        if len(values) != width:
            raise InvalidDatasetError(
                f"row {row} has {len(values)} values but there are {width} columns", row=row
            )
    if not data:
        raise InvalidDatasetError("the dataset has no rows")
    by_column = list(zip(*data, strict=True))
    return make_table([_json_column(n, v) for n, v in zip(columns, by_column, strict=True)], len(data))


def _value_kind(value: object) -> str:
    # bool before int: True is an int to Python but a category to Sparsefit.
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def _json_column(name: str, values: tuple[Any, ...]) -> Column:
    kinds = {_value_kind(v) for v in values if v is not None}
    if kinds <= {"number"}:
        return _json_numeric(name, values)
    if kinds == {"string"}:
        return Column.categorical(name, values)
    if kinds == {"bool"}:
        return Column.categorical(name, [None if v is None else str(v).lower() for v in values])
    raise _mixed_error(name, values)


def _mixed_error(name: str, values: tuple[Any, ...]) -> InvalidDatasetError:
    present = [(row, _value_kind(v)) for row, v in enumerate(values, start=1) if v is not None]
    expected = present[0][1]
    row, kind = next((r, k) for r, k in present if k != expected or k == "other")
    if kind == "other":
        detail = f"column {quote(name)} has a value that is not a number, string, bool or null at row {row}"
    else:
        detail = f"column {quote(name)} mixes types: {expected} values, then a {kind} at row {row}"
    return InvalidDatasetError(detail, column=short(name), row=row)


def _json_numeric(name: str, values: tuple[Any, ...]) -> Column:
    try:
        array = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    except OverflowError:
        raise InvalidDatasetError(
            f"column {quote(name)} has an integer too large", column=short(name)
        ) from None
    given = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    non_finite = given & ~np.isfinite(array)
    if non_finite.any():
        raise non_finite_number_error(name, non_finite)
    return Column.numeric(name, array)


def non_finite_number_error(name: str, non_finite: NDArray[np.bool_]) -> InvalidDatasetError:
    """The problem for a non-finite number in a JSON column (JSON says missing with null)."""
    row = first_row(non_finite)
    return InvalidDatasetError(
        f"column {quote(name)} has a non-finite number at row {row}; use null for a missing value",
        column=short(name),
        row=row,
    )
