"""What a peer adapter is given (a Job) and returns (a Fit), and the registry of adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.problems import FloatArray, IntArray, Problem, SparseFormat

ROOT = Path(__file__).resolve().parents[2]
PEERS_PYTHON = ROOT / "bench" / ".venv-peers" / "bin" / "python"


@dataclass(frozen=True)
class Job:
    """One timed call: the problem, the task (single/path/cv), its alphas and the solver settings."""

    problem: Problem
    task: str
    alphas: FloatArray
    tol: float | None  # None: the library's own default (the adapter passes no tol)
    cv_jobs: int  # processes for the CV folds (1: sequential)
    threads: int  # threads a library may use itself (adelie's n_threads)


@dataclass
class Fit:
    """The full-data solutions a library returned: coef (m, p), intercept (m,), and which alphas they solve.

    ``alpha_index`` indexes the job's alphas (a CV estimator that refits only at its chosen alpha
    returns one row). ``info`` carries anything worth keeping (iterations, CV choice).
    """

    coef: FloatArray
    intercept: FloatArray
    alpha_index: IntArray
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def full(cls, coef: FloatArray, intercept: FloatArray, **info: Any) -> Fit:
        """A fit that solved every alpha of the job, in order."""
        coef = np.ascontiguousarray(coef, dtype=np.float64)
        index = np.arange(coef.shape[0], dtype=np.int64)
        return cls(coef, np.asarray(intercept, dtype=np.float64).reshape(-1), index, dict(info))


@dataclass(frozen=True)
class Library:
    """A benchmarked library: its adapter module, the distribution to report, and the venv it runs in."""

    name: str
    module: str
    distribution: str
    sparse_format: SparseFormat
    # The tol the library uses when given none (what its "default" point runs with): only for the
    # labels and for ordering its points from loose to tight; the default point passes no tol.
    default_tol: float
    # The tolerances benchmarked by default: its own default and tighter ones (bench/README.md).
    tols: tuple[str, ...]
    isolated: bool = False  # runs from bench/.venv-peers (numpy<2)


LIBRARIES: dict[str, Library] = {
    lib.name: lib
    for lib in (
        # JobCreate's solver.tol (service/modeling/specs.py default_tol: 1e-3 gaussian, 1e-5 logistic,
        # labelled by the gaussian one), what a REST user gets; 1e-5 and 1e-8 reach gaps < 1e-6.
        Library("sparsefit", "bench.peers.sparsefit", "sparsefit", "csc", 1e-3, ("default", "1e-5", "1e-8")),
        Library("sklearn", "bench.peers.sklearn", "scikit-learn", "csc", 1e-4, ("default", "1e-10")),
        # glmnet's thresh; glmnet and adelie need about 1e-13 for a 1e-6 gap on wide paths.
        Library("glmnet", "bench.peers.glmnet", "python-glmnet", "csr", 1e-7, ("default", "1e-10", "1e-13")),
        Library("adelie", "bench.peers.adelie", "adelie", "csc", 1e-7, ("default", "1e-10", "1e-13"), True),
        Library("skglm", "bench.peers.skglm", "skglm", "csc", 1e-4, ("default", "1e-8")),
        # celer_path's own default (celer.Lasso's is 1e-4, but the path routine is what is called).
        Library("celer", "bench.peers.celer", "celer", "csc", 1e-6, ("default", "1e-10")),
    )
}
PEERS = tuple(name for name in LIBRARIES if name != "sparsefit")


def tol_kwargs(job: Job, *names: str) -> dict[str, float]:
    """The tol keyword arguments for the library, or none at all for its default point."""
    return {} if job.tol is None else dict.fromkeys(names, job.tol)
