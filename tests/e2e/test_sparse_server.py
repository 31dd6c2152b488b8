"""End to end against a real server: an svmlight upload, a fit with CV on it, predictions from svmlight."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file

from tests.e2e.conftest import Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SVMLIGHT = {"Content-Type": "text/x-svmlight"}


def _svmlight(X: sp.csr_matrix, y: np.ndarray) -> bytes:
    out = io.BytesIO()
    dump_svmlight_file(X, y, out, zero_based=False)
    return out.getvalue()


def test_svmlight_upload_fit_with_cv_and_predict_on_a_real_server(server: Server) -> None:
    rng = np.random.default_rng(7)
    n, p = 400, 3000
    X = sp.random(n, p, density=0.01, format="csr", random_state=7)
    y = X[:, :5] @ np.array([3.0, -2.0, 4.0, 1.5, -3.5]) + rng.normal(scale=0.1, size=n)
    upload = httpx.post(f"{server.base}/v1/datasets?name=svm", content=_svmlight(X, y), headers=SVMLIGHT)
    assert upload.status_code == 201, upload.text
    dataset = upload.json()
    assert dataset["storage"] == "sparse" and dataset["n_columns"] == p + 1
    job = httpx.post(
        f"{server.base}/v1/jobs",
        json={"dataset_id": dataset["id"], "target": "y", "cv": {"folds": 5}, "path": {"n_alphas": 30}},
        timeout=60,
    )
    assert job.status_code == 202, job.text
    done = httpx.get(f"{server.base}/v1/jobs/{job.json()['id']}?wait=60", timeout=90).json()
    assert done["status"] == "succeeded", done["error"]
    model = httpx.get(f"{server.base}/v1/models/{done['model_id']}", timeout=30).json()
    assert {"x1", "x2", "x3", "x4", "x5"} <= set(model["selected_features"])
    cv = httpx.get(f"{server.base}/v1/models/{done['model_id']}/cv", timeout=30).json()
    assert len(cv["fold_ids"]) == n and len(cv["folds"]) == 5
    rows = X[:20]
    predicted = httpx.post(
        f"{server.base}/v1/models/{done['model_id']}/predictions",
        content=_svmlight(rows, np.zeros(20)),
        headers=SVMLIGHT,
        timeout=30,
    )
    assert predicted.status_code == 200, predicted.text
    coef = {c["feature"]: c["value"] for c in model["coefficients"]}
    expected = model["intercept"] + rows @ np.array([coef[f"x{j}"] for j in range(1, p + 1)])
    np.testing.assert_allclose(predicted.json()["predictions"], expected, rtol=1e-10, atol=1e-10)
