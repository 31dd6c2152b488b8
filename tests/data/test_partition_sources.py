"""Partitioned datasets below the API: the source policy, and converting Parquet into partitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from service.data.parquet_source import allowed_source, canonical_url
from service.data.partition_writer import block_size_for, convert_parquet
from service.data.partitions import read_partition
from service.errors import InvalidDatasetError, SourceNotAllowedError


@pytest.mark.parametrize(
    ("source", "prefixes", "expected"),
    [
        ("/srv/data/t.parquet", "/srv/data", "file:///srv/data/t.parquet"),
        ("file:///srv/data/a/", "file:///srv/data/", "file:///srv/data/a/"),
        ("s3://bucket/tables/x", "gs://other/, s3://bucket/tables", "s3://bucket/tables/x"),
        ("s3://bucket/tables", "s3://bucket/tables/", "s3://bucket/tables"),
    ],
)
def test_allowed_source_inside_a_prefix(source: str, prefixes: str, expected: str) -> None:
    assert allowed_source(source, prefixes) == expected


@pytest.mark.parametrize(
    ("source", "prefixes"),
    [
        ("/srv/data/t.parquet", ""),
        ("/srv/data/t.parquet", " , "),
        ("/srv/database/t.parquet", "/srv/data"),  # a prefix matches whole segments
        ("/srv/data/../etc/t.parquet", "/srv/data"),
        ("file:///srv/data/%2E%2e/etc", "file:///srv/data"),
        ("file:///srv/data%2F..%2Fetc", "file:///srv/data"),
        ("s3://bucket/tables/../private/x", "s3://bucket/tables"),
        ("s3://bucket/tablesX/x", "s3://bucket/tables"),
        ("gs://bucket/tables/x", "s3://bucket/tables"),
    ],
)
def test_allowed_source_refuses_everything_else(source: str, prefixes: str) -> None:
    with pytest.raises(SourceNotAllowedError):
        allowed_source(source, prefixes)


def test_canonical_url_wants_an_absolute_path() -> None:
    assert canonical_url("/a b/c") == "file:///a%20b/c"
    with pytest.raises(InvalidDatasetError):
        canonical_url("relative/t.parquet")


def test_block_size_grows_with_a_wide_header() -> None:
    narrow = block_size_for(b"a,b,y\n1,2,3\n")
    wide = block_size_for(",".join(f"x{j}" for j in range(200_000)).encode() + b"\n1")
    assert narrow == 256 << 10
    assert wide >= 16 * len(",".join(f"x{j}" for j in range(200_000)))


def test_convert_parquet_splits_rows_keeps_order_and_counts_nan_and_nulls(tmp_path: Path) -> None:
    n = 2500
    x = np.arange(n, dtype=np.float64)
    x[7] = np.nan
    counts = pa.array([None if i % 1000 == 0 else i for i in range(n)], type=pa.int32())
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"x": x, "k": counts}), source, row_group_size=300)
    converted = convert_parquet(source, tmp_path / "parts", rows_per_partition=1000)
    assert [p.n_rows for p in converted.table.partitions] == [1000, 1000, 500]
    assert [c["n_missing"] for c in converted.summaries] == [1, 3]
    last = read_partition(converted.table.partitions[2], ["x"])
    np.testing.assert_array_equal(last[:, 0], x[2000:])
    assert pq.read_schema(converted.table.partitions[0].url).field("k").type == pa.int32()
