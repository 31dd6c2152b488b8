"""From raw cell results to gaps and medians per point, and the formatting of points and tables."""

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
    """One point (library, tol) of a (problem, task) cell after its repeats: median time, worst gap."""

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


def compact(value: float, spec: str = "g") -> str:
    """A number with a short exponent: 1e-7 rather than 1e-07."""
    text = format(value, spec)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    return f"{mantissa}e{int(exponent)}"


def format_gap(gap: float | None) -> str:
    """A gap in two significant digits: 8.6e-4, 0, inf, or - when unknown."""
    if gap is None:
        return "-"
    if math.isinf(gap) or gap == 0.0:
        return "inf" if math.isinf(gap) else "0"
    return compact(gap, ".1e")


def format_seconds(time_s: float, cap: float) -> str:
    return f"> {cap:g}" if math.isinf(time_s) else f"{time_s:.3g} s"


def format_point(summary: Summary | None, cap: float) -> str:
    """One point of the frontier: seconds and gap, ``> cap`` at the cap, or what went wrong."""
    if summary is None:
        return "n/a"
    if summary.status == "timeout":
        return f"> {cap:g}"
    if summary.status != "ok" or summary.time_s is None:
        return summary.status
    return f"{format_seconds(summary.time_s, cap)}, {format_gap(summary.gap)}"


def render(lines: list[list[str]]) -> str:
    """A plain-text table: the header, a rule, then the rows, columns padded to their widest entry."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) for line in lines
    ]
    rendered.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in rendered)


def render_markdown(lines: list[list[str]]) -> str:
    """The same table as GitHub markdown (a | in an entry is escaped)."""
    rows = [[cell.replace("|", "\\|") for cell in line] for line in lines]
    rendered = ["| " + " | ".join(row) + " |" for row in rows]
    rendered.insert(1, "|" + "|".join("---" for _ in rows[0]) + "|")
    return "\n".join(rendered)
