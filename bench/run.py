"""The side-by-side solver benchmark: every (library, tol) point of every cell in fresh, capped processes."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
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

from bench import frontier, report, run_output, tolerances
from bench.peers.base import LIBRARIES, PEERS_PYTHON, ROOT
from bench.problems import SPECS, TASKS, ensure_cached
from bench.report import compact

RESULTS_DIR = ROOT / "bench" / "results"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
POLL_S = 0.1
# make bench: the wide cells issue 10 is about, then the tall ones (which must not get slower).
DEFAULT_CELLS = (
    *((problem, task) for problem in ("P2", "P3", "P5", "P4") for task in ("path", "cv")),
    ("P1", "single"),
    ("P1", "path"),
    ("P1", "cv"),
    ("P4", "single"),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """How every cell is run."""

    scale: float
    cap: float
    grace: float
    repeats: int
    repeat_below: float  # a repeat slower than this is the last one
    threads: int
    cv_jobs: int
    warm_below: float
    tols: dict[str, tuple[str, ...]]  # per library, its points' tolerances, loose to tight


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
    command += ["--scale", f"{settings.scale:g}"]
    command += ["--cv-jobs", str(settings.cv_jobs), "--threads", str(settings.threads)]
    return [*command, "--warm-below", f"{settings.warm_below:g}"]


def run_cell(
    lib: str, problem: str, task: str, tol: str, settings: Settings, scratch: Path
) -> list[dict[str, Any]]:
    """The point's repeats, each a fresh process; stops after a timeout, error, crash or a slow one."""
    runs = []
    for repeat in range(settings.repeats):
        out = scratch / f"{lib}-{problem}-{task}-{tol}-{repeat}.json"
        command = _cell_command(lib, out, settings, problem=problem, task=task, tol=tol)
        run = _launch(command, out, settings)
        runs.append(run)
        if run["status"] != "ok" or run["time_s"] > settings.repeat_below:
            break
    return runs


def probe(lib: str, kind: str, settings: Settings, scratch: Path) -> dict[str, Any]:
    out = scratch / f"{lib}-probe-{kind}.json"
    return _launch(_cell_command(lib, out, settings, probe=kind, tol=tolerances.DEFAULT), out, settings)


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


Capped = dict[tuple[str, str, str], list[float]]  # (lib, problem, task) -> tol values at the cap


def _skip_reason(lib: str, problem: str, task: str, tol_value: float, capped: Capped) -> str:
    """A tighter tol costs at least as much, and cv repeats the path six times over (5 folds and the
    refit): once a looser (or the same) tol hit the cap on this task, or on the path for cv, skip."""
    if tolerances.blocked(tol_value, capped.get((lib, problem, task), [])):
        return "not run: a looser tol already hit the cap"
    if task == "cv" and tolerances.blocked(tol_value, capped.get((lib, problem, "path"), [])):
        return "not run: the path already hit the cap"
    return ""


def _progress(runs: list[dict[str, Any]]) -> str:
    """One line per finished point while the run goes on: each repeat's time or status."""
    if not runs:
        return "skipped (a looser tol or the path hit the cap)"
    return ", ".join(f"{r['time_s']:.3g} s" if r["status"] == "ok" else r["status"] for r in runs)


def _run_point(
    lib: str, problem: str, task: str, tol: str, settings: Settings, scratch: Path, capped: Capped
) -> dict[str, Any]:
    value = tolerances.value(lib, tol)
    cell: dict[str, Any] = {"lib": lib, "problem": problem, "task": task, "tol": tol, "tol_value": value}
    skipped = _skip_reason(lib, problem, task, value, capped)
    if skipped:
        cell.update(skipped=skipped, runs=[])
    else:
        cell["runs"] = run_cell(lib, problem, task, tol, settings, scratch)
    if skipped or report.summarize(cell, {}).status == "timeout":
        capped.setdefault((lib, problem, task), []).append(value)
    print(f"  {problem} {task:6s} {lib:9s} {tol:8s} {_progress(cell['runs'])}", flush=True)
    return cell


def run_all(
    order: list[tuple[str, str]], settings: Settings, libs: list[str], scratch: Path
) -> list[dict[str, Any]]:
    """Every point, cell by cell (a problem's path before its cv), each library loose to tight."""
    cells: list[dict[str, Any]] = []
    capped: Capped = {}
    for problem, task in order:
        for lib in libs:
            for tol in settings.tols[lib]:
                cells.append(_run_point(lib, problem, task, tol, settings, scratch, capped))
    return cells


