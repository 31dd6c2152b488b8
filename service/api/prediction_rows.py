"""JSON rows to predict read a chunk of rows at a time, never as one tree of Python objects."""

from __future__ import annotations

import re
from itertools import chain
from typing import Any

import numpy as np
import orjson
from fastapi.exceptions import RequestValidationError
from numpy.typing import NDArray

from service.api.schemas import PredictionCreate
from service.api.uploads import parse_json_body
from service.data.limits import TableLimits, check_table_shape
from service.data.parsing import check_names, non_finite_number_error
from service.data.table import Column, ColumnKind, Table, frozen, quote, short
from service.errors import InvalidDatasetError, ServiceError, TableTooLargeError

# Rows are parsed this many bytes at a time. orjson and numpy hold the GIL for one chunk (a few ms,
# so the event loop keeps its turns), and one chunk's Python objects are all that live at once: a
# 120 MB body parsed whole was 3 million lists and 12 million floats, over a gigabyte.
CHUNK_BYTES = 256 * 1024
# Values other than numbers converted to columns at once (a few chunks, or rows of a wide table).
GROUP_CELLS = 1 << 19
_WS = rb"[ \t\n\r]*"  # JSON's whitespace: \s would also skip \f and \v, which JSON does not allow
_DATA_KEY = re.compile(rb'"data"' + _WS + rb":" + _WS + rb"\[")
_ROW_GAP = re.compile(rb"\]" + _WS + rb"," + _WS + rb"\[")
_LAST_ROW_END = re.compile(rb"\]" + _WS + rb"\]")
_NO_ROWS = re.compile(_WS + rb"\]")
# A string, true, false or an object: text holding none of these (and no nested list) is numbers and nulls.
_NOT_NUMBERS = (b'"', b"t", b"f", b"{")
# The value kinds of parse_split_json; None is a missing value, and any other type (a list, an object)
# is left to the ordinary reading, which names it.
_KINDS: dict[type, str | None] = {
    int: "number",
    float: "number",
    str: "string",
    bool: "bool",
    type(None): None,
}


class _Ordinary(Exception):
    """The body is not one this reader takes: read it the ordinary way."""


def read_split_rows(
    body: bytes, limits: TableLimits, chunk_bytes: int = CHUNK_BYTES
) -> tuple[Table, float | None] | None:
    """The table and alpha of a ``{"columns": [...], "data": [[...], ...]}`` body, or None.

    The result, and every problem, is the one ``parse_json_body(PredictionCreate)`` and then
    ``parse_split_json`` give, except that more rows or cells than ``limits`` allow is a 413 as soon
    as they are counted. None means: read the body the ordinary way. That is any other body (CSR,
    ``dataset_id``, ``columns`` after ``data``, no rows), one that orjson refuses (NaN, 1e400) or
    that holds a row that is not a list or a value that is not a number, string, bool or null; the
    ordinary way gives those their problems.
    """
    try:
        return _SplitReader(body, limits, chunk_bytes).read()
    except _Ordinary:
        return None


# Kinds as codes, so that a block of numbers updates every column's kind at once.
_NONE, _NUMBER, _STRING, _BOOL = 0, 1, 2, 3
_CODES: dict[str | None, int] = {None: _NONE, "number": _NUMBER, "string": _STRING, "bool": _BOOL}
_NAMES: dict[int, str | None] = {code: kind for kind, code in _CODES.items()}


