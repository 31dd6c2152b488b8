"""SPARSEFIT_LOG_FORMAT=json on a real server: every line is one JSON object, and no secret leaks."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import REPO, Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEY = "k3y-that-must-never-be-logged-5f1c"
BAD_KEY = "wrong-key-that-must-never-be-logged-77"
# Written into an uploaded body (a categorical value) and a query string: neither may reach the log.
BODY_MARKER = "body-marker-9d2e41"
QUERY_MARKER = "query-marker-c0ffee"
RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _csv_with_marker() -> bytes:
    lines = (REPO / "examples" / "diabetes.csv").read_text().splitlines()
    # A categorical column whose values hold the marker: the body is parsed and stored, never logged.
    rows = [f"{line},{'group' if i == 0 else BODY_MARKER + str(i % 2)}" for i, line in enumerate(lines)]
    return ("\n".join(rows) + "\n").encode()


def _log_lines(server: Server) -> list[dict[str, Any]]:
    text = server.log()
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for number, line in enumerate(lines, start=1):
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            raise AssertionError(f"log line {number} is not JSON: {line!r}") from None
    return parsed


def _exercise(server: Server) -> dict[str, str]:
    """The requests whose log lines the test reads; returns the request ids it saw, by name."""
    auth = {"Authorization": f"Bearer {KEY}"}
    base = server.base
    ids: dict[str, str] = {}
    with httpx.Client(timeout=60) as client:
        refused = client.get(f"{base}/v1/datasets", headers={"Authorization": f"Bearer {BAD_KEY}"})
        assert refused.status_code == 401
        ids["refused"] = refused.headers["x-request-id"]
        upload = client.post(
            f"{base}/v1/datasets?name={QUERY_MARKER}",
            content=_csv_with_marker(),
            headers={**auth, "Content-Type": "text/csv", "X-Request-ID": "upload-1"},
        )
        assert upload.status_code == 201, upload.text
        ids["upload"] = upload.headers["x-request-id"]
        dataset = upload.json()["id"]
        multipart = client.post(
            f"{base}/v1/datasets", files={"file": ("d.csv", _csv_with_marker(), "text/csv")}, headers=auth
        )
        assert multipart.status_code == 201, multipart.text
        zipped = client.post(
            f"{base}/v1/datasets",
            content=gzip.compress(_csv_with_marker()),
            headers={**auth, "Content-Type": "text/csv", "Content-Encoding": "gzip"},
        )
        assert zipped.status_code == 201, zipped.text
        job = client.post(
            f"{base}/v1/jobs", json={"dataset_id": dataset, "target": "y", "cv": None}, headers=auth
        )
        assert job.status_code == 202, job.text
        done = client.get(f"{base}/v1/jobs/{job.json()['id']}?wait=60", headers=auth).json()
        assert done["status"] == "succeeded", done
        ids["job"], ids["model"], ids["dataset"] = done["id"], done["model_id"], dataset
        predicted = client.post(
            f"{base}/v1/models/{done['model_id']}/predictions",
            json={"dataset_id": dataset},
            headers=auth,
        )
        assert predicted.status_code == 200, predicted.text
        assert client.get(f"{base}/healthz").status_code == 200
    return ids


def test_every_line_is_json_with_context_and_no_secret(tmp_path: Path) -> None:
    server = Server(
        tmp_path / "data",
        env={"SPARSEFIT_LOG_FORMAT": "json", "SPARSEFIT_API_KEYS": f"acme:{KEY}", "SPARSEFIT_WORKERS": "1"},
    )
    try:
        server.start()
        ids = _exercise(server)
        server.terminate(timeout=30)  # the shutdown lines too
    finally:
        server.cleanup()
    text = server.log()
    for secret in (KEY, BAD_KEY, BODY_MARKER, QUERY_MARKER, "Bearer", "authorization"):
        assert secret.lower() not in text.lower(), f"{secret!r} appears in the log"
    lines = _log_lines(server)
    for line in lines:
        assert RFC3339_UTC.fullmatch(line["time"]), line
        assert line["level"] in ("debug", "info", "warning", "error", "critical"), line
        assert isinstance(line["logger"], str) and isinstance(line["message"], str), line
    loggers = {line["logger"] for line in lines}
    assert "uvicorn.error" in loggers, "uvicorn's own lines are JSON too"

    access = [line for line in lines if line["logger"] == "service.access"]
    by_id = {line["request_id"]: line for line in access}
    refused = by_id[ids["refused"]]
    assert (refused["method"], refused["path"], refused["status"]) == ("GET", "/v1/datasets", 401)
    assert "tenant" not in refused  # no valid key, no tenant
    upload = by_id["upload-1"]  # the client's X-Request-ID is the logged one
    assert (upload["method"], upload["path"], upload["status"], upload["tenant"]) == (
        "POST",
        "/v1/datasets",
        201,
        "acme",
    )
    assert isinstance(upload["duration_ms"], float) and upload["duration_ms"] > 0
    stored = [line for line in lines if line.get("event") == "dataset_stored"]
    assert any(s["dataset_id"] == ids["dataset"] and s["request_id"] == "upload-1" for s in stored)

    job_lines = {
        line["event"]: line for line in lines if line.get("job_id") == ids["job"] and "event" in line
    }
    assert set(job_lines) >= {"job_queued", "job_started", "job_succeeded"}
    for line in job_lines.values():
        assert (line["model_id"], line["dataset_id"], line["tenant"]) == (
            ids["model"],
            ids["dataset"],
            "acme",
        )
    assert job_lines["job_succeeded"]["duration_ms"] > 0
    assert "request_id" in job_lines["job_queued"]  # queued by a request, run by the manager
