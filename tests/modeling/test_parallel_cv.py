"""CV folds in forked processes give exactly the serial answer, and work from a non-daemonic child."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

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
