"""The client's pieces without a server: tables to JSON, the event-stream reader, job bodies, problems."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sparsefit
from sparsefit.client import job_body
from sparsefit.errors import JOB_CANCELED_PROBLEM
from sparsefit.events import Event, read_events
from sparsefit.progress import Lines
from sparsefit.uploads import file_body, json_body, table_document


def test_frame_document_keeps_kinds_and_writes_missing_as_null() -> None:
    frame = pd.DataFrame(
        {
            "x": [1.5, np.nan],
            "n": pd.array([None, 7], dtype="Int64"),
            "flag": [True, False],
            "grade": pd.Categorical([3, None]),
            "when": pd.to_datetime(["2024-01-02", None]),
            "s": ["a", None],
        },
        index=["r1", "r2"],
    )
    document = table_document(frame)
    assert document == {
        "columns": ["x", "n", "flag", "grade", "when", "s"],
        "data": [[1.5, None, True, "3", "2024-01-02T00:00:00", "a"], [None, 7.0, False, None, None, None]],
    }
    json_body(document)  # strict JSON: no NaN left


def test_array_and_sparse_documents() -> None:
    array = np.array([[1.0, np.nan], [3.0, 4.0]])
    assert table_document(array) == {"columns": ["x1", "x2"], "data": [[1.0, None], [3.0, 4.0]]}
    assert table_document(np.array([[1, 2]]), ["a", "b"])["data"] == [[1.0, 2.0]]
    with pytest.raises(ValueError, match="3 column names for 2 columns"):
        table_document(array, ["a", "b", "c"])
    with pytest.raises(ValueError, match="2-D"):
        table_document(np.arange(3.0))
    # Duplicates summed, indices sorted: the CSR the service asks for.
    coo = sp.coo_matrix(([1.0, 2.0, 5.0], ([0, 0, 1], [2, 2, 0])), shape=(2, 3))
    assert table_document(coo, ["a", "b", "c"]) == {
        "columns": ["a", "b", "c"],
        "sparse": {"shape": [2, 3], "indptr": [0, 1, 2], "indices": [2, 0], "data": [3.0, 5.0]},
    }
    with pytest.raises(TypeError, match="cannot send a int"):
        table_document(3)


def test_file_body_decompresses_gzip_and_refuses_unknown_suffixes(tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"a,y\n1,2\n"))
    body = file_body(path)
    assert (body.content, body.media_type) == (b"a,y\n1,2\n", "text/csv")
    other = tmp_path / "t.xlsx"
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match="not a table file"):
        file_body(other)


def test_read_events_follows_the_event_stream_rules() -> None:
    stream = [
        ": keep-alive",
        "",
        "event: progress",
        'data: {"fraction": 0.5,',
        'data:  "stage": "cv"}',
        "",
        "data: unnamed\r",
        "",
        "event: status",
        "",  # no data: not dispatched
        "event: status",
        "data: cut off",  # no blank line before the end: dropped
    ]
    events = list(read_events(stream))
    assert events == [
        Event("progress", '{"fraction": 0.5,\n "stage": "cv"}'),
        Event("message", "unnamed"),
    ]
    assert events[0].json() == {"fraction": 0.5, "stage": "cv"}


def test_job_body_cv_shorthands() -> None:
    assert job_body("d", "y", {"cv": 5})["cv"] == {"folds": 5}
    assert job_body("d", "y", {"cv": True})["cv"] == {}
    assert job_body("d", "y", {"cv": False})["cv"] is None
    assert "cv" not in job_body("d", "y", {"penalty": "ridge"})
    assert job_body("d", "y", {"cv": {"folds": 3, "rule": "min"}})["cv"] == {"folds": 3, "rule": "min"}


def test_problem_answers_become_sparsefit_errors() -> None:
    problem = {"type": "/problems/not-found", "title": "Not Found", "status": 404, "detail": "no model x"}

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models/x":
            return httpx.Response(404, json=problem, headers={"Content-Type": "application/problem+json"})
        return httpx.Response(502, text="<html>bad gateway</html>")

    with sparsefit.Client("http://sparsefit.test", transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(sparsefit.SparsefitError) as caught:
            client.model("x")
        assert caught.value.problem == problem and caught.value.status == 404
        assert str(caught.value) == "404 Not Found: no model x"
        with pytest.raises(sparsefit.SparsefitError) as gateway:
            client.models()
        assert (gateway.value.status, gateway.value.type) == (502, "about:blank")
        assert "bad gateway" in gateway.value.detail


def test_lines_progress_prints_each_stage_and_tenth_once() -> None:
    out = io.StringIO()
    lines = Lines("job 1234", out)
    for fraction, stage in [(0.0, "queued"), (0.01, "queued"), (0.15, "cv"), (0.16, "cv"), (1.0, "done")]:
        lines.update(fraction, stage, None)
    assert out.getvalue().splitlines() == [
        "job 1234 queued:   0%",
        "job 1234 cv:  15%",
        "job 1234 done: 100%",
    ]


def _job(status: str, fraction: float, error: dict[str, Any] | None = None) -> dict[str, Any]:
    progress = {"fraction": fraction, "stage": status, "message": None}
    return {"id": "j" * 32, "status": status, "progress": progress, "model_id": None, "error": error}


def test_a_canceled_job_raises_after_its_events() -> None:
    stream = "".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n"
        for name, data in [
            ("progress", _job("running", 0.3)["progress"]),
            ("status", _job("running", 0.3)),
            ("status", _job("canceled", 0.3)),
        ]
    )
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            assert json.loads(request.content) == {"dataset_id": "d" * 32, "target": "y", "cv": {"folds": 3}}
            return httpx.Response(202, json=_job("queued", 0.0))
        return httpx.Response(200, text=stream, headers={"Content-Type": "text/event-stream"})

    client = sparsefit.Client("http://sparsefit.test", transport=httpx.MockTransport(answer))
    with client, pytest.raises(sparsefit.SparsefitError) as caught:
        client.fit("d" * 32, target="y", cv=3)
    assert caught.value.type == JOB_CANCELED_PROBLEM and caught.value.problem["job_id"] == "j" * 32
    assert seen == ["POST /v1/jobs", f"GET /v1/jobs/{'j' * 32}/events"]
