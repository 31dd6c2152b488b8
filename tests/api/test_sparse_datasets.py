"""Sparse uploads: svmlight bodies and files, JSON CSR; stored sparse, read back as DatasetRead says."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.data.sparseio import SPARSE_KEY
from service.data.tableio import read_stored_arrow
from tests.conftest import upload

SVMLIGHT = {"Content-Type": "text/x-svmlight"}
BODY = b"# two rows\n1.5 1:2 3:-4\n0 qid:1 2:5\n"
CSR = {
    "name": "csr",
    "columns": ["a", "b", "t"],
    "sparse": {
        "shape": [3, 3],
        "indptr": [0, 2, 3, 4],
        "indices": [0, 2, 1, 2],
        "data": [1.0, 5.0, 2.0, 7.0],
    },
}


def _names(dataset: dict[str, Any]) -> list[str]:
    return [c["name"] for c in dataset["columns"]]


def _stored(client: TestClient, dataset: dict[str, Any]) -> bytes:
    path = client.app.state.settings.data_dir / "datasets" / f"{dataset['id']}.arrow"  # type: ignore[attr-defined]
    data: bytes = path.read_bytes()
    return data


def test_create_dataset_svmlight_body_is_stored_sparse(client: TestClient) -> None:
    response = client.post("/v1/datasets?name=s", content=BODY, headers=SVMLIGHT)
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert response.headers["Location"] == f"/v1/datasets/{dataset['id']}"
    assert (dataset["storage"], dataset["n_rows"], dataset["n_columns"]) == ("sparse", 2, 4)
    assert dataset["density"] == pytest.approx(4 / 8)  # y 1.5, x1 2, x3 -4, x2 5
    assert _names(dataset) == ["y", "x1", "x2", "x3"]
    assert all(
        c == {"name": c["name"], "kind": "numeric", "n_missing": 0, "levels": None}
        for c in dataset["columns"]
    )
    stored = _stored(client, dataset)
    assert hashlib.sha256(stored).hexdigest() == dataset["sha256"] and len(stored) == dataset["size_bytes"]
    assert SPARSE_KEY in (read_stored_arrow(stored).schema.metadata or {})
    assert client.get(f"/v1/datasets/{dataset['id']}").json() == dataset
    assert client.get("/v1/datasets").json()["items"] == [dataset]


def test_create_dataset_svmlight_zero_based_query(client: TestClient) -> None:
    response = client.post("/v1/datasets?zero_based=true", content=b"1 0:1 2:3\n", headers=SVMLIGHT)
    assert response.status_code == 201, response.text
    assert _names(response.json()) == ["y", "x1", "x2", "x3"]


@pytest.mark.parametrize("filename", ["train.svm", "train.svmlight", "TRAIN.LIBSVM"])
def test_create_dataset_svmlight_file_with_column_names(client: TestClient, filename: str) -> None:
    response = client.post(
        "/v1/datasets",
        files={"file": (filename, BODY, "application/octet-stream")},
        data={"columns": "age\nheight\nweight\n", "name": "named"},
    )
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert (dataset["name"], dataset["storage"]) == ("named", "sparse")
    assert _names(dataset) == ["y", "age", "height", "weight"]


def test_create_dataset_svmlight_file_told_by_content_type(client: TestClient) -> None:
    response = client.post("/v1/datasets", files={"file": ("data.txt", BODY, "text/x-svmlight")})
    assert response.status_code == 201, response.text
    assert response.json()["storage"] == "sparse" and response.json()["name"] == "data.txt"


def test_create_dataset_json_csr_is_stored_sparse(client: TestClient) -> None:
    response = client.post("/v1/datasets", json=CSR)
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert (dataset["name"], dataset["storage"], dataset["n_rows"], dataset["n_columns"]) == (
        "csr",
        "sparse",
        3,
        3,
    )
    assert dataset["density"] == pytest.approx(4 / 9)
    assert _names(dataset) == ["a", "b", "t"]


def test_create_dataset_dense_reports_storage_and_density(client: TestClient) -> None:
    dataset = upload(client, b"x,g,y\n0,a,1\n2,,0\n,b,3\n")
    # Nonzeros: x once (0 and missing are not), g twice, y twice: 5 of 9 cells.
    assert dataset["storage"] == "dense" and dataset["density"] == pytest.approx(5 / 9)


def test_create_dataset_sparse_nonzeros_count_against_max_cells(client: TestClient) -> None:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    # As wide as allowed and far past max_cells as a dense table, but with few nonzeros: accepted.
    width = settings.max_columns - 1
    rows = settings.max_cells // width + 1
    body = b"".join(f"{i} {1 + i % width}:1\n".encode() for i in range(rows))
    response = client.post("/v1/datasets", content=body + f"0 {width}:2\n".encode(), headers=SVMLIGHT)
    assert response.status_code == 201, response.text
    assert response.json()["n_columns"] == width + 1 and response.json()["n_rows"] == rows + 1
