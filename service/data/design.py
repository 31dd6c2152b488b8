"""Building the design matrix, target, weights and fold ids of a fit from a table and a spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.data.blocktable import BlockTable
from service.data.checks import FIELD_LOCS, check_design_columns
from service.data.constraints import ColumnConstraints, column_constraints
from service.data.encoder import DesignEncoder, FeatureEncoding
from service.data.spec import FAMILIES, DesignSpec, MissingPolicy, TargetKind
from service.data.table import Column, ColumnKind, Table, first_row, quote, short
from service.data.tableio import column_summaries
from service.errors import InvalidDataError, ValidationError

__all__ = [
    "FAMILIES",
    "ColumnConstraints",
    "Design",
    "DesignEncoder",
    "DesignSpec",
    "FeatureEncoding",
    "MissingPolicy",
    "TargetKind",
    "build_design",
    "check_design_columns",
]

# Integer-valued class labels up to this size are reported as ints (0/1 targets stay 0/1).
_EXACT_INT = 2.0**53


@dataclass(frozen=True, eq=False)
class Design:
    """The arrays of one fit.

    ``y`` is float64 for gaussian and int64 class codes 0..K-1 for classification, ``classes`` the
    original labels in code order (strings for a categorical target; ints for an integer-valued
    numeric one, floats otherwise). ``fold_ids`` are codes 0..F-1 in sorted order of the fold
    column's distinct values. ``constraints`` carries the spec's per-feature penalty factors and
    bounds to the design columns. ``eq=False``: arrays have no single-valued equality.
    """

    X: Any  # dense (n, p) Fortran-ordered float64, or scipy.sparse CSC for a sparse dataset
    y: NDArray[np.float64] | NDArray[np.int64]
    classes: list[str | int | float] | None
    sample_weight: NDArray[np.float64] | None
    fold_ids: NDArray[np.int64] | None
    encoder: DesignEncoder
    constraints: ColumnConstraints


def build_design(table: Table | BlockTable, spec: DesignSpec) -> Design:
    """The design of ``spec`` on the training ``table``; the encoder is learned from it.

    Raises :class:`ValidationError` for what :func:`check_design_columns` refuses and for a
    binomial target with more than two classes, :class:`InvalidDataError` for data that cannot
    serve the fit (fewer than two rows, missing target, bad weights or folds, missing features under
    ``missing: error``, every feature constant).
    """
    check_design_columns(table.schema() if isinstance(table, BlockTable) else column_summaries(table), spec)
    if table.n_rows < 2:
        raise InvalidDataError(f"a fit needs at least 2 rows; the dataset has {table.n_rows}")
    y, classes = target_values(table.column(spec.target), spec.family)
    weights = None if spec.weights_column is None else weight_values(table.column(spec.weights_column))
    folds = None if spec.fold_column is None else fold_codes(table.column(spec.fold_column))
    encoder = DesignEncoder.learn(table, spec.feature_names(table.names), spec.missing)
    constraints = column_constraints(encoder, spec)
    X = encoder.transform(table)
    _check_some_feature_varies(X)
    return Design(X, y, classes, weights, folds, encoder, constraints)


def _check_some_feature_varies(X: NDArray[np.float64]) -> None:
    # glmnet refuses such a fit too ("all used predictors have zero variance"): no alpha could
    # select anything, so the path and its CV would be degenerate. One varying column suffices.
    if not any(np.any(X[:, j] != X[0, j]) for j in range(X.shape[1])):
        raise InvalidDataError("every feature is constant, so there is nothing to fit but the intercept")


def _reject_missing(column: Column, role: str) -> None:
    if column.n_missing:
        row = first_row(column.missing_mask())
        raise InvalidDataError(
            f"missing value (NaN) in the {role} column {quote(column.name)} at row {row}",
            column=short(column.name),
            row=row,
        )


def target_values(
    column: Column, family: str
) -> tuple[NDArray[np.float64] | NDArray[np.int64], list[str | int | float] | None]:
    """The target of ``family`` from ``column``: floats for gaussian, else class codes and labels."""
    _reject_missing(column, "target")
    if TargetKind.of(family) is TargetKind.REGRESSION:
        return column.values.copy(), None
    classes, codes = _distinct_codes(column)
    if len(classes) < 2:
        raise InvalidDataError(
            f"the target {quote(column.name)} has only one class; classification needs two or more",
            column=short(column.name),
        )
    if family == "binomial" and len(classes) > 2:
        msg = f"family binomial needs 2 classes; {quote(column.name)} has {len(classes)} (use multinomial)"
        raise ValidationError(
            msg, errors=[{"loc": FIELD_LOCS["target"], "msg": msg, "type": "wrong_class_count"}]
        )
    return codes, classes


def _distinct_codes(column: Column) -> tuple[list[str | int | float], NDArray[np.int64]]:
    """Sorted distinct values of a column without missing values, and each row's index among them."""
    if column.kind is ColumnKind.CATEGORICAL:
        levels = column.levels or ()
        index = {level: i for i, level in enumerate(levels)}
        codes = np.fromiter((index[v] for v in column.values), dtype=np.int64, count=len(column.values))
        return list(levels), codes
    distinct, inverse = np.unique(column.values, return_inverse=True)
    integral = bool(np.all(np.mod(distinct, 1.0) == 0) and np.all(np.abs(distinct) < _EXACT_INT))
    values: list[str | int | float] = [int(v) if integral else float(v) for v in distinct.tolist()]
    return values, inverse.astype(np.int64).reshape(-1)


def weight_values(column: Column) -> NDArray[np.float64]:
    """Observation weights: finite, >= 0, not all zero."""
    _reject_missing(column, "weights")
    values: NDArray[np.float64] = column.values.copy()
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = first_row(bad)
        raise InvalidDataError(
            f"weights column {quote(column.name)} has a negative or non-finite weight at row {row}",
            column=short(column.name),
            row=row,
        )
    if not values.sum() > 0:
        raise InvalidDataError(f"the weights in {quote(column.name)} sum to zero", column=short(column.name))
    return values


def fold_codes(column: Column) -> NDArray[np.int64]:
    """Fold ids 0..F-1 (F >= 2) from a fold column's distinct values in sorted order."""
    _reject_missing(column, "fold")
    distinct, codes = _distinct_codes(column)
    if len(distinct) < 2:
        raise InvalidDataError(
            f"fold column {quote(column.name)} needs at least 2 distinct values", column=short(column.name)
        )
    return codes
