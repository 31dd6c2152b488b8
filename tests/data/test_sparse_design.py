"""Tests of designs from sparse tables: the dense twin's design, kept sparse, and sparse prediction input."""

from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits

from service.data.design import DesignSpec, MissingPolicy, build_design
from service.data.parsing import parse_split_json
from service.data.sparse import SparseTable, canonical_csc
from service.data.sparse_design import build_sparse_design, sparse_transform
from service.data.table import Column, Table
from service.errors import FeatureMismatchError, InvalidDataError, ValidationError

DIGITS = load_digits()
NAMES = (*(f"p{j}" for j in range(64)), "digit", "w", "fold")
ROWS = 300
VALUES = np.column_stack(
    [DIGITS.data[:ROWS], DIGITS.target[:ROWS], 1 + np.arange(ROWS) % 3, np.arange(ROWS) % 4]
).astype(float)


def _sparse(values: np.ndarray = VALUES, names: tuple[str, ...] = NAMES) -> SparseTable:
    return SparseTable(names, canonical_csc(sp.csr_matrix(values)))


def _dense(values: np.ndarray = VALUES, names: tuple[str, ...] = NAMES) -> Table:
    return Table(tuple(Column.numeric(n, values[:, j]) for j, n in enumerate(names)), values.shape[0])


def _spec(**kwargs: Any) -> DesignSpec:
    return DesignSpec(**{"target": "digit", "features": None, "family": "gaussian", **kwargs})


@pytest.mark.parametrize(
    "spec",
    [
        _spec(weights_column="w", fold_column="fold"),
        _spec(target="p20", features=("p43", "digit", "p5")),  # any column may be the target
        _spec(family="multinomial", features=tuple(f"p{j}" for j in range(0, 64, 3))),
        _spec(target="fold", family="binomial", features=("p10", "p11")),
    ],
    ids=["roles", "feature target", "multinomial", "no such binomial"],
)
def test_sparse_design_is_the_dense_twins_design_kept_sparse(spec: DesignSpec) -> None:
    try:
        dense = build_design(_dense(), spec)
    except ValidationError as error:  # the dense twin's refusal is the sparse one's too
        with pytest.raises(ValidationError) as caught:
            build_sparse_design(_sparse(), spec)
        assert caught.value.to_problem() == error.to_problem()
        return
    sparse = build_sparse_design(_sparse(), spec)
    assert sp.issparse(sparse.X) and sparse.X.format == "csc"
    np.testing.assert_array_equal(sparse.X.toarray(), dense.X)
    np.testing.assert_array_equal(sparse.y, dense.y)
    assert sparse.y.dtype == dense.y.dtype and sparse.classes == dense.classes
    for mine, theirs in ((sparse.sample_weight, dense.sample_weight), (sparse.fold_ids, dense.fold_ids)):
        assert (mine is None) == (theirs is None)
        if mine is not None:
            np.testing.assert_array_equal(mine, theirs)
    assert sparse.encoder == dense.encoder and sparse.constraints == dense.constraints


def test_sparse_design_missing_mean_keeps_the_training_means() -> None:
    design = build_sparse_design(_sparse(), _spec(features=("p10", "p20"), missing=MissingPolicy.MEAN))
    means = [f.mean for f in design.encoder.features]
    np.testing.assert_allclose(means, VALUES[:, [10, 20]].mean(axis=0), rtol=1e-14)


@pytest.mark.parametrize(
    "values",
    [np.column_stack([np.zeros(5), np.arange(5.0)]), np.column_stack([np.full(5, 2.0), np.arange(5.0)])],
    ids=["all zero", "all two"],
)
def test_sparse_design_with_every_feature_constant_is_refused(values: np.ndarray) -> None:
    with pytest.raises(InvalidDataError):
        build_sparse_design(_sparse(values, ("x", "y")), _spec(target="y"))


def test_sparse_design_of_one_row_is_refused() -> None:
    with pytest.raises(InvalidDataError):
        build_sparse_design(_sparse(np.array([[1.0, 2.0]]), ("x", "y")), _spec(target="y"))


def test_sparse_transform_matches_columns_by_name() -> None:
    design = build_sparse_design(_sparse(), _spec(features=("p43", "p5", "p20")))
    shuffled = NAMES[::-1]
    X = sparse_transform(design.encoder, _sparse(VALUES[:, ::-1], shuffled))
    assert sp.issparse(X)
    np.testing.assert_array_equal(X.toarray(), VALUES[:, [43, 5, 20]])


def test_sparse_transform_one_hot_encodes_a_dense_models_categorical() -> None:
    table = parse_split_json(["g", "x", "y"], [["1", 0.5, 1.0], ["0", 1.5, 2.0], ["2", 0.0, 3.0]])
    encoder = build_design(table, _spec(target="y", features=("x", "g"))).encoder
    rows = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 7.0]])  # g, x, and a column the model ignores
    X = sparse_transform(encoder, _sparse(rows, ("g", "x", "extra")))
    dense = encoder.transform(parse_split_json(["g", "x"], [["2", 1.0], ["0", 0.0]]))
    np.testing.assert_array_equal(X.toarray(), dense)


def test_sparse_transform_missing_feature_is_a_mismatch() -> None:
    design = build_sparse_design(_sparse(), _spec(features=("p43", "p3")))
    with pytest.raises(FeatureMismatchError) as caught:
        sparse_transform(design.encoder, _sparse(VALUES[:, :5], NAMES[:5]))
    assert caught.value.extensions["missing"] == ["p43"]
