"""The SVG plots of a model's coefficient path and CV curve: well-formed, complete, robust, deterministic."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris

from service.data.design import build_design
from service.data.parsing import parse_split_json
from service.data.spec import DesignSpec
from service.modeling import CVSpec, Family, FitSpec, PathSpec, fit_model
from service.plots import cv_svg, path_svg
from service.worker.artifact import ModelArtifact, describe_cv, describe_path

NS = "{http://www.w3.org/2000/svg}"
# Feature names that must be escaped, or are not ASCII, and still round-trip through the XML parser.
MARKUP = 'bmi <kg/m²> & "index"'
UNICODE = "s1 Ünïcødé ✓"
Doc = dict[str, Any]


def _artifact(columns: list[str], rows: list[list[Any]], family: Family, spec: FitSpec) -> ModelArtifact:
    design = build_design(parse_split_json(columns, rows), DesignSpec("y", None, str(family)))
    n_classes = None if design.classes is None else len(design.classes)
    outcome = fit_model(design.X, design.y, spec, n_classes=n_classes)
    return ModelArtifact("y", family, design.encoder, design.classes, outcome)


def _diabetes(spec: FitSpec) -> ModelArtifact:
    data = load_diabetes()
    names = [{"bmi": MARKUP, "s1": UNICODE}.get(n, n) for n in data.feature_names]
    rows = [[*map(float, x), float(y)] for x, y in zip(data.data, data.target, strict=True)]
    return _artifact([*names, "y"], rows, Family.GAUSSIAN, spec)


@pytest.fixture(scope="module")
def lasso() -> ModelArtifact:
    return _diabetes(FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=30), CVSpec(n_folds=5)))


@pytest.fixture(scope="module")
def elastic_net_cv() -> Doc:
    cv = CVSpec(n_folds=3, l1_ratios=(0.2, 0.5, 1.0))
    document = describe_cv(_diabetes(FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=15), cv)))
    assert document is not None
    return document


@pytest.fixture(scope="module")
def iris_path() -> tuple[Doc, list[Any]]:
    data = load_iris()
    species = [str(data.target_names[t]) for t in data.target]
    rows = [[*map(float, x), s] for x, s in zip(data.data, species, strict=True)]
    spec = FitSpec(Family.MULTINOMIAL, 1.0, None, PathSpec(n_alphas=8, alpha_min_ratio=0.01), None)
    artifact = _artifact([*data.feature_names, "y"], rows, Family.MULTINOMIAL, spec)
    assert artifact.classes is not None
    return describe_path(artifact), artifact.classes


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{NS}svg" and root.get("viewBox") == "0 0 720 440"
    return root


def _all(root: ET.Element, tag: str, cls: str | None = None) -> list[ET.Element]:
    return [e for e in root.iter(f"{NS}{tag}") if cls is None or e.get("class") == cls]


def _points(line: ET.Element) -> list[tuple[float, float]]:
    pairs = (p.split(",") for p in (line.get("points") or "").split())
    return [(float(x), float(y)) for x, y in pairs]


def _x(line: ET.Element) -> float:
    return float(line.get("x1") or "nan")


def _texts(root: ET.Element, cls: str | None) -> list[str]:
    return [e.text or "" for e in _all(root, "text", cls)]


def _cv_doc(alphas: list[float], mean: list[Any], se: list[Any], **extra: Any) -> Doc:
    doc = {"metric": "mse", "l1_ratio": 1.0, "alphas": alphas, "mean": mean, "se": se, "rule": "1se"}
    return {**doc, "alpha_min": alphas[-1], "alpha_1se": alphas[0], **extra}


# ---------------------------------------------------------------- real documents


def test_path_svg_draws_one_polyline_per_feature_over_every_alpha(lasso: ModelArtifact) -> None:
    path = describe_path(lasso)
    root = _parse(path_svg(path))
    assert root[0].tag == f"{NS}title" and root[0].text == "Coefficient path (l1_ratio = 1)"
    lines = _all(root, "polyline", "coef")
    # The <title> inside each line names its feature: escaped names come back intact from the parser.
    assert [line.findtext(f"{NS}title") for line in lines] == list(path["coefficients"])
    for line in lines:
        xs = [x for x, _ in _points(line)]
        assert len(xs) == len(path["alphas"])
        assert xs == sorted(xs)  # alphas decrease along the path and log10(alpha) decreases left to right
    labels = _texts(root, "label")
    assert MARKUP in labels and UNICODE in labels and len(labels) <= 20
    n_selected = _texts(root, "n-selected")
    assert n_selected[0] == "0" and {int(n) for n in n_selected} <= set(path["n_selected"])
    assert "log10(alpha)" in _texts(root, None)


def test_cv_svg_marks_alpha_min_and_alpha_1se_where_they_lie(lasso: ModelArtifact) -> None:
    cv = describe_cv(lasso)
    assert cv is not None and cv["alpha_1se"] > cv["alpha_min"]
    root = _parse(cv_svg(cv))
    [at_min], [at_1se] = _all(root, "line", "alpha-min"), _all(root, "line", "alpha-1se")
    assert _x(at_1se) < _x(at_min)  # the larger alpha sits further left
    assert at_min.get("stroke-dasharray") and at_1se.get("stroke-dasharray")
    # Both alphas are on the grid: each marker passes through the CV point of its alpha.
    [curve] = _all(root, "polyline", "cv-chosen")
    xs = [x for x, _ in _points(curve)]
    assert _x(at_min) == xs[cv["alphas"].index(cv["alpha_min"])]
    assert _x(at_1se) == xs[cv["alphas"].index(cv["alpha_1se"])]
    assert _texts(root, "alpha-1se-label")[0].endswith("(chosen)")
    assert _texts(root, "alpha-min-label")[0].startswith("alpha_min = ")
    assert len(_all(root, "circle", "cv-chosen-point")) == sum(m is not None for m in cv["mean"])
    assert len(_all(root, "line", "cv-se")) == sum(s is not None for s in cv["se"])
    assert any("mse" in (e.text or "") and "se" in (e.text or "") for e in _all(root, "text"))


def test_cv_svg_draws_every_l1_ratio_and_emphasises_the_chosen_one(elastic_net_cv: Doc) -> None:
    root = _parse(cv_svg(elastic_net_cv))
    chosen = elastic_net_cv["l1_ratio"]
    legend = _all(root, "text", "legend")
    assert len(legend) == len(elastic_net_cv["curves"]) == 3
    assert [e.text for e in legend if e.get("font-weight") == "bold"] == [f"{chosen:.3g} (chosen)"]
    [main] = _all(root, "polyline", "cv-chosen")
    others = _all(root, "polyline", "cv-other")
    assert len(others) == 2
    assert all(float(main.get("stroke-width") or 0) > float(o.get("stroke-width") or 0) for o in others)


def test_path_svg_multinomial_draws_a_line_per_feature_and_class(iris_path: tuple[Doc, list[Any]]) -> None:
    path, classes = iris_path
    root = _parse(path_svg(path, classes=classes))
    titles = [line.findtext(f"{NS}title") for line in _all(root, "polyline", "coef")]
    assert titles == [f"{name} [{c}]" for name in path["coefficients"] for c in classes]
    assert all(len(_points(line)) == len(path["alphas"]) for line in _all(root, "polyline", "coef"))
    unnamed = _parse(path_svg(path))
    assert unnamed.findtext(f"{NS}polyline/{NS}title", "").endswith("[class 0]")


def test_plots_are_deterministic(lasso: ModelArtifact, elastic_net_cv: Doc) -> None:
    path, cv = describe_path(lasso), describe_cv(lasso)
    assert cv is not None
    assert path_svg(path) == path_svg(dict(path))
    assert cv_svg(cv) == cv_svg(dict(cv)) and cv_svg(elastic_net_cv) == cv_svg(elastic_net_cv)


def test_numbers_have_a_bounded_number_of_digits(lasso: ModelArtifact) -> None:
    svg = path_svg(describe_path(lasso))
    numeric = ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height")
    for element in _parse(svg).iter():
        for name in numeric:
            if element.get(name) is not None:
                assert re.fullmatch(r"-?\d{1,4}(\.\d)?", element.get(name) or ""), (name, element.get(name))
        for x, y in _points(element) if element.tag == f"{NS}polyline" else []:
            assert -1 <= x <= 721 and -1 <= y <= 441
    assert len(svg) < 20_000


# ---------------------------------------------------------------- hand-made edge cases


def test_none_and_nan_points_are_skipped() -> None:
    alphas = [1.0, 0.5, 0.25, 0.125, 0.0625]
    cv = _cv_doc(alphas, [3.0, None, math.nan, 2.0, 2.5], [0.1, 0.2, None, None, math.inf])
    root = _parse(cv_svg(cv))
    assert len(_points(_all(root, "polyline", "cv-chosen")[0])) == 3
    assert len(_all(root, "circle", "cv-chosen-point")) == 3
    assert len(_all(root, "line", "cv-se")) == 1  # only 3.0 has both a mean and a finite se
    path = {"alphas": alphas, "coefficients": {"a": [0.0, math.nan, 1.0, None, 2.0], "b": [None] * 5}}
    [line] = _all(_parse(path_svg(path)), "polyline", "coef")  # "b" has nothing to draw
    assert len(_points(line)) == 3
    # Alphas in any order: the line still runs from the largest to the smallest, labelled at the end.
    path = {"alphas": [0.1, 1.0, 0.01], "coefficients": {"a": [1.0, 0.0, 2.0]}}
    root = _parse(path_svg(path))
    xs = [x for x, _ in _points(_all(root, "polyline", "coef")[0])]
    assert xs == sorted(xs) and _texts(root, "label") == ["a"]
    # A non-positive alpha has no place on a log axis: its points go too.
    path = {"alphas": [1.0, 0.0, -1.0, 0.5], "coefficients": {"a": [0.0, 1.0, 1.0, 1.0]}}
    assert len(_points(_all(_parse(path_svg(path)), "polyline", "coef")[0])) == 2


def test_a_single_alpha_draws_points() -> None:
    path = {"alphas": [0.05], "l1_ratio": 1.0, "n_selected": [1], "coefficients": {"a": [1.5], "b": [0.0]}}
    root = _parse(path_svg(path))
    assert [len(_points(line)) for line in _all(root, "polyline", "coef")] == [1, 1]
    assert len(_all(root, "circle")) == 2  # a one-point polyline is invisible
    assert _texts(root, "n-selected") == ["1"]
    root = _parse(cv_svg(_cv_doc([0.05], [10.0], [0.0])))
    assert _x(_all(root, "line", "alpha-min")[0]) == _x(_all(root, "line", "alpha-1se")[0])
    assert len(_all(root, "circle", "cv-chosen-point")) == 1


def _tick_values(root: ET.Element, cls: str) -> list[float]:
    return [float(t) for t in _texts(root, cls)]


def _is_nice(ticks: list[float]) -> bool:
    """Evenly spaced by 1, 2 or 5 times a power of ten."""
    steps = np.diff(ticks)
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    return bool(np.allclose(steps, steps[0])) and any(math.isclose(mantissa, m) for m in (1, 2, 5))


def test_constant_curve_and_all_zero_path_get_a_nonempty_axis() -> None:
    root = _parse(cv_svg(_cv_doc([1.0, 0.1, 0.01], [5.0, 5.0, 5.0], [0.0, 0.0, 0.0])))
    ticks = _tick_values(root, "y-tick")
    assert len(ticks) >= 3 and ticks[0] < 5.0 < ticks[-1] and _is_nice(ticks)
    path = {"alphas": [1.0, 0.1, 0.01], "coefficients": {"a": [0.0] * 3, "b": [0.0] * 3}}
    root = _parse(path_svg(path))
    assert len(_all(root, "polyline", "coef")) == 2 and not _texts(root, "label")
    assert _is_nice(_tick_values(root, "y-tick"))


@pytest.mark.parametrize("scale", [1e-12, 1e-3, 1.0, 1e6, 1e12, 1e250])
def test_ticks_are_nice_at_any_magnitude(scale: float) -> None:
    alphas = list(np.geomspace(scale, scale * 1e-3, 12))
    values = [scale * v for v in np.linspace(0.0, 3.7, 12)]
    root = _parse(path_svg({"alphas": alphas, "coefficients": {"a": values, "b": [-v / 3 for v in values]}}))
    y_ticks, x_ticks = _tick_values(root, "y-tick"), _tick_values(root, "x-tick")
    assert _is_nice(y_ticks) and _is_nice(x_ticks) and len(set(_texts(root, "y-tick"))) == len(y_ticks)
    assert y_ticks[0] <= -3.7 * scale / 3 and y_ticks[-1] >= 3.7 * scale
    assert all(len(t) <= 8 for t in _texts(root, "y-tick"))


def test_extreme_floats_do_not_break_the_scales() -> None:
    values = [5e-324, 1e308, -1.7e308, 1e-310, 0.0]
    alphas = [1e308, 1.0, 1e-300, 1e-310, 5e-324]  # the last two are zero to a plot: skipped
    root = _parse(path_svg({"alphas": alphas, "coefficients": {"a": values}}))
    assert len(_points(_all(root, "polyline", "coef")[0])) == 3
    assert _is_nice(_tick_values(root, "y-tick"))
    root = _parse(cv_svg(_cv_doc(alphas, values, [1e308, 1e308, 0.0, 0.0, 0.0])))
    assert len(_all(root, "circle", "cv-chosen-point")) == 3


def test_hundreds_of_features_keep_labels_capped() -> None:
    alphas = list(np.geomspace(1.0, 1e-3, 50))
    ramp = np.linspace(0.0, 1.0, 50)
    coefficients = {f"f{j:03d}": [float(v) for v in ramp * (j - 200)] for j in range(400)}
    svg = path_svg({"alphas": alphas, "coefficients": coefficients})
    root = _parse(svg)
    assert len(_all(root, "polyline", "coef")) == 400
    labels = _texts(root, "label")
    assert len(labels) == 20 and {"f000", "f399"} <= set(labels)  # the largest |coef| at the end
    assert any("20 largest" in t for t in _texts(root, None))
    assert len(svg) < 400 * (50 * 13 + 200) + 20_000  # linear: a dozen bytes a point


def test_names_and_titles_are_escaped_and_sanitised() -> None:
    names = ['<script>&"x"</script>', "naïve ✓ 日本", "nul\x00byte", "surrogate\ud800"]
    path = {"alphas": [1.0, 0.1], "coefficients": {n: [0.0, float(i + 1)] for i, n in enumerate(names)}}
    title = '<b>"T" & co</b>'
    svg = path_svg(path, title=title)
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    root = _parse(svg)
    assert root.findtext(f"{NS}title") == title
    titles = [line.findtext(f"{NS}title") for line in _all(root, "polyline", "coef")]
    # XML 1.0 cannot carry NUL or a lone surrogate: they become U+FFFD, the rest is kept.
    assert titles == [names[0], names[1], "nul\ufffdbyte", "surrogate\ufffd"]
    cv = _cv_doc([1.0, 0.1], [1.0, 2.0], [0.1, 0.1], metric='a<b & "c"')
    root = _parse(cv_svg(cv, title=title))
    assert root.findtext(f"{NS}title") == title
    assert any('a<b & "c"' in (e.text or "") for e in _all(root, "text"))


def test_empty_documents_still_render() -> None:
    for svg in (path_svg({}), cv_svg({}), path_svg({"alphas": [], "coefficients": {}})):
        root = _parse(svg)
        assert "no finite values to plot" in [e.text for e in _all(root, "text")]
    root = _parse(cv_svg(_cv_doc([1.0, 0.1], [None, None], [None, None])))
    assert not _all(root, "polyline") and _all(root, "line", "alpha-min")


# ---------------------------------------------------------------- wide paths


def _lasso_like(n_features: int, n_alphas: int, entries: dict[int, tuple[int, float]]) -> Doc:
    """Feature j is zero until alpha index entries[j][0], then grows to entries[j][1]; the rest stay zero."""
    alphas = [float(a) for a in np.geomspace(1.0, 1e-3, n_alphas)]
    coefficients: dict[str, list[float]] = {}
    for j in range(n_features):
        start, end = entries.get(j, (n_alphas, 0.0))
        steps = n_alphas - start  # nonzero from index `start` on: end/steps, 2 end/steps, ..., end
        coefficients[f"feature_{j:04d}"] = [0.0] * start + [end * (k + 1) / steps for k in range(steps)]
    n_selected = [sum(1 for s, _ in entries.values() if s <= i) for i in range(n_alphas)]
    return {"alphas": alphas, "l1_ratio": 1.0, "n_selected": n_selected, "coefficients": coefficients}


def _not_drawn(root: ET.Element) -> list[str]:
    return _texts(root, "not-drawn")


def test_path_svg_of_3000_features_draws_the_first_to_enter_and_counts_the_rest() -> None:
    # 300 features enter at staggered alphas (many at the same one), with various final sizes.
    entries = {j: (1 + (j * 7) % 97, float((j % 13 + 1) * (-1) ** j)) for j in range(300)}
    path = _lasso_like(3000, 100, entries)
    svg = path_svg(path)
    assert len(svg.encode()) < 300_000
    root = _parse(svg)
    # The rule, computed independently: earliest entry, then the larger |coefficient| at the end.
    expected = sorted(entries, key=lambda j: (entries[j][0], -abs(entries[j][1]), j))[:20]
    titles = [line.findtext(f"{NS}title") for line in _all(root, "polyline", "coef")]
    assert titles == [f"feature_{j:04d}" for j in sorted(expected)]
    assert sorted(_texts(root, "label")) == sorted(titles)  # every drawn line is labelled
    [note] = _not_drawn(root)
    assert note.startswith("+ 2,980 more features not drawn")
    assert _texts(root, "n-selected")[-1] == "300"  # the top axis still counts every feature


def test_path_svg_of_a_wide_ridge_path_draws_the_largest_at_the_end() -> None:
    # Every feature is nonzero from the first alpha: the tie goes to the largest |coefficient|.
    entries = {j: (0, float(j % 997) - 400.0) for j in range(1000)}
    root = _parse(path_svg(_lasso_like(1000, 100, entries)))
    expected = sorted(entries, key=lambda j: (-abs(entries[j][1]), j))[:20]
    titles = [line.findtext(f"{NS}title") for line in _all(root, "polyline", "coef")]
    assert titles == [f"feature_{j:04d}" for j in sorted(expected)]
    assert _not_drawn(root)[0].startswith("+ 980 more features not drawn")


def test_path_svg_of_a_wide_multinomial_path_draws_whole_features() -> None:
    alphas = [float(a) for a in np.geomspace(1.0, 1e-2, 60)]
    ramp = np.linspace(0.0, 1.0, 60)
    coefficients = {
        f"f{j}": [[float(v * (j % 7)), float(-v), 0.0] if j < 40 else [0.0, 0.0, 0.0] for v in ramp]
        for j in range(600)
    }
    svg = path_svg({"alphas": alphas, "coefficients": coefficients}, classes=["a", "b", "c"])
    assert len(svg.encode()) < 300_000
    root = _parse(svg)
    titles = [line.findtext(f"{NS}title") or "" for line in _all(root, "polyline", "coef")]
    # 20 lines at most, so 6 features of 3 classes each. All 40 nonzero ones enter at the second
    # alpha; the largest at the end are those with j % 7 == 6, then f5 is first of those with 5.
    assert len(titles) == 18 and {t.split(" [")[0] for t in titles} == {
        "f6",
        "f13",
        "f20",
        "f27",
        "f34",
        "f5",
    }
    assert _not_drawn(root)[0].startswith("+ 594 more features not drawn")


def test_path_svg_of_a_wide_all_zero_path_says_so() -> None:
    root = _parse(path_svg(_lasso_like(3000, 100, {})))
    assert not _all(root, "polyline", "coef")
    assert _not_drawn(root) == ["none of the 3,000 features is nonzero along the path"]


# ---------------------------------------------------------------- top axis and titles


def test_cv_svg_top_axis_counts_selected_features_above_the_ticks(lasso: ModelArtifact) -> None:
    cv, path = describe_cv(lasso), describe_path(lasso)
    assert cv is not None
    root = _parse(cv_svg(cv, path=path))
    ticks = {e.get("x"): float(e.text or "nan") for e in _all(root, "text", "x-tick")}
    counts = _all(root, "text", "n-selected")
    assert len(counts) >= 3
    logs = np.log10(path["alphas"])
    for count in counts:
        # Each count sits above a bottom-axis tick and is the path's count at the alpha nearest it.
        tick = ticks[count.get("x")]
        assert logs.min() - 1e-9 <= tick <= logs.max() + 1e-9
        assert int(count.text or "-1") == path["n_selected"][int(np.argmin(np.abs(logs - tick)))]
    # alpha decreases to the right, so a lasso path selects at least as many features there.
    shown = [int(c.text or "-1") for c in sorted(counts, key=lambda c: float(c.get("x") or "nan"))]
    assert shown == sorted(shown) and shown[-1] > shown[0]
    assert "n selected" in _texts(root, None)
    assert not _all(_parse(cv_svg(cv)), "text", "n-selected")  # no path, no top axis


def test_cv_svg_top_axis_of_a_path_between_two_ticks_labels_its_ends() -> None:
    cv = _cv_doc([1.0, 0.1, 0.01], [3.0, 2.0, 2.5], [0.1, 0.1, 0.1])
    root = _parse(cv_svg(cv, path={"alphas": [0.05, 0.04], "n_selected": [2, 3]}))
    assert sorted(_texts(root, "n-selected")) == ["2", "3"]


def test_plots_are_titled_with_the_model_name(lasso: ModelArtifact) -> None:
    cv, path = describe_cv(lasso), describe_path(lasso)
    assert cv is not None
    title = _parse(path_svg(path, model="diabetes lasso")).findtext(f"{NS}title")
    assert title == "diabetes lasso \u2014 Coefficient path (l1_ratio = 1)"
    title = _parse(cv_svg(cv, model="diabetes lasso")).findtext(f"{NS}title")
    assert title == "diabetes lasso \u2014 Cross-validation: mse (l1_ratio = 1)"
    long_name = "n" * 100
    title = _parse(cv_svg(cv, model=long_name)).findtext(f"{NS}title") or ""
    assert title.startswith("n" * 59 + "\u2026 \u2014 ") and long_name not in title
    assert _parse(cv_svg(cv, model="m", title="own")).findtext(f"{NS}title") == "own"
