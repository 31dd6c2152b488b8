"""A partitioned upload's body streamed chunk by chunk to a temp file in the data dir, never held whole."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl

from fastapi import Request
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from service.api.gzip_body import GZIP_MAGIC, GZIP_TYPES, GzipStream, content_coding
from service.api.uploads import CSV, MULTIPART, PARQUET, PARQUET_MAGIC, media_type
from service.errors import InvalidDatasetError, PayloadTooLargeError, UnsupportedMediaTypeError
from service.store.atomic import TEMP_PREFIX, TEMP_SUFFIX
from service.store.space import ensure_free_space, storage_errors

PARTITIONED = "partitioned"
# Written in pieces of about this size, in a thread: the event loop keeps serving /healthz.
FLUSH_BYTES = 1 << 20
# Free disk is measured again after every this many bytes written.
DISK_CHECK_BYTES = 256 << 20
# A multipart field other than the file (its `name`) is small text.
MAX_FIELD_BYTES = 64 << 10
OCTET_STREAM = "application/octet-stream"
RAW_TYPES = (CSV, PARQUET, OCTET_STREAM, "application/csv")


def is_partitioned_upload(query: bytes) -> bool:
    """Whether a query string asks for ``storage=partitioned`` (its last ``storage``, as FastAPI reads it)."""
    values = [v for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if k == "storage"]
    return bool(values) and values[-1] == PARTITIONED


@dataclass(frozen=True)
class SpooledBody:
    """The uploaded file on disk: what it holds (CSV or Parquet), its name field, its content's digest."""

    path: Path
    kind: str
    name: str | None
    digest: bytes
    size: int


@dataclass
class _Sink:
    """The temp file: gzip inflated, counted against the limit, hashed, written in a thread."""

    file: BinaryIO
    limit: int
    directory: Path
    min_free_bytes: int
    gzip: GzipStream | None = None
    size: int = 0
    head: bytes = b""
    checked_at: int = 0
    _digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    _buffer: list[bytes] = field(default_factory=list)
    _buffered: int = 0

    async def feed(self, data: bytes) -> None:
        pieces = self.gzip.feed(data) if self.gzip is not None else [data]
        for piece in pieces:
            self.size += len(piece)
            if self.size > self.limit:
                raise PayloadTooLargeError(
                    f"The body exceeds the limit of {self.limit} bytes.", limit=self.limit
                )
            if len(self.head) < len(PARQUET_MAGIC):
                self.head += piece[: len(PARQUET_MAGIC)]
            self._digest.update(piece)
            self._buffer.append(piece)
            self._buffered += len(piece)
        if self._buffered >= FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        data, self._buffer, self._buffered = b"".join(self._buffer), [], 0
        await run_in_threadpool(self._write, data)

    def _write(self, data: bytes) -> None:
        with storage_errors():
            if self.size - self.checked_at >= DISK_CHECK_BYTES:
                ensure_free_space(self.directory, self.min_free_bytes, len(data))
                self.checked_at = self.size
            self.file.write(data)

    async def finish(self) -> bytes:
        if self.gzip is not None:
            self.gzip.finish()
        await self.flush()
        await run_in_threadpool(self.file.flush)
        return self._digest.digest()


class _Multipart:
    """Feeds a multipart body; its one `file` part goes to the sink, its `name` field is kept."""

    def __init__(self, boundary: bytes) -> None:
        self.pending: list[bytes] = []
        self.fields: dict[str, bytearray] = {}
        self.filename: str | None = None
        self.content_type: str | None = None
        self.files = 0
        self._part: str | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field, self._value = bytearray(), bytearray()
        callbacks = {
            "on_part_begin": self._begin,
            "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
        }
        self.parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    def _begin(self) -> None:
        self._headers, self._part = {}, None

    def _header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field, self._value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._part = options.get(b"name", b"").decode("latin-1")
        if self._part == "file":
            self.files += 1
            if self.files > 1:
                raise InvalidDatasetError("The multipart body has more than one file.", field="file")
            filename = options.get(b"filename")
            self.filename = filename.decode("utf-8", "replace") if filename is not None else None
            self.content_type = self._headers.get(b"content-type", b"").decode("latin-1") or None
        else:
            self.fields[self._part] = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._part == "file":
            self.pending.append(bytes(data[start:end]))
        elif self._part is not None:
            value = self.fields[self._part]
            value.extend(data[start:end])
            if len(value) > MAX_FIELD_BYTES:
                raise InvalidDatasetError(
                    f"The multipart field {self._part!r} is too long.", field=self._part
                )

    def write(self, chunk: bytes) -> list[bytes]:
        try:
            self.parser.write(chunk)
        except MultipartParseError:
            raise InvalidDatasetError("The multipart body is malformed.") from None
        pending, self.pending = self.pending, []
        return pending

    def name(self) -> str | None:
        value = self.fields.get("name")
        return value.decode("utf-8", "replace") if value else None


