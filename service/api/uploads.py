"""Reading request bodies: the size limit, content-type dispatch, multipart and JSON tables."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import orjson
from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from service.api.gzip_body import GzipStream, content_coding, gunzip, is_gzip_file
from service.api.schemas import DatasetCreate
from service.data.csr import parse_csr
from service.data.limits import TableLimits
from service.data.parsing import parse_csv, parse_parquet, parse_split_json
from service.data.records import records_to_split
from service.data.sparse import SparseTable
from service.data.svmlight import parse_svmlight
from service.data.table import Table
from service.errors import InvalidDatasetError, PayloadTooLargeError, UnsupportedMediaTypeError

CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
MULTIPART = "multipart/form-data"
JSON = "application/json"
SVMLIGHT = "text/x-svmlight"
SVMLIGHT_SUFFIXES = (".svm", ".svmlight", ".libsvm")
PARQUET_MAGIC = b"PAR1"
SchemaT = TypeVar("SchemaT", bound=BaseModel)
Delimiter = Annotated[
    Literal[",", ";", "\t", "|", "tab"] | None,
    Query(
        description="CSV bodies: the field separator (`tab` or `%09` for a tab). Unset: a comma, or the one "
        "of `;`, tab and `|` that the header holds outside its quoted names, when it holds exactly one "
        "and no comma there."
    ),
]
# A JSON list of row objects (pandas' orient="records"), as the OpenAPI document shows it.
RECORDS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "object", "additionalProperties": {"type": ["number", "string", "boolean", "null"]}},
    "description": 'Rows as objects of column names and values (pandas\' `to_json(orient="records")`).',
}


def body_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of ``schema`` with its nested models written inline.

    A request body declared by hand (``openapi_extra``) is not among the document's components, so
    pydantic's ``#/$defs/...`` references would point nowhere in it.
    """
    document = schema.model_json_schema()
    definitions = document.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref")
            if isinstance(reference, str) and reference.startswith("#/$defs/"):
                return inline(definitions[reference.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    inlined: dict[str, Any] = inline(document)
    return inlined


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing anything over `limit` bytes before reading it all.

    A ``Content-Encoding: gzip`` body is decompressed as it streams in, and it is its decompressed
    size that `limit` bounds (a gzip bomb is a 413 after at most `limit` bytes, not a full memory).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"The body is {declared} bytes; the limit is {limit} bytes.")
    if content_coding(request.headers.get("content-encoding")) == "gzip":
        return await _read_gzip_body(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"The body exceeds the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def _read_gzip_body(request: Request, limit: int) -> bytes:
    stream = GzipStream(limit)
    chunks: list[bytes] = []
    async for chunk in request.stream():
        for piece in stream.feed(chunk):
            chunks.append(piece)
            await asyncio.sleep(0)  # a piece is up to 1 MiB of inflating: other requests get a turn
    stream.finish()
    return b"".join(chunks)


def is_json_list(body: bytes) -> bool:
    """Whether a JSON body is a list (row objects), not an object: told by its first byte of text."""
    return body.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] == b"["


def parse_records(body: bytes) -> tuple[list[str], list[list[Any]]]:
    """The columns and rows of a JSON list of row objects; 422 for JSON that is not valid."""
    try:
        records = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidDatasetError(
            f"the body is not valid JSON ({error.msg} at character {error.pos})"
        ) from None
    return records_to_split(records)


@dataclass(frozen=True)
class Upload:
    """A parsed upload and the name it came with."""

    table: Table | SparseTable
    name: str | None


@dataclass(frozen=True)
class SvmlightOptions:
    """How svmlight text is read: the index base, and the limits checked before a wide table is built."""

    zero_based: bool
    limits: TableLimits


def parse_json_body(schema: type[SchemaT], body: bytes) -> SchemaT:
    """Validate a JSON body read by hand; errors become the same 422 as FastAPI's own."""
    try:
        return schema.model_validate_json(body)
    except PydanticValidationError as error:
        raise RequestValidationError(error.errors(include_input=False, include_url=False)) from None


def parse_json_table(body: bytes, name: str | None = None) -> Upload:
    if is_json_list(body):  # pandas' orient="records"; the name comes from ?name=
        return Upload(parse_split_json(*parse_records(body)), name)
    document = parse_json_body(DatasetCreate, body)
    if document.sparse is not None:
        matrix = document.sparse
        table = parse_csr(document.columns, matrix.shape, matrix.indptr, matrix.indices, matrix.data)
        return Upload(table, document.name)
    assert document.data is not None  # guaranteed by DatasetCreate
    return Upload(parse_split_json(document.columns, document.data), document.name)


def column_names(text: str) -> list[str]:
    """The names of a multipart ``columns`` field: one a line, a final newline allowed."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


async def parse_multipart(
    request: Request, body: bytes, limit: int, svmlight: SvmlightOptions, delimiter: str | None = None
) -> Upload:
    async def stream() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(request.headers, stream(), max_files=1, max_fields=10, max_part_size=limit)
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise InvalidDatasetError(f"The multipart body is malformed: {error.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidDatasetError("The multipart body has no file field named 'file'.", field="file")
        data = await upload.read()
        name, columns = form.get("name"), form.get("columns")
        label = name if isinstance(name, str) and name else upload.filename
        content_type, filename = upload.content_type, upload.filename
    finally:
        await form.close()  # spooled temp files must not outlive the request
    names = column_names(columns) if isinstance(columns, str) else None
    if is_gzip_file(content_type, filename, data):
        # name.csv.gz: the file inside is told by the name without .gz (or by its first bytes).
        data = await run_in_threadpool(gunzip, data, limit)
        content_type = None
        filename = (filename or "").removesuffix(".gz").removesuffix(".GZ") or None
    kind = _file_kind(content_type, filename, data)
    if kind == SVMLIGHT:
        table: Table | SparseTable = await run_in_threadpool(
            parse_svmlight, data, zero_based=svmlight.zero_based, limits=svmlight.limits, names=names
        )
        return Upload(table, label)
    if columns is not None:
        raise InvalidDatasetError("The `columns` field names the features of an svmlight file only.")
    if kind == PARQUET:
        return Upload(await run_in_threadpool(parse_parquet, data), label)
    return Upload(await run_in_threadpool(parse_csv, data, delimiter), label)


def _file_kind(content_type: str | None, filename: str | None, data: bytes) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    lowered = (filename or "").lower()
    if kind == SVMLIGHT or lowered.endswith(SVMLIGHT_SUFFIXES):
        return SVMLIGHT
    if kind == PARQUET or lowered.endswith((".parquet", ".pq")):
        return PARQUET
    if kind in (CSV, "application/csv") or lowered.endswith(".csv"):
        return CSV
    if kind in ("", "application/octet-stream") and data.startswith(PARQUET_MAGIC):
        return PARQUET
    raise UnsupportedMediaTypeError(
        "The file part must be CSV, Parquet or svmlight, told by its content type or a .csv, .parquet, "
        ".svm, .svmlight or .libsvm file name (any of them gzipped as name.csv.gz, ...)."
    )


async def parse_upload(
    request: Request,
    body: bytes,
    limit: int,
    name: str | None,
    svmlight: SvmlightOptions,
    delimiter: str | None = None,
) -> Upload:
    """Dispatch on Content-Type; parsing itself runs in a thread, off the event loop."""
    kind = media_type(request)
    if kind == CSV:
        return Upload(await run_in_threadpool(parse_csv, body, delimiter), name)
    if kind == PARQUET:
        return Upload(await run_in_threadpool(parse_parquet, body), name)
    if kind == SVMLIGHT:
        table = await run_in_threadpool(
            parse_svmlight, body, zero_based=svmlight.zero_based, limits=svmlight.limits
        )
        return Upload(table, name)
    if kind == JSON:
        return await run_in_threadpool(parse_json_table, body, name)
    if kind == MULTIPART:
        return await parse_multipart(request, body, limit, svmlight, delimiter)
    raise UnsupportedMediaTypeError(
        f"Content-Type {kind or '(none)'} is not accepted; send {CSV}, {PARQUET}, {SVMLIGHT}, {MULTIPART} "
        f"or {JSON}."
    )
