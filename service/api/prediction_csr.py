"""A JSON CSR body to predict, its three arrays read into numpy a chunk of numbers at a time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from fastapi.exceptions import RequestValidationError
from numpy.typing import NDArray

from service.api.schemas import PredictionCreate
from service.api.uploads import parse_json_body

# Numbers are parsed this many bytes at a time: orjson holds the GIL for one chunk (about a
# millisecond), where pydantic held it for 0.4 s over a 24 MB body, and the Python ints of one
# chunk are all that live at once.
CHUNK_BYTES = 256 * 1024
_WS = rb"[ \t\n\r]*"  # JSON's whitespace
_EMPTY = re.compile(_WS + rb"\]")
# The member of `sparse` each array is, and the Python types its numbers may have.
_ARRAYS: dict[str, tuple[frozenset[type], type]] = {
    "indptr": (frozenset({int}), np.int64),
    "indices": (frozenset({int}), np.int64),
    "data": (frozenset({int, float}), np.float64),
}


class _Ordinary(Exception):
    """The body is not one this reader takes: read it the ordinary way."""


@dataclass(frozen=True)
class CsrBody:
    """A ``{"columns", "sparse"}`` body's members, its arrays as numpy arrays."""

    columns: list[str]
    shape: tuple[int, int]
    indptr: NDArray[np.int64]
    indices: NDArray[np.int64]
    data: NDArray[np.float64]
    alpha: float | None


def read_csr(body: bytes, chunk_bytes: int = CHUNK_BYTES) -> CsrBody | None:
    """The members of a ``{"columns": [...], "sparse": {...}}`` body with rows, or None.

    What parse_csr is given is what ``parse_json_body(PredictionCreate)`` gave it, as arrays. None
    means: read the body the ordinary way. That is any other body (rows, ``dataset_id``, no rows), a
    key of the three arrays written twice, and any number that is not an int (a float in ``data``)
    orjson reads within 64 bits; the ordinary way gives those their problems.
    """
    try:
        return _read(body, chunk_bytes)
    except _Ordinary:
        return None


def _read(body: bytes, chunk_bytes: int) -> CsrBody:
    arrays: dict[str, NDArray[Any]] = {}
    spans: list[tuple[int, int]] = []
    for name, (types, dtype) in _ARRAYS.items():
        key = f'"{name}"'.encode()
        # One such key: in valid JSON the text cannot stand inside a string, so any other is a
        # second key (the last one wins) or a column or key of that name, and pydantic decides.
        if body.count(key) != 1:
            raise _Ordinary
        opening = re.compile(re.escape(key) + _WS + rb":" + _WS + rb"\[").match(body, body.index(key))
        if opening is None:
            raise _Ordinary
        arrays[name], end = _numbers(body, opening.end(), types, dtype, chunk_bytes)
        spans.append((opening.end() - 1, end))
    spec = _rest(body, sorted(spans))
    assert spec.columns is not None and spec.sparse is not None  # checked by _rest
    shape = (spec.sparse.shape[0], spec.sparse.shape[1])
    if shape[0] == 0:
        raise _Ordinary  # no rows: the ordinary reading decides what that answers
    return CsrBody(spec.columns, shape, arrays["indptr"], arrays["indices"], arrays["data"], spec.alpha)


def _numbers(
    body: bytes, position: int, types: frozenset[type], dtype: type, chunk_bytes: int
) -> tuple[NDArray[Any], int]:
    """The flat array of numbers from ``position`` (after its "["), and the offset after its "]"."""
    empty = _EMPTY.match(body, position)
    if empty is not None:
        return np.empty(0, dtype=dtype), empty.end()
    pieces: list[NDArray[Any]] = []
    while True:
        # A cut at a comma about chunk_bytes on, or the array's "]" before it. A cut in a string or
        # a nested list leaves a piece orjson refuses, or values of another type: read the ordinary way.
        comma = body.find(b",", position + chunk_bytes)
        closing = body.find(b"]", position, len(body) if comma < 0 else comma)
        end = closing if closing >= 0 else comma
        if end < 0:
            raise _Ordinary
        pieces.append(_piece(body, position, end, types, dtype))
        if closing >= 0:
            return np.concatenate(pieces), closing + 1
        position = comma + 1


def _piece(body: bytes, start: int, end: int, types: frozenset[type], dtype: type) -> NDArray[Any]:
    text = bytearray(end - start + 2)
    text[0], text[-1] = ord("["), ord("]")
    text[1:-1] = memoryview(body)[start:end]
    try:
        values = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise _Ordinary from None
    # Empty: a comma with no number before it ("[1,]", "[,1]"), which is not JSON.
    if not values or not set(map(type, values)) <= types:
        raise _Ordinary
    try:
        return np.array(values, dtype=dtype)
    except OverflowError:  # an integer past int64 (orjson reads up to 2**64 - 1)
        raise _Ordinary from None


def _rest(body: bytes, spans: list[tuple[int, int]]) -> PredictionCreate:
    """The body with its three arrays empty, once that is a valid PredictionCreate of a CSR matrix."""
    parts, position = [], 0
    for start, end in spans:
        if start < position:
            raise _Ordinary
        parts += [body[position:start], b"[]"]
        position = end
    parts.append(body[position:])
    try:
        spec = parse_json_body(PredictionCreate, b"".join(parts))
    except RequestValidationError:
        raise _Ordinary from None
    matrix = spec.sparse
    if matrix is None or spec.columns is None or spec.data is not None or spec.dataset_id is not None:
        raise _Ordinary
    if matrix.indptr or matrix.indices or matrix.data:
        raise _Ordinary  # the arrays read were not the matrix's
    return spec
