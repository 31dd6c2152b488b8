"""The catalog's record types, job statuses, ids and timestamps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from uuid import uuid4

DEFAULT_TENANT = "default"

_ID_PATTERN = re.compile(r"[0-9a-f]{32}")


def new_id() -> str:
    """A fresh id: 32 lowercase hex characters."""
    return uuid4().hex


def is_valid_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id this service generates (and so is safe in a path)."""
    # fullmatch, not match with "$": "$" would also accept a trailing newline.
    return _ID_PATTERN.fullmatch(value) is not None


def utc_now() -> str:
    """The current time as RFC 3339 UTC with microseconds, e.g. ``2026-11-25T10:40:00.123456Z``."""
    return utc_text(datetime.now(UTC))


def utc_text(moment: datetime) -> str:
    """``moment`` (timezone-aware) in the catalog's timestamp form, as :func:`utc_now` writes it."""
    # Fixed width, so timestamps sort correctly as strings in SQL.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class JobStatus(StrEnum):
    """A job's lifecycle; the values are the strings on the wire and in the catalog."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


FINISHED: frozenset[JobStatus] = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED})
UNFINISHED: frozenset[JobStatus] = frozenset({JobStatus.QUEUED, JobStatus.RUNNING})


@dataclass(frozen=True)
class DatasetRecord:
    """An uploaded table: its shape, column descriptions and the checksum of its stored file.

    ``storage`` is ``dense``, ``sparse`` or ``partitioned``; ``density`` (nonzero cells / cells) is
    None for a dataset stored before densities were recorded, and for a partitioned one. A
    partitioned dataset has its number of Parquet files in ``partitions``, and ``source``, the URL
    it was registered from, unless the service wrote its files from an upload.
    """

    id: str
    name: str | None
    n_rows: int
    n_columns: int
    columns: list[dict[str, Any]]
    size_bytes: int
    sha256: str
    created_at: str
    tenant: str = DEFAULT_TENANT
    storage: str = "dense"
    density: float | None = None
    partitions: int | None = None
    source: str | None = None


@dataclass(frozen=True)
class JobRecord:
    """A training job: its normalised request, status, progress and outcome."""

    id: str
    kind: str
    name: str | None
    status: JobStatus
    progress_fraction: float
    progress_stage: str
    progress_message: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    model_id: str | None
    error: dict[str, Any] | None
    request: dict[str, Any]
    dataset_id: str
    tenant: str = DEFAULT_TENANT
    # A stability, knockoffs or bootstrap job stores a selection instead of a model.
    selection_id: str | None = None


@dataclass(frozen=True)
class ModelRecord:
    """A trained model: where it came from, the checksum of its artifact and its summary for reads."""

    id: str
    name: str | None
    job_id: str
    dataset_id: str
    created_at: str
    sha256: str
    size_bytes: int
    summary: dict[str, Any]
    tenant: str = DEFAULT_TENANT


@dataclass(frozen=True)
class SelectionRecord:
    """The outcome of a stability, knockoffs or bootstrap job: which features, with what evidence."""

    id: str
    kind: str
    job_id: str
    dataset_id: str
    created_at: str
    summary: dict[str, Any]
    tenant: str = DEFAULT_TENANT


@dataclass(frozen=True)
class ModelText:
    """A model row whose summary is still the JSON text the catalog holds (a ``ModelRecord`` undecoded).

    A wide model's summary is megabytes (one coefficient per design column): reads that only pass it
    on answer with this text instead of decoding and encoding it again.
    """

    id: str
    name: str | None
    job_id: str
    dataset_id: str
    created_at: str
    summary: str
