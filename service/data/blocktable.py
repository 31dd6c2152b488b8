"""A dense table stored one Arrow row per column, so that its numeric columns read back as one matrix."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from service.data.schema import DatasetSchema
from service.data.table import Column, ColumnKind, Table, frozen, quote, short
from service.errors import ValidationError

# The stored layout's columns: the table's column names, each numeric column's values (NaN where
# missing; null for a categorical column), each categorical column's values (null for a numeric
# column) and each column's count of missing values. int64 offsets: 2**31 cells is only 16 GB.
BLOCK_SCHEMA = pa.schema(
    [
        pa.field("name", pa.string(), nullable=False),
        pa.field("numbers", pa.large_list(pa.float64())),
        pa.field("texts", pa.large_list(pa.large_string())),
        pa.field("missing", pa.int64(), nullable=False),
    ]
)
_NUMERIC, _CATEGORICAL = ColumnKind.NUMERIC, ColumnKind.CATEGORICAL


@dataclass(frozen=True, eq=False)
class BlockTable:
    """A stored dense table as a job reads it: numeric columns are the rows of one matrix.

    ``numbers`` is (numeric columns, rows), C-ordered, read-only: row ``slots[j]`` holds column
    ``j``'s values (NaN where missing), so any set of numeric columns becomes a Fortran design with
    one gather and no Python work per column. ``slots[j]`` is -1 for a categorical column, whose
    :class:`Column` is in ``categorical``. ``n_missing`` counts each column's missing values.
    """

    names: tuple[str, ...]
    n_rows: int
    numbers: NDArray[np.float64]
    slots: NDArray[np.int64]
    n_missing: NDArray[np.int64]
    categorical: dict[str, Column]
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        index = dict(zip(self.names, range(len(self.names)), strict=True))
        if len(index) != len(self.names):
            raise ValueError("column names must be unique")
        if self.numbers.ndim != 2 or self.numbers.shape[1] != self.n_rows:
            raise ValueError(f"numbers must be (numeric columns, {self.n_rows})")
        numeric = self.slots >= 0
        if not np.array_equal(self.slots[numeric], np.arange(self.numbers.shape[0])):
            raise ValueError("numeric columns must fill the rows of numbers in order")
        if sorted(np.flatnonzero(~numeric).tolist()) != sorted(index[n] for n in self.categorical):
            raise ValueError("every categorical column needs its values")
        object.__setattr__(self, "_index", index)

    @property
    def n_columns(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def position(self, name: str) -> int:
        """The column's index; ValidationError (as ``Table.column``) when there is none."""
        position = self._index.get(name)
        if position is None:
            raise ValidationError(f"the table has no column named {quote(name)}", column=short(name))
        return position

    def column(self, name: str) -> Column:
        """The column called ``name``: a numeric one is a read-only view of its row of ``numbers``."""
        slot = int(self.slots[self.position(name)])
        if slot < 0:
            return self.categorical[name]
        count = int(self.n_missing[self._index[name]])
        return Column(name, _NUMERIC, frozen(self.numbers[slot]), count, None)

    def schema(self) -> DatasetSchema:
        """The schema of this table's columns, built without a Python object per numeric column."""
        kinds = np.where(self.slots >= 0, 0, 1).tolist()
        counts = self.n_missing.tolist()
        levels = {name: column.levels or () for name, column in self.categorical.items()}
        return DatasetSchema(
            names=self.names,
            kinds=tuple((_NUMERIC, _CATEGORICAL)[k] for k in kinds),
            n_missing=tuple(counts),
            levels={name: levels[name] for name in self.names if name in levels},  # dataset order
            with_missing=tuple(n for n, m in zip(self.names, counts, strict=True) if m),
            categorical=tuple(n for n in self.names if n in levels),
            n_rows=self.n_rows,
            _positions=self._index,
            extremes={},
        )

    def positions(self, names: list[str]) -> NDArray[np.int64]:
        """The index of each of ``names`` (KeyError for a name the table lacks: check first)."""
        index = self._index
        return np.fromiter((index[n] for n in names), dtype=np.int64, count=len(names))

    def numeric_slots(self, names: list[str]) -> NDArray[np.int64]:
        """The row of ``numbers`` of each of ``names`` (-1 for a categorical one)."""
        return self.slots[self.positions(names)]

    def to_table(self) -> Table:
        """The same data as a :class:`Table` (one Column per column: for callers that want one)."""
        return Table(tuple(self.column(name) for name in self.names), self.n_rows)


