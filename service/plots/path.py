"""The coefficient path plot: one line per feature (and class) against log10(alpha), labelled at the end."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, cast

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
    titled,
    x_axis,
    y_axis,
    zero_line,
)
from service.plots.values import as_list, finite, log_alphas

# A path plot stays under this size. Every line is drawn while they all fit; past it (thousands of
# features, or hundreds over many alphas), only the WIDE_LINES series of the features that enter the
# path first are, each labelled, and a note says how many features are not drawn.
MAX_BYTES = 300_000
WIDE_LINES = MAX_LABELS
_MIN_POINT_BYTES = 6  # "72,56 ": no point prints shorter, so more points than MAX_BYTES / 6 never fit
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


def _items(coefficients: Any) -> list[tuple[str, list[Any]]]:
    """``(feature, values)`` of the path document's coefficients, in document order."""
    if not isinstance(coefficients, Mapping):
        return []
    # No copy of a list: a wide path document holds millions of values.
    return [
        (str(name), values if isinstance(values, list) else as_list(values))
        for name, values in coefficients.items()
    ]


def _path_series(
    items: Sequence[tuple[str, list[Any]]], xs: Sequence[float | None], classes: Sequence[object] | None
) -> list[_Series]:
    """One series per feature, or per (feature, class) when values are per-class lists."""
    series: list[_Series] = []
    for j, (name, values) in enumerate(items):
        rows, color = values, PALETTE[j % len(PALETTE)]
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


def _size(value: Any) -> float:
    """|value|, the largest over the classes of a per-class list; 0 for anything but a finite number."""
    if isinstance(value, list | tuple):
        return max((_size(v) for v in value), default=0.0)
    number = finite(value)
    return 0.0 if number is None else abs(number)


def _entry(xs: Sequence[float | None], values: Sequence[Any], ordered: bool) -> tuple[float, float] | None:
    """(log10 alpha where a feature is first nonzero, its |value| at the smallest alpha); None if never.

    ``ordered``: every alpha is valid and they decrease, as in the API's documents, so the first
    nonzero value is the entry and the last one is at the smallest alpha.
    """
    if not any(values):  # all zero or missing, most features of a wide lasso path: no walk
        return None
    if ordered and len(values) == len(xs):
        first = next((i for i, value in enumerate(values) if _size(value)), None)
        return None if first is None else (cast(float, xs[first]), _size(values[-1]))
    entry: float | None = None
    smallest, at_smallest = math.inf, 0.0
    for x, value in zip(xs, values, strict=False):
        if x is None:
            continue
        size = _size(value)
        if size and (entry is None or x > entry):
            entry = x
        if x < smallest:
            smallest, at_smallest = x, size
    return None if entry is None else (entry, at_smallest)


def _first_to_enter(items: Sequence[tuple[str, list[Any]]], xs: Sequence[float | None]) -> list[int]:
    """Which features a wide plot draws, in document order: those that enter the path first.

    A feature enters at the largest alpha where it is nonzero (any class for multinomial); ties,
    such as every feature of a ridge path, go to the larger |coefficient| at the smallest alpha, then
    to document order. Features never nonzero are not drawn. As many as make WIDE_LINES lines.
    """
    width = max((len(r) for _, rows in items[:1] for r in rows if isinstance(r, list | tuple)), default=1)
    ordered = all(a is not None and b is not None and a > b for a, b in pairwise(xs)) and None not in xs
    keys = ((_entry(xs, values, ordered), i) for i, (_, values) in enumerate(items))
    ranked = sorted((-entry[0], -entry[1], i) for entry, i in keys if entry is not None)
    return sorted(i for *_, i in ranked[: max(1, WIDE_LINES // width)])


def _not_drawn_note(drawn: int, total: int) -> str:
    if drawn:
        shown = f"drawn: the {drawn} that enter the path first"
        text = f"+ {total - drawn:,} more features not drawn ({shown})"
    else:
        text = f"none of the {total:,} features is nonzero along the path"
    return svg_text(WIDTH / 2, 38, text, text_anchor="middle", font_size=10, fill="#555", class_="not-drawn")


def _drawing(
    path: Mapping[str, Any],
    items: Sequence[tuple[str, list[Any]]],
    classes: Sequence[object] | None,
    title: str,
    total: int | None = None,
) -> str:
    """The plot of the features ``items``; ``total`` is the number of features when some are left out."""
    xs = log_alphas(path.get("alphas"))
    series = _path_series(items, xs, classes)
    x = scale([v for v in xs if v is not None], BOX.right, BOX.left, snap=False)
    # 0 is where every lasso path starts, so it is always in view.
    y = scale([0.0, *(v for s in series for _, v in s.points)], BOX.bottom, BOX.top, snap=True)
    body = [*x_axis(x, BOX), *y_axis(y, BOX, "coefficient"), *zero_line(y, BOX), frame(BOX)]
    body += _top_axis(path.get("n_selected"), xs, x, BOX)
    body += _series_lines(series, x, y) + _end_labels(series, x, y, BOX)
    if total is not None:
        body.append(_not_drawn_note(len(items), total))
    elif not any(s.points for s in series):
        body += no_data(BOX)
    return svg_document(title, body)


def path_svg(
    path: Mapping[str, Any],
    *,
    title: str | None = None,
    model: str | None = None,
    classes: Sequence[object] | None = None,
) -> str:
    """The coefficient path: log10(alpha) decreasing left to right (glmnet's direction), one line per series.

    ``path`` is the API's path document (``describe_path``). Multinomial values (a list per class) give
    one line per (feature, class): the feature sets the colour, the class the dash pattern; ``classes``
    names the classes in the labels (default ``class 0``, ``class 1``, ...). Every feature is drawn
    while the document stays within MAX_BYTES; beyond, the features that enter the path first (see
    :func:`_first_to_enter`), and a note says how many more there are. ``model`` (its name) heads the
    default title; ``title`` replaces the title whole.
    """
    heading = titled(model, _path_title(path)) if title is None else title
    items = _items(path.get("coefficients"))
    if sum(len(values) for _, values in items) * _MIN_POINT_BYTES <= MAX_BYTES:
        svg = _drawing(path, items, classes, heading)
        if len(svg.encode()) <= MAX_BYTES:
            return svg
    xs = log_alphas(path.get("alphas"))
    drawn = [items[i] for i in _first_to_enter(items, xs)]
    return _drawing(path, drawn, classes, heading, total=len(items))
