"""svmlight / libsvm text (``label index:value ...``) into a sparse table, with errors naming the line."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from service.data.limits import TableLimits, check_table_shape
from service.data.parsing import check_names
from service.data.sparse import SparseTable, canonical_csc
from service.errors import InvalidDatasetError

LABEL = "y"
# What sklearn's parser raises on text it cannot read; its messages quote the input, so they are
# never passed on.
_PARSE_ERRORS = (ValueError, OverflowError, TypeError, IndexError, UnicodeError)
_COMMENT = re.compile(rb"#.*")


def feature_names(p: int) -> list[str]:
    """The default names of p svmlight features: ``x1`` ... ``xp``, whatever the index base."""
    return [f"x{j}" for j in range(1, p + 1)]


def parse_svmlight(
    body: bytes, *, zero_based: bool, limits: TableLimits, names: Sequence[str] | None = None
) -> SparseTable:
    """The table of an svmlight upload: the label as column ``y``, then the p features.

    Features are ``x1`` ... ``xp`` (p the largest index, 1-based unless ``zero_based``), or
    ``names`` when given (one per feature; an index beyond them is an error). Comments (``#``) and
    ``qid:`` fields are allowed and dropped. Raises :class:`InvalidDatasetError` naming the first
    bad ``line`` (1-based, physical), :class:`TableTooLargeError` before anything as wide as the
    table is built.
    """
    if names is not None:
        check_names([LABEL, *names])
    matrix, labels = _load(body, zero_based, None if names is None else len(names))
    n, p = matrix.shape
    check_table_shape(n, p + 1, limits, cells=matrix.nnz + int(np.count_nonzero(labels)))
    _check_finite(body, labels, matrix)
    columns = names if names is not None else feature_names(p)
    full = sp.hstack([sp.csc_matrix(labels.reshape(-1, 1)), matrix.tocsc()], format="csc")
    return SparseTable((LABEL, *columns), canonical_csc(full))


def parse_svmlight_features(
    body: bytes,
    *,
    zero_based: bool,
    limits: TableLimits,
    min_columns: int = 0,
    names: Sequence[str] | None = None,
) -> SparseTable:
    """The features of an svmlight prediction body; the labels are read and ignored.

    Features are ``x1`` ... ``xp`` with p at least ``min_columns`` (a row lists only its nonzeros,
    so a feature the model knows by a higher index than any row uses is zero, not absent), or
    ``names`` when given: index k is the k-th name, and an index beyond them names the line.
    """
    matrix, _ = _load(body, zero_based, None if names is None else len(names))
    n, p = matrix.shape
    p = max(p, min_columns)
    check_table_shape(n, p, limits, cells=matrix.nnz)
    _check_finite(body, np.zeros(n), matrix)
    csc = sp.csc_matrix(matrix)
    csc.resize((n, p))
    return SparseTable(tuple(feature_names(p) if names is None else names), canonical_csc(csc))


def _load(body: bytes, zero_based: bool, n_features: int | None) -> tuple[Any, NDArray[np.float64]]:
    """sklearn's parser on ``body``: (CSR matrix, labels); errors become problems naming the line.

    A body must hold a row and, on some line, an ``index:value`` pair: a body of labels alone (say
    ``0``) names no feature, and is refused rather than read as one all-zero feature ``x1``.
    """
    try:
        matrix, labels = _sklearn_load(body, zero_based, n_features)
    except _PARSE_ERRORS:
        raise _syntax_error(body, zero_based, n_features) from None
    if matrix.shape[0] == 0:
        raise InvalidDatasetError("the svmlight body has no rows")
    if matrix.nnz == 0:  # sklearn keeps a stored `k:0`, so this counts pairs, not nonzeros
        raise InvalidDatasetError("the svmlight body names no feature: every line is a label alone")
    return matrix, np.asarray(labels, dtype=np.float64)


def _syntax_error(body: bytes, zero_based: bool, n_features: int | None) -> InvalidDatasetError:
    line = _first_bad_line(body, zero_based, n_features)
    base = 0 if zero_based else 1
    rule = f"label index:value ... with {base}-based indices, increasing along the line"
    if n_features is not None:
        rule += f", at most {n_features - 1 + base}: one per feature named"
    if line is None:
        return InvalidDatasetError(f"the body is not svmlight text ({rule})")
    return InvalidDatasetError(f"line {line} is not svmlight text ({rule})", line=line)


def _sklearn_load(body: bytes, zero_based: bool, n_features: int | None) -> tuple[Any, Any]:
    # Imported on the first svmlight body, not with the module: scikit-learn (with scipy.stats) took
    # 1.6 s of the service's start-up, for a parser most deployments never call.
    from sklearn.datasets import load_svmlight_file

    matrix, labels = load_svmlight_file(
        io.BytesIO(body), n_features=n_features, zero_based=zero_based, dtype=np.float64
    )
    return matrix, labels


def _line_starts(body: bytes) -> NDArray[np.int64]:
    newlines = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == ord("\n")) + 1
    starts = np.concatenate([[0], newlines]).astype(np.int64)
    return starts if starts[-1] < len(body) else starts[:-1]


def _first_bad_line(body: bytes, zero_based: bool, n_features: int | None) -> int | None:
    """The 1-based number of the first line sklearn refuses on its own, by bisection.

    Every error sklearn raises belongs to one line, so a block of lines fails exactly when it holds
    a bad line: halving the block that holds the first one reads the body about twice in all.
    """
    starts = _line_starts(body)
    ends = np.append(starts[1:], len(body))

    def fails(first: int, stop: int) -> bool:
        try:
            _sklearn_load(body[starts[first] : ends[stop - 1]], zero_based, n_features)
        except _PARSE_ERRORS:
            return True
        return False

    low, high = 0, len(starts)
    if high == 0 or not fails(low, high):
        return None
    while high - low > 1:
        middle = (low + high) // 2
        if fails(low, middle):
            high = middle
        else:
            low = middle
    return low + 1


def _check_finite(body: bytes, labels: NDArray[np.float64], matrix: Any) -> None:
    """InvalidDatasetError naming the line of the first non-finite label or value (nan, inf, 1e400)."""
    bad_rows = ~np.isfinite(labels)
    bad_entries = ~np.isfinite(matrix.data)
    if bad_entries.any():
        entry_rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
        bad_rows[entry_rows[bad_entries]] = True
    if not bad_rows.any():
        return
    row = int(np.argmax(bad_rows))
    line = _line_of_row(body, row)
    raise InvalidDatasetError(
        f"line {line} has a label or value that is not a finite number", line=line, row=row + 1
    )


def _line_of_row(body: bytes, row: int) -> int:
    """The 1-based line of data row ``row`` (0-based): blank and comment-only lines hold no row."""
    seen = -1
    for number, line in enumerate(body.split(b"\n"), start=1):
        if _COMMENT.sub(b"", line).strip():
            seen += 1
            if seen == row:
                return number
    return 0  # unreachable for a row sklearn read
