"""Tests of build_design and check_design_columns: exact arrays and the problem for each bad case."""

import math
from typing import Any

import numpy as np
import pytest

from service.data.design import DesignSpec, MissingPolicy, TargetKind, build_design, check_design_columns
from service.data.parsing import parse_split_json
from service.data.table import Column, Table
from service.data.tableio import column_summaries
from service.errors import InvalidDataError, ValidationError

COLUMNS = ["age", "sex", "city", "w", "fold", "y", "label"]
TABLE = parse_split_json(
    COLUMNS,
    [
        [30.0, "F", "Oslo", 1.0, "a", 1.5, "no"],
        [None, "M", "Rome", 2.0, "b", 2.5, "yes"],
        [50.0, "F", None, 0.0, "a", 3.5, "yes"],
        [40.0, "M", "Oslo", 1.0, "b", 4.5, "no"],
    ],
)


def _spec(**kwargs: Any) -> DesignSpec:
    defaults: dict[str, Any] = {"target": "y", "features": ("age", "sex", "city"), "family": "gaussian"}
    return DesignSpec(**{**defaults, **kwargs})


def test_build_design_exact_with_categoricals_and_mean_imputation() -> None:
    design = build_design(TABLE, _spec(missing=MissingPolicy.MEAN))
    assert design.encoder.design_columns == ["age", "sex=F", "sex=M", "city=Oslo", "city=Rome"]
    expected = [
        [30.0, 1, 0, 1, 0],
        [40.0, 0, 1, 0, 1],  # age imputed with the mean of 30, 50, 40
        [50.0, 1, 0, 0, 0],  # missing city: no dummy set
        [40.0, 0, 1, 1, 0],
    ]
    np.testing.assert_array_equal(design.X, expected)
    assert design.X.flags.f_contiguous
    np.testing.assert_array_equal(design.y, [1.5, 2.5, 3.5, 4.5])
    assert design.y.dtype == np.float64
    assert design.classes is None
    assert design.sample_weight is None and design.fold_ids is None


def test_build_design_default_features_leave_out_target_weights_and_folds() -> None:
    spec = _spec(features=None, weights_column="w", fold_column="fold", missing="mean")
    design = build_design(TABLE, spec)
    assert design.encoder.feature_names == ["age", "sex", "city", "label"]
    np.testing.assert_array_equal(design.sample_weight, [1.0, 2.0, 0.0, 1.0])
    np.testing.assert_array_equal(design.fold_ids, [0, 1, 0, 1])
    assert design.fold_ids is not None and design.fold_ids.dtype == np.int64


def test_build_design_binomial_categorical_target_codes() -> None:
    design = build_design(TABLE, _spec(target="label", family="binomial", features=("sex",)))
    assert design.classes == ["no", "yes"]
    np.testing.assert_array_equal(design.y, [0, 1, 1, 0])
    assert design.y.dtype == np.int64


def test_build_design_numeric_integer_target_keeps_int_classes() -> None:
    table = parse_split_json(["x", "y"], [[1.0, 3], [2.0, 1], [3.0, 2], [4.0, 1]])
    design = build_design(table, DesignSpec("y", None, "multinomial"))
    assert design.classes == [1, 2, 3]
    assert all(type(c) is int for c in design.classes)
    np.testing.assert_array_equal(design.y, [2, 0, 1, 0])


def test_build_design_numeric_fractional_target_keeps_float_classes() -> None:
    table = parse_split_json(["x", "y"], [[1.0, 0.5], [2.0, 1.0], [3.0, 0.5]])
    design = build_design(table, DesignSpec("y", None, "binomial"))
    assert design.classes == [0.5, 1.0]
    np.testing.assert_array_equal(design.y, [0, 1, 0])


def _table(columns: list[str], rows: list[list[Any]]) -> Table:
    return parse_split_json(columns, rows)


