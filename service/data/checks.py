"""Checking a design spec against a dataset's column summaries, before any data is loaded."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from service.data.schema import DatasetSchema
from service.data.spec import FAMILIES, Bound, DesignSpec
from service.data.table import quote, short
from service.errors import ValidationError

Summary = Mapping[str, Any]
FIELD_LOCS: dict[str, list[str | int]] = {
    "family": ["body", "family"],
    "target": ["body", "target"],
    "features": ["body", "features"],
    "weights_column": ["body", "weights_column"],
    "fold_column": ["body", "cv", "fold_column"],  # JobCreate nests it under cv
}


def check_design_columns(columns: Sequence[Summary] | DatasetSchema, spec: DesignSpec) -> None:
    """Refuse a spec the dataset cannot serve, from the stored column summaries alone.

    Raises one :class:`ValidationError` listing every problem in ``errors`` (``loc`` names the
    JobCreate field, ``["body", "features", i]`` for one feature): unknown family or column, a
    categorical target for gaussian, a categorical binomial target without exactly two levels, a
    categorical weights column, a column in two roles, a repeated feature, no features at all; a
    ``penalty_factors`` or ``bounds`` entry for a name that is not a feature, or with a value the fit
    cannot take (``loc`` ``["body", "penalty_factors", name]``, the detail starting
    ``penalty_factors.<name>:``). Given a :class:`DatasetSchema`, the work is in the size of the
    spec, not of the table.
    """
    schema = columns if isinstance(columns, DatasetSchema) else DatasetSchema.of(columns)
    errors = [
        *_family_errors(spec),
        *_target_errors(schema, spec),
        *_weights_errors(schema, spec),
        *_fold_errors(schema, spec),
        *_feature_errors(schema, spec),
        *_constraint_errors(schema, spec),
    ]
    if errors:
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ValidationError(f"{errors[0]['msg']}{more}", errors=errors)


def _error(field: str, msg: str, kind: str, index: int | None = None) -> dict[str, Any]:
    loc = FIELD_LOCS[field] + ([] if index is None else [index])
    return {"loc": loc, "msg": msg, "type": kind}


def _family_errors(spec: DesignSpec) -> list[dict[str, Any]]:
    if spec.family in FAMILIES:
        return []
    return [_error("family", f"family must be one of {', '.join(FAMILIES)}", "unknown_family")]


def _target_errors(schema: DatasetSchema, spec: DesignSpec) -> list[dict[str, Any]]:
    if spec.target not in schema:
        return [_error("target", f"the dataset has no column named {quote(spec.target)}", "unknown_column")]
    if not schema.is_categorical(spec.target):
        return []
    if spec.family == "gaussian":
        msg = f"family gaussian needs a numeric target; {quote(spec.target)} is categorical"
        return [_error("target", msg + " (use binomial or multinomial)", "wrong_kind")]
    n_levels = len(schema.levels[spec.target])
    if spec.family == "binomial" and n_levels != 2:
        hint = " (use family multinomial)" if n_levels > 2 else ""
        msg = f"family binomial needs a target with 2 classes; {quote(spec.target)} has {n_levels}{hint}"
        return [_error("target", msg, "wrong_class_count")]
    return []


def _weights_errors(schema: DatasetSchema, spec: DesignSpec) -> list[dict[str, Any]]:
    name = spec.weights_column
    if name is None:
        return []
    if name not in schema:
        return [_error("weights_column", f"the dataset has no column named {quote(name)}", "unknown_column")]
    if schema.is_categorical(name):
        return [_error("weights_column", f"weights column {quote(name)} is not numeric", "wrong_kind")]
    if name == spec.target:
        return [_error("weights_column", "the weights column cannot be the target", "role_conflict")]
    return []


def _fold_errors(schema: DatasetSchema, spec: DesignSpec) -> list[dict[str, Any]]:
    name = spec.fold_column
    if name is None:
        return []
    if name not in schema:
        return [_error("fold_column", f"the dataset has no column named {quote(name)}", "unknown_column")]
    if name in (spec.target, spec.weights_column):
        return [_error("fold_column", "the fold column cannot be the target or weights", "role_conflict")]
    return []


def _feature_errors(schema: DatasetSchema, spec: DesignSpec) -> list[dict[str, Any]]:
    if spec.features is None:
        if schema.has_features(spec):
            return []
        return [_error("features", "no columns are left to serve as features", "no_features")]
    if not spec.features:
        return [_error("features", "the feature list is empty", "no_features")]
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, name in enumerate(spec.features):
        problem = _feature_problem(name, schema, spec, seen)
        if problem is not None:
            errors.append(_error("features", problem[0], problem[1], i))
        seen.add(name)
    return errors


def _feature_problem(
    name: str, schema: DatasetSchema, spec: DesignSpec, seen: set[str]
) -> tuple[str, str] | None:
    if name not in schema:
        return f"the dataset has no column named {quote(name)}", "unknown_column"
    if name == spec.target:
        return f"{quote(name)} is the target and cannot also be a feature", "role_conflict"
    if name in (spec.weights_column, spec.fold_column):
        return f"{quote(name)} is the weights or fold column and cannot be a feature", "role_conflict"
    if name in seen:
        return f"{quote(name)} is listed twice", "duplicate_feature"
    return None


def _constraint_errors(schema: DatasetSchema, spec: DesignSpec) -> list[dict[str, Any]]:
    entries: list[tuple[str, str, str | None]] = [
        ("penalty_factors", name, _penalty_factor_problem(value)) for name, value in spec.penalty_factors
    ]
    entries += [("bounds", name, _bound_problem(value)) for name, value in spec.bounds]
    errors: list[dict[str, Any]] = []
    for field, name, value_problem in entries:
        problem = _constraint_key_problem(name, schema, spec)
        if problem is None and value_problem is not None:
            problem = value_problem, "value_error"
        if problem is not None:
            msg = f"{field}.{short(name)}: {problem[0]}"
            errors.append({"loc": ["body", field, name], "msg": msg, "type": problem[1]})
    return errors


def _constraint_key_problem(name: str, schema: DatasetSchema, spec: DesignSpec) -> tuple[str, str] | None:
    if name in schema and schema.is_feature(name, spec):
        return None
    if name not in schema:
        return f"the dataset has no column named {quote(name)}", "unknown_column"
    if name == spec.target:
        return f"{quote(name)} is the target, not a feature", "not_a_feature"
    if name in (spec.weights_column, spec.fold_column):
        return f"{quote(name)} is the weights or fold column, not a feature", "not_a_feature"
    return f"{quote(name)} is not among the features", "not_a_feature"


def _finite_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# The engine's floor (service.modeling.validation.MIN_PENALTY_FACTOR, which data may not import): a
# factor of 1e-320 made alpha_max overflow and the solver spin until the job timeout.
MIN_PENALTY_FACTOR = 1e-300


def _penalty_factor_problem(value: float) -> str | None:
    if not (_finite_number(value) and value >= 0):
        return "a penalty factor must be a finite number >= 0"
    if 0 < value < MIN_PENALTY_FACTOR:
        return f"a penalty factor must be 0 (unpenalized) or at least {MIN_PENALTY_FACTOR:g}"
    return None


def _bound_problem(bound: Bound) -> str | None:
    lower, upper = bound
    if not all(end is None or _finite_number(end) for end in bound):
        return "bounds must be finite numbers or null"
    if (lower is not None and lower > 0) or (upper is not None and upper < 0):
        return "bounds must satisfy lower <= 0 <= upper"
    return None


def check_group_columns(
    columns: Sequence[Summary] | DatasetSchema, spec: DesignSpec, groups: Mapping[str, Sequence[str]]
) -> None:
    """Refuse ``groups`` (group lasso) naming a column that is not a feature of ``spec``.

    One :class:`ValidationError` listing every such column, ``loc`` ``["body", "groups", name, i]``
    and the detail starting ``groups.<name>:``.
    """
    schema = columns if isinstance(columns, DatasetSchema) else DatasetSchema.of(columns)
    errors: list[dict[str, Any]] = []
    for name, members in groups.items():
        for index, column in enumerate(members):
            problem = _constraint_key_problem(column, schema, spec)
            if problem is not None:
                msg = f"groups.{short(name)}: {problem[0]}"
                errors.append({"loc": ["body", "groups", name, index], "msg": msg, "type": problem[1]})
    if errors:
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ValidationError(f"{errors[0]['msg']}{more}", errors=errors)
