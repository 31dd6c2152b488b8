"""What a fit needs of the data, decided from the stored schema alone: rows, missing values, classes."""

from __future__ import annotations

from service.data.encoder import duplicate_design_column_error
from service.data.schema import DatasetSchema
from service.data.spec import DesignSpec, MissingPolicy
from service.data.table import ColumnKind, quote, short
from service.errors import InvalidDataError


def check_fit_data(schema: DatasetSchema, spec: DesignSpec) -> None:
    """:class:`InvalidDataError` for a fit the data cannot serve, as far as the column summaries tell.

    ``spec`` has passed :func:`service.data.checks.check_design_columns`, so every column it names
    exists. Refused here, in the order :func:`service.data.design.build_design` meets them: fewer
    than two rows; a missing value in the target, weights or fold column; a categorical target or
    fold column with fewer than two levels; a feature with missing values under ``missing: error``;
    a numeric feature with no value at all under ``missing: mean``; features that give no design
    column. ``build_design`` checks all of them again on the values in the job's process, and
    finds what only the values show: every feature constant, one class in a numeric target, one
    fold in a numeric fold column, bad weights.
    """
    if schema.n_rows is not None and schema.n_rows < 2:
        raise InvalidDataError(f"a fit needs at least 2 rows; the dataset has {schema.n_rows}")
    _reject_missing(schema, spec.target, "target")
    if spec.family == "multinomial" and schema.is_categorical(spec.target):
        _need_two_levels(schema, spec.target, "the target {} has only one class; classification needs two")
    if spec.weights_column is not None:
        _reject_missing(schema, spec.weights_column, "weights")
    if spec.fold_column is not None:
        _reject_missing(schema, spec.fold_column, "fold")
        if schema.is_categorical(spec.fold_column):
            _need_two_levels(schema, spec.fold_column, "fold column {} needs at least 2 distinct values")
    if spec.missing is MissingPolicy.ERROR:
        _reject_missing_features(schema, spec)
    else:
        _reject_empty_features(schema, spec)


def check_design_names(schema: DatasetSchema, spec: DesignSpec) -> None:
    """InvalidDataError when two features would give design columns of the same name.

    A categorical feature ``g`` gives ``g=<level>`` per level, a numeric one its own name: a numeric
    ``g=a`` beside ``g`` with level ``a`` (or two categoricals ``g`` / ``g=a`` with levels ``a=b`` /
    ``b``) would make two coefficients of one name. Walks the categorical features' levels only.
    ``spec`` has passed :func:`service.data.checks.check_design_columns`.
    """
    owners: dict[str, str] = {}
    for _, feature in schema.features_to_check(schema.categorical, spec):
        if not schema.is_categorical(feature):
            continue
        for level in schema.levels[feature]:
            name = f"{feature}={level}"
            if name in owners:
                raise duplicate_design_column_error(name, owners[name], feature)
            if name in schema and schema.is_feature(name, spec) and not schema.is_categorical(name):
                raise duplicate_design_column_error(name, name, feature)
            owners[name] = feature


def _reject_missing(schema: DatasetSchema, name: str, role: str) -> None:
    count = schema.missing(name)
    if count:
        raise InvalidDataError(
            f"the {role} column {quote(name)} has {_values(count)} missing (NaN or empty)",
            column=short(name),
            n_missing=count,
        )


def _need_two_levels(schema: DatasetSchema, name: str, message: str) -> None:
    if len(schema.levels[name]) < 2:
        raise InvalidDataError(message.format(quote(name)), column=short(name))


def _reject_missing_features(schema: DatasetSchema, spec: DesignSpec) -> None:
    for _, name in schema.features_to_check(schema.with_missing, spec):
        count = schema.missing(name)
        if count:
            raise InvalidDataError(
                f"column {quote(name)} has {_values(count)} missing; drop it or use missing: mean",
                column=short(name),
                n_missing=count,
            )


def _reject_empty_features(schema: DatasetSchema, spec: DesignSpec) -> None:
    """``missing: mean`` needs a value to take the mean of, and some feature to give a design column."""
    for _, name in schema.features_to_check(schema.with_missing, spec):
        if schema.kind(name) is ColumnKind.NUMERIC and schema.all_missing(name):
            raise InvalidDataError(
                f"column {quote(name)} has no values, so there is no mean to impute", column=short(name)
            )
    # A categorical column with no value has no level, so no design column; the walk stops at the
    # first feature that gives one, which in practice is the first.
    names = spec.features if spec.features is not None else schema.names
    if not any(schema.is_feature(n, spec) and _gives_columns(schema, n) for n in names if n in schema):
        raise InvalidDataError("the features give no design columns: every value is missing")


def _gives_columns(schema: DatasetSchema, name: str) -> bool:
    return bool(schema.levels[name]) if schema.is_categorical(name) else not schema.all_missing(name)


def _values(count: int) -> str:
    return "1 value" if count == 1 else f"{count} values"