def spool_file(directory: Path) -> tuple[BinaryIO, Path]:
    """A temp file in ``directory``, named so that the start-up sweep removes one a crash left."""
    with storage_errors():
        fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}upload.", suffix=TEMP_SUFFIX, dir=directory)
    return os.fdopen(fd, "wb"), Path(name)


async def spool_body(request: Request, directory: Path, limit: int, min_free_bytes: int) -> SpooledBody:
    """Stream the request's body into a temp file in ``directory``; the caller removes it when done.

    413 over ``limit`` bytes (the decompressed size for gzip), 507 when the disk would go below its
    reserve, 415 for a body that is neither CSV nor Parquet, 422 for malformed multipart or gzip.
    """
    kind = media_type(request)
    if kind not in (*RAW_TYPES, MULTIPART):
        raise UnsupportedMediaTypeError(
            f"A partitioned upload is {CSV}, {PARQUET}, {OCTET_STREAM} (Parquet) or {MULTIPART} with a "
            "CSV or Parquet file."
        )
    declared = request.headers.get("content-length", "")
    ensure_free_space(directory, min_free_bytes, int(declared) if declared.isdigit() else 0)
    gzip_body = content_coding(request.headers.get("content-encoding")) == "gzip"
    file, path = spool_file(directory)
    try:
        with file:
            sink = _Sink(file, limit, directory, min_free_bytes)
            if kind == MULTIPART:
                multipart = await _spool_multipart(request, sink, gzip_body)
                label, name = multipart.filename, multipart.name() or multipart.filename
                declared_type = multipart.content_type
            else:
                if gzip_body:
                    sink.gzip = GzipStream(limit)
                async for chunk in request.stream():
                    await sink.feed(chunk)
                label, name, declared_type = None, None, kind
            digest = await sink.finish()
        file_kind = _file_kind(declared_type, label, sink.head)
        return SpooledBody(path, file_kind, name, digest + (name or "").encode(), sink.size)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise


async def _spool_multipart(request: Request, sink: _Sink, gzip_body: bool) -> _Multipart:
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidDatasetError("The multipart body has no boundary.")
    multipart = _Multipart(boundary)
    outer = GzipStream(sink.limit) if gzip_body else None
    started = False
    async for chunk in request.stream():
        for piece in outer.feed(chunk) if outer is not None else [chunk]:
            for data in multipart.write(piece):
                if not started:
                    started = True
                    if _is_gzip(multipart, data):
                        sink.gzip = GzipStream(sink.limit, "file")
                await sink.feed(data)
    if outer is not None:
        outer.finish()
    multipart.parser.finalize()
    if multipart.files == 0:
        raise InvalidDatasetError("The multipart body has no file field named 'file'.", field="file")
    return multipart


def _is_gzip(multipart: _Multipart, first: bytes) -> bool:
    kind = (multipart.content_type or "").split(";")[0].strip().lower()
    name = (multipart.filename or "").lower()
    return name.endswith(".gz") or kind in GZIP_TYPES or first.startswith(GZIP_MAGIC)


def _file_kind(content_type: str | None, filename: str | None, head: bytes) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    lowered = (filename or "").lower().removesuffix(".gz")
    if kind == PARQUET or lowered.endswith((".parquet", ".pq")):
        return PARQUET
    if kind in (CSV, "application/csv") or lowered.endswith(".csv"):
        return CSV
    if kind in ("", OCTET_STREAM, *GZIP_TYPES) and head.startswith(PARQUET_MAGIC):
        return PARQUET
    raise UnsupportedMediaTypeError(
        "The file must be CSV or Parquet, told by its content type, a .csv or .parquet file name, or "
        "(for application/octet-stream) Parquet's first bytes."
    )
