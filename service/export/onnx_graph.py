"""The ONNX graph of a model: one input per original column, the encoding, one MatMul, the link."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

import service
from service.data.encoder import FeatureEncoding
from service.data.table import ColumnKind
from service.errors import ExportUnsupportedError
from service.export.terms import ExportTerms
from service.modeling import Family

# IR 8 with opset 18 (and ai.onnx.ml 3): onnxruntime supports them since 1.14 (the tests run 1.32),
# so older runtimes where models are shipped to still load the file. Opset 18 takes reduction axes
# as inputs.
IR_VERSION = 8
OPSET = 18
ML_OPSET = 3
OUTPUTS = ("predictions", "probabilities")
# One input per feature column: onnxruntime's time per call grows with the square of the inputs
# (measured, 100 rows: 1,000 columns 0.03 s, 10,000 2-2.7 s, 50,000 50-58 s), so wider models are
# refused; their JSON scoring document, which grows linearly, has no such limit.
ONNX_MAX_FEATURES = 10_000
# Internal tensor names carry a "/", which sanitized input names never contain: no clash possible.
_PREFIX = "sparsefit/"
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def input_names(columns: list[str]) -> list[str]:
    """An ONNX input name per column: the column name when it is an identifier (and not an output's
    name), else a sanitized one (other characters as ``_``, a ``_`` before a leading digit, then
    ``_2``, ``_3``... until it differs from every other input and output)."""
    kept = {c for c in columns if _IDENTIFIER.fullmatch(c) and c not in OUTPUTS}
    taken = set(OUTPUTS) | kept
    names = []
    for column in columns:
        if column in kept:
            names.append(column)
            continue
        base = _UNSAFE.sub("_", column) or "_"
        if base[0].isdigit():
            base = "_" + base
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names.append(name)
    return names


def onnx_model_bytes(terms: ExportTerms) -> bytes:
    """The serialized ONNX model of ``terms``, checked by onnx's checker."""
    if len(terms.features) > ONNX_MAX_FEATURES:
        raise ExportUnsupportedError(
            f"format: the model has {len(terms.features)} feature columns and ONNX export takes at most "
            f"{ONNX_MAX_FEATURES} (one input each); use format=json",
            errors=[
                {"loc": ["query", "format"], "msg": "too many feature columns", "type": "export_too_wide"}
            ],
        )
    # onnx takes 2 s to import: only an export pays for it, never the service's start-up.
    import onnx

    model = _model(terms)
    onnx.checker.check_model(model, full_check=True)
    data: bytes = model.SerializeToString()
    return data


def _model(terms: ExportTerms) -> Any:
    from onnx import helper

    graph = _Graph()
    names = input_names([f.name for f in terms.features])
    parts = [graph.feature(f, name, i) for i, (f, name) in enumerate(zip(terms.features, names, strict=True))]
    raw = graph.node("Concat", [p for p in parts if p is not None], "raw_design", axis=1)
    # One imputation for the whole design, not a node pair per column: with 10,000 columns that took
    # onnxruntime's session 13 s to load and 5.7 s to run one row, now 0.2 s and 2 s. The fill row
    # holds each numeric column's mean (NaN under missing: error: NaN flows through) and 0 for a dummy
    # column, which is never NaN.
    fill = graph.constant("fill", _fill_row(terms.features)[np.newaxis, :])
    missing = graph.node("IsNaN", [raw], "missing")
    design = graph.node("Where", [missing, fill, raw], "design")
    product = graph.node("MatMul", [design, graph.constant("coef", terms.coef)], "product")
    eta = graph.node("Add", [product, graph.constant("intercept", terms.intercept)], "eta")
    outputs = graph.link(terms, eta)
    onnx_graph = helper.make_graph(graph.nodes, "sparsefit", graph.inputs, outputs, graph.initializers)
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="sparsefit",
        producer_version=service.__version__,
        ir_version=IR_VERSION,
        doc_string=_doc(terms),
    )
    helper.set_model_props(model, _metadata(terms, names))
    return model


