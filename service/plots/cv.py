"""The cross-validation curve plot: the mean metric ±se against log10(alpha), with alpha_min and alpha_1se."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.plots.canvas import (
    BOX,
    MAX_LABELS,
    PALETTE,
    Attr,
    Box,
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
)
from service.plots.top_axis import counts_along_path, n_selected_axis
from service.plots.values import as_list, finite, log_alpha, log_alphas

CHOSEN = "#d62728"  # glmnet's red CV points; kept out of PALETTE so the chosen curve stands out


@dataclass(frozen=True)
class _Curve:
    """One CV curve: (log10 alpha, mean, se or None) for each alpha whose mean is finite."""

    l1_ratio: float | None
    points: tuple[tuple[float, float, float | None], ...]


def _curve(document: Mapping[str, Any]) -> _Curve:
    xs = log_alphas(document.get("alphas"))
    means = [finite(v) for v in as_list(document.get("mean"))]
    ses = [finite(v) for v in as_list(document.get("se"))]
    ses += [None] * (len(means) - len(ses))
    triples = zip(xs, means, ses, strict=False)
    kept = [(x, m, None if s is None else abs(s)) for x, m, s in triples if x is not None and m is not None]
    points = tuple(sorted(kept, key=lambda p: -p[0]))  # a line through unsorted alphas would zigzag
    return _Curve(finite(document.get("l1_ratio")), points)


def _other_curves(cv: Mapping[str, Any], chosen: _Curve) -> list[_Curve]:
    """The curves of the other l1_ratios, in document order; the top level is the chosen one."""
    curves = [_curve(c) for c in as_list(cv.get("curves")) if isinstance(c, Mapping)]
    return [c for c in curves if c.l1_ratio != chosen.l1_ratio]


def _cv_extent(chosen: _Curve, others: Sequence[_Curve]) -> list[float]:
    values = [v for _, m, s in chosen.points for v in ((m,) if s is None else (m - s, m + s))]
    return values + [m for c in others for _, m, _ in c.points]


def _curve_marks(curve: _Curve, color: str, x: Scale, y: Scale, *, chosen: bool) -> list[str]:
    pixels = [(x(a), y(m)) for a, m, _ in curve.points]
    width, opacity = (1.6, 1.0) if chosen else (1.0, 0.7)
    kind = "cv-chosen" if chosen else "cv-other"
    style: dict[str, Attr] = {"stroke": color, "stroke-width": width, "opacity": opacity, "class": kind}
    parts = [svg_polyline(pixels, style)] if pixels else []
    for (_, m, s), (px, py) in zip(curve.points, pixels, strict=True):
        # Error bars on the chosen curve only: on every curve they would hide the means.
        if chosen and s is not None:
            parts.append(svg_line(px, y(m - s), px, y(m + s), "#999", class_="cv-se"))
        point: dict[str, Attr] = {"cx": px, "cy": py, "r": 2.5 if chosen else 1.5, "fill": color}
        parts.append(svg_element("circle", {**point, "opacity": opacity, "class": f"{kind}-point"}))
    return parts


def _marker(cv: Mapping[str, Any], key: str, row: int, x: Scale, box: Box) -> list[str]:
    """A dashed vertical line at alpha_min or alpha_1se, labelled; the rule's choice says so.

    alpha_1se >= alpha_min, so with alpha decreasing to the right alpha_1se's label goes left of its
    line and alpha_min's right of it: neither crosses the other line unless it would leave the plot.
    """
    alpha, position = finite(cv.get(key)), log_alpha(cv.get(key))
    if alpha is None or position is None:
        return []
    px, kind = x(position), key.replace("_", "-")
    line = svg_line(px, box.top, px, box.bottom, "#444", stroke_dasharray="5 3", class_=kind)
    chosen = " (chosen)" if cv.get("rule") == key.removeprefix("alpha_") else ""
    text = f"{key} = {sig(alpha)}{chosen}"
    width = len(text) * 5.6  # about 0.56 em per character at font-size 10
    rightwards = key == "alpha_min"
    if not box.left <= (px + 4 + width if rightwards else px - 4 - width) <= box.right:
        rightwards = not rightwards
    lx, anchor = (px + 4, "start") if rightwards else (px - 4, "end")
    label = svg_text(lx, box.top + 14 * row, text, text_anchor=anchor, font_size=10, class_=f"{kind}-label")
    return [line, label]


def _legend(chosen: _Curve, others: Sequence[_Curve], box: Box) -> list[str]:
    if not others:
        return []
    entries = [(chosen, CHOSEN, True), *((c, PALETTE[i % len(PALETTE)], False) for i, c in enumerate(others))]
    parts = [svg_text(box.right + 10, box.top + 10, "l1_ratio", font_size=10, fill="#666")]
    for i, (curve, color, emphasised) in enumerate(entries[:MAX_LABELS]):
        top = box.top + 24 + i * 14
        swatch = [(box.right + 10, top - 4), (box.right + 30, top - 4)]
        parts.append(svg_polyline(swatch, {"stroke": color, "stroke-width": 3 if emphasised else 1.5}))
        name = "?" if curve.l1_ratio is None else sig(curve.l1_ratio)
        weight = "bold" if emphasised else "normal"
        text = name + (" (chosen)" if emphasised else "")
        parts.append(svg_text(box.right + 34, top, text, font_size=10, font_weight=weight, class_="legend"))
    return parts


def _cv_title(cv: Mapping[str, Any], metric: str) -> str:
    l1_ratio = finite(cv.get("l1_ratio"))
    return f"Cross-validation: {metric}" + ("" if l1_ratio is None else f" (l1_ratio = {sig(l1_ratio)})")


def cv_svg(
    cv: Mapping[str, Any],
    *,
    title: str | None = None,
    model: str | None = None,
    path: Mapping[str, Any] | None = None,
) -> str:
    """The mean CV metric with ±se bars against log10(alpha), decreasing left to right like path_svg.

    ``cv`` is the API's CV document (``describe_cv``); None or non-finite means are skipped, a missing se
    only drops its bar. With ``curves`` (an l1_ratio search) every curve is drawn and the chosen one,
    the top level of the document, is emphasised. ``path`` (the path document, or just its ``alphas``
    and ``n_selected``) adds glmnet's top axis: the number of selected features above each tick.
    ``model`` (its name) heads the default title; ``title`` replaces the title whole.
    """
    chosen = _curve(cv)
    others = _other_curves(cv, chosen)
    metric = str(cv.get("metric") or "metric")
    marks = [v for k in ("alpha_min", "alpha_1se") if (v := log_alpha(cv.get(k))) is not None]
    xs = [a for c in (chosen, *others) for a, _, _ in c.points] + marks
    x = scale(xs, BOX.right, BOX.left, snap=False)
    y = scale(_cv_extent(chosen, others), BOX.bottom, BOX.top, snap=True)
    body = [*x_axis(x, BOX), *y_axis(y, BOX, f"CV {metric} (mean \u00b1 se)"), frame(BOX)]
    body += n_selected_axis(counts_along_path(path), x, BOX)
    for i, curve in enumerate(others):
        body += _curve_marks(curve, PALETTE[i % len(PALETTE)], x, y, chosen=False)
    body += _curve_marks(chosen, CHOSEN, x, y, chosen=True)
    body += _marker(cv, "alpha_min", 1, x, BOX) + _marker(cv, "alpha_1se", 2, x, BOX)
    body += _legend(chosen, others, BOX)
    if not chosen.points:
        body += no_data(BOX)
    return svg_document(titled(model, _cv_title(cv, metric)) if title is None else title, body)
