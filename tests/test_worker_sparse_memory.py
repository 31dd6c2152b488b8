"""A sparse dataset too large to densify is fitted (with CV) and predicted through the real job path.

The probe runs in a fresh interpreter whose address space is capped after warming up: the dense
design would be 2,000 x 200,000 x 8 bytes = 3.2 GB, the cap leaves 2 GB, so any densification on
the way (reading the stored dataset, building the design, the fit and its CV folds, saving the
model, predicting) fails at once with MemoryError instead of exhausting the machine.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.json_probe import run_json_probe

_PROBE = textwrap.dedent(
    """
    import json, resource, sys, tempfile
    from pathlib import Path
    import numpy as np
    import scipy.sparse as sp
    from service.worker.artifact import predict
    from service.data.design import DesignSpec
    from service.data.sparse import SparseTable, canonical_csc
    from service.data.sparseio import sparse_to_bytes
    from service.data.svmlight import parse_svmlight_features
    from service.data.limits import TableLimits
    from service.modeling import CVSpec, Family, FitSpec, PathSpec, SelectionRule
    from service.store.blobs import DatasetStore, ModelStore
    from service.worker.kinds.fit import FitTask, execute

    SECRET = b"0123456789abcdef0123456789abcdef"
    root = Path(tempfile.mkdtemp())

    def sparse_dataset(rng, n, p, nnz):
        rows, cols = rng.integers(0, n, nnz), rng.integers(0, p, nnz)
        X = sp.csc_matrix((rng.uniform(0.5, 2.0, nnz), (rows, cols)), shape=(n, p))
        signal = np.zeros(p)
        signal[:200] = rng.normal(0.0, 3.0, 200)
        y = 1 + X @ signal + rng.normal(0.0, 1.0, n)
        matrix = canonical_csc(sp.hstack([sp.csc_matrix(y.reshape(-1, 1)), X], format="csc"))
        return SparseTable(("y", *(f"x{j}" for j in range(1, p + 1))), matrix)

    def store(table):
        dataset_id = format(abs(hash(table.n_columns)), "032x")[-32:]
        digest = DatasetStore(root).save(dataset_id, sparse_to_bytes(table))
        return dataset_id, digest.sha256

    def fit(table, n_alphas):
        dataset_id, sha = store(table)
        task = FitTask(
            job_id="j" * 32, model_id=format(table.n_columns, "032x"), data_dir=root, dataset_id=dataset_id,
            dataset_sha256=sha, design=DesignSpec(target="y", features=None, family="gaussian"),
            fit=FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=n_alphas, alpha_min_ratio=0.7),
                        CVSpec(n_folds=3, rule=SelectionRule.MIN)),
            penalty="lasso", artifact_secret=SECRET,
        )
        result = execute(task, lambda fraction, stage: None)
        return ModelStore(root, secret=SECRET).load(result.model_id, result.sha256), result

    def kib(field):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
        raise KeyError(field)

    rng = np.random.default_rng(0)
    fit(sparse_dataset(rng, 200, 1000, 4000), 3)  # warm up: imports, kernels, Parquet, joblib
    table = sparse_dataset(rng, 2000, 200_000, 40_000)
    # 201 rows, each with one of the first (signal) features and one of the last.
    body = b"".join(f"0 {r + 1}:1.5 {200_000 - r}:1\\n".encode() for r in range(201))
    limits = TableLimits(max_rows=10**7, max_columns=10**6, max_cells=10**9)

    limit = (kib("VmSize:") + 2 * 1024 * 1024) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    report = {}
    try:
        artifact, result = fit(table, 5)
        rows = parse_svmlight_features(body, zero_based=False, limits=limits, min_columns=200_000)
        predicted = predict(artifact, rows, None)
        report = {
            "coef_shape": list(artifact.outcome.coef.shape),
            "selected": len(result.summary["selected_features"]),
            "path_nonzero_last": int(np.count_nonzero(artifact.outcome.path.coef[-1])),
            "distinct_predictions": len(set(predicted.predictions)),
            "cv_folds": len(artifact.outcome.cv.fold_ids) if artifact.outcome.cv else 0,
            "path": int(artifact.outcome.path.alphas.shape[0]),
            "predictions": len(predicted.predictions),
            "finite": bool(np.all(np.isfinite(predicted.predictions))),
        }
    except MemoryError as error:
        report = {"memory_error": repr(error)}
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump(report, sys.stdout)
    """
)


@pytest.mark.slow
def test_sparse_dataset_too_large_to_densify_is_fitted_and_predicted_by_the_job_path() -> None:
    report = run_json_probe(_PROBE, timeout_s=280)
    assert "memory_error" not in report, f"densified? {report}"
    assert report["coef_shape"] == [200_000, 1]
    assert report["path"] == 5 and report["path_nonzero_last"] > 0 and report["selected"] > 0
    assert report["cv_folds"] == 2000  # one fold id per row: the CV ran
    assert report["predictions"] == 201 and report["finite"] and report["distinct_predictions"] > 1
