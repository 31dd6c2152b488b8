"""End to end: a model exported as ONNX by a real server, downloaded to a file and run by onnxruntime."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.e2e.conftest import REPO, Server
from tests.export.scorers import relative_difference, run_onnx

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_export_onnx_download_runs_as_the_server_predicts(server: Server, tmp_path: Path) -> None:
    body = (REPO / "examples" / "diabetes.csv").read_bytes()
    with httpx.Client(base_url=server.base, timeout=60) as http:
        dataset = http.post("/v1/datasets", content=body, headers={"Content-Type": "text/csv"}).json()
        job = http.post("/v1/jobs", json={"dataset_id": dataset["id"], "target": "y", "name": "diabetes"})
        assert job.status_code == 202, job.text
        final = http.get(f"/v1/jobs/{job.json()['id']}", params={"wait": 60}).json()
        assert final["status"] == "succeeded", final
        url = f"/v1/models/{final['model_id']}"
        target = tmp_path / "downloaded.onnx"
        with http.stream("GET", f"{url}/export", params={"format": "onnx"}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/onnx"
            assert response.headers["content-disposition"] == 'attachment; filename="diabetes.onnx"'
            with target.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        expected = http.post(f"{url}/predictions", content=body, headers={"Content-Type": "text/csv"}).json()
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    columns = {name: [float(r[name]) for r in rows] for name in rows[0] if name != "y"}
    predictions = run_onnx(target.read_bytes(), columns)["predictions"]
    assert predictions.shape == (442,) and np.all(np.isfinite(predictions))
    assert relative_difference(predictions, expected["predictions"]) <= 1e-9
