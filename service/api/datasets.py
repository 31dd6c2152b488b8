"""Routes for /v1/datasets: upload, list, read, delete."""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from service.api.deps import Services, ServicesDep, TenantDep
from service.api.idempotency import IdempotencyKey, idempotent
from service.api.memory import give_back_memory
from service.api.partitioned_uploads import (
    is_registration,
    register_source,
    remove_spooled,
    spool_upload,
    store_spooled,
)
from service.api.problems import problem_responses
from service.api.schemas import ColumnList, DatasetCreate, DatasetList, DatasetRead, DatasetRegister
from service.api.uploads import (
    CSV,
    JSON,
    MULTIPART,
    PARQUET,
    RECORDS_SCHEMA,
    SVMLIGHT,
    Delimiter,
    SvmlightOptions,
    body_schema,
    media_type,
    parse_upload,
    read_body,
)
from service.data.limits import TableLimits, check_table_shape
from service.data.magnitudes import without_extremes
from service.data.sparse import SparseTable
from service.data.sparseio import DatasetFacts, dataset_facts, dataset_to_bytes
from service.data.table import Table
from service.store.records import DatasetRecord, new_id, utc_now

logger = logging.getLogger("service.api")
# Uploads this large, or this wide (a Python object per column while parsing), give freed memory
# back to the system after their answer.
TRIM_AFTER_BYTES = 8 * 1024 * 1024
TRIM_AFTER_COLUMNS = 10_000

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            CSV: {"schema": {"type": "string"}},
            PARQUET: {"schema": {"type": "string", "format": "binary"}},
            SVMLIGHT: {"schema": {"type": "string"}},
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string"},
                        "columns": {"type": "string"},
                    },
                }
            },
            JSON: {
                "schema": {
                    "anyOf": [body_schema(DatasetCreate), RECORDS_SCHEMA, body_schema(DatasetRegister)]
                }
            },
        },
    }
}
Limit = Annotated[int, Query(ge=1, le=1000)]
ColumnLimit = Annotated[int, Query(ge=1, le=10_000)]
# The catalog pages with SQLite, whose integers are 64-bit: a larger offset would be a 500.
Offset = Annotated[int, Query(ge=0, le=2**63 - 1)]
Storage = Annotated[
    Literal["partitioned"] | None,
    Query(
        description="`partitioned`: stream a CSV or Parquet body (raw or a multipart file) to disk and "
        "store it as Parquet partitions of SPARSEFIT_PARTITION_ROWS rows, for a numeric table larger "
        "than memory; its size limit is SPARSEFIT_MAX_PARTITIONED_UPLOAD_BYTES."
    ),
]
ZeroBased = Annotated[
    bool, Query(description="svmlight bodies: feature indices start at 0 (default: at 1, as libsvm's do).")
]


def dataset_document(record: DatasetRecord, shown: int) -> dict[str, Any]:
    """The DatasetRead of ``record`` as plain JSON values, with its first ``shown`` column summaries.

    A table of at most ``shown`` columns has the document it always had. A wider one's says that its
    ``columns`` are cut short and where its other columns are paged: a 100,000-column table's
    summaries were 6 MB in every upload answer, read and list item.
    """
    document: dict[str, Any] = {
        "id": record.id,
        "name": record.name,
        "n_rows": record.n_rows,
        "n_columns": record.n_columns,
        "columns": column_reads(record.columns[:shown]),
    }
    if len(record.columns) > shown:
        document["columns_truncated"] = True
        document["columns_url"] = f"/v1/datasets/{record.id}/columns?offset={shown}"
    document.update(
        storage=record.storage,
        density=record.density,
        size_bytes=record.size_bytes,
        sha256=record.sha256,
        created_at=record.created_at,
    )
    if record.storage == "partitioned":
        document["partitions"] = record.partitions
        if record.source is not None:
            document["source"] = record.source
    return document


