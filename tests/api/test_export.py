"""GET /v1/models/{id}/export: ONNX and JSON scoring documents give the service's own predictions."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sklearn.datasets import load_wine

from service.api.export_schemas import ScoringDocument
from service.app import create_app
from tests.conftest import EXAMPLES, csv_bytes, make_settings, run_job, upload
from tests.export.scorers import relative_difference, run_onnx, score_document

ACME = {"Authorization": "Bearer acme-key-0123456789"}
GLOBEX = {"Authorization": "Bearer globex-key-9876543210"}
RTOL = 1e-9


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("export") / "data").model_copy(
        update={"api_keys": SecretStr("acme:acme-key-0123456789,globex:globex-key-9876543210")}
    )
    with TestClient(create_app(settings), raise_server_exceptions=False, headers=ACME) as client:
        yield client


@dataclass(frozen=True)
class Fitted:
    """A model fitted through the API and the rows (by column, None for missing) to score with it."""

    model_id: str
    columns: dict[str, list[Any]]

    @property
    def url(self) -> str:
        return f"/v1/models/{self.model_id}"

    def rows(self) -> list[dict[str, Any]]:
        names = list(self.columns)
        return [dict(zip(names, values, strict=True)) for values in zip(*self.columns.values(), strict=True)]


def _fit(client: TestClient, body: bytes, job: dict[str, Any], columns: dict[str, list[Any]]) -> Fitted:
    dataset = upload(client, body)
    finished = run_job(client, {"dataset_id": dataset["id"], **job})
    assert finished["status"] == "succeeded", finished
    return Fitted(finished["model_id"], columns)


def _columns(body: bytes, drop: str) -> dict[str, list[Any]]:
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    return {name: [float(r[name]) for r in rows] for name in rows[0] if name != drop}


def _wine_csv() -> bytes:
    data = load_wine()
    # The real names: "od280/od315_of_diluted_wines" is no identifier, so its ONNX input is renamed.
    rows = [[*map(float, x), int(t)] for x, t in zip(data.data, data.target, strict=True)]
    return csv_bytes([*data.feature_names, "cultivar"], rows)


def _mixed_table(n: int = 400) -> tuple[bytes, dict[str, list[Any]]]:
    """Categoricals and missing cells in both kinds of column; the columns to score add an unseen
    level and rows whose every feature is missing."""
    rng = np.random.default_rng(12)
    colour = rng.choice(["red", "green", "blue"], n).astype(object)
    size = rng.choice(["S", "M", "L", "XL"], n).astype(object)
    x1, x2 = rng.standard_normal(n), rng.uniform(0, 10, n)
    y = 5 + 2 * x1 - 0.3 * x2 + np.where(colour == "red", 3.0, 0.0) - np.where(size == "S", 1.5, 0.0)
    y = y + 0.5 * rng.standard_normal(n)
    colour[rng.random(n) < 0.1] = None
    size[rng.random(n) < 0.05] = None
    x1_cells: list[Any] = [None if rng.random() < 0.1 else float(v) for v in x1]
    x2_cells: list[Any] = [None if rng.random() < 0.1 else float(v) for v in x2]
    names = ["colour", "dose (mg)", "size", "x1", "y"]
    table = list(zip(colour, x2_cells, size, x1_cells, [float(v) for v in y], strict=True))
    body = csv_bytes(names, [list(row) for row in table])
    columns = {name: [row[j] for row in table] for j, name in enumerate(names[:-1])}
    for name, extra in [("colour", ["purple", None]), ("size", ["S", None]), ("dose (mg)", [1.5, None])]:
        columns[name] = columns[name] + extra
    columns["x1"] = columns["x1"] + [None, None]
    return body, columns


@pytest.fixture(scope="module")
def models(acme: TestClient, breast_cancer_csv: bytes) -> dict[str, Fitted]:
    diabetes = (EXAMPLES / "diabetes.csv").read_bytes()
    wine = _wine_csv()
    mixed, mixed_columns = _mixed_table()
    return {
        "diabetes": _fit(acme, diabetes, {"target": "y", "cv": {"folds": 5}}, _columns(diabetes, "y")),
        "breast_cancer": _fit(
            acme,
            breast_cancer_csv,
            {"target": "diagnosis", "family": "binomial", "cv": {"folds": 5}, "name": "breast cancer/v1"},
            _columns(breast_cancer_csv, "diagnosis"),
        ),
        "wine": _fit(
            acme,
            wine,
            {"target": "cultivar", "family": "multinomial", "cv": {"folds": 3}, "path": {"n_alphas": 30}},
            _columns(wine, "cultivar"),
        ),
        "mixed": _fit(
            acme, mixed, {"target": "y", "missing": "mean", "cv": {"folds": 5, "rule": "min"}}, mixed_columns
        ),
    }


DATASETS = ["diabetes", "breast_cancer", "wine", "mixed"]
# The largest relative differences seen, per dataset and output; printed at the end of the module.
SEEN: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def report_differences() -> Iterator[None]:
    yield
    for key, value in sorted(SEEN.items()):  # shown with pytest -s
        print(f"max relative difference {key}: {value:.3g}")


def _service(client: TestClient, fitted: Fitted, alpha: float | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "columns": list(fitted.columns),
        "data": [list(r.values()) for r in fitted.rows()],
    }
    if alpha is not None:
        body["alpha"] = alpha
    response = client.post(f"{fitted.url}/predictions", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _check(label: str, got_predictions: Any, got_probabilities: Any, expected: dict[str, Any]) -> None:
    """Regression values and probabilities within RTOL; class labels equal, of the service's type."""
    if expected["classes"] is None:
        SEEN[f"{label} predictions"] = relative_difference(got_predictions, expected["predictions"])
        assert SEEN[f"{label} predictions"] <= RTOL
        return
    assert list(got_predictions) == expected["predictions"]
    assert [type(v) for v in got_predictions] == [type(v) for v in expected["predictions"]]
    SEEN[f"{label} probabilities"] = relative_difference(got_probabilities, expected["probabilities"])
    assert SEEN[f"{label} probabilities"] <= RTOL


