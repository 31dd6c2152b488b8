"""The coefficient path plot: one line per feature (and class) against log10(alpha), labelled at the end."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.plots.canvas import (
    BOX,
    HEIGHT,
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
    zero_line,
)
from service.plots.values import as_list, finite, log_alphas

LABEL_CHARS = 24  # what fits in the right margin at font-size 10
LABEL_GAP = 11.0  # px between label baselines
DASHES = ("", "6 3", "2 2", "8 3 2 3", "1 3")  # one per class of a multinomial path


@dataclass(frozen=True)
class _Series:
    """One line of a plot: finite points only, in data units (log10 alpha, value)."""

    name: str
    suffix: str  # " [class]" for a multinomial path
    color: str
    dash: str
    points: tuple[Point, ...]


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _points(xs: Sequence[float | None], ys: Iterable[Any]) -> tuple[Point, ...]:
    """The finite points, largest alpha first (the API's order), so the last one is where labels go."""
    pairs = zip(xs, (finite(y) for y in ys), strict=False)
    return tuple(sorted(((x, y) for x, y in pairs if x is not None and y is not None), key=lambda p: -p[0]))


def _class_values(rows: list[Any], k: int) -> list[Any]:
    return [row[k] if isinstance(row, list | tuple) and len(row) > k else None for row in rows]


def _path_series(
    coefficients: Any, xs: Sequence[float | None], classes: Sequence[object] | None
) -> list[_Series]:
    """One series per feature, or per (feature, class) when values are per-class lists."""
    items = list(coefficients.items()) if isinstance(coefficients, Mapping) else []
    series: list[_Series] = []
    for j, (name, values) in enumerate(items):
        rows, color = as_list(values), PALETTE[j % len(PALETTE)]
        widths = [len(r) for r in rows if isinstance(r, list | tuple)]
        if not widths:
            series.append(_Series(str(name), "", color, "", _points(xs, rows)))
            continue
        for k in range(max(widths)):
            label = classes[k] if classes is not None and k < len(classes) else f"class {k}"
            points = _points(xs, _class_values(rows, k))
            series.append(_Series(str(name), f" [{label}]", color, DASHES[k % len(DASHES)], points))
    return series


def _spread(ys: Sequence[float], top: float, bottom: float) -> list[float]:
    """Label baselines in the same order as `ys` (sorted), at least LABEL_GAP apart, kept in [top, bottom]."""
    placed: list[float] = []
    for y in ys:
        placed.append(max(y, placed[-1] + LABEL_GAP) if placed else max(y, top))
    # Pushed past the bottom: slide back up from the last one; the cap on labels guarantees room.
    limit = bottom
    for i in range(len(placed) - 1, -1, -1):
        placed[i] = min(placed[i], limit)
        limit = placed[i] - LABEL_GAP
    return placed


def _ranked(series: Sequence[_Series]) -> list[_Series]:
    """Series by decreasing |value| at the smallest alpha (where labels sit); never-nonzero ones drop out."""
    ranked = [
        (-abs(s.points[-1][1]), -max(abs(v) for _, v in s.points), i, s)
        for i, s in enumerate(series)
        if s.points and any(v != 0 for _, v in s.points)
    ]
    ranked.sort(key=lambda r: r[:3])
    return [r[3] for r in ranked]


def _end_labels(series: Sequence[_Series], x: Scale, y: Scale, box: Box) -> list[str]:
    ranked = _ranked(series)
    chosen = sorted(ranked[:MAX_LABELS], key=lambda s: y(s.points[-1][1]))
    baselines = _spread([y(s.points[-1][1]) + 3.5 for s in chosen], box.top + 8, box.bottom)
    parts: list[str] = []
    for s, baseline in zip(chosen, baselines, strict=True):
        end = (x(s.points[-1][0]), y(s.points[-1][1]))
        leader = [end, (box.right + 4, baseline - 3.5)]
        parts.append(svg_polyline(leader, {"stroke": s.color, "stroke-width": 0.5, "class": "leader"}))
        # Shorten the feature name, not the class: "[virgi…" would not say which class.
        label = _short(s.name, max(8, LABEL_CHARS - len(s.suffix))) + _short(s.suffix, 12)
        parts.append(svg_text(box.right + 6, baseline, label, fill=s.color, font_size=10, class_="label"))
    if len(ranked) > len(chosen):
        note = f"labels: the {len(chosen)} largest |coef| of {len(ranked)} nonzero lines"
        parts.append(svg_text(WIDTH - 4, HEIGHT - 12, note, text_anchor="end", font_size=9, fill="#666"))
    return parts


def _series_lines(series: Sequence[_Series], x: Scale, y: Scale) -> list[str]:
    parts: list[str] = []
    for s in series:
        if not s.points:
            continue
        pixels = [(x(a), y(v)) for a, v in s.points]
        style: dict[str, Attr] = {"stroke": s.color, "stroke-width": 1.2, "class": "coef"}
        if s.dash:
            style["stroke-dasharray"] = s.dash
        # <title> inside the line: a hover tooltip, and the feature name for anyone reading the file.
        parts.append(svg_polyline(pixels, style, tooltip=s.name + s.suffix))
        if len(pixels) == 1:  # a one-point polyline draws nothing
            parts.append(
                svg_element("circle", {"cx": pixels[0][0], "cy": pixels[0][1], "r": 2.5, "fill": s.color})
            )
    return parts


def _top_axis(n_selected: Any, xs: Sequence[float | None], x: Scale, box: Box) -> list[str]:
    """glmnet's top axis: the number of selected features at a few alphas along the path."""
    marks = [
        (lx, n)
        for lx, n in zip(xs, as_list(n_selected), strict=False)
        if lx is not None and finite(n) is not None
    ]
    if not marks:
        return []
    picks = sorted({round(k * (len(marks) - 1) / 5) for k in range(6)})
    parts = [svg_text(box.right + 6, box.top - 6, "n selected", font_size=10, fill="#666")]
    for i in picks:
        px, count = x(marks[i][0]), str(int(marks[i][1]))
        parts.append(svg_line(px, box.top - 4, px, box.top, "#444"))
        parts.append(
            svg_text(px, box.top - 6, count, text_anchor="middle", font_size=10, class_="n-selected")
        )
    return parts


def _path_title(path: Mapping[str, Any]) -> str:
    l1_ratio = finite(path.get("l1_ratio"))
    return "Coefficient path" + ("" if l1_ratio is None else f" (l1_ratio = {sig(l1_ratio)})")


def path_svg(
    path: Mapping[str, Any], *, title: str | None = None, classes: Sequence[object] | None = None
) -> str:
    """The coefficient path: log10(alpha) decreasing left to right (glmnet's direction), one line per series.

    ``path`` is the API's path document (``describe_path``). Multinomial values (a list per class) give
    one line per (feature, class): the feature sets the colour, the class the dash pattern; ``classes``
    names the classes in the labels (default ``class 0``, ``class 1``, ...).
    """
    xs = log_alphas(path.get("alphas"))
    series = _path_series(path.get("coefficients"), xs, classes)
    x = scale([v for v in xs if v is not None], BOX.right, BOX.left, snap=False)
    # 0 is where every lasso path starts, so it is always in view.
    y = scale([0.0, *(v for s in series for _, v in s.points)], BOX.bottom, BOX.top, snap=True)
    body = [*x_axis(x, BOX), *y_axis(y, BOX, "coefficient"), *zero_line(y, BOX), frame(BOX)]
    body += _top_axis(path.get("n_selected"), xs, x, BOX)
    body += _series_lines(series, x, y) + _end_labels(series, x, y, BOX)
    if not any(s.points for s in series):
        body += no_data(BOX)
    return svg_document(_path_title(path) if title is None else title, body)
