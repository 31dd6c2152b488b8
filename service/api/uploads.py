"""Reading request bodies: the size limit, content-type dispatch, multipart and JSON tables."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from service.api.schemas import DatasetCreate
from service.data.parsing import parse_csv, parse_parquet, parse_split_json
from service.data.table import Table
from service.errors import InvalidDatasetError, PayloadTooLargeError, UnsupportedMediaTypeError

CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
MULTIPART = "multipart/form-data"
JSON = "application/json"
PARQUET_MAGIC = b"PAR1"
SchemaT = TypeVar("SchemaT", bound=BaseModel)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing anything over `limit` bytes before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"The body is {declared} bytes; the limit is {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"The body exceeds the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class Upload:
    """A parsed upload and the name it came with."""

    table: Table
    name: str | None


def parse_json_body(schema: type[SchemaT], body: bytes) -> SchemaT:
    """Validate a JSON body read by hand; errors become the same 422 as FastAPI's own."""
    try:
        return schema.model_validate_json(body)
    except PydanticValidationError as error:
        raise RequestValidationError(error.errors(include_input=False, include_url=False)) from None


def parse_json_table(body: bytes) -> Upload:
    document = parse_json_body(DatasetCreate, body)
    return Upload(parse_split_json(document.columns, document.data), document.name)


async def parse_multipart(request: Request, body: bytes, limit: int) -> Upload:
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
        name = form.get("name")
        label = name if isinstance(name, str) and name else upload.filename
        content_type, filename = upload.content_type, upload.filename
    finally:
        await form.close()  # spooled temp files must not outlive the request
    return Upload(await run_in_threadpool(_parse_file, data, content_type, filename), label)


def _parse_file(data: bytes, content_type: str | None, filename: str | None) -> Table:
    kind = (content_type or "").split(";")[0].strip().lower()
    lowered = (filename or "").lower()
    if kind == PARQUET or lowered.endswith((".parquet", ".pq")):
        return parse_parquet(data)
    if kind in (CSV, "application/csv") or lowered.endswith(".csv"):
        return parse_csv(data)
    if kind in ("", "application/octet-stream") and data.startswith(PARQUET_MAGIC):
        return parse_parquet(data)
    raise UnsupportedMediaTypeError(
        "The file part must be CSV or Parquet, told by its content type or a .csv/.parquet file name."
    )


async def parse_upload(request: Request, body: bytes, limit: int, name: str | None) -> Upload:
    """Dispatch on Content-Type; parsing itself runs in a thread, off the event loop."""
    kind = media_type(request)
    if kind == CSV:
        return Upload(await run_in_threadpool(parse_csv, body), name)
    if kind == PARQUET:
        return Upload(await run_in_threadpool(parse_parquet, body), name)
    if kind == JSON:
        return await run_in_threadpool(parse_json_table, body)
    if kind == MULTIPART:
        return await parse_multipart(request, body, limit)
    raise UnsupportedMediaTypeError(
        f"Content-Type {kind or '(none)'} is not accepted; send {CSV}, {PARQUET}, {MULTIPART} or {JSON}."
    )