class _Columns:
    """The columns' values, a group of rows at a time, and the first problem parse_split_json would
    name in each column: a block of numbers is handled for all columns at once, so that a table of
    20,000 columns costs no Python work per column and group."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.kinds = np.zeros(len(names), dtype=np.int8)  # that of each column's first value present
        self.errors: dict[int, ServiceError] = {}
        # A 2-D block of numbers (NaN for null), or one piece per column.
        self.parts: list[NDArray[np.float64] | list[NDArray[Any]]] = []

    def add_block(self, block: NDArray[np.float64], first: int) -> None:
        """Rows of numbers and nulls; ``first`` is the row number of the first."""
        present = ~np.isnan(block)
        seen = present.any(axis=0)
        for j in np.flatnonzero(seen & (self.kinds > _NUMBER)).tolist():
            self._mixed(j, "number", first + int(np.argmax(present[:, j])))
        self.kinds[seen & (self.kinds == _NONE)] = _NUMBER
        self.parts.append(block)

    def add_rows(self, rows: list[list[Any]], first: int) -> None:
        """Rows of JSON values of any kind."""
        by_column = zip(*rows, strict=True)
        self.parts.append([self._piece(j, values, first) for j, values in enumerate(by_column)])

    def _piece(self, j: int, values: tuple[Any, ...], first: int) -> NDArray[Any]:
        kinds = {_KINDS.get(t, "other") for t in set(map(type, values))} - {None}
        if "other" in kinds:
            raise _Ordinary
        if not kinds or j in self.errors:
            return np.full(len(values), np.nan)
        expected = _NAMES[int(self.kinds[j])] or next(_KINDS[type(v)] for v in values if v is not None)
        self.kinds[j] = _CODES[expected]
        if kinds != {expected}:
            offset, kind = next(
                (i, k) for i, v in enumerate(values) if (k := _KINDS[type(v)]) not in (None, expected)
            )
            self._mixed(j, str(kind), first + offset)
            return np.full(len(values), np.nan)
        if expected == "number":
            return np.array(values, dtype=np.float64)  # None is NaN
        texts = np.empty(len(values), dtype=object)
        texts[:] = values if expected == "string" else [None if v is None else str(v).lower() for v in values]
        return texts

    def _mixed(self, j: int, kind: str, row: int) -> None:
        name, expected = self.names[j], _NAMES[int(self.kinds[j])]
        detail = f"column {quote(name)} mixes types: {expected} values, then a {kind} at row {row}"
        self.errors.setdefault(j, InvalidDatasetError(detail, column=short(name), row=row))

    def columns(self, n_rows: int) -> list[Column]:
        """The columns in order, or the first column's problem; the parts are let go."""
        parts, self.parts = self.parts, []
        if not self.errors and all(isinstance(part, np.ndarray) for part in parts):
            blocks = [part for part in parts if isinstance(part, np.ndarray)]
            parts.clear()  # the matrix is filled a block at a time, each let go once copied
            return self._numeric(blocks, n_rows)
        columns = []
        for j, name in enumerate(self.names):
            if j in self.errors:
                raise self.errors[j]
            pieces = [part[:, j] if isinstance(part, np.ndarray) else part[j] for part in parts]
            if self.kinds[j] > _NUMBER:
                # A piece of numbers holds only nulls here: a number would have been a mixed type.
                texts = [p if p.dtype == np.object_ else np.full(len(p), None, dtype=object) for p in pieces]
                columns.append(Column.categorical(name, np.concatenate(texts)))
                continue
            values = np.concatenate([p if p.dtype == np.float64 else np.full(len(p), np.nan) for p in pieces])
            _check_finite(name, values)
            columns.append(
                Column(name, ColumnKind.NUMERIC, frozen(values), int(np.isnan(values).sum()), None)
            )
        return columns

    def _numeric(self, blocks: list[NDArray[np.float64]], n_rows: int) -> list[Column]:
        # One Fortran-ordered matrix: each column a contiguous view of it, none copied on its own.
        # Filled a block at a time, each let go once copied: one np.concatenate of 3 million rows
        # held the GIL, and so the event loop, for 150 ms.
        matrix = np.empty((n_rows, len(self.names)), order="F")
        missing = np.zeros(len(self.names), dtype=np.int64)
        infinite = np.zeros(len(self.names), dtype=bool)
        row = 0
        for i, block in enumerate(blocks):
            blocks[i] = matrix[:0]  # the block is let go as the loop moves on
            matrix[row : row + len(block)] = block
            missing += np.isnan(block).sum(axis=0)
            infinite |= np.isinf(block).any(axis=0)
            row += len(block)
        for j in np.flatnonzero(infinite).tolist()[:1]:
            _check_finite(self.names[j], matrix[:, j])
        frozen(matrix)
        return [
            Column(name, ColumnKind.NUMERIC, matrix[:, j], int(missing[j]), None)
            for j, name in enumerate(self.names)
        ]


def _check_finite(name: str, values: NDArray[np.float64]) -> None:
    non_finite = np.isinf(values)
    if non_finite.any():
        raise non_finite_number_error(name, non_finite)


