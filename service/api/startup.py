"""Start-up in the open: the worker pool warms up while the service already answers, and says so."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import os
import time

import service
from service.api.deps import Services
from service.jobs.executor import ExplainsReadiness

logger = logging.getLogger("service.startup")

# When this module was imported: the fallback origin of "ready in X s" where /proc is not there.
_IMPORTED = time.monotonic()

# What request handling would otherwise import on first use, after start-up's gc.freeze(): pyarrow's
# Parquet reader imports pandas (when installed) on its first upload. Its ~10k functions and types,
# left unfrozen, made every full collection under `make load` pause the loop for 50-165 ms (healthz
# p99 73 -> 128 ms). Imported here once the workers are up, then frozen with the rest.
LATE_IMPORTS = ("pandas",)


def import_late_modules() -> None:
    for name in LATE_IMPORTS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def process_age_s() -> float:
    """Seconds since this process was started (exec included), so "ready in" counts the imports too."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            # Field 22, after the parenthesized command name (which may hold spaces), in clock ticks.
            start_ticks = int(stat.read().rsplit(b")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic() - _IMPORTED


def workers_check(services: Services) -> str:
    """The ``workers`` value of /readyz: ``ok`` once the pool is up."""
    pool = services.pool
    if pool.started:
        return "ok"
    if pool.starting:
        return "starting: preloading numpy, pyarrow and the numba kernels"
    if isinstance(pool, ExplainsReadiness):  # the Dask executor names its scheduler connection
        return f"failed: {pool.not_ready_reason() or 'worker pool not started'}"
    return "failed: worker pool not started"


async def warm_workers(services: Services, access: str) -> None:
    """Start the worker pool in a thread, then log that the service is ready (or that it is not)."""
    pool = services.pool
    # Flagged before the thread runs: a job dequeued in between must already wait for the pool.
    pool.starting = True
    logger.info(
        "starting %d worker(s) (preloading numpy, pyarrow and the numba kernels); /readyz is 503 until then",
        pool.size,
    )
    try:
        await asyncio.to_thread(pool.start)
    finally:
        pool.starting = False  # start() clears it too; this also covers a start() that never set it
    await asyncio.to_thread(import_late_modules)
    gc.freeze()  # again: what the imports and the warm-up loaded lives as long as the process
    if not pool.started:
        logger.error("the worker pool did not start: jobs cannot run and /readyz stays 503")
        return
    logger.info(
        "sparsefit %s ready in %.1f s: data in %s, %d worker(s), %s",
        service.__version__,
        process_age_s(),
        services.settings.data_dir.resolve(),
        pool.size,
        access,
    )
