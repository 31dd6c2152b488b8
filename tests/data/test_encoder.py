"""Tests of the design encoder: column matching by name, unseen levels, imputation, persistence."""

import pickle

import numpy as np
import pytest

from service.data.encoder import DesignEncoder, FeatureEncoding, format_number
from service.data.parsing import parse_split_json
from service.data.spec import MissingPolicy
from service.data.table import ColumnKind
from service.errors import FeatureMismatchError, InvalidDataError

TRAIN = parse_split_json(
    ["x", "color", "z"],
    [[1.0, "red", 10.0], [None, "blue", 20.0], [3.0, "red", 30.0], [5.0, None, 40.0]],
)


def _encoder(missing: MissingPolicy = MissingPolicy.MEAN) -> DesignEncoder:
    return DesignEncoder.learn(TRAIN, ["x", "color"], missing)


def test_encoder_learns_levels_means_and_names() -> None:
    encoder = _encoder()
    assert encoder.features == (
        FeatureEncoding("x", ColumnKind.NUMERIC, (), 3.0),
        FeatureEncoding("color", ColumnKind.CATEGORICAL, ("blue", "red"), None),
    )
    assert encoder.feature_names == ["x", "color"]
    assert encoder.design_columns == ["x", "color=blue", "color=red"]
    assert encoder.groups == ["x", "color", "color"]


def test_encoder_transform_training_table_exact_and_fortran() -> None:
    X = _encoder().transform(TRAIN)
    expected = [[1.0, 0, 1], [3.0, 1, 0], [3.0, 0, 1], [5.0, 0, 0]]
    np.testing.assert_array_equal(X, expected)
    assert X.dtype == np.float64
    assert X.flags.f_contiguous


def test_encoder_transform_matches_columns_by_name_ignoring_extras() -> None:
    reordered = parse_split_json(
        ["extra", "color", "x"],
        [["?", "red", 1.0], ["?", "blue", None], ["?", "red", 3.0], ["?", None, 5.0]],
    )
    np.testing.assert_array_equal(_encoder().transform(reordered), _encoder().transform(TRAIN))


def test_encoder_transform_missing_column_lists_expected_and_got() -> None:
    with pytest.raises(FeatureMismatchError) as info:
        _encoder().transform(parse_split_json(["x", "other"], [[1.0, "a"]]))
    assert info.value.extensions == {"expected": ["x", "color"], "got": ["x", "other"], "missing": ["color"]}


def test_encoder_transform_unseen_level_gives_zero_dummies() -> None:
    X = _encoder().transform(parse_split_json(["x", "color"], [[2.0, "green"], [2.0, "red"]]))
    np.testing.assert_array_equal(X, [[2.0, 0, 0], [2.0, 0, 1]])


def test_encoder_transform_missing_values_under_error_policy_name_column_and_row() -> None:
    encoder = DesignEncoder.learn(TRAIN, ["z"], MissingPolicy.ERROR)
    with pytest.raises(InvalidDataError) as info:
        encoder.transform(parse_split_json(["z"], [[1.0], [2.0], [None]]))
    assert info.value.extensions == {"column": "z", "row": 3}
    categorical = DesignEncoder((FeatureEncoding("c", ColumnKind.CATEGORICAL, ("a",)),), MissingPolicy.ERROR)
    with pytest.raises(InvalidDataError) as info:
        categorical.transform(parse_split_json(["c"], [[None], ["a"]]))
    assert info.value.extensions == {"column": "c", "row": 1}


def test_encoder_transform_accepts_numbers_given_as_text() -> None:
    X = _encoder().transform(parse_split_json(["x", "color"], [["2.5", "red"], [None, "blue"]]))
    np.testing.assert_array_equal(X, [[2.5, 0, 1], [3.0, 1, 0]])


@pytest.mark.parametrize("text", ["abc", "inf", "nan"])
def test_encoder_transform_rejects_text_that_is_no_finite_number(text: str) -> None:
    with pytest.raises(InvalidDataError) as info:
        _encoder().transform(parse_split_json(["x", "color"], [["1", "red"], [text, "red"]]))
    assert info.value.extensions == {"column": "x", "row": 2}


def test_encoder_transform_matches_categorical_given_as_numbers() -> None:
    train = parse_split_json(["code"], [["1"], ["2"], ["2.5"], ["x"]])
    encoder = DesignEncoder.learn(train, ["code"], MissingPolicy.MEAN)
    X = encoder.transform(parse_split_json(["code"], [[2], [2.5], [1.0], [None]]))
    assert encoder.design_columns == ["code=1", "code=2", "code=2.5", "code=x"]
    np.testing.assert_array_equal(X, [[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]])


def test_encoder_learn_rejects_all_missing_numeric_under_mean() -> None:
    table = parse_split_json(["x", "y"], [[None, 1.0], [None, 2.0]])
    with pytest.raises(InvalidDataError) as info:
        DesignEncoder.learn(table, ["x"], MissingPolicy.MEAN)
    assert info.value.extensions == {"column": "x"}


def test_encoder_selected_groups_in_feature_order() -> None:
    encoder = _encoder()
    assert encoder.selected_groups(np.array([False, False, True])) == ["color"]
    assert encoder.selected_groups(np.array([True, True, False])) == ["x", "color"]
    assert encoder.selected_groups(np.zeros(3, dtype=bool)) == []
    with pytest.raises(ValueError, match="one per design column"):
        encoder.selected_groups(np.ones((2, 3), dtype=bool))


def test_encoder_survives_pickle_and_dict_round_trips() -> None:
    encoder = _encoder()
    assert pickle.loads(pickle.dumps(encoder)) == encoder
    assert DesignEncoder.from_dict(encoder.to_dict()) == encoder


@pytest.mark.parametrize(
    ("value", "text"), [(3.0, "3"), (-2.0, "-2"), (2.5, "2.5"), (0.1, "0.1"), (1e20, "1e+20")]
)
def test_format_number_drops_integer_point_zero(value: float, text: str) -> None:
    assert format_number(value) == text


def test_encoder_refuses_features_that_give_one_design_column_twice() -> None:
    table = parse_split_json(["g=a", "g"], [[1.0, "a"], [2.0, "b"]])
    with pytest.raises(InvalidDataError) as refused:
        DesignEncoder.learn(table, ["g=a", "g"], MissingPolicy.ERROR)
    assert refused.value.extensions == {"design_column": "g=a", "columns": ["g=a", "g"]}
    assert DesignEncoder.learn(table, ["g"], MissingPolicy.ERROR).design_columns == ["g=a", "g=b"]
