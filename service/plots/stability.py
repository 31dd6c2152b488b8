"""The stability path plot: per feature its selection probability against log10(alpha), the threshold line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from service.plots.canvas import (
    BOX,
    MAX_LABELS,
    PALETTE,
    WIDTH,
    Attr,
    Box,
    Point,
    Scale,
    frame,
    no_data,
    scale,
    sig,
    svg_document,
    svg_element,
    svg_line,
    svg_polyline,
    svg_text,
    x_axis,
    y_axis,
)

# The path plot's label layout, so both plots label their lines the same way.
from service.plots.path import LABEL_CHARS, _short, _spread
from service.plots.values import as_list, finite, log_alphas

# Lines of features that are not stable are drawn grey, at most this many (those reaching the
# highest probability): a wide design would otherwise write thousands of near-zero lines.
MAX_OTHER_LINES = 200
STABLE_WIDTH = 1.8
OTHER_COLOR = "#bbbbbb"


def _points(xs: Sequence[float | None], values: Any) -> list[Point]:
    pairs = zip(xs, (finite(v) for v in as_list(values)), strict=False)
    return [(x, min(max(v, 0.0), 1.0)) for x, v in pairs if x is not None and v is not None]


def _lines(
    document: Mapping[str, Any], xs: Sequence[float | None]
) -> tuple[list[tuple[str, list[Point]]], int]:
    """(feature, points) of the features drawn, stable ones last (on top), and how many are left out."""
    paths = document.get("paths")
    if not isinstance(paths, Mapping):
        return [], 0
    stable = {str(s) for s in as_list(document.get("selected"))}
    series = [(str(name), _points(xs, values)) for name, values in paths.items()]
    series = [(name, points) for name, points in series if points]
    others = sorted((s for s in series if s[0] not in stable), key=lambda s: -max(v for _, v in s[1]))
    drawn_others = others[:MAX_OTHER_LINES]
    return [*reversed(drawn_others), *(s for s in series if s[0] in stable)], len(others) - len(drawn_others)


def _outside_region(document: Mapping[str, Any], xs: Sequence[float | None], x: Scale, box: Box) -> list[str]:
    """Shades the alphas past the region Lambda (where q exceeds its target), which the selection ignores."""
    used = finite(document.get("alphas_used"))
    if used is None or not 0 <= used < len(xs):
        return []
    kept = [v for v in xs[: int(used)] if v is not None]
    rest = [v for v in xs[int(used) :] if v is not None]
    if not rest:
        return []
    # Between the last alpha kept and the first one left out (the left edge when none is kept).
    edge = x((kept[-1] + rest[0]) / 2) if kept else box.left
    right = min(max(edge, box.left), box.right)
    attrs: dict[str, Attr] = {
        "x": right,
        "y": box.top,
        "width": box.right - right,
        "height": box.bottom - box.top,
    }
    note = "beyond the q target: not used"
    return [
        svg_element("rect", {**attrs, "fill": "#f3f3f3", "class": "outside-region"}),
        svg_text(box.right - 4, box.bottom - 6, note, text_anchor="end", font_size=9, fill="#888"),
    ]


def _threshold_line(document: Mapping[str, Any], y: Scale, box: Box) -> list[str]:
    threshold = finite(document.get("threshold"))
    if threshold is None or not 0 <= threshold <= 1:
        return []
    py = y(threshold)
    line = svg_line(box.left, py, box.right, py, "#d62728", stroke_dasharray="5 3", class_="threshold")
    label = f"threshold {sig(threshold)}"
    return [
        line,
        svg_text(box.left + 4, py - 4, label, font_size=10, fill="#d62728", class_="threshold-label"),
    ]


def _stable_marks(
    lines: Sequence[tuple[str, list[Point]]], stable: set[str], x: Scale, y: Scale, box: Box
) -> list[str]:
    """Coloured lines for the stable features, each labelled in the right margin at its last point."""
    chosen = [(name, points) for name, points in lines if name in stable]
    colors = {name: PALETTE[i % len(PALETTE)] for i, (name, _) in enumerate(chosen)}
    parts: list[str] = []
    for name, points in chosen:
        pixels = [(x(a), y(v)) for a, v in points]
        style: dict[str, Attr] = {"stroke": colors[name], "stroke-width": STABLE_WIDTH, "class": "stable"}
        parts.append(svg_polyline(pixels, style, tooltip=name))
    labelled = sorted(chosen[:MAX_LABELS], key=lambda s: y(s[1][-1][1]))
    baselines = _spread([y(points[-1][1]) + 3.5 for _, points in labelled], box.top + 8, box.bottom)
    for (name, points), baseline in zip(labelled, baselines, strict=True):
        end = (x(points[-1][0]), y(points[-1][1]))
        leader = [end, (box.right + 4, baseline - 3.5)]
        parts.append(svg_polyline(leader, {"stroke": colors[name], "stroke-width": 0.5, "class": "leader"}))
        text = _short(name, LABEL_CHARS)
        parts.append(svg_text(box.right + 6, baseline, text, fill=colors[name], font_size=10, class_="label"))
    return parts


def _other_marks(lines: Sequence[tuple[str, list[Point]]], stable: set[str], x: Scale, y: Scale) -> list[str]:
    style: dict[str, Attr] = {"stroke": OTHER_COLOR, "stroke-width": 0.8, "class": "unstable"}
    return [
        svg_polyline([(x(a), y(v)) for a, v in points], style, tooltip=name)
        for name, points in lines
        if name not in stable
    ]


def _caption(document: Mapping[str, Any], left_out: int) -> list[str]:
    stable = len(as_list(document.get("selected")))
    words = [f"{stable} stable"]
    for key, name in (("pfer_bound", "PFER bound"), ("q", "q")):
        value = finite(document.get(key))
        if value is not None:
            words.append(f"{name} {sig(value)}")
    if left_out:
        words.append(f"+ {left_out:,} more features not drawn")
    return [svg_text(WIDTH / 2, 38, ", ".join(words), text_anchor="middle", font_size=10, fill="#555")]


def _default_names(result: Any) -> list[str]:
    return [f"x{j}" for j in range(len(getattr(result, "max_probability", ())))]


class StabilitySummary(Protocol):
    """What ``StabilityResult`` offers the plot, named here so plots never import the numerics."""

    def document(self, feature_names: list[str]) -> dict[str, Any]: ...


def stability_svg(
    result: Mapping[str, Any] | StabilitySummary,
    feature_names: Sequence[str] | None = None,
    title: str | None = None,
) -> str:
    """The stability path: selection probability (0..1) per feature against log10(alpha), decreasing
    left to right as in the path plot; the stable features coloured and labelled, the others grey
    (the MAX_OTHER_LINES highest), the threshold as a dashed line, the alphas past the region
    the selection uses shaded.

    ``result`` is a StabilityResult (with ``feature_names``, default ``x0``, ``x1``, ...) or its
    stored summary, ``StabilityResult.document(feature_names)``: ``alphas``, ``paths`` {feature:
    [probability per alpha]}, ``selected``, ``threshold``, ``alphas_used``, ``pfer_bound``, ``q``.
    Untrusted values in a summary (missing, non-finite) are skipped.
    """
    if isinstance(result, Mapping):
        document = result
    else:
        names = list(feature_names) if feature_names is not None else None
        document = result.document(names if names is not None else _default_names(result))
    xs = log_alphas(document.get("alphas"))
    lines, left_out = _lines(document, xs)
    # Paths the summary itself left out (a wide design) are not drawn either.
    left_out += max(0, int(finite(document.get("paths_left_out")) or 0))
    stable = {str(s) for s in as_list(document.get("selected"))}
    x = scale([v for v in xs if v is not None], BOX.right, BOX.left, snap=False)
    y = scale([0.0, 1.0], BOX.bottom, BOX.top, snap=True)
    body = [*_outside_region(document, xs, x, BOX), *x_axis(x, BOX), *y_axis(y, BOX, "selection probability")]
    body += [*_threshold_line(document, y, BOX), frame(BOX)]
    body += _other_marks(lines, stable, x, y) + _stable_marks(lines, stable, x, y, BOX)
    body += _caption(document, left_out)
    if not lines:
        body += no_data(BOX)
    heading = "Stability path" if title is None else title
    return svg_document(heading, body)
