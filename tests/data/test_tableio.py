"""Tests of the stored Parquet form of a table and of the API column summaries."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from service.data.parsing import parse_csv
from service.data.table import Column, Table
from service.data.tableio import column_summaries, table_from_parquet, table_to_parquet
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
    back = table_from_parquet(table_to_parquet(table))
    _assert_same(table, back)
    assert back.column("c").levels == ("a", "b")
    assert back.column("ünïcode name").levels == ("", "é", "日本")  # code point order


def test_tableio_round_trip_of_a_parsed_csv() -> None:
    table = parse_csv(b"x,s,b\n1,u,true\n,v,\n3,,false\n")
    _assert_same(table, table_from_parquet(table_to_parquet(table)))


def test_table_to_parquet_is_deterministic() -> None:
    table = parse_csv(b"x,s\n1,u\n2,v\n")
    assert table_to_parquet(table) == table_to_parquet(table)


def _foreign_parquet() -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table({"x": [1.0]}), sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"not parquet at all", id="garbage"),
        pytest.param(_foreign_parquet(), id="no-sparsefit-metadata"),
    ],
)
def test_table_from_parquet_refuses_what_it_did_not_write(data: bytes) -> None:
    with pytest.raises(IntegrityError):
        table_from_parquet(data)


def test_column_summaries_match_the_api_shape() -> None:
    table = parse_csv(b"age,sex,y\n30,F,1.5\n,M,2\n41,F,\n")
    assert column_summaries(table) == [
        {"name": "age", "kind": "numeric", "n_missing": 1},
        {"name": "sex", "kind": "categorical", "n_missing": 0, "levels": ["F", "M"]},
        {"name": "y", "kind": "numeric", "n_missing": 1},
    ]
