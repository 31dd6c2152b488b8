"""Numbers in a request are JSON numbers: a number sent as a string is a 422 naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import upload

SMALL = b"x,z,y\n1,0,1.5\n2,1,2.5\n3,0,3.1\n4,1,4.2\n5,0,5.0\n6,1,6.3\n"


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"alpha": "0.1"}, ["body", "alpha"]),
        ({"alpha": True}, ["body", "alpha"]),
        ({"penalty": "elasticnet", "l1_ratio": "0.5"}, ["body", "l1_ratio"]),
        ({"penalty_factors": {"x": "0"}}, ["body", "penalty_factors", "x"]),
        ({"bounds": {"x": ["-1", None]}}, ["body", "bounds", "x", 0]),
        ({"path": {"n_alphas": "10"}}, ["body", "path", "n_alphas"]),
        ({"path": {"alpha_min_ratio": "0.01"}}, ["body", "path", "alpha_min_ratio"]),
        ({"cv": {"folds": "3"}}, ["body", "cv", "folds"]),
        ({"cv": {"seed": "1"}}, ["body", "cv", "seed"]),
        ({"solver": {"tol": "1e-4"}}, ["body", "solver", "tol"]),
        ({"solver": {"max_iter": "100"}}, ["body", "solver", "max_iter"]),
        ({"max_features": "2"}, ["body", "max_features"]),
        ({"max_runtime_s": "5"}, ["body", "max_runtime_s"]),
    ],
)
def test_create_job_number_sent_as_text_is_422_naming_the_field(
    client: TestClient, change: dict[str, Any], loc: list[Any]
) -> None:
    dataset = upload(client, SMALL)
    body = {"dataset_id": dataset["id"], "target": "y", "cv": None, **change}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/validation"
    assert problem["errors"][0]["loc"][: len(loc)] == loc
    assert client.get("/v1/jobs").json()["total"] == 0


@pytest.mark.parametrize(
    "change",
    [
        {"alpha": 1},  # an integer where a float is expected
        {"alpha": 2, "max_runtime_s": 60, "penalty": "ridge", "l1_ratio": 0},
        {"alpha": 1, "penalty_factors": {"x": 0}, "bounds": {"z": [-1, 2]}},
        {"alpha": 1, "path": {"n_alphas": 10.0}, "solver": {"max_iter": 1000}},  # 10.0 is an integer
        {"cv": {"folds": 3, "seed": 1}, "path": {"alpha_min_ratio": 0.01, "n_alphas": 5}},
    ],
)
def test_create_job_integers_are_numbers_where_floats_are_expected(
    client: TestClient, change: dict[str, Any]
) -> None:
    dataset = upload(client, SMALL)
    body = {"dataset_id": dataset["id"], "target": "y", "cv": None, **change}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text


def test_create_prediction_alpha_as_text_is_422(client: TestClient) -> None:
    dataset = upload(client, SMALL)
    job = client.post("/v1/jobs", json={"dataset_id": dataset["id"], "target": "y", "cv": None}).json()
    model_id = client.get(f"/v1/jobs/{job['id']}?wait=30").json()["model_id"]
    rows = {"columns": ["x", "z"], "data": [[1, 0]]}
    refused = client.post(f"/v1/models/{model_id}/predictions", json={**rows, "alpha": "0.1"})
    assert refused.status_code == 422 and refused.json()["type"] == "/problems/validation"
    assert refused.json()["errors"][0]["loc"][-1] == "alpha"
