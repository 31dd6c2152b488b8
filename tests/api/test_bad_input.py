"""The bad-input table: every case gets its 4xx problem type, never a 500, and changes nothing stored."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import run_job, upload

UNKNOWN_ID = "0" * 32


@dataclass(frozen=True)
class World:
    """What is stored before each case: a dataset, a finished job and its model."""

    dataset_id: str
    job_id: str
    model_id: str


Request = Callable[[TestClient, World], httpx.Response]


def csv(body: bytes) -> Request:
    return lambda c, w: c.post("/v1/datasets", content=body, headers={"Content-Type": "text/csv"})


def job(**fields: Any) -> Request:
    return lambda c, w: c.post("/v1/jobs", json={"dataset_id": w.dataset_id, "target": "y", **fields})


def job_on(csv_body: bytes, **fields: Any) -> Request:
    def send(c: TestClient, w: World) -> httpx.Response:
        dataset = upload(c, csv_body)
        return c.post("/v1/jobs", json={"dataset_id": dataset["id"], **fields})

    return send


def raw_job(json_text: str) -> Request:
    """A job body sent as text, for what json= cannot send (NaN, Infinity: Python's json reads them)."""

    def send(c: TestClient, w: World) -> httpx.Response:
        body = f'{{"dataset_id": "{w.dataset_id}", "target": "y", {json_text}}}'
        return c.post("/v1/jobs", content=body.encode(), headers={"Content-Type": "application/json"})

    return send


WEIGHTED_CSV = b"x,w,y\n1,1,1\n2,1,2\n3,2,4\n4,1,5\n"


def predict(body: dict[str, Any]) -> Request:
    return lambda c, w: c.post(f"/v1/models/{w.model_id}/predictions", json=body)


# Bad penalty_factors / bounds / max_features: each answers a validation problem whose first error's
# loc is ["body", field, feature] (["body", "max_features"] for max_features).
CONSTRAINT_CASES: dict[str, tuple[Request, str, str | None]] = {
    "penalty factor for the target": (job(penalty_factors={"y": 0.0}), "penalty_factors", "y"),
    "penalty factor for no column": (job(penalty_factors={"nope": 0.0}), "penalty_factors", "nope"),
    "penalty factor for the weights column": (
        job_on(WEIGHTED_CSV, target="y", weights_column="w", penalty_factors={"w": 0.0}, cv={"folds": 2}),
        "penalty_factors",
        "w",
    ),
    "penalty factor for a column not among the features": (
        job(features=["age", "bmi"], penalty_factors={"s1": 0.5}),
        "penalty_factors",
        "s1",
    ),
    "negative penalty factor": (job(penalty_factors={"age": -1.0}), "penalty_factors", "age"),
    "NaN penalty factor": (raw_job('"penalty_factors": {"age": NaN}'), "penalty_factors", "age"),
    "infinite penalty factor": (raw_job('"penalty_factors": {"age": Infinity}'), "penalty_factors", "age"),
    "penalty factor not a number": (job(penalty_factors={"age": "low"}), "penalty_factors", "age"),
    "bounds for the target": (job(bounds={"y": [0.0, None]}), "bounds", "y"),
    "bounds for no column": (job(bounds={"nope": [None, 0.0]}), "bounds", "nope"),
    "bounds lower above zero": (job(bounds={"bmi": [1.0, None]}), "bounds", "bmi"),
    "bounds upper below zero": (job(bounds={"bmi": [None, -1.0]}), "bounds", "bmi"),
    "bounds lower above upper": (job(bounds={"bmi": [2.0, 1.0]}), "bounds", "bmi"),
    "bounds infinite end": (raw_job('"bounds": {"bmi": [-Infinity, null]}'), "bounds", "bmi"),
    "bounds NaN end": (raw_job('"bounds": {"bmi": [null, NaN]}'), "bounds", "bmi"),
    "bounds with three ends": (job(bounds={"bmi": [0.0, 1.0, 2.0]}), "bounds", "bmi"),
    "bounds not a pair": (job(bounds={"bmi": 0.0}), "bounds", "bmi"),
    "max_features zero": (job(max_features=0), "max_features", None),
    "max_features negative": (job(max_features=-3), "max_features", None),
    "max_features fractional": (job(max_features=2.5), "max_features", None),
    "max_features below the unpenalized features": (
        job(penalty_factors={"age": 0.0, "sex": 0.0, "bmi": 0.5}, max_features=1),
        "max_features",
        None,
    ),
}

CASES: dict[str, tuple[Request, int, str]] = {
    "csv inf value": (csv(b"a,y\n1,2\ninf,3\n"), 422, "/problems/invalid-dataset"),
    "csv ragged long row": (csv(b"a,y\n1,2\n3,4,5\n"), 422, "/problems/invalid-dataset"),
    "csv ragged short row": (csv(b"a,y\n1,2\n3\n"), 422, "/problems/invalid-dataset"),
    "csv empty body": (csv(b""), 422, "/problems/invalid-dataset"),
    "csv header only": (csv(b"a,y\n"), 422, "/problems/invalid-dataset"),
    "csv duplicate column": (csv(b"a,a,y\n1,2,3\n"), 422, "/problems/invalid-dataset"),
    "csv empty column name": (csv(b"a,,y\n1,2,3\n"), 422, "/problems/invalid-dataset"),
    "csv not utf-8": (csv(b"a,y\n\xff\xfe,1\n"), 422, "/problems/invalid-dataset"),
    "json NaN value": (
        lambda c, w: c.post(
            "/v1/datasets",
            content=b'{"columns": ["a"], "data": [[NaN]]}',
            headers={"Content-Type": "application/json"},
        ),
        422,
        "/problems/invalid-dataset",
    ),
    "json malformed": (
        lambda c, w: c.post(
            "/v1/datasets", content=b'{"columns": [', headers={"Content-Type": "application/json"}
        ),
        422,
        "/problems/validation",
    ),
    "json mixed column types": (
        lambda c, w: c.post("/v1/datasets", json={"columns": ["a"], "data": [[1], ["x"]]}),
        422,
        "/problems/invalid-dataset",
    ),
    "parquet that is not parquet": (
        lambda c, w: c.post(
            "/v1/datasets", content=b"a,y\n1,2\n", headers={"Content-Type": "application/vnd.apache.parquet"}
        ),
        422,
        "/problems/invalid-dataset",
    ),
    "multipart without file": (
        lambda c, w: c.post("/v1/datasets", files={"other": ("x.csv", b"a\n1\n", "text/csv")}),
        422,
        "/problems/invalid-dataset",
    ),
    "oversize body": (csv(b"a,y\n" + b"1,2\n" * 1_100_000), 413, "/problems/payload-too-large"),
    "unknown content type": (
        lambda c, w: c.post("/v1/datasets", content=b"<a/>", headers={"Content-Type": "application/xml"}),
        415,
        "/problems/unsupported-media-type",
    ),
    "target not a column": (job(target="nope"), 422, "/problems/validation"),
    "feature not a column": (job(features=["age", "nope"]), 422, "/problems/validation"),
    "categorical target for gaussian": (
        job_on(b"g,x\na,1\nb,2\na,3\n", target="g"),
        422,
        "/problems/validation",
    ),
    "one class only for binomial": (
        job_on(b"x,y\n1,1\n2,1\n3,1\n", target="y", family="binomial", cv={"folds": 2}),
        422,
        "/problems/invalid-data",
    ),
    "NaN in target": (
        job_on(b"x,y\n1,1\n2,\n3,4\n4,5\n", target="y", cv={"folds": 2}),
        422,
        "/problems/invalid-data",
    ),
    "missing feature value with missing=error": (
        job_on(b"x,y\n1,1\n,2\n3,4\n4,5\n", target="y", cv={"folds": 2}),
        422,
        "/problems/invalid-data",
    ),
    "fold column with one fold": (
        job_on(b"x,f,y\n1,1,1\n2,1,2\n3,1,4\n", target="y", cv={"fold_column": "f"}),
        422,
        "/problems/invalid-data",
    ),
    "more folds than rows": (job(cv={"folds": 1000}), 422, "/problems/validation"),
    "alpha zero": (job(alpha=0), 422, "/problems/validation"),
    "alpha negative": (job(alpha=-1.0), 422, "/problems/validation"),
    "l1_ratio above one": (job(penalty="elasticnet", l1_ratio=1.5), 422, "/problems/validation"),
    "l1_ratio below zero": (job(penalty="elasticnet", l1_ratio=-0.1), 422, "/problems/validation"),
    "elasticnet without l1_ratio": (job(penalty="elasticnet"), 422, "/problems/validation"),
    "lasso with l1_ratio 0.5": (job(l1_ratio=0.5), 422, "/problems/validation"),
    "auc for gaussian": (job(cv={"metric": "auc"}), 422, "/problems/validation"),
    "wrong JSON type": (job(target=5), 422, "/problems/validation"),
    "unknown field": (job(penalty_factor={"age": 0.0}), 422, "/problems/validation"),
    "unknown family": (job(family="poisson"), 422, "/problems/validation"),
    **{case: (send, 422, "/problems/validation") for case, (send, _, _) in CONSTRAINT_CASES.items()},
    "unknown dataset": (
        lambda c, w: c.post("/v1/jobs", json={"dataset_id": UNKNOWN_ID, "target": "y"}),
        404,
        "/problems/not-found",
    ),
    "unknown job": (lambda c, w: c.get(f"/v1/jobs/{UNKNOWN_ID}"), 404, "/problems/not-found"),
    "unknown model": (lambda c, w: c.get(f"/v1/models/{UNKNOWN_ID}/path"), 404, "/problems/not-found"),
    "id that is not an id": (lambda c, w: c.get("/v1/datasets/..%2F..%2Fetc"), 404, "/problems/not-found"),
    "cancel unknown job": (lambda c, w: c.post(f"/v1/jobs/{UNKNOWN_ID}/cancel"), 404, "/problems/not-found"),
    "cancel finished job": (
        lambda c, w: c.post(f"/v1/jobs/{w.job_id}/cancel"),
        409,
        "/problems/job-finished",
    ),
    "limit zero": (lambda c, w: c.get("/v1/datasets?limit=0"), 422, "/problems/validation"),
    "wait above 60": (lambda c, w: c.get(f"/v1/jobs/{w.job_id}?wait=61"), 422, "/problems/validation"),
    "predict missing column": (
        predict({"columns": ["age"], "data": [[1.0]]}),
        422,
        "/problems/feature-mismatch",
    ),
    "predict alpha not on path": (
        predict({"dataset_id": UNKNOWN_ID[:-1] + "1", "alpha": 1e9}),
        404,
        "/problems/not-found",
    ),
    "predict both sources": (
        predict({"dataset_id": UNKNOWN_ID, "columns": ["a"], "data": [[1]]}),
        422,
        "/problems/validation",
    ),
    "predict text body": (
        lambda c, w: c.post(
            f"/v1/models/{w.model_id}/predictions", content=b"x", headers={"Content-Type": "text/plain"}
        ),
        415,
        "/problems/unsupported-media-type",
    ),
    "unknown path": (lambda c, w: c.get("/v2/nothing"), 404, "/problems/not-found"),
    "method not allowed": (lambda c, w: c.put("/v1/datasets"), 405, "/problems/method-not-allowed"),
}


def _snapshot(client: TestClient, data_dir: Path) -> dict[str, Any]:
    files = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.glob("*/*"))
        if p.is_file()
    }
    return {
        "datasets": client.get("/v1/datasets?limit=1000").json()["items"],
        "models": client.get("/v1/models?limit=1000").json()["items"],
        "files": files,
    }


