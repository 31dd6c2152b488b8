"""Tests of the stored form of sparse tables and of reading either kind of stored dataset."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from service.data.parsing import parse_csv
from service.data.sparse import SparseTable, canonical_csc
from service.data.sparseio import (
    SPARSE_KEY,
    dataset_facts,
    dataset_from_parquet,
    dataset_to_parquet,
    sparse_to_parquet,
)
from service.data.table import Table
from service.errors import IntegrityError


def _table(seed: int = 0, n: int = 50, p: int = 40) -> SparseTable:
    matrix = sp.random(n, p, density=0.1, format="lil", random_state=seed)
    matrix[:, 3] = 0.0  # an empty column survives the round trip
    return SparseTable((*(f"c{j}" for j in range(p - 1)), "ψ 🙂"), canonical_csc(matrix))


def test_sparse_round_trip_is_exact() -> None:
    table = _table()
    back = dataset_from_parquet(sparse_to_parquet(table))
    assert isinstance(back, SparseTable)
    assert back.names == table.names and back.n_rows == table.n_rows
    assert back.matrix.format == "csc" and back.matrix.indices.dtype == np.int32
    np.testing.assert_array_equal(back.matrix.indptr, table.matrix.indptr)
    np.testing.assert_array_equal(back.matrix.indices, table.matrix.indices)
    np.testing.assert_array_equal(back.matrix.data, table.matrix.data)


def test_sparse_to_parquet_is_deterministic() -> None:
    assert sparse_to_parquet(_table()) == sparse_to_parquet(_table())


def test_dataset_from_parquet_reads_dense_tables_too() -> None:
    table = parse_csv(b"x,s\n1,u\n0,\n")
    back = dataset_from_parquet(dataset_to_parquet(table))
    assert isinstance(back, Table) and back.names == ["x", "s"]


def test_dataset_facts_of_both_kinds() -> None:
    dense = dataset_facts(parse_csv(b"x,s,z\n1,u,0\n0,,0\n,v,0\n"))
    # Nonzeros: x once (0 and missing are not), s twice (its values), z never: 3 of 9 cells.
    assert dense.storage == "dense" and dense.density == pytest.approx(3 / 9)
    sparse = dataset_facts(_table())
    assert sparse.storage == "sparse" and sparse.density == pytest.approx(_table().nnz / (50 * 40))
    assert sparse.columns[0] == {"name": "c0", "kind": "numeric", "n_missing": 0, "levels": None}


def _rewritten(data: bytes, metadata: dict[bytes, bytes]) -> bytes:
    arrow = pq.read_table(pa.BufferReader(data))
    sink = io.BytesIO()
    pq.write_table(arrow.replace_schema_metadata(metadata), sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    "metadata",
    [
        {SPARSE_KEY: b"2", b"sparsefit.n_rows": b"50"},
        {SPARSE_KEY: b"1"},
        {SPARSE_KEY: b"1", b"sparsefit.n_rows": b"3"},  # rows beyond the shape
        {},
    ],
    ids=["future version", "no row count", "wrong row count", "no format key"],
)
def test_dataset_from_parquet_refuses_sparse_files_it_did_not_write(metadata: dict[bytes, bytes]) -> None:
    with pytest.raises(IntegrityError):
        dataset_from_parquet(_rewritten(sparse_to_parquet(_table()), metadata))
