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
    tol: float
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
    default_tol: float
    isolated: bool = False  # runs from bench/.venv-peers (numpy<2)


LIBRARIES: dict[str, Library] = {
    lib.name: lib
    for lib in (
        Library("sparsefit", "bench.peers.sparsefit", "sparsefit", "csc", 1e-8),
        Library("sklearn", "bench.peers.sklearn", "scikit-learn", "csc", 1e-10),
        Library("glmnet", "bench.peers.glmnet", "python-glmnet", "csr", 1e-14),
        Library("adelie", "bench.peers.adelie", "adelie", "csc", 1e-14, isolated=True),
        Library("skglm", "bench.peers.skglm", "skglm", "csc", 1e-8),
        Library("celer", "bench.peers.celer", "celer", "csc", 1e-10),
    )
}
PEERS = tuple(name for name in LIBRARIES if name != "sparsefit")
