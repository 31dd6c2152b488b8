"""The benchmark's frontier logic on made-up results: tolerances, skips, gaps and the two verdicts."""

from __future__ import annotations

import argparse
import math
from typing import Any

import pytest

from bench import frontier, tolerances
from bench.report import format_gap, format_point, summarize
from bench.run import _skip_reason

CAP = 300.0


def _run(time_s: float, objective: list[float], status: str = "ok") -> dict[str, Any]:
    return {
        "status": status,
        "time_s": time_s,
        "objective": objective,
        "alpha_index": list(range(len(objective))),
        "alphas": [1.0 / (k + 1) for k in range(len(objective))],
        "n_alphas_solved": len(objective),
    }


def _cell(lib: str, tol: str, *runs: dict[str, Any], task: str = "path") -> dict[str, Any]:
    return {"lib": lib, "problem": "P2", "task": task, "tol": tol, "runs": list(runs)}


def _timeout() -> dict[str, Any]:
    return {"status": "timeout", "error": "killed after the cap"}


def _build(cells: list[dict[str, Any]]) -> list[str]:
    libs = sorted({c["lib"] for c in cells}, key=lambda lib: lib != "sparsefit")
    tols = {lib: tuple(dict.fromkeys(c["tol"] for c in cells if c["lib"] == lib)) for lib in libs}
    table = frontier.build(cells, [("P2", "path")], frontier.columns(libs, tols), CAP)
    return table.verdicts[1]


def test_tolerances_parse_order_and_dedupe() -> None:
    name, tols = tolerances.parse_option("glmnet=1e-13, default ,1e-07,1e-10")
    assert name == "glmnet"
    assert tolerances.ordered(name, tols) == ("default", "1e-10", "1e-13")  # 1e-7 is glmnet's default
    with pytest.raises(argparse.ArgumentTypeError):
        tolerances.parse_option("glmnet=tight")
    with pytest.raises(argparse.ArgumentTypeError):
        tolerances.parse_option("nolib=1e-3")


def test_skip_after_a_looser_tol_or_the_path_hit_the_cap() -> None:
    capped = {("glmnet", "P2", "path"): [1e-10]}
    assert _skip_reason("glmnet", "P2", "path", 1e-13, capped)
    assert not _skip_reason("glmnet", "P2", "path", 1e-7, capped)
    assert _skip_reason("glmnet", "P2", "cv", 1e-10, capped)
    assert not _skip_reason("glmnet", "P2", "cv", 1e-7, capped)
    assert not _skip_reason("adelie", "P2", "path", 1e-13, capped)


def test_gap_is_against_the_best_objective_of_any_tolerance() -> None:
    cells = [
        _cell("glmnet", "default", _run(1.0, [1.0, 2.0])),
        _cell("glmnet", "1e-13", _run(9.0, [1.0, 1.0])),
    ]
    points = frontier.cell_points(cells, frontier.best_objectives(cells))
    assert [p.summary.gap for p in points] == [1.0, 0.0]
    assert format_point(points[0].summary, CAP) == "1 s, 1.0e0"
    assert format_gap(8.6e-4) == "8.6e-4"
    assert format_point(summarize(_cell("celer", "default", _timeout()), {}), CAP) == "> 300"


def test_verdicts_win() -> None:
    verdicts = _build(
        [
            _cell("sparsefit", "default", _run(1.0, [1.0 + 1e-9])),
            _cell("sparsefit", "1e-10", _run(2.0, [1.0])),
            _cell("glmnet", "default", _run(3.0, [1.0 + 1e-3])),
            _cell("glmnet", "1e-13", _run(10.0, [1.0 + 1e-8])),
        ]
    )
    assert verdicts[2].startswith("WIN: ratio 3 ")
    assert verdicts[3] == "WIN: ratio 10, sparsefit default 1 s vs glmnet 1e-13 10 s"


def test_verdicts_say_loss_plainly() -> None:
    verdicts = _build(
        [
            _cell("sparsefit", "default", _timeout()),
            _cell("glmnet", "default", _run(3.0, [1.0 + 1e-3])),
            _cell("adelie", "1e-13", _run(60.0, [1.0])),
        ]
    )
    assert verdicts[2].startswith("LOSS (slower, gap not smaller): ratio < 0.01 (> 300 vs 3 s)")
    assert verdicts[3].startswith("LOSS (no sparsefit point under 1e-6): fastest peer adelie 1e-13 60 s")


def test_a_path_with_missing_alphas_has_an_infinite_gap() -> None:
    short = _run(1.0, [1.0])
    short["alphas"] = [1.0, 0.5]
    cell = _cell("skglm", "default", short)
    assert math.isinf(summarize(cell, frontier.best_objectives([cell])).gap or 0.0)
