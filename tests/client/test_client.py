"""The Python client against a real server: uploads of every kind, fitting, reading and using models."""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sparsefit
from sparsefit.errors import TRANSPORT_PROBLEM

from tests.client.conftest import KEY, export_route_exists
from tests.e2e.conftest import Server, free_port

pytestmark = [pytest.mark.e2e]


def raw(service: Server, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """The same request without the client, to hold its answers against the service's own."""
    headers = {"Authorization": f"Bearer {KEY}"}
    response = httpx.request(method, service.base + path, headers=headers, timeout=60, **kwargs)
    response.raise_for_status()
    return response


def test_upload_frame_keeps_kinds_and_missing_values(sf: sparsefit.Client) -> None:
    frame = pd.DataFrame(
        {
            "x": [1.5, np.nan, 3.0, 4.0],
            "n": pd.array([1, 2, None, 4], dtype="Int64"),
            "grade": pd.Categorical([1, 2, 2, None]),  # categories that look like numbers stay categorical
            "colour": ["red", None, "blue", "red"],
            "y": [1.0, 2.0, 3.0, 4.0],
        },
        index=[10, 20, 30, 40],
    )
    dataset = sf.upload(frame, name="kinds")
    columns = {c.name: c for c in dataset.columns}
    assert (dataset.name, dataset.n_rows, dataset.n_columns) == ("kinds", 4, 5)
    assert [c.kind for c in dataset.columns] == [
        "numeric",
        "numeric",
        "categorical",
        "categorical",
        "numeric",
    ]
    assert {name: c.n_missing for name, c in columns.items()} == {
        "x": 1,
        "n": 1,
        "grade": 1,
        "colour": 1,
        "y": 0,
    }
    assert columns["grade"].levels == ["1", "2"]
    assert columns["colour"].levels == ["blue", "red"]
    assert sf.dataset(dataset.id).info == dataset.info


def test_upload_files_csv_gzip_parquet_and_svmlight(
    sf: sparsefit.Client, diabetes: pd.DataFrame, tmp_path: Path
) -> None:
    csv = tmp_path / "diabetes.csv"
    diabetes.to_csv(csv, index=False)
    gz = tmp_path / "diabetes.csv.gz"
    gz.write_bytes(gzip.compress(csv.read_bytes()))
    parquet = tmp_path / "diabetes.parquet"
    diabetes.to_parquet(parquet)
    svm = tmp_path / "small.svm"
    svm.write_text("1 1:0.5 3:2\n0 2:1.5\n")
    for path in (csv, gz, parquet):
        dataset = sf.upload(path)
        assert (dataset.n_rows, dataset.n_columns, dataset.name) == (442, 11, path.name)
        assert dataset.column_names == list(diabetes.columns)
    sparse = sf.upload(svm, name="tiny svmlight")
    assert (sparse.storage, sparse.n_rows, sparse.column_names) == ("sparse", 2, ["y", "x1", "x2", "x3"])


def test_fit_coefficients_and_selection_match_the_service(
    service: Server, diabetes_model: sparsefit.Model
) -> None:
    document = raw(service, "GET", f"/v1/models/{diabetes_model.id}").json()
    expected = pd.Series({c["feature"]: c["value"] for c in document["coefficients"]})
    coefficients = diabetes_model.coefficients
    assert isinstance(coefficients, pd.Series)
    pd.testing.assert_series_equal(coefficients, expected, check_names=False, check_index_type=False)
    assert diabetes_model.intercept == document["intercept"]
    assert diabetes_model.name == "diabetes lasso" and diabetes_model.target == "target"
    nonzero = sorted(coefficients.index[coefficients != 0])
    assert sorted(diabetes_model.selected_features) == nonzero
    assert 0 < len(nonzero) < 10  # the lasso dropped some of diabetes' ten features and kept others


def test_path_and_cv_are_frames_from_the_service(service: Server, diabetes_model: sparsefit.Model) -> None:
    path = diabetes_model.path()
    document = raw(service, "GET", f"/v1/models/{diabetes_model.id}/path").json()
    assert list(path.index) == document["alphas"] and path.index.name == "alpha"
    assert list(path.columns) == list(document["coefficients"])
    assert path["bmi"].tolist() == document["coefficients"]["bmi"]
    assert path.attrs["n_selected"] == document["n_selected"]
    only = diabetes_model.path(features=["bmi", "s5"])
    assert list(only.columns) == ["bmi", "s5"]
    cv = diabetes_model.cv()
    assert list(cv.columns) == ["mean", "se"] and cv.index.name == "alpha"
    assert cv.attrs["alpha_min"] <= cv.attrs["alpha_1se"] == pytest.approx(diabetes_model.alpha)
    assert cv["mean"].idxmin() == pytest.approx(cv.attrs["alpha_min"])


def test_predict_frame_array_and_file_match_the_service(
    service: Server, diabetes_model: sparsefit.Model, diabetes: pd.DataFrame, tmp_path: Path
) -> None:
    rows = diabetes.iloc[::7].drop(columns="target")
    body = {"columns": list(rows.columns), "data": rows.to_numpy().tolist()}
    expected = raw(service, "POST", f"/v1/models/{diabetes_model.id}/predictions", json=body).json()
    predicted = diabetes_model.predict(rows)
    assert isinstance(predicted, pd.Series)
    assert predicted.index.equals(rows.index) and predicted.name == "target"
    np.testing.assert_allclose(predicted.to_numpy(), expected["predictions"], rtol=1e-12)
    # The same rows as an array with its column names, and as a CSV file.
    from_array = diabetes_model.predict(rows.to_numpy(), columns=list(rows.columns))
    np.testing.assert_allclose(from_array, expected["predictions"], rtol=1e-12)
    csv = tmp_path / "rows.csv"
    rows.to_csv(csv, index=False)
    np.testing.assert_allclose(diabetes_model.predict(csv), expected["predictions"], rtol=1e-12)
    # And by hand from the coefficients the client read: the intercept plus the linear predictor.
    by_hand = diabetes_model.intercept + rows[diabetes_model.coefficients.index] @ diabetes_model.coefficients
    np.testing.assert_allclose(predicted, by_hand, rtol=1e-9)


def test_plots_are_svg(diabetes_model: sparsefit.Model, tmp_path: Path) -> None:
    target = tmp_path / "path.svg"
    path_plot = diabetes_model.plot_path(target)
    assert target.read_text() == path_plot.text
    cv_plot = diabetes_model.plot_cv()
    for svg in (path_plot, cv_plot):
        assert "<svg" in svg._repr_svg_() and svg.text.rstrip().endswith("</svg>")


def test_wide_array_upload_and_fit(sf: sparsefit.Client) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 2000))
    y = 3 * x[:, 0] - 2 * x[:, 1] + 0.1 * rng.standard_normal(100)
    dataset = sf.upload(
        np.column_stack([x, y]), name="wide", columns=[*(f"x{j}" for j in range(1, 2001)), "y"]
    )
    assert (dataset.n_rows, dataset.n_columns) == (100, 2001)
    model = sf.fit(dataset, target="y", cv=3, max_features=5)
    assert {"x1", "x2"} <= set(model.selected_features)
    predicted = model.predict(x[:5], columns=[f"x{j}" for j in range(1, 2001)])
    assert isinstance(predicted, np.ndarray) and predicted.shape == (5,)
    coefficients = model.coefficients
    np.testing.assert_allclose(
        predicted,
        model.intercept + x[:5] @ coefficients[[f"x{j}" for j in range(1, 2001)]].to_numpy(),
        rtol=1e-9,
    )


