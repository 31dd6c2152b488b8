"""service.logs: the JSON and text formats, the context fields, and job processes logging alike."""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service import logs


def _record(message: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("service.test", logging.WARNING, __file__, 1, message, args or ("you",), None)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_json_line_has_time_level_logger_message_and_fields() -> None:
    record = _record(duration_ms=1.5, status=201, secret_header="not chosen", color_message="x")
    with logs.bound(request_id="r1", tenant="acme"):
        logs.ContextFilter().filter(record)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "hello you" and line["logger"] == "service.test" and line["level"] == "warning"
    assert line["time"].endswith("Z") and line["time"][10] == "T"
    assert (line["request_id"], line["tenant"], line["duration_ms"], line["status"]) == (
        "r1",
        "acme",
        1.5,
        201,
    )
    assert "secret_header" not in line and "color_message" not in line  # only chosen fields are written


def test_extra_fields_win_over_the_context() -> None:
    record = _record(job_id="from-extra")
    with logs.bound(job_id="from-context", model_id="m1"):
        logs.ContextFilter().filter(record)
    line = json.loads(logs.JsonFormatter().format(record))
    assert (line["job_id"], line["model_id"]) == ("from-extra", "m1")


def test_json_line_carries_the_traceback_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("service.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = logs.JsonFormatter().format(record)
    assert "\n" not in text and "ValueError: boom" in json.loads(text)["exception"]


def test_text_line_ends_with_the_context_fields() -> None:
    record = _record(duration_ms=3.0)
    with logs.bound(request_id="r2", tenant="acme"):
        logs.ContextFilter().filter(record)
    text = logs.TextFormatter().format(record)
    assert text.endswith("service.test: hello you request_id=r2 tenant=acme")


def test_a_tenant_added_in_a_worker_thread_reaches_the_request_context() -> None:
    # Sync dependencies (the key check) run in a thread with a copy of the context.
    async def request() -> dict[str, str]:
        logs.bind(request_id="r3")
        await asyncio.to_thread(logs.add_fields, tenant="acme")
        return logs.current()

    assert asyncio.run(request()) == {"request_id": "r3", "tenant": "acme"}


def test_log_format_values() -> None:
    assert logs.log_format("json") == "json" and logs.log_format(" JSON ") == "json"
    assert logs.log_format(None) == "text" and logs.log_format("xml") == "text"


def _log_in_child(path: str) -> None:
    """A job process's start: its log lines go to ``path`` (stderr in the service)."""
    sys.stderr = open(path, "w")  # noqa: SIM115 - closed when the process ends
    logs.configure_job_process(job_id="j1", model_id="m1", dataset_id="d1", tenant="acme")
    logging.getLogger("service.worker").info("fitting")
    sys.stderr.flush()


def test_job_processes_log_in_the_web_process_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(logs.FORMAT_VARIABLE, "json")
    monkeypatch.setenv(logs.LEVEL_VARIABLE, "info")
    target = tmp_path / "child.log"
    # spawn, not the forkserver: a forkserver another test started earlier keeps the environment it
    # started with (in the service, logging is configured before the forkserver starts).
    process = multiprocessing.get_context("spawn").Process(target=_log_in_child, args=(str(target),))
    process.start()
    process.join(60)
    assert process.exitcode == 0
    [line] = [json.loads(text) for text in target.read_text().splitlines()]
    assert (line["message"], line["logger"], line["level"]) == ("fitting", "service.worker", "info")
    assert (line["job_id"], line["model_id"], line["dataset_id"], line["tenant"]) == (
        "j1",
        "m1",
        "d1",
        "acme",
    )


def test_configure_job_process_leaves_the_web_process_alone() -> None:
    handlers = list(logging.getLogger().handlers)
    logs.configure_job_process(job_id="j2")  # in the test process itself, as run_fit_job in-process
    assert logging.getLogger().handlers == handlers and logs.current().get("job_id") != "j2"


def test_request_ids_that_could_break_a_log_line_are_replaced(client: TestClient) -> None:
    kept = client.get("/healthz", headers={"X-Request-ID": "trace-abc_1:2"})
    assert kept.headers["x-request-id"] == "trace-abc_1:2"
    replaced = client.get("/healthz", headers={"X-Request-ID": 'a "quoted" id'})
    assert len(replaced.headers["x-request-id"]) == 32 and '"' not in replaced.headers["x-request-id"]


def test_the_access_line_keeps_the_path_encoded_and_drops_the_query(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service.access"):
        client.get("/healthz/%0Aforged?token=query-secret")
    [record] = [r for r in caplog.records if r.name == "service.access"]
    assert getattr(record, "path") == "/healthz/%0Aforged"  # noqa: B009 - an extra= field
    assert getattr(record, "status") == 404  # noqa: B009
    assert "\n" not in record.getMessage() and "query-secret" not in record.getMessage()
