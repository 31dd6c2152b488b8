"""Routes for /v1/jobs: submit, list, read (with ?wait), cancel, follow as SSE, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service.api.datasets import Limit, Offset
from service.api.deps import Services, ServicesDep, TenantDep
from service.api.idempotency import IdempotencyKey, idempotent
from service.api.job_rules import check_partitioned_job
from service.api.job_specs import design_spec, fit_spec, job_options, normalised_request
from service.api.knockoff_checks import check_knockoffs_size
from service.api.problems import problem_responses
from service.api.schemas import JOB_EVENT_SCHEMA, JobCreate, JobList, JobRead
from service.api.uploads import JSON
from service.data.checks import check_design_columns, check_group_columns
from service.data.limits import check_feature_levels
from service.data.magnitudes import check_magnitudes
from service.data.schema_checks import check_design_names, check_fit_data
from service.errors import ValidationError
from service.store.records import JobRecord, JobStatus
from service.store.space import ensure_free_space
from service.worker.tasks import JobRequest

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

# Seconds a client should wait before polling a job it just submitted.
POLL_AFTER_S = 1
SSE_KEEPALIVE_S = 15.0


def job_read(record: JobRecord) -> JobRead:
    return JobRead.model_validate(
        {
            "id": record.id,
            "kind": record.kind,
            "name": record.name,
            "status": record.status,
            "progress": {
                "fraction": record.progress_fraction,
                "stage": record.progress_stage,
                "message": record.progress_message,
            },
            "created_at": record.created_at,
            "started_at": record.started_at,
            "finished_at": record.finished_at,
            "model_id": record.model_id,
            "selection_id": record.selection_id,
            "dataset_id": record.dataset_id,
            "error": record.error,
            "request": record.request,
        }
    )


def _check_fold_count(job: JobCreate, n_rows: int | None) -> None:
    if n_rows is not None and job.cv is not None and job.cv.fold_column is None and job.cv.folds > n_rows:
        raise ValidationError(
            f"cv.folds is {job.cv.folds} but the dataset has only {n_rows} rows.",
            errors=[{"loc": ["body", "cv", "folds"], "msg": "more folds than rows", "type": "value_error"}],
        )


def _check_cv_size(job: JobCreate, max_fits: int) -> None:
    """422 when CV would fit more (fold, alpha, l1_ratio) problems than SPARSEFIT_MAX_CV_FITS."""
    if job.cv is None or job.cv.fold_column is not None:  # a fold column's count is known only later
        return
    n_alphas = job.path.n_alphas if job.path.alphas is None else len(job.path.alphas)
    n_ratios = 1 if job.cv.l1_ratios is None else len(job.cv.l1_ratios)
    fits = job.cv.folds * n_alphas * n_ratios
    if fits > max_fits:
        raise ValidationError(
            f"cv.folds x alphas x l1_ratios is {job.cv.folds} x {n_alphas} x {n_ratios} = {fits} fits; "
            f"at most {max_fits} are accepted.",
            errors=[{"loc": ["body", "cv", "folds"], "msg": "too many CV fits", "type": "limit"}],
        )


def _validate(job: JobCreate, services: Services, tenant: str) -> str:
    """Everything the dataset's stored schema tells before queueing; returns the dataset's sha256.

    The table is not read and the design not built here: that happens once, in the job's process,
    which fails the job with the same problem types for what only the values show (every feature
    constant, one class in a numeric target). The schema is cached per dataset, so the checks cost
    time in the size of the request, not of a 100,000-column table.
    """
    sha256, schema = services.schemas.load(job.dataset_id, tenant)
    if services.datasets.is_partitioned(job.dataset_id):
        check_partitioned_job(job)
    spec = design_spec(job)
    check_design_columns(schema, spec)
    if job.groups is not None:
        check_group_columns(schema, spec, job.groups)
    check_knockoffs_size(job, schema, spec)
    check_feature_levels(schema, spec, services.settings.max_levels)
    _check_fold_count(job, schema.n_rows)
    _check_cv_size(job, services.settings.max_cv_fits)
    check_fit_data(schema, spec)
    check_design_names(schema, spec)
    check_magnitudes(schema, spec, job.standardize)
    return sha256


@router.post(
    "", status_code=202, response_model=JobRead, responses=problem_responses(404, 409, 429, 503, 507)
)
async def create_job(
    job: JobCreate,
    request: Request,
    services: ServicesDep,
    tenant: TenantDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Validate a fit request and queue it; the answer comes at once, the model when the job ends."""
    # The body FastAPI parsed the JobCreate from (read once, kept by the request) is what a retry
    # with the same Idempotency-Key must repeat.
    body = await request.body()
    queue = partial(_queue_job, job, services, tenant)
    return await idempotent(request, services, tenant, idempotency_key, body, queue)