def test_fit_names_the_columns_of_an_array_it_uploads(sf: sparsefit.Client) -> None:
    # The README's form: fit(array, columns=...) uploads the array under those names first
    # (columns was once sent in the JobCreate body, a 422).
    rng = np.random.default_rng(2)
    x = rng.standard_normal((80, 300))
    y = 2 * x[:, 7] + 0.1 * rng.standard_normal(80)
    names = [*(f"g{j}" for j in range(300)), "target"]
    model = sf.fit(np.column_stack([x, y]), target="target", columns=names, cv=None, alpha=0.1)
    assert model.selected_features == ["g7"]
    assert list(model.coefficients.index) == names[:-1]


def test_sparse_matrix_upload_fit_and_predict(sf: sparsefit.Client) -> None:
    rng = np.random.default_rng(1)
    x = sp.random(300, 40, density=0.2, format="csr", random_state=rng)
    y = 4 * x[:, 0].toarray().ravel() - 3 * x[:, 5].toarray().ravel() + 0.01 * rng.standard_normal(300)
    table = sp.hstack([x, sp.csr_matrix(y.reshape(-1, 1))], format="coo")  # COO: the client makes it CSR
    names = [*(f"f{j}" for j in range(40)), "y"]
    dataset = sf.upload(table, columns=names)
    assert (dataset.storage, dataset.n_rows, dataset.n_columns) == ("sparse", 300, 41)
    assert dataset.info["density"] == pytest.approx(table.nnz / (300 * 41))
    model = sf.fit(dataset.id, target="y", cv=3)
    assert {"f0", "f5"} <= set(model.selected_features)
    predicted = model.predict(x, columns=names[:-1])
    coefficients = model.coefficients[names[:-1]].to_numpy()
    np.testing.assert_allclose(predicted, model.intercept + x @ coefficients, rtol=1e-9)


