"""Tests of the svmlight parser: exact tables on good text, errors naming the line on bad text."""

import io

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import dump_svmlight_file, load_digits

from service.data.limits import TableLimits
from service.data.svmlight import parse_svmlight, parse_svmlight_features
from service.errors import InvalidDatasetError, TableTooLargeError

LIMITS = TableLimits(max_rows=10_000, max_columns=1_000, max_cells=1_000_000)


def _dense(body: bytes, **options: object) -> np.ndarray:
    return parse_svmlight(body, zero_based=False, limits=LIMITS, **options).matrix.toarray()  # type: ignore[arg-type]


def test_parse_svmlight_label_is_y_and_features_are_x1_to_xp() -> None:
    table = parse_svmlight(b"1.5 1:2 3:-4\n0 2:5\n", zero_based=False, limits=LIMITS)
    assert table.names == ("y", "x1", "x2", "x3")
    np.testing.assert_array_equal(table.matrix.toarray(), [[1.5, 2, 0, -4], [0, 0, 5, 0]])
    assert table.matrix.format == "csc" and table.matrix.has_canonical_format
    assert table.nnz == 4 and table.density == pytest.approx(4 / 8)


def test_parse_svmlight_skips_comments_blank_lines_and_qid() -> None:
    body = b"# a header comment\n1 qid:3 1:2 # trailing\n\n-1 qid:3 2:1\r\n"
    np.testing.assert_array_equal(_dense(body), [[1, 2, 0], [-1, 0, 1]])


def test_parse_svmlight_zero_based_indices_start_at_x1() -> None:
    table = parse_svmlight(b"1 0:7 2:1\n", zero_based=True, limits=LIMITS)
    assert table.names == ("y", "x1", "x2", "x3")
    np.testing.assert_array_equal(table.matrix.toarray(), [[1, 7, 0, 1]])


def test_parse_svmlight_columns_name_the_features_and_may_reach_past_the_last_index() -> None:
    table = parse_svmlight(b"1 1:2\n0 2:3\n", zero_based=False, limits=LIMITS, names=["a", "b", "c"])
    assert table.names == ("y", "a", "b", "c")
    np.testing.assert_array_equal(table.matrix.toarray(), [[1, 2, 0, 0], [0, 0, 3, 0]])


def test_parse_svmlight_stored_zeros_are_not_nonzeros() -> None:
    table = parse_svmlight(b"0 1:0 2:1\n", zero_based=False, limits=LIMITS)
    assert table.nnz == 1


def test_parse_svmlight_reads_what_sklearn_writes_for_digits() -> None:
    digits = load_digits()
    X, y = sp.csr_matrix(digits.data), digits.target.astype(float)
    out = io.BytesIO()
    dump_svmlight_file(X, y, out, zero_based=False)
    pixels = [f"p{j}" for j in range(64)]
    table = parse_svmlight(out.getvalue(), zero_based=False, limits=LIMITS, names=pixels)
    np.testing.assert_array_equal(table.dense_column("y"), y)
    np.testing.assert_array_equal(table.select(pixels).toarray(), digits.data)


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (b"1 1:2\n1 0:1\n", 2),  # index 0 with 1-based indices
        (b"1 1:2\n# note\n1 2:1 1:3\n", 3),  # indices not increasing
        (b"1 1:2\n1 2:2 2:3\n", 2),  # an index twice
        (b"1 1:2\n1 garbage\n", 2),
        (b"1 1:x\n", 1),
        (b"one 1:1\n", 1),
        (b"1 1:1\n1 -3:1\n", 2),
        (b"1 1:1 99999999999999999999:1\n", 1),
        (b"1,2 1:1\n", 1),  # multi-label
    ],
)
def test_parse_svmlight_bad_line_is_named(body: bytes, line: int) -> None:
    with pytest.raises(InvalidDatasetError) as caught:
        parse_svmlight(body, zero_based=False, limits=LIMITS)
    assert caught.value.extensions == {"line": line}


