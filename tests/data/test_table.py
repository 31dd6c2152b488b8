"""Tests of the table and column types."""

import numpy as np
import pytest

from service.data.table import Column, ColumnKind, Table, first_row, quote, short
from service.errors import ValidationError


def test_column_numeric_counts_nan_as_missing() -> None:
    column = Column.numeric("x", [1.0, float("nan"), 3])
    assert column.kind is ColumnKind.NUMERIC
    assert column.values.dtype == np.float64
    assert column.n_missing == 1
    assert column.levels is None
    np.testing.assert_array_equal(column.missing_mask(), [False, True, False])


def test_column_categorical_levels_sorted_without_missing() -> None:
    column = Column.categorical("c", ["b", None, "a", "b"])
    assert column.kind is ColumnKind.CATEGORICAL
    assert column.values.dtype == object
    assert column.values.tolist() == ["b", None, "a", "b"]
    assert column.n_missing == 1
    assert column.levels == ("a", "b")


def test_column_values_are_read_only() -> None:
    column = Column.numeric("x", [1.0, 2.0])
    with pytest.raises(ValueError, match="read-only"):
        column.values[0] = 5.0


def test_column_rejects_wrong_dtype_for_kind() -> None:
    with pytest.raises(ValueError, match="1-D"):
        Column("x", ColumnKind.NUMERIC, np.array(["a"], dtype=object), 0, None)


def test_table_lookup_by_name() -> None:
    x, c = Column.numeric("x", [1.0]), Column.categorical("c", ["a"])
    table = Table((x, c), 1)
    assert table.names == ["x", "c"]
    assert table.n_columns == 2
    assert "c" in table and "z" not in table
    assert table.column("c") is c
    assert table.get("z") is None


def test_table_column_unknown_raises_validation_error() -> None:
    table = Table((Column.numeric("x", [1.0]),), 1)
    with pytest.raises(ValidationError) as info:
        table.column("nope")
    assert info.value.extensions == {"column": "nope"}


def test_table_rejects_duplicate_names_and_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="unique"):
        Table((Column.numeric("x", [1.0]), Column.numeric("x", [2.0])), 1)
    with pytest.raises(ValueError, match="n_rows"):
        Table((Column.numeric("x", [1.0, 2.0]),), 1)


def test_short_cuts_long_names_for_messages() -> None:
    long_name = "n" * 1000
    assert len(short(long_name)) == 64
    assert short("age") == "age"
    assert quote("age") == "'age'"


def test_first_row_is_one_based() -> None:
    assert first_row(np.array([False, False, True, True])) == 3
