"""GET /v1/models/{id}, the list and /path?features=: documents written as bytes read as the schema says."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.api.documents import model_json, models_page_json
from service.api.schemas import ModelList, ModelRead, PathRead
from service.store.records import ModelText
from tests.conftest import csv_bytes, run_job, upload


@pytest.fixture
def model_id(client: TestClient) -> str:
    """A lasso path on a table with a categorical feature: design columns colour=blue, colour=green, ..."""
    rng = np.random.default_rng(5)
    n = 120
    colour = rng.choice(["blue", "green", "red"], n)
    x, z = rng.standard_normal(n), rng.standard_normal(n)
    y = 2.0 * x - z + np.where(colour == "red", 1.5, 0.0) + 0.1 * rng.standard_normal(n)
    rows = [[c, float(a), float(b), float(t)] for c, a, b, t in zip(colour, x, z, y, strict=True)]
    dataset = upload(client, csv_bytes(["colour", "x", "z", "y"], rows))
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "cv": None, "path": {"n_alphas": 30}})
    assert job["status"] == "succeeded", job
    return str(job["model_id"])


def _path(client: TestClient, model_id: str, features: str | None = None) -> dict[str, Any]:
    params = {} if features is None else {"features": features}
    response = client.get(f"/v1/models/{model_id}/path", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return dict(response.json())


def test_get_model_path_features_returns_exactly_those(client: TestClient, model_id: str) -> None:
    full = _path(client, model_id)
    assert list(full["coefficients"]) == ["colour=blue", "colour=green", "colour=red", "x", "z"]
    picked = _path(client, model_id, "z,colour=red,z")
    assert list(picked["coefficients"]) == ["z", "colour=red"]  # in the order named, each once
    assert picked["coefficients"] == {k: full["coefficients"][k] for k in ("z", "colour=red")}
    assert {k: v for k, v in picked.items() if k != "coefficients"} == {
        k: v for k, v in full.items() if k != "coefficients"
    }
    # A categorical feature's name brings every level's column.
    levels = _path(client, model_id, "colour")
    assert list(levels["coefficients"]) == ["colour=blue", "colour=green", "colour=red"]
    assert PathRead.model_validate(picked).model_dump(mode="json") == picked


def test_get_model_path_multinomial_has_a_list_per_class(client: TestClient, iris_csv: bytes) -> None:
    dataset = upload(client, iris_csv)
    body = {"dataset_id": dataset["id"], "target": "species", "family": "multinomial", "cv": None}
    job = run_job(client, {**body, "path": {"n_alphas": 10}})
    assert job["status"] == "succeeded", job
    path = _path(client, job["model_id"], "petal_width")
    [rows] = path["coefficients"].values()
    assert len(rows) == len(path["alphas"]) and all(len(row) == 3 for row in rows)
    assert any(v != 0 for row in rows for v in row)
    assert PathRead.model_validate(path).model_dump(mode="json") == path


@pytest.mark.parametrize(("features", "named"), [("x,nope", "nope"), ("colour=purple", "colour=purple")])
def test_get_model_path_unknown_feature_is_422_naming_it(
    client: TestClient, model_id: str, features: str, named: str
) -> None:
    response = client.get(f"/v1/models/{model_id}/path", params={"features": features})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/validation" and problem["feature"] == named
    assert problem["errors"][0]["loc"] == ["query", "features"]


def test_get_model_document_is_a_model_read(client: TestClient, model_id: str) -> None:
    response = client.get(f"/v1/models/{model_id}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    # Nothing missing, nothing extra, every value of the schema's type: the round trip changes nothing.
    assert ModelRead.model_validate(body).model_dump(mode="json") == body
    assert body["id"] == model_id and [c["feature"] for c in body["coefficients"]][-1] == "z"
    page = client.get("/v1/models").json()
    assert ModelList.model_validate(page).model_dump(mode="json") == page
    assert page["total"] == 1 and page["items"] == [body]


def _summary(value: float) -> dict[str, Any]:
    return {
        "family": "gaussian",
        "penalty": "lasso",
        "alpha": 0.1,
        "l1_ratio": 1.0,
        "target": "y",
        "classes": None,
        "intercept": 1.5,
        "coefficients": [{"feature": "x", "value": value, "standardized": 0.25}],
        "selected_features": ["x"],
        "metrics": {"train": {"r2": 0.5, "mse": 2.0}, "cv": None},
        "selection": None,
        "convergence": {"converged": True, "n_iter": 3, "dual_gap": 1e-9},
        "versions": {"sparsefit": "0.1.0"},
    }


def _stored(summary: dict[str, Any]) -> ModelText:
    # json.dumps as the catalog writes it: NaN and Infinity come out as bare tokens.
    return ModelText("a" * 32, None, "b" * 32, "c" * 32, "2026-12-07T00:00:00.000000Z", json.dumps(summary))


def _strict(body: bytes) -> Any:
    def refuse(token: str) -> Any:
        raise AssertionError(f"{token} is not JSON")

    return json.loads(body, parse_constant=refuse)


def test_model_json_splices_the_stored_summary() -> None:
    stored = _stored(_summary(0.75))
    document = _strict(model_json(stored))
    ids = {"id": "a" * 32, "name": None, "job_id": "b" * 32, "dataset_id": "c" * 32}
    assert document == {**ids, "created_at": stored.created_at, **_summary(0.75)}
    page = _strict(models_page_json([stored, stored], 7))
    assert page == {"items": [document, document], "total": 7}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_model_json_writes_a_non_finite_number_as_null(value: float) -> None:
    document = _strict(model_json(_stored(_summary(value))))
    assert document["coefficients"][0]["value"] is None
    assert document["alpha"] == 0.1 and document["id"] == "a" * 32
