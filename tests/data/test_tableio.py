"""Tests of the stored form of a table (Arrow IPC, Parquet before) and of the API column summaries."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from service.data.parsing import parse_csv
from service.data.table import Column, Table
from service.data.tableio import column_summaries, table_from_bytes, table_to_bytes, write_stored_arrow
from service.errors import IntegrityError


def _assert_same(a: Table, b: Table) -> None:
    assert a.n_rows == b.n_rows
    assert a.names == b.names
    for x, y in zip(a.columns, b.columns, strict=True):
        assert (x.kind, x.n_missing, x.levels) == (y.kind, y.n_missing, y.levels)
        assert x.values.dtype == y.values.dtype
        if x.values.dtype == np.float64:
            np.testing.assert_array_equal(x.values, y.values)  # NaN equals NaN here
        else:
            assert x.values.tolist() == y.values.tolist()


def test_tableio_round_trip_is_exact() -> None:
    table = Table(
        (
            Column.numeric("x", [1.5, float("nan"), -0.0, 1e300]),
            Column.categorical("c", ["b", None, "a", "b"]),
            Column.categorical("ünïcode name", ["é", "日本", None, ""]),
            Column.categorical("all missing text", [None, None, None, None]),
            Column.numeric("all missing number", [float("nan")] * 4),
        ),
        4,
    )
    back = table_from_bytes(table_to_bytes(table))
    _assert_same(table, back)
    assert back.column("c").levels == ("a", "b")
    assert back.column("ünïcode name").levels == ("", "é", "日本")  # code point order


def test_tableio_round_trip_of_a_parsed_csv() -> None:
    table = parse_csv(b"x,s,b\n1,u,true\n,v,\n3,,false\n")
    _assert_same(table, table_from_bytes(table_to_bytes(table)))


def test_table_to_bytes_is_deterministic() -> None:
    table = parse_csv(b"x,s\n1,u\n2,v\n")
    assert table_to_bytes(table) == table_to_bytes(table)


def _foreign_parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"x": [1.0]}), sink)
    return sink.getvalue()


def test_stored_numeric_columns_are_read_only_views_with_their_missing_count() -> None:
    table = parse_csv(b"x,y\n1,2\n,3\n4,\n")
    back = table_from_bytes(table_to_bytes(table))
    for name, n_missing in (("x", 1), ("y", 1)):
        column = back.column(name)
        assert column.n_missing == n_missing and not column.values.flags.writeable
    with pytest.raises(ValueError):
        back.column("x").values[0] = 5.0


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"not parquet at all", id="garbage"),
        pytest.param(_foreign_parquet(), id="no-sparsefit-metadata"),
        pytest.param(write_stored_arrow(pa.table({"x": [1.0]})), id="ipc-without-sparsefit-metadata"),
        pytest.param(b"ARROW1 and then nothing readable", id="truncated-ipc"),
    ],
)
def test_table_from_bytes_refuses_what_it_did_not_write(data: bytes) -> None:
    with pytest.raises(IntegrityError):
        table_from_bytes(data)


def test_column_summaries_match_the_api_shape() -> None:
    table = parse_csv(b"age,sex,y\n30,F,1.5\n,M,2\n41,F,\n")
    assert column_summaries(table) == [
        {"name": "age", "kind": "numeric", "n_missing": 1},
        {"name": "sex", "kind": "categorical", "n_missing": 0, "levels": ["F", "M"]},
        {"name": "y", "kind": "numeric", "n_missing": 1},
    ]
