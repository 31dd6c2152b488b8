"""create_app(settings) -> FastAPI: the lifespan builds the stores, the worker pool and the job manager."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI, Request, Response

import service
from service.api import datasets, jobs, models, ops
from service.api.deps import ArtifactCache, Services
from service.api.problems import INTERNAL_ERROR_RESPONSE, install_problem_handlers
from service.config import Settings
from service.jobs.manager import JobManager
from service.jobs.pool import WorkerPool
from service.store.blobs import DatasetStore, ModelStore, sweep_temp_files
from service.store.catalog import Catalog

logger = logging.getLogger("service")


class State(TypedDict):
    services: Services


def build_services(settings: Settings) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(settings.data_dir)  # partial files of a crashed write are never objects
    catalog = Catalog(settings.data_dir / "catalog.sqlite3")
    pool = WorkerPool(settings.workers, settings.cancel_grace_s)
    model_store = ModelStore(settings.data_dir)
    return Services(
        settings=settings,
        catalog=catalog,
        datasets=DatasetStore(settings.data_dir),
        models=model_store,
        artifacts=ArtifactCache(model_store),
        pool=pool,
        manager=JobManager(catalog, pool, settings.max_queued_jobs),
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[State]:
    settings: Settings = app.state.settings
    services = build_services(settings)
    await asyncio.to_thread(services.pool.start)
    await services.manager.start()
    logger.info(
        "sparsefit %s ready: data in %s, %d worker(s), single default tenant (no API keys configured)",
        service.__version__,
        settings.data_dir.resolve(),
        settings.workers,
    )
    try:
        yield {"services": services}
    finally:
        await services.manager.stop()
        services.catalog.close()
        logger.info("sparsefit stopped")


async def _request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
    request.state.request_id = request_id
    response = await call_next(request)
    response.headers["X-Request-ID"] = request_id
    return response


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="Sparsefit",
        version=service.__version__,
        summary="Sparse linear models (lasso, ridge, elastic net) with paths and CV, over HTTP.",
        lifespan=lifespan,
        responses=INTERNAL_ERROR_RESPONSE,
        # The operationId of every route is its function name (`create_job`, `get_model`, ...).
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings = settings if settings is not None else Settings()
    app.middleware("http")(_request_id)
    install_problem_handlers(app)
    for router in (datasets.router, jobs.router, models.router, ops.router):
        app.include_router(router)
    return app
