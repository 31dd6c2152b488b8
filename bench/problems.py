"""The benchmark problems P1-P5 of shared/PERFORMANCE.md: generation, on-disk cache, loading, alpha grids."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Design = FloatArray | sp.csr_matrix | sp.csc_matrix
SparseFormat = Literal["csr", "csc"]
Family = Literal["gaussian", "binomial"]

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
# Bump when the generator changes, so stale caches are never reused.
GENERATOR_VERSION = 1

SUPPORT_FRACTION = 0.05  # share of nonzero true coefficients
SNR = 3.0  # variance of the signal over variance of the noise
TRUE_INTERCEPT = 0.7
LOGIT_SD = 2.0  # standard deviation of the logistic linear predictor
SPARSE_DENSITY = 1e-3
N_FOLDS = 5
PATH_LENGTH = 100
PATH_RATIO = 1e-3  # smallest alpha / alpha_max
SINGLE_DIVISOR = 20.0  # the single fit is at alpha_max / 20
TASKS = ("single", "path", "cv")


@dataclass(frozen=True)
class ProblemSpec:
    """One row of PERFORMANCE.md's problem table; ``data`` names the problem whose data it uses."""

    name: str
    data: str
    seed: int
    n: int
    p: int
    sparse: bool
    family: Family
    l1_ratio: float
    fit_intercept: bool

    def shape(self, scale: float) -> tuple[int, int]:
        """(n, p) shrunk by ``scale`` for quick runs; 1.0 is the real problem."""
        return max(round(self.n * scale), 50), max(round(self.p * scale), 5)


SPECS: dict[str, ProblemSpec] = {
    "P1": ProblemSpec("P1", "P1", 1, 100_000, 200, False, "gaussian", 1.0, True),
    "P2": ProblemSpec("P2", "P2", 2, 2_000, 20_000, False, "gaussian", 1.0, True),
    "P3": ProblemSpec("P3", "P3", 3, 20_000, 100_000, True, "gaussian", 1.0, True),
    "P4": ProblemSpec("P4", "P4", 4, 20_000, 2_000, False, "binomial", 1.0, False),
    "P5": ProblemSpec("P5", "P2", 2, 2_000, 20_000, False, "gaussian", 0.5, True),
}


@dataclass(frozen=True)
class Problem:
    """A loaded problem: X (dense Fortran-ordered, or sparse in the requested format), y, CV folds."""

    spec: ProblemSpec
    scale: float
    X: Design
    y: FloatArray  # standardized response, or 0.0/1.0 labels
    folds: IntArray  # fold id per row, from KFold(5, shuffle=True, random_state=0)

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def p(self) -> int:
        return int(self.X.shape[1])

    def alpha_max(self) -> float:
        """The smallest alpha with all coefficients zero (centered data when there is an intercept)."""
        if self.spec.family == "binomial":
            # Without intercept the null model is eta = 0, p = 0.5 (with one, it is logit(mean y)).
            residual = self.y - (self.y.mean() if self.spec.fit_intercept else 0.5)
            return float(np.max(np.abs(self.X.T @ residual))) / self.n / self.spec.l1_ratio
        residual = self.y - self.y.mean() if self.spec.fit_intercept else self.y
        # X^T y_c equals X_c^T y_c because y_c sums to zero, so sparse X needs no centering.
        return float(np.max(np.abs(self.X.T @ residual))) / (self.n * self.spec.l1_ratio)

    def alphas(self, task: str) -> FloatArray:
        """The task's alphas, decreasing: one at alpha_max/20, or the 100-point log grid."""
        top = self.alpha_max()
        if task == "single":
            return np.array([top / SINGLE_DIVISOR])
        return np.geomspace(top, top * PATH_RATIO, PATH_LENGTH)


def _true_coefficients(rng: np.random.Generator, p: int) -> FloatArray:
    k = max(1, round(SUPPORT_FRACTION * p))
    support = rng.choice(p, k, replace=False)
    signs = rng.choice(np.array([-1.0, 1.0]), size=k)
    coef = np.zeros(p)
    coef[support] = signs * rng.uniform(0.5, 2.0, size=k)
    return coef


