"""What runs inside a worker process: load the dataset, fit, save the model, report over a pipe."""

from __future__ import annotations

import functools
import gc
import importlib.metadata
import logging
import os
import platform
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

# One BLAS/OpenMP thread per worker, set before numpy loads its BLAS: oversubscribed BLAS made a
# 0.6 s LassoCV take 16 s on our 2-core machines. The forkserver imports this module first.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

# What only the forkserver needs (pyarrow.dataset, the numba kernels) is in WorkerPool's preload
# list, not imported here: the web process imports this module for FitTask, and it must start fast.
from threadpoolctl import threadpool_limits  # noqa: E402

import service  # noqa: E402
from service import logs  # noqa: E402
from service.artifact import ModelArtifact, describe_model  # noqa: E402
from service.data.design import Design, DesignSpec  # noqa: E402
from service.data.sparse_design import build_any_design  # noqa: E402
from service.data.sparseio import dataset_from_bytes  # noqa: E402
from service.errors import JobCanceledError, ServiceError  # noqa: E402
from service.modeling import FitSpec  # noqa: E402
from service.store.blobs import DatasetStore, ModelStore  # noqa: E402

# Added to a job process's nice value (its CV fold processes inherit it).
WORKER_NICENESS = 10


@dataclass(frozen=True)
class FitTask:
    """Everything a worker needs to run one fit job, picklable."""

    job_id: str
    model_id: str
    data_dir: Path
    dataset_id: str
    dataset_sha256: str
    design: DesignSpec
    fit: FitSpec
    penalty: str
    tenant: str = "default"
    timeout_s: float = 3600.0
    cv_processes: int = 1
    server_pid: int = field(default_factory=os.getpid)
    # The HMAC key the model file is signed with (service.store.signing); never printed.
    artifact_secret: bytes = field(default=b"", repr=False)
    # Settings.min_free_bytes: the model is not saved (507) when less disk than this is free.
    min_free_bytes: int = 0


@dataclass(frozen=True)
class FitResult:
    """What a worker hands back: where the artifact is and what the model looks like."""

    model_id: str
    sha256: str
    size_bytes: int
    summary: dict[str, Any]


def versions() -> dict[str, str]:
    """Library versions recorded with each model, so a result can be reproduced."""
    return dict(_versions())  # a copy: callers may add to it


@functools.cache
def _versions() -> dict[str, str]:
    # From the installed distributions' metadata: importing scikit-learn to read its version cost
    # the web process 1.6 s of start-up, and nothing else there uses it.
    return {
        "sparsefit": service.__version__,
        "python": platform.python_version(),
        **{
            name: _distribution_version(name)
            for name in ("numpy", "numba", "scipy", "scikit-learn", "pyarrow")
        },
    }


def _distribution_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _server_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Checkpoint:
    """Reports progress and stops the fit when the job is canceled or the server is gone."""

    def __init__(self, conn: Connection, cancel: Event, server_pid: int) -> None:
        self._conn = conn
        self._cancel = cancel
        self._server_pid = server_pid

    def __call__(self, fraction: float, stage: str) -> None:
        if not _server_alive(self._server_pid):
            # Orphaned by a crashed server: nobody will read the result, so stop at once.
            os._exit(1)
        if self._cancel.is_set():
            raise JobCanceledError("The job was canceled.")
        send(self._conn, ("progress", float(fraction), stage))


def send(conn: Connection, message: tuple[Any, ...]) -> None:
    """Send ``message`` to the web process; when it no longer listens, end this process quietly.

    The web process stops reading a job it has given up on (timed out, shut down). A send into the
    closed pipe then raised BrokenPipeError inside the fit, and the report of that failure raised it
    again: two tracebacks in the log for a job whose timeout was already logged, once.
    """
    try:
        conn.send(message)
    except (BrokenPipeError, ConnectionResetError):
        os._exit(1)  # nobody will read a result; CV fold processes die with this one (PDEATHSIG)


def load_design(data_dir: Path, dataset_id: str, sha256: str, spec: DesignSpec) -> Design:
    """The design of ``spec`` on the stored dataset: dense, or CSC for a sparse dataset."""
    table = dataset_from_bytes(DatasetStore(data_dir).read(dataset_id, sha256))
    return build_any_design(table, spec)


