"""The bad-input table: requests the service must refuse, each with the route it reaches and its problem."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from tests.conftest import upload

UNKNOWN_ID = "0" * 32
# The ids a case's paths and bodies are filled from: the stored world's, then what `prepare` made.
Ids = Mapping[str, str]
Send = Callable[[TestClient, Ids], httpx.Response]
Prepare = Callable[[TestClient, Ids], dict[str, str]]
# A path id given as a function is computed from the real one (so "uppercase" means the real id's);
# one given as text may name another of the ids in braces ("{nocv_model_id}").
IdOverride = str | Callable[[str], str]

CREATE_DATASET = "POST /v1/datasets"
LIST_DATASETS = "GET /v1/datasets"
GET_DATASET = "GET /v1/datasets/{dataset_id}"
LIST_DATASET_COLUMNS = "GET /v1/datasets/{dataset_id}/columns"
DELETE_DATASET = "DELETE /v1/datasets/{dataset_id}"
CREATE_JOB = "POST /v1/jobs"
LIST_JOBS = "GET /v1/jobs"
GET_JOB = "GET /v1/jobs/{job_id}"
CANCEL_JOB = "POST /v1/jobs/{job_id}/cancel"
FOLLOW_JOB = "GET /v1/jobs/{job_id}/events"
DELETE_JOB = "DELETE /v1/jobs/{job_id}"
LIST_MODELS = "GET /v1/models"
GET_MODEL = "GET /v1/models/{model_id}"
GET_MODEL_PATH = "GET /v1/models/{model_id}/path"
GET_MODEL_CV = "GET /v1/models/{model_id}/cv"
PLOT_PATH = "GET /v1/models/{model_id}/plots/path.svg"
PLOT_CV = "GET /v1/models/{model_id}/plots/cv.svg"
CREATE_PREDICTION = "POST /v1/models/{model_id}/predictions"
EXPORT_MODEL = "GET /v1/models/{model_id}/export"
DELETE_MODEL = "DELETE /v1/models/{model_id}"
LIST_SELECTIONS = "GET /v1/selections"
GET_SELECTION = "GET /v1/selections/{selection_id}"
PLOT_STABILITY = "GET /v1/selections/{selection_id}/plots/stability.svg"
DELETE_SELECTION = "DELETE /v1/selections/{selection_id}"

NOT_FOUND = "/problems/not-found"
VALIDATION = "/problems/validation"
INVALID_DATASET = "/problems/invalid-dataset"
INVALID_DATA = "/problems/invalid-data"
UNSUPPORTED = "/problems/unsupported-media-type"
FEATURE_MISMATCH = "/problems/feature-mismatch"

CSV_TYPE = {"Content-Type": "text/csv"}
PARQUET_TYPE = {"Content-Type": "application/vnd.apache.parquet"}
JSON_TYPE = {"Content-Type": "application/json"}
SVMLIGHT_TYPE = {"Content-Type": "text/x-svmlight"}


@dataclass(frozen=True)
class Case:
    """One bad request and what it must answer.

    ``route`` is the route that must serve the request ("METHOD /template"), or None when no route
    may match and the router answers itself. ``prepare`` stores what the case needs before the
    snapshot is taken (its own dataset, a running job) and returns the ids it made. ``members`` are
    problem extension members and ``answer_headers`` response headers the answer must carry.
    """

    route: str | None
    send: Send
    status: int
    type: str
    prepare: Prepare | None = None
    members: Mapping[str, Any] = field(default_factory=dict)
    answer_headers: Mapping[str, str] = field(default_factory=dict)


def at(route: str, ids: Mapping[str, IdOverride] | None = None, **options: Any) -> Send:
    """A request to ``route``'s path filled with the world's ids, some replaced by ``ids``."""
    method, template = route.split(" ", 1)

    def send(client: TestClient, world: Ids) -> httpx.Response:
        filled = dict(world)
        for name, override in (ids or {}).items():
            filled[name] = override(world[name]) if callable(override) else override.format(**world)
        return client.request(method, template.format(**filled), **options)

    return send


def raw(method: str, path: str, **options: Any) -> Send:
    """A request to a literal path, for what no route template can express."""
    return lambda c, w: c.request(method, path, **options)


def request(route: str, status: int, problem: str, **kw: Any) -> Case:
    """A case sent to ``route``: ``ids`` and httpx options go to :func:`at`, the rest to :class:`Case`."""
    extra = {k: kw.pop(k) for k in ("prepare", "members", "answer_headers") if k in kw}
    return Case(route, at(route, **kw), status, problem, **extra)


def csv(body: bytes, status: int, problem: str, name: str | None = None, **extra: Any) -> Case:
    params = {} if name is None else {"name": name}
    return request(CREATE_DATASET, status, problem, content=body, headers=CSV_TYPE, params=params, **extra)


def json_text(route: str, body: bytes, status: int, problem: str) -> Case:
    """A JSON body sent as bytes, for what json= cannot send (NaN, 1e400, duplicate keys, deep nesting)."""
    return request(route, status, problem, content=body, headers=JSON_TYPE)


def multipart(filename: str, body: bytes, content_type: str, status: int, problem: str) -> Case:
    return request(CREATE_DATASET, status, problem, files={"file": (filename, body, content_type)})


def job(status: int, problem: str, prepare: Prepare | None = None, **fields: Any) -> Case:
    """A job on the world's diabetes dataset (target y), or on the dataset ``prepare`` uploaded."""

    def send(c: TestClient, ids: Ids) -> httpx.Response:
        return c.post("/v1/jobs", json={"dataset_id": ids["dataset_id"], "target": "y", **fields})

    return Case(CREATE_JOB, send, status, problem, prepare=prepare)


