"""The load test's short version (bench/load.py): 20 clients for 10 s, correctness only, no timing."""

from __future__ import annotations

import asyncio

import pytest

from bench.load import run_load
from bench.load_report import LoadReport
from tests.e2e.conftest import Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def describe(report: LoadReport, server: Server) -> str:
    """What a failure message needs: the error examples, the losses and the server's log tail."""
    errors = {kind: found[:5] for kind, found in report.errors().items() if found}
    return f"errors: {errors}\nlost: {report.objects.lost_examples}\nserver log:\n{server.log()[-4000:]}"


def test_load_short_run_loses_nothing(server: Server) -> None:
    report = asyncio.run(run_load(server.base, clients=20, duration_s=10.0))
    errors = report.errors()
    context = describe(report, server)
    assert errors["server_5xx"] == [], context
    assert errors["transport"] == [], context
    assert errors["unexpected_4xx"] == [], context
    assert report.bad_answers == [], context
    assert report.jobs.accepted > 0 and report.jobs.unfinished == 0, context
    assert report.jobs.failed == 0, report.jobs.failure_types
    assert report.objects.lost == 0, context
    assert report.objects.datasets_verified == report.objects.datasets_stored > 0
    assert report.objects.models_verified == report.objects.models_stored > 0
    mix = report.mix()
    assert all(mix[action] > 0 for action in ("uploads", "jobs", "polls", "predictions")), mix
