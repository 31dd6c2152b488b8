"""Tests of the CSV, Parquet and JSON parsers: exact results on good input, named errors on bad."""

import io
import json
import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_diabetes

from service.data.parsing import MAX_NAME_CHARS, parse_csv, parse_parquet, parse_split_json
from service.data.table import ColumnKind, Table
from service.errors import InvalidDatasetError


def _summary(table: Table) -> list[tuple[str, ColumnKind, int]]:
    return [(c.name, c.kind, c.n_missing) for c in table.columns]


def _parquet(arrow: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(arrow, sink)
    return sink.getvalue()


# ---------------------------------------------------------------- CSV


def test_parse_csv_kinds_values_and_missing() -> None:
    body = (
        b"i,f,s,b,d,empty,na\n"
        b"1,1.5,x,true,2020-01-01,,NA\n"
        b"2,,NA,False,2020-01-02,,null\n"
        b"3,-2e3,y,true,,,NaN\n"
    )
    table = parse_csv(body)
    assert table.n_rows == 3
    assert _summary(table) == [
        ("i", ColumnKind.NUMERIC, 0),
        ("f", ColumnKind.NUMERIC, 1),
        ("s", ColumnKind.CATEGORICAL, 1),
        ("b", ColumnKind.CATEGORICAL, 0),
        ("d", ColumnKind.CATEGORICAL, 1),
        ("empty", ColumnKind.NUMERIC, 3),
        ("na", ColumnKind.NUMERIC, 3),
    ]
    np.testing.assert_array_equal(table.column("i").values, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(table.column("f").values, [1.5, np.nan, -2000.0])
    assert table.column("s").values.tolist() == ["x", None, "y"]
    assert table.column("b").levels == ("false", "true")
    assert table.column("d").levels == ("2020-01-01", "2020-01-02")


def test_parse_csv_timestamps_stay_the_text_given() -> None:
    table = parse_csv(b"t,x\n2020-01-01T10:00:00,1\n2020-01-02 11:30:00,2\n")
    assert table.column("t").kind is ColumnKind.CATEGORICAL
    assert table.column("t").values.tolist() == ["2020-01-01T10:00:00", "2020-01-02 11:30:00"]


def test_parse_csv_bom_is_stripped() -> None:
    table = parse_csv(b"\xef\xbb\xbfa,b\n1,2\n")
    assert table.names == ["a", "b"]


def test_parse_csv_quoted_comma_and_newline_are_values() -> None:
    table = parse_csv(b'name,x\n"Smith, J",1\n"two\nlines",2\n')
    assert table.column("name").values.tolist() == ["Smith, J", "two\nlines"]
    assert table.n_rows == 2


@pytest.mark.parametrize(
    ("body", "members"),
    [
        pytest.param(b"a,b\n1,2\n3\n4,5\n", {"row": 2}, id="too-few-fields"),
        pytest.param(b"a,b\n1,2\n3,4\n5,6,7\n", {"row": 3}, id="too-many-fields"),
        pytest.param(b'a,b\n"x\ny",1\n3\n', {"row": 2}, id="ragged-after-quoted-newline"),
        pytest.param(b"a,b\n", {}, id="header-only"),
        pytest.param(b"", {}, id="empty-body"),
        pytest.param(b"\n \n", {}, id="blank-body"),
        pytest.param(b"a,b,a\n1,2,3\n", {"column": "a"}, id="duplicate-name"),
        pytest.param(b"a,,c\n1,2,3\n", {"position": 2}, id="empty-name"),
        pytest.param(b"a, \n1,2\n", {"position": 2}, id="blank-name"),
        pytest.param(b"a,b\n1,x\n2,\xff\xfe\n", {"row": 2}, id="non-utf8-row"),
        pytest.param(b"a,\xe9\n1,2\n", {}, id="non-utf8-header"),
        pytest.param(b"a,x\n1,2\n2,inf\n", {"column": "x", "row": 2}, id="inf"),
        pytest.param(b"a,x\n1,-inf\n2,3\n", {"column": "x", "row": 1}, id="minus-inf"),
    ],
)
def test_parse_csv_rejects_bad_input(body: bytes, members: dict[str, Any]) -> None:
    with pytest.raises(InvalidDatasetError) as info:
        parse_csv(body)
    assert info.value.extensions == members


def test_parse_csv_error_does_not_echo_the_row() -> None:
    secret = "s3cr3t" * 100
    with pytest.raises(InvalidDatasetError) as info:
        parse_csv(f"a,b\n1,2\n{secret},2,3\n".encode())
    assert "s3cr3t" not in info.value.detail
    assert info.value.extensions == {"row": 2}


def test_parse_csv_ragged_row_found_in_a_large_file() -> None:
    # Large enough for Arrow to split the work into several blocks and threads.
    body = b"a,b\n" + b"1,2\n" * 300_000 + b"3\n"
    with pytest.raises(InvalidDatasetError) as info:
        parse_csv(body)
    assert info.value.extensions == {"row": 300_001}


def test_parse_csv_header_longer_than_an_arrow_block() -> None:
    # Stands in for a wide table (tens of thousands of columns): Arrow's first 1 MiB block must
    # hold the whole header, so the parser retries with one block. Names stay within MAX_NAME_CHARS.
    names = [f"{i:04d}".ljust(MAX_NAME_CHARS, "n") for i in range(1200)]
    table = parse_csv((",".join(names) + "\n" + ",".join(["2"] * len(names)) + "\n").encode())
    assert table.names == names
    np.testing.assert_array_equal(table.column(names[-1]).values, [2.0])


def test_parse_csv_diabetes_matches_sklearn() -> None:
    diabetes = load_diabetes(as_frame=False)
    out = io.StringIO()
    out.write(",".join([*diabetes.feature_names, "target"]) + "\n")
    np.savetxt(out, np.column_stack([diabetes.data, diabetes.target]), delimiter=",", fmt="%.17g")
    table = parse_csv(out.getvalue().encode())
    assert table.n_rows == 442
    assert table.n_columns == 11
    assert all(c.kind is ColumnKind.NUMERIC and c.n_missing == 0 for c in table.columns)
    X = np.column_stack([table.column(name).values for name in diabetes.feature_names])
    np.testing.assert_allclose(X, diabetes.data, rtol=0, atol=1e-12)
    np.testing.assert_allclose(table.column("target").values, diabetes.target, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- Parquet


def test_parse_parquet_maps_types_to_kinds() -> None:
    arrow = pa.table(
        {
            "i8": pa.array([1, None, 3], pa.int8()),
            "f32": pa.array([0.5, 1.5, None], pa.float32()),
            "dec": pa.array([1, 2, 3], pa.decimal128(5, 2)),
            "s": pa.array(["b", "a", None]),
            "cat": pa.array(["u", "v", "u"]).dictionary_encode(),
            "flag": pa.array([True, False, None]),
            "ts": pa.array([0, 1, 2], pa.timestamp("s")),
            "none": pa.nulls(3),
            "f64nan": pa.array([1.0, float("nan"), 2.0]),
        }
    )
    table = parse_parquet(_parquet(arrow))
    assert table.n_rows == 3
    assert _summary(table) == [
        ("i8", ColumnKind.NUMERIC, 1),
        ("f32", ColumnKind.NUMERIC, 1),
        ("dec", ColumnKind.NUMERIC, 0),
        ("s", ColumnKind.CATEGORICAL, 1),
        ("cat", ColumnKind.CATEGORICAL, 0),
        ("flag", ColumnKind.CATEGORICAL, 1),
        ("ts", ColumnKind.CATEGORICAL, 0),
        ("none", ColumnKind.NUMERIC, 3),
        ("f64nan", ColumnKind.NUMERIC, 1),
    ]
    np.testing.assert_array_equal(table.column("i8").values, [1.0, np.nan, 3.0])
    assert table.column("cat").levels == ("u", "v")
    assert table.column("flag").values.tolist() == ["true", "false", None]


def test_parse_parquet_drops_a_stored_pandas_index() -> None:
    metadata = {b"pandas": json.dumps({"index_columns": ["__index_level_0__"], "columns": []}).encode()}
    arrow = pa.table({"x": [1.0, 2.0], "__index_level_0__": [10, 20]}).replace_schema_metadata(metadata)
    table = parse_parquet(_parquet(arrow))
    assert table.names == ["x"]


@pytest.mark.parametrize(
    ("body", "members"),
    [
        pytest.param(b"a,b\n1,2\n", {}, id="csv-not-parquet"),
        pytest.param(b"", {}, id="empty"),
        pytest.param(b"PAR1garbagePAR1", {}, id="corrupt"),
        pytest.param(_parquet(pa.table({"x": [1.0], "l": [[1, 2]]})), {"column": "l"}, id="list"),
        pytest.param(_parquet(pa.table({"st": [{"a": 1}]})), {"column": "st"}, id="struct"),
        pytest.param(_parquet(pa.table({"x": [1.0, math.inf]})), {"column": "x", "row": 2}, id="inf"),
        pytest.param(_parquet(pa.table({"x": pa.array([], pa.float64())})), {}, id="no-rows"),
        pytest.param(_parquet(pa.table({"b": [b"\xff"]})), {"column": "b"}, id="binary-not-text"),
    ],
)
def test_parse_parquet_rejects_bad_input(body: bytes, members: dict[str, Any]) -> None:
    with pytest.raises(InvalidDatasetError) as info:
        parse_parquet(body)
    assert info.value.extensions == members


# ---------------------------------------------------------------- JSON split


def test_parse_split_json_kinds_and_values() -> None:
    table = parse_split_json(
        ["n", "s", "b", "nothing"],
        [[1, "x", True, None], [2.5, None, None, None], [None, "a", False, None]],
    )
    assert _summary(table) == [
        ("n", ColumnKind.NUMERIC, 1),
        ("s", ColumnKind.CATEGORICAL, 1),
        ("b", ColumnKind.CATEGORICAL, 1),
        ("nothing", ColumnKind.NUMERIC, 3),
    ]
    np.testing.assert_array_equal(table.column("n").values, [1.0, 2.5, np.nan])
    assert table.column("s").levels == ("a", "x")
    assert table.column("b").values.tolist() == ["true", None, "false"]


@pytest.mark.parametrize(
    ("columns", "data", "members"),
    [
        pytest.param(["a", "b"], [[1, 2], [3]], {"row": 2}, id="too-few-values"),
        pytest.param(["a", "b"], [[1, 2], [3, 4], [5, 6, 7]], {"row": 3}, id="too-many-values"),
        pytest.param(["a"], [[1], 2], {"row": 2}, id="row-not-a-list"),
        pytest.param(["a", "b"], [[1, "x"], [None, 3]], {"column": "b", "row": 2}, id="string-then-number"),
        pytest.param(["a"], [[1], [True]], {"column": "a", "row": 2}, id="number-then-bool"),
        pytest.param(["a"], [["x"], [{"k": 1}]], {"column": "a", "row": 2}, id="object-value"),
        pytest.param(["a"], [[1.0], [math.nan]], {"column": "a", "row": 2}, id="nan"),
        pytest.param(["a"], [[math.inf]], {"column": "a", "row": 1}, id="inf"),
        pytest.param(["a"], [[10**400]], {"column": "a"}, id="huge-int"),
        pytest.param(["a"], [], {}, id="no-rows"),
        pytest.param([], [[]], {}, id="no-columns"),
        pytest.param(["a", "a"], [[1, 2]], {"column": "a"}, id="duplicate-name"),
        pytest.param(["a", ""], [[1, 2]], {"position": 2}, id="empty-name"),
    ],
)
def test_parse_split_json_rejects_bad_input(
    columns: list[str], data: list[Any], members: dict[str, Any]
) -> None:
    with pytest.raises(InvalidDatasetError) as info:
        parse_split_json(columns, data)
    assert info.value.extensions == members
