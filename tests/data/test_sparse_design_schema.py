"""The sparse design's shortcuts (the schema without summaries, the features as a slice) change nothing."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from service.data.schema import DatasetSchema
from service.data.sparse import SparseTable, canonical_csc
from service.data.sparse_design import _schema, _select, build_sparse_design
from service.data.spec import DesignSpec
from service.errors import ValidationError


def _table() -> SparseTable:
    matrix = sp.random(40, 12, density=0.3, format="csc", random_state=1)
    return SparseTable((*(f"c{j}" for j in range(11)), "y"), canonical_csc(matrix))


def test_the_schema_is_the_one_of_the_summaries() -> None:
    table = _table()
    fast, slow = _schema(table), DatasetSchema.of(table.summaries())
    for field in ("names", "kinds", "n_missing", "levels", "with_missing", "categorical", "extremes"):
        assert getattr(fast, field) == getattr(slow, field), field
    assert all(fast.kind(name) == slow.kind(name) for name in table.names)
    assert fast.n_rows == table.n_rows


@pytest.mark.parametrize(
    "names",
    [("c0", "c1", "c2"), tuple(f"c{j}" for j in range(11)), ("c3", "c0"), ("c5", "y"), ("y", "c0")],
)
def test_selected_columns_are_those_named_in_their_order(names: tuple[str, ...]) -> None:
    table = _table()
    chosen = _select(table, names)
    assert chosen.format == "csc" and chosen.has_canonical_format
    positions = [table.names.index(n) for n in names]
    np.testing.assert_array_equal(chosen.toarray(), table.matrix.toarray()[:, positions])


def test_a_sparse_design_is_still_checked_against_its_columns() -> None:
    with pytest.raises(ValidationError, match="no column named 'nope'"):
        build_sparse_design(_table(), DesignSpec(target="y", features=("nope",), family="gaussian"))
    design = build_sparse_design(_table(), DesignSpec(target="y", features=None, family="gaussian"))
    np.testing.assert_array_equal(design.X.toarray(), _table().matrix.toarray()[:, :11])
