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
    dataset_from_bytes,
    dataset_to_bytes,
    sparse_to_bytes,
)
from service.data.table import Table
from service.data.tableio import read_stored_arrow, write_stored_arrow
from service.errors import IntegrityError


def _table(seed: int = 0, n: int = 50, p: int = 40) -> SparseTable:
    matrix = sp.random(n, p, density=0.1, format="lil", random_state=seed)
    matrix[:, 3] = 0.0  # an empty column survives the round trip
    return SparseTable((*(f"c{j}" for j in range(p - 1)), "ψ 🙂"), canonical_csc(matrix))


def test_sparse_round_trip_is_exact() -> None:
    table = _table()
    back = dataset_from_bytes(sparse_to_bytes(table))
    assert isinstance(back, SparseTable)
    assert back.names == table.names and back.n_rows == table.n_rows
    assert back.matrix.format == "csc" and back.matrix.indices.dtype == np.int32
    np.testing.assert_array_equal(back.matrix.indptr, table.matrix.indptr)
    np.testing.assert_array_equal(back.matrix.indices, table.matrix.indices)
    np.testing.assert_array_equal(back.matrix.data, table.matrix.data)


def test_sparse_to_bytes_is_deterministic() -> None:
    assert sparse_to_bytes(_table()) == sparse_to_bytes(_table())


def test_dataset_from_bytes_reads_dense_tables_too() -> None:
    table = parse_csv(b"x,s\n1,u\n0,\n")
    back = dataset_from_bytes(dataset_to_bytes(table))
    assert isinstance(back, Table) and back.names == ["x", "s"]


def test_dataset_facts_of_both_kinds() -> None:
    dense = dataset_facts(parse_csv(b"x,s,z\n1,u,0\n0,,0\n,v,0\n"))
    # Nonzeros: x once (0 and missing are not), s twice (its values), z never: 3 of 9 cells.
    assert dense.storage == "dense" and dense.density == pytest.approx(3 / 9)
    sparse = dataset_facts(_table())
    assert sparse.storage == "sparse" and sparse.density == pytest.approx(_table().nnz / (50 * 40))
    assert sparse.columns[0] == {"name": "c0", "kind": "numeric", "n_missing": 0, "levels": None}


def _rewritten(data: bytes, metadata: dict[bytes, bytes]) -> bytes:
    return write_stored_arrow(read_stored_arrow(data).replace_schema_metadata(metadata))


def _as_parquet(data: bytes) -> bytes:
    """The stored table in ``data`` as the Parquet file that datasets were stored as before."""
    sink = io.BytesIO()
    pq.write_table(read_stored_arrow(data), sink, compression="zstd")
    return sink.getvalue()


def test_stored_files_are_arrow_ipc_and_legacy_parquet_files_still_read() -> None:
    table = _table()
    stored = sparse_to_bytes(table)
    assert stored[:6] == b"ARROW1"
    back = dataset_from_bytes(_as_parquet(stored))
    assert isinstance(back, SparseTable) and back.names == table.names
    np.testing.assert_array_equal(back.matrix.toarray(), table.matrix.toarray())
    dense = parse_csv(b"x,s\n1.5,u\n,\n")
    dense_back = dataset_from_bytes(_as_parquet(dataset_to_bytes(dense)))
    assert isinstance(dense_back, Table) and dense_back.names == ["x", "s"]
    np.testing.assert_array_equal(dense_back.column("x").values, [1.5, np.nan])
    assert dense_back.column("x").n_missing == 1 and list(dense_back.column("s").values) == ["u", None]


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
def test_dataset_from_bytes_refuses_sparse_files_it_did_not_write(metadata: dict[bytes, bytes]) -> None:
    with pytest.raises(IntegrityError):
        dataset_from_bytes(_rewritten(sparse_to_bytes(_table()), metadata))
