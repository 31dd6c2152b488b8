"""Predicting no rows answers 200 with empty lists; the columns are still checked against the model."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import run_job, upload

SMALL = b"x,z,y\n1,a,1.5\n2,b,2.5\n3,a,3.1\n4,b,4.2\n5,a,5.0\n6,b,6.3\n"
LABELS = b"x,z,y\n1,a,no\n2,b,yes\n3,a,no\n4,b,yes\n5,a,no\n6,b,yes\n7,a,no\n8,b,yes\n"


def _model(client: TestClient, csv: bytes, family: str) -> str:
    dataset = upload(client, csv)
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "family": family, "cv": None})
    assert job["status"] == "succeeded", job
    return str(job["model_id"])


def test_prediction_of_no_rows_is_an_empty_answer(client: TestClient) -> None:
    model_id = _model(client, SMALL, "gaussian")
    for body in (
        {"columns": ["x", "z"], "data": []},
        {"columns": ["z", "x"], "sparse": {"shape": [0, 2], "indptr": [0], "indices": [], "data": []}},
    ):
        response = client.post(f"/v1/models/{model_id}/predictions", json=body)
        assert response.status_code == 200, response.text
        assert response.json() == {"predictions": [], "probabilities": None, "classes": None}


def test_prediction_of_no_rows_for_a_classifier_keeps_its_classes(client: TestClient) -> None:
    model_id = _model(client, LABELS, "binomial")
    response = client.post(f"/v1/models/{model_id}/predictions", json={"columns": ["x", "z"], "data": []})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": [], "probabilities": [], "classes": ["no", "yes"]}


def test_prediction_of_no_rows_still_needs_the_model_columns(client: TestClient) -> None:
    model_id = _model(client, SMALL, "gaussian")
    response = client.post(f"/v1/models/{model_id}/predictions", json={"columns": ["x"], "data": []})
    assert response.status_code == 422 and response.json()["type"] == "/problems/feature-mismatch"
    assert response.json()["missing"] == ["z"]
    duplicate = client.post(f"/v1/models/{model_id}/predictions", json={"columns": ["x", "x"], "data": []})
    assert duplicate.status_code == 422, duplicate.text
