"""A JSON CSR body read a chunk of numbers at a time: the matrix and problems of the ordinary reading."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from fastapi.exceptions import RequestValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from service.api.prediction_csr import read_csr
from service.api.schemas import PredictionCreate
from service.api.uploads import parse_json_body
from service.data.csr import parse_csr
from service.data.sparse import SparseTable
from service.errors import ServiceError

Outcome = tuple[str, Any, Any]


def snapshot(table: SparseTable, alpha: float | None) -> Outcome:
    return "table", (table.names, table.matrix.toarray().tolist()), alpha


def ordinary(body: bytes) -> Outcome:
    """What the body gave before: pydantic, then parse_csr."""
    try:
        spec = parse_json_body(PredictionCreate, body)
        matrix = spec.sparse
        assert spec.columns is not None and matrix is not None
        table = parse_csr(spec.columns, matrix.shape, matrix.indptr, matrix.indices, matrix.data)
        return snapshot(table, spec.alpha)
    except ServiceError as error:
        return "problem", error.to_problem(), None
    except RequestValidationError as error:
        return "validation", error.errors(), None


def lean(body: bytes, chunk_bytes: int) -> Outcome | None:
    read = read_csr(body, chunk_bytes)
    if read is None:
        return None
    try:
        table = parse_csr(read.columns, read.shape, read.indptr, read.indices, read.data)  # type: ignore[arg-type]
    except ServiceError as error:
        return "problem", error.to_problem(), None
    return snapshot(table, read.alpha)


def csr_body(sparse: dict[str, Any], columns: list[str] | None = None, **extra: Any) -> bytes:
    return json.dumps({"columns": columns or ["a", "b", "c"], "sparse": sparse, **extra}).encode()


GOOD = {"shape": [3, 3], "indptr": [0, 2, 2, 4], "indices": [0, 2, 1, 0], "data": [1.5, -2, 3e10, 0.25]}


@pytest.mark.parametrize("chunk_bytes", [1, 3, 1 << 20])
@pytest.mark.parametrize(
    "body",
    [
        csr_body(GOOD),
        csr_body(GOOD, alpha=0.5),
        json.dumps({"alpha": 2, "sparse": GOOD, "columns": ["a", "b", "c"]}, indent=2).encode(),
        csr_body({**GOOD, "indptr": [0, 2, 1, 4]}),  # indptr goes down
        csr_body({**GOOD, "indices": [0, 0, 1, 0]}),  # a column twice in a row
        csr_body({**GOOD, "indices": [0, 2, 1, 3]}),  # an index out of range
        csr_body({**GOOD, "data": [1, 2, 3]}),  # fewer values than indices
        csr_body({**GOOD, "shape": [3, 4]}),  # the shape disagrees with the names
        csr_body(GOOD, columns=["a", "a", "b"]),
        csr_body({"shape": [2, 3], "indptr": [0, 0, 0], "indices": [], "data": []}),  # no value at all
        csr_body({**GOOD, "indptr": [0, 2, 2, 2**63 - 1]}),
    ],
)
def test_same_matrix_or_problem_as_the_ordinary_reading(body: bytes, chunk_bytes: int) -> None:
    assert lean(body, chunk_bytes) == ordinary(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"columns": ["a"], "data": [[1]]}',
        csr_body({"shape": [0, 3], "indptr": [0], "indices": [], "data": []}),  # no rows
        csr_body({**GOOD, "indptr": [0, 2, 2, 4.0]}),  # pydantic reads 4.0 as 4
        csr_body({**GOOD, "data": ["1.5", 2, 3, 4]}),
        csr_body({**GOOD, "data": [None, 2, 3, 4]}),
        csr_body({**GOOD, "data": [True, 2, 3, 4]}),
        csr_body({**GOOD, "indptr": [0, 2, 2, 2**64]}),
        csr_body({**GOOD, "indptr": [0, 2, 2, 2**63]}),
        csr_body({**GOOD, "indices": [0, [2], 1, 0]}),
        csr_body(GOOD, columns=["data", "b", "c"]),
        csr_body(GOOD, extra_key=1),
        csr_body({**GOOD, "extra": [1]}),
        csr_body(GOOD).replace(b'"data": [', b'"data": [1e400, '),
        csr_body(GOOD).replace(b"}}", b', "indptr": []}}'),  # a second indptr: the last one wins
        csr_body(GOOD).replace(b'"indices": [0', b'"indices": [,0'),  # not JSON
        csr_body(GOOD).replace(b"0.25]", b"0.25,]"),
        csr_body(GOOD).replace(b"-2, ", b"-2,, "),
        b'{"columns": ["a"], "data": [[1]], "sparse": ' + json.dumps(GOOD).encode() + b"}",
    ],
)
def test_other_bodies_are_left_to_the_ordinary_reading(body: bytes) -> None:
    for chunk_bytes in (1, 1 << 20):
        assert lean(body, chunk_bytes) is None


def test_a_large_matrix_is_read_as_arrays() -> None:
    n = 50_000
    rng = np.random.default_rng(0)
    data = np.round(rng.standard_normal(2 * n), 4)
    sparse = {
        "shape": [n, 3],
        "indptr": list(range(0, 2 * n + 1, 2)),
        "indices": [0, 2] * n,
        "data": data.tolist(),
    }
    read = read_csr(csr_body(sparse), chunk_bytes=4096)
    assert read is not None
    assert read.indptr.dtype == np.int64 and read.data.dtype == np.float64
    np.testing.assert_array_equal(read.data, data)
    assert read.shape == (n, 3) and read.indices.tolist() == [0, 2] * n


NUMBERS = st.one_of(
    st.integers(min_value=-3, max_value=6),
    st.integers(min_value=2**62, max_value=2**65),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from([None, True, "1", [1]]),
)


@settings(max_examples=300, deadline=None)
@given(
    indptr=st.lists(NUMBERS, max_size=5),
    indices=st.lists(NUMBERS, max_size=5),
    data=st.lists(NUMBERS, max_size=5),
    rows=st.integers(min_value=0, max_value=4),
    indent=st.sampled_from([None, 1]),
    chunk_bytes=st.integers(min_value=1, max_value=12),
)
def test_any_matrix_reads_the_same_or_is_left_to_the_ordinary_reading(
    indptr: list[Any], indices: list[Any], data: list[Any], rows: int, indent: int | None, chunk_bytes: int
) -> None:
    sparse = {"shape": [rows, 2], "indptr": indptr, "indices": indices, "data": data}
    body = json.dumps({"columns": ["a", "b"], "sparse": sparse}, indent=indent).encode()
    got = lean(body, chunk_bytes)
    assert got is None or got == ordinary(body)
