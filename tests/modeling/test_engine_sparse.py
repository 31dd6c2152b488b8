"""Sparse designs: a scipy.sparse CSC matrix gives the dense answer, and is never densified."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from service.modeling.specs import Family
from tests.json_probe import run_json_probe
from tests.modeling.engine_checks import EngineProblem, FloatArray, dataset, objective, tight_tol, variant

# Dense and sparse runs solve the same problem to the same tight tolerance, so their answers may
# differ by the solver's certified accuracy only. The objective is pinned down far more tightly than
# the coefficients: a duality gap of tol * var(y) bounds the objective's error by that much, but a
# coefficient's only by about sqrt(2 gap / (alpha (1 - l1_ratio))) in the elastic net. Measured:
# lasso paths agree to ~1e-15, elastic-net ones to ~1e-8 (7e-8 for weighted diabetes at l1 0.5).
AGREEMENT = 1e-6
OBJECTIVE_AGREEMENT = 1e-11


def as_sparse(problem: EngineProblem, container: str = "csc_matrix") -> EngineProblem:
    return problem.with_(X=sp.csc_array(problem.X) if container == "csc_array" else sp.csc_matrix(problem.X))


def as_dense(problem: EngineProblem) -> EngineProblem:
    X = problem.X.toarray() if sp.issparse(problem.X) else problem.X
    return problem.with_(X=np.asfortranarray(X))


def relative_difference(a: FloatArray, b: FloatArray, floor: float = 0.0) -> float:
    return float(np.max(np.abs(a - b), initial=0.0) / max(float(np.max(np.abs(b), initial=0.0)), floor))


SPARSE_CASES: list[tuple[str, str, float, str]] = [
    ("sparse_gaussian", "plain", 1.0, "csc_matrix"),
    ("sparse_gaussian", "plain", 0.5, "csc_matrix"),
    ("sparse_gaussian", "plain", 1.0, "csc_array"),
    ("sparse_gaussian", "no_intercept", 1.0, "csc_matrix"),
    ("sparse_gaussian", "no_intercept", 0.5, "csc_matrix"),
    ("sparse_gaussian", "weights", 1.0, "csc_matrix"),
    ("sparse_gaussian", "weights", 0.5, "csc_matrix"),
    ("sparse_gaussian", "combined", 1.0, "csc_matrix"),
    ("diabetes", "plain", 1.0, "csc_matrix"),
    ("diabetes", "weights", 0.5, "csc_matrix"),
    ("sparse_binomial", "plain", 1.0, "csc_matrix"),
    ("sparse_binomial", "plain", 1.0, "csc_array"),
    ("sparse_binomial", "no_intercept", 0.5, "csc_matrix"),
    ("sparse_binomial", "weights", 1.0, "csc_matrix"),
    ("sparse_binomial", "combined", 0.5, "csc_matrix"),
    ("wine", "plain", 1.0, "csc_matrix"),
]


@pytest.mark.parametrize(("name", "variant_name", "l1_ratio", "container"), SPARSE_CASES)
def test_sparse_design_gives_the_dense_path(
    name: str, variant_name: str, l1_ratio: float, container: str
) -> None:
    base = variant(dataset(name), variant_name)
    sparse, dense = as_sparse(base, container), as_dense(base)
    assert sp.issparse(sparse.X) and sparse.X.format == "csc"
    data, indices, indptr = sparse.X.data.copy(), sparse.X.indices.copy(), sparse.X.indptr.copy()

    start = dense.alpha_max(l1_ratio)
    assert sparse.alpha_max(l1_ratio) == pytest.approx(start, rel=1e-12)
    alphas = np.geomspace(start, start * 1e-2, 15)
    tol = tight_tol(base.family)
    from_dense = dense.solve(l1_ratio, alphas, tol)
    from_sparse = sparse.solve(l1_ratio, alphas, tol)

    assert from_sparse.coef.shape == from_dense.coef.shape == (15, base.p, base.width)
    assert np.count_nonzero(from_dense.coef[-1]) > 0
    for i, alpha in enumerate(alphas):
        f_dense = objective(dense, l1_ratio, alpha, from_dense.coef[i], from_dense.intercept[i])
        f_sparse = objective(dense, l1_ratio, alpha, from_sparse.coef[i], from_sparse.intercept[i])
        assert abs(f_sparse - f_dense) <= OBJECTIVE_AGREEMENT * abs(f_dense), (
            f"alpha #{i}: objective {f_sparse!r} (sparse) vs {f_dense!r} (dense)"
        )
    coef_gap = relative_difference(from_sparse.coef, from_dense.coef)
    assert coef_gap <= AGREEMENT, f"sparse vs dense coefficients differ by {coef_gap:.3e} (relative)"
    intercept_gap = relative_difference(from_sparse.intercept, from_dense.intercept, floor=1.0)
    assert intercept_gap <= AGREEMENT, f"sparse vs dense intercepts differ by {intercept_gap:.3e}"
    assert from_sparse.converged.all()
    if not base.fit_intercept:
        assert np.all(from_sparse.intercept == 0.0)
    # The caller's matrix is left as it was.
    assert np.array_equal(sparse.X.data, data) and np.array_equal(sparse.X.indices, indices)
    assert np.array_equal(sparse.X.indptr, indptr)


@pytest.mark.parametrize("name", ["diabetes", "breast_cancer", "wine"])
def test_row_and_column_major_dense_designs_agree(name: str) -> None:
    problem = dataset(name)
    start = problem.alpha_max(1.0)
    alphas = np.geomspace(start, start * 1e-1, 8)
    tol = tight_tol(problem.family)
    fortran = problem.with_(X=np.asfortranarray(problem.X)).solve(1.0, alphas, tol)
    c_order = problem.with_(X=np.ascontiguousarray(problem.X)).solve(1.0, alphas, tol)
    assert relative_difference(c_order.coef, fortran.coef) <= AGREEMENT
    assert relative_difference(c_order.intercept, fortran.intercept, floor=1.0) <= AGREEMENT


# Runs in a fresh interpreter so that its peak memory is the fit's own. The dense design would be
# 2000 x 200000 x 8 bytes = 3.2 GB; the address space is capped at 2 GB above what the warmed-up
# process already maps, so densifying fails fast with MemoryError instead of exhausting the machine.
_MEMORY_PROBE = textwrap.dedent(
    """
    import json, resource, sys, tracemalloc
    import numpy as np
    import scipy.sparse as sp
    from service.modeling.engine.solver import alpha_max, solve_path
    from service.modeling.specs import Family

    def sparse_design(rng, n, p, nnz):
        rows, cols = rng.integers(0, n, nnz), rng.integers(0, p, nnz)
        return sp.csc_matrix((rng.uniform(0.5, 2.0, nnz), (rows, cols)), shape=(n, p))

    rng = np.random.default_rng(0)
    n, p = 2000, 200_000
    X = sparse_design(rng, n, p, 40_000)
    signal = np.zeros(p)
    signal[:200] = rng.normal(0.0, 3.0, 200)
    eta = X @ signal
    targets = {
        "gaussian": (Family.GAUSSIAN, 1 + eta + rng.normal(0.0, 1.0, n), 1),
        "binomial": (Family.BINOMIAL, (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(np.int64), 2),
    }
    w = np.ones(n)
    # Warm up (compilation, caches) on a small problem first.
    small = sparse_design(rng, 200, 1000, 2000)
    for family, y, k in targets.values():
        ys = y[:200]
        a = alpha_max(small, ys, np.ones(200), family, 1.0, True, n_classes=k)
        alphas = np.array([a, 0.9 * a])
        solve_path(small, ys, np.ones(200), family, 1.0, alphas, True, 1e-7, 1000, None, n_classes=k)

    def kib(field):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
        raise KeyError(field)

    limit = (kib("VmSize:") + 2 * 1024 * 1024) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    report = {}
    for name, (family, y, k) in targets.items():
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        try:
            a = alpha_max(X, y, w, family, 1.0, True, n_classes=k)
            alphas = np.geomspace(a, 0.7 * a, 5)
            sol = solve_path(X, y, w, family, 1.0, alphas, True, 1e-7, 10_000, None, n_classes=k)
            outcome = {"shape": list(sol.coef.shape), "nonzero_last": int(np.count_nonzero(sol.coef[-1])),
                       "converged": bool(sol.converged.all())}
        except MemoryError as error:
            outcome = {"memory_error": repr(error)}
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        report[name] = {"traced_peak_mb": peak / 2**20, "rss_growth_mb": rss_growth / 1024, **outcome}
    json.dump(report, sys.stdout)
    """
)


@pytest.mark.slow
def test_large_sparse_design_is_never_densified() -> None:
    report = run_json_probe(_MEMORY_PROBE, timeout_s=240)
    for family in (Family.GAUSSIAN, Family.BINOMIAL):
        result = report[family.value]
        assert "memory_error" not in result, f"{family}: densified? {result}"
        assert result["shape"] == [5, 200_000, 1]
        assert result["nonzero_last"] > 0 and result["converged"], result
        # The design is 40,000 nonzeros (under 1 MB); the answer 5 x 200,000 doubles (8 MB).
        assert result["traced_peak_mb"] < 300, result
        assert result["rss_growth_mb"] < 300, result
