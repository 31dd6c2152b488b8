"""The time-accuracy frontier: every library's (seconds, gap) points per cell, and Sparsefit's verdicts."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from bench.report import (
    GAP_LIMIT,
    SPARSEFIT,
    Summary,
    best_objectives,
    compact,
    format_gap,
    format_point,
    format_seconds,
    render,
    render_markdown,
    summarize,
)

GLMNET = "glmnet"
LIMIT = compact(GAP_LIMIT)
DEFAULT = "default"
# The cells where issue 10 requires Sparsefit to dominate (both verdicts); the others are the tall
# cells, which must stay at least as fast as before (compare with earlier results files).
REQUIRED = frozenset(
    {("P2", "path"), ("P2", "cv"), ("P3", "path"), ("P3", "cv"), ("P5", "path"), ("P5", "cv")}
    | {("P4", "path"), ("P4", "cv")}
)


@dataclass(frozen=True)
class Point:
    """One library at one tolerance on one (problem, task) cell."""

    lib: str
    tol: str
    summary: Summary

    @property
    def time_s(self) -> float:
        """The median seconds, inf at the cap (and for failures, which never win)."""
        return math.inf if self.summary.time_s is None else self.summary.time_s

    @property
    def ran(self) -> bool:
        return self.summary.status in ("ok", "timeout")


def cell_points(cells: list[dict[str, Any]], best: dict[tuple[str, str, int], float]) -> list[Point]:
    """The points of one (problem, task) cell's results, in run order; stores each summary in its cell."""
    points = []
    for cell in cells:
        summary = summarize(cell, best)
        cell["summary"] = dataclasses.asdict(summary)
        points.append(Point(cell["lib"], cell["tol"], summary))
    return points


def _find(points: list[Point], lib: str, tol: str) -> Point | None:
    return next((p for p in points if p.lib == lib and p.tol == tol), None)


def _ratio(peer: float, own: float, cap: float) -> str:
    """peer seconds / Sparsefit seconds (> 1: Sparsefit faster); a bound when either hit the cap."""
    if math.isinf(own):
        return "-" if math.isinf(peer) else f"< {peer / cap:.2g}"
    return f"> {cap / own:.3g}" if math.isinf(peer) else f"{peer / own:.3g}"


def _outcome(losses: list[str]) -> str:
    return f"LOSS ({', '.join(losses)})" if losses else "WIN"


def versus_glmnet_default(points: list[Point], cap: float) -> str:
    """(a) Sparsefit at its default tol against glmnet at its default: faster, and a smaller gap?"""
    own, peer = _find(points, SPARSEFIT, DEFAULT), _find(points, GLMNET, DEFAULT)
    if own is None or peer is None:
        return "- (a default point was not run)"
    if not own.ran:
        return f"LOSS (sparsefit {own.summary.status})"
    if not peer.ran:
        return f"- (glmnet {peer.summary.status})"
    own_gap, peer_gap = own.summary.gap, peer.summary.gap
    losses = [] if own.time_s < peer.time_s else ["slower"]
    if own_gap is None or (peer_gap is not None and own_gap >= peer_gap):
        losses.append("gap not smaller")
    return (
        f"{_outcome(losses)}: ratio {_ratio(peer.time_s, own.time_s, cap)} "
        f"({format_seconds(own.time_s, cap)} vs {format_seconds(peer.time_s, cap)}), "
        f"gap {format_gap(own_gap)} vs {format_gap(peer_gap)}"
    )


def _fastest_certified(points: list[Point]) -> Point | None:
    certified = [p for p in points if p.summary.certified]
    return min(certified, key=lambda p: p.time_s, default=None)


def _describe(point: Point, cap: float) -> str:
    return f"{point.lib} {point.tol} {format_seconds(point.time_s, cap)}"


def fastest_under_limit(points: list[Point], cap: float) -> str:
    """(b) Sparsefit's fastest point with gap < 1e-6 against every peer's fastest such point."""
    own = _fastest_certified([p for p in points if p.lib == SPARSEFIT])
    peer = _fastest_certified([p for p in points if p.lib != SPARSEFIT])
    if own is None and peer is None:
        return f"LOSS (no point of anyone under {LIMIT} within the cap)"
    if own is None:
        assert peer is not None
        return f"LOSS (no sparsefit point under {LIMIT}): fastest peer {_describe(peer, cap)}"
    if peer is None:
        return f"WIN: {_describe(own, cap)}; no peer under {LIMIT} within the cap"
    outcome = _outcome([] if own.time_s < peer.time_s else ["slower"])
    ratio = _ratio(peer.time_s, own.time_s, cap)
    return f"{outcome}: ratio {ratio}, {_describe(own, cap)} vs {_describe(peer, cap)}"


def columns(libs: list[str], tols: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    """(library, tol) per point column, in library order, loose to tight."""
    return [(lib, tol) for lib in libs for tol in tols[lib]]


@dataclass(frozen=True)
class Frontier:
    """The two tables (points, verdicts) as rows of strings, ready for text or markdown."""

    points: list[list[str]]
    verdicts: list[list[str]]

    def text(self) -> str:
        return f"{render(self.points)}\n\n{render(self.verdicts)}"

    def markdown(self) -> str:
        return f"{render_markdown(self.points)}\n\n{render_markdown(self.verdicts)}"


def build(
    cells: list[dict[str, Any]],
    order: list[tuple[str, str]],
    point_columns: list[tuple[str, str]],
    cap: float,
) -> Frontier:
    """One row per (problem, task) in ``order``; the gaps are against the run's best objectives."""
    best = best_objectives(cells)
    header = ["cell", *(f"{lib} {tol}" for lib, tol in point_columns)]
    points_rows, verdict_rows = (
        [header],
        [["cell", "required", "(a) default vs glmnet default", f"(b) fastest at gap < {LIMIT}"]],
    )
    for problem, task in order:
        mine = cell_points([c for c in cells if c["problem"] == problem and c["task"] == task], best)
        label = f"{problem} {task}"
        found = {(p.lib, p.tol): p.summary for p in mine}
        points_rows.append([label, *(format_point(found.get(column), cap) for column in point_columns)])
        required = "yes" if (problem, task) in REQUIRED else "no"
        verdict_rows.append(
            [label, required, versus_glmnet_default(mine, cap), fastest_under_limit(mine, cap)]
        )
    return Frontier(points_rows, verdict_rows)


LEGEND = f"""\
Each point: median seconds of the first call in a fresh process (JIT compile included), then the
largest relative objective gap (f - f_best) / f_best over the alphas it returned (the full-data path
for cv), f_best being the lowest objective any library reached at that alpha at any tolerance in this
run (path and cv share one pool per problem); gap 0: the point is itself that best at every alpha
(a gap is only as good as the best run: with one library, its tightest point is 0 by definition).
'> cap': the timed call hit the cap, or a looser tol or the path already did. 'default': the library
called without a tol (its own default).
ratio = peer seconds / Sparsefit seconds (> 1: Sparsefit is faster).
(a) Sparsefit at its default tol vs glmnet at its default: WIN when faster and with a smaller gap.
(b) Sparsefit's fastest point with gap < {LIMIT} vs the fastest such point of any peer (a peer
that never gets under {LIMIT} within the cap does not count): WIN when faster.
required = yes: a cell where issue 10 requires both; the others are the tall cells, where the goal is
to stay at least as fast as before."""
