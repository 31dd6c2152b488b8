"""create_app(settings) -> FastAPI: the lifespan builds the stores, the worker pool and the job manager."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypedDict

import anyio.to_thread
from fastapi import Depends, FastAPI

import service
from service.api import datasets, exports, jobs, metrics, models, ops, selections
from service.api.artifact_cache import ArtifactCache
from service.api.auth import KeyRing, load_key_ring
from service.api.deps import SchemaCache, Services, require_tenant
from service.api.gate import RequestGate
from service.api.metrics import Metrics
from service.api.prediction_fast_path import PredictionFastPath
from service.api.problems import INTERNAL_ERROR_RESPONSE, install_problem_handlers, problem_responses
from service.api.request_context import RequestContext
from service.api.startup import warm_workers
from service.api.ui import install_ui
from service.config import Settings
from service.data.limits import TableLimits
from service.jobs.executor import ClosesAsync, Executor
from service.jobs.manager import JobManager
from service.jobs.pool import WorkerPool
from service.store.blobs import DatasetStore, ModelStore, sweep_temp_files
from service.store.catalog import Catalog
from service.store.signing import load_or_create_secret
from service.worker.tasks import TaskSettings

logger = logging.getLogger("service")


class State(TypedDict):
    services: Services
    # Also reaches the HTTP protocol (uvicorn's app_state), which counts the heads it refuses.
    metrics: Metrics


def build_services(settings: Settings) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    sweep_temp_files(settings.data_dir)  # partial files of a crashed write are never objects
    catalog = Catalog(settings.data_dir / "catalog.sqlite3")
    catalog.sweep_idempotency_keys()  # expired keys, and keys whose request died with the last process
    pool = build_executor(settings)
    secret = artifact_secret(settings)
    model_store = ModelStore(settings.data_dir, secret=secret, min_free_bytes=settings.min_free_bytes)
    orphans = model_store.remove_unknown(catalog.model_ids())
    if orphans:
        logger.warning("removed %d model file(s) that no catalog row points to", len(orphans))
    datasets = DatasetStore(settings.data_dir, min_free_bytes=settings.min_free_bytes)
    orphan_datasets = datasets.remove_unknown(catalog.dataset_ids())
    if orphan_datasets:
        logger.warning(
            "removed %d dataset(s) whose upload ended before its catalog row", len(orphan_datasets)
        )
    return Services(
        settings=settings,
        catalog=catalog,
        datasets=datasets,
        models=model_store,
        artifacts=ArtifactCache(model_store, settings.model_cache_bytes),
        pool=pool,
        manager=JobManager(
            catalog,
            pool,
            settings.max_queued_jobs,
            settings.max_queued_jobs_per_tenant,
            models=model_store,
            task_settings=TaskSettings(
                data_dir=settings.data_dir,
                job_timeout_s=settings.job_timeout_s,
                cv_processes=settings.cv_processes,
                artifact_secret=secret,
                min_free_bytes=settings.min_free_bytes,
            ),
        ),
        keys=load_key_ring(settings),
        table_limits=TableLimits(settings.max_rows, settings.max_columns, settings.max_cells),
        artifact_secret=secret,
        schemas=SchemaCache(catalog),
    )


def build_executor(settings: Settings) -> Executor:
    """SPARSEFIT_EXECUTOR: the local process pool, or the Dask cluster at SPARSEFIT_DASK_SCHEDULER."""
    if settings.executor == "dask" and settings.dask_scheduler is not None:
        # Imported only when chosen: distributed adds half a second to every local start.
        from service.jobs.dask_pool import DaskPool

        return DaskPool(settings.workers, settings.cancel_grace_s, settings.dask_scheduler)
    return WorkerPool(settings.workers, settings.cancel_grace_s)


def artifact_secret(settings: Settings) -> bytes:
    """The HMAC key for model files: the configured one, else the data dir's generated one."""
    if settings.artifact_secret is not None:
        return settings.artifact_secret.get_secret_value().encode()
    return load_or_create_secret(settings.data_dir)