@pytest.mark.parametrize(
    ("body", "line"), [(b"1 1:2\n\n# c\n2 1:nan\n", 4), (b"inf 1:2\n", 1), (b"1 1:1e400\n", 1)]
)
def test_parse_svmlight_non_finite_value_names_line_and_row(body: bytes, line: int) -> None:
    with pytest.raises(InvalidDatasetError) as caught:
        parse_svmlight(body, zero_based=False, limits=LIMITS)
    assert caught.value.extensions["line"] == line


def test_parse_svmlight_index_past_the_named_columns_names_the_line() -> None:
    with pytest.raises(InvalidDatasetError) as caught:
        parse_svmlight(b"1 1:1\n1 3:1\n", zero_based=False, limits=LIMITS, names=["a", "b"])
    assert caught.value.extensions == {"line": 2}


@pytest.mark.parametrize(
    ("names", "member"), [(["a", "a"], "column"), (["y"], "column"), (["a", ""], "position")]
)
def test_parse_svmlight_bad_column_names_are_refused(names: list[str], member: str) -> None:
    with pytest.raises(InvalidDatasetError) as caught:
        parse_svmlight(b"1 1:1\n", zero_based=False, limits=LIMITS, names=names)
    assert member in caught.value.extensions


@pytest.mark.parametrize("body", [b"", b"\n\n", b"# only a comment\n"])
def test_parse_svmlight_without_rows_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidDatasetError):
        parse_svmlight(body, zero_based=False, limits=LIMITS)


def test_parse_svmlight_too_wide_is_refused_before_the_table_is_built() -> None:
    # 2 billion columns: building their names or a CSC indptr would exhaust memory first.
    with pytest.raises(TableTooLargeError) as caught:
        parse_svmlight(b"1 2000000000:1\n", zero_based=False, limits=LIMITS)
    assert caught.value.extensions["limit"] == "max_columns"


def test_parse_svmlight_nonzeros_count_against_max_cells() -> None:
    small = TableLimits(max_rows=10, max_columns=10, max_cells=3)
    with pytest.raises(TableTooLargeError) as caught:
        parse_svmlight(b"1 1:1 2:1\n1 3:1\n", zero_based=False, limits=small)
    assert caught.value.extensions["limit"] == "max_cells" and caught.value.extensions["got"] == 5
    assert parse_svmlight(b"0 1:1 2:1\n0 3:1\n", zero_based=False, limits=small).nnz == 3


def test_parse_svmlight_features_ignores_labels_and_reaches_min_columns() -> None:
    table = parse_svmlight_features(b"9 2:1\n-4\n", zero_based=False, limits=LIMITS, min_columns=4)
    assert table.names == ("x1", "x2", "x3", "x4")
    np.testing.assert_array_equal(table.matrix.toarray(), [[0, 1, 0, 0], [0, 0, 0, 0]])


def test_parse_svmlight_features_named_by_position() -> None:
    table = parse_svmlight_features(b"1 2:5\n", zero_based=False, limits=LIMITS, names=["age", "bmi", "bp"])
    assert table.names == ("age", "bmi", "bp")
    np.testing.assert_array_equal(table.matrix.toarray(), [[0, 5, 0]])
    with pytest.raises(InvalidDatasetError) as caught:
        parse_svmlight_features(b"1 2:5\n1 4:1\n", zero_based=False, limits=LIMITS, names=["a", "b", "c"])
    assert caught.value.extensions == {"line": 2}


@pytest.mark.parametrize("body", [b"0\n", b"1.5\n-2\n"])
def test_parse_svmlight_of_labels_alone_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidDatasetError):
        parse_svmlight(body, zero_based=False, limits=LIMITS)
    with pytest.raises(InvalidDatasetError):
        parse_svmlight_features(body, zero_based=False, limits=LIMITS, names=["a"])
    assert parse_svmlight(b"1 1:0\n", zero_based=False, limits=LIMITS).names == ("y", "x1")
