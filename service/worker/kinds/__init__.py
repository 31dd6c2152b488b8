"""The kinds of job, one module each: how it runs in a worker and what it stores.

``fit`` saves a model; ``stability``, ``knockoffs`` and ``bootstrap`` store a selection. The job
manager turns a validated request into the task of its kind with :func:`build_task`.
"""

from __future__ import annotations

from service.worker.kinds.bootstrap import BootstrapTask
from service.worker.kinds.fit import FitTask
from service.worker.kinds.knockoffs import KnockoffsTask
from service.worker.kinds.stability import StabilityTask
from service.worker.tasks import JobRequest, JobTask, TaskSettings

TASK_TYPES: dict[str, type[JobTask]] = {
    task.kind: task for task in (FitTask, StabilityTask, KnockoffsTask, BootstrapTask)
}


def build_task(
    request: JobRequest, settings: TaskSettings, job_id: str, output_id: str, tenant: str
) -> JobTask:
    """The task of ``request.kind``; ``output_id`` becomes the id of the model or selection it stores."""
    return TASK_TYPES[request.kind].from_request(request, settings, job_id, output_id, tenant)
