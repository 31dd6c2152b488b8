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


def test_a_csv_header_alone_or_an_empty_svmlight_body_predicts_nothing(client: TestClient) -> None:
    model_id = _model(client, SMALL, "gaussian")
    for body in (b"z,x\n", b"z,x", b"\xef\xbb\xbfx,z\r\n"):
        response = client.post(
            f"/v1/models/{model_id}/predictions", content=body, headers={"Content-Type": "text/csv"}
        )
        assert response.status_code == 200, (body, response.text)
        assert response.json() == {"predictions": [], "probabilities": None, "classes": None}
    missing = client.post(
        f"/v1/models/{model_id}/predictions", content=b"x\n", headers={"Content-Type": "text/csv"}
    )
    assert missing.status_code == 422 and missing.json()["missing"] == ["z"]
    svm_dataset = client.post(
        "/v1/datasets",
        content=b"1 1:0.5 2:1\n2 1:1.5\n3 2:2\n4 1:3 2:0.5\n5 1:2\n6 2:1\n",
        headers={"Content-Type": "text/x-svmlight"},
    ).json()
    job = run_job(client, {"dataset_id": svm_dataset["id"], "target": "y", "cv": None})
    for body in (b"", b"\n  \n"):
        response = client.post(
            f"/v1/models/{job['model_id']}/predictions",
            content=body,
            headers={"Content-Type": "text/x-svmlight"},
        )
        assert response.status_code == 200, (body, response.text)
        assert response.json()["predictions"] == []
