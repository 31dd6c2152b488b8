"""Predictions answered in chunks of rows and streamed in pieces: the same documents and problems as whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.api import prediction_answer
from service.app import create_app
from service.config import Settings
from tests.conftest import csv_bytes, run_job, upload


@pytest.fixture
def chunked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Designs of a few rows per chunk and answers of 7 predictions per streamed piece."""
    monkeypatch.setattr(prediction_answer, "DESIGN_CHUNK_BYTES", 8 * 8 * 5)
    monkeypatch.setattr(prediction_answer, "ROWS_PER_PIECE", 7)
    yield


def _model(client: TestClient, csv: bytes, **job: Any) -> str:
    dataset = upload(client, csv)
    done = run_job(client, {"dataset_id": dataset["id"], "target": "y", "cv": None, **job})
    assert done["status"] == "succeeded", done
    return str(done["model_id"])


def _predict(client: TestClient, model_id: str, body: dict[str, Any]) -> Any:
    answer = client.post(f"/v1/models/{model_id}/predictions", json=body)
    assert answer.status_code == 200, answer.text
    return answer


def _table(n: int, seed: int) -> tuple[list[str], list[list[Any]]]:
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "green", "blue"], n)
    x = np.round(rng.standard_normal((n, 2)), 4)
    y = x @ [1.5, -2.0] + np.where(colour == "red", 2.0, 0.0) + 0.1 * rng.standard_normal(n)
    rows = [[str(c), float(a), float(b), float(t)] for c, (a, b), t in zip(colour, x, y, strict=True)]
    return ["colour", "a", "b", "y"], rows


@pytest.mark.parametrize("family", ["gaussian", "multinomial"])
def test_chunked_and_streamed_answers_equal_whole_ones(
    client: TestClient, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    names, rows = _table(200, 1)
    if family == "multinomial":
        rows = [[*row[:3], ["low", "mid", "high"][int(row[3] > 0) + int(row[3] > 2)]] for row in rows]
    model_id = _model(client, csv_bytes(names, rows), family=family)
    body = {"columns": ["b", "colour", "a"], "data": [[r[2], r[0], r[1]] for r in rows[:101]]}
    whole = _predict(client, model_id, body)
    assert "content-length" in whole.headers  # an ordinary answer is one piece, with its length
    monkeypatch.setattr(prediction_answer, "DESIGN_CHUNK_BYTES", 8 * 8 * 5)
    monkeypatch.setattr(prediction_answer, "ROWS_PER_PIECE", 7)
    pieces = _predict(client, model_id, body)
    assert "content-length" not in pieces.headers  # streamed: more than one piece of 7 rows
    assert pieces.json() == whole.json()
    document = pieces.json()
    assert len(document["predictions"]) == 101
    if family == "multinomial":
        assert document["classes"] == ["high", "low", "mid"]
        assert np.array(document["probabilities"]).shape == (101, 3)
    else:
        assert document["probabilities"] is None and document["classes"] is None


@pytest.mark.usefixtures("chunked")
def test_a_problem_in_a_later_chunk_names_the_first_feature_and_row_of_the_whole_table(
    client: TestClient,
) -> None:
    names, rows = _table(120, 2)
    model_id = _model(client, csv_bytes(names, rows))
    data: list[list[Any]] = [[r[0], r[1], r[2]] for r in rows[:60]]
    data[2][2] = None  # b, the model's third feature: missing in the first chunk
    data[40][1] = None  # a, its second: missing in a later chunk, and named first by the whole table
    answer = client.post(
        f"/v1/models/{model_id}/predictions", json={"columns": ["colour", "a", "b"], "data": data}
    )
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"] == "/problems/invalid-data"
    assert (problem["column"], problem["row"]) == ("a", 41)


@pytest.fixture
def few_rows_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", workers=1, max_rows=250, max_body_bytes=4_000_000)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("form", ["json rows", "csr", "csv"])
def test_more_rows_than_max_rows_is_a_413_in_every_form(few_rows_client: TestClient, form: str) -> None:
    names, rows = _table(200, 3)
    model_id = _model(few_rows_client, csv_bytes(names, rows))
    n = 251
    url = f"/v1/models/{model_id}/predictions"
    if form == "json rows":
        answer = few_rows_client.post(
            url, json={"columns": ["colour", "a", "b"], "data": [["red", 1, 2]] * n}
        )
    elif form == "csr":
        sparse = {"shape": [n, 2], "indptr": list(range(n + 1)), "indices": [0] * n, "data": [1.0] * n}
        answer = few_rows_client.post(url, json={"columns": ["a", "b"], "sparse": sparse})
    else:
        answer = few_rows_client.post(
            url, content=b"colour,a,b\n" + b"red,1,2\n" * n, headers={"Content-Type": "text/csv"}
        )
    assert answer.status_code == 413, answer.text
    problem = answer.json()
    assert (problem["type"], problem["limit"], problem["maximum"]) == (
        "/problems/table-too-large",
        "max_rows",
        250,
    )
    within = few_rows_client.post(url, json={"columns": ["colour", "a", "b"], "data": [["red", 1, 2]] * 250})
    assert within.status_code == 200 and len(within.json()["predictions"]) == 250
