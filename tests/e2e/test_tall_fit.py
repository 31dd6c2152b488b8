"""End to end on a real server: a partitioned dataset fitted, read and predicted like an in-memory one."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.e2e.conftest import Server

pytestmark = [pytest.mark.e2e]

N_ROWS, N_FEATURES = 12_000, 12
COLUMNS = [*(f"x{j}" for j in range(N_FEATURES)), "y", "label", "w"]


def table() -> np.ndarray:
    rng = np.random.default_rng(11)
    X = rng.standard_normal((N_ROWS, N_FEATURES)) * rng.uniform(0.5, 3.0, N_FEATURES) + rng.normal(
        0, 2, N_FEATURES
    )
    beta = np.zeros(N_FEATURES)
    beta[:4] = [1.5, -2.0, 0.7, 0.3]
    y = X @ beta + rng.standard_normal(N_ROWS)
    label = (X[:, 0] - X[:, 1] + rng.logistic(size=N_ROWS) > 0).astype(float)
    w = rng.uniform(0.5, 2.0, N_ROWS)
    return np.round(np.column_stack([X, y, label, w]), 6)


def csv_bytes(values: np.ndarray) -> bytes:
    text = io.StringIO()
    np.savetxt(text, values, fmt="%.6f", delimiter=",", header=",".join(COLUMNS), comments="")
    return text.getvalue().encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Partitions of 5,000 rows: the 12,000-row table is three files, the last one short.
    env = {"SPARSEFIT_PARTITION_ROWS": "5000", "OPENBLAS_NUM_THREADS": "1"}
    instance = Server(tmp_path_factory.mktemp("tall") / "data", env=env)
    try:
        instance.start()
        yield instance
    finally:
        instance.cleanup()


def fitted(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    job = client.post("/v1/jobs", json=body)
    assert job.status_code == 202, job.text
    for _ in range(4):  # up to 4 x 60 s
        final = client.get(f"/v1/jobs/{job.json()['id']}", params={"wait": 60}).json()
        if final["status"] not in ("queued", "running"):
            break
    assert final["status"] == "succeeded", final
    model = client.get(f"/v1/models/{final['model_id']}")
    assert model.status_code == 200, model.text
    return dict(model.json())


def relative(a: Any, b: Any) -> float:
    first, second = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(first - second)) / max(np.max(np.abs(second)), 1e-300))


def coefficients(model: dict[str, Any]) -> np.ndarray:
    return np.array([c["value"] for c in model["coefficients"]], dtype=float)


@pytest.mark.parametrize(
    "options",
    [
        {"target": "y", "family": "gaussian", "penalty": "lasso", "weights_column": "w"},
        {"target": "y", "family": "gaussian", "penalty": "elasticnet", "l1_ratio": 0.5},
        {
            "target": "label",
            "family": "binomial",
            "penalty": "lasso",
            "path": {"n_alphas": 20, "alpha_min_ratio": 0.01},
        },
    ],
)
def test_a_partitioned_fit_equals_the_in_memory_fit_through_every_model_route(
    server: Server, options: dict[str, Any]
) -> None:
    values = table()
    body = csv_bytes(values)
    with httpx.Client(base_url=server.base, timeout=120) as client:
        csv = {"Content-Type": "text/csv"}
        tall = client.post("/v1/datasets", params={"storage": "partitioned"}, content=body, headers=csv)
        dense = client.post("/v1/datasets", content=body, headers=csv)
        assert tall.status_code == dense.status_code == 201, (tall.text, dense.text)
        assert (tall.json()["storage"], tall.json()["partitions"], tall.json()["n_rows"]) == (
            "partitioned",
            3,
            N_ROWS,
        )
        features = [c for c in COLUMNS if c.startswith("x")]
        tol = 1e-12 if options["family"] == "binomial" else 1e-8
        common = {"features": features, "cv": {"folds": 4, "seed": 3}, "solver": {"tol": tol}, **options}
        tall_model = fitted(client, {"dataset_id": tall.json()["id"], **common})
        dense_model = fitted(client, {"dataset_id": dense.json()["id"], **common})

        assert relative(coefficients(tall_model), coefficients(dense_model)) < 1e-8
        assert tall_model["selected_features"] == dense_model["selected_features"]
        assert relative(tall_model["intercept"], dense_model["intercept"]) < 1e-8
        tall_cv = client.get(f"/v1/models/{tall_model['id']}/cv").json()
        dense_cv = client.get(f"/v1/models/{dense_model['id']}/cv").json()
        assert relative(tall_cv["alphas"], dense_cv["alphas"]) < 1e-10
        assert relative(tall_cv["mean"], dense_cv["mean"]) < 1e-8
        assert (tall_cv["alpha_min"], tall_cv["alpha_1se"]) == pytest.approx(
            (dense_cv["alpha_min"], dense_cv["alpha_1se"]), rel=1e-10
        )
        tall_path = client.get(f"/v1/models/{tall_model['id']}/path").json()
        dense_path = client.get(f"/v1/models/{dense_model['id']}/path").json()
        for feature in features:
            assert relative(tall_path["coefficients"][feature], dense_path["coefficients"][feature]) < 1e-7

        rows = {"columns": features, "data": values[:50, :N_FEATURES].tolist()}
        tall_predictions = client.post(f"/v1/models/{tall_model['id']}/predictions", json=rows).json()
        dense_predictions = client.post(f"/v1/models/{dense_model['id']}/predictions", json=rows).json()
        assert relative(tall_predictions["predictions"], dense_predictions["predictions"]) < 1e-8
        for plot in ("path.svg", "cv.svg"):
            svg = client.get(f"/v1/models/{tall_model['id']}/plots/{plot}")
            assert svg.status_code == 200 and svg.text.lstrip().startswith("<")
        exported = client.get(f"/v1/models/{tall_model['id']}/export", params={"format": "json"})
        assert exported.status_code == 200, exported.text
