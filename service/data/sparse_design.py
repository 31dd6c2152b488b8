"""Designs from sparse tables: the CSC matrix of a fit, and of prediction input, never densified."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from service.data.blocktable import BlockTable
from service.data.checks import check_design_columns
from service.data.constraints import column_constraints
from service.data.design import Design, build_design, fold_codes, target_values, weight_values
from service.data.encoder import DesignEncoder, numeric_encodings
from service.data.schema import DatasetSchema
from service.data.sparse import SparseTable
from service.data.spec import DesignSpec, MissingPolicy
from service.data.table import ColumnKind, Table
from service.errors import InvalidDataError


def build_any_design(table: Table | BlockTable | SparseTable, spec: DesignSpec) -> Design:
    """:func:`build_design` for a dense table, :func:`build_sparse_design` for a sparse one."""
    if isinstance(table, SparseTable):
        return build_sparse_design(table, spec)
    return build_design(table, spec)


def build_sparse_design(table: SparseTable, spec: DesignSpec) -> Design:
    """The design of ``spec`` on a sparse training table: X is CSC, y and the role columns dense.

    Every column of a sparse table is numeric and complete, so ``missing`` changes nothing here;
    with ``missing: mean`` the training means are kept all the same, for dense prediction input
    with missing cells. Raises as :func:`build_design` does.
    """
    check_design_columns(_schema(table), spec)
    if table.n_rows < 2:
        raise InvalidDataError(f"a fit needs at least 2 rows; the dataset has {table.n_rows}")
    y, classes = target_values(table.column(spec.target), spec.family)
    weights = None if spec.weights_column is None else weight_values(table.column(spec.weights_column))
    folds = None if spec.fold_column is None else fold_codes(table.column(spec.fold_column))
    names = spec.feature_names(table.names)
    X = _select(table, names)
    _check_some_column_varies(X)
    means: list[float | None] = [None] * len(names)
    if spec.missing is MissingPolicy.MEAN:
        means = [float(v) for v in np.asarray(X.sum(axis=0)).ravel() / table.n_rows]
    encoder = DesignEncoder(numeric_encodings(names, means), spec.missing)
    return Design(X, y, classes, weights, folds, encoder, column_constraints(encoder, spec))


def _select(table: SparseTable, names: tuple[str, ...]) -> Any:
    """``table.select(names)``; a slice when ``names`` are the table's first columns (all but a
    target stored last, as uploads have it), without looking up 20,000 names one by one."""
    k = len(names)
    if names == table.names[:k]:
        return table.matrix if k == table.n_columns else table.matrix[:, :k]
    return table.select(names)


def _schema(table: SparseTable) -> DatasetSchema:
    """The schema of ``table.summaries()`` (every column numeric and complete), without building
    one summary per column and reading them back: a sparse table has 20,000 columns and more."""
    p = table.n_columns
    return DatasetSchema(
        names=table.names,
        kinds=(ColumnKind.NUMERIC,) * p,
        n_missing=(0,) * p,
        levels={},
        with_missing=(),
        categorical=(),
        n_rows=table.n_rows,
        _positions=dict(zip(table.names, range(p), strict=True)),
        extremes={},
    )


def _check_some_column_varies(X: Any) -> None:
    """InvalidDataError when every column is constant (as ``build_design`` refuses)."""
    n = X.shape[0]
    counts = np.diff(X.indptr)
    # A canonical CSC column stores no zeros: one with some but not all rows stored varies.
    if np.any((counts > 0) & (counts < n)):
        return
    starts = X.indptr[:-1][counts == n]
    # Only full and empty columns are left, so each full column's entries run to the next start.
    if starts.shape[0] and np.any(np.maximum.reduceat(X.data, starts) != np.minimum.reduceat(X.data, starts)):
        return
    raise InvalidDataError("every feature is constant, so there is nothing to fit but the intercept")


def sparse_transform(encoder: DesignEncoder, table: SparseTable) -> Any:
    """The design matrix of a sparse prediction input (CSC), columns matched by name.

    Numeric features are columns of the input as they are; a categorical feature (of a model fitted
    on a dense table) is one-hot encoded from its densified column, as the dense path reads numbers
    given for a categorical.
    """
    encoder.check_present(table.names)
    numeric = [f for f in encoder.features if f.kind is ColumnKind.NUMERIC]
    if len(numeric) == len(encoder.features):
        return table.select([f.name for f in numeric])
    categorical = tuple(f for f in encoder.features if f.kind is ColumnKind.CATEGORICAL)
    dense = Table(tuple(table.column(f.name) for f in categorical), table.n_rows)
    dummies = DesignEncoder(categorical, encoder.missing).transform(dense)
    stacked = sp.hstack([table.select([f.name for f in numeric]), sp.csc_matrix(dummies)], format="csc")
    # Where each stacked column belongs in the model's design order.
    spans: dict[str, list[int]] = {f.name: [] for f in encoder.features}
    for position, group in enumerate(encoder.groups):
        spans[group].append(position)
    placed = [p for f in numeric for p in spans[f.name]] + [p for f in categorical for p in spans[f.name]]
    return stacked[:, np.argsort(np.asarray(placed))]
