"""What a benchmark run prints besides the frontier (failures, Sparsefit's memory, cold fits) and writes."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.report import SPARSEFIT


def cold_lines(cold: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "Cold first fit (diabetes 442 x 10, single lasso; fresh process; first call - median of 5 later):"
    ]
    for lib, result in cold.items():
        if result.get("status") != "ok":
            lines.append(f"  {lib:9s} {result.get('status')}: {str(result.get('error', ''))[:120]}")
            continue
        imported = result.get("import_s", float("nan"))
        lines.append(
            f"  {lib:9s} first {result['first_call_s']:.4f} s, later {result['later_call_s']:.4f} s, "
            f"cold overhead {result['cold_overhead_s']:.4f} s, import {imported:.3f} s"
        )
    return lines


def _sparsefit_line(cell: dict[str, Any], run: dict[str, Any]) -> str:
    where = f"  {cell['problem']} {cell['task']:6s} {cell['tol']:8s}"
    if run["status"] != "ok":
        return f"{where} {run['status']}: {str(run.get('error'))[:150]}"
    second = run.get("second_call_s")
    second_text = "-" if second is None else f"{second:.3g} s"
    return (
        f"{where} peak {run['peak_rss_mb']:.0f} MB "
        f"(before fit {run['rss_before_fit_mb']:.0f}, children {run['children_peak_rss_mb']:.0f}); "
        f"first {run['time_s']:.3g} s, second {second_text}"
    )


def sparsefit_lines(cells: list[dict[str, Any]]) -> list[str]:
    """Per Sparsefit point, its first repeat: peak memory and first vs second call in one process."""
    lines = [
        "Sparsefit per point: peak RSS (process / its children) and first vs second call in one process:"
    ]
    for cell in cells:
        if cell["lib"] == SPARSEFIT:
            lines.extend(_sparsefit_line(cell, run) for run in cell["runs"][:1])
    return lines


def error_lines(cells: list[dict[str, Any]]) -> list[str]:
    """Every failed point (error, crash) with the first line of its first failure's message."""
    lines = []
    for cell in cells:
        for run in cell["runs"]:
            if run["status"] in ("error", "crash"):
                message = str(run.get("error", "")).strip().splitlines()[0][:160] if run.get("error") else ""
                where = f"{cell['lib']} {cell['tol']} {cell['problem']} {cell['task']}"
                lines.append(f"  {where}: {run['status']}: {message}")
                break
    return ["Failures:", *lines] if lines else []


def write_results(path: Path, payload: dict[str, Any], markdown: str) -> Path:
    """The raw results as strict JSON, and the frontier as markdown next to it (same name, .md)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(finite(payload), indent=1) + "\n")
    path.with_suffix(".md").write_text(markdown + "\n")
    return path


def finite(value: Any) -> Any:
    """Strict JSON: inf and nan become the strings "inf", "-inf" and "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value
