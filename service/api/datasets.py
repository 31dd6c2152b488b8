"""Routes for /v1/datasets: upload, list, read, delete."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.deps import ServicesDep, TenantDep
from service.api.problems import problem_responses
from service.api.schemas import DatasetCreate, DatasetList, DatasetRead
from service.api.uploads import CSV, JSON, MULTIPART, PARQUET, parse_upload, read_body
from service.data.limits import check_table_shape
from service.data.tableio import column_summaries, table_to_parquet
from service.store.records import DatasetRecord, new_id, utc_now

logger = logging.getLogger("service.api")
router = APIRouter(prefix="/v1/datasets", tags=["datasets"])

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            CSV: {"schema": {"type": "string"}},
            PARQUET: {"schema": {"type": "string", "format": "binary"}},
            MULTIPART: {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string"},
                    },
                }
            },
            JSON: {"schema": DatasetCreate.model_json_schema()},
        },
    }
}
Limit = Annotated[int, Query(ge=1, le=1000)]
# The catalog pages with SQLite, whose integers are 64-bit: a larger offset would be a 500.
Offset = Annotated[int, Query(ge=0, le=2**63 - 1)]


def dataset_read(record: DatasetRecord) -> DatasetRead:
    return DatasetRead.model_validate(
        {
            "id": record.id,
            "name": record.name,
            "n_rows": record.n_rows,
            "n_columns": record.n_columns,
            "columns": record.columns,
            "size_bytes": record.size_bytes,
            "sha256": record.sha256,
            "created_at": record.created_at,
        }
    )


@router.post(
    "",
    status_code=201,
    response_model=DatasetRead,
    openapi_extra=UPLOAD_BODY,
    responses=problem_responses(413, 415, 422, 503, 507),
)
async def create_dataset(
    request: Request,
    response: Response,
    services: ServicesDep,
    tenant: TenantDep,
    name: Annotated[str | None, Query(max_length=200)] = None,
) -> DatasetRead:
    """Upload a table as CSV, Parquet, a multipart file or JSON in pandas' "split" orientation."""
    limit = services.settings.max_body_bytes
    body = await read_body(request, limit)
    upload = await parse_upload(request, body, limit, name)
    check_table_shape(upload.table.n_rows, len(upload.table.columns), services.table_limits)
    parquet = await run_in_threadpool(table_to_parquet, upload.table)
    dataset_id = new_id()
    digest = await run_in_threadpool(services.datasets.save, dataset_id, parquet)
    record = DatasetRecord(
        id=dataset_id,
        name=upload.name,
        n_rows=upload.table.n_rows,
        n_columns=len(upload.table.columns),
        columns=column_summaries(upload.table),
        size_bytes=digest.size,
        sha256=digest.sha256,
        created_at=utc_now(),
        tenant=tenant,
    )
    try:
        await run_in_threadpool(services.catalog.insert_dataset, record)
    except BaseException:
        services.datasets.delete(dataset_id)  # no catalog row: the file must not linger
        raise
    logger.info("dataset %s stored: %d rows x %d columns", dataset_id, record.n_rows, record.n_columns)
    response.headers["Location"] = f"/v1/datasets/{dataset_id}"
    return dataset_read(record)


@router.get("", response_model=DatasetList, responses=problem_responses(422))
def list_datasets(
    services: ServicesDep, tenant: TenantDep, limit: Limit = 50, offset: Offset = 0
) -> DatasetList:
    records, total = services.catalog.list_datasets(limit, offset, tenant=tenant)
    return DatasetList(items=[dataset_read(r) for r in records], total=total)


@router.get("/{dataset_id}", response_model=DatasetRead, responses=problem_responses(404))
def get_dataset(dataset_id: str, services: ServicesDep, tenant: TenantDep) -> DatasetRead:
    return dataset_read(services.catalog.get_dataset(dataset_id, tenant=tenant))


@router.delete("/{dataset_id}", status_code=204, responses=problem_responses(404))
def delete_dataset(dataset_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    """Delete a dataset; models trained on it keep working (they carry what they need)."""
    services.catalog.delete_dataset(dataset_id, tenant=tenant)
    services.datasets.delete(dataset_id)
    return Response(status_code=204)