class _SplitReader:
    def __init__(self, body: bytes, limits: TableLimits, chunk_bytes: int) -> None:
        self.body = body
        self.limits = limits
        self.chunk_bytes = chunk_bytes
        self.n_rows = 0
        self.row_error: ServiceError | None = None
        self.names: list[str] = []
        self.columns = _Columns([])
        # Rows of other values than numbers parsed but not yet converted, and the number of the first.
        self.group: list[list[Any]] = []
        self.group_first = 1

    def read(self) -> tuple[Table, float | None]:
        key = _DATA_KEY.search(self.body)
        if key is None:
            raise _Ordinary
        self.names = self._names_before(key.start())
        check_table_shape(0, len(self.names), self.limits)
        self.columns = _Columns(self.names)
        start = key.end() - 1  # data's "["
        end = self._read_rows(key.end())
        if _DATA_KEY.search(self.body, end) is not None:
            # A second `data` (JSON's last one wins, even an empty one) or a key that ends in `"data`:
            # the ordinary reading decides. In valid JSON neither text can stand inside a string.
            raise _Ordinary
        alpha = self._check_the_rest(start, end)
        # parse_split_json's order: the names, then the rows' lengths, then each column in turn.
        check_names(self.names)
        if self.row_error is not None:
            raise self.row_error
        return Table(tuple(self.columns.columns(self.n_rows)), self.n_rows), alpha

    def _names_before(self, key: int) -> list[str]:
        """The ``columns`` before the data: what precedes the key, closed after an empty ``data``.

        That this parses to an object proves the key is the top-level object's, not text in a string
        or a member of a nested object.
        """
        if self.body.find(b'"sparse"', 0, key) >= 0:
            raise _Ordinary  # most likely a CSR matrix's `data`: not parsed as a prefix of megabytes
        try:
            head = orjson.loads(self.body[:key] + b'"data": []}')
        except orjson.JSONDecodeError:
            raise _Ordinary from None
        names = head.get("columns") if isinstance(head, dict) else None
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise _Ordinary
        return names

    def _read_rows(self, position: int) -> int:
        """Read the rows from ``position`` (after data's "["); returns the offset after data's "]"."""
        if _NO_ROWS.match(self.body, position):
            raise _Ordinary  # no rows: the ordinary reading decides what that answers
        while True:
            # A cut after a row's "]" and before the next "[", about chunk_bytes on: when it falls in
            # a string or a nested list instead, the chunk is not a list of whole values and orjson
            # refuses it, and the body is read the ordinary way.
            gap = _ROW_GAP.search(self.body, position + self.chunk_bytes)
            if gap is not None:
                self._take(position, gap.start() + 1)
                position = gap.end() - 1
                continue
            last = _LAST_ROW_END.search(self.body, position)
            if last is None:
                raise _Ordinary
            self._take(position, last.start() + 1)
            self._convert()
            return last.end()

    def _take(self, start: int, end: int) -> None:
        """The rows in ``body[start:end]``: whole values separated by commas, or not taken at all."""
        text = bytearray(end - start + 2)
        text[0], text[-1] = ord("["), ord("]")
        text[1:-1] = memoryview(self.body)[start:end]
        try:
            rows = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise _Ordinary from None
        del text
        first = self.n_rows + 1
        self.n_rows += len(rows)
        self._check_counts()
        if set(map(type, rows)) != {list}:
            raise _Ordinary  # pydantic names a row that is not a list
        if self.row_error is not None:
            return  # a row's length is wrong: the rest is read only to know it is JSON
        width = len(self.names)
        if set(map(len, rows)) != {width}:
            offset = next(i for i, row in enumerate(rows) if len(row) != width)
            row = first + offset
            detail = f"row {row} has {len(rows[offset])} values but there are {width} columns"
            self.row_error = InvalidDatasetError(detail, row=row)
            return
        # bytes.find is memchr, ten times the speed of a regular expression's character class.
        numbers_only = all(self.body.find(byte, start, end) < 0 for byte in _NOT_NUMBERS)
        if numbers_only and self.body.count(b"[", start, end) == len(rows):
            self._convert()  # the rows before these first
            # One flat list: numpy converts it twice as fast as a list of rows. None is NaN.
            flat = np.array(list(chain.from_iterable(rows)), dtype=np.float64)
            self.columns.add_block(flat.reshape(len(rows), width), first)
            return
        if not self.group:
            self.group_first = first
        self.group += rows
        if len(self.group) * max(1, width) >= GROUP_CELLS:
            self._convert()

    def _convert(self) -> None:
        """Convert the rows of other values grouped so far: each group costs Python work per column,
        and a wide table's chunks are a few rows each (20,000 columns a chunk took 3x pydantic's time)."""
        rows, self.group = self.group, []
        if rows and self.row_error is None:
            self.columns.add_rows(rows, self.group_first)

    def _check_counts(self) -> None:
        """413 as soon as the rows counted so far are too many: the rest is not read."""
        limits, width = self.limits, len(self.names)
        if self.n_rows > limits.max_rows:
            raise TableTooLargeError(
                f"The body has more than {limits.max_rows} rows; at most {limits.max_rows} are accepted.",
                limit="max_rows",
                maximum=limits.max_rows,
            )
        if self.n_rows * width > limits.max_cells:
            raise TableTooLargeError(
                f"The body has more than {limits.max_cells} cells ({width} columns); at most "
                f"{limits.max_cells} are accepted.",
                limit="max_cells",
                maximum=limits.max_cells,
            )

    def _check_the_rest(self, start: int, end: int) -> float | None:
        """The body's alpha, once the body without its rows is a valid PredictionCreate of these names."""
        try:
            spec = parse_json_body(PredictionCreate, self.body[:start] + b"[]" + self.body[end:])
        except RequestValidationError:
            raise _Ordinary from None
        ordinary = spec.data == [] and spec.sparse is None and spec.dataset_id is None
        if not ordinary or spec.columns != self.names:
            raise _Ordinary  # a second `data` or `columns` key, or another source: pydantic decides
        return spec.alpha
