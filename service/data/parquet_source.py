"""Registering a Parquet dataset by URL: the operator's allowed prefixes, and reading footers only."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from service.data.magnitudes import extreme_maxima
from service.data.parsing import check_names
from service.data.partitions import Partition, PartitionedTable, numeric_columns
from service.data.schema import EXTREME_KEY
from service.data.table import quote
from service.errors import InvalidDatasetError, SourceNotAllowedError

SETTING = "SPARSEFIT_DATASET_SOURCES"
PARQUET_SUFFIX = ".parquet"


@dataclass(frozen=True)
class SourceTable:
    """What registration records of a source: its manifest and its column summaries."""

    table: PartitionedTable
    summaries: list[dict[str, Any]]


def canonical_url(source: str) -> str:
    """``source`` as a URL: an absolute local path becomes a ``file://`` URL, a URL stays as it is."""
    if "://" in source:
        return source
    if not source.startswith("/"):
        raise InvalidDatasetError(
            "source must be an absolute path or a URL (file://, s3://, gs://)", field="source"
        )
    return Path(source).as_uri()


def allowed_source(source: str, prefixes: str) -> str:
    """The canonical URL of ``source`` when it lies inside one of the comma-separated ``prefixes``.

    SourceNotAllowedError (403) otherwise, and always for a ``..`` segment, percent-encoded or
    not: the file systems decode ``%2e%2e`` and would walk up out of the prefix. A local file that
    a symbolic link places outside its prefix is refused too.
    """
    allowed = [canonical_url(p.strip()) for p in prefixes.split(",") if p.strip()]
    if not allowed:
        raise SourceNotAllowedError(f"Registering datasets by source is not enabled ({SETTING} is empty).")
    url = canonical_url(source)
    if any(".." in text.replace("\\", "/").split("/") for text in (url, unquote(url))):
        raise SourceNotAllowedError("source may not contain '..' segments.")
    for prefix in allowed:
        stem = prefix.rstrip("/")
        if (url == stem or url.startswith(stem + "/")) and _stays_inside(url, stem):
            return url
    raise SourceNotAllowedError(f"source lies outside every prefix that {SETTING} allows.")


def _stays_inside(url: str, prefix: str) -> bool:
    # Only local paths can be resolved here; an object store has no links to follow.
    if urlsplit(url).scheme != "file":
        return True
    real, root = (os.path.realpath(unquote(urlsplit(u).path)) for u in (url, prefix))
    return real == root or real.startswith(root.rstrip("/") + "/")


def read_source(url: str) -> SourceTable:
    """The manifest and column summaries of the Parquet file or directory at ``url``, from footers only.

    InvalidDatasetError (422, ``field: source``) for a source that cannot be read, holds no Parquet
    file, no rows, a non-numeric column, or files whose columns differ.
    """
    try:
        filesystem, path = pafs.FileSystem.from_uri(url)
        files = _parquet_files(filesystem, path)
        footers = [(f, pq.ParquetFile(f, filesystem=filesystem).metadata) for f in files]
        sizes = [info.size or 0 for info in filesystem.get_file_info(files)]
    except (OSError, pa.ArrowException, ValueError):
        # Arrow's message names server paths or credentials' errors: not for the client.
        raise InvalidDatasetError("source cannot be read as Parquet", field="source") from None
    return _described(filesystem, footers, sizes, url)


def _parquet_files(filesystem: pafs.FileSystem, path: str) -> list[str]:
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [path]
    if info.type != pafs.FileType.Directory:
        raise InvalidDatasetError("source names no file or directory", field="source")
    found = filesystem.get_file_info(pafs.FileSelector(path, recursive=False))
    names = sorted(
        f.path for f in found if f.type == pafs.FileType.File and f.base_name.endswith(PARQUET_SUFFIX)
    )
    if not names:
        raise InvalidDatasetError("source holds no *.parquet file", field="source")
    return names


def _described(
    filesystem: pafs.FileSystem,
    footers: Sequence[tuple[str, pq.FileMetaData]],
    sizes: Sequence[int],
    url: str,
) -> SourceTable:
    schema = footers[0][1].schema.to_arrow_schema()
    check_names(schema.names)
    columns = numeric_columns(schema)
    n_missing = np.zeros(len(columns), dtype=np.int64)
    largest = np.zeros(len(columns), dtype=np.float64)
    partitions = []
    for (path, metadata), size in zip(footers, sizes, strict=True):
        if metadata.schema.to_arrow_schema().names != list(columns):
            raise InvalidDatasetError(
                f"file {quote(path.rsplit('/', 1)[-1])} has other columns than the first file",
                field="source",
            )
        _tally_statistics(metadata, n_missing, largest)
        partitions.append(Partition(_file_url(filesystem, path, url), metadata.num_rows, size))
    table = PartitionedTable(tuple(partitions), columns)
    if table.n_rows < 1:
        raise InvalidDatasetError("the dataset has no rows", field="source")
    return SourceTable(table, summaries(columns, n_missing, largest))


def _tally_statistics(metadata: pq.FileMetaData, n_missing: np.ndarray, largest: np.ndarray) -> None:
    """Add a file's null counts and largest magnitudes, from its row groups' statistics where present."""
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for j in range(group.num_columns):
            stats = group.column(j).statistics
            if stats is None:
                continue
            if stats.has_null_count:
                n_missing[j] += stats.null_count
            if stats.has_min_max:
                bound = max(abs(float(stats.min)), abs(float(stats.max)))
                largest[j] = max(largest[j], bound)


def _file_url(filesystem: pafs.FileSystem, path: str, url: str) -> str:
    """An absolute URL of one file, read the same way by every worker."""
    if isinstance(filesystem, pafs.LocalFileSystem):
        return Path(path).as_uri()
    return f"{urlsplit(url).scheme}://{path}"


def summaries(columns: Sequence[str], n_missing: np.ndarray, largest: np.ndarray) -> list[dict[str, Any]]:
    """The catalog's column summaries of numeric columns, with the magnitudes the engine would refuse."""
    extreme = extreme_maxima(largest)
    out: list[dict[str, Any]] = []
    for j, name in enumerate(columns):
        entry: dict[str, Any] = {"name": name, "kind": "numeric", "n_missing": int(n_missing[j])}
        if extreme[j]:
            entry[EXTREME_KEY] = float(largest[j])
        out.append(entry)
    return out
