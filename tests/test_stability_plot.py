"""The stability path plot: well-formed SVG, stable features coloured and labelled, threshold, region."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from service.modeling import Family, FitSpec, PathSpec
from service.modeling.stats.stability import StabilityResult, stability_selection
from service.plots.canvas import BOX
from service.plots.stability import MAX_OTHER_LINES, stability_svg

NS = "{http://www.w3.org/2000/svg}"
Doc = dict[str, Any]


@pytest.fixture(scope="module")
def diabetes() -> tuple[StabilityResult, list[str]]:
    data = load_diabetes()
    spec = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=30), None)
    result = stability_selection(
        np.asfortranarray(data.data), data.target, spec, n_pairs=10, pfer=2.0, seed=0
    )
    return result, list(data.feature_names)


@pytest.fixture(scope="module")
def diabetes_doc(diabetes: tuple[StabilityResult, list[str]]) -> Doc:
    result, names = diabetes
    return result.document(names)


def _tree(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode())


def _by_class(root: ET.Element, tag: str, name: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{NS}{tag}") if e.get("class") == name]


def _doc(paths: dict[str, list[float]], selected: list[str], used: int | None = None) -> Doc:
    alphas = [10.0 / 2**i for i in range(len(next(iter(paths.values()), [])))]
    return {
        "alphas": alphas,
        "paths": paths,
        "selected": selected,
        "threshold": 0.7,
        "alphas_used": len(alphas) if used is None else used,
        "pfer_bound": 0.5,
        "q": 2.0,
    }


def test_stability_svg_colours_and_labels_the_stable_features(diabetes_doc: Doc) -> None:
    root = _tree(stability_svg(diabetes_doc, title="diabetes"))
    stable = _by_class(root, "polyline", "stable")
    assert sorted(line.findtext(f"{NS}title") or "" for line in stable) == sorted(diabetes_doc["selected"])
    labels = [t.text for t in _by_class(root, "text", "label")]
    assert sorted(labels) == sorted(diabetes_doc["selected"])
    # Every other feature that was ever selected is a grey line.
    others = _by_class(root, "polyline", "unstable")
    assert len(others) == len(diabetes_doc["paths"]) - len(stable)
    assert root.findtext(f"{NS}title") == "diabetes"


def test_stability_svg_threshold_line_sits_at_its_probability() -> None:
    root = _tree(stability_svg(_doc({"a": [0.0, 0.5, 1.0], "b": [0.0, 0.1, 0.2]}, ["a"])))
    (line,) = _by_class(root, "line", "threshold")
    y = float(line.get("y1", "nan"))
    assert line.get("y1") == line.get("y2")
    # The probability axis runs 0..1 from the bottom of the frame to its top.
    assert (BOX.bottom - y) / (BOX.bottom - BOX.top) == pytest.approx(0.7, abs=1e-3)


def test_stability_svg_shades_the_alphas_beyond_the_region_only_when_there_are_some() -> None:
    paths = {"a": [0.0, 0.5, 1.0, 1.0], "b": [0.0, 0.1, 0.2, 0.6]}
    shaded = _tree(stability_svg(_doc(paths, ["a"], used=2)))
    (rect,) = _by_class(shaded, "rect", "outside-region")
    assert float(rect.get("x", "nan")) + float(rect.get("width", "nan")) == pytest.approx(BOX.right)
    assert BOX.left < float(rect.get("x", "nan")) < BOX.right
    assert not _by_class(_tree(stability_svg(_doc(paths, ["a"]))), "rect", "outside-region")


def test_stability_svg_caps_the_grey_lines_and_says_how_many_are_left_out() -> None:
    paths = {f"f{j}": [0.0, j / 2000, j / 1000] for j in range(MAX_OTHER_LINES + 50)}
    svg = stability_svg(_doc(paths, []))
    root = _tree(svg)
    drawn = _by_class(root, "polyline", "unstable")
    assert len(drawn) == MAX_OTHER_LINES
    # The ones drawn reach the highest probabilities.
    assert {line.findtext(f"{NS}title") for line in drawn} == {
        f"f{j}" for j in range(50, MAX_OTHER_LINES + 50)
    }
    assert "+ 50 more features not drawn" in svg


def test_stability_svg_escapes_names_and_survives_bad_values() -> None:
    name = 'bmi <kg/m²> & "index"'
    doc = _doc({name: [0.0, float("nan"), 1.0], "x": [None, "a", 0.3]}, [name])  # type: ignore[list-item]
    root = _tree(stability_svg(doc))
    assert [t.text for t in _by_class(root, "text", "label")] == [name]


def test_stability_svg_of_an_empty_document_renders() -> None:
    root = _tree(stability_svg({}))
    assert any(t.text == "no finite values to plot" for t in root.iter(f"{NS}text"))


def test_stability_svg_is_deterministic(diabetes_doc: Doc) -> None:
    assert stability_svg(diabetes_doc) == stability_svg(diabetes_doc)


def test_stability_svg_draws_a_result_as_its_stored_summary(
    diabetes: tuple[StabilityResult, list[str]],
) -> None:
    result, names = diabetes
    assert stability_svg(result, names, "t") == stability_svg(result.document(names), title="t")
    # Without names the features are x0, x1, ...: the stable ones here are bmi (2) and s5 (8).
    root = _tree(stability_svg(result))
    assert sorted(t.text or "" for t in _by_class(root, "text", "label")) == [
        f"x{j}" for j in result.selected
    ]