async def _queue_job(job: JobCreate, services: Services, tenant: str) -> Response:
    """Check the request against the stored schema and queue the job; the 202 answer."""
    # Refuse a full queue before validating, which reads the catalog: under load most refused
    # submissions would otherwise pay for checks they cannot use. `submit` checks again.
    services.manager.check_capacity(tenant)
    # A job whose model could not be saved would fail only after its fit: refuse it now (507).
    ensure_free_space(services.models.directory, services.settings.min_free_bytes)
    # Off the event loop: the catalog read may wait on a commit, and a dataset seen for the first time
    # has its schema decoded and indexed.
    dataset_sha256 = await run_in_threadpool(_validate, job, services, tenant)
    request = JobRequest(
        kind=job.kind,
        dataset_id=job.dataset_id,
        dataset_sha256=dataset_sha256,
        design=design_spec(job),
        fit=fit_spec(job),
        penalty=str(job.penalty),
        options=job_options(job),
        max_runtime_s=job.max_runtime_s,
    )
    record = await services.manager.submit_request(
        request, name=job.name, normalised=normalised_request(job), tenant=tenant
    )
    job_id = record.id
    headers = {"Location": f"/v1/jobs/{job_id}", "Retry-After": str(POLL_AFTER_S)}
    return Response(job_read(record).model_dump_json(), 202, headers=headers, media_type=JSON)


@router.get("", response_model=JobList, responses=problem_responses(422))
def list_jobs(
    services: ServicesDep,
    tenant: TenantDep,
    status: JobStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> JobList:
    records, total = services.catalog.list_jobs(status, limit, offset, tenant=tenant)
    return JobList(items=[job_read(r) for r in records], total=total)


@router.get("/{job_id}", response_model=JobRead, responses=problem_responses(404))
async def get_job(
    job_id: str,
    services: ServicesDep,
    tenant: TenantDep,
    wait: Annotated[float, Query(ge=0, le=60, description="Hold the answer up to this many seconds.")] = 0,
) -> JobRead:
    """A job's state; with `?wait=S` the answer waits up to S seconds for the job to finish."""
    timeout = min(wait, services.settings.max_wait_s)
    return job_read(await services.manager.wait(job_id, tenant, timeout))


@router.post(
    "/{job_id}/cancel", status_code=202, response_model=JobRead, responses=problem_responses(404, 409)
)
async def cancel_job(job_id: str, services: ServicesDep, tenant: TenantDep) -> JobRead:
    """Ask a job to stop: a queued job ends at once, a running one at its next checkpoint."""
    return job_read(await services.manager.cancel(job_id, tenant))


def _sse(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


async def _event_stream(services: Services, job_id: str, tenant: str) -> AsyncIterator[str]:
    last_status: str | None = None
    async for record in services.manager.follow(job_id, tenant, SSE_KEEPALIVE_S):
        if record is None:
            yield ": keep-alive\n\n"
            continue
        job = job_read(record)
        yield _sse("progress", job.progress.model_dump_json())
        if job.status != last_status:
            last_status = job.status
            yield _sse("status", job.model_dump_json())


@router.get(
    "/{job_id}/events",
    responses={
        200: {"content": {"text/event-stream": {"schema": JOB_EVENT_SCHEMA}}},
        **problem_responses(404),
    },
    response_class=StreamingResponse,
)
def follow_job(job_id: str, services: ServicesDep, tenant: TenantDep) -> StreamingResponse:
    """Server-Sent Events: `progress` and `status` events, closing after the final status."""
    services.catalog.get_job(job_id, tenant=tenant)  # 404 before the stream starts
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        _event_stream(services, job_id, tenant), media_type="text/event-stream", headers=headers
    )


@router.delete("/{job_id}", status_code=204, responses=problem_responses(404, 409))
async def delete_job(job_id: str, services: ServicesDep, tenant: TenantDep) -> Response:
    """Delete a finished job's record; its model stays."""
    await services.manager.delete(job_id, tenant)
    return Response(status_code=204)
