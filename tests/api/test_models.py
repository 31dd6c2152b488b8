"""Models through the API: path and CV documents, predictions in every form, classification, encodings."""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import run_job, upload


@pytest.fixture
def diabetes_model(client: TestClient, diabetes_csv: bytes) -> dict[str, Any]:
    dataset = upload(client, diabetes_csv)
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "cv": {"folds": 5}})
    assert job["status"] == "succeeded", job
    model = dict(client.get(f"/v1/models/{job['model_id']}").json())
    model["_dataset"] = dataset
    return model


def test_get_model_path_and_cv_documents(client: TestClient, diabetes_model: dict[str, Any]) -> None:
    path = client.get(f"/v1/models/{diabetes_model['id']}/path").json()
    alphas = path["alphas"]
    # The generated grid has 100 alphas; like glmnet, the path stops once the deviance ratio
    # saturates (diabetes: it gains < 1e-5 per step well before the end of the grid).
    m = len(alphas)
    assert 10 < m < 100 and alphas == sorted(alphas, reverse=True)
    gains = np.diff(path["deviance_ratio"])
    assert gains[-1] < 1e-5 * path["deviance_ratio"][-1] and np.all(
        gains[:-1] >= 1e-5 * np.array(path["deviance_ratio"][1:-1])
    )
    assert path["n_selected"][0] == 0 and path["n_selected"][-1] == 10
    assert set(path["coefficients"]) == {c["feature"] for c in diabetes_model["coefficients"]}
    assert all(len(v) == m for v in path["coefficients"].values())
    assert path["deviance_ratio"][0] == pytest.approx(0.0, abs=1e-12) and path["deviance_ratio"][-1] > 0.4
    cv = client.get(f"/v1/models/{diabetes_model['id']}/cv").json()
    assert cv["metric"] == "mse" and cv["alphas"] == alphas and len(cv["folds"]) == 5
    best = int(np.argmin(cv["mean"]))
    assert cv["alpha_min"] == alphas[best] == diabetes_model["selection"]["alpha_min"]
    within = [a for a, m in zip(alphas, cv["mean"], strict=True) if m <= cv["mean"][best] + cv["se"][best]]
    assert cv["alpha_1se"] == max(within) == diabetes_model["alpha"]
    assert len(cv["fold_ids"]) == 442


def _columns_data(csv_text: bytes, order: list[str]) -> dict[str, Any]:
    rows = list(csv.DictReader(io.StringIO(csv_text.decode())))[:20]
    return {"columns": order, "data": [[float(r[c]) for c in order] for r in rows]}


def test_create_prediction_json_any_order_csv_and_dataset_agree(
    client: TestClient, diabetes_model: dict[str, Any], diabetes_csv: bytes
) -> None:
    url = f"/v1/models/{diabetes_model['id']}/predictions"
    reordered = ["s6", "bmi", "age", "sex", "bp", "s1", "s2", "s3", "s4", "s5", "y"]
    from_json = client.post(url, json=_columns_data(diabetes_csv, reordered))
    assert from_json.status_code == 200, from_json.text
    head = b"\n".join(diabetes_csv.split(b"\n")[:21]) + b"\n"
    from_csv = client.post(url, content=head, headers={"Content-Type": "text/csv"}).json()
    from_dataset = client.post(url, json={"dataset_id": diabetes_model["_dataset"]["id"]}).json()
    np.testing.assert_allclose(from_json.json()["predictions"], from_csv["predictions"], rtol=1e-12)
    np.testing.assert_allclose(from_dataset["predictions"][:20], from_csv["predictions"], rtol=1e-12)
    coef = {c["feature"]: c["value"] for c in diabetes_model["coefficients"]}
    rows = list(csv.DictReader(io.StringIO(diabetes_csv.decode())))[:20]
    expected = [diabetes_model["intercept"] + sum(coef[k] * float(r[k]) for k in coef) for r in rows]
    np.testing.assert_allclose(from_csv["predictions"], expected, rtol=1e-9)


