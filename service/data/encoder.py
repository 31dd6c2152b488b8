"""The feature encoding learned at training time and replayed at prediction: one-hot and imputation."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.data.blocktable import BlockTable
from service.data.spec import MissingPolicy
from service.data.table import Column, ColumnKind, Table, first_row, is_none, quote, short
from service.errors import FeatureMismatchError, InvalidDataError

# Integer-valued floats below this print as integers ("3", not "3.0"); above it floats are inexact.
_EXACT_INT = 2.0**53


@dataclass(frozen=True)
class FeatureEncoding:
    """How one original column becomes design columns.

    Numeric: one design column, ``mean`` set when missing values are imputed. Categorical: one
    dummy per training level, in sorted level order, with no level dropped (glmnet's convention for
    penalized models: the penalty, not a reference level, makes the fit identifiable).
    """

    name: str
    kind: ColumnKind
    levels: tuple[str, ...] = ()
    mean: float | None = None

    @property
    def design_columns(self) -> list[str]:
        if self.kind is ColumnKind.NUMERIC:
            return [self.name]
        return [f"{self.name}={level}" for level in self.levels]


@dataclass(frozen=True)
class DesignEncoder:
    """Everything prediction needs to turn a table into the design matrix the model was fitted on.

    Picklable and comparable; :meth:`to_dict` / :meth:`from_dict` give a JSON form as well.
    """

    features: tuple[FeatureEncoding, ...]
    missing: MissingPolicy

    @classmethod
    def learn(cls, table: Table | BlockTable, names: Sequence[str], missing: MissingPolicy) -> DesignEncoder:
        """Levels and imputation means of the feature columns ``names`` of the training ``table``."""
        if isinstance(table, BlockTable):
            features = _learn_block(table, names, missing)
        else:
            features = tuple(_learn_feature(table.column(n), missing) for n in names)
        encoder = cls(features, missing)
        columns = encoder.design_columns
        if not columns:
            raise InvalidDataError("the features give no design columns: every value is missing")
        if len(set(columns)) != len(columns):
            encoder.check_unique_design_columns()  # raises, naming the two features
        return encoder

    def check_unique_design_columns(self) -> None:
        """InvalidDataError when two features give a design column of the same name (numeric ``g=a``
        beside categorical ``g`` with level ``a``): coefficients and paths are keyed by that name."""
        columns = self.design_columns
        if len(set(columns)) == len(columns):  # the rule; the walk below only names the culprits
            return
        owners: dict[str, str] = {}
        for feature in self.features:
            for name in feature.design_columns:
                if name in owners:
                    raise duplicate_design_column_error(name, owners[name], feature.name)
                owners[name] = feature.name

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def design_columns(self) -> list[str]:
        """Names of the columns of X: the feature name, or ``"column=level"`` per dummy."""
        # Without a list per numeric feature: wide encoders have 20,000 and more.
        if not self._has_categorical():
            return [f.name for f in self.features]
        return [name for f in self.features for name in f.design_columns]

    @property
    def column_features(self) -> tuple[int, ...]:
        """The index (in feature order) of the feature each design column comes from."""
        if not self._has_categorical():
            return tuple(range(len(self.features)))
        return tuple(i for i, f in enumerate(self.features) for _ in f.design_columns)

    @property
    def groups(self) -> list[str]:
        """The original column of each design column."""
        if not self._has_categorical():
            return [f.name for f in self.features]
        return [f.name for f in self.features for _ in f.design_columns]

    def _has_categorical(self) -> bool:
        # Cached in the instance's __dict__ (as cached_property would): asked for every column
        # list, and a walk of 20,000 features each time. Not a field: not pickled, not compared.
        known: bool | None = self.__dict__.get("_categorical")
        if known is None:
            categorical = ColumnKind.CATEGORICAL
            known = self.__dict__["_categorical"] = any(f.kind is categorical for f in self.features)
        return known

    def transform(self, table: Table | BlockTable) -> NDArray[np.float64]:
        """The (n, p) Fortran-ordered design matrix of ``table``; columns are matched by name."""
        self.check_present(table.names)
        if isinstance(table, BlockTable):
            return self._transform_block(table)
        widths = [len(f.design_columns) for f in self.features]
        X = np.zeros((table.n_rows, sum(widths)), dtype=np.float64, order="F")
        start = 0
        for feature, width in zip(self.features, widths, strict=True):
            column = table.column(feature.name)
            if feature.kind is ColumnKind.NUMERIC:
                X[:, start] = _numeric(feature, column, self.missing)
            else:
                codes = _codes(feature, column, self.missing)
                rows = np.flatnonzero(codes >= 0)
                X[rows, start + codes[rows]] = 1.0
            start += width
        return X

    def _transform_block(self, table: BlockTable) -> NDArray[np.float64]:
        """:meth:`transform` of a block table: every numeric column in one gather, no per-column work.

        Built transposed, (p, n) C-ordered, whose transpose is the Fortran design: a numeric
        feature's column is then one row of the table's ``numbers``.
        """
        numeric = np.array([f.kind is ColumnKind.NUMERIC for f in self.features], dtype=bool)
        slots = table.numeric_slots([f.name for f in self.features])
        if numeric.all():
            XT = np.take(table.numbers, slots, axis=0)
            starts = np.arange(len(self.features))
        else:
            widths = np.array([1 if f.kind is ColumnKind.NUMERIC else len(f.levels) for f in self.features])
            starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
            XT = np.zeros((int(widths.sum()), table.n_rows))
            XT[starts[numeric]] = table.numbers[slots[numeric]]
        positions = table.positions([f.name for f in self.features])
        for j in np.flatnonzero((table.n_missing[positions] > 0) | ~numeric).tolist():
            # Columns with missing values, and categoricals: a few, done as for any table.
            feature, start = self.features[j], int(starts[j])
            column = table.column(feature.name)
            if feature.kind is ColumnKind.NUMERIC:
                XT[start] = _numeric(feature, column, self.missing)
            else:
                codes = _codes(feature, column, self.missing)
                present = np.flatnonzero(codes >= 0)
                XT[start + codes[present], present] = 1.0
        X: NDArray[np.float64] = XT.T
        return X

    def selected_groups(self, nonzero: NDArray[np.bool_]) -> list[str]:
        """Original columns with any nonzero design column, in feature order.

        ``nonzero`` has one flag per design column; for multinomial, reduce over the classes first
        (a 2-D array is refused: (p, K) and (K, p) layouts cannot be told apart when p == K).
        """
        flags = np.asarray(nonzero, dtype=bool)
        groups = self.groups
        if flags.shape != (len(groups),):
            raise ValueError(f"expected {len(groups)} flags, one per design column, got {flags.shape}")
        hit = {g for g, flag in zip(groups, flags.tolist(), strict=True) if flag}
        return [name for name in self.feature_names if name in hit]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form; :meth:`from_dict` reads it back."""
        features = [
            {"name": f.name, "kind": f.kind.value, "levels": list(f.levels), "mean": f.mean}
            for f in self.features
        ]
        return {"missing": self.missing.value, "features": features}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as one list per field, not one object per feature: a 20,000-feature encoder took
        45 ms of every model's save as objects, 3 ms as lists. Encoders pickled before (as objects)
        load as they always did; :func:`encoder_from_fields` rebuilds these."""
        features = self.features
        # A dict lookup, not Enum's `.value` (a descriptor call, 20 ms over 20,000 features).
        value_of = {kind: kind.value for kind in ColumnKind}
        fields = (
            [f.name for f in features],
            [value_of[f.kind] for f in features],
            [f.levels for f in features],
            [f.mean for f in features],
        )
        return (encoder_from_fields, (*fields, self.missing.value))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DesignEncoder:
        features = tuple(
            FeatureEncoding(f["name"], ColumnKind(f["kind"]), tuple(f["levels"]), f["mean"])
            for f in data["features"]
        )
        return cls(features, MissingPolicy(data["missing"]))

    def check_present(self, names: Sequence[str]) -> None:
        """FeatureMismatchError (``expected``, ``got``, ``missing``) unless every feature is in ``names``."""
        given = set(names)
        absent = [name for name in self.feature_names if name not in given]
        if absent:
            raise FeatureMismatchError(
                f"{len(absent)} feature column(s) the model needs are missing, such as {quote(absent[0])}",
                expected=[short(n) for n in self.feature_names],
                got=[short(n) for n in names],
                missing=[short(n) for n in absent],
            )


def encoder_from_fields(
    names: list[str],
    kinds: list[str],
    levels: list[tuple[str, ...]],
    means: list[float | None],
    missing: str,
) -> DesignEncoder:
    """The encoder that :meth:`DesignEncoder.__reduce__` took apart (its name is in stored models)."""
    kind_of = {kind.value: kind for kind in ColumnKind}
    features = feature_encodings(names, [kind_of[kind] for kind in kinds], levels, means)
    return DesignEncoder(features, MissingPolicy(missing))


def feature_encodings(
    names: Sequence[str],
    kinds: Sequence[ColumnKind],
    levels: Sequence[tuple[str, ...]],
    means: Sequence[float | None],
) -> tuple[FeatureEncoding, ...]:
    """``FeatureEncoding(name, kind, levels, mean)`` of each, in half the time of the constructor.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; a table of
    20,000 features spent 20-40 ms of every wide job (and of every wide model's load) there.
    The objects are the same: equal, hashable and pickled as the constructor's.
    """
    new = object.__new__
    built: list[FeatureEncoding] = []
    for name, kind, level, mean in zip(names, kinds, levels, means, strict=True):
        feature = new(FeatureEncoding)
        feature.__dict__.update(name=name, kind=kind, levels=level, mean=mean)
        built.append(feature)
    return tuple(built)


def numeric_encodings(names: Sequence[str], means: Sequence[float | None]) -> tuple[FeatureEncoding, ...]:
    """The encodings of numeric features ``names`` with imputation ``means`` (None: not imputed)."""
    count = len(names)
    return feature_encodings(names, [ColumnKind.NUMERIC] * count, [()] * count, means)


def _learn_feature(column: Column, missing: MissingPolicy) -> FeatureEncoding:
    if missing is MissingPolicy.ERROR and column.n_missing:
        raise missing_value_error(column.name, column.missing_mask())
    if column.kind is ColumnKind.CATEGORICAL:
        return FeatureEncoding(column.name, column.kind, levels=column.levels or ())
    if missing is MissingPolicy.ERROR:
        return FeatureEncoding(column.name, column.kind)
    present = ~column.missing_mask()
    if not present.any():
        raise InvalidDataError(
            f"column {quote(column.name)} has no values, so there is no mean to impute",
            column=short(column.name),
        )
    return FeatureEncoding(column.name, column.kind, mean=float(column.values[present].mean()))


def _learn_block(
    table: BlockTable, names: Sequence[str], missing: MissingPolicy
) -> tuple[FeatureEncoding, ...]:
    """:func:`_learn_feature` of each of ``names``, numeric columns without a Python walk of their values."""
    positions = table.positions(list(names))
    slots, counts = table.slots[positions], table.n_missing[positions]
    means: list[float | None] = [None] * len(names)
    if missing is MissingPolicy.MEAN:
        complete = np.flatnonzero((slots >= 0) & (counts == 0))
        # A row of a C-ordered block reduces as the 1-D column does: the same means, bit for bit.
        found = table.numbers[slots[complete]].mean(axis=1) if len(complete) else np.empty(0)
        for j, mean in zip(complete.tolist(), found.tolist(), strict=True):
            means[j] = mean
    features = list(numeric_encodings(names, means))
    for j in np.flatnonzero((slots < 0) | (counts > 0)).tolist():
        # Categorical or incomplete: as any table's column.
        features[j] = _learn_feature(table.column(names[j]), missing)
    return tuple(features)


def duplicate_design_column_error(name: str, first: str, second: str) -> InvalidDataError:
    """The problem for two features, ``first`` and ``second``, that give the design column ``name``."""
    return InvalidDataError(
        f"features {quote(first)} and {quote(second)} both give the design column {quote(name)} "
        "(a numeric column is named as a categorical column's level is, column=level); leave one "
        "of them out of features or rename it",
        design_column=short(name),
        columns=[short(first), short(second)],
    )


def missing_value_error(name: str, missing: NDArray[np.bool_]) -> InvalidDataError:
    """The problem for a missing feature value under ``missing: error``."""
    row = first_row(missing)
    return InvalidDataError(
        f"column {quote(name)} has a missing value at row {row}; drop it or use missing: mean",
        column=short(name),
        row=row,
    )


def _numeric(feature: FeatureEncoding, column: Column, missing: MissingPolicy) -> NDArray[np.float64]:
    if column.kind is ColumnKind.NUMERIC and not column.n_missing:
        return column.values  # the common case, without a NaN scan per column of a wide table
    values = column.values if column.kind is ColumnKind.NUMERIC else _numbers_from_text(column)
    absent = np.isnan(values)
    if not absent.any():
        return values
    if missing is MissingPolicy.ERROR or feature.mean is None:
        raise missing_value_error(feature.name, absent)
    return np.where(absent, feature.mean, values)


def _numbers_from_text(column: Column) -> NDArray[np.float64]:
    # Prediction input may carry numbers as strings ("3.5" from a JSON client): accept what parses.
    present = ~column.missing_mask()
    numbers = np.full(len(column.values), np.nan)
    try:
        numbers[present] = column.values[present].astype(np.float64)
    except ValueError:
        row = next(i for i, v in enumerate(column.values, start=1) if v is not None and not _is_number(v))
        raise _not_numeric_error(column.name, row) from None
    non_finite = present & ~np.isfinite(numbers)
    if non_finite.any():
        raise _not_numeric_error(column.name, first_row(non_finite))
    return numbers


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _not_numeric_error(name: str, row: int) -> InvalidDataError:
    return InvalidDataError(
        f"column {quote(name)} is numeric in the model but row {row} holds no finite number",
        column=short(name),
        row=row,
    )


def _codes(feature: FeatureEncoding, column: Column, missing: MissingPolicy) -> NDArray[np.int64]:
    """The level index of each row; -1 (all-zero dummies) for a missing or unseen value."""
    texts = column.values if column.kind is ColumnKind.CATEGORICAL else _texts_from_numbers(column.values)
    absent = is_none(texts)
    if missing is MissingPolicy.ERROR and absent.any():
        raise missing_value_error(feature.name, absent)
    index = {level: i for i, level in enumerate(feature.levels)}
    return np.fromiter((index.get(v, -1) for v in texts), dtype=np.int64, count=len(texts))


def _texts_from_numbers(values: NDArray[np.float64]) -> NDArray[np.object_]:
    # A categorical given as numbers (JSON 3 for the level "3") is matched by its text.
    texts = np.empty(len(values), dtype=object)
    texts[:] = [None if math.isnan(v) else format_number(v) for v in values.tolist()]
    return texts


def format_number(value: float) -> str:
    """A number as a level: integers without ".0", other floats in their shortest exact form."""
    if value.is_integer() and abs(value) < _EXACT_INT:
        return str(int(value))
    return repr(value)
