"""JSON rows to predict read a chunk at a time: the same table, alpha and problems as the ordinary reading."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import numpy as np
import pytest
from fastapi.exceptions import RequestValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from service.api import prediction_rows
from service.api.prediction_rows import read_split_rows
from service.api.schemas import PredictionCreate
from service.api.uploads import parse_json_body
from service.data.limits import TableLimits
from service.data.parsing import parse_split_json
from service.data.table import Table
from service.errors import ServiceError, TableTooLargeError

LIMITS = TableLimits(max_rows=1_000_000, max_columns=1000, max_cells=10_000_000)
Outcome = tuple[str, Any, Any]


def ordinary(body: bytes) -> Outcome:
    """What the body gave before: pydantic, then parse_split_json."""
    try:
        spec = parse_json_body(PredictionCreate, body)
        assert spec.columns is not None and spec.data is not None
        return "table", snapshot(parse_split_json(spec.columns, spec.data)), spec.alpha
    except ServiceError as error:
        return "problem", error.to_problem(), None
    except RequestValidationError as error:
        return "validation", error.errors(), None


def lean(body: bytes, chunk_bytes: int, limits: TableLimits = LIMITS, group_cells: int = 2) -> Outcome | None:
    """The chunked reading; rows are converted ``group_cells`` values at a time (a row at least)."""
    try:
        with mock.patch.object(prediction_rows, "GROUP_CELLS", group_cells):
            read = read_split_rows(body, limits, chunk_bytes)
    except ServiceError as error:
        return "problem", error.to_problem(), None
    if read is None:
        return None
    table, alpha = read
    return "table", snapshot(table), alpha


def snapshot(table: Table) -> list[tuple[Any, ...]]:
    """A table as comparable values: NaN as None, so that missing numbers compare equal."""
    return [
        (c.name, c.kind, c.n_missing, c.levels, [None if v != v else v for v in c.values.tolist()])
        for c in table.columns
    ]


def body_of(columns: list[str], rows: list[list[Any]], **extra: Any) -> bytes:
    return json.dumps({"columns": columns, "data": rows, **extra}).encode()


@pytest.mark.parametrize(("chunk_bytes", "group_cells"), [(1, 1), (9, 2), (64, 5), (1 << 20, 1 << 19)])
@pytest.mark.parametrize(
    "rows",
    [
        [[1, 2.5, None], [3, None, -0.0], [1e300, 7, 2**62], [None, None, None]],
        [["a", True, 1.5], [None, False, None], ["b", None, 2], ["a", True, 3]],
        [[None, "x"], [None, None], ["late", "y"], [None, "x"]],  # a column's first value in a late chunk
    ],
)
def test_same_table_as_the_ordinary_reading(
    rows: list[list[Any]], chunk_bytes: int, group_cells: int
) -> None:
    columns = [f"c{j}" for j in range(len(rows[0]))]
    body = body_of(columns, rows)
    assert lean(body, chunk_bytes, group_cells=group_cells) == ordinary(body)


@pytest.mark.parametrize(
    "body",
    [
        body_of(["a", "b"], [[1, 2], [3, 4], [5], [6, 7]]),  # row 3 is short
        body_of(["a", "b"], [[1, 2], [3, "x"], [5, 6]]),  # b: numbers, then a string
        body_of(["a", "b"], [[None, 2], ["s", 1], [2, 3]]),  # a: strings, then a number (another chunk)
        body_of(["a", "b"], [[True, 2], [False, 1], ["t", 3]]),  # a: bools, then a string
        body_of(["a", "b"], [[1, 2], [3, "x"], [5]]),  # the short row wins over the mixed column
        body_of(["a", "a"], [[1, 2]]),  # names are checked first
        body_of(["a", "b"], [[1, "x"], ["y", 2]]),  # the first column at fault is named
    ],
)
def test_same_problem_as_the_ordinary_reading(body: bytes) -> None:
    expected = ordinary(body)
    assert expected[0] == "problem"
    for chunk_bytes, group_cells in ((1, 1), (7, 4), (1 << 20, 1 << 19)):
        assert lean(body, chunk_bytes, group_cells=group_cells) == expected


def test_alpha_before_or_after_the_rows_and_any_whitespace() -> None:
    rows = [[1.5, 2], [3, 4]]
    for body in (
        body_of(["a", "b"], rows, alpha=0.5),
        b'{"alpha": 0.25, "columns": ["a", "b"], "data": [[1.5, 2], [3, 4]]}',
        json.dumps({"columns": ["a", "b"], "data": rows, "alpha": 2}, indent=2).encode(),
        b'\r\n {"columns":["a","b"] ,\t"data" :\n[ [1.5,2] ,\n [3,4] ] }\n',
    ):
        for chunk_bytes in (1, 1 << 20):
            assert lean(body, chunk_bytes) == ordinary(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [[1]], "columns": ["a"]}',  # columns after the rows
        b'{"columns": ["a"], "data": []}',  # no rows: the ordinary reading decides
        b'{"columns": ["a"], "sparse": {"shape": [1, 1], "indptr": [0, 1], "indices": [0], "data": [1.0]}}',
        b'{"dataset_id": "' + b"0" * 32 + b'"}',
        b'{"columns": ["a"], "data": [[NaN]]}',
        b'{"columns": ["a"], "data": [[1e400]]}',
        b'{"columns": ["a"], "data": [[[1]]]}',  # a value that is a list
        b'{"columns": ["a"], "data": [[{"x": 1}]]}',
        b'{"columns": ["a"], "data": [1, 2]}',  # rows that are not lists
        b'{"columns": ["a"], "data": [[1]], "extra": 1}',
        b'{"columns": ["a"], "data": [[1]], "data": [[2]]}',
        b'{"columns": ["a"], "data": [[1]], "data": []}',  # the last `data` wins: no rows
        b'{"columns": ["a"], "data": [[1]], "\\"data": [[2]]}',  # a key that ends in `"data`
        b'{"columns": ["a"], "data": [[1]], "columns": ["b"]}',
        b'{"columns": ["a"], "x": {"data": [[1]]}}',
        b'{"columns": ["a"], "data": [[1]]',  # not JSON
        b'{"columns": ["a"], "data": [[1]]}\x0c',
        b'{"columns": ["a"], "data": [[1]\x0c]}',
    ],
)
def test_other_bodies_are_left_to_the_ordinary_reading(body: bytes) -> None:
    for chunk_bytes in (1, 1 << 20):
        assert lean(body, chunk_bytes) is None


def test_a_cut_inside_a_string_is_left_to_the_ordinary_reading() -> None:
    body = body_of(["a"], [["x],[y"], ["],["], ["z"]])
    assert lean(body, 1) in (None, ordinary(body))
    assert lean(body, 1 << 20) == ordinary(body)


def test_the_word_data_inside_a_name_is_not_the_rows() -> None:
    body = body_of(['"data": [', "b"], [[1, 2], [3, 4]])
    assert lean(body, 1) == ordinary(body)


@pytest.mark.parametrize(
    ("limits", "limit"), [(TableLimits(10, 5, 1000), "max_rows"), (TableLimits(1000, 5, 30), "max_cells")]
)
def test_too_many_rows_or_cells_is_a_413_before_the_rest_is_read(limits: TableLimits, limit: str) -> None:
    body = body_of(["a", "b"], [[1, 2]] * 20) + b"this is never parsed"
    with pytest.raises(TableTooLargeError) as raised:
        read_split_rows(body, limits, chunk_bytes=16)
    assert raised.value.extensions["limit"] == limit
    too_wide = body_of([f"c{j}" for j in range(6)], [list(range(6))])
    with pytest.raises(TableTooLargeError) as raised:
        read_split_rows(too_wide, limits)
    assert raised.value.extensions["limit"] == "max_columns"


def test_a_million_numeric_rows_are_read_as_numbers() -> None:
    rng = np.random.default_rng(0)
    values = np.round(rng.standard_normal((100_000, 3)), 6)
    body = body_of(["a", "b", "c"], values.tolist())
    read = read_split_rows(body, LIMITS, chunk_bytes=64 * 1024)
    assert read is not None
    table, _ = read
    np.testing.assert_array_equal(np.column_stack([c.values for c in table.columns]), values)


JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["a", "b", "],[", '"]', "\\", "x]]", "true", "data"]),
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.lists(JSON_VALUES, min_size=2, max_size=2), min_size=1, max_size=12),
    ragged=st.booleans(),
    indent=st.sampled_from([None, 1]),
    chunk_bytes=st.integers(min_value=1, max_value=40),
    group_cells=st.integers(min_value=1, max_value=12),
)
def test_any_rows_read_the_same_or_left_to_the_ordinary_reading(
    rows: list[list[Any]], ragged: bool, indent: int | None, chunk_bytes: int, group_cells: int
) -> None:
    if ragged:
        rows[len(rows) // 2] = rows[len(rows) // 2][:1]
    body = json.dumps({"columns": ["a", "b"], "data": rows}, indent=indent).encode()
    got = lean(body, chunk_bytes, group_cells=group_cells)
    assert got is None or got == ordinary(body)


def test_a_wide_tables_numbers_are_columns_of_one_matrix() -> None:
    values = np.round(np.random.default_rng(1).standard_normal((40, 3000)), 3)
    values[7, 5] = np.nan
    rows = [[None if v != v else v for v in row] for row in values.tolist()]
    wide = TableLimits(max_rows=100, max_columns=3000, max_cells=10_000_000)
    read = read_split_rows(body_of([f"c{j}" for j in range(3000)], rows), wide, chunk_bytes=4096)
    assert read is not None
    table, _ = read
    matrix = np.column_stack([c.values for c in table.columns])
    np.testing.assert_array_equal(matrix, values)
    assert [c.n_missing for c in table.columns[4:7]] == [0, 1, 0]
    assert all(c.values.flags.f_contiguous and not c.values.flags.writeable for c in table.columns)
