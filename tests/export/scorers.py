"""Scoring outside the service: exported ONNX models through onnxruntime, JSON documents by hand."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import onnxruntime as ort


def onnx_inputs(session: ort.InferenceSession, columns: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    """Each input's column, as an [N, 1] array: double for numeric (None -> NaN), else strings
    (None -> "", which is no training level)."""
    metadata = session.get_modelmeta().custom_metadata_map
    column_of = json.loads(metadata["sparsefit.inputs"])
    feeds = {}
    for item in session.get_inputs():
        values = columns[column_of[item.name]]
        if item.type == "tensor(double)":
            array = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
        else:
            array = np.array(["" if v is None else v for v in values], dtype=object)
        feeds[item.name] = array.reshape(-1, 1)
    return feeds


def run_onnx(model: bytes, columns: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, onnx_inputs(session, columns)), strict=True))


def score_document(document: dict[str, Any], row: dict[str, Any]) -> tuple[Any, list[float] | None]:
    """One row's prediction and probabilities from the scoring document alone, in plain Python."""
    eta = list(document["intercepts"])
    for feature in document["features"]:
        value = row.get(feature["name"])
        if feature["kind"] == "numeric":
            x = feature["impute"] if value is None else value
            eta = [e + c * x for e, c in zip(eta, feature["coefficients"], strict=True)]
        elif value in feature["levels"]:
            eta = [e + c for e, c in zip(eta, feature["levels"][value], strict=True)]
    link = document["link"]
    if link == "identity":
        return eta[0], None
    if link == "logit":
        probabilities = [1 / (1 + math.exp(eta[0])), 1 / (1 + math.exp(-eta[0]))]
        return document["classes"][int(eta[0] > 0)], probabilities
    top = max(eta)
    exps = [math.exp(e - top) for e in eta]
    probabilities = [e / sum(exps) for e in exps]
    return document["classes"][probabilities.index(max(probabilities))], probabilities


def relative_difference(got: Any, expected: Any) -> float:
    """max |got - expected| / |expected| (an exact zero expected must be matched exactly)."""
    a, b = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = np.abs(a - b)
    scale = np.abs(b)
    ratio = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0), np.where(diff > 0, np.inf, 0.0))
    return float(ratio.max(initial=0.0))
