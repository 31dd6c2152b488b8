"""Predictions per second on one core: Sparsefit, MLflow's scoring server and a bare FastAPI route.

`python -m bench.serving [--duration 10] [--warmup 2] [--rows 1,1000] [--connections 1,8]` (see
bench/README.md). Every server runs pinned to core 0 (`taskset -c 0`, one at a time under load),
wrk runs on core 1; the same lasso, fitted by Sparsefit on diabetes, is served by all of them.
Prints requests/s per server and cell with the ratios Sparsefit/MLflow and Sparsefit/bare, and
writes everything to bench/results/serving-<UTC>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench.serving_servers import (
    MLFLOW_VENV,
    REPO,
    Lasso,
    Server,
    bare_server,
    fit_lasso,
    mlflow_server,
    predictions,
    request_body,
    save_mlflow_model,
    sparsefit_server,
)

SERVER_CORE = "0"
WRK_CORE = "1"
# The goals: at least 3x MLflow in every cell, at least half the bare route for single rows.
MLFLOW_GOAL = 3.0
BARE_GOAL = 0.5


def wrk(url: str, body: bytes, connections: int, seconds: float, script_dir: Path) -> dict[str, Any]:
    """One wrk run (one thread, on WRK_CORE) POSTing ``body``; requests/s, latencies and errors."""
    script = script_dir / "post.lua"
    text = body.decode()
    if "]==]" in text:
        raise ValueError("the body cannot be embedded in a Lua long string")
    script.write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[{text}]==]\n'
    )
    command = [
        *("taskset", "-c", WRK_CORE, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s"),
        *("--latency", "-s", str(script), url),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "requests_per_s": float(rate.group(1)) if rate else 0.0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
        "latency": dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", output, flags=re.MULTILINE)),
        "output": output,
    }


def url_of(server: Server, lasso: Lasso, rows: int) -> str:
    return server.base + server.predict_path.format(model_id=lasso.model_id, rows=rows)


def check_agreement(found: dict[str, Server], lasso: Lasso, rows: int) -> dict[str, float]:
    """Largest relative difference of each server's predictions from Sparsefit's, on ``rows`` rows."""
    reference = predictions(
        found["sparsefit"],
        url_of(found["sparsefit"], lasso, rows)[len(found["sparsefit"].base) :],
        request_body("sparsefit", lasso, rows),
    )
    differences = {}
    if "mlflow" in found:
        path = url_of(found["mlflow"], lasso, rows)[len(found["mlflow"].base) :]
        theirs = predictions(found["mlflow"], path, request_body("mlflow", lasso, rows))
        assert len(theirs) == len(reference), (len(theirs), len(reference))
        differences["mlflow"] = max(
            abs(a - b) / max(abs(a), 1e-300) for a, b in zip(reference, theirs, strict=True)
        )
    return differences


def load_average() -> list[float]:
    return list(os.getloadavg())


def versions() -> dict[str, str]:
    found = {"sparsefit": version("sparsefit"), "fastapi": version("fastapi"), "uvicorn": version("uvicorn")}
    probe = "from importlib.metadata import version as v; print(v('mlflow'), v('scikit-learn'), v('uvicorn'))"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        mlflow, sklearn, uvicorn = subprocess.run(
            [str(MLFLOW_VENV / "bin" / "python"), "-c", probe], capture_output=True, text=True, check=True
        ).stdout.split()
        found |= {"mlflow": mlflow, "mlflow_scikit_learn": sklearn, "mlflow_uvicorn": uvicorn}
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return found | {"wrk": wrk_version, "python": platform.python_version()}


def report(cells: list[dict[str, Any]], names: list[str]) -> list[str]:
    """The printed table: requests/s per server, then the two ratios and whether each goal holds."""
    header = f"{'rows':>5} {'conc':>4} " + " ".join(f"{name:>10}" for name in names)
    header += f" {'sf/mlflow':>10} {'sf/bare':>8}"
    lines = ["requests/s (one core per server, wrk on the other)", header]
    for cell in cells:
        rates = cell["requests_per_s"]
        line = f"{cell['rows']:>5} {cell['connections']:>4} " + " ".join(
            f"{rates.get(n, 0):>10.0f}" for n in names
        )
        mlflow_ratio = cell.get("sparsefit_over_mlflow")
        bare_ratio = cell.get("sparsefit_over_bare")
        line += f" {mlflow_ratio:>9.2f}x" if mlflow_ratio is not None else f" {'-':>10}"
        line += f" {bare_ratio:>7.2f}x" if bare_ratio is not None else f" {'-':>8}"
        goals = []
        if mlflow_ratio is not None:
            goals.append(f">= {MLFLOW_GOAL:g}x MLflow {'met' if mlflow_ratio >= MLFLOW_GOAL else 'MISSED'}")
        if bare_ratio is not None and cell["rows"] == 1:
            goals.append(f">= {BARE_GOAL:g} of bare {'met' if bare_ratio >= BARE_GOAL else 'MISSED'}")
        lines.append(line + ("  " + "; ".join(goals) if goals else ""))
    return lines


def ratio(rates: dict[str, float], numerator: str, denominator: str) -> float | None:
    if numerator in rates and rates.get(denominator, 0) > 0:
        return rates[numerator] / rates[denominator]
    return None


def measure(
    found: dict[str, Server],
    lasso: Lasso,
    row_counts: list[int],
    concurrency: list[int],
    seconds: tuple[float, float],
    workdir: Path,
) -> list[dict[str, Any]]:
    """Every cell, each server in turn: a warm-up run of wrk, then the measured one."""
    warmup, duration = seconds
    cells = []
    for rows in row_counts:
        for connections in concurrency:
            rates: dict[str, float] = {}
            raw: dict[str, Any] = {}
            for name, server in found.items():
                url = url_of(server, lasso, rows)
                body = request_body(name, lasso, rows)
                wrk(url, body, connections, warmup, workdir)
                result = wrk(url, body, connections, duration, workdir)
                if result["non_2xx"] or result["socket_errors"]:
                    errors = result["socket_errors"]
                    print(f"  {name}: {result['non_2xx']} answers not 2xx, socket errors {errors}")
                rates[name] = result["requests_per_s"]
                raw[name] = result
            cell = {
                "rows": rows,
                "connections": connections,
                "requests_per_s": rates,
                "sparsefit_over_mlflow": ratio(rates, "sparsefit", "mlflow"),
                "sparsefit_over_bare": ratio(rates, "sparsefit", "bare"),
                "wrk": raw,
            }
            cells.append(cell)
            print(report([cell], list(found))[-1], flush=True)
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each measured wrk run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk before each measured run")
    parser.add_argument("--rows", default="1,1000", help="rows per request, comma-separated")
    parser.add_argument("--connections", default="1,8", help="wrk connections (concurrency), comma-separated")
    parser.add_argument("--servers", default="sparsefit,mlflow,bare", help="which servers (sparsefit always)")
    parser.add_argument(
        "--sparsefit-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra SPARSEFIT_* settings",
    )
    parser.add_argument("--out-dir", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    row_counts = [int(value) for value in args.rows.split(",")]
    concurrency = [int(value) for value in args.connections.split(",")]
    wanted = {"sparsefit", *args.servers.split(",")}
    if "mlflow" in wanted and not (MLFLOW_VENV / "bin" / "mlflow").exists():
        print(f"serving: no MLflow venv at {MLFLOW_VENV} (make bench-serving creates it); MLflow is left out")
        wanted.discard("mlflow")
    extra_env = dict(item.split("=", 1) for item in args.sparsefit_env)
    started = datetime.now(UTC)
    load_before = load_average()
    print(
        f"load average before: {' '.join(f'{value:.2f}' for value in load_before)} on {os.cpu_count()} cores"
    )
    cells: list[dict[str, Any]] = []
    agreement: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="sparsefit-serving-") as temporary:
        workdir = Path(temporary)
        found: dict[str, Server] = {}
        try:
            found["sparsefit"] = sparsefit_server(workdir, extra_env)
            found["sparsefit"].start(SERVER_CORE)
            lasso = fit_lasso(found["sparsefit"])
            if "mlflow" in wanted:
                found["mlflow"] = mlflow_server(workdir, save_mlflow_model(lasso, workdir))
            if "bare" in wanted:
                found["bare"] = bare_server(workdir)
            for name, server in found.items():
                if name != "sparsefit":
                    server.start(SERVER_CORE)
            agreement = check_agreement(found, lasso, max(row_counts))
            print(f"model {lasso.model_id}; largest relative difference of predictions: {agreement}")
            cells = measure(found, lasso, row_counts, concurrency, (args.warmup, args.duration), workdir)
        finally:
            for server in found.values():
                server.stop()
    load_after = load_average()
    lines = report(cells, list(found))
    print()
    print("\n".join(lines))
    print(f"load average after: {' '.join(f'{value:.2f}' for value in load_after)}")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"serving-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    document = {
        "command": shlex.join([sys.executable, "-m", "bench.serving", *(argv or sys.argv[1:])]),
        "started": started.isoformat(),
        "cores": {"servers": SERVER_CORE, "wrk": WRK_CORE, "machine": os.cpu_count()},
        "load_average": {"before": load_before, "after": load_after},
        "versions": versions(),
        "settings": {"duration_s": args.duration, "warmup_s": args.warmup, "sparsefit_env": extra_env},
        "agreement_max_relative_difference": agreement,
        "goals": {"sparsefit_over_mlflow": MLFLOW_GOAL, "sparsefit_over_bare_single_row": BARE_GOAL},
        "table": lines,
        "cells": cells,
    }
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
