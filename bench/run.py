"""The side-by-side solver benchmark: every (library, problem, task) cell in fresh, capped processes."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.peers.base import LIBRARIES, PEERS_PYTHON, ROOT
from bench.problems import SPECS, TASKS, ensure_cached

RESULTS_DIR = ROOT / "bench" / "results"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
POLL_S = 0.1


@dataclasses.dataclass(frozen=True)
class Settings:
    """How every cell is run."""

    scale: float
    cap: float
    grace: float
    repeats: int
    threads: int
    cv_jobs: int
    warm_below: float
    tols: dict[str, float]


def _python(lib: str) -> str:
    return str(PEERS_PYTHON) if LIBRARIES[lib].isolated else sys.executable


def _environment(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARS})
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _kill(process: subprocess.Popen[bytes]) -> None:
    """The cell and whatever it forked (its own session), by process group id."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _over_cap(out: Path, cap: float) -> bool:
    started, finished = out.with_suffix(".started"), out.with_suffix(".finished")
    return started.exists() and not finished.exists() and time.time() - started.stat().st_mtime > cap


def _launch(command: list[str], out: Path, settings: Settings) -> dict[str, Any]:
    """Run one cell process; the timed call is capped at ``cap``, the whole process at cap + grace."""
    log = out.with_suffix(".log")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=_environment(settings.threads),
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )
        deadline = time.monotonic() + settings.cap + settings.grace
        while process.poll() is None:
            time.sleep(POLL_S)
            if _over_cap(out, settings.cap) or time.monotonic() > deadline:
                _kill(process)
                return {"status": "timeout", "error": f"killed after the {settings.cap:g} s cap"}
    if not out.exists():
        tail = log.read_text(errors="replace")[-1500:]
        return {"status": "crash", "error": f"exit code {process.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(out.read_text())
    result["status"] = "error" if "error" in result else "ok"
    if result["status"] == "ok" and result.get("time_s", 0.0) > settings.cap:
        result["status"] = "timeout"
    return result


def _cell_command(lib: str, out: Path, settings: Settings, **fields: str) -> list[str]:
    command = [_python(lib), "-m", "bench.run_cell", "--lib", lib, "--out", str(out)]
    for key, value in fields.items():
        command += [f"--{key}", value]
    command += ["--scale", f"{settings.scale:g}", "--tol", f"{settings.tols[lib]:g}"]
    command += ["--cv-jobs", str(settings.cv_jobs), "--threads", str(settings.threads)]
    return [*command, "--warm-below", f"{settings.warm_below:g}"]


def run_cell(lib: str, problem: str, task: str, settings: Settings, scratch: Path) -> list[dict[str, Any]]:
    """The cell's repeats, each a fresh process; stops repeating after a timeout, error or crash."""
    runs = []
    for repeat in range(settings.repeats):
        out = scratch / f"{lib}-{problem}-{task}-{repeat}.json"
        run = _launch(_cell_command(lib, out, settings, problem=problem, task=task), out, settings)
        runs.append(run)
        if run["status"] != "ok":
            break
    return runs


def probe(lib: str, kind: str, settings: Settings, scratch: Path) -> dict[str, Any]:
    out = scratch / f"{lib}-probe-{kind}.json"
    return _launch(_cell_command(lib, out, settings, probe=kind), out, settings)


def installed_versions(settings: Settings, scratch: Path) -> dict[str, dict[str, Any]]:
    """What imports in the main venv and in bench/.venv-peers (adelie)."""
    found = probe("sparsefit", "versions", settings, scratch).get("versions", {})
    versions = {lib: info for lib, info in found.items() if not LIBRARIES[lib].isolated}
    isolated = [lib for lib in LIBRARIES if LIBRARIES[lib].isolated]
    if isolated and PEERS_PYTHON.exists():
        peers = probe(isolated[0], "versions", settings, scratch).get("versions", {})
        versions.update({lib: peers.get(lib, {"error": "not reported"}) for lib in isolated})
    for lib in isolated:
        versions.setdefault(lib, {"error": f"{PEERS_PYTHON} missing (make bench creates it)"})
    return versions


def _cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")


def machine_info() -> dict[str, Any]:
    described = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    )
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "commit": described.stdout.strip(),
        "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
    }