@pytest.mark.parametrize("dataset", DATASETS)
def test_export_onnx_matches_service_predictions(
    acme: TestClient, models: dict[str, Fitted], dataset: str
) -> None:
    fitted = models[dataset]
    response = acme.get(f"{fitted.url}/export", params={"format": "onnx"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/onnx"
    outputs = run_onnx(response.content, fitted.columns)
    expected = _service(acme, fitted)
    predictions = outputs["predictions"].tolist()  # numpy scalars to Python: str, int or float
    _check(f"{dataset} onnx", predictions, outputs.get("probabilities"), expected)
    assert ("probabilities" in outputs) == (expected["classes"] is not None)


@pytest.mark.parametrize("dataset", DATASETS)
def test_export_json_scores_as_the_service_predicts(
    acme: TestClient, models: dict[str, Fitted], dataset: str
) -> None:
    fitted = models[dataset]
    response = acme.get(f"{fitted.url}/export", params={"format": "json"})
    assert response.status_code == 200, response.text
    document = response.json()
    ScoringDocument.model_validate(document)  # the shape the OpenAPI document promises
    scored = [score_document(document, row) for row in fitted.rows()]
    probabilities = None if scored[0][1] is None else [p for _, p in scored]
    _check(f"{dataset} json", [v for v, _ in scored], probabilities, _service(acme, fitted))


def test_export_alpha_between_path_points_as_predictions_interpolate(
    acme: TestClient, models: dict[str, Fitted]
) -> None:
    fitted = models["wine"]
    alphas = acme.get(f"{fitted.url}/path").json()["alphas"]
    alpha = math.sqrt(alphas[5] * alphas[6])  # between two path points: interpolated in log(alpha)
    expected = _service(acme, fitted, alpha)
    assert expected != _service(acme, fitted)
    model = acme.get(f"{fitted.url}/export", params={"format": "onnx", "alpha": alpha}).content
    outputs = run_onnx(model, fitted.columns)
    _check("wine onnx alpha", outputs["predictions"].tolist(), outputs["probabilities"], expected)
    document = acme.get(f"{fitted.url}/export", params={"format": "json", "alpha": alpha}).json()
    assert document["model"]["alpha"] == alpha
    scored = [score_document(document, row) for row in fitted.rows()]
    _check("wine json alpha", [v for v, _ in scored], [p for _, p in scored], expected)
    outside = acme.get(f"{fitted.url}/export", params={"format": "onnx", "alpha": alphas[0] * 10})
    assert outside.status_code == 422 and outside.json()["type"] == "/problems/validation"
    assert outside.json()["errors"][0]["loc"][-1] == "alpha"


def test_export_onnx_inputs_named_by_column_with_types_and_metadata(
    acme: TestClient, models: dict[str, Fitted]
) -> None:
    mixed = onnx.load_from_string(acme.get(f"{models['mixed'].url}/export?format=onnx").content)
    kinds = {i.name: i.type.tensor_type.elem_type for i in mixed.graph.input}
    string, double = onnx.TensorProto.STRING, onnx.TensorProto.DOUBLE
    assert kinds == {"colour": string, "dose__mg_": double, "size": string, "x1": double}
    metadata = {p.key: p.value for p in mixed.metadata_props}
    assert metadata["sparsefit.missing"] == "mean" and metadata["sparsefit.family"] == "gaussian"
    assert '"dose__mg_": "dose (mg)"' in metadata["sparsefit.inputs"]
    wine = onnx.load_from_string(acme.get(f"{models['wine'].url}/export?format=onnx").content)
    assert "od280_od315_of_diluted_wines" in [i.name for i in wine.graph.input]
    assert [o.name for o in wine.graph.output] == ["predictions", "probabilities"]
    assert wine.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.INT64  # labels 0, 1, 2
    named = acme.get(f"{models['breast_cancer'].url}/export?format=onnx")
    assert named.headers["content-disposition"] == 'attachment; filename="breast_cancer_v1.onnx"'
    unnamed = acme.get(f"{models['diabetes'].url}/export?format=json")
    assert (
        unnamed.headers["content-disposition"] == f'attachment; filename="{models["diabetes"].model_id}.json"'
    )


def test_export_missing_error_model_gives_nan_where_service_refuses(
    acme: TestClient, models: dict[str, Fitted]
) -> None:
    fitted = models["diabetes"]
    columns = {name: [values[0], None] for name, values in fitted.columns.items()}
    refused = acme.post(f"{fitted.url}/predictions", json={"columns": list(columns), "data": [[None] * 10]})
    assert refused.status_code == 422 and refused.json()["type"] == "/problems/invalid-data"
    model = acme.get(f"{fitted.url}/export?format=onnx").content
    predictions = run_onnx(model, columns)["predictions"]
    assert math.isfinite(predictions[0]) and math.isnan(predictions[1])


@pytest.mark.parametrize("query", ["format=xml", "format=ONNX", ""])
def test_export_unknown_or_absent_format_is_422_naming_format(
    acme: TestClient, models: dict[str, Fitted], query: str
) -> None:
    response = acme.get(f"{models['diabetes'].url}/export?{query}")
    assert response.status_code == 422 and response.json()["type"] == "/problems/validation"
    assert response.json()["errors"][0]["loc"] == ["query", "format"]


def test_export_other_tenant_or_unknown_model_is_404(acme: TestClient, models: dict[str, Fitted]) -> None:
    for format in ("onnx", "json"):
        foreign = acme.get(f"{models['diabetes'].url}/export?format={format}", headers=GLOBEX)
        assert foreign.status_code == 404 and foreign.json()["type"] == "/problems/not-found"
        unknown = acme.get(f"/v1/models/{'0' * 32}/export?format={format}")
        assert unknown.status_code == 404 and unknown.json()["type"] == "/problems/not-found"


def test_export_onnx_too_wide_is_422_and_json_still_works(
    acme: TestClient, models: dict[str, Fitted], monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.export import onnx_graph

    monkeypatch.setattr(onnx_graph, "ONNX_MAX_FEATURES", 9)  # diabetes has 10 feature columns
    url = f"{models['diabetes'].url}/export"
    refused = acme.get(url, params={"format": "onnx"})
    assert refused.status_code == 422 and refused.json()["type"] == "/problems/export-unsupported"
    assert refused.json()["errors"][0]["loc"] == ["query", "format"]
    assert acme.get(url, params={"format": "json"}).status_code == 200
