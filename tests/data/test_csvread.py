"""Tests of the Arrow CSV reader's speed-ups: they change how a body is read, never what it reads."""

import numpy as np
import pyarrow as pa
import pytest

from service.data.csvread import HINTED_BYTES, MIN_BLOCK_BYTES, SAMPLE_ROWS, block_size_for, numeric_hints
from service.data.parsing import parse_csv
from service.data.table import ColumnKind
from service.errors import InvalidDatasetError


def _numbers_csv(n_rows: int, extra: str = "") -> bytes:
    """x,y,s rows of numbers; at least HINTED_BYTES long, so that numeric hints are taken."""
    rows = [f"{i},{i * 0.5:.6g},{i % 7}" for i in range(n_rows)]
    return ("x,y,s\n" + "\n".join(rows) + "\n" + extra).encode()


BIG_ROWS = 600_000  # ~10 MB of rows


def test_block_size_for_holds_about_a_thousand_wide_rows() -> None:
    wide_header = ",".join(f"x{j}" for j in range(2000)).encode() + b"\n"
    small = wide_header + b"1" * 10
    assert block_size_for(small) == len(small) + 1  # one block for the whole body
    big = wide_header + b"0," * 8_000_000
    assert block_size_for(big) == 1024 * len(wide_header)
    assert block_size_for(b"a,b\n" + b"1,2\n" * 1_000_000) == MIN_BLOCK_BYTES


def test_numeric_hints_from_the_first_rows_of_a_big_body() -> None:
    body = _numbers_csv(BIG_ROWS)
    assert len(body) >= HINTED_BYTES
    assert numeric_hints(body) == {"x": pa.float64(), "y": pa.float64(), "s": pa.float64()}
    assert numeric_hints(_numbers_csv(SAMPLE_ROWS + 10)) == {}  # small: not worth a sample


def test_parse_csv_hint_contradicted_later_falls_back_to_inference() -> None:
    # s holds numbers in the sample and a word at the end: it is categorical, as without hints.
    body = _numbers_csv(BIG_ROWS, extra="1,2,seven\n")
    table = parse_csv(body)
    assert table.column("s").kind is ColumnKind.CATEGORICAL and table.column("s").levels is not None
    assert "seven" in table.column("s").levels
    assert table.column("x").kind is ColumnKind.NUMERIC and table.n_rows == BIG_ROWS + 1


def test_parse_csv_hinted_read_equals_the_inferred_one() -> None:
    body = _numbers_csv(BIG_ROWS, extra=f"{2**63 + 1},NA,-0\n")
    table = parse_csv(body)
    x = table.column("x").values
    np.testing.assert_array_equal(x[:BIG_ROWS], np.arange(BIG_ROWS, dtype=float))
    assert x[-1] == float(2**63 + 1)  # a number past int64 is the nearest double either way
    assert np.isnan(table.column("y").values[-1]) and table.column("y").n_missing == 1


def test_parse_csv_quoted_newlines_in_a_big_body() -> None:
    body = _numbers_csv(BIG_ROWS, extra='1,2,"a\nb"\n')
    table = parse_csv(body)
    assert table.column("s").values[-1] == "a\nb"


def test_parse_csv_ragged_row_of_a_hinted_body_is_named() -> None:
    body = _numbers_csv(BIG_ROWS, extra="1,2\n")
    with pytest.raises(InvalidDatasetError) as caught:
        parse_csv(body)
    assert caught.value.extensions == {"row": BIG_ROWS + 1}


def test_numeric_hints_skip_quoted_first_lines_and_read_past_a_bom() -> None:
    quoted = b'"x",y,s\n' + _numbers_csv(BIG_ROWS).split(b"\n", 1)[1]
    assert numeric_hints(quoted) == {}
    assert set(numeric_hints(b"\xef\xbb\xbf" + _numbers_csv(BIG_ROWS))) == {"x", "y", "s"}
    words = _numbers_csv(BIG_ROWS).replace(b"\n3,", b"\nthree,", 1)  # x's fourth cell is a word
    assert set(numeric_hints(words)) == {"y", "s"}