def _skip_reason(lib: str, problem: str, task: str, done: dict[tuple[str, str, str], report.Summary]) -> str:
    """cv repeats the path six times over (5 folds and the refit): a path at the cap means cv is too."""
    path = done.get((lib, problem, "path"))
    if task == "cv" and path is not None and path.status == "timeout":
        return "not run: the path already hit the cap"
    return ""


def _memory(runs: list[dict[str, Any]]) -> float | None:
    peaks = [
        max(r.get("peak_rss_mb", 0.0), r.get("children_peak_rss_mb", 0.0))
        for r in runs
        if r["status"] == "ok"
    ]
    return max(peaks) if peaks else None


def _progress(runs: list[dict[str, Any]]) -> str:
    """One line per finished cell while the run goes on: each repeat's time or status."""
    if not runs:
        return "skipped (its path hit the cap)"
    return ", ".join(f"{r['time_s']:.3g} s" if r["status"] == "ok" else r["status"] for r in runs)


def run_all(
    args: argparse.Namespace, settings: Settings, libs: list[str], scratch: Path
) -> list[dict[str, Any]]:
    cells: list[dict[str, Any]] = []
    provisional: dict[tuple[str, str, str], report.Summary] = {}
    for problem in args.problems:
        for task in args.tasks:
            for lib in libs:
                cell: dict[str, Any] = {"lib": lib, "problem": problem, "task": task, "runs": []}
                skipped = _skip_reason(lib, problem, task, provisional)
                if skipped:
                    cell["skipped"] = skipped
                else:
                    cell["runs"] = run_cell(lib, problem, task, settings, scratch)
                cells.append(cell)
                provisional[(lib, problem, task)] = report.summarize(cell, {})
                print(f"  {problem} {task:6s} {lib:9s} {_progress(cell['runs'])}", flush=True)
    return cells


def build_table(cells: list[dict[str, Any]], args: argparse.Namespace, libs: list[str], cap: float) -> str:
    best = report.best_objectives(cells)
    rows = []
    for problem in args.problems:
        for task in args.tasks:
            mine = [c for c in cells if c["problem"] == problem and c["task"] == task]
            summaries = {c["lib"]: report.summarize(c, best) for c in mine}
            for c in mine:
                c["summary"] = dataclasses.asdict(summaries[c["lib"]])
            own = next((c for c in mine if c["lib"] == report.SPARSEFIT), None)
            rows.append((f"{problem} {task}", summaries, _memory(own["runs"]) if own else None))
    return report.render(report.table_rows(rows, libs, cap))


def _cold_lines(cold: dict[str, dict[str, Any]]) -> list[str]:
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


def _sparsefit_lines(cells: list[dict[str, Any]]) -> list[str]:
    lines = ["Sparsefit per cell: peak RSS (process / its children) and first vs second call in one process:"]
    for cell in cells:
        if cell["lib"] != report.SPARSEFIT:
            continue
        for run in cell["runs"][:1]:
            if run["status"] != "ok":
                lines.append(
                    f"  {cell['problem']} {cell['task']:6s} {run['status']}: {str(run.get('error'))[:150]}"
                )
                continue
            second = run.get("second_call_s")
            second_text = "-" if second is None else f"{second:.3g} s"
            lines.append(
                f"  {cell['problem']} {cell['task']:6s} peak {run['peak_rss_mb']:.0f} MB "
                f"(before fit {run['rss_before_fit_mb']:.0f}, children {run['children_peak_rss_mb']:.0f}); "
                f"first {run['time_s']:.3g} s, second {second_text}"
            )
    return lines


def _error_lines(cells: list[dict[str, Any]]) -> list[str]:
    """Every failed repeat (error, crash) with the first line of its message."""
    lines = []
    for cell in cells:
        for run in cell["runs"]:
            if run["status"] in ("error", "crash"):
                message = str(run.get("error", "")).strip().splitlines()[0][:160] if run.get("error") else ""
                lines.append(f"  {cell['lib']} {cell['problem']} {cell['task']}: {run['status']}: {message}")
                break
    return ["Failures:", *lines] if lines else []