def block_arrow(table: Table, metadata: dict[bytes, bytes]) -> pa.Table:
    """``table`` in the stored block layout (``BLOCK_SCHEMA``) with ``metadata`` on its schema."""
    n = table.n_rows
    numeric = np.array([c.kind is _NUMERIC for c in table.columns], dtype=bool)
    numbers = [c.values for c in table.columns if c.kind is _NUMERIC]
    texts = [c.values for c in table.columns if c.kind is _CATEGORICAL]
    flat_numbers = np.concatenate(numbers) if numbers else np.empty(0)
    flat_texts = np.concatenate(texts) if texts else np.empty(0, dtype=object)
    columns = [
        pa.array(table.names, type=pa.string()),
        _lists(flat_numbers, numeric, n, pa.float64()),
        _lists(flat_texts, ~numeric, n, pa.large_string()),
        pa.array([c.n_missing for c in table.columns], type=pa.int64()),
    ]
    return pa.Table.from_arrays(columns, schema=BLOCK_SCHEMA.with_metadata(metadata))


def _lists(flat: NDArray[Any], present: NDArray[np.bool_], n: int, kind: pa.DataType) -> pa.Array:
    """One list of ``n`` values of ``flat`` per True in ``present``, in order; null (empty) elsewhere."""
    offsets = np.zeros(len(present) + 1, dtype=np.int64)
    np.cumsum(present * n, out=offsets[1:])
    values = pa.array(flat, type=kind)
    return pa.LargeListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~present))


def block_from_arrow(arrow: pa.Table, n_rows: int) -> BlockTable:
    """The table that :func:`block_arrow` stored; ValueError (or an Arrow error) if it is not one.

    Numeric values stay a view of the file's buffer when the columns lie back to back, as written
    (a file that went through Parquet may not: its values are then gathered, one copy).
    """
    if arrow.schema.remove_metadata() != BLOCK_SCHEMA:
        raise ValueError("not the block layout")
    names = tuple(arrow.column("name").to_pylist())
    numbers = arrow.column("numbers").combine_chunks()
    texts = arrow.column("texts").combine_chunks()
    n_missing = arrow.column("missing").to_numpy().astype(np.int64, copy=False)
    numeric = numbers.is_valid().to_numpy(zero_copy_only=False)
    if texts.is_valid().to_numpy(zero_copy_only=False).tolist() != (~numeric).tolist():
        raise ValueError("each column must be numeric or categorical")
    slots = np.where(numeric, np.cumsum(numeric) - 1, -1).astype(np.int64)
    block = _numeric_block(numbers, numeric, n_rows)
    categorical: dict[str, Column] = {}
    for j in np.flatnonzero(~numeric).tolist():
        column = Column.categorical(names[j], texts[j].values.to_numpy(zero_copy_only=False))
        if column.n_missing != n_missing[j] or len(column.values) != n_rows:
            raise ValueError("a categorical column does not match its count")
        categorical[names[j]] = column
    return BlockTable(names, n_rows, frozen(block), slots, n_missing, categorical)


def _numeric_block(numbers: pa.LargeListArray, numeric: NDArray[np.bool_], n: int) -> NDArray[np.float64]:
    offsets = numbers.offsets.to_numpy()
    starts = offsets[:-1][numeric]
    if not np.all(offsets[1:][numeric] - starts == n):
        raise ValueError(f"every numeric column must have {n} values")
    flat: NDArray[np.float64] = numbers.values.to_numpy(zero_copy_only=True)  # nulls raise: missing is NaN
    k = len(starts)
    if k == 0:
        return np.empty((0, n))
    first = int(starts[0])
    if np.array_equal(starts, first + n * np.arange(k)):
        return flat[first : first + k * n].reshape(k, n)
    gathered: NDArray[np.float64] = flat[starts[:, None] + np.arange(n)]
    return gathered
