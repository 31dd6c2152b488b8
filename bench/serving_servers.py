"""The three servers of the serving bench, each pinned to one core, and the lasso they all serve."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
MLFLOW_VENV = REPO / "bench" / ".venv-mlflow"
DIABETES = REPO / "examples" / "diabetes.csv"
READY_TIMEOUT_S = 180.0
# One BLAS thread everywhere: the servers share one core, and the bench is about serving, not BLAS.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One server process in its own session, pinned with taskset, stopped with its children."""

    name: str
    command: list[str]
    health_path: str
    predict_path: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, core: str) -> None:
        command = ["taskset", "-c", core, *[part.format(port=self.port) for part in self.command]]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                env={**os.environ, **ONE_THREAD, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.base + self.health_path, timeout=2.0).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(
            f"{self.name} not ready in {READY_TIMEOUT_S} s:\n{self.log_path.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # stragglers of the session (workers)


@dataclass(frozen=True)
class Lasso:
    """The lasso Sparsefit fitted on diabetes: what every server predicts with."""

    model_id: str
    columns: list[str]
    coefficients: list[float]
    intercept: float
    rows: list[list[float]]  # the diabetes features, the requests' rows are taken from


def diabetes_rows() -> tuple[list[str], list[list[float]]]:
    with DIABETES.open() as file:
        reader = csv.reader(file)
        header = next(reader)
        target = header.index("y")
        columns = [name for i, name in enumerate(header) if i != target]
        rows = [[float(value) for i, value in enumerate(row) if i != target] for row in reader]
    return columns, rows


def fit_lasso(sparsefit: Server) -> Lasso:
    """Upload diabetes and fit the default lasso job (10-fold CV, the rule's alpha) on Sparsefit."""
    columns, rows = diabetes_rows()
    with httpx.Client(base_url=sparsefit.base, timeout=120.0) as client:
        dataset = client.post(
            "/v1/datasets?name=diabetes", content=DIABETES.read_bytes(), headers={"Content-Type": "text/csv"}
        )
        dataset.raise_for_status()
        job = client.post("/v1/jobs", json={"dataset_id": dataset.json()["id"], "target": "y"})
        job.raise_for_status()
        final = client.get(f"/v1/jobs/{job.json()['id']}?wait=60").json()
        if final["status"] != "succeeded":
            raise RuntimeError(f"the bench's fit did not succeed: {final}")
        model = client.get(f"/v1/models/{final['model_id']}").json()
    values = {entry["feature"]: float(entry["value"]) for entry in model["coefficients"]}
    return Lasso(
        final["model_id"], columns, [values[name] for name in columns], float(model["intercept"]), rows
    )


def save_mlflow_model(lasso: Lasso, directory: Path) -> Path:
    """The same lasso as an sklearn Lasso MLflow model, saved by the MLflow venv's python."""
    spec = directory / "lasso-spec.json"
    spec.write_text(
        json.dumps(
            {
                "columns": lasso.columns,
                "coefficients": lasso.coefficients,
                "intercept": lasso.intercept,
                "rows": lasso.rows[:20],
            }
        )
    )
    model_dir = directory / "mlflow-lasso"
    subprocess.run(
        [
            str(MLFLOW_VENV / "bin" / "python"),
            str(REPO / "bench" / "serving_mlflow_model.py"),
            str(spec),
            str(model_dir),
        ],
        check=True,
        env={**os.environ, **ONE_THREAD},
        capture_output=True,
    )
    return model_dir


def sparsefit_server(workdir: Path, extra_env: dict[str, str]) -> Server:
    """`python -m service` with one worker and a data dir of its own."""
    server = Server(
        "sparsefit",
        [sys.executable, "-m", "service"],
        "/readyz",
        "/v1/models/{model_id}/predictions",
        workdir / "sparsefit.log",
        env={"SPARSEFIT_DATA_DIR": str(workdir / "data"), "SPARSEFIT_WORKERS": "1", **extra_env},
    )
    server.env["SPARSEFIT_PORT"] = str(server.port)
    return server


def mlflow_server(workdir: Path, model_dir: Path) -> Server:
    """MLflow's scoring server on the saved model, in the MLflow venv, one uvicorn worker."""
    return Server(
        "mlflow",
        [
            str(MLFLOW_VENV / "bin" / "mlflow"),
            *("models", "serve", "-m", str(model_dir), "--env-manager", "local"),
            *("-h", "127.0.0.1", "-p", "{port}", "-w", "1"),
        ],
        "/ping",
        "/invocations",
        workdir / "mlflow.log",
        # It starts `uvicorn` from PATH: the MLflow venv's, not whatever the caller's PATH finds first.
        env={"PATH": f"{MLFLOW_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"},
    )


def bare_server(workdir: Path) -> Server:
    """The bare FastAPI route (bench.serving_bare) in the service's venv."""
    return Server(
        "bare",
        [sys.executable, "-m", "bench.serving_bare", "--port", "{port}"],
        "/healthz",
        "/predict/{rows}",
        workdir / "bare.log",
    )


def request_body(server: str, lasso: Lasso, rows: int) -> bytes:
    """The POST body for ``rows`` rows, in each server's own format (columns by name everywhere)."""
    data = [lasso.rows[i % len(lasso.rows)] for i in range(rows)]
    if server == "mlflow":
        return json.dumps({"dataframe_split": {"columns": lasso.columns, "data": data}}).encode()
    return json.dumps({"columns": lasso.columns, "data": data}).encode()


def predictions(server: Server, path: str, body: bytes) -> list[float]:
    response = httpx.post(server.base + path, content=body, headers={"Content-Type": "application/json"})
    response.raise_for_status()
    answer: Any = response.json()
    return [float(value) for value in answer["predictions"]]