@pytest.fixture
def world(client: TestClient, diabetes_csv: bytes) -> World:
    dataset = upload(client, diabetes_csv)
    job_record = run_job(
        client, {"dataset_id": dataset["id"], "target": "y", "cv": {"folds": 3}, "path": {"n_alphas": 20}}
    )
    return World(dataset["id"], job_record["id"], job_record["model_id"])


def test_bad_input_table_has_enough_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_answers_problem_and_changes_nothing(client: TestClient, world: World, case: str) -> None:
    send, status, problem_type = CASES[case]
    data_dir = client.app.state.settings.data_dir  # type: ignore[attr-defined]
    before = _snapshot(client, data_dir)
    response = send(client, world)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == problem_type and problem["status"] == status
    assert isinstance(problem["detail"], str) and problem["detail"]
    after = _snapshot(client, data_dir)
    # Cases that upload their own dataset first add exactly that; nothing stored before changes.
    assert [d for d in after["datasets"] if d["id"] in {b["id"] for b in before["datasets"]}] == before[
        "datasets"
    ]
    assert after["models"] == before["models"]
    assert {k: v for k, v in after["files"].items() if k in before["files"]} == before["files"]
    assert client.get("/healthz").status_code == 200


@pytest.fixture
def dataset_only(client: TestClient, diabetes_csv: bytes) -> World:
    """The diabetes dataset without the fitted job: what a request refused before queueing needs."""
    return World(upload(client, diabetes_csv)["id"], UNKNOWN_ID, UNKNOWN_ID)


@pytest.mark.parametrize("case", list(CONSTRAINT_CASES))
def test_create_job_bad_constraint_names_field(client: TestClient, dataset_only: World, case: str) -> None:
    send, field, feature = CONSTRAINT_CASES[case]
    response = send(client, dataset_only)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "/problems/validation"
    where = ["body", field] if feature is None else ["body", field, feature]
    assert problem["errors"][0]["loc"][: len(where)] == where
    assert problem["detail"].startswith(".".join(where[1:]))
    assert client.get("/v1/jobs").json()["total"] == 0


def test_predict_alpha_outside_path_is_validation_problem(client: TestClient, world: World) -> None:
    response = client.post(
        f"/v1/models/{world.model_id}/predictions", json={"columns": ["age"], "data": [[1.0]], "alpha": 1e9}
    )
    assert response.status_code == 422
    assert response.json()["type"] in ("/problems/validation", "/problems/feature-mismatch")
