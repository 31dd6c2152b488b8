"""Partitioned datasets through the API: registration by URL, streamed uploads into partitions, reads."""

from __future__ import annotations

import asyncio
import gzip
import io
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.data.partitions import PartitionedTable, read_partition
from service.errors import JobCanceledError
from service.jobs.pool import WorkerPool
from service.store import Catalog
from service.store.schema import SCHEMA_VERSION
from tests.conftest import csv_bytes, make_settings

CSV = {"Content-Type": "text/csv"}
PARQUET = {"Content-Type": "application/vnd.apache.parquet"}
PARTITIONED = "/v1/datasets?storage=partitioned"


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    directory = tmp_path / "shared"
    directory.mkdir()
    return directory


@pytest.fixture
def tall_settings(tmp_path: Path, sources: Path) -> Settings:
    base = make_settings(tmp_path / "data")
    return replace_settings(base, dataset_sources=f"{sources.as_uri()}/", partition_rows=40)


def replace_settings(settings: Settings, **changes: Any) -> Settings:
    return Settings(**{**settings.model_dump(), **changes})


@pytest.fixture
def tall(tall_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(tall_settings), raise_server_exceptions=False) as test_client:
        yield test_client


def table(n_rows: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    values = np.round(rng.normal(size=(n_rows, 3)), 6)
    values[:, 2] = np.arange(n_rows)  # the row's index: shows row order after reading back
    return ["a", "b", "y"], values


def csv_of(names: list[str], values: np.ndarray) -> bytes:
    return csv_bytes(names, values.tolist())


def parquet_bytes(names: list[str], values: np.ndarray, **columns: Any) -> bytes:
    arrow = pa.table({name: values[:, j] for j, name in enumerate(names)} | columns)
    out = io.BytesIO()
    pq.write_table(arrow, out, row_group_size=25)
    return out.getvalue()


def read_back(settings: Settings, document: dict[str, Any]) -> np.ndarray:
    """The stored dataset's rows, partition after partition, through the manifest the workers read."""
    manifest = (settings.data_dir / "datasets" / f"{document['id']}.manifest.json").read_bytes()
    stored = PartitionedTable.from_json(manifest)
    assert len(stored.partitions) == document["partitions"]
    return np.vstack([read_partition(p, stored.columns) for p in stored.partitions])


def test_partitioned_csv_upload_streams_into_partitions_read_back_in_order(
    tall: TestClient, tall_settings: Settings
) -> None:
    names, values = table(100)
    response = tall.post(PARTITIONED + "&name=tall", content=csv_of(names, values), headers=CSV)
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["storage"] == "partitioned" and document["density"] is None
    assert (document["n_rows"], document["n_columns"], document["partitions"]) == (100, 3, 3)
    assert "source" not in document and document["name"] == "tall"
    assert [c["name"] for c in document["columns"]] == names
    assert all(c["kind"] == "numeric" and c["n_missing"] == 0 for c in document["columns"])
    np.testing.assert_array_equal(read_back(tall_settings, document), values)
    partitions = tall_settings.data_dir / "datasets" / document["id"]
    files = sorted(p.name for p in partitions.iterdir())
    assert files == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [pq.ParquetFile(partitions / f).metadata.num_rows for f in files] == [40, 40, 20]
    assert tall.get(f"/v1/datasets/{document['id']}").json() == document
    listed = tall.get("/v1/datasets").json()
    assert listed["total"] == 1 and listed["items"][0]["partitions"] == 3
    columns = tall.get(f"/v1/datasets/{document['id']}/columns?offset=1&limit=1").json()
    assert columns == {
        "items": [{"name": "b", "kind": "numeric", "n_missing": 0, "levels": None}],
        "total": 3,
    }


def test_partitioned_upload_counts_missing_values_and_keeps_them(
    tall: TestClient, tall_settings: Settings
) -> None:
    body = b"a,b,y\n1,,0\n2,NA,1\n3,4,2\n"
    response = tall.post(PARTITIONED, content=body, headers=CSV)
    assert response.status_code == 201, response.text
    assert [c["n_missing"] for c in response.json()["columns"]] == [0, 2, 0]
    manifest = PartitionedTable.from_json(
        (tall_settings.data_dir / "datasets" / f"{response.json()['id']}.manifest.json").read_bytes()
    )
    stored = pq.read_table(manifest.partitions[0].url).column("b").to_pylist()
    assert stored == [None, None, 4.0]


def test_partitioned_parquet_upload_raw_octet_stream_and_multipart(
    tall: TestClient, tall_settings: Settings
) -> None:
    names, values = table(90, seed=1)
    body = parquet_bytes(names, values)
    for headers in (PARQUET, {"Content-Type": "application/octet-stream"}):
        response = tall.post(PARTITIONED, content=body, headers=headers)
        assert response.status_code == 201, response.text
        assert (response.json()["n_rows"], response.json()["partitions"]) == (90, 3)
        np.testing.assert_array_equal(read_back(tall_settings, response.json()), values)
    files = {"file": ("t.parquet", body, "application/octet-stream")}
    response = tall.post(PARTITIONED, files=files, data={"name": "from a form"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "from a form"
    np.testing.assert_array_equal(read_back(tall_settings, response.json()), values)


def test_partitioned_gzip_uploads_body_and_file(tall: TestClient, tall_settings: Settings) -> None:
    names, values = table(50, seed=2)
    zipped = gzip.compress(csv_of(names, values))
    response = tall.post(PARTITIONED, content=zipped, headers={**CSV, "Content-Encoding": "gzip"})
    assert response.status_code == 201, response.text
    np.testing.assert_array_equal(read_back(tall_settings, response.json()), values)
    response = tall.post(PARTITIONED, files={"file": ("t.csv.gz", zipped, "application/gzip")})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "t.csv.gz"
    np.testing.assert_array_equal(read_back(tall_settings, response.json()), values)


def leftovers(settings: Settings) -> list[str]:
    """Everything under the datasets directory (the catalog lives beside it)."""
    return sorted(str(p.relative_to(settings.data_dir)) for p in (settings.data_dir / "datasets").rglob("*"))


@pytest.mark.parametrize(
    ("body", "column"),
    [
        (b"a,b,y\n1,2,3\n4,x,6\n", "b"),  # a non-numeric cell, named with its column and row
        (b"a,b,y\n1,2,3\n4,inf,6\n", "b"),
        (b"a,b,y\n", None),  # no rows
        (b"a,a,y\n1,2,3\n", "a"),  # a name twice
        (b"a,b,y\n1,2,3\n4,5\n", None),  # ragged
    ],
)
def test_partitioned_bad_csv_is_422_and_leaves_nothing(
    tall: TestClient, tall_settings: Settings, body: bytes, column: str | None
) -> None:
    response = tall.post(PARTITIONED, content=body, headers=CSV)
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/invalid-dataset"
    assert response.json().get("column") == column
    assert leftovers(tall_settings) == []
    assert tall.get("/v1/datasets").json()["total"] == 0


def test_partitioned_non_numeric_column_in_row_3000_names_it(
    tall: TestClient, tall_settings: Settings
) -> None:
    names, values = table(5000)
    text = csv_of(names, values).decode().splitlines()
    text[3001] = text[3001].split(",")[0] + ",oops," + text[3001].split(",")[2]
    response = tall.post(PARTITIONED, content="\n".join(text).encode(), headers=CSV)
    assert response.status_code == 422, response.text
    assert (response.json()["column"], response.json()["row"]) == ("b", 3001)
    assert leftovers(tall_settings) == []


def test_partitioned_parquet_with_a_string_column_is_422_naming_it(
    tall: TestClient, tall_settings: Settings
) -> None:
    names, values = table(10)
    body = parquet_bytes(names, values, label=pa.array(["x"] * 10))
    response = tall.post(PARTITIONED, content=body, headers=PARQUET)
    assert response.status_code == 422 and "'label'" in response.json()["detail"], response.text
    assert leftovers(tall_settings) == []


def test_partitioned_upload_over_its_limit_is_413_mid_stream_and_leaves_nothing(
    tmp_path: Path, sources: Path
) -> None:
    settings = replace_settings(make_settings(tmp_path / "data"), max_partitioned_upload_bytes=10_000)
    names, values = table(2000)
    body = csv_of(names, values)
    assert len(body) > 10_000
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:

        def chunks() -> Iterator[bytes]:  # no Content-Length: refused while streaming, not up front
            for start in range(0, len(body), 4096):
                yield body[start : start + 4096]

        response = client.post(PARTITIONED, content=chunks(), headers=CSV)
        assert response.status_code == 413, response.text
        assert response.json()["type"] == "/problems/payload-too-large"
        gzipped = gzip.compress(b"a,b,y\n" + b"0,0,0\n" * 5000)
        assert len(gzipped) < 10_000  # small on the wire, over the limit once inflated
        response = client.post(PARTITIONED, content=gzipped, headers={**CSV, "Content-Encoding": "gzip"})
        assert response.status_code == 413, response.text
        assert client.get("/v1/datasets").json()["total"] == 0
    assert leftovers(settings) == []


def test_partitioned_limit_is_its_own_setting(tmp_path: Path) -> None:
    """A body over SPARSEFIT_MAX_BODY_BYTES is refused as an upload but streams as a partitioned one."""
    settings = replace_settings(make_settings(tmp_path / "data"), max_body_bytes=10_000)
    names, values = table(2000)
    body = csv_of(names, values)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.post("/v1/datasets", content=body, headers=CSV).status_code == 413
        response = client.post(PARTITIONED, content=body, headers=CSV)
        assert response.status_code == 201, response.text
        assert response.json()["n_rows"] == 2000


def test_partitioned_upload_of_json_or_svmlight_is_415(tall: TestClient, tall_settings: Settings) -> None:
    for content_type in ("application/json", "text/x-svmlight"):
        response = tall.post(PARTITIONED, content=b"{}", headers={"Content-Type": content_type})
        assert response.status_code == 415, response.text
    assert leftovers(tall_settings) == []


def write_source(directory: Path, n_files: int, rows: int) -> np.ndarray:
    names, values = table(n_files * rows, seed=3)
    directory.mkdir(parents=True, exist_ok=True)
    for k in range(n_files):
        part = values[k * rows : (k + 1) * rows]
        pq.write_table(
            pa.table({n: part[:, j] for j, n in enumerate(names)}), directory / f"part-{k:03d}.parquet"
        )
    return values


def test_register_a_directory_of_parquet_files(
    tall: TestClient, tall_settings: Settings, sources: Path
) -> None:
    values = write_source(sources / "t", 3, 30)
    (sources / "t" / "notes.txt").write_text("not a partition")
    source = (sources / "t").as_uri()
    response = tall.post("/v1/datasets", json={"name": "shared", "source": source})
    assert response.status_code == 201, response.text
    document = response.json()
    assert document["storage"] == "partitioned" and document["source"] == source
    assert (document["n_rows"], document["n_columns"], document["partitions"]) == (90, 3, 3)
    assert [c["n_missing"] for c in document["columns"]] == [0, 0, 0]
    np.testing.assert_array_equal(read_back(tall_settings, document), values)
    assert response.headers["Location"] == f"/v1/datasets/{document['id']}"
    # Deleting it removes the manifest, never the source's files.
    assert tall.delete(f"/v1/datasets/{document['id']}").status_code == 204
    assert sorted(p.name for p in (sources / "t").iterdir()) == [
        "notes.txt",
        "part-000.parquet",
        "part-001.parquet",
        "part-002.parquet",
    ]
    assert leftovers(tall_settings) == []
    assert tall.get(f"/v1/datasets/{document['id']}").status_code == 404


def test_register_one_file_by_plain_path_counts_nulls_from_statistics(
    tall: TestClient, sources: Path
) -> None:
    path = sources / "one.parquet"
    pq.write_table(pa.table({"x": [1.0, None, 3.0], "y": [1, 2, 3]}), path)
    response = tall.post("/v1/datasets?name=by-query", json={"source": str(path)})
    assert response.status_code == 201, response.text
    assert response.json()["source"] == path.as_uri() and response.json()["name"] == "by-query"
    assert [c["n_missing"] for c in response.json()["columns"]] == [1, 0]
    assert response.json()["partitions"] == 1


def test_delete_removes_the_partition_files_of_an_upload(tall: TestClient, tall_settings: Settings) -> None:
    names, values = table(100)
    dataset = tall.post(PARTITIONED, content=csv_of(names, values), headers=CSV).json()
    assert leftovers(tall_settings) != []
    assert tall.delete(f"/v1/datasets/{dataset['id']}").status_code == 204
    assert leftovers(tall_settings) == []


@pytest.mark.parametrize("setting", ["", "file:///somewhere/else/"])
def test_register_refused_without_an_allowing_prefix(tmp_path: Path, sources: Path, setting: str) -> None:
    write_source(sources / "t", 1, 10)
    settings = replace_settings(make_settings(tmp_path / "data"), dataset_sources=setting)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.post("/v1/datasets", json={"source": (sources / "t").as_uri()})
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/source-not-allowed"
        if not setting:
            assert "SPARSEFIT_DATASET_SOURCES" in response.json()["detail"]


@pytest.mark.parametrize(
    "relative",
    [
        "t/../../outside",  # walks up out of the prefix
        "t/%2e%2e/%2E%2E/outside",  # the same, percent-encoded
        "../shared-sibling/t",  # a sibling whose name starts like the prefix
    ],
)
def test_register_cannot_escape_its_prefix(
    tall: TestClient, tmp_path: Path, sources: Path, relative: str
) -> None:
    write_source(tmp_path / "outside", 1, 10)
    write_source(tmp_path / "shared-sibling" / "t", 1, 10)
    response = tall.post("/v1/datasets", json={"source": f"{sources.as_uri()}/{relative}"})
    assert response.status_code == 403, response.text
    assert response.json()["type"] == "/problems/source-not-allowed"
    sibling = (tmp_path / "shared-sibling" / "t").as_uri()
    assert tall.post("/v1/datasets", json={"source": sibling}).status_code == 403


def test_register_refuses_a_link_out_of_its_prefix(tall: TestClient, tmp_path: Path, sources: Path) -> None:
    write_source(tmp_path / "outside", 1, 10)
    (sources / "link").symlink_to(tmp_path / "outside")
    response = tall.post("/v1/datasets", json={"source": (sources / "link").as_uri()})
    assert response.status_code == 403, response.text


def test_register_non_numeric_empty_and_missing_sources_are_422(
    tall: TestClient, tall_settings: Settings, sources: Path
) -> None:
    pq.write_table(pa.table({"x": [1.0, 2.0], "label": ["a", "b"]}), sources / "text.parquet")
    response = tall.post("/v1/datasets", json={"source": str(sources / "text.parquet")})
    assert response.status_code == 422 and "'label'" in response.json()["detail"], response.text
    pq.write_table(pa.table({"x": pa.array([], pa.float64())}), sources / "empty.parquet")
    response = tall.post("/v1/datasets", json={"source": str(sources / "empty.parquet")})
    assert response.status_code == 422 and response.json()["field"] == "source", response.text
    (sources / "none").mkdir()
    response = tall.post("/v1/datasets", json={"source": str(sources / "none")})
    assert response.status_code == 422 and response.json()["field"] == "source", response.text
    response = tall.post("/v1/datasets", json={"source": str(sources / "absent.parquet")})
    assert response.status_code == 422, response.text
    (sources / "bad.parquet").write_bytes(b"PAR1 not really")
    response = tall.post("/v1/datasets", json={"source": str(sources / "bad.parquet")})
    assert response.status_code == 422, response.text
    response = tall.post("/v1/datasets", json={"source": "relative/path"})
    assert response.status_code == 422, response.text
    response = tall.post("/v1/datasets", json={"source": str(sources), "extra": 1})
    assert response.status_code == 422 and response.json()["type"] == "/problems/validation"
    assert tall.get("/v1/datasets").json()["total"] == 0
    assert leftovers(tall_settings) == []


def test_partitioned_datasets_stay_with_their_tenant(tmp_path: Path, sources: Path) -> None:
    settings = replace_settings(
        make_settings(tmp_path / "data"),
        api_keys="acme:key-aaaaaaaa,globex:key-bbbbbbbb",
        dataset_sources=sources.as_uri(),
    )
    write_source(sources / "t", 1, 10)
    acme, globex = {"Authorization": "Bearer key-aaaaaaaa"}, {"Authorization": "Bearer key-bbbbbbbb"}
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        names, values = table(20)
        uploaded = client.post(PARTITIONED, content=csv_of(names, values), headers={**CSV, **acme}).json()
        registered = client.post("/v1/datasets", json={"source": str(sources / "t")}, headers=acme).json()
        for dataset in (uploaded, registered):
            assert client.get(f"/v1/datasets/{dataset['id']}", headers=globex).status_code == 404
            assert client.delete(f"/v1/datasets/{dataset['id']}", headers=globex).status_code == 404
            assert client.get(f"/v1/datasets/{dataset['id']}", headers=acme).status_code == 200
        assert client.get("/v1/datasets", headers=globex).json()["total"] == 0
        assert client.get("/v1/datasets", headers=acme).json()["total"] == 2
        assert client.post(PARTITIONED, content=b"a\n1\n", headers=CSV).status_code == 401


def test_partitioned_upload_with_an_idempotency_key_is_stored_once(tall: TestClient) -> None:
    names, values = table(60)
    body = csv_of(names, values)
    headers = {**CSV, "Idempotency-Key": "upload-1"}
    first = tall.post(PARTITIONED, content=body, headers=headers)
    again = tall.post(PARTITIONED, content=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = tall.post(PARTITIONED, content=body + b"1,2,3\n", headers=headers)
    assert other.status_code == 422 and other.json()["type"] == "/problems/idempotency-key-reused"
    # A multipart retry draws another boundary: still the same request.
    form = {"file": ("t.csv", body, "text/csv")}
    key = {"Idempotency-Key": "form-1"}
    assert tall.post(PARTITIONED, files=form, headers=key).status_code == 201
    assert tall.post(PARTITIONED, files=form, headers=key).headers["Idempotent-Replayed"] == "true"
    assert tall.get("/v1/datasets").json()["total"] == 2


def fit(dataset_id: str, **options: Any) -> dict[str, Any]:
    return {"dataset_id": dataset_id, "target": "y", "cv": None, **options}


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"family": "multinomial"}, "family"),
        ({"kind": "stability"}, "kind"),
        ({"relax": True}, "relax"),
        ({"adaptive": {}}, "adaptive"),
        ({"groups": {"g": ["a", "b"]}}, "groups"),
        ({"inference": True, "alpha": 0.1}, "inference"),
        ({"family": "binomial", "target": "b", "max_features": 2}, "max_features"),
        ({"missing": "drop"}, "missing"),
        ({"cv": {"folds": 3, "fold_column": "b"}}, "cv"),
        ({"cv": {"folds": 3, "metric": "mae"}}, "cv"),
    ],
)
def test_jobs_on_a_partitioned_dataset_refuse_what_the_tall_fit_does_not_do(
    tall: TestClient, options: dict[str, Any], field: str
) -> None:
    names, values = table(100)
    dataset = tall.post(PARTITIONED, content=csv_of(names, values), headers=CSV).json()
    response = tall.post("/v1/jobs", json=fit(dataset["id"], **options))
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/validation"
    assert response.json()["errors"][0]["loc"][1] == field


