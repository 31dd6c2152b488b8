"""Conversion between Arrow columns and table columns, shared by the CSV, Parquet and storage readers."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from service.data.table import Column, ColumnKind, first_row, quote, short
from service.errors import InvalidDatasetError


def is_numeric_type(dtype: pa.DataType) -> bool:
    """Arrow types that become numeric columns; an all-null column counts as numeric."""
    return bool(
        pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_decimal(dtype)
        or pa.types.is_null(dtype)
    )


def column_from_arrow(name: str, data: pa.ChunkedArray) -> Column:
    """A table column from an Arrow column: numbers become float64, everything flat becomes strings.

    Raises :class:`InvalidDatasetError` for nested types, non-finite numbers and values that have no
    text form.
    """
    dtype = data.type
    if pa.types.is_nested(dtype):
        raise InvalidDatasetError(
            f"column {quote(name)} has the nested type {dtype}; only flat columns are supported",
            column=short(name),
        )
    if pa.types.is_dictionary(dtype):
        data = _decoded(data)
    elif is_numeric_type(dtype):
        return _numeric(name, data)
    return _categorical(name, data)


def _decoded(data: pa.ChunkedArray) -> pa.ChunkedArray:
    # A dictionary column (pandas' category) is categorical whatever its value type.
    chunks = [chunk.dictionary_decode() for chunk in data.chunks]
    return pa.chunked_array(chunks, type=data.type.value_type)


def _numeric(name: str, data: pa.ChunkedArray) -> Column:
    # safe=False: int64 / decimal values beyond 2**53 round to the nearest float instead of failing.
    # The skips matter for wide tables, where per-column overhead dominates.
    floats = data if data.type == pa.float64() else pc.cast(data, pa.float64(), safe=False)
    if floats.null_count:
        floats = pc.fill_null(floats, float("nan"))
    values = floats.to_numpy()
    infinite = np.isinf(values)
    if infinite.any():
        row = first_row(infinite)
        raise InvalidDatasetError(
            f"column {quote(name)} has an infinite value at row {row}; only finite numbers are data",
            column=short(name),
            row=row,
        )
    return Column.numeric(name, values)


def _categorical(name: str, data: pa.ChunkedArray) -> Column:
    try:
        strings = pc.cast(data, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InvalidDatasetError(
            f"column {quote(name)} has values of type {data.type} that cannot be read as text",
            column=short(name),
        ) from None
    return Column.categorical(name, strings.to_numpy(zero_copy_only=False))


def column_to_arrow(column: Column) -> pa.Array:
    """The Arrow array that stores ``column``: float64 with nulls, or string with nulls."""
    if column.kind is ColumnKind.CATEGORICAL:
        return pa.array(column.values, type=pa.string())
    mask = column.missing_mask() if column.n_missing else None  # most columns have nothing missing
    return pa.array(column.values, type=pa.float64(), mask=mask)
