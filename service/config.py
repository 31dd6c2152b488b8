"""Settings: every knob of the service, read once from SPARSEFIT_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Embedded defaults make `make run` work on a fresh machine; everything else is opt-in."""

    model_config = SettingsConfigDict(env_prefix="SPARSEFIT_", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path("data")
    workers: int = Field(default=2, ge=1, le=64, description="Jobs that run at once, one process each.")
    cv_processes: int = Field(
        default=2, ge=1, le=64, description="Processes a large job's CV folds run in (forked, sharing X)."
    )
    max_queued_jobs: int = Field(default=100, ge=1, description="Queued jobs beyond this answer 503.")
    # Where jobs run (issue 14): `local`, processes forked on this machine; `dask`, tasks on the Dask
    # cluster at dask_scheduler, whose workers must see data_dir at the same path (a shared volume).
    executor: Literal["local", "dask"] = Field(
        default="local", description="Where jobs run: local worker processes, or a Dask cluster."
    )
    dask_scheduler: str | None = Field(
        default=None, description="The Dask scheduler's address (tcp://host:8786) when executor is dask."
    )
    job_timeout_s: float = Field(default=3600.0, gt=0, description="A running job is ended after this.")
    cancel_grace_s: float = Field(
        default=0.5, ge=0, description="How long a canceled job may run to its next checkpoint."
    )
    shutdown_grace_s: float = Field(default=3.0, ge=0, description="Bound on waiting for workers at exit.")
    max_body_bytes: int = Field(default=200 * 1024 * 1024, ge=1024, description="Upload size limit.")
    max_wait_s: float = Field(default=60.0, ge=0, description="Upper bound of ?wait=S.")
    log_level: str = "info"
    # json: one JSON object per line (access and application logs, uvicorn's and the workers' too),
    # for a log pipeline; text: the same fields as `key=value` after the message, for a terminal.
    log_format: Literal["text", "json"] = Field(
        default="text", description="Log lines as text (for humans) or one JSON object per line."
    )
    keep_alive_s: float = Field(
        default=30.0,
        gt=0,
        description="Idle keep-alive connections close after this (above clients' own idle expiry).",
    )
    request_threads: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Threads for blocking request work (parsing, catalog); few keep /healthz fast.",
    )
    # Verified, unpickled models kept for predictions (service.api.artifact_cache): without it every
    # prediction re-read, re-hashed, re-verified and unpickled the model file.
    model_cache_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=0,
        description="Model files held in memory for predictions, summed sizes (0: no cache).",
    )
    warm_up_before_serving: bool = Field(
        default=False,
        description="Serve only once the worker pool is up: no early /healthz, never a starting /readyz.",
    )

    # Access. Keys are `tenant:key` pairs; a file line may give `tenant:sha256:<hex>` instead.
    api_keys: SecretStr | None = Field(default=None, description="Comma-separated tenant:key pairs.")
    api_keys_file: Path | None = Field(default=None, description="One tenant:key per line.")
    allow_anonymous: bool = Field(
        default=False, description="Serve a non-loopback address without API keys (refused otherwise)."
    )
    artifact_secret: SecretStr | None = Field(
        default=None, description="HMAC key for model files; generated into the data dir when unset."
    )

    # Limits: each answers a problem when exceeded (see the README's table of limits).
    max_rows: int = Field(default=10_000_000, ge=1, description="Rows of one table (413).")
    # Wide enough for a 100,000-feature text or genomics matrix and its target; a dense table is
    # bounded by max_cells long before.
    max_columns: int = Field(default=250_000, ge=1, description="Columns of one table (413).")
    max_cells: int = Field(
        default=200_000_000, ge=1, description="Rows x columns of one table, nonzeros of a sparse one (413)."
    )
    max_levels: int = Field(default=1000, ge=2, description="Levels of one categorical feature (422).")
    max_cv_fits: int = Field(
        default=20_000, ge=1, description="CV folds x alphas x l1_ratios of one job (422)."
    )
    max_queued_jobs_per_tenant: int = Field(
        default=50, ge=1, description="Queued jobs of one tenant beyond this answer 429."
    )
    # A 100,000-column table's summaries are 6 MB of JSON: documents show the first columns, and
    # GET /v1/datasets/{id}/columns pages through all of them.
    dataset_document_columns: int = Field(
        default=1000, ge=1, description="Column summaries in one dataset's document (the rest are paged)."
    )
    dataset_list_columns: int = Field(
        default=100,
        ge=0,
        description="Column summaries per dataset in GET /v1/datasets (the rest are paged).",
    )
    min_free_bytes: int = Field(
        default=64 * 1024 * 1024, ge=0, description="Writes are refused (507) below this much free disk."
    )

    # The HTTP edge (issue 11): what a request may send before any of it is read or parsed. An upload
    # (POST /v1/datasets, a CSV or svmlight prediction body) keeps max_body_bytes; any other body is
    # JSON and is held to max_json_bytes. Head limits bound the parser's work on one connection.
    max_json_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Size limit of a body that is not an upload (413)."
    )
    max_header_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Header fields of one request, names and values (431)."
    )
    max_url_bytes: int = Field(
        default=8 * 1024, ge=256, description="Request target (path and query string) of one request (414)."
    )

    # Tall data (issue 14): partitioned Parquet datasets that no one process reads whole. Registering
    # an existing Parquet dataset by URL reads files the operator chose to expose, so it is refused
    # unless the URL starts with one of these prefixes (none by default).
    dataset_sources: str = Field(
        default="",
        description="Comma-separated URL prefixes (file:///srv/data/, s3://bucket/tables/) that "
        "POST /v1/datasets may register Parquet datasets from; empty refuses every source (403).",
    )
    partition_rows: int = Field(
        default=1_000_000, ge=1, description="Rows of one Parquet partition a streamed upload writes."
    )
    max_partitioned_upload_bytes: int = Field(
        default=50 * 1024**3,
        ge=1024,
        description="Size limit of a POST /v1/datasets?storage=partitioned body (413), streamed to disk.",
    )

    @model_validator(mode="after")
    def _dask_needs_a_scheduler(self) -> Settings:
        if self.executor == "dask" and not self.dask_scheduler:
            raise ValueError("SPARSEFIT_EXECUTOR=dask needs SPARSEFIT_DASK_SCHEDULER (tcp://host:8786)")
        return self
