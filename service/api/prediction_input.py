"""The rows of a prediction request: JSON rows or CSR, a stored dataset, a CSV or svmlight body."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from typing import Any, cast

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from service.api.deps import Services
from service.api.prediction_csr import CsrBody, read_csr
from service.api.prediction_inline import json_rows_now
from service.api.prediction_rows import read_split_rows
from service.api.schemas import PredictionCreate
from service.api.uploads import (
    CSV,
    JSON,
    RECORDS_SCHEMA,
    SVMLIGHT,
    SvmlightOptions,
    body_schema,
    is_json_list,
    media_type,
    parse_json_body,
    parse_records,
)
from service.api.uploads import read_body as read_limited_body
from service.data.csr import parse_csr
from service.data.delimiters import check_header, choose
from service.data.limits import TableLimits, check_table_shape
from service.data.parsing import check_names, parse_csv, parse_split_json
from service.data.sparse import SparseTable
from service.data.sparseio import dataset_from_bytes
from service.data.svmlight import parse_svmlight_features
from service.data.table import Column, Table
from service.errors import UnsupportedMediaTypeError, ValidationError
from service.worker.artifact import ModelArtifact

PREDICTION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            JSON: {"schema": {"anyOf": [body_schema(PredictionCreate), RECORDS_SCHEMA]}},
            CSV: {"schema": {"type": "string"}},
            SVMLIGHT: {"schema": {"type": "string"}},
        },
    }
}
# svmlight features are named x1 ... xp, as an svmlight upload names them.
_SVMLIGHT_NAME = re.compile(r"x([1-9][0-9]*)")

Rows = Table | SparseTable


def _stored_dataset(services: Services, dataset_id: str, tenant: str) -> Rows:
    record = services.catalog.get_dataset(dataset_id, tenant=tenant)
    if record.storage == "partitioned":
        # A tall table is never read whole by the API; its predictions would not fit an answer either.
        raise ValidationError(
            "dataset_id names a partitioned dataset, which is not predicted on through the API.",
            errors=[{"loc": ["body", "dataset_id"], "msg": "partitioned dataset", "type": "value_error"}],
        )
    return dataset_from_bytes(services.datasets.read(record.id, record.sha256))


def _svmlight_rows(body: bytes, artifact: ModelArtifact, options: SvmlightOptions) -> Rows:
    """An svmlight body's rows, their features named as the model's are.

    When every feature of the model is named ``x<k>`` (an svmlight upload's default names), index k
    is ``x<k>``, matched by name, and the body reaches at least the highest k the model knows (a
    feature no row mentions is zero in every row). Otherwise index k is the model's k-th feature in
    the order of its coefficients: for a model of ``y`` on every feature of an svmlight upload with
    named ``columns``, the order of those names.
    """
    names = artifact.encoder.feature_names
    if not body.strip():  # no line, no row: nothing to predict, as for JSON and a bare CSV header
        return _no_rows(names)
    indices = [_SVMLIGHT_NAME.fullmatch(name) for name in names]
    if all(m is not None for m in indices):
        width = max((int(m.group(1)) for m in indices if m is not None), default=0)
        return parse_svmlight_features(
            body, zero_based=options.zero_based, limits=options.limits, min_columns=width
        )
    return parse_svmlight_features(body, zero_based=options.zero_based, limits=options.limits, names=names)


def _csv_rows(body: bytes, limits: TableLimits, delimiter: str | None = None) -> Rows:
    names = _header_only(body, delimiter)
    if names is not None:
        return _no_rows(names)
    return _within_limits(parse_csv(body, delimiter), limits)


def _header_only(body: bytes, delimiter: str | None = None) -> list[str] | None:
    """The names of a CSV body that is its header line alone (nothing to predict), else None.

    An upload needs rows; a prediction of none is an empty answer, as for JSON. Anything unusual
    (more lines, bytes that are not UTF-8) is left to the CSV parser and its problems.
    """
    line = body.rstrip(b"\r\n")
    if not line or b"\n" in line:  # the scan stops at the first line end of a body with rows
        return None
    separator = choose(line, delimiter)
    try:
        names = next(csv.reader([line.decode("utf-8-sig")], delimiter=separator))
    except (UnicodeDecodeError, csv.Error):
        return None
    check_header(names, separator)
    return names


def _json_rows(spec: PredictionCreate) -> Rows:
    assert spec.columns is not None  # guaranteed by PredictionCreate when there is no dataset_id
    if spec.sparse is not None:
        matrix = spec.sparse
        if tuple(matrix.shape) == (0, len(spec.columns)):
            return _no_rows(spec.columns)
        return parse_csr(spec.columns, matrix.shape, matrix.indptr, matrix.indices, matrix.data)
    assert spec.data is not None
    if not spec.data:
        return _no_rows(spec.columns)
    return parse_split_json(spec.columns, spec.data)


def _no_rows(columns: list[str]) -> Table:
    """The named columns with no rows: predicting nothing is an empty answer, not an invalid table."""
    check_names(columns)
    return Table(tuple(Column.numeric(name, ()) for name in columns), 0)


async def prediction_input(
    request: Request,
    services: Services,
    tenant: str,
    artifact: ModelArtifact,
    alpha: float | None,
    options: SvmlightOptions,
    delimiter: str | None = None,
) -> tuple[Rows, float | None]:
    """The rows to predict and the alpha to predict at (the body's wins over the query's)."""
    kind = media_type(request)
    # The gate's limits (service.api.gate.body_limit), here on the decompressed size of a gzip body:
    # CSV and svmlight rows are uploads, any other body is JSON.
    settings = services.settings
    limit = settings.max_body_bytes if kind in (CSV, SVMLIGHT) else settings.max_json_bytes
    body = await read_limited_body(request, limit)
    if kind == CSV:
        return await run_in_threadpool(_csv_rows, body, services.table_limits, delimiter), alpha
    if kind == SVMLIGHT:
        return await run_in_threadpool(_svmlight_rows, body, artifact, options), alpha
    if kind != JSON:
        raise UnsupportedMediaTypeError(
            f"Content-Type {kind or '(none)'} is not accepted; send {JSON}, {CSV} or {SVMLIGHT}."
        )
    small = json_rows_now(body, services, alpha, artifact)
    if small is not None:
        return small
    # Parsed in a thread: pydantic took seconds over a 120 MB body, all of them on the event loop.
    return await run_in_threadpool(_json_input, body, services, tenant, alpha)


def _json_input(
    body: bytes, services: Services, tenant: str, alpha: float | None
) -> tuple[Rows, float | None]:
    """A JSON body's rows and alpha: ``columns`` + ``data`` a chunk at a time, any other the ordinary way."""
    limits = services.table_limits
    if is_json_list(body):  # pandas' orient="records": the alpha comes from the query
        columns, rows = parse_records(body)
        check_table_shape(len(rows), len(columns), limits)  # before a column is built
        return parse_split_json(columns, rows), alpha
    lean = read_split_rows(body, limits)
    if lean is not None:
        table, chosen = lean
        return table, chosen if chosen is not None else alpha
    csr = read_csr(body)
    if csr is not None:
        return _within_limits(_csr_rows(csr), limits), csr.alpha if csr.alpha is not None else alpha
    spec = parse_json_body(PredictionCreate, body)
    chosen = spec.alpha if spec.alpha is not None else alpha
    if spec.dataset_id is not None:
        return _stored_dataset(services, spec.dataset_id, tenant), chosen
    return _within_limits(_json_rows(spec), limits), chosen


def _csr_rows(csr: CsrBody) -> SparseTable:
    # parse_csr takes its arrays with np.asarray: numpy arrays go in as they are, not copied.
    arrays = cast(tuple[Sequence[int], Sequence[int], Sequence[float]], (csr.indptr, csr.indices, csr.data))
    return parse_csr(csr.columns, csr.shape, *arrays)


def _within_limits(rows: Rows, limits: TableLimits) -> Rows:
    """413 naming the limit for rows to predict beyond what an upload may hold (a design is built of them)."""
    cells = rows.nnz if isinstance(rows, SparseTable) else None
    check_table_shape(rows.n_rows, rows.n_columns, limits, cells=cells)
    return rows
