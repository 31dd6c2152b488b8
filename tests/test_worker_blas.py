"""A job's BLAS and OpenMP pools run one thread inside service.worker.blas.one_thread, as before."""

from __future__ import annotations

from threadpoolctl import threadpool_info

from service.worker import blas


def test_one_thread_limits_every_pool_and_restores_it() -> None:
    assert blas.controller() is blas.controller()  # found once per process
    with blas.controller().limit(limits=2):
        assert any(pool["num_threads"] == 2 for pool in threadpool_info())
        with blas.one_thread():
            assert {pool["num_threads"] for pool in threadpool_info()} == {1}
        assert any(pool["num_threads"] == 2 for pool in threadpool_info())