def job_on(body: bytes, status: int, problem: str, **fields: Any) -> Case:
    return job(status, problem, prepare=uploaded(body), **fields)


def raw_job(json_fields: str, status: int = 422, problem: str = VALIDATION) -> Case:
    """A job whose extra fields are JSON text: NaN, Infinity, 1e400 and duplicate keys survive as sent."""

    def send(c: TestClient, ids: Ids) -> httpx.Response:
        body = f'{{"dataset_id": "{ids["dataset_id"]}", "target": "y", {json_fields}}}'
        return c.post("/v1/jobs", content=body.encode(), headers=JSON_TYPE)

    return Case(CREATE_JOB, send, status, problem)


def predict(status: int, problem: str, body: dict[str, Any] | None = None, **kw: Any) -> Case:
    if body is not None:
        kw["json"] = body
    return request(CREATE_PREDICTION, status, problem, **kw)


def uploaded(body: bytes) -> Prepare:
    """Upload ``body`` (CSV) first; the case then uses it as its dataset."""
    return lambda c, ids: {"dataset_id": upload(c, body)["id"]}


def running_job(c: TestClient, ids: Ids) -> dict[str, str]:
    """A job on the world's dataset that runs for seconds (1000 alphas x 20 folds), not milliseconds."""
    body = {
        "dataset_id": ids["dataset_id"],
        "target": "y",
        "path": {"n_alphas": 1000},
        "cv": {"folds": 20},
        "solver": {"tol": 1e-12},
    }
    response = c.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return {"job_id": response.json()["id"]}


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


GOOD_PARQUET = parquet_bytes(pa.table({"a": [1.0, 2.0, 3.0], "y": [1.0, 2.0, 4.0]}))
WEIGHTED_CSV = b"x,w,y\n1,1,1\n2,1,2\n3,2,4\n4,1,5\n"
WIDE_CSV = (",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join(["1"] * 10_000) + "\n").encode()
LONG_NAME = "n" * 1001
BOM = b"\xef\xbb\xbf"
DEEP_ARRAY = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a": ' * 10_000 + b"1" + b"}" * 10_000


def _short(real: str) -> str:
    return real[:31]


def _long(real: str) -> str:
    return real + "0"


# Bad penalty_factors / bounds / max_features: each answers a validation problem whose first error's
# loc is ["body", field, feature] (["body", "max_features"] for max_features).
CONSTRAINT_CASES: dict[str, tuple[Case, str, str | None]] = {
    "penalty factor for the target": (
        job(422, VALIDATION, penalty_factors={"y": 0.0}),
        "penalty_factors",
        "y",
    ),
    "penalty factor for no column": (
        job(422, VALIDATION, penalty_factors={"nope": 0.0}),
        "penalty_factors",
        "nope",
    ),
    "penalty factor for the weights column": (
        job_on(
            WEIGHTED_CSV, 422, VALIDATION, weights_column="w", penalty_factors={"w": 0.0}, cv={"folds": 2}
        ),
        "penalty_factors",
        "w",
    ),
    "penalty factor for a column not among the features": (
        job(422, VALIDATION, features=["age", "bmi"], penalty_factors={"s1": 0.5}),
        "penalty_factors",
        "s1",
    ),
    "negative penalty factor": (
        job(422, VALIDATION, penalty_factors={"age": -1.0}),
        "penalty_factors",
        "age",
    ),
    "NaN penalty factor": (raw_job('"penalty_factors": {"age": NaN}'), "penalty_factors", "age"),
    "infinite penalty factor": (raw_job('"penalty_factors": {"age": Infinity}'), "penalty_factors", "age"),
    "penalty factor not a number": (
        job(422, VALIDATION, penalty_factors={"age": "low"}),
        "penalty_factors",
        "age",
    ),
    "bounds for the target": (job(422, VALIDATION, bounds={"y": [0.0, None]}), "bounds", "y"),
    "bounds for no column": (job(422, VALIDATION, bounds={"nope": [None, 0.0]}), "bounds", "nope"),
    "bounds lower above zero": (job(422, VALIDATION, bounds={"bmi": [1.0, None]}), "bounds", "bmi"),
    "bounds upper below zero": (job(422, VALIDATION, bounds={"bmi": [None, -1.0]}), "bounds", "bmi"),
    "bounds lower above upper": (job(422, VALIDATION, bounds={"bmi": [2.0, 1.0]}), "bounds", "bmi"),
    "bounds infinite end": (raw_job('"bounds": {"bmi": [-Infinity, null]}'), "bounds", "bmi"),
    "bounds NaN end": (raw_job('"bounds": {"bmi": [null, NaN]}'), "bounds", "bmi"),
    "bounds with three ends": (job(422, VALIDATION, bounds={"bmi": [0.0, 1.0, 2.0]}), "bounds", "bmi"),
    "bounds not a pair": (job(422, VALIDATION, bounds={"bmi": 0.0}), "bounds", "bmi"),
    "max_features zero": (job(422, VALIDATION, max_features=0), "max_features", None),
    "max_features negative": (job(422, VALIDATION, max_features=-3), "max_features", None),
    "max_features fractional": (job(422, VALIDATION, max_features=2.5), "max_features", None),
    "max_features below the unpenalized features": (
        job(422, VALIDATION, penalty_factors={"age": 0.0, "sex": 0.0, "bmi": 0.5}, max_features=1),
        "max_features",
        None,
    ),
}


