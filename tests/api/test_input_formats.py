"""The inputs people send (issue 12, point 7): gzip, other delimiters, pandas' split and records JSON."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.gzip_body import PIECE_BYTES, GzipStream
from service.app import create_app
from service.config import Settings
from service.errors import PayloadTooLargeError
from tests.conftest import run_job

GZIP = {"Content-Type": "text/csv", "Content-Encoding": "gzip"}
CSV = {"Content-Type": "text/csv"}


def _columns(document: dict[str, Any]) -> list[str]:
    return [column["name"] for column in document["columns"]]


def _upload(client: TestClient, body: bytes, headers: dict[str, str], query: str = "") -> Any:
    return client.post(f"/v1/datasets{query}", content=body, headers=headers)


def _separated(csv_text: bytes, delimiter: bytes) -> bytes:
    return csv_text.replace(b",", delimiter)


def _fit(client: TestClient, diabetes_csv: bytes) -> str:
    dataset = _upload(client, diabetes_csv, CSV).json()["id"]
    job = run_job(client, {"dataset_id": dataset, "target": "y", "cv": None})
    assert job["status"] == "succeeded", job
    return str(job["model_id"])


def _predict(client: TestClient, model: str, body: bytes, headers: dict[str, str], query: str = "") -> Any:
    return client.post(f"/v1/models/{model}/predictions{query}", content=body, headers=headers)


# gzip ------------------------------------------------------------------------------------------


def test_gzip_upload_reads_as_the_plain_body(client: TestClient, diabetes_csv: bytes) -> None:
    plain = _upload(client, diabetes_csv, CSV).json()
    zipped = _upload(client, gzip.compress(diabetes_csv), GZIP)
    assert zipped.status_code == 201, zipped.text
    assert (zipped.json()["n_rows"], _columns(zipped.json())) == (plain["n_rows"], _columns(plain))
    assert zipped.json()["sha256"] == plain["sha256"]  # the very same stored table


def test_gzip_bomb_is_a_413_not_memory(client: TestClient, settings: Settings) -> None:
    limit = settings.max_body_bytes
    bomb = gzip.compress(b"1," * (4 * limit))  # a few kB that inflate to 4x the limit
    assert len(bomb) < limit // 50
    response = _upload(client, bomb, GZIP)
    assert response.status_code == 413, response.text
    assert response.json()["type"] == "/problems/payload-too-large"
    assert str(limit) in response.json()["detail"]


def test_gzip_stream_stops_inflating_at_the_limit() -> None:
    limit = 3 * PIECE_BYTES
    stream = GzipStream(limit)
    produced = 0
    with pytest.raises(PayloadTooLargeError):
        for piece in stream.feed(gzip.compress(bytes(100 * limit))):
            produced += len(piece)
    assert produced <= limit and stream.size <= limit + 1  # never more than the limit in memory


def test_gzip_errors_are_problems(client: TestClient, diabetes_csv: bytes) -> None:
    broken = _upload(client, b"this is not gzip", GZIP)
    assert broken.status_code == 422 and "gzip" in broken.json()["detail"]
    cut = _upload(client, gzip.compress(diabetes_csv)[:-100], GZIP)
    assert cut.status_code == 422 and "gzip" in cut.json()["detail"]
    brotli = _upload(client, diabetes_csv, {**CSV, "Content-Encoding": "br"})
    assert brotli.status_code == 415 and "Content-Encoding br" in brotli.json()["detail"]


def test_gzip_file_in_multipart(client: TestClient, diabetes_csv: bytes, settings: Settings) -> None:
    plain = _upload(client, diabetes_csv, CSV).json()
    files = {"file": ("diabetes.csv.gz", gzip.compress(diabetes_csv), "application/gzip")}
    response = client.post("/v1/datasets", files=files)
    assert response.status_code == 201, response.text
    assert response.json()["sha256"] == plain["sha256"]
    bomb = {"file": ("big.csv.gz", gzip.compress(b"1," * (2 * settings.max_body_bytes)), "application/gzip")}
    refused = client.post("/v1/datasets", files=bomb)
    assert refused.status_code == 413, refused.text


def test_gzip_prediction_bodies(client: TestClient, diabetes_csv: bytes) -> None:
    model = _fit(client, diabetes_csv)
    head = b"\n".join(diabetes_csv.splitlines()[:6]) + b"\n"
    plain = _predict(client, model, head, CSV).json()
    zipped = _predict(client, model, gzip.compress(head), GZIP)
    assert zipped.status_code == 200, zipped.text
    assert zipped.json() == plain
    rows = {"columns": ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]}
    rows["data"] = [[59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]]  # type: ignore[list-item]
    body = json.dumps(rows).encode()
    as_json = _predict(client, model, body, {"Content-Type": "application/json"}).json()
    zipped_json = _predict(client, model, gzip.compress(body), {**GZIP, "Content-Type": "application/json"})
    assert zipped_json.status_code == 200 and zipped_json.json() == as_json
    assert as_json["predictions"][0] == pytest.approx(plain["predictions"][0])  # row 1 of the CSV


def test_gzip_job_bodies(client: TestClient, diabetes_csv: bytes, settings: Settings) -> None:
    """POST /v1/jobs takes a gzip JSON body like any upload; its inflated size is held to the JSON limit."""
    dataset = _upload(client, diabetes_csv, CSV).json()["id"]
    body = json.dumps({"dataset_id": dataset, "target": "y", "cv": None, "name": "zipped"}).encode()
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    accepted = client.post("/v1/jobs", content=gzip.compress(body), headers=headers)
    assert accepted.status_code == 202, accepted.text
    final = client.get(f"/v1/jobs/{accepted.json()['id']}?wait=60").json()
    assert final["status"] == "succeeded", final
    plain = run_job(client, json.loads(body))
    zipped_model = client.get(f"/v1/models/{final['model_id']}").json()
    plain_model = client.get(f"/v1/models/{plain['model_id']}").json()
    assert zipped_model["name"] == "zipped"
    assert zipped_model["coefficients"] == plain_model["coefficients"]

    broken = client.post("/v1/jobs", content=b"not gzip at all", headers=headers)
    assert broken.status_code == 422 and "gzip" in broken.json()["detail"], broken.text
    cut = client.post("/v1/jobs", content=gzip.compress(body)[:-8], headers=headers)
    assert cut.status_code == 422 and "gzip" in cut.json()["detail"], cut.text
    padding = " " * (2 * settings.max_json_bytes)
    bomb = gzip.compress(body[:-1] + padding.encode() + b"}")
    assert len(bomb) < settings.max_json_bytes
    refused = client.post("/v1/jobs", content=bomb, headers=headers)
    assert refused.status_code == 413, refused.text
    assert str(settings.max_json_bytes) in refused.json()["detail"]
    other = client.post("/v1/jobs", content=body, headers={**headers, "Content-Encoding": "br"})
    assert other.status_code == 415 and "Content-Encoding br" in other.json()["detail"]


# delimiters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [b";", b"\t", b"|"])
def test_a_header_with_one_other_delimiter_is_detected(
    client: TestClient, diabetes_csv: bytes, delimiter: bytes
) -> None:
    plain = _upload(client, diabetes_csv, CSV).json()
    response = _upload(client, _separated(diabetes_csv, delimiter), CSV)
    assert response.status_code == 201, response.text
    assert response.json()["sha256"] == plain["sha256"]


@pytest.mark.parametrize(("query", "delimiter"), [("%3B", b";"), ("tab", b"\t"), ("%09", b"\t"), ("|", b"|")])
def test_delimiter_parameter(client: TestClient, diabetes_csv: bytes, query: str, delimiter: bytes) -> None:
    plain = _upload(client, diabetes_csv, CSV).json()
    response = _upload(client, _separated(diabetes_csv, delimiter), CSV, f"?delimiter={query}")
    assert response.status_code == 201, response.text
    assert response.json()["sha256"] == plain["sha256"]


def test_a_header_with_a_comma_is_read_with_commas_unless_told(client: TestClient) -> None:
    # Conservative detection: a comma in the header means commas, whatever else it holds.
    body = b"a,b;c\n1,x;y\n2,z;w\n"
    commas = _upload(client, body, CSV)
    assert commas.status_code == 201 and _columns(commas.json()) == ["a", "b;c"]
    told = _upload(client, body, CSV, "?delimiter=%3B")
    assert told.status_code == 201 and _columns(told.json()) == ["a,b", "c"]


def test_unknown_delimiter_is_a_422_naming_the_parameter(client: TestClient, diabetes_csv: bytes) -> None:
    response = _upload(client, diabetes_csv, CSV, "?delimiter=x")
    assert response.status_code == 422
    assert "delimiter" in json.dumps(response.json())


@pytest.mark.parametrize(
    ("body", "query", "suggested"),
    [
        (b"a;b;y\n1;2;3\n", "?delimiter=%2C", "?delimiter=%3B"),  # told a comma, holds semicolons
        (b'"a;b;y"\n1\n', "", "?delimiter=%3B"),  # a quoted header is never guessed
        (b"a;b|y\n1;2|3\n", "", "?delimiter="),  # two candidates: ambiguous
        (b"a\tb;y\n1\t2;3\n", "", "?delimiter="),
    ],
)
def test_one_column_holding_a_delimiter_is_refused(
    client: TestClient, body: bytes, query: str, suggested: str
) -> None:
    response = _upload(client, body, CSV, query)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/invalid-dataset"
    assert suggested in problem["detail"] and problem["field"] == "delimiter"
    assert client.get("/v1/datasets").json()["total"] == 0  # never a silent one-column table


def test_multipart_csv_with_semicolons(client: TestClient, diabetes_csv: bytes) -> None:
    plain = _upload(client, diabetes_csv, CSV).json()
    body = _separated(diabetes_csv, b";")
    detected = client.post("/v1/datasets", files={"file": ("d.csv", body, "text/csv")})
    assert detected.status_code == 201 and detected.json()["sha256"] == plain["sha256"]
    zipped = client.post("/v1/datasets?delimiter=%3B", files={"file": ("d.csv.gz", gzip.compress(body))})
    assert zipped.status_code == 201 and zipped.json()["sha256"] == plain["sha256"]


def test_prediction_csv_with_other_delimiters(client: TestClient, diabetes_csv: bytes) -> None:
    model = _fit(client, diabetes_csv)
    head = b"\n".join(diabetes_csv.splitlines()[:6]) + b"\n"
    plain = _predict(client, model, head, CSV).json()
    tabs = _predict(client, model, _separated(head, b"\t"), CSV)
    assert tabs.status_code == 200 and tabs.json() == plain
    told = _predict(client, model, _separated(head, b";"), CSV, "?delimiter=%3B")
    assert told.status_code == 200 and told.json() == plain
    header_only = _predict(client, model, _separated(head.splitlines()[0], b"|") + b"\n", CSV)
    assert header_only.status_code == 200 and header_only.json()["predictions"] == []
    refused = _predict(client, model, _separated(head, b";"), CSV, "?delimiter=%2C")
    assert refused.status_code == 422 and "?delimiter=%3B" in refused.json()["detail"]


# pandas' JSON ----------------------------------------------------------------------------------

ROWS = [[1.0, "a", 3.5], [2.0, "b", None], [3.0, "a", 1.0], [4.0, None, 2.0]]
NAMES = ["x", "g", "y"]


def _split(index: list[Any]) -> bytes:
    return json.dumps({"columns": NAMES, "index": index, "data": ROWS}).encode()


def _records() -> bytes:
    return json.dumps([dict(zip(NAMES, row, strict=True)) for row in ROWS]).encode()


JSON_TYPE = {"Content-Type": "application/json"}


def test_split_json_with_index_and_records_json_upload(client: TestClient) -> None:
    without = client.post("/v1/datasets", json={"columns": NAMES, "data": ROWS}).json()
    for body in (_split([0, 1, 2, 3]), _split(["r1", "r2", "r3", "r4"]), _records()):
        response = client.post("/v1/datasets?name=pandas", content=body, headers=JSON_TYPE)
        assert response.status_code == 201, response.text
        assert response.json()["sha256"] == without["sha256"]
        assert response.json()["columns"] == without["columns"]


def test_records_json_missing_keys_are_missing_values(client: TestClient) -> None:
    body = json.dumps([{"x": 1, "y": 2}, {"y": 3, "z": "u"}, {"x": 2, "y": 4, "z": "v"}]).encode()
    response = client.post("/v1/datasets", content=body, headers=JSON_TYPE)
    assert response.status_code == 201, response.text
    columns = {c["name"]: c for c in response.json()["columns"]}
    assert list(columns) == ["x", "y", "z"]
    assert (columns["x"]["n_missing"], columns["z"]["n_missing"]) == (1, 1)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"[]", "no rows"),
        (b'[{"x": 1}, 2]', "row 2"),
        (b'[{"x": 1}, {"x": [1]}]', "row 2"),
        (b'[{"x": 1}, {"x": "a"}]', "row 2"),
        (b'[{"x": 1}', "not valid JSON"),
    ],
)
def test_bad_records_json_names_the_row(client: TestClient, body: bytes, detail: str) -> None:
    response = client.post("/v1/datasets", content=body, headers=JSON_TYPE)
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/invalid-dataset" and detail in response.json()["detail"]


def test_split_and_records_json_predictions(client: TestClient, diabetes_csv: bytes) -> None:
    model = _fit(client, diabetes_csv)
    lines = diabetes_csv.decode().splitlines()
    names = lines[0].split(",")
    rows = [[float(v) for v in line.split(",")] for line in lines[1:6]]
    plain = client.post(f"/v1/models/{model}/predictions", json={"columns": names, "data": rows}).json()
    split = {"columns": names, "index": [10, 11, 12, 13, 14], "data": rows}
    with_index = client.post(f"/v1/models/{model}/predictions", json=split)
    assert with_index.status_code == 200 and with_index.json() == plain
    records = [dict(zip(names, row, strict=True)) for row in rows]
    as_records = client.post(f"/v1/models/{model}/predictions", json=records)
    assert as_records.status_code == 200 and as_records.json() == plain


def test_pandas_writes_what_the_service_reads(client: TestClient, diabetes_csv: bytes) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv(io.BytesIO(diabetes_csv))
    plain = _upload(client, diabetes_csv, CSV).json()
    for orient in ("split", "records"):
        body = frame.to_json(orient=orient).encode()
        response = client.post("/v1/datasets", content=body, headers=JSON_TYPE)
        assert response.status_code == 201, (orient, response.text)
        assert response.json()["columns"] == plain["columns"] and response.json()["n_rows"] == plain["n_rows"]
    model = _fit(client, diabetes_csv)
    expected = _predict(client, model, diabetes_csv, CSV).json()
    for orient in ("split", "records"):
        body = frame.set_index(frame.index + 100).to_json(orient=orient).encode()
        response = _predict(client, model, body, JSON_TYPE)
        assert response.status_code == 200, (orient, response.text)
        assert response.json()["predictions"] == pytest.approx(expected["predictions"], rel=1e-12)
    tsv = frame.to_csv(sep="\t", index=False).encode()
    assert _upload(client, gzip.compress(tsv), GZIP).json()["columns"] == plain["columns"]


def test_a_gzip_json_prediction_is_held_to_the_json_limit(settings: Settings, diabetes_csv: bytes) -> None:
    # JSON bodies other than uploads have the smaller limit, compressed or not.
    small = settings.model_copy(update={"max_json_bytes": 64 * 1024})
    row = b"[" + b",".join([b"1.0"] * 10) + b"]"
    rows = b",".join([row] * (small.max_json_bytes // len(row) + 10))
    body = b'{"columns": ["age","sex","bmi","bp","s1","s2","s3","s4","s5","s6"], "data": [' + rows + b"]}"
    assert small.max_json_bytes < len(body) < small.max_body_bytes
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        model = _fit(client, diabetes_csv)
        zipped = gzip.compress(body)
        response = _predict(client, model, zipped, {**GZIP, "Content-Type": "application/json"})
        assert response.status_code == 413, response.text
        assert response.json()["limit"] == small.max_json_bytes
        plain_csv = _predict(client, model, gzip.compress(diabetes_csv), GZIP)
        assert plain_csv.status_code == 200  # a CSV body keeps the upload limit


def test_quoted_semicolon_header_as_r_writes_it(client: TestClient) -> None:
    # R's write.csv2 quotes every name: the semicolons between the quotes separate the fields.
    body = b'"a";"b;c";"y"\n1;2;3\n4;5;6\n'
    response = _upload(client, body, CSV)
    assert response.status_code == 201, response.text
    assert _columns(response.json()) == ["a", "b;c", "y"]
