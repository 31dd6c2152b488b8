"""Issue 11: tiny tables with extreme magnitudes end within seconds, fitted as at unit scale or
refused with a problem naming the column or field; never /problems/internal, never the timeout."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import csv_bytes, run_job, upload

RNG = np.random.default_rng(5)
X = RNG.normal(size=(8, 3))
Y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * RNG.normal(size=8)
# Each job of these tests must end well within this (the bug ran until job_timeout_s, an hour).
WALL_S = 60.0


def _dataset(client: TestClient, X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> str:
    columns = ["x1", "x2", "x3", "y"] + ([] if weights is None else ["w"])
    parts = [X, y[:, np.newaxis]] + ([] if weights is None else [weights[:, np.newaxis]])
    rows = [[float(v) for v in row] for row in np.hstack(parts)]
    return str(upload(client, csv_bytes(columns, rows))["id"])


def _job(client: TestClient, dataset_id: str, **options: Any) -> dict[str, Any]:
    body = {"dataset_id": dataset_id, "target": "y", **options}
    started = time.monotonic()
    job = run_job(client, body, wait=WALL_S)
    assert time.monotonic() - started < WALL_S
    if job["status"] == "failed":
        assert job["error"]["type"] != "/problems/internal", job["error"]
    return job


def _model(client: TestClient, job: dict[str, Any]) -> dict[str, Any]:
    assert job["status"] == "succeeded", job
    return dict(client.get(f"/v1/models/{job['model_id']}").json())


def _coefficients(model: dict[str, Any]) -> np.ndarray:
    return np.array([c["value"] for c in model["coefficients"]])


FIXED = {"alpha": 0.05, "cv": None, "solver": {"tol": 1e-12}}


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_a_target_at_extreme_scale_fits_as_at_unit_scale(client: TestClient, scale: float) -> None:
    unit = _model(client, _job(client, _dataset(client, X, Y), **FIXED))
    scaled_id = _dataset(client, X, Y * scale)
    scaled = _model(client, _job(client, scaled_id, **{**FIXED, "alpha": 0.05 * scale}))
    np.testing.assert_allclose(_coefficients(scaled), _coefficients(unit) * scale, rtol=1e-7)
    assert scaled["intercept"] == pytest.approx(unit["intercept"] * scale, rel=1e-7)
    assert scaled["metrics"]["train"]["r2"] == pytest.approx(unit["metrics"]["train"]["r2"], rel=1e-9)
    # The default job (a CV path on 8 rows) ends too, and picks the unit-scale alpha times s.
    unit_cv = _model(client, _job(client, _dataset(client, X, Y), cv={"folds": 4}))
    scaled_cv = _model(client, _job(client, scaled_id, cv={"folds": 4}))
    assert scaled_cv["alpha"] == pytest.approx(unit_cv["alpha"] * scale, rel=1e-9)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_a_feature_at_extreme_scale_fits_as_at_unit_scale(client: TestClient, scale: float) -> None:
    unit = _model(client, _job(client, _dataset(client, X, Y), **FIXED))
    factors = np.array([scale, 1.0, 1.0])
    scaled = _model(client, _job(client, _dataset(client, X * factors, Y), **FIXED))
    np.testing.assert_allclose(_coefficients(scaled), _coefficients(unit) / factors, rtol=1e-7)
    standardized = [c["standardized"] for c in scaled["coefficients"]]
    np.testing.assert_allclose(standardized, [c["standardized"] for c in unit["coefficients"]], rtol=1e-7)


def test_a_subnormal_penalty_factor_is_refused_at_submit(client: TestClient) -> None:
    dataset_id = _dataset(client, X, Y)
    response = client.post(
        "/v1/jobs", json={"dataset_id": dataset_id, "target": "y", "penalty_factors": {"x1": 1e-320}}
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/validation"
    assert problem["errors"][0]["loc"] == ["body", "penalty_factors", "x1"]


def test_weights_whose_sum_overflows_fit_as_unit_weights(client: TestClient) -> None:
    unit = _model(client, _job(client, _dataset(client, X, Y), **FIXED))
    heavy_id = _dataset(client, X, Y, weights=np.full(8, 1e308))
    heavy = _model(client, _job(client, heavy_id, weights_column="w", **FIXED))
    np.testing.assert_allclose(_coefficients(heavy), _coefficients(unit), rtol=1e-10)


def _refused_at_submit(client: TestClient, dataset_id: str, column: str, **options: Any) -> None:
    response = client.post("/v1/jobs", json={"dataset_id": dataset_id, "target": "y", **options})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/invalid-data"
    assert problem["column"] == column and column in problem["detail"]
    assert client.get("/v1/jobs").json()["total"] == 0  # nothing was queued


def test_a_feature_of_subnormal_values_is_refused_at_submit_naming_it(client: TestClient) -> None:
    tiny = X.copy()
    tiny[:, 1] = np.where(np.arange(8) % 2 == 0, 1e-320, 0.0)
    dataset_id = _dataset(client, tiny, Y)
    _refused_at_submit(client, dataset_id, "x2", cv={"folds": 4})
    # Left out of the features, the column is no obstacle.
    job = _job(client, dataset_id, features=["x1", "x3"], **FIXED)
    assert job["status"] == "succeeded", job


def test_a_gaussian_target_of_subnormal_values_is_refused_at_submit(client: TestClient) -> None:
    _refused_at_submit(client, _dataset(client, X, Y * 1e-310), "y", **FIXED)


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_an_extreme_feature_without_standardizing_is_refused_at_submit(
    client: TestClient, scale: float
) -> None:
    dataset_id = _dataset(client, X * np.array([1.0, 1.0, scale]), Y)
    _refused_at_submit(client, dataset_id, "x3", standardize=False, **FIXED)
    # Standardized, the same column is rescaled by a power of two and fitted.
    assert _job(client, dataset_id, **FIXED)["status"] == "succeeded"


def test_recorded_magnitudes_stay_out_of_the_dataset_documents(client: TestClient) -> None:
    dataset_id = _dataset(client, X * np.array([1.0, 1.0, 1e300]), Y)
    documents = [
        client.get(f"/v1/datasets/{dataset_id}").json()["columns"],
        client.get(f"/v1/datasets/{dataset_id}/columns").json()["items"],
        client.get("/v1/datasets").json()["items"][0]["columns"],
    ]
    for columns in documents:
        assert [set(c) for c in columns] == [{"name", "kind", "n_missing", "levels"}] * 4


def test_a_sparse_feature_of_subnormal_values_is_refused_at_submit(client: TestClient) -> None:
    dense = np.hstack([X, Y[:, np.newaxis]])
    dense[::2, 0] = 1e-320
    dense[1::2, 0] = 0.0
    indptr, indices, data = [0], [], []
    for row in dense:
        nonzero = np.flatnonzero(row)
        indices += nonzero.tolist()
        data += row[nonzero].tolist()
        indptr.append(len(indices))
    body = {
        "name": "tiny sparse",
        "columns": ["x1", "x2", "x3", "y"],
        "sparse": {"shape": list(dense.shape), "indptr": indptr, "indices": indices, "data": data},
    }
    response = client.post("/v1/datasets", json=body)
    assert response.status_code == 201, response.text
    _refused_at_submit(client, response.json()["id"], "x1", **FIXED)


def test_the_submit_checks_use_the_engines_band() -> None:
    from service.data import magnitudes
    from service.modeling import scaling

    assert (magnitudes.BAND, magnitudes.TINY) == (scaling.BAND, scaling.TINY)


def test_a_coefficient_beyond_any_double_fails_the_job_naming_the_column(client: TestClient) -> None:
    # x3 near 1e-300 explains a target near 1e300: its coefficient would be near 1e600.
    job = _job(client, _dataset(client, X * np.array([1.0, 1.0, 1e-300]), Y * 1e300), **FIXED)
    assert job["status"] == "failed"
    assert job["error"]["type"] == "/problems/invalid-data" and job["error"]["column"] == "x3"
