"""Request bodies from what a user holds: a pandas frame, a numpy array, a scipy.sparse matrix, a file."""

from __future__ import annotations

import gzip
import json
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from sparsefit.optional import is_frame, is_ndarray, is_sparse, require

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
SVMLIGHT = "text/x-svmlight"
# File kinds by suffix (after a `.gz`, which the client takes off: the service reads plain bytes).
SUFFIXES = {
    ".csv": CSV,
    ".parquet": PARQUET,
    ".pq": PARQUET,
    ".svm": SVMLIGHT,
    ".svmlight": SVMLIGHT,
    ".libsvm": SVMLIGHT,
}


@dataclass(frozen=True)
class Body:
    """A request body and its media type."""

    content: bytes
    media_type: str

    def request(self) -> dict[str, Any]:
        """The keyword arguments of an httpx request sending this body."""
        return {"content": self.content, "headers": {"Content-Type": self.media_type}}


def json_body(document: Mapping[str, Any]) -> Body:
    # allow_nan=False: NaN and infinity are not JSON; missing values were written as null already.
    text = json.dumps(document, separators=(",", ":"), allow_nan=False)
    return Body(text.encode("utf-8"), JSON)


def is_table_path(value: object) -> TypeGuard[str | os.PathLike[str]]:
    """A path to a table file: a PathLike, or a string naming an existing file or a known suffix."""
    if isinstance(value, os.PathLike):
        return True
    if not isinstance(value, str):
        return False
    return os.path.isfile(value) or _kind_of(Path(value))[1] is not None


def file_body(path: str | os.PathLike[str]) -> Body:
    """A file's bytes as the service reads them: CSV, Parquet or svmlight, a `.gz` decompressed first."""
    data, kind = _read(Path(path))
    if kind is None:
        raise ValueError(f"{path}: not a table file; use one of {', '.join(SUFFIXES)} (optionally .gz)")
    return Body(data, kind)


def _kind_of(path: Path) -> tuple[bool, str | None]:
    name = path.name.lower()
    compressed = name.endswith(".gz")
    inner = Path(name[:-3]) if compressed else Path(name)
    return compressed, SUFFIXES.get(inner.suffix)


def _read(path: Path) -> tuple[bytes, str | None]:
    compressed, kind = _kind_of(path)
    data = path.read_bytes()
    return (gzip.decompress(data) if compressed else data), kind


def table_document(data: object, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """`{"columns", "data"}` (pandas' split orientation) or `{"columns", "sparse"}` (CSR) for ``data``."""
    if is_frame(data):
        return frame_document(data)
    if is_sparse(data):
        return sparse_document(data, columns)
    if is_ndarray(data):
        return array_document(data, columns)
    if isinstance(data, Mapping):
        names = [str(name) for name in data]
        by_column = [[_cell(v) for v in values] for values in data.values()]
        return {"columns": names, "data": [list(row) for row in zip(*by_column, strict=True)]}
    if isinstance(data, Sequence) and not isinstance(data, str | bytes) and columns is not None:
        return {"columns": list(columns), "data": [[_cell(v) for v in row] for row in data]}
    raise TypeError(
        f"cannot send a {type(data).__name__}: give a pandas DataFrame, a numpy array, a scipy.sparse "
        "matrix, a dict of columns, rows with columns=, or the path of a CSV, Parquet or svmlight file"
    )


def default_names(width: int) -> list[str]:
    """Names of unnamed columns, as the service names an svmlight file's: x1 ... xp."""
    return [f"x{j}" for j in range(1, width + 1)]


def _names(columns: Sequence[str] | None, width: int) -> list[str]:
    names = default_names(width) if columns is None else [str(c) for c in columns]
    if len(names) != width:
        raise ValueError(f"{len(names)} column names for {width} columns")
    return names


def frame_document(frame: Any) -> dict[str, Any]:
    """A DataFrame's columns and rows; its index is not sent."""
    by_column = [series_values(frame.iloc[:, j]) for j in range(frame.shape[1])]
    rows = (
        [list(row) for row in zip(*by_column, strict=True)] if by_column else [[] for _ in range(len(frame))]
    )
    return {"columns": [str(c) for c in frame.columns], "data": rows}


def series_values(series: Any) -> list[Any]:
    """One column as JSON values, keeping what pandas says it is.

    Numbers (nullable integers too) go as numbers and bools as bools; a categorical goes as the
    strings of its categories even when they look like numbers, so the service keeps it categorical;
    dates go as ISO strings, anything else as its string; every missing value (NaN, None, NA, NaT)
    as null.
    """
    pandas = require("pandas", "pandas")
    types = pandas.api.types
    dtype = series.dtype
    missing = series.isna().to_numpy().tolist()
    values: list[Any]
    if isinstance(dtype, pandas.CategoricalDtype):
        values = [str(v) for v in series.astype(object).tolist()]
    elif types.is_bool_dtype(dtype):
        values = series.astype(object).tolist()
    elif types.is_numeric_dtype(dtype):
        values = series.to_numpy(dtype="float64", na_value=math.nan).tolist()
    elif types.is_datetime64_any_dtype(dtype):
        values = [None if m else v.isoformat() for v, m in zip(series.tolist(), missing, strict=True)]
    else:
        values = [str(v) for v in series.astype(object).tolist()]
    return [None if m else v for v, m in zip(values, missing, strict=True)]


def array_document(array: Any, columns: Sequence[str] | None) -> dict[str, Any]:
    """A 2-D array's rows; columns named by ``columns`` or x1 ... xp."""
    numpy = require("numpy", "numpy")
    values = numpy.asarray(array)
    if values.ndim != 2:
        raise ValueError(f"a table is a 2-D array (rows x columns), not {values.ndim}-D")
    names = _names(columns, values.shape[1])
    if values.dtype.kind in "iuf":
        floats = values.astype(numpy.float64)
        gaps = numpy.isnan(floats)
        if gaps.any():
            cells = floats.astype(object)
            cells[gaps] = None
            return {"columns": names, "data": cells.tolist()}
        return {"columns": names, "data": floats.tolist()}
    return {"columns": names, "data": [[_cell(v) for v in row] for row in values.tolist()]}


def sparse_document(matrix: Any, columns: Sequence[str] | None) -> dict[str, Any]:
    """A scipy.sparse matrix as CSR (duplicates summed, indices sorted): never densified."""
    csr = matrix.tocsr(copy=True)
    csr.sum_duplicates()
    n_rows, width = (int(n) for n in csr.shape)
    sparse = {
        "shape": [n_rows, width],
        "indptr": csr.indptr.tolist(),
        "indices": csr.indices.tolist(),
        "data": csr.data.astype("float64").tolist(),
    }
    return {"columns": _names(columns, width), "sparse": sparse}


def _cell(value: Any) -> Any:
    """A plain Python value as JSON: None and NaN missing, bools kept, numbers as floats, else strings."""
    if value is None or isinstance(value, bool | str):
        return value
    if type(value).__name__ == "bool_":  # numpy's bool, which is no numbers.Real
        return bool(value)
    if isinstance(value, numbers.Real):  # numpy's scalars are registered as numbers.Real too
        number = float(value)
        return None if math.isnan(number) else number
    return str(value)


def row_count(data: Any) -> int | None:
    """How many rows an in-memory table has (None when it is not one whose rows can be sliced)."""
    if is_frame(data) or is_ndarray(data) or is_sparse(data):
        return int(data.shape[0])
    return None


def row_slice(data: Any, start: int, stop: int) -> Any:
    return data.iloc[start:stop] if is_frame(data) else data[start:stop]
