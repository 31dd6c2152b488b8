"""SVG 1.1 renderings (stdlib only) of a model's coefficient path and its cross-validation curve."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 720, 440
MAX_LABELS = 20  # end-of-line labels; more would overlap in 330 px of height
LABEL_CHARS = 24  # what fits in the right margin at font-size 10
LABEL_GAP = 11.0  # px between label baselines
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
)
CHOSEN = "#d62728"  # glmnet's red CV points; kept out of PALETTE so the chosen curve stands out
DASHES = ("", "6 3", "2 2", "8 3 2 3", "1 3")  # one per class of a multinomial path
# Clamping keeps hi - lo finite, so no scale or tick computation can overflow to inf.
LIMIT = 1e300
# XML 1.0 forbids most control characters and lone surrogates; escaping cannot fix them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Attr = str | int | float
Point = tuple[float, float]


@dataclass(frozen=True)
class _Box:
    """The plot area in SVG user units."""

    left: float
    top: float
    right: float
    bottom: float


BOX = _Box(72.0, 56.0, 560.0, 388.0)


@dataclass(frozen=True)
class _Scale:
    """A linear map from data [lo, hi] onto pixels [start, end]; either may run backwards."""

    lo: float
    hi: float
    start: float
    end: float
    ticks: tuple[float, ...]
    step: float

    def __call__(self, value: float) -> float:
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)


@dataclass(frozen=True)
class _Series:
    """One line of a plot: finite points only, in data units (log10 alpha, value)."""

    name: str
    suffix: str  # " [class]" for a multinomial path
    color: str
    dash: str
    points: tuple[Point, ...]


@dataclass(frozen=True)
class _Curve:
    """One CV curve: (log10 alpha, mean, se or None) for each alpha whose mean is finite."""

    l1_ratio: float | None
    points: tuple[tuple[float, float, float | None], ...]


# ---------------------------------------------------------------- formatting and XML


def _num(value: float) -> str:
    """A coordinate with one decimal: a tenth of a pixel is invisible and keeps files small."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def _sig(value: float) -> str:
    return f"{value:.3g}"


