"""Prometheus metrics: request counts and latencies per route, and the job queue, at GET /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any, cast

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from service.api.deps import Services
from service.store.records import JobStatus

router = APIRouter(tags=["operations"])
LOOP_LAG_INTERVAL_S = 0.1
# The route label of requests refused by the HTTP protocol for their head (no route was matched).
REFUSED_HEAD_ROUTE = "(request head)"

# Latency buckets from 1 ms (health checks) to a minute (a large upload).
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _JobCollector(Collector):
    """Job gauges read at scrape time, so they can never drift from the catalog and the pool."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("sparsefit_jobs", "Jobs in the catalog by status.", labels=["status"])
        for status in JobStatus:
            jobs.add_metric([status.value], self._services.catalog.count_jobs([status]))
        yield jobs
        yield GaugeMetricFamily(
            "sparsefit_queue_depth", "Jobs waiting for a worker.", value=self._services.manager.queued
        )
        yield GaugeMetricFamily(
            "sparsefit_workers_busy", "Worker slots running a job.", value=self._services.pool.running_jobs
        )
        yield GaugeMetricFamily(
            "sparsefit_workers", "Worker slots (SPARSEFIT_WORKERS).", value=self._services.pool.size
        )


class Metrics:
    """One registry per app (no process-global state), so tests and apps never share counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # The (counter, histogram) children of each (method, route template, status) answered.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.requests = Counter(
            "sparsefit_http_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "sparsefit_event_loop_lag_seconds",
            "How late the event loop woke a task that slept 0.1 s: every request waits at least this long.",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "sparsefit_http_request_duration_seconds",
            "Time to the response's headers, by route template.",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )

    async def watch_loop_lag(self, interval_s: float = LOOP_LAG_INTERVAL_S) -> None:
        """Sleep ``interval_s`` again and again and record each oversleep, until cancelled."""
        while True:
            started = time.perf_counter()
            await asyncio.sleep(interval_s)
            self.loop_lag.observe(max(time.perf_counter() - started - interval_s, 0.0))

    def observe_refused_head(self, status: int) -> None:
        """Count a request the HTTP protocol refused before any route saw it (400, 414, 431)."""
        self.requests.labels("-", REFUSED_HEAD_ROUTE, str(status)).inc()

    def watch(self, services: Services) -> None:
        self.registry.register(_JobCollector(services))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request; ``route`` is the route template, never the raw path, so ids and
        probing paths cannot grow the label set."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            # labels() costs two dict lookups and a lock per call; a route's children are kept.
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
)
def get_metrics(request: Request) -> Response:
    """Prometheus text exposition; open like /healthz (API.md)."""
    metrics = cast(Metrics, request.app.state.metrics)
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
