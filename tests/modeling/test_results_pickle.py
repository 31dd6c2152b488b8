"""Paths are pickled as their nonzeros and unpickled dense, including paths pickled before that."""

import pickle

import numpy as np

from service.modeling.results import PathResult


def _path(n_alphas: int = 30, n_features: int = 5_000) -> PathResult:
    rng = np.random.default_rng(0)
    coef = np.zeros((n_alphas, n_features, 1))
    for i in range(n_alphas):  # more features enter as alpha falls, as on a lasso path
        coef[i, : i + 1, 0] = rng.standard_normal(i + 1)
    return PathResult(
        alphas=np.geomspace(1.0, 0.01, n_alphas),
        l1_ratio=1.0,
        coef=coef,
        coef_std=coef * 2.0,
        intercept=rng.standard_normal((n_alphas, 1)),
        n_selected=np.count_nonzero(coef[:, :, 0], axis=1),
        deviance_ratio=np.linspace(0.0, 0.9, n_alphas),
        n_iter=np.arange(n_alphas),
        dual_gap=np.full(n_alphas, 1e-9),
        converged=np.ones(n_alphas, dtype=bool),
    )


def test_a_path_round_trips_exactly_and_pickles_small() -> None:
    path = _path()
    data = pickle.dumps(path, protocol=5)
    back = pickle.loads(data)
    for name in ("alphas", "coef", "coef_std", "intercept", "n_selected", "dual_gap", "converged"):
        np.testing.assert_array_equal(getattr(back, name), getattr(path, name))
    assert back.coef.shape == path.coef.shape and back.coef.flags.c_contiguous
    assert back.l1_ratio == path.l1_ratio
    # 465 nonzeros of 150,000 entries per array: the pickle holds the nonzeros, not 2 x 1.2 MB.
    assert len(data) < path.coef.nbytes / 20


def test_a_path_pickled_dense_before_the_packing_still_loads() -> None:
    path = _path(n_alphas=5, n_features=40)
    # What such a pickle carried as the object's state: its __dict__ as it is, dense arrays included.
    state = pickle.loads(pickle.dumps(dict(path.__dict__), protocol=5))
    assert isinstance(state["coef"], np.ndarray)
    back = PathResult.__new__(PathResult)
    back.__setstate__(state)
    np.testing.assert_array_equal(back.coef, path.coef)
    np.testing.assert_array_equal(back.coef_std, path.coef_std)