def test_create_prediction_at_another_alpha_of_the_path(
    client: TestClient, diabetes_model: dict[str, Any]
) -> None:
    path = client.get(f"/v1/models/{diabetes_model['id']}/path").json()
    url = f"/v1/models/{diabetes_model['id']}/predictions"
    row = {"columns": list(path["coefficients"]), "data": [[1.0] * len(path["coefficients"])]}
    at_max = client.post(url, json={**row, "alpha": path["alphas"][0]}).json()["predictions"][0]
    at_last = client.post(url, json={**row, "alpha": path["alphas"][-1]}).json()["predictions"][0]
    last_coefs = {k: v[-1] for k, v in path["coefficients"].items()}
    chosen = client.post(url, json=row).json()["predictions"][0]
    assert at_max != at_last and chosen not in (at_max, at_last)
    intercept_last = at_last - sum(last_coefs.values())
    assert at_last == pytest.approx(intercept_last + sum(last_coefs.values()))


def test_create_prediction_missing_column_is_feature_mismatch(
    client: TestClient, diabetes_model: dict[str, Any]
) -> None:
    response = client.post(
        f"/v1/models/{diabetes_model['id']}/predictions", json={"columns": ["age", "bmi"], "data": [[50, 25]]}
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "/problems/feature-mismatch"
    assert "s5" in problem["expected"] and problem["got"] == ["age", "bmi"]


def test_binomial_breast_cancer_probabilities(client: TestClient, breast_cancer_csv: bytes) -> None:
    dataset = upload(client, breast_cancer_csv)
    body = {"dataset_id": dataset["id"], "target": "diagnosis", "family": "binomial", "cv": {"folds": 5}}
    body["path"] = {"n_alphas": 30}
    job = run_job(client, body)
    assert job["status"] == "succeeded", job
    model = client.get(f"/v1/models/{job['model_id']}").json()
    assert model["classes"] == ["benign", "malignant"] and isinstance(model["intercept"], float)
    assert model["metrics"]["train"]["misclassification"] < 0.1
    cv = client.get(f"/v1/models/{model['id']}/cv").json()
    assert cv["metric"] == "deviance"
    predictions = client.post(
        f"/v1/models/{model['id']}/predictions", json={"dataset_id": dataset["id"]}
    ).json()
    probabilities = np.array(predictions["probabilities"])
    assert predictions["classes"] == ["benign", "malignant"] and probabilities.shape == (569, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)
    labels = np.array(predictions["predictions"])
    assert set(labels) <= {"benign", "malignant"}
    np.testing.assert_array_equal(labels == "malignant", probabilities[:, 1] > 0.5)


def test_multinomial_iris_lists_per_class(client: TestClient, iris_csv: bytes) -> None:
    dataset = upload(client, iris_csv)
    body = {
        "dataset_id": dataset["id"],
        "target": "species",
        "family": "multinomial",
        "path": {"n_alphas": 20},
    }
    body["cv"] = {"folds": 3, "metric": "misclassification", "rule": "min"}
    job = run_job(client, body)
    assert job["status"] == "succeeded", job
    model = client.get(f"/v1/models/{job['model_id']}").json()
    assert model["classes"] == ["setosa", "versicolor", "virginica"]
    assert len(model["intercept"]) == 3 and sum(model["intercept"]) == pytest.approx(0.0, abs=1e-8)
    assert all(len(c["value"]) == 3 for c in model["coefficients"])
    assert model["metrics"]["train"]["misclassification"] < 0.1


def test_categorical_features_grouped_and_unseen_levels(client: TestClient) -> None:
    rng = np.random.default_rng(3)
    n = 300
    colour = rng.choice(["red", "green", "blue"], n)
    x = rng.standard_normal(n)
    y = 2.0 * x + np.where(colour == "red", 3.0, 0.0) + 0.1 * rng.standard_normal(n)
    rows = "\n".join(f"{c},{float(a)!r},{float(b)!r}" for c, a, b in zip(colour, x, y, strict=True))
    dataset = upload(client, f"colour,x,y\n{rows}\n".encode())
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "cv": {"folds": 5, "rule": "min"}})
    model = client.get(f"/v1/models/{job['model_id']}").json()
    features = [c["feature"] for c in model["coefficients"]]
    assert features == ["colour=blue", "colour=green", "colour=red", "x"]
    assert model["selected_features"] == ["colour", "x"]
    url = f"/v1/models/{model['id']}/predictions"
    unseen = client.post(url, json={"columns": ["x", "colour"], "data": [[0.0, "purple"]]}).json()
    assert unseen["predictions"][0] == pytest.approx(model["intercept"])