def _safe(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _el(tag: str, attrs: Mapping[str, Attr], text: str | None = None, *, inner: str = "") -> str:
    """An element; `text` is escaped here, `inner` is markup already built by this function."""
    rendered = "".join(
        f" {k}={quoteattr(_safe(v) if isinstance(v, str) else _num(float(v)))}" for k, v in attrs.items()
    )
    if text is None and not inner:
        return f"<{tag}{rendered}/>"
    return f"<{tag}{rendered}>{inner}{'' if text is None else escape(_safe(text))}</{tag}>"


def _kw(extra: Mapping[str, Attr]) -> dict[str, Attr]:
    """Keyword arguments as SVG attribute names: `class_` -> `class`, `font_size` -> `font-size`."""
    return {k.rstrip("_").replace("_", "-"): v for k, v in extra.items()}


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, **extra: Attr) -> str:
    return _el("line", {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": stroke, **_kw(extra)})


def _text(x: float, y: float, content: str, **extra: Attr) -> str:
    return _el("text", {"x": x, "y": y, **_kw(extra)}, content)


def _document(title: str, body: Iterable[str]) -> str:
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">'
    )
    background = _el("rect", {"width": WIDTH, "height": HEIGHT, "fill": "#ffffff"})
    heading = _text(WIDTH / 2, 22, title, text_anchor="middle", font_size=14)
    return "\n".join([head, _el("title", {}, title), background, heading, *body, "</svg>"]) + "\n"


def _polyline(points: Iterable[Point], attrs: Mapping[str, Attr], *, tooltip: str | None = None) -> str:
    coords = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
    inner = "" if tooltip is None else _el("title", {}, tooltip)
    return _el("polyline", {"points": coords, "fill": "none", **attrs}, inner=inner)


# ---------------------------------------------------------------- input cleaning


def _finite(value: Any) -> float | None:
    # bool is an int to Python but never a number in these documents.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    if not math.isfinite(number):
        return None
    # Below 1e-300 is zero for a plot, and keeps every step and span a normal float (log10 of 0 fails).
    return 0.0 if abs(number) < 1e-300 else max(-LIMIT, min(LIMIT, number))


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _log_alphas(values: Any) -> list[float | None]:
    """log10 of each alpha; a missing or non-positive alpha has no position."""
    logs: list[float | None] = []
    for value in _list(values):
        alpha = _finite(value)
        logs.append(math.log10(alpha) if alpha is not None and alpha > 0 else None)
    return logs


def _log_alpha(value: Any) -> float | None:
    return _log_alphas([value])[0]


def _points(xs: Sequence[float | None], ys: Iterable[Any]) -> tuple[Point, ...]:
    """The finite points, largest alpha first (the API's order), so the last one is where labels go."""
    pairs = zip(xs, (_finite(y) for y in ys), strict=False)
    return tuple(sorted(((x, y) for x, y in pairs if x is not None and y is not None), key=lambda p: -p[0]))


# ---------------------------------------------------------------- scales and axes


def _extent(values: Iterable[float]) -> tuple[float, float]:
    """The data interval, widened when it is empty or (numerically) a single value."""
    finite = list(values)
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    # Spans below float resolution would give ticks that print as the same number.
    if hi - lo <= 1e-9 * max(abs(lo), abs(hi)):
        half = abs(hi + lo) / 2 * 0.1 or 1.0
        return (lo + hi) / 2 - half, (lo + hi) / 2 + half
    return lo, hi


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next((m * magnitude for m in (1.0, 2.0, 5.0) if m * magnitude >= raw * (1 - 1e-9)), 10 * magnitude)


def _ticks(lo: float, hi: float, step: float) -> tuple[float, ...]:
    first = math.ceil(lo / step - 1e-9)
    last = min(math.floor(hi / step + 1e-9), first + 50)
    return tuple(k * step + 0.0 for k in range(first, last + 1))


def _scale(values: Iterable[float], start: float, end: float, *, snap: bool) -> _Scale:
    """Nice 1-2-5 ticks; `snap` widens the interval to whole steps, otherwise it gets a 3% margin."""
    lo, hi = _extent(values)
    step = _nice_step(hi - lo)
    if snap:
        lo, hi = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    else:
        margin = (hi - lo) * 0.03
        lo, hi = lo - margin, hi + margin
    return _Scale(lo, hi, start, end, _ticks(lo, hi, step), step)


def _tick_label(value: float, step: float) -> str:
    """As many digits as the step needs; scientific notation beyond 1e6 or below 1e-4."""
    step_exp = math.floor(math.log10(step))
    biggest = max(abs(value), step)
    if step_exp >= -4 and biggest < 1e6:
        return f"{value:.{max(0, -step_exp)}f}"
    if value == 0:
        return "0"
    digits = max(1, min(15, math.floor(math.log10(biggest)) - step_exp + 1))
    return f"{value:.{digits - 1}e}"


def _x_axis(x: _Scale, box: _Box) -> list[str]:
    parts = [_text((box.left + box.right) / 2, HEIGHT - 12, "log10(alpha)", text_anchor="middle")]
    for tick in x.ticks:
        px, label = x(tick), _tick_label(tick, x.step)
        parts.append(_line(px, box.top, px, box.bottom, "#eeeeee"))
        parts.append(_line(px, box.bottom, px, box.bottom + 4, "#444"))
        parts.append(_text(px, box.bottom + 16, label, text_anchor="middle", class_="x-tick"))
    return parts


def _y_axis(y: _Scale, box: _Box, caption: str) -> list[str]:
    middle = (box.top + box.bottom) / 2
    rotate = f"rotate(-90 {_num(16)} {_num(middle)})"
    parts = [_text(16, middle, caption, text_anchor="middle", transform=rotate)]
    for tick in y.ticks:
        py, label = y(tick), _tick_label(tick, y.step)
        parts.append(_line(box.left, py, box.right, py, "#eeeeee"))
        parts.append(_line(box.left - 4, py, box.left, py, "#444"))
        parts.append(_text(box.left - 6, py + 4, label, text_anchor="end", class_="y-tick"))
    return parts


def _frame(box: _Box) -> str:
    size = {"width": box.right - box.left, "height": box.bottom - box.top}
    return _el("rect", {"x": box.left, "y": box.top, **size, "fill": "none", "stroke": "#444"})


def _zero_line(y: _Scale, box: _Box) -> list[str]:
    if not y.lo < 0 < y.hi:
        return []
    return [_line(box.left, y(0.0), box.right, y(0.0), "#999", stroke_dasharray="2 2")]


def _no_data(box: _Box) -> list[str]:
    x, y = (box.left + box.right) / 2, (box.top + box.bottom) / 2
    return [_text(x, y, "no finite values to plot", text_anchor="middle", fill="#999")]


# ---------------------------------------------------------------- coefficient path


def _class_values(rows: list[Any], k: int) -> list[Any]:
    return [row[k] if isinstance(row, list | tuple) and len(row) > k else None for row in rows]


def _path_series(
    coefficients: Any, xs: Sequence[float | None], classes: Sequence[object] | None
) -> list[_Series]:
    """One series per feature, or per (feature, class) when values are per-class lists."""
    items = list(coefficients.items()) if isinstance(coefficients, Mapping) else []
    series: list[_Series] = []
    for j, (name, values) in enumerate(items):
        rows, color = _list(values), PALETTE[j % len(PALETTE)]
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


def _end_labels(series: Sequence[_Series], x: _Scale, y: _Scale, box: _Box) -> list[str]:
    ranked = _ranked(series)
    chosen = sorted(ranked[:MAX_LABELS], key=lambda s: y(s.points[-1][1]))
    baselines = _spread([y(s.points[-1][1]) + 3.5 for s in chosen], box.top + 8, box.bottom)
    parts: list[str] = []
    for s, baseline in zip(chosen, baselines, strict=True):
        end = (x(s.points[-1][0]), y(s.points[-1][1]))
        leader = [end, (box.right + 4, baseline - 3.5)]
        parts.append(_polyline(leader, {"stroke": s.color, "stroke-width": 0.5, "class": "leader"}))
        # Shorten the feature name, not the class: "[virgi…" would not say which class.
        label = _short(s.name, max(8, LABEL_CHARS - len(s.suffix))) + _short(s.suffix, 12)
        parts.append(_text(box.right + 6, baseline, label, fill=s.color, font_size=10, class_="label"))
    if len(ranked) > len(chosen):
        note = f"labels: the {len(chosen)} largest |coef| of {len(ranked)} nonzero lines"
        parts.append(_text(WIDTH - 4, HEIGHT - 12, note, text_anchor="end", font_size=9, fill="#666"))
    return parts


def _series_lines(series: Sequence[_Series], x: _Scale, y: _Scale) -> list[str]:
    parts: list[str] = []
    for s in series:
        if not s.points:
            continue
        pixels = [(x(a), y(v)) for a, v in s.points]
        style: dict[str, Attr] = {"stroke": s.color, "stroke-width": 1.2, "class": "coef"}
        if s.dash:
            style["stroke-dasharray"] = s.dash
        # <title> inside the line: a hover tooltip, and the feature name for anyone reading the file.
        parts.append(_polyline(pixels, style, tooltip=s.name + s.suffix))
        if len(pixels) == 1:  # a one-point polyline draws nothing
            parts.append(_el("circle", {"cx": pixels[0][0], "cy": pixels[0][1], "r": 2.5, "fill": s.color}))
    return parts


def _top_axis(n_selected: Any, xs: Sequence[float | None], x: _Scale, box: _Box) -> list[str]:
    """glmnet's top axis: the number of selected features at a few alphas along the path."""
    marks = [
        (lx, n)
        for lx, n in zip(xs, _list(n_selected), strict=False)
        if lx is not None and _finite(n) is not None
    ]
    if not marks:
        return []
    picks = sorted({round(k * (len(marks) - 1) / 5) for k in range(6)})
    parts = [_text(box.right + 6, box.top - 6, "n selected", font_size=10, fill="#666")]
    for i in picks:
        px, count = x(marks[i][0]), str(int(marks[i][1]))
        parts.append(_line(px, box.top - 4, px, box.top, "#444"))
        parts.append(_text(px, box.top - 6, count, text_anchor="middle", font_size=10, class_="n-selected"))
    return parts


def _path_title(path: Mapping[str, Any]) -> str:
    l1_ratio = _finite(path.get("l1_ratio"))
    return "Coefficient path" + ("" if l1_ratio is None else f" (l1_ratio = {_sig(l1_ratio)})")


def path_svg(
    path: Mapping[str, Any], *, title: str | None = None, classes: Sequence[object] | None = None
) -> str:
    """The coefficient path: log10(alpha) decreasing left to right (glmnet's direction), one line per series.

    ``path`` is the API's path document (``describe_path``). Multinomial values (a list per class) give
    one line per (feature, class): the feature sets the colour, the class the dash pattern; ``classes``
    names the classes in the labels (default ``class 0``, ``class 1``, ...).
    """
    xs = _log_alphas(path.get("alphas"))
    series = _path_series(path.get("coefficients"), xs, classes)
    x = _scale([v for v in xs if v is not None], BOX.right, BOX.left, snap=False)
    # 0 is where every lasso path starts, so it is always in view.
    y = _scale([0.0, *(v for s in series for _, v in s.points)], BOX.bottom, BOX.top, snap=True)
    body = [*_x_axis(x, BOX), *_y_axis(y, BOX, "coefficient"), *_zero_line(y, BOX), _frame(BOX)]
    body += _top_axis(path.get("n_selected"), xs, x, BOX)
    body += _series_lines(series, x, y) + _end_labels(series, x, y, BOX)
    if not any(s.points for s in series):
        body += _no_data(BOX)
    return _document(_path_title(path) if title is None else title, body)


# ---------------------------------------------------------------- cross-validation curve


def _curve(document: Mapping[str, Any]) -> _Curve:
    xs = _log_alphas(document.get("alphas"))
    means = [_finite(v) for v in _list(document.get("mean"))]
    ses = [_finite(v) for v in _list(document.get("se"))]
    ses += [None] * (len(means) - len(ses))
    triples = zip(xs, means, ses, strict=False)
    kept = [(x, m, None if s is None else abs(s)) for x, m, s in triples if x is not None and m is not None]
    points = tuple(sorted(kept, key=lambda p: -p[0]))  # a line through unsorted alphas would zigzag
    return _Curve(_finite(document.get("l1_ratio")), points)


def _other_curves(cv: Mapping[str, Any], chosen: _Curve) -> list[_Curve]:
    """The curves of the other l1_ratios, in document order; the top level is the chosen one."""
    curves = [_curve(c) for c in _list(cv.get("curves")) if isinstance(c, Mapping)]
    return [c for c in curves if c.l1_ratio != chosen.l1_ratio]


def _cv_extent(chosen: _Curve, others: Sequence[_Curve]) -> list[float]:
    values = [v for _, m, s in chosen.points for v in ((m,) if s is None else (m - s, m + s))]
    return values + [m for c in others for _, m, _ in c.points]


def _curve_marks(curve: _Curve, color: str, x: _Scale, y: _Scale, *, chosen: bool) -> list[str]:
    pixels = [(x(a), y(m)) for a, m, _ in curve.points]
    width, opacity = (1.6, 1.0) if chosen else (1.0, 0.7)
    kind = "cv-chosen" if chosen else "cv-other"
    style: dict[str, Attr] = {"stroke": color, "stroke-width": width, "opacity": opacity, "class": kind}
    parts = [_polyline(pixels, style)] if pixels else []
    for (_, m, s), (px, py) in zip(curve.points, pixels, strict=True):
        # Error bars on the chosen curve only: on every curve they would hide the means.
        if chosen and s is not None:
            parts.append(_line(px, y(m - s), px, y(m + s), "#999", class_="cv-se"))
        point: dict[str, Attr] = {"cx": px, "cy": py, "r": 2.5 if chosen else 1.5, "fill": color}
        parts.append(_el("circle", {**point, "opacity": opacity, "class": f"{kind}-point"}))
    return parts


def _marker(cv: Mapping[str, Any], key: str, row: int, x: _Scale, box: _Box) -> list[str]:
    """A dashed vertical line at alpha_min or alpha_1se, labelled; the rule's choice says so.

    alpha_1se >= alpha_min, so with alpha decreasing to the right alpha_1se's label goes left of its
    line and alpha_min's right of it: neither crosses the other line unless it would leave the plot.
    """
    alpha, position = _finite(cv.get(key)), _log_alpha(cv.get(key))
    if alpha is None or position is None:
        return []
    px, kind = x(position), key.replace("_", "-")
    line = _line(px, box.top, px, box.bottom, "#444", stroke_dasharray="5 3", class_=kind)
    chosen = " (chosen)" if cv.get("rule") == key.removeprefix("alpha_") else ""
    text = f"{key} = {_sig(alpha)}{chosen}"
    width = len(text) * 5.6  # about 0.56 em per character at font-size 10
    rightwards = key == "alpha_min"
    if not box.left <= (px + 4 + width if rightwards else px - 4 - width) <= box.right:
        rightwards = not rightwards
    lx, anchor = (px + 4, "start") if rightwards else (px - 4, "end")
    label = _text(lx, box.top + 14 * row, text, text_anchor=anchor, font_size=10, class_=f"{kind}-label")
    return [line, label]


def _legend(chosen: _Curve, others: Sequence[_Curve], box: _Box) -> list[str]:
    if not others:
        return []
    entries = [(chosen, CHOSEN, True), *((c, PALETTE[i % len(PALETTE)], False) for i, c in enumerate(others))]
    parts = [_text(box.right + 10, box.top + 10, "l1_ratio", font_size=10, fill="#666")]
    for i, (curve, color, emphasised) in enumerate(entries[:MAX_LABELS]):
        top = box.top + 24 + i * 14
        swatch = [(box.right + 10, top - 4), (box.right + 30, top - 4)]
        parts.append(_polyline(swatch, {"stroke": color, "stroke-width": 3 if emphasised else 1.5}))
        name = "?" if curve.l1_ratio is None else _sig(curve.l1_ratio)
        weight = "bold" if emphasised else "normal"
        text = name + (" (chosen)" if emphasised else "")
        parts.append(_text(box.right + 34, top, text, font_size=10, font_weight=weight, class_="legend"))
    return parts


def _cv_title(cv: Mapping[str, Any], metric: str) -> str:
    l1_ratio = _finite(cv.get("l1_ratio"))
    return f"Cross-validation: {metric}" + ("" if l1_ratio is None else f" (l1_ratio = {_sig(l1_ratio)})")


def cv_svg(cv: Mapping[str, Any], *, title: str | None = None) -> str:
    """The mean CV metric with ±se bars against log10(alpha), decreasing left to right like path_svg.

    ``cv`` is the API's CV document (``describe_cv``); None or non-finite means are skipped, a missing se
    only drops its bar. With ``curves`` (an l1_ratio search) every curve is drawn and the chosen one,
    the top level of the document, is emphasised.
    """
    chosen = _curve(cv)
    others = _other_curves(cv, chosen)
    metric = str(cv.get("metric") or "metric")
    marks = [v for k in ("alpha_min", "alpha_1se") if (v := _log_alpha(cv.get(k))) is not None]
    xs = [a for c in (chosen, *others) for a, _, _ in c.points] + marks
    x = _scale(xs, BOX.right, BOX.left, snap=False)
    y = _scale(_cv_extent(chosen, others), BOX.bottom, BOX.top, snap=True)
    body = [*_x_axis(x, BOX), *_y_axis(y, BOX, f"CV {metric} (mean \u00b1 se)"), _frame(BOX)]
    for i, curve in enumerate(others):
        body += _curve_marks(curve, PALETTE[i % len(PALETTE)], x, y, chosen=False)
    body += _curve_marks(chosen, CHOSEN, x, y, chosen=True)
    body += _marker(cv, "alpha_min", 1, x, BOX) + _marker(cv, "alpha_1se", 2, x, BOX)
    body += _legend(chosen, others, BOX)
    if not chosen.points:
        body += _no_data(BOX)
    return _document(_cv_title(cv, metric) if title is None else title, body)