def _parse_list(text: str, allowed: tuple[str, ...] | list[str]) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {list(allowed)}")
    return items


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    cells = "without --problems and --tasks: the default cells (bench/README.md); with either, all of each"
    parser.add_argument("--problems", type=lambda t: _parse_list(t, tuple(SPECS)), help=cells)
    parser.add_argument("--tasks", type=lambda t: _parse_list(t, TASKS))
    parser.add_argument("--libs", type=lambda t: _parse_list(t, tuple(LIBRARIES)), default=list(LIBRARIES))
    parser.add_argument(
        "--tols",
        type=tolerances.parse_option,
        action="append",
        default=[],
        metavar="LIB=TOL,...",
        help="a library's tolerances ('default' = its own; repeatable), e.g. glmnet=default,1e-10,1e-13",
    )
    parser.add_argument("--cap", type=float, default=300.0, help="seconds for the timed call of one point")
    parser.add_argument("--grace", type=float, default=120.0, help="extra seconds for loading and objectives")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per point; the median counts")
    parser.add_argument(
        "--repeat-below", type=float, default=30.0, help="no further repeat after one slower than this"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="shrink n and p (0.05 for a smoke run)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP/numba threads per process")
    parser.add_argument("--cv-jobs", type=int, default=2, help="processes for CV folds (peers' own loops)")
    parser.add_argument(
        "--warm-below", type=float, default=10.0, help="time a second call if the first was shorter"
    )
    parser.add_argument("--no-cold", action="store_true", help="skip the cold first-fit probes")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    return parser


def _order(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The (problem, task) cells to run, each problem's path before its cv."""
    if args.problems is None and args.tasks is None:
        return list(DEFAULT_CELLS)
    problems, tasks = args.problems or list(SPECS), args.tasks or list(TASKS)
    return [(problem, task) for problem in problems for task in TASKS if task in tasks]


def _settings(args: argparse.Namespace) -> Settings:
    return Settings(
        scale=args.scale,
        cap=args.cap,
        grace=args.grace,
        repeats=args.repeats,
        repeat_below=args.repeat_below,
        threads=args.threads,
        cv_jobs=args.cv_jobs,
        warm_below=args.warm_below,
        tols=tolerances.per_library(args.tols),
    )


def _available(requested: list[str], versions: dict[str, dict[str, Any]]) -> list[str]:
    libs = [lib for lib in requested if "version" in versions.get(lib, {})]
    for lib in requested:
        if lib not in libs:
            print(f"  {lib}: not available ({versions.get(lib, {}).get('error', 'unknown')[:200]})")
    return libs


def _tol_line(settings: Settings, libs: list[str]) -> str:
    def shown(lib: str, tol: str) -> str:
        return f"default ({compact(LIBRARIES[lib].default_tol)})" if tol == tolerances.DEFAULT else tol

    return "; ".join(f"{lib} " + ", ".join(shown(lib, tol) for tol in settings.tols[lib]) for lib in libs)


def _heading(settings: Settings, libs: list[str], command: str, commit: str) -> str:
    return (
        f"Time-accuracy frontier: `{command}`; scale {settings.scale:g}, cap {settings.cap:g} s, "
        f"median of up to {settings.repeats} (1 above {settings.repeat_below:g} s), {settings.threads} "
        f"threads, commit {commit}.\nTolerances: {_tol_line(settings, libs)}."
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings, order = _settings(args), _order(args)
    command = " ".join(["python -m bench.run", *(sys.argv[1:] if argv is None else argv)]).strip()
    started = datetime.now(UTC)
    machine = machine_info() | {"loadavg_start": os.getloadavg()}
    print(f"load average before: {machine['loadavg_start']}, nproc {machine['nproc']}", flush=True)
    for problem in dict.fromkeys(problem for problem, _ in order):
        ensure_cached(problem, settings.scale)
    with tempfile.TemporaryDirectory(prefix="sparsefit-bench-") as tmp:
        scratch = Path(tmp)
        versions = installed_versions(settings, scratch)
        libs = _available(args.libs, versions)
        cold = {} if args.no_cold else {lib: probe(lib, "cold", settings, scratch) for lib in libs}
        cells = run_all(order, settings, libs, scratch)
    table = frontier.build(cells, order, frontier.columns(libs, settings.tols), settings.cap)
    machine["loadavg_end"] = os.getloadavg()
    heading = _heading(settings, libs, command, machine["commit"])
    text = "\n".join(
        [
            f"\n{heading}",
            table.text(),
            frontier.LEGEND,
            "",
            *run_output.error_lines(cells),
            *run_output.sparsefit_lines(cells),
            *(run_output.cold_lines(cold) if cold else []),
            f"load average before {machine['loadavg_start']}, after {machine['loadavg_end']}",
        ]
    )
    print(text)
    markdown = f"{heading}\n\n{table.markdown()}\n\n{frontier.LEGEND}"
    suffix = "" if settings.scale == 1.0 else f"-scale{settings.scale:g}"
    payload = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "command": command,
        "settings": dataclasses.asdict(settings) | {"cells": order, "libs": args.libs},
        "machine": machine,
        "versions": versions,
        "cold_first_fit": cold,
        "cells": cells,
        "table": text,
        "frontier_markdown": markdown,
    }
    path = args.out_dir / f"solvers-{started:%Y%m%dT%H%M%SZ}{suffix}.json"
    run_output.write_results(path, payload, markdown)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"raw results: {shown} (the frontier in markdown: {shown.with_suffix('.md')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