@pytest.mark.parametrize(
    ("table", "spec", "error", "members"),
    [
        pytest.param(
            _table(["x", "y"], [[1.0, 1.0], [2.0, None]]),
            DesignSpec("y", None, "gaussian", MissingPolicy.MEAN),
            InvalidDataError,
            {"column": "y", "row": 2},
            id="missing-target",
        ),
        pytest.param(
            _table(["x", "y"], [[1.0, 1], [2.0, 1]]),
            DesignSpec("y", None, "binomial"),
            InvalidDataError,
            {"column": "y"},
            id="binomial-one-class",
        ),
        pytest.param(
            _table(["x", "y"], [[1.0, "a"], [2.0, "a"]]),
            DesignSpec("y", None, "multinomial"),
            InvalidDataError,
            {"column": "y"},
            id="multinomial-one-class",
        ),
        pytest.param(
            _table(["x", "w", "y"], [[1.0, 1.0, 1.0], [2.0, -1.0, 2.0]]),
            DesignSpec("y", ("x",), "gaussian", weights_column="w"),
            InvalidDataError,
            {"column": "w", "row": 2},
            id="negative-weight",
        ),
        pytest.param(
            _table(["x", "w", "y"], [[1.0, None, 1.0], [2.0, 1.0, 2.0]]),
            DesignSpec("y", ("x",), "gaussian", weights_column="w"),
            InvalidDataError,
            {"column": "w", "row": 1},
            id="missing-weight",
        ),
        pytest.param(
            _table(["x", "w", "y"], [[1.0, 0.0, 1.0], [2.0, 0.0, 2.0]]),
            DesignSpec("y", ("x",), "gaussian", weights_column="w"),
            InvalidDataError,
            {"column": "w"},
            id="zero-weight-sum",
        ),
        pytest.param(
            _table(["x", "f", "y"], [[1.0, 1, 1.0], [2.0, None, 2.0]]),
            DesignSpec("y", ("x",), "gaussian", fold_column="f"),
            InvalidDataError,
            {"column": "f", "row": 2},
            id="missing-fold",
        ),
        pytest.param(
            _table(["x", "f", "y"], [[1.0, 1, 1.0], [2.0, 1, 2.0]]),
            DesignSpec("y", ("x",), "gaussian", fold_column="f"),
            InvalidDataError,
            {"column": "f"},
            id="one-fold",
        ),
        pytest.param(
            _table(["x", "c", "y"], [[1.0, "a", 1.0], [2.0, None, 2.0]]),
            DesignSpec("y", None, "gaussian"),
            InvalidDataError,
            {"column": "c", "row": 2},
            id="missing-feature-error-policy",
        ),
        pytest.param(
            _table(["x", "z", "y"], [[None, 1.0, 1.0], [None, 2.0, 2.0]]),
            DesignSpec("y", None, "gaussian", MissingPolicy.MEAN),
            InvalidDataError,
            {"column": "x"},
            id="all-missing-numeric-mean-policy",
        ),
        pytest.param(
            Table((Column.categorical("c", [None, None]), Column.numeric("y", [1.0, 2.0])), 2),
            DesignSpec("y", None, "gaussian", MissingPolicy.MEAN),
            InvalidDataError,
            {},
            id="no-design-columns",
        ),
    ],
)
def test_build_design_rejects_unusable_data(
    table: Table, spec: DesignSpec, error: type[Exception], members: dict[str, Any]
) -> None:
    with pytest.raises(error) as info:
        build_design(table, spec)
    assert type(info.value) is error
    assert getattr(info.value, "extensions", None) == members


def test_build_design_binomial_with_three_numeric_classes_suggests_multinomial() -> None:
    table = _table(["x", "y"], [[1.0, 0], [2.0, 1], [3.0, 2]])
    with pytest.raises(ValidationError) as info:
        build_design(table, DesignSpec("y", None, "binomial"))
    assert [e["loc"] for e in info.value.extensions["errors"]] == [["body", "target"]]
    assert "multinomial" in info.value.detail


def test_build_design_spreads_constraints_over_level_columns() -> None:
    spec = _spec(
        missing=MissingPolicy.MEAN,
        penalty_factors={"sex": 0.0, "age": 2.0},
        bounds={"city": (None, 0.0), "age": (-1.0, 3.0)},
    )
    constraints = build_design(TABLE, spec).constraints
    # Design columns: age, sex=F, sex=M, city=Oslo, city=Rome.
    assert constraints.penalty_factors == (2.0, 0.0, 0.0, 1.0, 1.0)
    assert constraints.lower_bounds == (-1.0, -math.inf, -math.inf, -math.inf, -math.inf)
    assert constraints.upper_bounds == (3.0, math.inf, math.inf, 0.0, 0.0)
    assert constraints.column_features == (0, 1, 1, 2, 2)


def test_build_design_without_constraints_leaves_them_unset() -> None:
    spec = _spec(missing=MissingPolicy.MEAN, bounds={"sex": (None, None)}, penalty_factors={"age": 1.0})
    constraints = build_design(TABLE, spec).constraints
    assert constraints.penalty_factors is None
    assert constraints.lower_bounds is None and constraints.upper_bounds is None
    assert constraints.column_features == (0, 1, 1, 2, 2)


def test_design_spec_normalises_constraint_dicts() -> None:
    spec = _spec(penalty_factors={"age": 0.5}, bounds={"sex": [0.0, None]})
    assert spec.penalty_factors == (("age", 0.5),)
    assert spec.bounds == (("sex", (0.0, None)),)


def test_build_design_refuses_what_check_design_columns_refuses() -> None:
    with pytest.raises(ValidationError) as info:
        build_design(TABLE, _spec(features=("age", "nope")))
    assert [e["loc"] for e in info.value.extensions["errors"]] == [["body", "features", 1]]


SUMMARIES = [
    *column_summaries(TABLE),
    {"name": "tri", "kind": "categorical", "n_missing": 0, "levels": ["a", "b", "c"]},
    {"name": "mono", "kind": "categorical", "n_missing": 0, "levels": ["a"]},
]


