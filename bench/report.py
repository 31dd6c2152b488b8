"""From raw cell results to gaps, medians, fastest peers, Sparsefit's ratios and the printed table."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

GAP_LIMIT = 1e-6  # a time counts only with a relative objective gap below this
SPARSEFIT = "sparsefit"


@dataclass
class Summary:
    """One (library, problem, task) cell after its repeats: median time, worst gap, status."""

    status: str  # ok | timeout | error | crash | skipped
    time_s: float | None  # median first-call time; inf when the median repeat hit the cap
    gap: float | None  # largest relative objective gap over the returned alphas and repeats
    note: str = ""

    @property
    def certified(self) -> bool:
        return self.status == "ok" and self.gap is not None and self.gap < GAP_LIMIT


def _objective_key(task: str, index: int) -> tuple[str, int]:
    # path and cv share the alpha grid and the full-data problem; single has its own alpha.
    return ("single", 0) if task == "single" else ("grid", index)


def best_objectives(cells: Iterable[dict[str, Any]]) -> dict[tuple[str, str, int], float]:
    """The lowest objective any library reached, per (problem, alpha) over the whole run."""
    best: dict[tuple[str, str, int], float] = {}
    for cell in cells:
        for run in cell["runs"]:
            if "objective" not in run or "error" in run:
                continue
            for index, value in zip(run["alpha_index"], run["objective"], strict=True):
                key = (cell["problem"], *_objective_key(cell["task"], index))
                if math.isfinite(value):
                    best[key] = min(best.get(key, math.inf), value)
    return best


def run_gap(cell: dict[str, Any], run: dict[str, Any], best: dict[tuple[str, str, int], float]) -> float:
    """Largest (f - f_best) / |f_best| over the alphas one run returned (inf for a non-finite f)."""
    gaps = []
    for index, value in zip(run["alpha_index"], run["objective"], strict=True):
        reference = best.get((cell["problem"], *_objective_key(cell["task"], index)), math.nan)
        if not math.isfinite(value) or not math.isfinite(reference):
            return math.inf
        gaps.append(max(value - reference, 0.0) / max(abs(reference), 1e-300))
    expected = 1 if cell["task"] == "single" else len(run["alphas"])
    if run["n_alphas_solved"] < expected and not run.get("info", {}).get("refit_only"):
        return math.inf  # a path that stopped early is not a full answer
    return max(gaps, default=math.inf)


def summarize(cell: dict[str, Any], best: dict[tuple[str, str, int], float]) -> Summary:
    runs = cell["runs"]
    if cell.get("skipped"):
        return Summary("timeout", math.inf, None, cell["skipped"])
    ok = [r for r in runs if r["status"] == "ok"]
    timeouts = [r for r in runs if r["status"] == "timeout"]
    if not ok and not timeouts:
        failed = runs[0] if runs else {"status": "error", "error": "not run"}
        return Summary(failed["status"], None, None, failed.get("error", ""))
    times = sorted([r["time_s"] for r in ok] + [math.inf] * len(timeouts))
    median = statistics.median_low(times) if len(times) % 2 == 0 else statistics.median(times)
    gap = max((run_gap(cell, r, best) for r in ok), default=None)
    status = "ok" if math.isfinite(median) else "timeout"
    return Summary(status, median, gap)


def fastest(summaries: dict[str, Summary], certified_only: bool) -> tuple[str, float] | None:
    """The fastest peer (not Sparsefit) by median time; timeouts count as inf."""
    candidates = [
        (s.time_s, name)
        for name, s in summaries.items()
        if name != SPARSEFIT
        and s.time_s is not None
        and (s.status in ("ok", "timeout"))
        and (not certified_only or s.certified or s.status == "timeout")
    ]
    if not candidates:
        return None
    time_s, name = min(candidates)
    return name, time_s


def ratio(peer: tuple[str, float] | None, sparsefit: Summary | None, cap: float) -> str:
    """fastest peer time / Sparsefit time (>= 1: Sparsefit faster); > or < when one side hit the cap."""
    if (
        peer is None
        or sparsefit is None
        or sparsefit.status not in ("ok", "timeout")
        or sparsefit.time_s is None
    ):
        return "-"
    peer_time, own = peer[1], sparsefit.time_s
    if math.isinf(own):
        return "-" if math.isinf(peer_time) else "< 1"
    text = f"{peer_time / own:.3g}" if math.isfinite(peer_time) else f"> {cap / own:.3g}"
    return text + ("" if sparsefit.certified else "*")


def format_time(summary: Summary | None, cap: float) -> str:
    if summary is None:
        return "n/a"
    if summary.status == "timeout":
        return f"> {cap:g}"
    if summary.status != "ok" or summary.time_s is None:
        return summary.status
    star = "" if summary.certified else "*"
    gap = "inf" if summary.gap is None or math.isinf(summary.gap) else f"{summary.gap:.0e}"
    return f"{summary.time_s:.3g}{star} ({gap})"


def format_peer(peer: tuple[str, float] | None, cap: float) -> str:
    if peer is None:
        return "-"
    name, time_s = peer
    return f"all > {cap:g}" if math.isinf(time_s) else f"{name} {time_s:.3g}"


def table_rows(
    rows: list[tuple[str, dict[str, Summary], float | None]], libs: list[str], cap: float
) -> list[list[str]]:
    """Header and one row per cell: each library, fastest peer (all / certified), ratios, memory."""
    header = ["cell", *libs, "fastest peer", "ratio", "fastest certified", "ratio cert.", "sf peak MB"]
    lines = [header]
    for label, summaries, sparsefit_mb in rows:
        own = summaries.get(SPARSEFIT)
        every, certified = fastest(summaries, False), fastest(summaries, True)
        lines.append(
            [
                label,
                *(format_time(summaries.get(lib), cap) for lib in libs),
                format_peer(every, cap),
                ratio(every, own, cap),
                format_peer(certified, cap),
                ratio(certified, own, cap),
                "-" if sparsefit_mb is None else f"{sparsefit_mb:.0f}",
            ]
        )
    return lines


def render(lines: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in rendered)


LEGEND = f"""\
Each library: median seconds of the first call in a fresh process (JIT compile included), and in
parentheses its largest relative objective gap over the alphas it returned, against the best
objective any library reached in this run. * = gap >= {GAP_LIMIT:g}: the time does not count.
'fastest peer' is over every peer that finished; 'fastest certified' only over peers with gap <
{GAP_LIMIT:g} (peers at the cap count as '> cap' in both). ratio = fastest peer time / Sparsefit
time (>= 1: Sparsefit is faster); a * on the ratio: Sparsefit's own gap is >= {GAP_LIMIT:g}.
sklearn's cv refits at its chosen alpha only, so its cv gap covers that one alpha."""
