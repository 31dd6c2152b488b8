"""Job submissions for manager tests: a queued JobRecord and its FitTask, built as the API builds them."""

from __future__ import annotations

from pathlib import Path

from service.api.job_specs import design_spec, fit_spec
from service.api.schemas import JobCreate
from service.store import JobRecord, JobStatus, new_id, utc_now
from service.worker.kinds.fit import FitTask


def submission(tmp_path: Path, tenant: str) -> tuple[JobRecord, FitTask]:
    request = JobCreate(dataset_id=new_id(), target="y")
    job_id = new_id()
    task = FitTask(
        job_id=job_id,
        model_id=new_id(),
        data_dir=tmp_path,
        dataset_id=request.dataset_id,
        dataset_sha256="0" * 64,
        design=design_spec(request),
        fit=fit_spec(request),
        penalty="lasso",
        tenant=tenant,
    )
    record = queued_record(job_id, request.dataset_id, tenant)
    return record, task


def queued_record(job_id: str, dataset_id: str, tenant: str) -> JobRecord:
    """The catalog row of a fit job just submitted, as the manager writes it."""
    return JobRecord(
        id=job_id,
        kind="fit",
        name=None,
        status=JobStatus.QUEUED,
        progress_fraction=0.0,
        progress_stage="queued",
        progress_message=None,
        created_at=utc_now(),
        started_at=None,
        finished_at=None,
        model_id=None,
        error=None,
        request={},
        dataset_id=dataset_id,
        tenant=tenant,
    )
