"""Fits and predictions on sparse datasets equal those on their dense twins, through the API.

The twin is scikit-learn's digits (1797 x 64 pixels, half of them zero) uploaded once as svmlight
(stored sparse) and once as CSV (stored dense), with the digit as a gaussian target.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from fastapi.testclient import TestClient
from sklearn.datasets import dump_svmlight_file, load_digits

from service.app import create_app
from tests.conftest import csv_bytes, make_settings, run_job, upload

DIGITS = load_digits()
X, Y = DIGITS.data, DIGITS.target.astype(float)
PIXELS = [f"p{j}" for j in range(X.shape[1])]
SVMLIGHT = {"Content-Type": "text/x-svmlight"}
# Same data, same tolerance: the solutions may differ by the certified accuracy only (the duality gap
# bounds the objective's error by tol x var(y)); coefficients are pinned down less tightly than the
# objective, as in tests/modeling/test_engine_sparse.py.
OBJECTIVE_AGREEMENT = 1e-10
COEF_AGREEMENT = 1e-6
CV_AGREEMENT = 1e-8


def svmlight_bytes(X: np.ndarray, y: np.ndarray) -> bytes:
    out = io.BytesIO()
    dump_svmlight_file(sp.csr_matrix(X), y, out, zero_based=False)
    return out.getvalue()


@pytest.fixture(scope="module")
def module_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the twins and the fits on them."""
    settings = make_settings(tmp_path_factory.mktemp("sparse-fits") / "data")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def twins(module_client: TestClient) -> dict[str, str]:
    sparse = module_client.post(
        "/v1/datasets",
        files={"file": ("digits.svm", svmlight_bytes(X, Y), "application/octet-stream")},
        data={"columns": "\n".join(PIXELS)},
    )
    assert sparse.status_code == 201, sparse.text
    assert sparse.json()["storage"] == "sparse"
    dense = upload(module_client, csv_bytes(["y", *PIXELS], np.column_stack([Y, X]).tolist()))
    assert dense["storage"] == "dense"
    return {"sparse": sparse.json()["id"], "dense": dense["id"]}


def _fit(client: TestClient, dataset_id: str, **fields: Any) -> dict[str, Any]:
    body = {"dataset_id": dataset_id, "target": "y", "path": {"n_alphas": 20}, "solver": {"tol": 1e-12}}
    job = run_job(client, {**body, **fields})
    assert job["status"] == "succeeded", job
    return job


def _objective(alpha: float, coef: np.ndarray) -> float:
    """The gaussian lasso objective of standardize: false, at the best intercept for ``coef``."""
    residual = Y - X @ coef
    residual -= residual.mean()
    return float(residual @ residual / (2 * len(Y)) + alpha * np.abs(coef).sum())


