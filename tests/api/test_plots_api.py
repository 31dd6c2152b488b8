"""GET /v1/models/{id}/plots/path.svg and cv.svg: SVG images of the stored path and CV curve."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient

from tests.conftest import run_job, upload

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
