"""The ONNX graph on hand-made terms: label types, input names, edge encodings, the width limit."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import onnx
import pytest

from service.data.encoder import FeatureEncoding
from service.data.spec import MissingPolicy
from service.data.table import ColumnKind
from service.errors import ExportUnsupportedError
from service.export import onnx_graph
from service.export.onnx_graph import input_names, onnx_model_bytes
from service.export.terms import ExportTerms
from service.modeling import Family, predict_linear
from tests.export.scorers import relative_difference, run_onnx

NUMERIC, CATEGORICAL = ColumnKind.NUMERIC, ColumnKind.CATEGORICAL


def _terms(features: tuple[FeatureEncoding, ...], family: Family, classes: list[Any] | None) -> ExportTerms:
    rng = np.random.default_rng(0)
    p = sum(len(f.design_columns) for f in features)
    width = len(classes or []) if family == Family.MULTINOMIAL else 1
    return ExportTerms(
        model_id="m",
        name=None,
        target="y",
        family=family,
        missing=MissingPolicy.MEAN,
        features=features,
        classes=classes,
        alpha=0.1,
        l1_ratio=1.0,
        intercept=rng.standard_normal(width),
        coef=rng.standard_normal((p, width)),
    )


def test_input_names_sanitized_unique_and_clear_of_outputs() -> None:
    columns = ["bmi", "dose (mg)", "dose_mg_", "dose [mg]", "2nd", "predictions", "", "é"]
    assert input_names(columns) == [
        "bmi",
        "dose__mg_",
        "dose_mg_",
        "dose__mg__2",
        "_2nd",
        "predictions_2",
        "_",
        "__2",
    ]
    # An identifier keeps its name even when a sanitized name before it would have taken it.
    assert input_names(["a b", "a_b", "3"]) == ["a_b_2", "a_b", "_3"]


@pytest.mark.parametrize(
    ("classes", "elem_type"),
    [
        ([0.5, 1.5], onnx.TensorProto.DOUBLE),
        ([0, 7], onnx.TensorProto.INT64),
        (["a", "b"], onnx.TensorProto.STRING),
    ],
    ids=["float", "int", "string"],
)
def test_binomial_labels_keep_the_service_label_type(classes: list[Any], elem_type: int) -> None:
    features = (FeatureEncoding("x", NUMERIC, mean=2.0), FeatureEncoding("g", CATEGORICAL, ("u", "v")))
    terms = _terms(features, Family.BINOMIAL, classes)
    model = onnx_model_bytes(terms)
    assert onnx.load_from_string(model).graph.output[0].type.tensor_type.elem_type == elem_type
    x = [-3.0, None, 0.5, 4.0]
    g = ["u", "v", None, "w"]
    outputs = run_onnx(model, {"x": x, "g": g})
    # The service's own arithmetic on the design it would build: imputed x, dummies, unseen -> zeros.
    design = np.array([[-3.0, 1, 0], [2.0, 0, 1], [0.5, 0, 0], [4.0, 0, 0]])
    expected = predict_linear(design, terms.intercept, terms.coef, Family.BINOMIAL)
    assert outputs["predictions"].tolist() == [classes[int(code)] for code in expected.values]
    assert relative_difference(outputs["probabilities"], expected.probabilities) <= 1e-12


def test_categorical_without_levels_is_an_unused_input() -> None:
    # A categorical column missing in every training row (missing: mean) gives no design column.
    features = (FeatureEncoding("x", NUMERIC, mean=0.0), FeatureEncoding("empty", CATEGORICAL, ()))
    terms = _terms(features, Family.GAUSSIAN, None)
    model = onnx_model_bytes(terms)
    outputs = run_onnx(model, {"x": [1.0, 2.0], "empty": ["a", None]})
    expected = terms.intercept[0] + terms.coef[0, 0] * np.array([1.0, 2.0])
    assert relative_difference(outputs["predictions"], expected) <= 1e-12
    metadata = {p.key: p.value for p in onnx.load_from_string(model).metadata_props}
    assert json.loads(metadata["sparsefit.inputs"]) == {"x": "x", "empty": "empty"}


def test_too_many_features_is_export_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_graph, "ONNX_MAX_FEATURES", 2)
    features = tuple(FeatureEncoding(f"x{j}", NUMERIC) for j in range(3))
    with pytest.raises(ExportUnsupportedError) as raised:
        onnx_model_bytes(_terms(features, Family.GAUSSIAN, None))
    assert raised.value.extensions["errors"][0]["loc"] == ["query", "format"]