def _path(client: TestClient, job: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    path = client.get(f"/v1/models/{job['model_id']}/path").json()
    coef = np.array([path["coefficients"][name] for name in PIXELS]).T  # (alphas, features)
    return np.array(path["alphas"]), coef


def test_sparse_and_dense_twins_give_the_same_path(module_client: TestClient, twins: dict[str, str]) -> None:
    fields = {"standardize": False, "cv": None}
    sparse_alphas, sparse_coef = _path(module_client, _fit(module_client, twins["sparse"], **fields))
    dense_alphas, dense_coef = _path(module_client, _fit(module_client, twins["dense"], **fields))
    np.testing.assert_allclose(sparse_alphas, dense_alphas, rtol=1e-12)
    assert np.count_nonzero(dense_coef[-1]) > 10
    for alpha, mine, theirs in zip(dense_alphas, sparse_coef, dense_coef, strict=True):
        f_sparse, f_dense = _objective(alpha, mine), _objective(alpha, theirs)
        assert abs(f_sparse - f_dense) <= OBJECTIVE_AGREEMENT * f_dense, (alpha, f_sparse, f_dense)
    scale = np.abs(dense_coef).max()
    assert np.abs(sparse_coef - dense_coef).max() <= COEF_AGREEMENT * scale


def test_sparse_and_dense_twins_give_the_same_cv(module_client: TestClient, twins: dict[str, str]) -> None:
    fields = {"cv": {"folds": 5, "seed": 3}}
    sparse = _fit(module_client, twins["sparse"], **fields)
    dense = _fit(module_client, twins["dense"], **fields)
    cv_sparse = module_client.get(f"/v1/models/{sparse['model_id']}/cv").json()
    cv_dense = module_client.get(f"/v1/models/{dense['model_id']}/cv").json()
    assert cv_sparse["fold_ids"] == cv_dense["fold_ids"]
    np.testing.assert_allclose(cv_sparse["alphas"], cv_dense["alphas"], rtol=1e-12)
    np.testing.assert_allclose(cv_sparse["mean"], cv_dense["mean"], rtol=CV_AGREEMENT)
    np.testing.assert_allclose(cv_sparse["folds"], cv_dense["folds"], rtol=CV_AGREEMENT)
    assert (cv_sparse["alpha_min"], cv_sparse["alpha_1se"]) == pytest.approx(
        (cv_dense["alpha_min"], cv_dense["alpha_1se"]), rel=1e-12
    )
    model_sparse = module_client.get(f"/v1/models/{sparse['model_id']}").json()
    model_dense = module_client.get(f"/v1/models/{dense['model_id']}").json()
    assert model_sparse["selected_features"] == model_dense["selected_features"]


def test_sparse_model_predicts_the_same_from_every_body(
    module_client: TestClient, twins: dict[str, str]
) -> None:
    job = _fit(module_client, twins["sparse"], cv=None, alpha=0.05)
    url = f"/v1/models/{job['model_id']}/predictions"
    rows = slice(0, 25)
    # The svmlight labels are read and ignored: these are not the digits.
    from_svmlight = module_client.post(url, content=svmlight_bytes(X[rows], -Y[rows]), headers=SVMLIGHT)
    csr = sp.csr_matrix(X[rows])
    # JSON CSR whose columns come in another order than the model's, with one it does not use.
    order = [*PIXELS[::-1], "extra"]
    reordered = sp.csr_matrix(np.column_stack([X[rows][:, ::-1], np.ones(25)]))
    from_csr = module_client.post(
        url,
        json={
            "columns": order,
            "sparse": {
                "shape": list(reordered.shape),
                "indptr": reordered.indptr.tolist(),
                "indices": reordered.indices.tolist(),
                "data": reordered.data.tolist(),
            },
        },
    )
    from_dataset = module_client.post(url, json={"dataset_id": twins["sparse"]})
    from_csv = module_client.post(
        url, content=csv_bytes(PIXELS, X[rows].tolist()), headers={"Content-Type": "text/csv"}
    )
    answers = [from_svmlight, from_csr, from_dataset, from_csv]
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    coef = np.array(
        [c["value"] for c in module_client.get(f"/v1/models/{job['model_id']}").json()["coefficients"]]
    )
    intercept = module_client.get(f"/v1/models/{job['model_id']}").json()["intercept"]
    expected = intercept + X[rows] @ coef
    for answer in answers:
        np.testing.assert_allclose(answer.json()["predictions"][:25], expected, rtol=1e-12, atol=1e-12)
    assert len(from_dataset.json()["predictions"]) == X.shape[0]
    assert csr.nnz < X[rows].size


def test_svmlight_prediction_body_may_stop_before_the_models_last_feature(client: TestClient) -> None:
    body = b"".join(f"{i % 5} 1:{i} 2:{i % 3} 4:{(i * 7) % 11}\n".encode() for i in range(40))
    dataset = client.post("/v1/datasets", content=body, headers=SVMLIGHT).json()
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "cv": None, "alpha": 0.01})
    assert job["status"] == "succeeded", job
    url = f"/v1/models/{job['model_id']}/predictions"
    short = client.post(url, content=b"0 1:3\n", headers=SVMLIGHT)  # x2..x4 are zero, not absent
    full = client.post(url, json={"columns": ["x1", "x2", "x3", "x4"], "data": [[3, 0, 0, 0]]})
    assert short.status_code == full.status_code == 200, short.text
    assert short.json()["predictions"] == pytest.approx(full.json()["predictions"], rel=1e-12)
    at_alpha = client.post(f"{url}?alpha=0.01", content=b"0 1:3\n", headers=SVMLIGHT)
    assert at_alpha.json()["predictions"] == pytest.approx(short.json()["predictions"], rel=1e-12)


def test_sparse_dataset_any_column_is_the_target_with_weights_and_folds(client: TestClient) -> None:
    rng = np.random.default_rng(0)
    n = 60
    features = np.where(rng.uniform(size=(n, 4)) < 0.5, rng.normal(size=(n, 4)), 0.0)
    target = features @ [1.0, -2.0, 0.0, 0.5] + rng.normal(scale=0.1, size=n)
    weights, folds = 1.0 + np.arange(n) % 2, np.arange(n) % 3
    values = np.column_stack([features[:, :2], target, features[:, 2:], weights, folds])
    names = ["a", "b", "t", "c", "d", "w", "fold"]
    matrix = sp.csr_matrix(values)
    sparse = client.post(
        "/v1/datasets",
        json={
            "columns": names,
            "sparse": {
                "shape": list(matrix.shape),
                "indptr": matrix.indptr.tolist(),
                "indices": matrix.indices.tolist(),
                "data": matrix.data.tolist(),
            },
        },
    ).json()
    dense = client.post("/v1/datasets", json={"columns": names, "data": values.tolist()}).json()
    request = {"target": "t", "weights_column": "w", "cv": {"fold_column": "fold"}, "solver": {"tol": 1e-12}}
    models = []
    for dataset in (sparse, dense):
        job = run_job(client, {"dataset_id": dataset["id"], **request})
        assert job["status"] == "succeeded", job
        models.append(client.get(f"/v1/models/{job['model_id']}").json())
    assert sparse["storage"] == "sparse" and dense["storage"] == "dense"
    assert [c["feature"] for c in models[0]["coefficients"]] == ["a", "b", "c", "d"]
    values_sparse = [c["value"] for c in models[0]["coefficients"]]
    values_dense = [c["value"] for c in models[1]["coefficients"]]
    np.testing.assert_allclose(values_sparse, values_dense, rtol=1e-6, atol=1e-9)
    assert models[0]["alpha"] == pytest.approx(models[1]["alpha"], rel=1e-12)