def column_reads(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # ColumnRead's `levels` is null for a numeric column; dense tables' summaries leave it out.
    shown = (without_extremes(c) for c in summaries)
    return [c if "levels" in c else {**c, "levels": None} for c in shown]


# DatasetRead is written with json, not through pydantic: a wide table's 100,000 column entries
# took pydantic most of a second to validate twice and encode; json writes them in a few ms. The
# routes still declare DatasetRead, which is what the OpenAPI document shows.
def dataset_response(record: DatasetRecord, shown: int, status_code: int = 200) -> Response:
    document = dataset_document(record, shown)
    return Response(json.dumps(document), status_code=status_code, media_type=JSON)


def _stored_form(table: Table | SparseTable, limits: TableLimits) -> tuple[bytes, DatasetFacts]:
    """The file and the catalog facts of an upload, once it is known to be within the limits.

    A sparse table's cells are its nonzeros: ``max_cells`` bounds what is stored, not rows x columns.
    """
    cells = table.nnz if isinstance(table, SparseTable) else None
    check_table_shape(table.n_rows, table.n_columns, limits, cells=cells)
    return dataset_to_bytes(table), dataset_facts(table)


@router.post(
    "",
    status_code=201,
    response_model=DatasetRead,
    openapi_extra=UPLOAD_BODY,
    responses=problem_responses(403, 409, 413, 415, 422, 503, 507),
)
async def create_dataset(
    request: Request,
    services: ServicesDep,
    tenant: TenantDep,
    name: Annotated[str | None, Query(max_length=200)] = None,
    zero_based: ZeroBased = False,
    delimiter: Delimiter = None,
    storage: Storage = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Upload a table: CSV (any delimiter), Parquet, svmlight, a multipart file, JSON rows (split or
    records) or CSR (stored sparse); any of them gzip-compressed (`Content-Encoding: gzip`, `.gz`).
    `?storage=partitioned` streams a tall numeric table to Parquet partitions; a JSON `{"source": ...}`
    registers an existing Parquet dataset where SPARSEFIT_DATASET_SOURCES allows it (403 elsewhere)."""
    if storage == "partitioned":
        return await _create_partitioned(request, services, tenant, name, delimiter, idempotency_key)
    body = await read_body(request, services.settings.max_body_bytes)
    if media_type(request) == JSON and is_registration(body):
        register = partial(_register, body, services, tenant, name)
        return await idempotent(request, services, tenant, idempotency_key, body, register)
    store = partial(_store_upload, request, body, services, tenant, name, zero_based, delimiter)
    return await idempotent(request, services, tenant, idempotency_key, body, store)


def _created(record: DatasetRecord, services: Services) -> Response:
    response = dataset_response(record, services.settings.dataset_document_columns, status_code=201)
    response.headers["Location"] = f"/v1/datasets/{record.id}"
    return response


async def _register(body: bytes, services: Services, tenant: str, name: str | None) -> Response:
    return _created(await register_source(body, services, tenant, name), services)


async def _create_partitioned(
    request: Request,
    services: Services,
    tenant: str,
    name: str | None,
    delimiter: str | None,
    idempotency_key: str | None,
) -> Response:
    """The body streams to a temp file (never into memory) and is converted from there.

    With an Idempotency-Key, the request's fingerprint covers the digest of the file's content (and
    its name field), computed while it streamed: a retry is known only once it has been received.
    """
    spooled = await spool_upload(request, services)
    try:

        async def store() -> Response:
            response = _created(await store_spooled(spooled, services, tenant, name, delimiter), services)
            response.background = BackgroundTask(give_back_memory)  # what the conversion freed
            return response

        return await idempotent(request, services, tenant, idempotency_key, spooled.digest, store)
    finally:
        await run_in_threadpool(remove_spooled, spooled.path)


async def _store_upload(
    request: Request,
    body: bytes,
    services: Services,
    tenant: str,
    name: str | None,
    zero_based: bool,
    delimiter: str | None,
) -> Response:
    """Parse the upload, store its file and its catalog row; the 201 answer."""
    limit = services.settings.max_body_bytes
    upload = await parse_upload(
        request, body, limit, name, SvmlightOptions(zero_based, services.table_limits), delimiter
    )
    stored, facts = await run_in_threadpool(_stored_form, upload.table, services.table_limits)
    dataset_id = new_id()
    digest = await run_in_threadpool(services.datasets.save, dataset_id, stored)
    record = DatasetRecord(
        id=dataset_id,
        name=upload.name,
        n_rows=upload.table.n_rows,
        n_columns=upload.table.n_columns,
        columns=facts.columns,
        size_bytes=digest.size,
        sha256=digest.sha256,
        created_at=utc_now(),
        tenant=tenant,
        storage=facts.storage,
        density=facts.density,
    )
    try:
        await run_in_threadpool(services.catalog.insert_dataset, record)
    except BaseException:
        services.datasets.delete(dataset_id)  # no catalog row: the file must not linger
        raise
    shape = (record.storage, record.n_rows, record.n_columns)
    logger.info(
        "dataset %s stored %s: %d rows x %d columns",
        dataset_id,
        *shape,
        extra={"event": "dataset_stored", "dataset_id": dataset_id, "rows": shape[1], "columns": shape[2]},
    )
    response = dataset_response(record, services.settings.dataset_document_columns, status_code=201)
    response.headers["Location"] = f"/v1/datasets/{dataset_id}"
    if len(body) >= TRIM_AFTER_BYTES or upload.table.n_columns >= TRIM_AFTER_COLUMNS:
        # Parsing a wide upload frees hundreds of MB that glibc would keep for good (a 100,000-column
        # CSV left 0.9 GB behind): handed back once the answer is out.
        response.background = BackgroundTask(give_back_memory)
    return response


@router.get("", response_model=DatasetList, responses=problem_responses(422))
def list_datasets(
    services: ServicesDep, tenant: TenantDep, limit: Limit = 50, offset: Offset = 0
) -> Response:
    """Datasets, newest first; an item shows its first 100 columns at most (`columns_truncated`)."""
    shown = services.settings.dataset_list_columns
    records, total = services.catalog.list_datasets(limit, offset, tenant=tenant, columns_shown=shown)
    page = {"items": [dataset_document(r, shown) for r in records], "total": total}
    return Response(json.dumps(page), media_type=JSON)


@router.get("/{dataset_id}", response_model=DatasetRead, responses=problem_responses(404))
def get_dataset(dataset_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    """A dataset; a table of more than 1,000 columns shows its first 1,000 (`columns_truncated`)."""
    record = services.catalog.get_dataset(dataset_id, tenant=tenant)
    return dataset_response(record, services.settings.dataset_document_columns)


@router.get("/{dataset_id}/columns", response_model=ColumnList, responses=problem_responses(404))
def list_dataset_columns(
    dataset_id: str,
    services: ServicesDep,
    tenant: TenantDep,
    limit: ColumnLimit = 1000,
    offset: Offset = 0,
) -> Response:
    """A page of the dataset's column summaries in table order; `total` is its number of columns."""
    summaries = services.catalog.get_dataset(dataset_id, tenant=tenant).columns
    page = {"items": column_reads(summaries[offset : offset + limit]), "total": len(summaries)}
    return Response(json.dumps(page), media_type=JSON)


@router.delete("/{dataset_id}", status_code=204, responses=problem_responses(404, 409))
def delete_dataset(dataset_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    """Delete a dataset; models trained on it keep working (they carry what they need).

    409 `/problems/dataset-in-use` while a queued or running job will read it.
    """
    services.catalog.delete_dataset(dataset_id, tenant=tenant)
    services.datasets.delete(dataset_id)
    return Response(status_code=204)
