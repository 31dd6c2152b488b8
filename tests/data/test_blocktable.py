"""Tests of the block layout of stored dense tables: exact round trips, designs equal to those of a
Table, files of the earlier layout still read, and files that are not ours refused."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from service.data.arrowcols import column_to_arrow
from service.data.blocktable import BlockTable, block_arrow
from service.data.design import Design, DesignSpec, MissingPolicy, build_design
from service.data.parsing import parse_split_json
from service.data.sparseio import dataset_from_bytes, stored_dataset_from_bytes
from service.data.table import Column, Table
from service.data.tableio import (
    COLUMNAR_VERSION,
    FORMAT_KEY,
    FORMAT_VERSION,
    ROWS_KEY,
    read_stored_arrow,
    table_from_bytes,
    table_to_bytes,
    write_stored_arrow,
)
from service.errors import IntegrityError, InvalidDataError, ServiceError
from service.store import DatasetStore, new_id
from service.worker.design import load_design

COLUMNS = ["age", "sex", "city", "w", "fold", "y", "label", "z"]
TABLE = parse_split_json(
    COLUMNS,
    [
        [30.0, "F", "Oslo", 1.0, "a", 1.5, "no", 0.25],
        [None, "M", "Rome", 2.0, "b", 2.5, "yes", -1.0],
        [50.0, "F", None, 0.5, "a", 3.5, "yes", 7.0],
        [40.0, "M", "Oslo", 1.0, "b", 4.5, "no", 0.1],
        [41.0, "F", "Rome", 3.0, "a", 0.5, "no", 0.3],
    ],
)


def _same_table(a: Table, b: Table) -> None:
    assert (a.n_rows, a.names) == (b.n_rows, b.names)
    for x, y in zip(a.columns, b.columns, strict=True):
        assert (x.kind, x.n_missing, x.levels) == (y.kind, y.n_missing, y.levels)
        assert x.values.dtype == y.values.dtype and not y.values.flags.writeable
        if x.values.dtype == np.float64:
            np.testing.assert_array_equal(x.values, y.values)  # NaN equals NaN here
        else:
            assert x.values.tolist() == y.values.tolist()


def _same_design(a: Design, b: Design) -> None:
    assert a.X.dtype == b.X.dtype == np.float64 and b.X.flags.f_contiguous and b.X.flags.writeable
    assert a.X.tobytes(order="F") == b.X.tobytes(order="F")  # bit for bit, imputed means included
    assert a.y.tobytes() == b.y.tobytes() and a.y.dtype == b.y.dtype
    assert a.classes == b.classes
    for left, right in ((a.sample_weight, b.sample_weight), (a.fold_ids, b.fold_ids)):
        assert (left is None) == (right is None)
        if left is not None and right is not None:
            np.testing.assert_array_equal(left, right)
    assert a.encoder == b.encoder and a.constraints == b.constraints


def _columnar_v1_bytes(table: Table) -> bytes:
    """A table stored as datasets were before the block layout: one LZ4 column per table column."""
    kinds = {"numeric": pa.float64(), "categorical": pa.string()}
    schema = pa.schema(
        [pa.field(c.name, kinds[c.kind.value]) for c in table.columns],
        metadata={FORMAT_KEY: COLUMNAR_VERSION},
    )
    return write_stored_arrow(
        pa.Table.from_arrays([column_to_arrow(c) for c in table.columns], schema=schema)
    )


def test_block_layout_round_trip_is_exact() -> None:
    table = Table(
        (
            Column.numeric("x", [1.5, float("nan"), -0.0, 1e300]),
            Column.categorical("c", ["b", None, "a", "b"]),
            Column.numeric("ünïcode", [0.0, 1.0, 2.0, 3.0]),
            Column.categorical("all missing text", [None, None, None, None]),
            Column.numeric("all missing number", [float("nan")] * 4),
        ),
        4,
    )
    stored = table_to_bytes(table)
    assert read_stored_arrow(stored).schema.metadata[FORMAT_KEY] == FORMAT_VERSION
    _same_table(table, table_from_bytes(stored))
    block = stored_dataset_from_bytes(stored)
    assert isinstance(block, BlockTable)
    # The numeric columns are the rows of one matrix, in table order; -0.0 keeps its sign.
    assert block.numbers.shape == (3, 4) and block.slots.tolist() == [0, -1, 1, -1, 2]
    assert np.signbit(block.numbers[0, 2]) and block.n_missing.tolist() == [1, 1, 0, 4, 4]
    _same_table(table, block.to_table())


def test_block_layout_of_an_empty_and_a_text_only_table() -> None:
    for table in (Table((), 3), Table((Column.categorical("s", ["a", None, "b"]),), 3)):
        _same_table(table, table_from_bytes(table_to_bytes(table)))


DESIGN_SPECS = [
    {"target": "y", "features": ("sex", "z", "w")},
    {"target": "y", "features": ("age", "sex", "city"), "missing": MissingPolicy.MEAN},
    {
        "target": "y",
        "features": None,
        "missing": MissingPolicy.MEAN,
        "weights_column": "w",
        "fold_column": "fold",
    },
    {"target": "label", "features": ("z", "w", "sex"), "family": "binomial"},
    {"target": "y", "features": ("z", "w"), "penalty_factors": {"z": 0.5}, "bounds": {"w": (None, 0.0)}},
    {"target": "z", "features": ("w", "y")},
    {"target": "z", "features": ("y", "w"), "missing": MissingPolicy.MEAN},
]


@pytest.mark.parametrize("spec", DESIGN_SPECS)
def test_designs_of_the_block_layout_equal_those_of_the_table(spec: dict[str, Any]) -> None:
    design_spec = DesignSpec(**{"family": "gaussian", **spec})
    block = stored_dataset_from_bytes(table_to_bytes(TABLE))
    assert isinstance(block, BlockTable)
    _same_design(build_design(TABLE, design_spec), build_design(block, design_spec))


@pytest.mark.parametrize(
    "spec",
    [
        {"target": "y", "features": ("age", "z")},  # missing age under missing: error
        {"target": "y", "features": ("nope",)},  # no such column
        {"target": "city", "features": ("z",), "family": "binomial"},  # three classes
        {"target": "age", "features": ("z",)},  # missing target
    ],
)
def test_the_block_layout_refuses_what_the_table_refuses_with_the_same_problem(spec: dict[str, Any]) -> None:
    design_spec = DesignSpec(**{"family": "gaussian", **spec})
    block = stored_dataset_from_bytes(table_to_bytes(TABLE))
    with pytest.raises(ServiceError) as from_table:
        build_design(TABLE, design_spec)
    with pytest.raises(ServiceError) as from_block:
        build_design(block, design_spec)  # type: ignore[arg-type]
    assert from_table.value.to_problem() == from_block.value.to_problem()


def test_a_wide_block_design_is_one_gather_of_the_stored_matrix() -> None:
    rng = np.random.default_rng(0)
    values = rng.standard_normal((1000, 400)) * 10.0 ** rng.integers(-8, 8, 400)
    names = [f"x{j}" for j in range(400)]
    table = Table(tuple(Column.numeric(n, values[:, j]) for j, n in enumerate(names)), 1000)
    block = stored_dataset_from_bytes(table_to_bytes(table))
    assert isinstance(block, BlockTable)
    assert not block.numbers.flags.owndata  # a view of the file's bytes, not a copy
    spec = DesignSpec(target="x7", features=tuple(reversed(names[100:])), family="gaussian")
    design = build_design(block, spec)
    np.testing.assert_array_equal(design.X, values[:, 100:][:, ::-1])
    _same_design(build_design(table, spec), design)
    # Means for imputation over 1,000 rows (pairwise sums): the same bits as a column's own mean.
    imputing = DesignSpec(
        target="x7", features=tuple(names[8:]), family="gaussian", missing=MissingPolicy.MEAN
    )
    _same_design(build_design(table, imputing), build_design(block, imputing))


def test_columnar_files_of_the_earlier_layout_still_read_and_give_the_same_design() -> None:
    old = _columnar_v1_bytes(TABLE)
    assert old[:6] == b"ARROW1"
    _same_table(TABLE, table_from_bytes(old))
    stored = stored_dataset_from_bytes(old)
    assert isinstance(stored, Table)
    spec = DesignSpec(target="y", features=None, family="gaussian", missing=MissingPolicy.MEAN)
    _same_design(build_design(TABLE, spec), build_design(stored, spec))


def test_numeric_columns_not_back_to_back_are_gathered() -> None:
    # A writer other than ours may leave room between lists; the reader must not assume it did not.
    offsets = pa.array([0, 3, 5, 8], type=pa.int64())
    numbers = pa.LargeListArray.from_arrays(
        offsets, pa.array([1.0, 2.0, 3.0, 9.0, 9.0, 4.0, 5.0, 6.0]), mask=pa.array([False, True, False])
    )
    texts = pa.LargeListArray.from_arrays(
        pa.array([0, 0, 3, 3], type=pa.int64()),
        pa.array(["a", None, "b"], type=pa.large_string()),
        mask=pa.array([True, False, True]),
    )
    arrow = pa.Table.from_arrays(
        [pa.array(["x", "s", "z"]), numbers, texts, pa.array([0, 1, 0], type=pa.int64())],
        schema=block_arrow(TABLE, {}).schema.with_metadata({FORMAT_KEY: FORMAT_VERSION, ROWS_KEY: b"3"}),
    )
    table = table_from_bytes(write_stored_arrow(arrow, compression=None))
    assert table.column("z").values.tolist() == [4.0, 5.0, 6.0]
    assert table.column("x").values.tolist() == [1.0, 2.0, 3.0]
    assert table.column("s").values.tolist() == ["a", None, "b"] and table.column("s").n_missing == 1


def _rewritten(data: bytes, change: Any) -> bytes:
    return write_stored_arrow(change(read_stored_arrow(data)), compression=None)


def _with_metadata(metadata: dict[bytes, bytes]) -> Any:
    return lambda arrow: arrow.replace_schema_metadata(metadata)


def _with_column(name: str, array: pa.Array) -> Any:
    return lambda arrow: arrow.set_column(arrow.column_names.index(name), name, array)


@pytest.mark.parametrize(
    "change",
    [
        _with_metadata({FORMAT_KEY: FORMAT_VERSION}),  # no row count
        _with_metadata({FORMAT_KEY: FORMAT_VERSION, ROWS_KEY: b"4"}),  # rows do not match
        _with_metadata({FORMAT_KEY: b"3", ROWS_KEY: b"5"}),  # a future version
        _with_metadata({ROWS_KEY: b"5"}),  # not ours
        _with_column("missing", pa.array([0, 0, 1, 0, 0, 0, 0, 0], type=pa.int64())),  # wrong count
        _with_column("name", pa.array(["a"] * 8)),  # names repeat
        lambda arrow: arrow.drop_columns(["missing"]),
    ],
    ids=[
        "no-rows",
        "wrong-rows",
        "future",
        "no-format",
        "wrong-missing-count",
        "repeated-names",
        "no-counts",
    ],
)
def test_block_files_that_are_not_as_written_are_refused(change: Any) -> None:
    data = _rewritten(table_to_bytes(TABLE), change)
    for read in (table_from_bytes, dataset_from_bytes, stored_dataset_from_bytes):
        with pytest.raises(IntegrityError):
            read(data)


def _stored(tmp_path: Path, data: bytes) -> tuple[str, str]:
    dataset_id = new_id()
    DatasetStore(tmp_path).save(dataset_id, data)
    return dataset_id, hashlib.sha256(data).hexdigest()


def test_a_job_reads_the_block_layout_and_refuses_a_tampered_file(tmp_path: Path) -> None:
    dataset_id, sha256 = _stored(tmp_path, table_to_bytes(TABLE))
    spec = DesignSpec(target="y", features=("z", "w", "sex"), family="gaussian")
    _same_design(build_design(TABLE, spec), load_design(tmp_path, dataset_id, sha256, spec))
    path = DatasetStore(tmp_path).path(dataset_id)
    data = bytearray(path.read_bytes())
    numbers = read_stored_arrow(bytes(data)).column("numbers").combine_chunks().values.to_numpy()
    position = bytes(data).find(numbers[:3].tobytes())  # the first stored number, in the file
    assert position > 0
    data[position] ^= 0x01  # one bit of one number: the file still parses, only the checksum knows
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        load_design(tmp_path, dataset_id, sha256, spec)


def test_a_job_still_reads_a_dataset_stored_in_the_earlier_layout(tmp_path: Path) -> None:
    dataset_id, sha256 = _stored(tmp_path, _columnar_v1_bytes(TABLE))
    spec = DesignSpec(target="y", features=None, family="gaussian", missing=MissingPolicy.MEAN)
    _same_design(build_design(TABLE, spec), load_design(tmp_path, dataset_id, sha256, spec))


def test_block_design_refuses_a_table_whose_features_never_vary() -> None:
    table = Table((Column.numeric("a", [1.0, 1.0, 1.0]), Column.numeric("y", [1.0, 2.0, 3.0])), 3)
    block = stored_dataset_from_bytes(table_to_bytes(table))
    with pytest.raises(InvalidDataError, match="every feature is constant"):
        build_design(block, DesignSpec(target="y", features=None, family="gaussian"))  # type: ignore[arg-type]
