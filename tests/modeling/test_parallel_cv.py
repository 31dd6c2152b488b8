"""CV folds in forked processes give exactly the serial answer, and work from a non-daemonic child."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp

from service.modeling import CVSpec, Family, FitSpec, PathSpec, fit_model
from service.modeling.cv import PARALLEL_MIN_CELLS


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    n, p = 2000, PARALLEL_MIN_CELLS // 2000  # just large enough to run the folds in parallel
    X = rng.standard_normal((n, p))
    y = X[:, :5] @ np.array([1.0, -2.0, 0.5, 1.5, -1.0]) + rng.standard_normal(n)
    return X, y


SPEC = FitSpec(Family.GAUSSIAN, 1.0, None, PathSpec(n_alphas=8, alpha_min_ratio=0.05), CVSpec(n_folds=3))


def test_parallel_folds_match_serial_folds() -> None:
    X, y = _data()
    serial = fit_model(X, y, SPEC, cv_processes=1)
    parallel = fit_model(X, y, SPEC, cv_processes=2)
    assert serial.cv is not None and parallel.cv is not None
    assert np.array_equal(serial.cv.curves[0].folds, parallel.cv.curves[0].folds)
    assert serial.alpha == parallel.alpha and np.array_equal(serial.coef, parallel.coef)


def _record(reports: list[tuple[float, str]], fraction: float, stage: str) -> None:
    reports.append((fraction, stage))


@pytest.mark.parametrize("sparse", [False, True])
def test_a_full_fit_beside_the_folds_gives_the_serial_answer(sparse: bool) -> None:
    """Given alphas (a path, or one alpha) are known before the full fit, which then runs as one more
    task of the folds' pool: same path, curve, choice and diagnostics as one after the other."""
    X, y = _data()
    design = sp.csc_matrix(np.where(np.abs(X) < 1.0, 0.0, X)) if sparse else X
    alphas = tuple(np.geomspace(0.5, 0.01, 8))
    for spec in (
        replace(SPEC, path=PathSpec(alphas=alphas)),
        replace(SPEC, alpha=0.05),
    ):
        serial = fit_model(design, y, spec, cv_processes=1)
        reports: list[tuple[float, str]] = []
        beside = fit_model(design, y, spec, cv_processes=2, checkpoint=partial(_record, reports))
        assert serial.cv is not None and beside.cv is not None
        assert np.array_equal(serial.cv.curves[0].folds, beside.cv.curves[0].folds)
        assert np.array_equal(serial.path.coef, beside.path.coef)
        assert np.array_equal(serial.path.intercept, beside.path.intercept)
        assert np.array_equal(serial.path.dual_gap, beside.path.dual_gap)
        assert serial.alpha == beside.alpha and np.array_equal(serial.coef, beside.coef)
        stage = "path" if spec.alpha is None else "refit"
        assert [s for _, s in reports].count(stage) == 1 and reports[-1][0] == 1.0


def _fit_in_child(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    X, y = _data()
    queue.put(fit_model(X, y, SPEC, cv_processes=2).alpha)


@pytest.mark.timeout(120)
def test_a_job_process_can_run_parallel_folds() -> None:
    # The worker pool's job processes must not be daemonic: those may not fork the fold processes.
    context = multiprocessing.get_context("forkserver")
    queue = context.Queue()
    child = context.Process(target=_fit_in_child, args=(queue,), daemon=False)
    child.start()
    alpha = queue.get(timeout=100)
    child.join(timeout=10)
    assert child.exitcode == 0
    X, y = _data()
    assert alpha == fit_model(X, y, SPEC).alpha
