"""The bad-input table: every case gets its 4xx problem type, never a 500, and changes nothing stored."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route, compile_path

from service.app import create_app
from tests.api.bad_input_cases import (
    CASES,
    CONSTRAINT_CASES,
    FAILED_JOB_CASES,
    TABLE,
    Case,
    Ids,
    table_params,
)
from tests.conftest import make_settings, run_job, upload

# Routes without input to refuse: operations and the generated documentation.
UNTABLED_PATHS = {
    "/healthz",
    "/readyz",
    "/metrics",
    "/version",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    # The web page and its static files (issue 12): they take no input.
    "/",
    "/ui",
    "/ui/static/{path:path}",
}
# SQLite rewrites its files on any write and some reads; the catalog is compared through the API.
CATALOG_FILES = ("catalog.sqlite3", "catalog.sqlite3-wal", "catalog.sqlite3-shm")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding only the data dir, so a file written beside it would show."""
    return tmp_path_factory.mktemp("bad-input")


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    # One app for the whole table: each case checks that it changed nothing, so the next one
    # sees the same store; starting an app and fitting per case would multiply the runtime.
    with TestClient(create_app(make_settings(root / "data")), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def world(client: TestClient, diabetes_csv: bytes) -> Ids:
    """What is stored before every case: a dataset, a finished job and its model, a model without CV."""
    dataset = upload(client, diabetes_csv)
    cv = run_job(
        client, {"dataset_id": dataset["id"], "target": "y", "cv": {"folds": 3}, "path": {"n_alphas": 20}}
    )
    plain = run_job(client, {"dataset_id": dataset["id"], "target": "y", "cv": None, "alpha": 1.0})
    stability = {"kind": "stability", "stability": {"n_pairs": 2}, "path": {"n_alphas": 10}}
    stable = run_job(client, {"dataset_id": dataset["id"], "target": "y", **stability})
    bootstrap = {"kind": "bootstrap", "alpha": 1.0, "bootstrap": {"replicates": 2}}
    boot = run_job(client, {"dataset_id": dataset["id"], "target": "y", **bootstrap})
    assert cv["status"] == plain["status"] == stable["status"] == boot["status"] == "succeeded"
    return {
        "dataset_id": dataset["id"],
        "job_id": cv["id"],
        "model_id": cv["model_id"],
        "nocv_model_id": plain["model_id"],
        "selection_id": stable["selection_id"],
        "bootstrap_selection_id": boot["selection_id"],
    }


@pytest.fixture
def quiet(client: TestClient) -> Iterator[None]:
    """After a case, stop any job it left queued or running, so the next case starts from a still store."""
    yield
    for status in ("queued", "running"):
        for job in client.get(f"/v1/jobs?status={status}&limit=1000").json()["items"]:
            client.post(f"/v1/jobs/{job['id']}/cancel")
            client.get(f"/v1/jobs/{job['id']}?wait=60")


def _app_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path template) of every route the app serves."""
    for route in routes:
        if isinstance(route, Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield method, prefix + route.path
        elif hasattr(route, "original_router"):  # FastAPI's wrapper around an included router
            yield from _app_routes(route.original_router.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Mount):  # static files: every path below the mount, read only
            yield "GET", prefix + route.path + "/{path:path}"
        else:
            raise AssertionError(f"a route of unexpected type {type(route).__name__}")


def _fastapi(client: TestClient) -> FastAPI:
    assert isinstance(client.app, FastAPI)
    return client.app


def _served_route(client: TestClient, sent: httpx.Request) -> str | None:
    """The route that matches the request as sent (after the client normalised its URL), if any."""
    for method, template in _app_routes(_fastapi(client).routes):
        if method == sent.method and compile_path(template)[0].match(sent.url.path):
            return f"{method} {template}"
    return None


def _file_hashes(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name not in CATALOG_FILES
    }


def _snapshot(client: TestClient, root: Path) -> dict[str, Any]:
    jobs = client.get("/v1/jobs?limit=1000").json()["items"]
    return {
        "datasets": client.get("/v1/datasets?limit=1000").json()["items"],
        "models": client.get("/v1/models?limit=1000").json()["items"],
        "selections": client.get("/v1/selections?limit=1000").json()["items"],
        "job ids": [job["id"] for job in jobs],
        # A job still running when the case starts (one `prepare` made) moves on by itself.
        "finished jobs": [job for job in jobs if job["status"] not in ("queued", "running")],
        "files": _file_hashes(root),
    }


def _prepare(client: TestClient, world: Ids, case: Case) -> Ids:
    """The ids the case's request is filled from: the world's, and those of what it stored first."""
    return {**world, **(case.prepare(client, world) if case.prepare is not None else {})}


def test_bad_input_table_has_enough_cases() -> None:
    assert len(CASES) >= 40


def test_bad_input_table_covers_every_route(client: TestClient) -> None:
    # Self-checking: a route added to the app without a bad-input case here fails this test.
    served = {
        f"{method} {path}"
        for method, path in _app_routes(_fastapi(client).routes)
        if path not in UNTABLED_PATHS
    }
    assert served - {case.route for case in TABLE.values()} == set()


@pytest.mark.parametrize("name", table_params())
def test_bad_input_answers_problem_and_changes_nothing(
    client: TestClient, root: Path, world: Ids, quiet: None, name: str
) -> None:
    case = TABLE[name]
    ids = _prepare(client, world, case)
    before = _snapshot(client, root)
    response = case.send(client, ids)
    assert _served_route(client, response.request) == case.route
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == case.type and problem["status"] == case.status
    assert isinstance(problem["detail"], str) and problem["detail"]
    assert {key: problem.get(key) for key in case.members} == case.members
    assert {key: response.headers.get(key) for key in case.answer_headers} == case.answer_headers
    assert _snapshot(client, root) == before
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("name", list(CONSTRAINT_CASES))
def test_create_job_bad_constraint_names_field(client: TestClient, world: Ids, name: str) -> None:
    case, field, feature = CONSTRAINT_CASES[name]
    ids = _prepare(client, world, case)
    jobs = client.get("/v1/jobs").json()["total"]
    response = case.send(client, ids)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "/problems/validation"
    where = ["body", field] if feature is None else ["body", field, feature]
    assert problem["errors"][0]["loc"][: len(where)] == where
    assert problem["detail"].startswith(".".join(where[1:]))
    assert client.get("/v1/jobs").json()["total"] == jobs


@pytest.mark.parametrize("name", list(FAILED_JOB_CASES))
def test_create_job_data_problem_only_values_show_fails_the_job(
    client: TestClient, quiet: None, name: str
) -> None:
    body, fields, problem_type = FAILED_JOB_CASES[name]
    dataset = upload(client, body)
    job = run_job(client, {"dataset_id": dataset["id"], "target": "y", **fields})
    assert job["status"] == "failed", job
    assert job["error"]["type"] == problem_type and job["error"]["status"] == 422
    assert job["model_id"] is None
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 200


def test_predict_alpha_outside_path_is_validation_problem(client: TestClient, world: Ids) -> None:
    response = client.post(
        f"/v1/models/{world['model_id']}/predictions",
        json={"columns": ["age"], "data": [[1.0]], "alpha": 1e9},
    )
    assert response.status_code == 422
    assert response.json()["type"] in ("/problems/validation", "/problems/feature-mismatch")


# What the table's neighbours must accept: the line between bad input and unusual input.


def test_upload_csv_with_bom_strips_it_from_first_column(client: TestClient) -> None:
    dataset = upload(client, b"\xef\xbb\xbfa,y\n1,2\n3,4\n")
    assert [c["name"] for c in dataset["columns"]] == ["a", "y"]
    assert dataset["columns"][0]["kind"] == "numeric"


def test_upload_unicode_column_names_round_trip(client: TestClient, quiet: None) -> None:
    names = ["größe", "名前", "ψ 🙂", "y"]
    rows = "".join(f"{i},{i % 3},{i % 2},{2 * i + i % 3}\n" for i in range(12))
    dataset = upload(client, (",".join(names) + "\n" + rows).encode())
    assert [c["name"] for c in client.get(f"/v1/datasets/{dataset['id']}").json()["columns"]] == names
    json_upload = client.post("/v1/datasets", json={"columns": names, "data": [[1, 2, 3, 4], [5, 6, 7, 8]]})
    assert json_upload.status_code == 201 and [c["name"] for c in json_upload.json()["columns"]] == names
    job = run_job(
        client, {"dataset_id": dataset["id"], "target": "y", "features": names[:3], "cv": None, "alpha": 0.01}
    )
    assert job["status"] == "succeeded", job
    prediction = client.post(
        f"/v1/models/{job['model_id']}/predictions", json={"columns": names[2::-1], "data": [[0, 1, 2]]}
    )
    assert prediction.status_code == 200 and len(prediction.json()["predictions"]) == 1


def test_upload_column_name_of_1000_characters_can_be_named_in_a_job(client: TestClient, quiet: None) -> None:
    name = "n" * 1000
    dataset = upload(client, f"{name},y\n1,1\n2,3\n3,2\n4,5\n".encode())
    job = run_job(
        client, {"dataset_id": dataset["id"], "target": "y", "features": [name], "cv": None, "alpha": 0.01}
    )
    assert job["status"] == "succeeded", job


def test_upload_one_row_dataset_is_accepted(client: TestClient) -> None:
    # A table of one row is a table; it is a fit on it that is refused (see the table).
    assert upload(client, b"x,y\n1,2\n")["n_rows"] == 1


@pytest.mark.parametrize(
    "how",
    [
        {
            "params": {"name": "../../etc/passwd"},
            "content": b"a,y\n1,2\n",
            "headers": {"Content-Type": "text/csv"},
        },
        {"files": {"file": ("../../etc/passwd.csv", b"a,y\n1,2\n", "text/csv")}},
        {"json": {"name": "../../etc/passwd", "columns": ["a", "y"], "data": [[1, 2]]}},
    ],
    ids=["query", "multipart filename", "json"],
)
def test_upload_name_with_path_traversal_is_a_plain_name(
    client: TestClient, root: Path, how: dict[str, Any]
) -> None:
    before = _file_hashes(root)
    response = client.post("/v1/datasets", **how)
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["name"] in ("../../etc/passwd", "../../etc/passwd.csv")
    assert client.get(f"/v1/datasets/{dataset['id']}").json()["name"] == dataset["name"]
    # The only new file is the dataset's own, named by its id inside the data dir.
    assert set(_file_hashes(root)) - set(before) == {f"data/datasets/{dataset['id']}.arrow"}
    assert not (root / "etc").exists() and not (root.parent / "etc").exists()
