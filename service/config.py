"""Settings: every knob of the service, read once from SPARSEFIT_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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
    job_timeout_s: float = Field(default=3600.0, gt=0, description="A running job is ended after this.")
    cancel_grace_s: float = Field(
        default=0.5, ge=0, description="How long a canceled job may run to its next checkpoint."
    )
    shutdown_grace_s: float = Field(default=3.0, ge=0, description="Bound on waiting for workers at exit.")
    max_body_bytes: int = Field(default=200 * 1024 * 1024, ge=1024, description="Upload size limit.")
    max_wait_s: float = Field(default=60.0, ge=0, description="Upper bound of ?wait=S.")
    log_level: str = "info"