@pytest.mark.parametrize(
    ("spec", "locs"),
    [
        pytest.param(_spec(target="nope"), [["body", "target"]], id="unknown-target"),
        pytest.param(
            _spec(target="sex", features=("age",)), [["body", "target"]], id="gaussian-categorical-target"
        ),
        pytest.param(
            _spec(target="tri", family="binomial"), [["body", "target"]], id="binomial-three-levels"
        ),
        pytest.param(_spec(target="mono", family="binomial"), [["body", "target"]], id="binomial-one-level"),
        pytest.param(_spec(family="poisson"), [["body", "family"]], id="unknown-family"),
        pytest.param(_spec(features=("age", "zzz")), [["body", "features", 1]], id="unknown-feature"),
        pytest.param(_spec(features=("y", "age")), [["body", "features", 0]], id="target-as-feature"),
        pytest.param(_spec(features=("age", "age")), [["body", "features", 1]], id="repeated-feature"),
        pytest.param(_spec(features=()), [["body", "features"]], id="empty-features"),
        pytest.param(_spec(weights_column="zzz"), [["body", "weights_column"]], id="unknown-weights"),
        pytest.param(
            _spec(weights_column="sex", features=("age",)),
            [["body", "weights_column"]],
            id="categorical-weights",
        ),
        pytest.param(_spec(fold_column="zzz"), [["body", "cv", "fold_column"]], id="unknown-fold"),
        pytest.param(
            _spec(features=("age", "w"), weights_column="w"),
            [["body", "features", 1]],
            id="weights-as-feature",
        ),
        pytest.param(
            _spec(penalty_factors={"y": 0.0}), [["body", "penalty_factors", "y"]], id="penalty-factor-target"
        ),
        pytest.param(
            _spec(bounds={"label": (0.0, None)}), [["body", "bounds", "label"]], id="bounds-not-a-feature"
        ),
        pytest.param(
            _spec(features=None, weights_column="w", penalty_factors={"w": 0.0}),
            [["body", "penalty_factors", "w"]],
            id="penalty-factor-weights",
        ),
        pytest.param(
            _spec(penalty_factors={"age": 1.0, "zzz": 1.0}),
            [["body", "penalty_factors", "zzz"]],
            id="penalty-factor-unknown-column",
        ),
        pytest.param(
            _spec(penalty_factors={"age": -1.0}), [["body", "penalty_factors", "age"]], id="negative-factor"
        ),
        pytest.param(
            _spec(penalty_factors={"age": math.nan}), [["body", "penalty_factors", "age"]], id="nan-factor"
        ),
        pytest.param(
            _spec(penalty_factors={"age": 1e-320}),
            [["body", "penalty_factors", "age"]],
            id="subnormal-factor",
        ),
        pytest.param(_spec(bounds={"age": (1.0, None)}), [["body", "bounds", "age"]], id="lower-above-zero"),
        pytest.param(_spec(bounds={"sex": (None, -1.0)}), [["body", "bounds", "sex"]], id="upper-below-zero"),
        pytest.param(
            _spec(bounds={"age": (-math.inf, None)}), [["body", "bounds", "age"]], id="infinite-bound"
        ),
        pytest.param(
            _spec(target="zzz", features=("age", "qqq"), weights_column="sex"),
            [["body", "target"], ["body", "weights_column"], ["body", "features", 1]],
            id="all-problems-at-once",
        ),
    ],
)
def test_check_design_columns_names_the_field(spec: DesignSpec, locs: list[list[Any]]) -> None:
    with pytest.raises(ValidationError) as info:
        check_design_columns(SUMMARIES, spec)
    errors = info.value.extensions["errors"]
    assert [e["loc"] for e in errors] == locs
    assert all(isinstance(e["msg"], str) and e["msg"] for e in errors)


def test_check_design_columns_no_features_left() -> None:
    summaries = [{"name": "y", "kind": "numeric", "n_missing": 0}]
    with pytest.raises(ValidationError) as info:
        check_design_columns(summaries, DesignSpec("y", None, "gaussian"))
    assert [e["loc"] for e in info.value.extensions["errors"]] == [["body", "features"]]


def test_check_design_columns_accepts_a_valid_spec() -> None:
    spec = _spec(target="label", family="binomial", weights_column="w", fold_column="fold", features=None)
    check_design_columns(SUMMARIES, spec)  # raises on any problem


def test_design_spec_normalises_lists_and_strings() -> None:
    spec = DesignSpec("y", ["a", "b"], "gaussian", "mean")  # type: ignore[arg-type]
    assert spec.features == ("a", "b")
    assert spec.missing is MissingPolicy.MEAN


def test_target_kind_of_family() -> None:
    assert TargetKind.of("gaussian") is TargetKind.REGRESSION
    assert TargetKind.of("multinomial") is TargetKind.CLASSIFICATION
    with pytest.raises(ValueError, match="poisson"):
        TargetKind.of("poisson")