def _limit_request_threads(threads: int) -> None:
    """Bound the threads that run blocking request work (anyio's for routes, asyncio's for to_thread).

    Parsing and catalog work in those threads holds the GIL in turns with the event loop; with the
    default 40 threads busy, the loop waited its turn behind all of them and /healthz took hundreds
    of milliseconds under load. Fewer threads queue the work instead of the loop.
    """
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sparsefit-io")
    )


def _access_description(keys: KeyRing) -> str:
    if keys.enabled:
        return f"API keys required ({len(keys.keys)} key(s), {len(keys.tenants)} tenant(s))"
    return "single default tenant, no API keys configured: every caller has full access"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[State]:
    settings: Settings = app.state.settings
    logger.info("loading the catalog and the stores in %s", settings.data_dir.resolve())
    services = build_services(settings)
    _limit_request_threads(settings.request_threads)
    metrics = app.state.metrics = Metrics()
    metrics.watch(services)
    lag_watch = asyncio.create_task(metrics.watch_loop_lag(), name="loop-lag")
    # Before any request: it settles the jobs a previous process left unfinished. Its runners hand
    # jobs to the pool, which makes them wait for the forkserver while that warms up.
    await services.manager.start()
    access = _access_description(services.keys)
    warming: asyncio.Task[None] | None = None
    if settings.warm_up_before_serving:
        await warm_workers(services, access)
    else:
        # The pool's warm-up (numpy, pyarrow, the numba kernels: seconds) runs while uvicorn binds and
        # /healthz answers; /readyz says "starting" until it is done (API.md).
        warming = asyncio.create_task(warm_workers(services, access), name="warm-workers")
    # Everything loaded so far (numpy, pyarrow, the app: ~100k objects) lives as long as the
    # process. Frozen, it is left out of garbage collection, whose full passes over it paused the
    # event loop for ~100 ms and set the p99 of every request under load.
    gc.freeze()
    try:
        yield {"services": services, "metrics": metrics}
    finally:
        if warming is not None:
            warming.cancel()
        lag_watch.cancel()
        await services.manager.stop()
        if isinstance(services.pool, ClosesAsync):  # the Dask client, after its jobs were stopped
            await services.pool.close()
        services.catalog.close()
        logger.info("sparsefit stopped")


def create_app(settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="Sparsefit",
        version=service.__version__,
        summary="Sparse linear models (lasso, ridge, elastic net) with paths and CV, over HTTP.",
        lifespan=lifespan,
        responses=INTERNAL_ERROR_RESPONSE,
        # The operationId of every route is its function name (`create_job`, `get_model`, ...).
        generate_unique_id_function=lambda route: route.name,
        # /docs and /redoc come from service.api.ui, with Swagger UI and ReDoc served by the app
        # itself: FastAPI's own pages load them from a CDN and are blank without internet.
        docs_url=None,
        redoc_url=None,
        # FastAPI's native OpenTelemetry asks the global providers on every request whether to
        # record it (~30 us of a 300 us prediction); the service has its own /metrics and logs.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings if settings is not None else Settings()
    # Innermost: the gate has judged the key and the body's size before it takes a prediction.
    app.add_middleware(PredictionFastPath)
    # Added first, so it runs inside RequestContext: a refused request still has an id and is counted.
    app.add_middleware(RequestGate)
    app.add_middleware(RequestContext)
    install_problem_handlers(app)
    # Every /v1 route needs the caller's tenant, so a missing key is a 401 even where the route itself
    # does not use the tenant; operational routes stay open (API.md).
    for router in (datasets.router, jobs.router, models.router, selections.router, exports.router):
        app.include_router(router, dependencies=[Depends(require_tenant)], responses=problem_responses(401))
    app.include_router(ops.router)
    app.include_router(metrics.router)
    install_ui(app)  # the page at /ui (GET / leads there), its static files, /docs and /redoc
    return app