def test_missing_mean_imputation_and_weights(client: TestClient) -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal(200)
    y = 3 * x + rng.standard_normal(200)
    cells = [
        f"{'' if i % 10 == 0 else repr(float(a))},{float(b)!r},{1 + i % 3}"
        for i, (a, b) in enumerate(zip(x, y, strict=True))
    ]
    dataset = upload(client, ("x,y,w\n" + "\n".join(cells) + "\n").encode())
    refused = client.post(
        "/v1/jobs", json={"dataset_id": dataset["id"], "target": "y", "weights_column": "w"}
    )
    assert refused.status_code == 422 and refused.json()["type"] == "/problems/invalid-data"
    body = {
        "dataset_id": dataset["id"],
        "target": "y",
        "weights_column": "w",
        "missing": "mean",
        "cv": {"folds": 4},
    }
    job = run_job(client, body)
    assert job["status"] == "succeeded", job
    model = client.get(f"/v1/models/{job['model_id']}").json()
    assert [c["feature"] for c in model["coefficients"]] == ["x"]
    prediction = client.post(
        f"/v1/models/{model['id']}/predictions", json={"columns": ["x"], "data": [[None]]}
    )
    assert prediction.status_code == 200, prediction.text


def test_elastic_net_cv_over_l1_ratios_and_ridge(client: TestClient, diabetes_csv: bytes) -> None:
    dataset = upload(client, diabetes_csv)
    body = {"dataset_id": dataset["id"], "target": "y", "penalty": "elasticnet"}
    body["cv"] = {"folds": 5, "l1_ratios": [0.2, 0.6, 1.0]}
    body["path"] = {"n_alphas": 40}
    job = run_job(client, body)
    assert job["status"] == "succeeded", job
    cv = client.get(f"/v1/models/{job['model_id']}/cv").json()
    assert [c["l1_ratio"] for c in cv["curves"]] == [0.2, 0.6, 1.0]
    model = client.get(f"/v1/models/{job['model_id']}").json()
    assert model["l1_ratio"] == cv["l1_ratio"] == model["selection"]["l1_ratio"]
    ridge = run_job(
        client, {"dataset_id": dataset["id"], "target": "y", "penalty": "ridge", "cv": {"folds": 5}}
    )
    ridge_model = client.get(f"/v1/models/{ridge['model_id']}").json()
    assert ridge_model["l1_ratio"] == 0.0 and len(ridge_model["selected_features"]) == 10


def test_delete_model_keeps_job_and_removes_file(client: TestClient, diabetes_model: dict[str, Any]) -> None:
    model_id = diabetes_model["id"]
    assert client.delete(f"/v1/models/{model_id}").status_code == 204
    assert client.get(f"/v1/models/{model_id}").status_code == 404
    assert (
        client.post(f"/v1/models/{model_id}/predictions", json={"columns": ["a"], "data": [[1]]}).status_code
        == 404
    )
    assert client.get(f"/v1/jobs/{diabetes_model['job_id']}").json()["status"] == "succeeded"
    assert client.get("/v1/models").json()["total"] == 0
