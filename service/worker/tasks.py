"""What every job task carries into its worker process, and the two kinds of output it hands back."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from service.data.design import DesignSpec
from service.modeling import Checkpoint, FitSpec


@dataclass(frozen=True)
class JobRequest:
    """A validated job request, as the API hands it to the job manager (no settings, no ids yet).

    ``options`` holds the kind's own parameters (``stability``, ``knockoffs``, ``bootstrap``) and
    the fit options the engine does not take in its FitSpec (``inference``), as plain values.
    """

    kind: str
    dataset_id: str
    dataset_sha256: str
    design: DesignSpec
    fit: FitSpec
    penalty: str
    options: Mapping[str, Any] = field(default_factory=dict)
    max_runtime_s: float | None = None


@dataclass(frozen=True)
class TaskSettings:
    """What the service's settings give every task: where data lives, limits, the signing key."""

    data_dir: Path
    job_timeout_s: float
    cv_processes: int = 1
    artifact_secret: bytes = field(default=b"", repr=False)
    min_free_bytes: int = 0


@dataclass(frozen=True)
class FitResult:
    """A job that stores a model hands back where its artifact is and what the model looks like."""

    model_id: str
    sha256: str
    size_bytes: int
    summary: dict[str, Any]


@dataclass(frozen=True)
class SelectionResult:
    """A job that stores a selection (stability, knockoffs, bootstrap) hands back its summary."""

    selection_id: str
    kind: str
    summary: dict[str, Any]


TaskResult = FitResult | SelectionResult


@dataclass(frozen=True)
class JobTask:
    """Everything a worker needs to run one job, picklable; each kind of job subclasses it.

    A subclass (one module per kind in ``service.worker.kinds``) names its ``kind``, the field its
    output's id is in (``output_field``) and how it runs (``run``, called in the worker process).
    """

    job_id: str
    data_dir: Path
    dataset_id: str
    dataset_sha256: str
    design: DesignSpec
    fit: FitSpec
    penalty: str
    tenant: str = "default"
    timeout_s: float = 3600.0
    cv_processes: int = 1
    server_pid: int = field(default_factory=os.getpid)
    # The HMAC key the model file is signed with (service.store.signing); never printed.
    artifact_secret: bytes = field(default=b"", repr=False)
    # Settings.min_free_bytes: the model is not saved (507) when less disk than this is free.
    min_free_bytes: int = 0
    # The kind's own parameters (JobRequest.options).
    options: Mapping[str, Any] = field(default_factory=dict)

    kind: ClassVar[str] = ""
    # The log field naming what the job stores: "model_id" or "selection_id".
    output_field: ClassVar[str] = "model_id"

    @classmethod
    def from_request(
        cls, request: JobRequest, settings: TaskSettings, job_id: str, output_id: str, tenant: str
    ) -> Self:
        """The task of ``request``; ``output_id`` names the model or selection it will store."""
        fields: dict[str, Any] = {
            cls.output_field: output_id,
            **task_fields(request, settings, job_id, tenant),
        }
        return cls(**fields)

    @property
    def output_id(self) -> str:
        """The id of the model or selection this job stores."""
        return str(getattr(self, self.output_field))

    def log_fields(self) -> dict[str, str]:
        """The fields every log line about this job carries: its id, its output's, dataset, tenant."""
        return {
            "job_id": self.job_id,
            self.output_field: self.output_id,
            "dataset_id": self.dataset_id,
            "tenant": self.tenant,
        }

    def run(self, checkpoint: Checkpoint) -> TaskResult:
        """Load, compute and (for a model) save; called in the worker process."""
        raise NotImplementedError


def task_fields(request: JobRequest, settings: TaskSettings, job_id: str, tenant: str) -> dict[str, Any]:
    """The JobTask fields every kind fills the same way from a request and the settings."""
    timeout = settings.job_timeout_s
    if request.max_runtime_s is not None:
        timeout = min(timeout, request.max_runtime_s)
    return {
        "job_id": job_id,
        "data_dir": settings.data_dir,
        "dataset_id": request.dataset_id,
        "dataset_sha256": request.dataset_sha256,
        "design": request.design,
        "fit": request.fit,
        "penalty": request.penalty,
        "tenant": tenant,
        "timeout_s": timeout,
        "cv_processes": settings.cv_processes,
        "artifact_secret": settings.artifact_secret,
        "min_free_bytes": settings.min_free_bytes,
        "options": dict(request.options),
    }
