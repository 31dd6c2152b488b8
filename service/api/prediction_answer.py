"""The answer to a prediction: rows predicted a chunk at a time, its JSON written a piece at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from service.api.memory import give_back_memory
from service.data.sparse import SparseTable
from service.data.sparse_design import sparse_transform
from service.data.table import Column, ColumnKind, Table, is_none
from service.errors import ServiceError
from service.modeling import coefficients_at, predict_linear
from service.worker.artifact import ClassLabel, ModelArtifact

JSON_MEDIA_TYPE = "application/json"
# One chunk's dense design is at most this big: a one-hot feature of 1,000 levels made a design of
# 8 KB per row, and a million rows predicted at once needed 8 GB.
DESIGN_CHUNK_BYTES = 32 * 1024 * 1024
# Predictions written per piece of the answer; an answer of more is streamed, each piece in a thread.
ROWS_PER_PIECE = 65_536
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


@dataclass(frozen=True)
class PredictionArrays:
    """``values``: predictions, or class codes into ``classes``; ``probabilities``: (n, K) or None."""

    values: NDArray[Any]
    probabilities: NDArray[np.float64] | None
    classes: list[ClassLabel] | None


def predict_rows(artifact: ModelArtifact, rows: Table | SparseTable, alpha: float | None) -> PredictionArrays:
    """What ``artifact.predict`` gives, as arrays, with at most DESIGN_CHUNK_BYTES of design at once.

    A sparse table is predicted whole: its design stays sparse. Problems are the unchunked ones: a
    chunk whose values fail is replayed on the whole table, whose first failing feature and row
    are the ones to name.
    """
    encoder = artifact.encoder
    if isinstance(rows, SparseTable):
        return _predicted(artifact, [sparse_transform(encoder, rows)], alpha)
    step = max(1, DESIGN_CHUNK_BYTES // (8 * max(1, len(encoder.design_columns))))
    if rows.n_rows <= step:
        return _predicted(artifact, [encoder.transform(rows)], alpha)
    encoder.check_present(rows.names)  # the same problem for every chunk: named once, before any work
    return _predicted(artifact, _designs(artifact, rows, step), alpha)


def predict_design(artifact: ModelArtifact, X: NDArray[np.float64], alpha: float | None) -> PredictionArrays:
    """What ``predict_rows`` gives for rows whose design matrix is ``X`` already."""
    return _predicted(artifact, [X], alpha)


def _designs(artifact: ModelArtifact, rows: Table, step: int) -> Iterator[Any]:
    for start in range(0, rows.n_rows, step):
        part = _row_range(rows, start, min(start + step, rows.n_rows))
        try:
            yield artifact.encoder.transform(part)
        except ServiceError:
            artifact.encoder.transform(rows)  # raises the whole table's problem, with its row number
            raise


def _predicted(
    artifact: ModelArtifact, designs: Iterator[Any] | list[Any], alpha: float | None
) -> PredictionArrays:
    coefficients: tuple[Any, Any] | None = None
    values: list[NDArray[Any]] = []
    probabilities: list[NDArray[np.float64]] = []
    for X in designs:
        if coefficients is None:  # after the first design, as predict() does: its problems come first
            coefficients = _coefficients(artifact, alpha)
        result = predict_linear(X, *coefficients, artifact.family)
        values.append(result.values)
        if result.probabilities is not None:
            probabilities.append(result.probabilities)
        del X, result  # the next chunk's design is built without this one's
    return PredictionArrays(
        np.concatenate(values),
        np.concatenate(probabilities) if probabilities else None,
        artifact.classes,
    )


def _coefficients(artifact: ModelArtifact, alpha: float | None) -> tuple[Any, Any]:
    if alpha is None:
        return artifact.outcome.intercept, artifact.outcome.coef
    return coefficients_at(artifact.outcome.path, alpha)


def _row_range(table: Table, start: int, stop: int) -> Table:
    return Table(tuple(_column_range(c, start, stop) for c in table.columns), stop - start)


def _column_range(column: Column, start: int, stop: int) -> Column:
    values = column.values[start:stop]  # a view: the parent's values are read-only already
    missing = 0
    if column.n_missing:
        mask = np.isnan(values) if column.kind is ColumnKind.NUMERIC else is_none(values)
        missing = int(np.count_nonzero(mask))
    return Column(column.name, column.kind, values, missing, column.levels)


def prediction_json(arrays: PredictionArrays) -> Iterator[bytes]:
    """The PredictionRead document, piece by piece: ``predictions``, ``probabilities``, ``classes``.

    orjson writes the numpy arrays as they are (a non-finite number as null, as pydantic did): no
    Python float is made per prediction.
    """
    n = len(arrays.values)
    labels: NDArray[np.object_] | None = None
    if arrays.classes is not None:
        labels = np.empty(len(arrays.classes), dtype=object)
        labels[:] = arrays.classes
    yield b'{"predictions":['
    for start in range(0, n, ROWS_PER_PIECE):
        chunk = arrays.values[start : start + ROWS_PER_PIECE]
        items = chunk if labels is None else labels[chunk].tolist()
        yield (b"," if start else b"") + orjson.dumps(items, option=_NUMPY)[1:-1]
    if arrays.probabilities is None:
        yield b'],"probabilities":null'
    else:
        yield b'],"probabilities":['
        for start in range(0, n, ROWS_PER_PIECE):
            rows = arrays.probabilities[start : start + ROWS_PER_PIECE]
            yield (b"," if start else b"") + orjson.dumps(rows, option=_NUMPY)[1:-1]
        yield b"]"
    yield b',"classes":' + orjson.dumps(arrays.classes, option=_NUMPY) + b"}"


def prediction_response(artifact: ModelArtifact, rows: Table | SparseTable, alpha: float | None) -> Response:
    """Predict and answer; run it in a thread. An answer of more than ROWS_PER_PIECE rows is streamed,
    each piece written in a thread as the client takes it, so no copy of the whole JSON is held; once
    it is sent, the memory the request freed is given back."""
    return arrays_response(predict_rows(artifact, rows, alpha))


def arrays_response(arrays: PredictionArrays) -> Response:
    """The answer for predictions made: whole up to ROWS_PER_PIECE rows, else streamed."""
    if len(arrays.values) <= ROWS_PER_PIECE:
        return Response(b"".join(prediction_json(arrays)), media_type=JSON_MEDIA_TYPE)
    trim = BackgroundTask(give_back_memory)
    return StreamingResponse(prediction_json(arrays), media_type=JSON_MEDIA_TYPE, background=trim)
