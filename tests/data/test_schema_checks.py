"""Tests of DatasetSchema and check_fit_data: what the stored schema decides, and that build_design agrees."""

from __future__ import annotations

from typing import Any

import pytest

from service.data.checks import check_design_columns
from service.data.design import DesignSpec, MissingPolicy, build_design
from service.data.limits import check_feature_levels
from service.data.parsing import parse_split_json
from service.data.schema import DatasetSchema
from service.data.schema_checks import check_design_names, check_fit_data
from service.data.table import Column, Table
from service.data.tableio import column_summaries
from service.errors import InvalidDataError, TooManyLevelsError, ValidationError

COLUMNS = ["age", "sex", "city", "w", "fold", "y", "label", "empty", "nothing"]
TABLE = parse_split_json(
    COLUMNS,
    [
        [30.0, "F", "Oslo", 1.0, "a", 1.5, "no", None, None],
        [None, "M", "Rome", 2.0, "a", None, "no", None, None],
        [50.0, "F", None, None, "a", 3.5, "no", None, None],
        [40.0, "M", "Oslo", 1.0, "a", 4.5, "no", None, None],
    ],
)


def _schema(table: Table = TABLE) -> DatasetSchema:
    return DatasetSchema.of(column_summaries(table), table.n_rows)


def _spec(**kwargs: Any) -> DesignSpec:
    defaults: dict[str, Any] = {"target": "label", "features": ("sex",), "family": "multinomial"}
    return DesignSpec(**{**defaults, **kwargs})


def test_dataset_schema_indexes_missing_and_categorical_columns() -> None:
    schema = _schema()
    assert schema.names == tuple(COLUMNS) and schema.n_rows == 4
    assert schema.with_missing == ("age", "city", "w", "y", "empty", "nothing")
    assert schema.categorical == ("sex", "city", "fold", "label")
    assert schema.levels["city"] == ("Oslo", "Rome") and schema.missing("city") == 1
    assert schema.all_missing("empty") and not schema.all_missing("age")
    assert "age" in schema and "nope" not in schema


# Each refused spec with the member `column` its problem names (None: no column to name).
REFUSED: dict[str, tuple[DesignSpec, str | None]] = {
    "missing target value": (_spec(target="y", family="gaussian"), "y"),
    "one class in a categorical target": (_spec(), "label"),
    "missing weight": (_spec(target="sex", family="binomial", features=("label",), weights_column="w"), "w"),
    "one level in a categorical fold column": (
        _spec(target="sex", family="binomial", features=("label",), fold_column="fold"),
        "fold",
    ),
    "missing feature value under missing error": (
        _spec(target="sex", family="binomial", features=("label", "city", "age")),
        "city",
    ),
    "numeric feature with no value under missing mean": (
        _spec(target="sex", family="binomial", features=("label", "empty"), missing=MissingPolicy.MEAN),
        "empty",
    ),
}


@pytest.mark.parametrize("name", list(REFUSED))
def test_check_fit_data_refuses_what_build_design_refuses(name: str) -> None:
    spec, column = REFUSED[name]
    schema = _schema()
    check_design_columns(schema, spec)  # the spec itself is sound: only the data is at fault
    with pytest.raises(InvalidDataError) as from_schema:
        check_fit_data(schema, spec)
    assert from_schema.value.extensions.get("column") == column
    # The job's process refuses the same spec on the values, with the same problem type.
    with pytest.raises(InvalidDataError):
        build_design(TABLE, spec)


def test_check_fit_data_names_the_first_feature_in_request_order() -> None:
    spec = _spec(target="sex", family="binomial", features=("age", "city"))
    with pytest.raises(InvalidDataError) as info:
        check_fit_data(_schema(), spec)
    assert info.value.extensions == {"column": "age", "n_missing": 1}


def test_check_fit_data_refuses_one_row_and_no_design_columns() -> None:
    one_row = parse_split_json(["x", "y"], [[1.0, 2.0]])
    with pytest.raises(InvalidDataError):
        check_fit_data(_schema(one_row), DesignSpec("y", None, "gaussian"))
    # A categorical column with no value (a Parquet string column of nulls) has no level, so under
    # missing: mean it gives no design column; as the only feature, the fit has nothing to use.
    blank = Table((Column.categorical("g", [None, None]), Column.numeric("y", [1.0, 2.0])), 2)
    spec = DesignSpec("y", None, "gaussian", missing=MissingPolicy.MEAN)
    with pytest.raises(InvalidDataError):
        check_fit_data(_schema(blank), spec)
    with pytest.raises(InvalidDataError):
        build_design(blank, spec)


