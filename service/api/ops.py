"""Operational routes: liveness, readiness, version."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter

from service.api.deps import Services, ServicesDep
from service.api.problems import problem_responses
from service.api.schemas import HealthRead, VersionRead
from service.api.startup import workers_check
from service.errors import NotReadyError, ServiceError
from service.store.atomic import probe_writable
from service.store.space import lowest_free_bytes
from service.worker.versions import versions

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=HealthRead)
async def get_health() -> HealthRead:
    """Alive: the process answers. Cheap and lock-free, so it stays fast while workers are busy."""
    return HealthRead(status="ok")


@router.get("/readyz", response_model=HealthRead, responses=problem_responses(503))
def get_readiness(services: ServicesDep) -> HealthRead:
    """Ready: the catalog and the data directories take writes, disk is free, workers are up; else 503."""
    directories = _data_directories(services)
    reserve = services.settings.min_free_bytes
    checks = {
        "store": _check(services.catalog.check_writable),
        "data_dir": _check(lambda: _probe_all(directories)),
        "free_space": _check(lambda: _check_free_space(directories, reserve)),
        "workers": workers_check(services),
    }
    if all(value == "ok" for value in checks.values()):
        return HealthRead(status="ok", checks=checks)
    failed = "; ".join(f"{name}: {value}" for name, value in checks.items() if value != "ok")
    raise NotReadyError(failed, checks=checks)


def _data_directories(services: Services) -> tuple[Path, ...]:
    # The blob directories may be mounts of their own, so each is probed, not only the data dir.
    return (services.settings.data_dir, services.datasets.directory, services.models.directory)


def _check(probe: Callable[[], object]) -> str:
    """``ok``, or ``failed:`` and why; readiness reports every failure as data, never as a 500."""
    try:
        probe()
    except ServiceError as error:
        # The problem's detail names the errno (EROFS, ENOSPC), never a path.
        return f"failed: {error.detail}"
    except Exception as error:
        return f"failed: {type(error).__name__}"
    return "ok"


def _probe_all(directories: tuple[Path, ...]) -> None:
    for directory in directories:
        probe_writable(directory)


def _check_free_space(directories: tuple[Path, ...], reserve: int) -> None:
    free = lowest_free_bytes(directories)
    if free < reserve:
        raise NotReadyError(f"{free} bytes free, below the reserve of {reserve} bytes")


@router.get("/version", response_model=VersionRead)
def get_version() -> VersionRead:
    return VersionRead.model_validate(versions())
