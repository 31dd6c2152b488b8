"""glmnet's top axis for the CV plot: the number of selected features above the x-axis ticks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.plots.canvas import Box, Scale, svg_line, svg_text
from service.plots.values import as_list, finite, log_alphas


def counts_along_path(path: Mapping[str, Any] | None) -> list[tuple[float, int]]:
    """(log10 alpha, number selected) of each path alpha with both known, largest alpha first."""
    if path is None:
        return []
    pairs = zip(log_alphas(path.get("alphas")), as_list(path.get("n_selected")), strict=False)
    known = [(x, finite(n)) for x, n in pairs]
    return sorted(((x, int(n)) for x, n in known if x is not None and n is not None), key=lambda p: -p[0])


def count_at(counts: list[tuple[float, int]], position: float) -> int:
    """The count of the path alpha nearest ``position`` (log10 alpha): the fit a tick there would show."""
    return min(counts, key=lambda p: abs(p[0] - position))[1]


def n_selected_axis(counts: list[tuple[float, int]], x: Scale, box: Box) -> list[str]:
    """The count above each bottom-axis tick that lies within the path, as glmnet's plot(cv) labels it.

    Ticks outside the path's alphas get no count: the path says nothing about fits there.
    """
    if not counts:
        return []
    lo, hi = counts[-1][0], counts[0][0]
    slack = 1e-9 * max(1.0, abs(lo), abs(hi))  # a tick at an end alpha, up to rounding, is inside
    ticks = [t for t in x.ticks if lo - slack <= t <= hi + slack]
    if not ticks:  # a path too short to span a tick: its ends, so the counts still show
        ticks = sorted({lo, hi})
    parts = [svg_text(box.right + 6, box.top - 6, "n selected", font_size=10, fill="#666")]
    for tick in ticks:
        px = x(tick)
        parts.append(svg_line(px, box.top - 4, px, box.top, "#444"))
        label = str(count_at(counts, tick))
        parts.append(
            svg_text(px, box.top - 6, label, text_anchor="middle", font_size=10, class_="n-selected")
        )
    return parts