def _parse_list(text: str, allowed: tuple[str, ...] | list[str]) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {list(allowed)}")
    return items


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--problems", type=lambda t: _parse_list(t, tuple(SPECS)), default=list(SPECS))
    parser.add_argument("--tasks", type=lambda t: _parse_list(t, TASKS), default=list(TASKS))
    parser.add_argument("--libs", type=lambda t: _parse_list(t, tuple(LIBRARIES)), default=list(LIBRARIES))
    parser.add_argument("--cap", type=float, default=300.0, help="seconds for the timed call of one cell")
    parser.add_argument("--grace", type=float, default=120.0, help="extra seconds for loading and objectives")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per cell; the median counts")
    parser.add_argument("--scale", type=float, default=1.0, help="shrink n and p (0.05 for a smoke run)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP/numba threads per process")
    parser.add_argument("--cv-jobs", type=int, default=2, help="processes for CV folds (peers' own loops)")
    parser.add_argument(
        "--warm-below", type=float, default=10.0, help="time a second call if the first was shorter"
    )
    parser.add_argument("--sparsefit-tol", type=float, default=LIBRARIES["sparsefit"].default_tol)
    parser.add_argument("--tol", action="append", default=[], metavar="LIB=TOL", help="override a peer's tol")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold first-fit probes")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    tols = {name: lib.default_tol for name, lib in LIBRARIES.items()}
    tols["sparsefit"] = args.sparsefit_tol
    for item in args.tol:
        name, _, value = item.partition("=")
        if name not in LIBRARIES:
            raise SystemExit(f"--tol {item}: unknown library {name}")
        tols[name] = float(value)
    return Settings(
        args.scale, args.cap, args.grace, args.repeats, args.threads, args.cv_jobs, args.warm_below, tols
    )


def _available(requested: list[str], versions: dict[str, dict[str, Any]]) -> list[str]:
    libs = [lib for lib in requested if "version" in versions.get(lib, {})]
    for lib in requested:
        if lib not in libs:
            print(f"  {lib}: not available ({versions.get(lib, {}).get('error', 'unknown')[:200]})")
    return libs


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = _settings(args)
    started = datetime.now(UTC)
    machine = machine_info() | {"loadavg_start": os.getloadavg()}
    print(f"load average before: {machine['loadavg_start']}, nproc {machine['nproc']}", flush=True)
    for problem in args.problems:
        ensure_cached(problem, settings.scale)
    with tempfile.TemporaryDirectory(prefix="sparsefit-bench-") as tmp:
        scratch = Path(tmp)
        versions = installed_versions(settings, scratch)
        libs = _available(args.libs, versions)
        cold = {} if args.no_cold else {lib: probe(lib, "cold", settings, scratch) for lib in libs}
        cells = run_all(args, settings, libs, scratch)
    table = build_table(cells, args, libs, settings.cap)
    machine["loadavg_end"] = os.getloadavg()
    text = "\n".join(
        [
            f"\nSolvers, scale {settings.scale:g}, cap {settings.cap:g} s, median of {settings.repeats}, "
            f"{settings.threads} threads; tol: " + ", ".join(f"{lib} {settings.tols[lib]:g}" for lib in libs),
            table,
            report.LEGEND,
            "",
            *_error_lines(cells),
            *_sparsefit_lines(cells),
            *(_cold_lines(cold) if cold else []),
            f"load average before {machine['loadavg_start']}, after {machine['loadavg_end']}",
        ]
    )
    print(text)
    path = _write_results(args, settings, started, machine, versions, cold, cells, text)
    print(f"raw results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


def _write_results(
    args: argparse.Namespace,
    settings: Settings,
    started: datetime,
    machine: dict[str, Any],
    versions: dict[str, Any],
    cold: dict[str, Any],
    cells: list[dict[str, Any]],
    text: str,
) -> Path:
    args.out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if settings.scale == 1.0 else f"-scale{settings.scale:g}"
    path = args.out_dir / f"solvers-{started:%Y%m%dT%H%M%SZ}{suffix}.json"
    payload = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "settings": dataclasses.asdict(settings)
        | {"problems": args.problems, "tasks": args.tasks, "libs": args.libs},
        "machine": machine,
        "versions": versions,
        "cold_first_fit": cold,
        "cells": cells,
        "table": text,
    }
    path.write_text(json.dumps(_finite(payload), indent=1) + "\n")
    return path


def _finite(value: Any) -> Any:
    """Strict JSON: inf and nan become the strings "inf", "-inf" and "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
