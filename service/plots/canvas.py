"""The SVG canvas shared by the plots: elements, escaping, number formatting, 1-2-5 scales and axes."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 720, 440
MAX_LABELS = 20  # end-of-line labels; more would overlap in 330 px of height
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
# XML 1.0 forbids most control characters and lone surrogates; escaping cannot fix them.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Attr = str | int | float
Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    """The plot area in SVG user units."""

    left: float
    top: float
    right: float
    bottom: float


BOX = Box(72.0, 56.0, 560.0, 388.0)


@dataclass(frozen=True)
class Scale:
    """A linear map from data [lo, hi] onto pixels [start, end]; either may run backwards."""

    lo: float
    hi: float
    start: float
    end: float
    ticks: tuple[float, ...]
    step: float

    def __call__(self, value: float) -> float:
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)


# ---------------------------------------------------------------- formatting and XML


def _num(value: float) -> str:
    """A coordinate with one decimal: a tenth of a pixel is invisible and keeps files small."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def sig(value: float) -> str:
    return f"{value:.3g}"


def _safe(text: object) -> str:
    return _NOT_XML.sub("\ufffd", str(text))


def svg_element(tag: str, attrs: Mapping[str, Attr], text: str | None = None, *, inner: str = "") -> str:
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


def svg_line(x1: float, y1: float, x2: float, y2: float, stroke: str, **extra: Attr) -> str:
    return svg_element("line", {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "stroke": stroke, **_kw(extra)})


def svg_text(x: float, y: float, content: str, **extra: Attr) -> str:
    return svg_element("text", {"x": x, "y": y, **_kw(extra)}, content)


def titled(model: str | None, heading: str) -> str:
    """A plot's heading under the model's name, so a saved or pasted plot still says whose it is."""
    if not model:
        return heading
    # About 60 characters of the name fit beside the heading in 720 px at font-size 14.
    name = model if len(model) <= 60 else model[:59] + "\u2026"
    return f"{name} \u2014 {heading}"


def svg_document(title: str, body: Iterable[str]) -> str:
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">'
    )
    background = svg_element("rect", {"width": WIDTH, "height": HEIGHT, "fill": "#ffffff"})
    heading = svg_text(WIDTH / 2, 22, title, text_anchor="middle", font_size=14)
    return "\n".join([head, svg_element("title", {}, title), background, heading, *body, "</svg>"]) + "\n"


def svg_polyline(points: Iterable[Point], attrs: Mapping[str, Attr], *, tooltip: str | None = None) -> str:
    coords = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
    inner = "" if tooltip is None else svg_element("title", {}, tooltip)
    return svg_element("polyline", {"points": coords, "fill": "none", **attrs}, inner=inner)


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


def scale(values: Iterable[float], start: float, end: float, *, snap: bool) -> Scale:
    """Nice 1-2-5 ticks; `snap` widens the interval to whole steps, otherwise it gets a 3% margin."""
    lo, hi = _extent(values)
    step = _nice_step(hi - lo)
    if snap:
        lo, hi = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
    else:
        margin = (hi - lo) * 0.03
        lo, hi = lo - margin, hi + margin
    return Scale(lo, hi, start, end, _ticks(lo, hi, step), step)


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


def x_axis(x: Scale, box: Box) -> list[str]:
    parts = [svg_text((box.left + box.right) / 2, HEIGHT - 12, "log10(alpha)", text_anchor="middle")]
    for tick in x.ticks:
        px, label = x(tick), _tick_label(tick, x.step)
        parts.append(svg_line(px, box.top, px, box.bottom, "#eeeeee"))
        parts.append(svg_line(px, box.bottom, px, box.bottom + 4, "#444"))
        parts.append(svg_text(px, box.bottom + 16, label, text_anchor="middle", class_="x-tick"))
    return parts


def y_axis(y: Scale, box: Box, caption: str) -> list[str]:
    middle = (box.top + box.bottom) / 2
    rotate = f"rotate(-90 {_num(16)} {_num(middle)})"
    parts = [svg_text(16, middle, caption, text_anchor="middle", transform=rotate)]
    for tick in y.ticks:
        py, label = y(tick), _tick_label(tick, y.step)
        parts.append(svg_line(box.left, py, box.right, py, "#eeeeee"))
        parts.append(svg_line(box.left - 4, py, box.left, py, "#444"))
        parts.append(svg_text(box.left - 6, py + 4, label, text_anchor="end", class_="y-tick"))
    return parts


def frame(box: Box) -> str:
    size = {"width": box.right - box.left, "height": box.bottom - box.top}
    return svg_element("rect", {"x": box.left, "y": box.top, **size, "fill": "none", "stroke": "#444"})


def zero_line(y: Scale, box: Box) -> list[str]:
    if not y.lo < 0 < y.hi:
        return []
    return [svg_line(box.left, y(0.0), box.right, y(0.0), "#999", stroke_dasharray="2 2")]


def no_data(box: Box) -> list[str]:
    x, y = (box.left + box.right) / 2, (box.top + box.bottom) / 2
    return [svg_text(x, y, "no finite values to plot", text_anchor="middle", fill="#999")]
