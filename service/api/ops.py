"""Operational routes: liveness, readiness, version."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ServicesDep
from service.api.problems import problem_responses
from service.api.schemas import HealthRead, VersionRead
from service.errors import NotReadyError
from service.worker import versions

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthRead)
async def get_health() -> HealthRead:
    """Alive: the process answers. Cheap and lock-free, so it stays fast while workers are busy."""
    return HealthRead(status="ok")


@router.get("/readyz", response_model=HealthRead, responses=problem_responses(503))
def get_readiness(services: ServicesDep) -> HealthRead:
    """Ready: the store is writable and the worker pool is up; 503 otherwise."""
    checks: dict[str, str] = {}
    try:
        services.catalog.check_writable()
        checks["store"] = "ok"
    except Exception as error:  # readiness reports every failure as data
        checks["store"] = f"failed: {type(error).__name__}"
    checks["workers"] = "ok" if services.pool.started else "failed: worker pool not started"
    if all(value == "ok" for value in checks.values()):
        return HealthRead(status="ok", checks=checks)
    failed = "; ".join(f"{name}: {value}" for name, value in checks.items() if value != "ok")
    raise NotReadyError(failed, checks=checks)


@router.get("/version", response_model=VersionRead)
def get_version() -> VersionRead:
    return VersionRead.model_validate(versions())