def test_plain_fits_on_a_partitioned_dataset_are_accepted_and_hold_it(
    tall_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gaussian and binomial fits are queued (202); while one will read the dataset, DELETE is a 409."""
    release = threading.Event()

    async def held_run(self: WorkerPool, task: Any, on_progress: Any) -> None:
        while not release.is_set():
            await asyncio.sleep(0.01)
        raise JobCanceledError("released by the test")

    monkeypatch.setattr(WorkerPool, "start", lambda self: None)
    monkeypatch.setattr(WorkerPool, "run", held_run)
    names, values = table(100)
    values[:, 1] = values[:, 0] > 0  # a 0/1 column: the binomial target
    with TestClient(create_app(tall_settings.model_copy(update={"workers": 1}))) as client:
        try:
            dataset = client.post(PARTITIONED, content=csv_of(names, values), headers=CSV).json()
            gaussian = client.post("/v1/jobs", json=fit(dataset["id"], cv={"folds": 3}))
            assert gaussian.status_code == 202, gaussian.text
            binomial = client.post("/v1/jobs", json=fit(dataset["id"], target="b", family="binomial"))
            assert binomial.status_code == 202, binomial.text
            refused = client.delete(f"/v1/datasets/{dataset['id']}")
            assert refused.status_code == 409 and refused.json()["type"] == "/problems/dataset-in-use"
        finally:
            release.set()


def test_predicting_on_a_partitioned_dataset_by_id_is_422(tall: TestClient, diabetes_csv: bytes) -> None:
    dense = tall.post("/v1/datasets", content=diabetes_csv, headers=CSV).json()
    job = tall.post(
        "/v1/jobs", json={"dataset_id": dense["id"], "target": "y", "cv": None, "alpha": 1.0}
    ).json()
    model_id = tall.get(f"/v1/jobs/{job['id']}?wait=60").json()["model_id"]
    names, values = table(10)
    tall_id = tall.post(PARTITIONED, content=csv_of(names, values), headers=CSV).json()["id"]
    response = tall.post(f"/v1/models/{model_id}/predictions", json={"dataset_id": tall_id})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", "dataset_id"]


def test_a_version_4_catalog_gains_partitions_and_source(tmp_path: Path, tall_settings: Settings) -> None:
    path = tmp_path / "catalog.sqlite3"
    with Catalog(path) as catalog:
        pass
    with sqlite3.connect(path) as conn:  # back to version 4: datasets without partitions and source
        conn.execute("ALTER TABLE datasets DROP COLUMN partitions")
        conn.execute("ALTER TABLE datasets DROP COLUMN source")
        conn.execute(
            "INSERT INTO datasets (id, n_rows, n_columns, columns, size_bytes, sha256, created_at) "
            "VALUES ('ab12', 3, 1, '[]', 10, 'ff', '2020-01-01T00:00:00.000000Z')"
        )
        conn.execute("PRAGMA user_version = 4")
    with Catalog(path) as catalog:
        old = catalog.get_dataset("ab12")
        assert (old.storage, old.partitions, old.source) == ("dense", None, None)
        new = replace(old, id="cd34", storage="partitioned", partitions=7, source="s3://bucket/t/")
        catalog.insert_dataset(new)
        assert catalog.get_dataset("cd34") == new
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5


def test_partitioned_csv_header_that_is_not_utf8_is_422(tall: TestClient, tall_settings: Settings) -> None:
    response = tall.post(PARTITIONED, content="é,b\n1,2\n".encode("latin-1"), headers=CSV)
    assert response.status_code == 422 and response.json()["type"] == "/problems/invalid-dataset"
    assert leftovers(tall_settings) == []


def test_partitioned_upload_below_the_free_space_reserve_is_507_and_leaves_nothing(tmp_path: Path) -> None:
    settings = replace_settings(make_settings(tmp_path / "data"), min_free_bytes=2**62)
    names, values = table(100)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.post(PARTITIONED, content=csv_of(names, values), headers=CSV)
        assert response.status_code == 507, response.text
        assert response.json()["type"] == "/problems/insufficient-storage"
    assert leftovers(settings) == []


def test_what_a_crashed_partitioned_upload_left_is_swept_at_start(tmp_path: Path) -> None:
    """The spooled body and unfinished partitions carry temp names, which start-up removes."""
    settings = make_settings(tmp_path / "data")
    datasets = settings.data_dir / "datasets"
    (datasets / "0123456789abcdef0123456789abcdef").mkdir(parents=True)
    spooled = datasets / ".upload.k2j4.tmp"
    partition = datasets / "0123456789abcdef0123456789abcdef" / ".part-00000.parquet.tmp"
    for path in (spooled, partition):
        path.write_bytes(b"half written")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/v1/datasets").json()["total"] == 0
    assert not spooled.exists() and not partition.exists()
