"""A table split into uneven partitions for the tall-fit tests, and ways to map-reduce over them."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from service.modeling import FitOutcome
from service.modeling.tall import Block, Part

FloatArray = npt.NDArray[np.float64]


class Partitioned:
    """Rows of (X, y, w) cut at ``cuts``; counts every block read (one pass = one read per part)."""

    def __init__(
        self, X: FloatArray, y: FloatArray, cuts: Sequence[int], w: FloatArray | None = None
    ) -> None:
        self.X, self.y, self.w = X, y, w
        self.bounds = list(zip([0, *cuts], [*cuts, X.shape[0]], strict=True))
        self.reads = 0

    @property
    def row_counts(self) -> list[int]:
        return [b - a for a, b in self.bounds]

    def block(self, index: int) -> Block:
        self.reads += 1
        a, b = self.bounds[index]
        return Block(
            np.asfortranarray(self.X[a:b]),
            self.y[a:b].astype(np.float64),
            None if self.w is None else self.w[a:b],
        )

    def sequential(self, fn: Callable[[Part, Block], Any], parts: Sequence[Part]) -> Any:
        total = None
        for part in parts:
            result = fn(part, self.block(part.index))
            total = result if total is None else total + result
        return total

    def shuffled(self, seed: int) -> Callable[[Callable[[Part, Block], Any], Sequence[Part]], Any]:
        """Parts mapped in a random order and reduced as a random binary tree."""
        rng = random.Random(seed)

        def run(fn: Callable[[Part, Block], Any], parts: Sequence[Part]) -> Any:
            results = [fn(part, self.block(part.index)) for part in rng.sample(list(parts), len(parts))]
            while len(results) > 1:
                i = rng.randrange(len(results) - 1)
                results[i : i + 2] = [results[i + 1] + results[i]]
            return results[0]

        return run


def relative(expected: Any, actual: Any) -> float:
    """max |expected - actual| / max |expected| over all entries (0 for two zero arrays)."""
    a, b = np.asarray(expected, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = float(np.max(np.abs(a), initial=0.0))
    gap = float(np.max(np.abs(a - b), initial=0.0))
    return gap / scale if scale > 0 else gap


def assert_same_outcome(expected: FitOutcome, actual: FitOutcome, rtol: float) -> None:
    """Path, CV curves, selection and the chosen model agree within ``rtol`` (relative, per array)."""
    e, a = expected.path, actual.path
    assert e.alphas.shape == a.alphas.shape
    for name in ("alphas", "coef", "coef_std", "intercept", "deviance_ratio"):
        assert relative(getattr(e, name), getattr(a, name)) <= rtol, name
    assert np.array_equal(e.n_selected, a.n_selected)
    for name in ("coef", "coef_std", "intercept", "x_scale"):
        assert relative(getattr(expected, name), getattr(actual, name)) <= rtol, name
    # Means of centered columns are rounding noise around 0: measured against each column's scale.
    assert np.all(np.abs(expected.x_mean - actual.x_mean) <= rtol * expected.x_scale)
    assert relative(expected.alpha, actual.alpha) <= rtol
    assert expected.l1_ratio == actual.l1_ratio
    for key, value in expected.train_metrics.items():
        assert relative(value, actual.train_metrics[key]) <= rtol, key
    assert (expected.cv is None) == (actual.cv is None)
    if expected.cv is None or actual.cv is None:
        return
    assert np.array_equal(expected.cv.fold_ids, actual.cv.fold_ids)
    assert expected.cv.l1_ratio == actual.cv.l1_ratio
    for ce, ca in zip(expected.cv.curves, actual.cv.curves, strict=True):
        for name in ("alphas", "mean", "se", "folds"):
            assert relative(getattr(ce, name), getattr(ca, name)) <= rtol, name
        assert (ce.index_min, ce.index_1se) == (ca.index_min, ca.index_1se)
    assert (expected.selection is None) == (actual.selection is None)  # None: a given alpha
    if expected.selection is not None and actual.selection is not None:
        assert relative(expected.selection.alpha_min, actual.selection.alpha_min) <= rtol
        assert relative(expected.selection.alpha_1se, actual.selection.alpha_1se) <= rtol
    assert expected.cv_metrics is not None and actual.cv_metrics is not None
    for key, value in expected.cv_metrics.items():
        assert relative(value, actual.cv_metrics[key]) <= rtol, key