def _design(rng: np.random.Generator, spec: ProblemSpec, n: int, p: int) -> Design:
    if not spec.sparse:
        return np.asfortranarray(rng.standard_normal((n, p)))
    X = sp.random_array(
        (n, p),
        density=SPARSE_DENSITY,
        format="csr",
        rng=rng,
        data_sampler=lambda size: rng.exponential(1.0, size),
    )
    return sp.csr_matrix(X)


def _response(rng: np.random.Generator, spec: ProblemSpec, eta: FloatArray) -> FloatArray:
    if spec.family == "binomial":
        eta = eta * (LOGIT_SD / eta.std())
        return rng.binomial(1, 1.0 / (1.0 + np.exp(-eta))).astype(np.float64)
    noise_sd = np.sqrt(eta.var() / SNR)
    y = eta + TRUE_INTERCEPT + noise_sd * rng.standard_normal(eta.shape[0])
    return (y - y.mean()) / y.std()


def _fold_ids(n: int) -> IntArray:
    from sklearn.model_selection import KFold

    folds = np.empty(n, dtype=np.int64)
    for k, (_, test) in enumerate(KFold(N_FOLDS, shuffle=True, random_state=0).split(np.zeros(n))):
        folds[test] = k
    return folds


def generate(spec: ProblemSpec, scale: float) -> tuple[Design, FloatArray, IntArray]:
    """Draw X, then the true coefficients, then the noise (or labels), all from default_rng(seed)."""
    n, p = spec.shape(scale)
    rng = np.random.default_rng(spec.seed)
    X = _design(rng, spec, n, p)
    coef = _true_coefficients(rng, p)
    y = _response(rng, spec, np.asarray(X @ coef))
    return X, y, _fold_ids(n)


def cache_dir(spec: ProblemSpec, scale: float) -> Path:
    return CACHE_DIR / f"{spec.data}-scale{scale:g}-v{GENERATOR_VERSION}"


def _save_sparse(directory: Path, X: sp.csr_matrix) -> None:
    for fmt, matrix in (("csr", X), ("csc", X.tocsc())):
        matrix.sort_indices()
        for part in ("data", "indices", "indptr"):
            np.save(directory / f"X_{fmt}_{part}.npy", getattr(matrix, part))


def ensure_cached(name: str, scale: float) -> Path:
    """Generate the problem's data into the cache unless it is there; returns its directory."""
    spec = SPECS[name]
    target = cache_dir(spec, scale)
    if (target / "meta.json").exists():
        return target
    X, y, folds = generate(SPECS[spec.data], scale)
    staging = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if sp.issparse(X):
        _save_sparse(staging, X)
    else:
        np.save(staging / "X.npy", X)  # Fortran order is kept
    np.save(staging / "y.npy", y)
    np.save(staging / "folds.npy", folds)
    meta = {"n": X.shape[0], "p": X.shape[1], "sparse": sp.issparse(X), "generator": GENERATOR_VERSION}
    (staging / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def _load_sparse(directory: Path, fmt: SparseFormat, shape: tuple[int, int]) -> Design:
    parts = [
        np.load(directory / f"X_{fmt}_{part}.npy", mmap_mode="r") for part in ("data", "indices", "indptr")
    ]
    data, indices, indptr = (np.array(part) for part in parts)
    matrix = sp.csr_matrix if fmt == "csr" else sp.csc_matrix
    return matrix((data, indices, indptr), shape=shape)


def load(name: str, scale: float, sparse_format: SparseFormat = "csc") -> Problem:
    """Load a cached problem into memory: dense X as a writable Fortran array, sparse X as CSR or CSC."""
    spec = SPECS[name]
    directory = cache_dir(spec, scale)
    meta = json.loads((directory / "meta.json").read_text())
    shape = (int(meta["n"]), int(meta["p"]))
    if meta["sparse"]:
        X = _load_sparse(directory, sparse_format, shape)
    else:
        X = np.array(np.load(directory / "X.npy", mmap_mode="r"), order="F")
    y = np.array(np.load(directory / "y.npy", mmap_mode="r"))
    folds = np.array(np.load(directory / "folds.npy", mmap_mode="r"))
    return Problem(spec=spec, scale=scale, X=X, y=y, folds=folds)