# Uploads, by content type. Each is refused before anything is stored.
def svmlight(body: bytes, status: int, problem: str, **extra: Any) -> Case:
    return request(CREATE_DATASET, status, problem, content=body, headers=SVMLIGHT_TYPE, **extra)


def csr(change: dict[str, Any], status: int = 422, problem: str = INVALID_DATASET, **extra: Any) -> Case:
    """A JSON CSR upload of a good 2 x 2 matrix with ``change`` applied to its `sparse` member."""
    matrix = {"shape": [2, 2], "indptr": [0, 1, 2], "indices": [0, 1], "data": [1.0, 2.0], **change}
    return request(CREATE_DATASET, status, problem, json={"columns": ["a", "y"], "sparse": matrix}, **extra)


UPLOAD_CASES: dict[str, Case] = {
    "csv inf value": csv(b"a,y\n1,2\ninf,3\n", 422, INVALID_DATASET, members={"column": "a", "row": 2}),
    "csv ragged long row": csv(b"a,y\n1,2\n3,4,5\n", 422, INVALID_DATASET, members={"row": 2}),
    "csv ragged short row": csv(b"a,y\n1,2\n3\n", 422, INVALID_DATASET, members={"row": 2}),
    "csv unbalanced quote": csv(b'a,y\n"1,2\n3,4\n', 422, INVALID_DATASET),
    "csv empty body": csv(b"", 422, INVALID_DATASET),
    "csv header only": csv(b"a,y\n", 422, INVALID_DATASET),
    "csv duplicate column": csv(b"a,a,y\n1,2,3\n", 422, INVALID_DATASET, members={"column": "a"}),
    "csv empty column name": csv(b"a,,y\n1,2,3\n", 422, INVALID_DATASET, members={"position": 2}),
    "csv not utf-8": csv(b"a,y\n\xff\xfe,1\n", 422, INVALID_DATASET),
    # The BOM is no part of the first column's name: the problem names plain "a".
    "csv with a BOM and an infinite value": csv(
        BOM + b"a,y\ninf,2\n3,4\n", 422, INVALID_DATASET, members={"column": "a", "row": 1}
    ),
    "csv with 10,000 columns": csv(WIDE_CSV, 413, "/problems/table-too-large"),
    "csv column name over 1000 characters": csv(
        f"{LONG_NAME},y\n1,2\n".encode(), 422, INVALID_DATASET, members={"position": 1}
    ),
    "csv name with path traversal and a ragged row": csv(
        b"a,y\n1\n", 422, INVALID_DATASET, name="../../etc/passwd"
    ),
    "csv name over 200 characters": csv(b"a,y\n1,2\n", 422, VALIDATION, name="n" * 201),
    "oversize body": csv(b"a,y\n" + b"1,2\n" * 1_100_000, 413, "/problems/payload-too-large"),
    "parquet that is not parquet": request(
        CREATE_DATASET, 422, INVALID_DATASET, content=b"a,y\n1,2\n", headers=PARQUET_TYPE
    ),
    "parquet truncated": request(
        CREATE_DATASET,
        422,
        INVALID_DATASET,
        content=GOOD_PARQUET[: len(GOOD_PARQUET) // 2],
        headers=PARQUET_TYPE,
    ),
    "parquet empty body": request(CREATE_DATASET, 422, INVALID_DATASET, content=b"", headers=PARQUET_TYPE),
    "parquet with a nested column": request(
        CREATE_DATASET,
        422,
        INVALID_DATASET,
        content=parquet_bytes(pa.table({"a": [[1, 2], [3]], "y": [1.0, 2.0]})),
        headers=PARQUET_TYPE,
        members={"column": "a"},
    ),
    "multipart without file": request(
        CREATE_DATASET, 422, INVALID_DATASET, files={"other": ("x.csv", b"a\n1\n", "text/csv")}
    ),
    "multipart file neither csv nor parquet": multipart("x.txt", b"hello", "text/plain", 415, UNSUPPORTED),
    "multipart parquet name, not parquet": multipart(
        "x.parquet", b"a,y\n1,2\n", "application/octet-stream", 422, INVALID_DATASET
    ),
    "multipart empty csv file": multipart("x.csv", b"", "text/csv", 422, INVALID_DATASET),
    "multipart empty file of no kind": multipart("x", b"", "application/octet-stream", 415, UNSUPPORTED),
    "multipart filename with path traversal and a ragged row": multipart(
        "../../etc/passwd.csv", b"a,y\n1\n", "text/csv", 422, INVALID_DATASET
    ),
    "multipart body malformed": request(
        CREATE_DATASET,
        422,
        INVALID_DATASET,
        content=b"garbage",
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    ),
    "json NaN value": json_text(CREATE_DATASET, b'{"columns": ["a"], "data": [[NaN]]}', 422, INVALID_DATASET),
    "json number 1e400": json_text(
        CREATE_DATASET, b'{"columns": ["a"], "data": [[1e400]]}', 422, INVALID_DATASET
    ),
    "json malformed": json_text(CREATE_DATASET, b'{"columns": [', 422, VALIDATION),
    # A JSON list is a table of row objects (pandas' orient="records"): these rows are not objects.
    "json body an array": json_text(CREATE_DATASET, b"[1, 2]", 422, INVALID_DATASET),
    "json body a string": json_text(CREATE_DATASET, b'"a,y"', 422, VALIDATION),
    "json nested 10,000 levels": json_text(CREATE_DATASET, DEEP_ARRAY, 422, INVALID_DATASET),
    # The last of duplicate keys wins, as in Python's json and pydantic; here it repeats a column.
    "json duplicate key": json_text(
        CREATE_DATASET, b'{"columns": ["a"], "columns": ["a", "a"], "data": [[1, 2]]}', 422, INVALID_DATASET
    ),
    "json mixed column types": request(
        CREATE_DATASET, 422, INVALID_DATASET, json={"columns": ["a"], "data": [[1], ["x"]]}
    ),
    "json newline in a column name": request(
        CREATE_DATASET, 422, INVALID_DATASET, json={"columns": ["a\nb", "y"], "data": [[1, 2]]}
    ),
    "json NUL in a column name": request(
        CREATE_DATASET, 422, INVALID_DATASET, json={"columns": ["y", "a\x00"], "data": [[1, 2]]}
    ),
    "unknown content type": request(
        CREATE_DATASET, 415, UNSUPPORTED, content=b"<a/>", headers={"Content-Type": "application/xml"}
    ),
    "no content type": request(CREATE_DATASET, 415, UNSUPPORTED, content=b"a,y\n1,2\n"),
}

# Sparse uploads: svmlight text names the line at fault, JSON CSR the member and the row.
SPARSE_UPLOAD_CASES: dict[str, Case] = {
    "svmlight malformed line": svmlight(b"1 1:2\n1 garbage\n", 422, INVALID_DATASET, members={"line": 2}),
    "svmlight index 0 with 1-based indices": svmlight(
        b"# zero-based file\n1 0:2 1:1\n", 422, INVALID_DATASET, members={"line": 2}
    ),
    "svmlight indices not increasing": svmlight(b"1 3:2 1:1\n", 422, INVALID_DATASET, members={"line": 1}),
    "svmlight negative index": request(
        CREATE_DATASET,
        422,
        INVALID_DATASET,
        content=b"1 -1:2\n",
        headers=SVMLIGHT_TYPE,
        params={"zero_based": "true"},
        members={"line": 1},
    ),
    "svmlight value not a number": svmlight(b"1 1:2\n0 2:abc\n", 422, INVALID_DATASET, members={"line": 2}),
    "svmlight nan value": svmlight(
        b"1 1:2\n\n0 2:nan\n", 422, INVALID_DATASET, members={"line": 3, "row": 2}
    ),
    "svmlight label infinite": svmlight(b"inf 1:2\n", 422, INVALID_DATASET, members={"line": 1}),
    "svmlight empty body": svmlight(b"", 422, INVALID_DATASET),
    "svmlight comments only": svmlight(b"# nothing\n", 422, INVALID_DATASET),
    "svmlight labels alone": svmlight(b"0\n1\n", 422, INVALID_DATASET),
    "svmlight not utf-8": svmlight(b"1 1:\xff\xfe\n", 422, INVALID_DATASET, members={"line": 1}),
    "svmlight index past max_columns": svmlight(
        b"1 1:1 5000:1\n", 413, "/problems/table-too-large", members={"limit": "max_columns"}
    ),
    "svmlight index past the named columns": request(
        CREATE_DATASET,
        422,
        INVALID_DATASET,
        files={"file": ("a.svm", b"1 1:1\n1 3:1\n", "application/octet-stream")},
        data={"columns": "a\nb\n"},
        members={"line": 2},
    ),
    "svmlight columns naming y again": request(
        CREATE_DATASET,
        422,
        INVALID_DATASET,
        files={"file": ("a.libsvm", b"1 1:1\n", "application/octet-stream")},
        data={"columns": "y\n"},
        members={"column": "y"},
    ),
    "svmlight columns with a csv file": request(
        CREATE_DATASET,
        422,
        INVALID_DATASET,
        files={"file": ("a.csv", b"a,y\n1,2\n", "text/csv")},
        data={"columns": "a\n"},
    ),
    "svmlight file with a bad line": multipart(
        "a.svmlight", b"1 1:1\nx\n", "text/plain", 422, INVALID_DATASET
    ),
    "csr indptr of the wrong length": csr({"indptr": [0, 2]}, members={"field": "sparse.indptr"}),
    "csr indptr not starting at 0": csr({"indptr": [1, 1, 2]}, members={"field": "sparse.indptr"}),
    "csr indptr decreasing": csr(
        {"indptr": [0, 2, 1], "indices": [0, 1], "data": [1.0, 2.0]},
        members={"field": "sparse.indptr", "row": 2},
    ),
    "csr indptr past the entries": csr({"indptr": [0, 1, 3]}, members={"field": "sparse.indptr"}),
    "csr indptr past 64 bits": json_text(
        CREATE_DATASET,
        b'{"columns": ["a", "y"], "sparse": {"shape": [1, 2], "indptr": [0, 99999999999999999999999],'
        b' "indices": [0], "data": [1.0]}}',
        422,
        INVALID_DATASET,
    ),
    "csr index out of range": csr({"indices": [0, 2]}, members={"field": "sparse.indices", "row": 2}),
    "csr index negative": csr({"indices": [-1, 1]}, members={"field": "sparse.indices", "row": 1}),
    "csr index twice in a row": csr(
        {"indptr": [0, 2, 2], "indices": [1, 1]}, members={"field": "sparse.indices", "row": 1}
    ),
    "csr data and indices of different lengths": csr({"data": [1.0]}, members={"field": "sparse.data"}),
    "csr shape not the columns": csr({"shape": [2, 3]}, members={"field": "sparse.shape"}),
    "csr no rows": csr({"shape": [0, 2], "indptr": [0], "indices": [], "data": []}),
    "csr NaN value": json_text(
        CREATE_DATASET,
        b'{"columns": ["a", "y"], "sparse": {"shape": [1, 2], "indptr": [0, 1], "indices": [1],'
        b' "data": [NaN]}}',
        422,
        INVALID_DATASET,
    ),
    "csr shape negative": csr({"shape": [-1, 2]}, status=422, problem=VALIDATION),
    "csr with data as well": request(
        CREATE_DATASET,
        422,
        VALIDATION,
        json={
            "columns": ["a"],
            "data": [[1]],
            "sparse": {"shape": [1, 1], "indptr": [0, 1], "indices": [0], "data": [1.0]},
        },
    ),
    "csr duplicate column": request(
        CREATE_DATASET,
        422,
        INVALID_DATASET,
        json={
            "columns": ["a", "a"],
            "sparse": {"shape": [1, 2], "indptr": [0, 0], "indices": [], "data": []},
        },
        members={"column": "a"},
    ),
}

# Listing, reading and deleting datasets; ids of the wrong shape are plain unknown ids.
DATASET_CASES: dict[str, Case] = {
    "datasets limit zero": request(LIST_DATASETS, 422, VALIDATION, params={"limit": 0}),
    "datasets offset negative": request(LIST_DATASETS, 422, VALIDATION, params={"offset": -1}),
    "dataset id in uppercase": request(GET_DATASET, 404, NOT_FOUND, ids={"dataset_id": str.upper}),
    "dataset id of 31 characters": request(GET_DATASET, 404, NOT_FOUND, ids={"dataset_id": _short}),
    "dataset id of dot-dot": request(GET_DATASET, 404, NOT_FOUND, ids={"dataset_id": "%2e%2e"}),
    "dataset id with slashes": Case(None, raw("GET", "/v1/datasets/..%2F..%2Fetc"), 404, NOT_FOUND),
    "delete dataset id not hex": request(DELETE_DATASET, 404, NOT_FOUND, ids={"dataset_id": "z" * 32}),
    "delete unknown dataset": request(DELETE_DATASET, 404, NOT_FOUND, ids={"dataset_id": UNKNOWN_ID}),
    "columns of an unknown dataset": request(
        LIST_DATASET_COLUMNS, 404, NOT_FOUND, ids={"dataset_id": UNKNOWN_ID}
    ),
    "columns limit zero": request(LIST_DATASET_COLUMNS, 422, VALIDATION, params={"limit": 0}),
    "columns limit over 10,000": request(LIST_DATASET_COLUMNS, 422, VALIDATION, params={"limit": 10_001}),
    "columns offset negative": request(LIST_DATASET_COLUMNS, 422, VALIDATION, params={"offset": -1}),
}

# Creating jobs: the request, the dataset's columns and its data are all checked before queueing.
JOB_CASES: dict[str, Case] = {
    "target not a column": job(422, VALIDATION, target="nope"),
    "feature not a column": job(422, VALIDATION, features=["age", "nope"]),
    "feature name over 1000 characters": job(422, VALIDATION, features=[LONG_NAME]),
    "categorical target for gaussian": job_on(b"g,x\na,1\nb,2\na,3\n", 422, VALIDATION, target="g"),
    "one class only for multinomial, categorical": job_on(
        b"x,g\n1,a\n2,a\n3,a\n", 422, INVALID_DATA, target="g", family="multinomial", cv={"folds": 2}
    ),
    "NaN in target": job_on(b"x,y\n1,1\n2,\n3,4\n4,5\n", 422, INVALID_DATA, cv={"folds": 2}),
    "all-missing target": job_on(b"x,y\n1,\n2,\n3,\n4,\n", 422, INVALID_DATA, cv={"folds": 2}),
    "missing feature value with missing=error": job_on(
        b"x,y\n1,1\n,2\n3,4\n4,5\n", 422, INVALID_DATA, cv={"folds": 2}
    ),
    "all-missing feature": job_on(b"x,m,y\n1,,1\n2,,2\n3,,4\n4,,5\n", 422, INVALID_DATA, cv={"folds": 2}),
    "all-missing only feature with missing=mean": job_on(
        b"m,y\n,1\n,2\n,4\n,5\n", 422, INVALID_DATA, missing="mean", cv={"folds": 2}
    ),
    "one-row dataset": job_on(b"x,y\n1,2\n", 422, INVALID_DATA, cv=None, alpha=0.1),
    "one-row dataset with default folds": job_on(b"x,y\n1,2\n", 422, VALIDATION),
    "categorical fold column with one fold": job_on(
        b"x,f,y\n1,a,1\n2,a,2\n3,a,4\n", 422, INVALID_DATA, cv={"fold_column": "f"}
    ),
    "missing value in the weights": job_on(
        b"x,w,y\n1,1,1\n2,,2\n3,1,4\n", 422, INVALID_DATA, weights_column="w", cv={"folds": 2}
    ),
    "more folds than rows": job(422, VALIDATION, cv={"folds": 1000}),
    "alpha zero": job(422, VALIDATION, alpha=0),
    "alpha negative": job(422, VALIDATION, alpha=-1.0),
    "alpha 1e400": raw_job('"alpha": 1e400'),
    "l1_ratio above one": job(422, VALIDATION, penalty="elasticnet", l1_ratio=1.5),
    "l1_ratio below zero": job(422, VALIDATION, penalty="elasticnet", l1_ratio=-0.1),
    "elasticnet without l1_ratio": job(422, VALIDATION, penalty="elasticnet"),
    "lasso with l1_ratio 0.5": job(422, VALIDATION, l1_ratio=0.5),
    "auc for gaussian": job(422, VALIDATION, cv={"metric": "auc"}),
    "wrong JSON type": job(422, VALIDATION, target=5),
    "unknown field": job(422, VALIDATION, penalty_factor={"age": 0.0}),
    "unknown family": job(422, VALIDATION, family="poisson"),
    # The last of duplicate keys wins: the target is "nope", not "y".
    "job duplicate key": raw_job('"target": "nope"'),
    "job body an array": json_text(CREATE_JOB, b"[1]", 422, VALIDATION),
    "job without content type": request(CREATE_JOB, 422, VALIDATION, content=b'{"target": "y"}'),
    "unknown dataset": job(404, NOT_FOUND, dataset_id=UNKNOWN_ID),
    "dataset id with path traversal": job(404, NOT_FOUND, dataset_id="../../etc/passwd"),
    "unknown job kind": job(422, VALIDATION, kind="lasso"),
    "knockoffs fdr of one": job(422, VALIDATION, kind="knockoffs", knockoffs={"fdr": 1}),
    "stability threshold of one half": job(422, VALIDATION, kind="stability", stability={"threshold": 0.5}),
    "stability pfer zero": job(422, VALIDATION, kind="stability", stability={"pfer": 0}),
    "stability options on a fit": job(422, VALIDATION, stability={"pfer": 1}),
    "bootstrap level of one": job(422, VALIDATION, kind="bootstrap", bootstrap={"level": 1}),
    "groups naming an unknown column": job(422, VALIDATION, groups={"blood": ["s1", "nope"]}),
    "groups naming the target": job(422, VALIDATION, groups={"g": ["y"]}),
    "inference without alpha": job(422, VALIDATION, inference=True),
    "relax of a ridge": job(422, VALIDATION, relax=True, penalty="ridge"),
}

# What only the values show, so the stored schema cannot: the job is accepted and fails in its own
# process, where the design is built, with the problem type POST answered when it built the design.
# (CSV body of the dataset, JobCreate fields besides dataset_id and target "y", problem type.)
FAILED_JOB_CASES: dict[str, tuple[bytes, dict[str, Any], str]] = {
    "one class only for binomial": (
        b"x,y\n1,1\n2,1\n3,1\n",
        {"family": "binomial", "cv": {"folds": 2}},
        INVALID_DATA,
    ),
    "constant column as the only feature": (b"c,y\n1,1\n1,2\n1,4\n1,5\n", {"cv": {"folds": 2}}, INVALID_DATA),
    "fold column with one fold": (
        b"x,f,y\n1,1,1\n2,1,2\n3,1,4\n",
        {"cv": {"fold_column": "f"}},
        INVALID_DATA,
    ),
    "negative weight": (
        b"x,w,y\n1,1,1\n2,-1,2\n3,1,4\n",
        {"weights_column": "w", "cv": None, "alpha": 0.1},
        INVALID_DATA,
    ),
    "three values in a numeric binomial target": (
        b"x,y\n1,0\n2,1\n3,2\n4,1\n",
        {"family": "binomial", "cv": None, "alpha": 0.1},
        VALIDATION,
    ),
}

# Reading, waiting for, cancelling, following and deleting jobs.
JOB_ID_CASES: dict[str, Case] = {
    "jobs status filter unknown": request(LIST_JOBS, 422, VALIDATION, params={"status": "done"}),
    "jobs limit above 1000": request(LIST_JOBS, 422, VALIDATION, params={"limit": 1001}),
    "unknown job": request(GET_JOB, 404, NOT_FOUND, ids={"job_id": UNKNOWN_ID}),
    "job id of 33 characters": request(GET_JOB, 404, NOT_FOUND, ids={"job_id": _long}),
    "wait above 60": request(GET_JOB, 422, VALIDATION, params={"wait": 61}),
    "wait negative": request(GET_JOB, 422, VALIDATION, params={"wait": -1}),
    "wait not a number": request(GET_JOB, 422, VALIDATION, params={"wait": "soon"}),
    "cancel unknown job": request(CANCEL_JOB, 404, NOT_FOUND, ids={"job_id": UNKNOWN_ID}),
    "cancel job id not hex": request(CANCEL_JOB, 404, NOT_FOUND, ids={"job_id": "g" * 32}),
    "cancel finished job": request(CANCEL_JOB, 409, "/problems/job-finished"),
    "events of an unknown job": request(FOLLOW_JOB, 404, NOT_FOUND, ids={"job_id": UNKNOWN_ID}),
    "events job id in uppercase": request(FOLLOW_JOB, 404, NOT_FOUND, ids={"job_id": str.upper}),
    "delete running job": request(DELETE_JOB, 409, "/problems/job-not-finished", prepare=running_job),
    "delete unknown job": request(DELETE_JOB, 404, NOT_FOUND, ids={"job_id": UNKNOWN_ID}),
}

# Models: lists, reads, the path and CV documents, plots, predictions, delete.
MODEL_CASES: dict[str, Case] = {
    "models limit not an integer": request(LIST_MODELS, 422, VALIDATION, params={"limit": "all"}),
    "models offset negative": request(LIST_MODELS, 422, VALIDATION, params={"offset": -1}),
    "unknown model": request(GET_MODEL, 404, NOT_FOUND, ids={"model_id": UNKNOWN_ID}),
    "model id in uppercase": request(GET_MODEL, 404, NOT_FOUND, ids={"model_id": str.upper}),
    "path of an unknown model": request(GET_MODEL_PATH, 404, NOT_FOUND, ids={"model_id": UNKNOWN_ID}),
    "path model id of dot-dot": request(GET_MODEL_PATH, 404, NOT_FOUND, ids={"model_id": "%2e%2e"}),
    "path of an unknown feature": request(
        GET_MODEL_PATH, 422, VALIDATION, params={"features": "age,nope"}, members={"feature": "nope"}
    ),
    "path with an empty feature name": request(
        GET_MODEL_PATH, 422, VALIDATION, params={"features": "age,,bmi"}
    ),
    "path with features empty": request(GET_MODEL_PATH, 422, VALIDATION, params={"features": ""}),
    "path features of an unknown model": request(
        GET_MODEL_PATH, 404, NOT_FOUND, ids={"model_id": UNKNOWN_ID}, params={"features": "nope"}
    ),
    "cv of an unknown model": request(GET_MODEL_CV, 404, NOT_FOUND, ids={"model_id": _short}),
    "cv of a model fitted without cv": request(
        GET_MODEL_CV, 404, NOT_FOUND, ids={"model_id": "{nocv_model_id}"}
    ),
    "path plot of an unknown model": request(PLOT_PATH, 404, NOT_FOUND, ids={"model_id": UNKNOWN_ID}),
    "cv plot of an unknown model": request(PLOT_CV, 404, NOT_FOUND, ids={"model_id": UNKNOWN_ID}),
    "path plot model id in uppercase": request(PLOT_PATH, 404, NOT_FOUND, ids={"model_id": str.upper}),
    "cv plot of a model fitted without cv": request(
        PLOT_CV, 404, NOT_FOUND, ids={"model_id": "{nocv_model_id}"}
    ),
    "export in an unknown format": request(EXPORT_MODEL, 422, VALIDATION, params={"format": "xml"}),
    "export without a format": request(EXPORT_MODEL, 422, VALIDATION),
    "export of an unknown model": request(
        EXPORT_MODEL, 404, NOT_FOUND, ids={"model_id": UNKNOWN_ID}, params={"format": "onnx"}
    ),
    "export at an alpha that is not a number": request(
        EXPORT_MODEL, 422, VALIDATION, params={"format": "json", "alpha": "abc"}
    ),
    "delete unknown model": request(DELETE_MODEL, 404, NOT_FOUND, ids={"model_id": UNKNOWN_ID}),
    "delete model id not hex": request(DELETE_MODEL, 404, NOT_FOUND, ids={"model_id": "-" * 32}),
    "predict unknown model": predict(
        404, NOT_FOUND, {"columns": ["age"], "data": [[1.0]]}, ids={"model_id": UNKNOWN_ID}
    ),
    "predict missing column": predict(422, FEATURE_MISMATCH, {"columns": ["age"], "data": [[1.0]]}),
    "predict unknown dataset": predict(404, NOT_FOUND, {"dataset_id": UNKNOWN_ID[:-1] + "1", "alpha": 1e9}),
    "predict both sources": predict(
        422, VALIDATION, {"dataset_id": UNKNOWN_ID, "columns": ["a"], "data": [[1]]}
    ),
    "predict number 1e400": predict(
        422, INVALID_DATASET, content=b'{"columns": ["age"], "data": [[1e400]]}', headers=JSON_TYPE
    ),
    "predict body an array": predict(422, INVALID_DATASET, content=b"[1]", headers=JSON_TYPE),
    "predict nested 10,000 levels": predict(422, INVALID_DATASET, content=DEEP_ARRAY, headers=JSON_TYPE),
    "predict alpha negative": predict(
        422, VALIDATION, {"columns": ["age"], "data": [[1.0]]}, params={"alpha": -1}
    ),
    "predict csv missing columns": predict(422, FEATURE_MISMATCH, content=b"age\n1\n", headers=CSV_TYPE),
    "predict csv ragged": predict(422, INVALID_DATASET, content=b"age,sex\n1\n", headers=CSV_TYPE),
    "predict text body": predict(415, UNSUPPORTED, content=b"x", headers={"Content-Type": "text/plain"}),
    "predict no content type": predict(415, UNSUPPORTED, content=b"{}"),
}

SPARSE_PREDICTION_CASES: dict[str, Case] = {
    "predict svmlight malformed": predict(422, INVALID_DATASET, content=b"1 1:x\n", headers=SVMLIGHT_TYPE),
    "predict svmlight labels alone": predict(422, INVALID_DATASET, content=b"0\n", headers=SVMLIGHT_TYPE),
    # The diabetes model's features have names of their own: index k is its k-th feature, of 10.
    "predict svmlight index past the model's features": predict(
        422, INVALID_DATASET, content=b"1 1:1\n1 11:1\n", headers=SVMLIGHT_TYPE
    ),
    "predict svmlight index 0 with 1-based indices": predict(
        422, INVALID_DATASET, content=b"0 0:1\n", headers=SVMLIGHT_TYPE
    ),
    "predict csr missing columns": predict(
        422,
        FEATURE_MISMATCH,
        {"columns": ["age"], "sparse": {"shape": [1, 1], "indptr": [0, 1], "indices": [0], "data": [1.0]}},
    ),
    "predict csr indptr inconsistent": predict(
        422,
        INVALID_DATASET,
        {"columns": ["age"], "sparse": {"shape": [1, 1], "indptr": [0, 2], "indices": [0], "data": [1.0]}},
    ),
    "predict csr and data": predict(
        422,
        VALIDATION,
        {
            "columns": ["age"],
            "data": [[1.0]],
            "sparse": {"shape": [1, 1], "indptr": [0, 1], "indices": [0], "data": [1.0]},
        },
    ),
    "predict csr without columns": predict(
        422, VALIDATION, {"sparse": {"shape": [1, 1], "indptr": [0, 1], "indices": [0], "data": [1.0]}}
    ),
    "predict csr with a dataset id": json_text(
        CREATE_PREDICTION,
        b'{"dataset_id": "' + b"0" * 32 + b'", "sparse": {"shape": [1, 1], "indptr": [0, 1], "indices": [0],'
        b' "data": [1.0]}}',
        422,
        VALIDATION,
    ),
}

# Selections: lists, reads, the stability plot, delete.
SELECTION_CASES: dict[str, Case] = {
    "selections limit not an integer": request(LIST_SELECTIONS, 422, VALIDATION, params={"limit": "all"}),
    "selections offset negative": request(LIST_SELECTIONS, 422, VALIDATION, params={"offset": -1}),
    "unknown selection": request(GET_SELECTION, 404, NOT_FOUND, ids={"selection_id": UNKNOWN_ID}),
    "selection id in uppercase": request(GET_SELECTION, 404, NOT_FOUND, ids={"selection_id": str.upper}),
    "stability plot of an unknown selection": request(
        PLOT_STABILITY, 404, NOT_FOUND, ids={"selection_id": UNKNOWN_ID}
    ),
    "stability plot of a bootstrap selection": request(
        PLOT_STABILITY, 404, NOT_FOUND, ids={"selection_id": "{bootstrap_selection_id}"}
    ),
    "delete unknown selection": request(DELETE_SELECTION, 404, NOT_FOUND, ids={"selection_id": UNKNOWN_ID}),
}

# What the router answers before any route runs.
ROUTER_CASES: dict[str, Case] = {
    "unknown path": Case(None, raw("GET", "/v2/nothing"), 404, NOT_FOUND),
    "method not allowed": Case(
        None,
        raw("PUT", "/v1/datasets"),
        405,
        "/problems/method-not-allowed",
        answer_headers={"allow": "GET, POST"},
    ),
}

# Known gaps, kept in the table so that the fix shows up as an unexpected pass.
EXPECTED_FAILURES: dict[str, str] = {}

CASES: dict[str, Case] = {
    **UPLOAD_CASES,
    **SPARSE_UPLOAD_CASES,
    **DATASET_CASES,
    **JOB_CASES,
    "job nested 10,000 levels": json_text(CREATE_JOB, DEEP_OBJECT, 422, VALIDATION),
    **JOB_ID_CASES,
    **MODEL_CASES,
    **SELECTION_CASES,
    **SPARSE_PREDICTION_CASES,
    **ROUTER_CASES,
}

# The main table plus the constraint cases, each of which is also a plain validation problem.
TABLE: dict[str, Case] = {**CASES, **{name: case for name, (case, _, _) in CONSTRAINT_CASES.items()}}


def table_params() -> list[Any]:
    """The table as pytest params, with the known gaps marked as strict expected failures."""
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=EXPECTED_FAILURES[name]))
        if name in EXPECTED_FAILURES
        else name
        for name in TABLE
    ]