class _Graph:
    """Nodes, inputs and initializers as they are added; every internal name starts with _PREFIX."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inputs: list[Any] = []
        self.initializers: list[Any] = []

    def node(self, op: str, inputs: list[str], output: str, domain: str = "", **attrs: Any) -> str:
        from onnx import helper

        name = _PREFIX + output
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, domain=domain, **attrs))
        return name

    def constant(self, name: str, value: Any) -> str:
        from onnx import numpy_helper

        full = _PREFIX + name
        self.initializers.append(numpy_helper.from_array(np.asarray(value), full))
        return full

    def feature(self, feature: FeatureEncoding, name: str, i: int) -> str | None:
        """Add ``feature``'s input and encoding; its design columns (N, width), None for no columns."""
        from onnx import TensorProto, helper

        if feature.kind is ColumnKind.NUMERIC:
            self.inputs.append(helper.make_tensor_value_info(name, TensorProto.DOUBLE, ["N", 1]))
            return name
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.STRING, ["N", 1]))
        n_levels = len(feature.levels)
        if not n_levels:
            return None
        # Level i -> i; a missing ("") or unseen level -> the all-zero row after the identity,
        # as the service's encoder gives no dummy for it.
        codes = self.node(
            "CategoryMapper",
            [name],
            f"{i}/codes",
            domain="ai.onnx.ml",
            cats_strings=list(feature.levels),
            cats_int64s=list(range(n_levels)),
            default_int64=n_levels,
        )
        table = self.constant(f"{i}/dummies", np.vstack([np.eye(n_levels), np.zeros((1, n_levels))]))
        rows = self.node("Gather", [table, codes], f"{i}/gathered", axis=0)  # (N, 1, L)
        return self.node("Squeeze", [rows, self.constant(f"{i}/axis", np.array([1]))], f"{i}/dummy")

    def link(self, terms: ExportTerms, eta: str) -> list[Any]:
        """The output nodes: the linear predictor, or class probabilities and the most probable class."""
        from onnx import TensorProto, helper

        if terms.family == Family.GAUSSIAN:
            self.nodes.append(
                helper.make_node("Reshape", [eta, self.constant("flat", np.array([-1]))], [OUTPUTS[0]])
            )
            return [helper.make_tensor_value_info(OUTPUTS[0], TensorProto.DOUBLE, ["N"])]
        if terms.family == Family.BINOMIAL:
            # [0, eta]: the softmax of the two is the logistic, so one formula serves both families.
            zero = self.node("Sub", [eta, eta], "zero")
            eta = self.node("Concat", [zero, eta], "eta2", axis=1)
        log_p = self._log_softmax(eta)
        self.nodes.append(helper.make_node("Exp", [log_p], [OUTPUTS[1]], name=_PREFIX + "probabilities"))
        # The service takes argmax of the log-probabilities, ties to the first class: so does ArgMax.
        code = self.node("ArgMax", [log_p], "code", axis=1, keepdims=0, select_last_index=0)
        labels, dtype = _labels(terms.classes or [])
        classes = self.constant("classes", labels)
        self.nodes.append(helper.make_node("Gather", [classes, code], [OUTPUTS[0]], axis=0))
        k = len(labels)
        return [
            helper.make_tensor_value_info(OUTPUTS[0], dtype, ["N"]),
            helper.make_tensor_value_info(OUTPUTS[1], TensorProto.DOUBLE, ["N", k]),
        ]

    def _log_softmax(self, eta: str) -> str:
        """eta - (max + log(sum(exp(eta - max)))), row by row: the service's own formula, step by step."""
        axis = self.constant("reduce_axis", np.array([1]))
        top = self.node("ReduceMax", [eta, axis], "top", keepdims=1)
        exps = self.node("Exp", [self.node("Sub", [eta, top], "shifted")], "exps")
        total = self.node("ReduceSum", [exps, axis], "total", keepdims=1)
        lse = self.node("Add", [top, self.node("Log", [total], "log_total")], "logsumexp")
        return self.node("Sub", [eta, lse], "log_p")


def _fill_row(features: tuple[FeatureEncoding, ...]) -> Any:
    """What a NaN in each design column becomes: the training mean, NaN without one, 0 for a dummy."""
    values: list[float] = []
    for feature in features:
        if feature.kind is ColumnKind.NUMERIC:
            values.append(math.nan if feature.mean is None else feature.mean)
        else:
            values.extend([0.0] * len(feature.levels))
    return np.array(values, dtype=np.float64)


def _labels(classes: list[Any]) -> tuple[Any, int]:
    """The class labels as a tensor of the service's own label type, and that ONNX type."""
    from onnx import TensorProto

    if all(isinstance(c, str) for c in classes):
        return np.array(classes, dtype=object), TensorProto.STRING
    if all(isinstance(c, int) for c in classes):
        return np.array(classes, dtype=np.int64), TensorProto.INT64
    return np.array(classes, dtype=np.float64), TensorProto.DOUBLE


def _metadata(terms: ExportTerms, names: list[str]) -> dict[str, str]:
    return {
        "sparsefit.model_id": terms.model_id,
        "sparsefit.family": str(terms.family),
        "sparsefit.target": terms.target,
        "sparsefit.alpha": repr(terms.alpha),
        "sparsefit.missing": str(terms.missing),
        "sparsefit.classes": json.dumps(terms.classes),
        # input name -> original column, for names that had to be sanitized (and all others).
        "sparsefit.inputs": json.dumps(dict(zip(names, [f.name for f in terms.features], strict=True))),
    }


def _doc(terms: ExportTerms) -> str:
    missing = (
        "a NaN numeric input is replaced by the training mean"
        if str(terms.missing) == "mean"
        else "the model was fitted with missing: error, so a NaN numeric input gives NaN outputs"
    )
    return (
        f"Sparsefit model {terms.model_id} ({terms.family}) at alpha {terms.alpha!r}. One input per "
        "feature column, shape [N, 1]: double for numeric, string for categorical. "
        f"{missing}; a categorical value that is empty or not a training level adds nothing, as in "
        "the service. Inputs are named by column; sparsefit.inputs maps each input to its column."
    )
