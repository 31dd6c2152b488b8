"""Uploads in every accepted form, listing, reading and deleting datasets."""

from __future__ import annotations

import hashlib
import io

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from tests.conftest import upload


def test_create_dataset_csv_reports_columns_and_checksum(client: TestClient, diabetes_csv: bytes) -> None:
    response = client.post(
        "/v1/datasets?name=diabetes", content=diabetes_csv, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["Location"] == f"/v1/datasets/{body['id']}"
    assert (body["n_rows"], body["n_columns"], body["name"]) == (442, 11, "diabetes")
    assert [c["name"] for c in body["columns"]][-1] == "y"
    assert all(c["kind"] == "numeric" and c["n_missing"] == 0 for c in body["columns"])
    stored = client.app.state.settings.data_dir / "datasets" / f"{body['id']}.arrow"  # type: ignore[attr-defined]
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == body["sha256"]
    assert body["size_bytes"] == stored.stat().st_size


def test_create_dataset_parquet_keeps_categoricals_and_missing(client: TestClient) -> None:
    table = pa.table({"x": [1.0, None, 3.0], "g": ["a", "b", None], "y": [1, 2, 3]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    response = client.post(
        "/v1/datasets", content=sink.getvalue(), headers={"Content-Type": "application/vnd.apache.parquet"}
    )
    assert response.status_code == 201, response.text
    columns = {c["name"]: c for c in response.json()["columns"]}
    assert columns["x"] == {"name": "x", "kind": "numeric", "n_missing": 1, "levels": None}
    assert columns["g"]["kind"] == "categorical" and columns["g"]["levels"] == ["a", "b"]
    assert columns["g"]["n_missing"] == 1


def test_create_dataset_multipart_and_json_agree(client: TestClient) -> None:
    csv = b"a,b,y\n1,x,2\n2,z,3\n"
    multipart = client.post("/v1/datasets", files={"file": ("t.csv", csv, "text/csv")}, data={"name": "mp"})
    assert multipart.status_code == 201, multipart.text
    as_json = client.post(
        "/v1/datasets", json={"name": "js", "columns": ["a", "b", "y"], "data": [[1, "x", 2], [2, "z", 3]]}
    )
    assert as_json.status_code == 201, as_json.text
    assert multipart.json()["name"] == "mp" and as_json.json()["name"] == "js"
    assert multipart.json()["columns"] == as_json.json()["columns"]


def test_list_get_delete_dataset(client: TestClient, diabetes_csv: bytes) -> None:
    first = upload(client, diabetes_csv, "one")
    second = upload(client, diabetes_csv, "two")
    listing = client.get("/v1/datasets?limit=1").json()
    assert listing["total"] == 2 and len(listing["items"]) == 1
    assert listing["items"][0]["id"] == second["id"]  # newest first
    assert client.get(f"/v1/datasets/{first['id']}").json() == first
    assert client.delete(f"/v1/datasets/{first['id']}").status_code == 204
    gone = client.get(f"/v1/datasets/{first['id']}")
    assert gone.status_code == 404 and gone.json()["type"] == "/problems/not-found"
    assert gone.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/datasets").json()["total"] == 1