def design_fit_spec(spec: FitSpec, design: Design) -> FitSpec:
    """``spec`` with the per-design-column penalty factors, bounds and feature map of ``design``.

    The request names features; only the built design knows the columns they became (one per
    level of a categorical), so this happens here rather than when the job is submitted.
    """
    constraints = design.constraints
    return replace(
        spec,
        penalty_factors=constraints.penalty_factors,
        lower_bounds=constraints.lower_bounds,
        upper_bounds=constraints.upper_bounds,
        column_features=constraints.column_features,
        # Data the engine refuses (extreme magnitudes) is named by column in the job's problem.
        column_names=tuple(design.encoder.design_columns),
    )


def execute(task: FitTask, checkpoint: Checkpoint) -> FitResult:
    """Load, fit and save; the artifact file is written atomically before the result is reported."""
    checkpoint(0.0, "loading")
    design = load_design(task.data_dir, task.dataset_id, task.dataset_sha256, task.design)
    checkpoint(0.02, "fitting")
    # Here, not at the top: the web process imports this module (FitTask) and needs no engine; the
    # forkserver has it preloaded (WorkerPool), so a job pays nothing for this import.
    from service.modeling.fit import fit_model

    outcome = fit_model(
        design.X,
        design.y,
        replace(design_fit_spec(task.fit, design), target_name=task.design.target),
        sample_weight=design.sample_weight,
        fold_ids=design.fold_ids,
        n_classes=None if design.classes is None else len(design.classes),
        checkpoint=checkpoint,
        cv_processes=task.cv_processes,
    )
    artifact = ModelArtifact(
        target=task.design.target,
        family=task.fit.family,
        encoder=design.encoder,
        classes=design.classes,
        outcome=outcome,
    )
    checkpoint(0.99, "saving")
    # atomic_write turns a full or read-only disk into its 507 / 503 problem, which ends the job.
    store = ModelStore(task.data_dir, secret=task.artifact_secret, min_free_bytes=task.min_free_bytes)
    digest = store.save(task.model_id, artifact, tenant=task.tenant)  # signed for this id and tenant
    summary = describe_model(artifact, task.penalty)
    summary["versions"] = versions()
    return FitResult(task.model_id, digest.sha256, digest.size, summary)


def run_fit_job(task: FitTask, conn: Connection, cancel: Event) -> None:
    """Process entry point: every outcome, good or bad, is one message on `conn`."""
    # Fits yield the CPU to the web process, so health checks and reads stay fast on a saturated pool.
    os.nice(WORKER_NICENESS)
    # The forkserver's imports left some 200,000 objects that the cyclic collector would walk on
    # every full collection the job's allocations trigger: 130 ms to pickle a 5,000-feature encoder
    # instead of 5, and 100 ms more per wide fit. Frozen, they are never walked (nor copied on write).
    gc.freeze()
    # The web process's log format and level, and the job's fields on every line this process logs.
    logs.configure_job_process(
        job_id=task.job_id, model_id=task.model_id, dataset_id=task.dataset_id, tenant=task.tenant
    )
    checkpoint = Checkpoint(conn, cancel, task.server_pid)
    try:
        with threadpool_limits(limits=1):
            result = execute(task, checkpoint)
        send(conn, ("done", result))
    except ServiceError as error:
        send(conn, ("error", error.to_problem()))
    except MemoryError:
        send(conn, ("error", _internal_problem("The fit ran out of memory.")))
    except Exception as error:  # any other failure is a bug; report it without internals
        logging.getLogger("service.worker").exception("job %s: the fit failed unexpectedly", task.job_id)
        send(conn, ("error", _internal_problem(f"The fit failed unexpectedly ({type(error).__name__}).")))
    finally:
        conn.close()


def _internal_problem(detail: str) -> dict[str, Any]:
    return {"type": "/problems/internal", "title": "Internal error", "status": 500, "detail": detail}


def warm_up() -> None:
    """Run in a fresh worker at pool start so the forkserver has everything imported."""
