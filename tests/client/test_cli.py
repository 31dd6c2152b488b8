"""The `sparsefit` command against a real server, run as a user runs it: a subprocess, env for the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sparsefit

from tests.client.conftest import KEY, export_route_exists
from tests.e2e.conftest import Server

pytestmark = [pytest.mark.e2e]


def run(service: Server, *args: str, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARSEFIT_")}
    env["SPARSEFIT_URL"] = service.base
    if key is not None:
        env["SPARSEFIT_API_KEY"] = key
    command = [sys.executable, "-m", "sparsefit.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def diabetes_csv(diabetes: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "diabetes.csv"
    diabetes.to_csv(path, index=False)
    return path


def test_cli_upload_fit_show_predict(
    service: Server, sf: sparsefit.Client, diabetes_csv: Path, tmp_path: Path
) -> None:
    uploaded = run(service, "upload", str(diabetes_csv), "--name", "cli diabetes", "--json")
    assert uploaded.returncode == 0, uploaded.stderr
    dataset = json.loads(uploaded.stdout)
    assert (dataset["name"], dataset["n_rows"], dataset["n_columns"]) == ("cli diabetes", 442, 11)

    fitted = run(
        service, "fit", dataset["id"], "--target", "target", "--cv", "4", "--rule", "min", "--wait", "--json"
    )
    assert fitted.returncode == 0, fitted.stderr
    model = json.loads(fitted.stdout)
    assert model["selection"]["rule"] == "min" and model["target"] == "target"
    assert sf.job(model["job_id"]).info["request"]["cv"]["folds"] == 4
    assert model == sf.model(model["id"]).info

    listed = run(service, "models", "--json")
    assert model["id"] in {m["id"] for m in json.loads(listed.stdout)}
    assert model["id"] in run(service, "models").stdout

    shown = run(service, "show", model["id"])
    assert shown.returncode == 0, shown.stderr
    assert f"selected features ({len(model['selected_features'])})" in shown.stdout
    for feature in model["selected_features"]:
        assert feature in shown.stdout

    output = tmp_path / "predictions.csv"
    predicted = run(service, "predict", model["id"], str(diabetes_csv), "--output", str(output))
    assert predicted.returncode == 0, predicted.stderr
    written = pd.read_csv(output)
    assert list(written.columns) == ["prediction"] and len(written) == 442
    expected = sf.model(model["id"]).predict(diabetes_csv)
    np.testing.assert_allclose(written["prediction"], expected, rtol=1e-12)


def test_cli_fit_a_file_without_waiting(service: Server, sf: sparsefit.Client, diabetes_csv: Path) -> None:
    started = run(
        service,
        "fit",
        str(diabetes_csv),
        "-y",
        "target",
        "--penalty",
        "elasticnet",
        "--l1-ratio",
        "0.5",
        "--json",
    )
    assert started.returncode == 0, started.stderr
    job = json.loads(started.stdout)
    assert job["status"] in ("queued", "running", "succeeded")
    assert job["request"]["penalty"] == "elasticnet" and job["request"]["l1_ratio"] == 0.5
    assert sf.wait(job["id"]).l1_ratio == 0.5


def test_cli_errors_print_the_problem_and_exit_nonzero(service: Server, diabetes_csv: Path) -> None:
    unknown = run(service, "fit", str(diabetes_csv), "--target", "no_such_column")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "422" in unknown.stderr and "/problems/" in unknown.stderr and "no_such_column" in unknown.stderr
    unauthorized = run(service, "models", key="wrong-key")
    assert unauthorized.returncode == 1 and "401" in unauthorized.stderr
    missing_file = run(service, "upload", "/nonexistent/table.csv")
    assert missing_file.returncode == 2 and "table.csv" in missing_file.stderr


def test_cli_export(
    service: Server, sf: sparsefit.Client, diabetes_model: sparsefit.Model, tmp_path: Path
) -> None:
    if not export_route_exists(service):
        pytest.skip("GET /v1/models/{id}/export is not in this server's API (issue 12, point 3)")
    target = tmp_path / "model.onnx"
    exported = run(service, "export", diabetes_model.id, "--format", "onnx", "--output", str(target))
    assert exported.returncode == 0, exported.stderr
    assert target.read_bytes() == diabetes_model.export("onnx")
    as_json = run(service, "export", diabetes_model.id, "--format", "json")
    assert json.loads(as_json.stdout) == diabetes_model.export("json")