def test_check_fit_data_accepts_what_build_design_accepts() -> None:
    specs = [
        _spec(target="sex", family="binomial", features=("label", "city", "age"), missing=MissingPolicy.MEAN),
        _spec(target="sex", family="binomial", features=("city",), missing=MissingPolicy.MEAN),
    ]
    for spec in specs:
        check_fit_data(_schema(), spec)  # raises on any problem
        assert build_design(TABLE, spec).X.shape[0] == 4


def _wide(p: int, missing_at: int | None = None, levels_at: int | None = None) -> DatasetSchema:
    columns: list[dict[str, Any]] = [{"name": f"x{j}", "kind": "numeric", "n_missing": 0} for j in range(p)]
    if missing_at is not None:
        columns[missing_at]["n_missing"] = 3
    if levels_at is not None:
        columns[levels_at] = {
            "name": f"x{levels_at}",
            "kind": "categorical",
            "n_missing": 0,
            "levels": ["a", "b", "c"],
        }
    return DatasetSchema.of(columns, 50)


def test_wide_schema_with_defaulted_features_finds_the_one_bad_column() -> None:
    # 100,000 numeric columns, as a sparse dataset records them: the checks walk the few columns
    # with missing values or levels, and still find the one that is at fault.
    p = 100_000
    spec = DesignSpec("x0", None, "gaussian", penalty_factors={f"x{p - 1}": 0.0}, bounds={"x5": (0.0, None)})
    clean = _wide(p)
    check_design_columns(clean, spec)
    check_feature_levels(clean, spec, max_levels=2)
    check_fit_data(clean, spec)
    with pytest.raises(InvalidDataError) as missing:
        check_fit_data(_wide(p, missing_at=p - 2), spec)
    assert missing.value.extensions["column"] == f"x{p - 2}"
    with pytest.raises(TooManyLevelsError) as levels:
        check_feature_levels(_wide(p, levels_at=p - 3), spec, max_levels=2)
    assert levels.value.extensions["column"] == f"x{p - 3}"
    assert levels.value.extensions["errors"][0]["loc"] == ["body", "features"]
    # The target's own missing values are the target's problem, not a feature's.
    with pytest.raises(InvalidDataError) as target:
        check_fit_data(_wide(p, missing_at=0), spec)
    assert target.value.extensions["column"] == "x0"


def test_wide_schema_refuses_a_constraint_on_no_column_and_on_the_target() -> None:
    spec = DesignSpec("x0", None, "gaussian", penalty_factors={"x0": 0.0}, bounds={"nope": (None, 0.0)})
    with pytest.raises(ValidationError) as info:
        check_design_columns(_wide(1000), spec)
    locs = [e["loc"] for e in info.value.extensions["errors"]]
    assert locs == [["body", "penalty_factors", "x0"], ["body", "bounds", "nope"]]


def test_check_feature_levels_points_into_the_feature_list() -> None:
    spec = DesignSpec("x0", ("x1", "x7"), "gaussian")
    with pytest.raises(TooManyLevelsError) as info:
        check_feature_levels(_wide(10, levels_at=7), spec, max_levels=2)
    assert info.value.extensions["errors"][0]["loc"] == ["body", "features", 1]


CLASH = parse_split_json(
    ["g=a", "g", "h", "h=b", "y"],
    [[1.0, "a", "b=c", "c", 1.0], [2.0, "b", "x", "d", 2.0], [3.0, "a", "x", "c", 2.5]],
)


@pytest.mark.parametrize(
    ("features", "design_column", "columns"),
    [
        (None, "g=a", ["g=a", "g"]),  # numeric g=a beside categorical g with level a
        (("g", "g=a"), "g=a", ["g=a", "g"]),
        (("h", "h=b"), "h=b=c", ["h", "h=b"]),  # h's level b=c and h=b's level c
    ],
)
def test_check_design_names_refuses_two_features_giving_one_design_column(
    features: tuple[str, ...] | None, design_column: str, columns: list[str]
) -> None:
    spec = DesignSpec("y", features, "gaussian")
    with pytest.raises(InvalidDataError) as refused:
        check_design_names(_schema(CLASH), spec)
    assert refused.value.extensions == {"design_column": design_column, "columns": columns}
    # build_design, in the job's process, refuses the same features the same way.
    with pytest.raises(InvalidDataError) as built:
        build_design(CLASH, spec)
    assert built.value.extensions["design_column"] == design_column


@pytest.mark.parametrize("features", [("g",), ("g=a",), ("g=a", "h"), ("h",), ("h=b", "g")])
def test_check_design_names_accepts_features_without_a_clash(features: tuple[str, ...]) -> None:
    spec = DesignSpec("y", features, "gaussian")
    check_design_names(_schema(CLASH), spec)
    assert len(set(build_design(CLASH, spec).encoder.design_columns)) > 0
