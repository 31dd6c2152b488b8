"""Partitioned datasets from the API: a streamed upload converted into partitions, and registration by URL.

Either ends the same way: the manifest (``DatasetStore.save_manifest``), then the catalog row. Until
that row exists nothing is a dataset, and an error at any step removes what the request wrote. The
files of a registered source are only read (their footers), never written or deleted.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import orjson
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from service.api.deps import Services
from service.api.partitioned_body import SpooledBody, spool_body
from service.api.schemas import DatasetRegister
from service.api.uploads import PARQUET, parse_json_body
from service.data.parquet_source import SourceTable, allowed_source, read_source
from service.data.partition_writer import convert_csv, convert_parquet
from service.store.records import DatasetRecord, new_id, utc_now
from service.store.space import ensure_free_space, storage_errors

logger = logging.getLogger("service.api")
PARTITIONED = "partitioned"
# A registration body is a small JSON object; a table body is told apart without parsing it whole.
MAX_REGISTRATION_BYTES = 64 << 10


def is_registration(body: bytes) -> bool:
    """Whether a JSON body is ``{"source": ...}`` (registration) rather than a table."""
    if len(body) > MAX_REGISTRATION_BYTES or body.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] != b"{":
        return False
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(document, dict) and "source" in document


async def register_source(
    body: bytes, services: Services, tenant: str, name: str | None = None
) -> DatasetRecord:
    """Register the Parquet dataset a ``DatasetRegister`` body names, where the operator allows it.

    The body's ``name`` wins over ``?name=``, as a multipart upload's `name` field does.
    """
    document = parse_json_body(DatasetRegister, body)
    url = allowed_source(document.source, services.settings.dataset_sources)
    described = await run_in_threadpool(read_source, url)
    dataset_id = new_id()
    committed: list[DatasetRecord] = []
    try:
        await run_in_threadpool(
            _commit, services, dataset_id, tenant, document.name or name, described, url, committed
        )
    except BaseException:
        if not committed:
            services.datasets.delete(dataset_id)  # the manifest only: a source's files are never touched
        raise
    return committed[0]


async def spool_upload(request: Request, services: Services) -> SpooledBody:
    """The body on disk in the data dir (the caller removes it), within its own size limit."""
    settings = services.settings
    return await spool_body(
        request, services.datasets.directory, settings.max_partitioned_upload_bytes, settings.min_free_bytes
    )


async def store_spooled(
    spooled: SpooledBody, services: Services, tenant: str, name: str | None, delimiter: str | None
) -> DatasetRecord:
    """Convert the spooled file into partitions off the event loop; then its manifest and catalog row."""
    dataset_id = new_id()
    committed: list[DatasetRecord] = []
    try:
        # The conversion is not abandoned when the client goes away (the thread finishes first),
        # so what it wrote is removed below and never left behind by a cancelled request.
        await run_in_threadpool(
            _convert_and_commit,
            services,
            dataset_id,
            tenant,
            name or spooled.name,
            spooled,
            delimiter,
            committed,
        )
    except BaseException:
        if not committed:
            services.datasets.delete(dataset_id)
        raise
    record = committed[0]
    logger.info(
        "dataset %s stored partitioned: %d rows x %d columns in %d partitions",
        dataset_id,
        record.n_rows,
        record.n_columns,
        record.partitions or 0,
        extra={"event": "dataset_stored", "dataset_id": dataset_id, "rows": record.n_rows},
    )
    return record


def _convert_and_commit(
    services: Services,
    dataset_id: str,
    tenant: str,
    name: str | None,
    spooled: SpooledBody,
    delimiter: str | None,
    committed: list[DatasetRecord],
) -> None:
    store = services.datasets
    directory = store.partitions_directory(dataset_id)
    rows = services.settings.partition_rows
    # Parquet partitions of a CSV are smaller than the CSV; of a Parquet file, about its size.
    ensure_free_space(store.directory, services.settings.min_free_bytes, spooled.size)
    with storage_errors():
        if spooled.kind == PARQUET:
            converted = convert_parquet(spooled.path, directory, rows)
        else:
            converted = convert_csv(spooled.path, directory, rows, delimiter)
    _commit(services, dataset_id, tenant, name, converted, None, committed)


def _commit(
    services: Services,
    dataset_id: str,
    tenant: str,
    name: str | None,
    table: SourceTable,
    source: str | None,
    committed: list[DatasetRecord],
) -> None:
    """The manifest, then the catalog row: the dataset exists once both are written (``committed``)."""
    digest = services.datasets.save_manifest(dataset_id, table.table.to_json())
    record = DatasetRecord(
        id=dataset_id,
        name=name,
        n_rows=table.table.n_rows,
        n_columns=len(table.table.columns),
        columns=table.summaries,
        size_bytes=table.table.size_bytes,
        sha256=digest.sha256,
        created_at=utc_now(),
        tenant=tenant,
        storage=PARTITIONED,
        density=None,
        partitions=len(table.table.partitions),
        source=source,
    )
    services.catalog.insert_dataset(record)
    committed.append(record)


def remove_spooled(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