def test_refusals_raise_sparsefit_error_with_the_problem(
    sf: sparsefit.Client, diabetes: pd.DataFrame
) -> None:
    dataset = sf.upload(diabetes.head(50), name="small")
    with pytest.raises(sparsefit.SparsefitError) as caught:
        sf.fit(dataset, target="no_such_column")
    error = caught.value
    assert error.status == 422 and error.type.startswith("/problems/")
    assert error.problem["status"] == 422 and error.detail and "no_such_column" in error.detail
    with pytest.raises(sparsefit.SparsefitError) as missing:
        sf.model("0" * 32)
    assert (missing.value.status, missing.value.type) == (404, "/problems/not-found")


def test_failed_job_raises_its_problem(sf: sparsefit.Client, diabetes_model: sparsefit.Model) -> None:
    # A time limit no fit can meet: the job fails, and its record's problem is what the client raises.
    with pytest.raises(sparsefit.SparsefitError) as caught:
        sf.fit(diabetes_model.info["dataset_id"], target="target", max_runtime_s=0.001)
    error = caught.value
    assert (error.type, error.status) == ("/problems/job-timeout", 504)
    failed = sf.job(error.problem["job_id"])
    assert failed.status == "failed" and failed.error is not None and failed.error["type"] == error.type


def test_cancel_a_running_job(sf: sparsefit.Client) -> None:
    """A job cancelled through the client while it runs on the real server ends canceled, without a model."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((400, 3000))
    y = X[:, :5] @ np.arange(1.0, 6.0) + rng.standard_normal(400)
    columns = [*(f"x{j}" for j in range(3000)), "y"]
    dataset = sf.upload(np.column_stack([X, y]), columns=columns, name="to cancel")
    # 20 folds of a long, tight elastic-net path: seconds of work, so the cancel lands while it runs.
    options = {
        "penalty": "elasticnet",
        "l1_ratio": 0.3,
        "cv": 20,
        "path": {"n_alphas": 200},
        "solver": {"tol": 1e-12},
    }
    job = sf.fit(dataset, target="y", wait=False, **options)
    assert isinstance(job, sparsefit.Job)
    deadline = time.monotonic() + 60
    while (current := sf.job(job.id)).status == "queued" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert current.status == "running", current
    sf.cancel(job)
    with pytest.raises(sparsefit.SparsefitError) as caught:
        sf.wait(job)
    assert (caught.value.type, caught.value.status) == ("/problems/canceled", 409)
    final = sf.job(job.id)
    assert final.status == "canceled" and final.model_id is None
    assert all(model.info["job_id"] != job.id for model in sf.models())


def test_api_key_is_sent_and_required(service: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARSEFIT_API_KEY", raising=False)
    for key in (None, "wrong-key"):
        with (
            sparsefit.Client(service.base, api_key=key) as anonymous,
            pytest.raises(sparsefit.SparsefitError) as caught,
        ):
            anonymous.models()
        assert (caught.value.status, caught.value.type) == (401, "/problems/unauthorized")
    monkeypatch.setenv("SPARSEFIT_API_KEY", KEY)  # the key from the environment, as the CLI reads it
    monkeypatch.setenv("SPARSEFIT_URL", service.base)
    with sparsefit.Client() as from_env:
        assert isinstance(from_env.models(), list)


def test_transport_failure_is_a_sparsefit_error() -> None:
    with (
        sparsefit.Client(f"http://127.0.0.1:{free_port()}", timeout=5) as nowhere,
        pytest.raises(sparsefit.SparsefitError) as caught,
    ):
        nowhere.health()
    assert caught.value.type == TRANSPORT_PROBLEM and caught.value.status is None


def test_fit_progress_follows_the_events(
    sf: sparsefit.Client, diabetes: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    job = sf.fit(diabetes, target="target", wait=False, penalty="ridge", cv=3)
    assert job.status in ("queued", "running", "succeeded")
    model = sf.wait(job, progress=True)
    assert model.penalty == "ridge" and sf.job(job.id).model_id == model.id
    shown = capsys.readouterr().err
    assert f"job {job.id[:8]}" in shown and "100%" in shown
    assert any(m.id == model.id for m in sf.models(limit=1000))
    sf.delete_model(model)
    with pytest.raises(sparsefit.SparsefitError):
        sf.model(model.id)


def test_export(service: Server, diabetes_model: sparsefit.Model, tmp_path: Path) -> None:
    if not export_route_exists(service):
        pytest.skip("GET /v1/models/{id}/export is not in this server's API (issue 12, point 3)")
    document = diabetes_model.export("json")
    assert (
        document
        == raw(service, "GET", f"/v1/models/{diabetes_model.id}/export", params={"format": "json"}).json()
    )
    onnx = diabetes_model.export("onnx", file=tmp_path / "model.onnx")
    assert onnx and (tmp_path / "model.onnx").read_bytes() == onnx
