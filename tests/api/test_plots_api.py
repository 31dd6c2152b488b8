"""GET /v1/models/{id}/plots/path.svg and cv.svg: SVG images of the stored path and CV curve."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from tests.conftest import csv_bytes, run_job, upload

SVG_NS = "{http://www.w3.org/2000/svg}"


def test_plots_path_and_cv_are_svg_documents(client: TestClient, diabetes_csv: bytes) -> None:
    dataset = upload(client, diabetes_csv)
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "cv": {"folds": 3}})
    path = client.get(f"/v1/models/{job['model_id']}/path").json()
    response = client.get(f"/v1/models/{job['model_id']}/plots/path.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{SVG_NS}svg"
    # One line per design column whose path is ever nonzero, at least.
    lines = root.iter(f"{SVG_NS}polyline")
    assert sum(1 for _ in lines) >= sum(1 for v in path["coefficients"].values() if any(v))
    cv = client.get(f"/v1/models/{job['model_id']}/plots/cv.svg")
    assert cv.status_code == 200 and cv.headers["content-type"].startswith("image/svg+xml")
    assert ET.fromstring(cv.content).tag == f"{SVG_NS}svg"


def test_plots_cv_of_model_without_cv_is_404(client: TestClient, diabetes_csv: bytes) -> None:
    dataset = upload(client, diabetes_csv)
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", "cv": None})
    response = client.get(f"/v1/models/{job['model_id']}/plots/cv.svg")
    assert response.status_code == 404 and response.json()["type"] == "/problems/not-found"
    assert client.get(f"/v1/models/{job['model_id']}/plots/path.svg").status_code == 200


@pytest.fixture
def wide_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"max_columns": 4000}))) as client:
        yield client


def test_plots_path_of_a_3000_feature_model_is_small_and_counts_what_is_not_drawn(
    wide_client: TestClient,
) -> None:
    rng = np.random.default_rng(7)
    n, p = 60, 3000
    X = rng.standard_normal((n, p))
    y = X[:, :40] @ rng.uniform(1.0, 2.0, 40) + 0.5 * rng.standard_normal(n)
    rows = [[round(float(v), 4) for v in row] for row in np.column_stack([X, y])]
    dataset = upload(wide_client, csv_bytes([*(f"x{j}" for j in range(p)), "y"], rows))
    job = run_job(wide_client, {"dataset_id": dataset["id"], "target": "y", "cv": None})
    assert job["status"] == "succeeded", job
    path = wide_client.get(f"/v1/models/{job['model_id']}/path").json()
    assert len(path["coefficients"]) == p
    response = wide_client.get(f"/v1/models/{job['model_id']}/plots/path.svg")
    assert response.status_code == 200 and len(response.content) < 300_000
    root = ET.fromstring(response.content)
    lines = [e for e in root.iter(f"{SVG_NS}polyline") if e.get("class") == "coef"]
    assert len(lines) == 20
    [note] = [e.text or "" for e in root.iter(f"{SVG_NS}text") if e.get("class") == "not-drawn"]
    assert note.startswith(f"+ {p - 20:,} more features not drawn")


def _title(svg: bytes) -> str:
    return ET.fromstring(svg).findtext(f"{SVG_NS}title") or ""


def test_plots_are_titled_with_the_model_name_or_else_its_id(client: TestClient, diabetes_csv: bytes) -> None:
    dataset = upload(client, diabetes_csv)
    body = {"dataset_id": dataset["id"], "target": "y", "cv": {"folds": 3}}
    named = run_job(client, {**body, "name": "diabetes lasso"})["model_id"]
    assert client.get(f"/v1/models/{named}").json()["name"] == "diabetes lasso"
    path_title = _title(client.get(f"/v1/models/{named}/plots/path.svg").content)
    cv_svg = client.get(f"/v1/models/{named}/plots/cv.svg").content
    assert path_title == "diabetes lasso \u2014 Coefficient path (l1_ratio = 1)"
    assert _title(cv_svg).startswith("diabetes lasso \u2014 Cross-validation: mse")
    assert named not in path_title + _title(cv_svg)
    # The CV plot's top axis: the counts of the model's path, never more than its features.
    counts = [
        int(e.text or "-1")
        for e in ET.fromstring(cv_svg).iter(f"{SVG_NS}text")
        if e.get("class") == "n-selected"
    ]
    n_selected = client.get(f"/v1/models/{named}/path").json()["n_selected"]
    assert counts and set(counts) <= set(n_selected)
    unnamed = run_job(client, body)["model_id"]
    assert client.get(f"/v1/models/{unnamed}").json()["name"] is None
    assert _title(client.get(f"/v1/models/{unnamed}/plots/path.svg").content).startswith(
        f"model {unnamed} \u2014 "
    )
    assert _title(client.get(f"/v1/models/{unnamed}/plots/cv.svg").content).startswith(
        f"model {unnamed} \u2014 "
    )
