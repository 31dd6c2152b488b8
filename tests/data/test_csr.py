"""Tests of the JSON CSR form: the matrix scipy reads from the same arrays, errors naming field and row."""

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from service.data.csr import parse_csr
from service.errors import InvalidDatasetError

GOOD: dict[str, Any] = {
    "columns": ["a", "b", "t"],
    "shape": [3, 3],
    "indptr": [0, 2, 2, 4],
    "indices": [2, 0, 1, 2],
    "data": [5.0, 1.0, -2.0, 0.0],
}


def test_parse_csr_is_the_matrix_scipy_reads() -> None:
    table = parse_csr(**GOOD)
    expected = sp.csr_matrix((GOOD["data"], GOOD["indices"], GOOD["indptr"]), shape=(3, 3)).toarray()
    np.testing.assert_array_equal(table.matrix.toarray(), expected)
    assert table.names == ("a", "b", "t")
    # Unsorted indices within a row are fine; the stored zero is dropped.
    assert table.matrix.format == "csc" and table.matrix.has_canonical_format and table.nnz == 3


@pytest.mark.parametrize(
    ("change", "field", "row"),
    [
        ({"shape": [3, 2]}, "sparse.shape", None),
        ({"shape": [0, 3], "indptr": [0], "indices": [], "data": []}, "sparse.shape", None),
        ({"shape": [3]}, "sparse.shape", None),
        ({"indptr": [0, 2, 4]}, "sparse.indptr", None),
        ({"indptr": [1, 2, 2, 4]}, "sparse.indptr", None),
        ({"indptr": [0, 2, 1, 4]}, "sparse.indptr", 2),
        ({"indptr": [0, 2, 2, 3]}, "sparse.indptr", None),
        ({"data": [5.0, 1.0, -2.0]}, "sparse.data", None),
        ({"indices": [2, 0, 3, 2]}, "sparse.indices", 3),
        ({"indices": [2, 0, -1, 2]}, "sparse.indices", 3),
        ({"indices": [2, 2, 1, 2]}, "sparse.indices", 1),
        ({"data": [5.0, float("nan"), -2.0, 0.0]}, "sparse.data", 1),
        ({"data": [5.0, 1.0, float("inf"), 0.0]}, "sparse.data", 3),
        ({"indptr": [0, 2, 2, 2**70]}, "sparse.indptr", None),
    ],
)
def test_parse_csr_bad_arrays_name_field_and_row(change: dict[str, Any], field: str, row: int | None) -> None:
    with pytest.raises(InvalidDatasetError) as caught:
        parse_csr(**{**GOOD, **change})
    assert caught.value.extensions.get("field") == field
    assert caught.value.extensions.get("row") == row


@pytest.mark.parametrize(("columns", "member"), [(["a", "a", "t"], "column"), (["a", " ", "t"], "position")])
def test_parse_csr_bad_names_are_refused(columns: list[str], member: str) -> None:
    with pytest.raises(InvalidDatasetError) as caught:
        parse_csr(**{**GOOD, "columns": columns})
    assert member in caught.value.extensions
