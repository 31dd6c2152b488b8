"""When a path stops early: glmnet's dfmax (a feature budget) and its deviance-ratio saturation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from service.modeling.solution import PathProgress, PathRecorder, PathSolution, alpha_blocks
from service.modeling.specs import FloatArray, IntArray

# glmnet's defaults: stop once the model explains 99.9 % of the null deviance, or once a step
# along the path adds less than 1e-5 of it (relative), but never before the 5th alpha.
DEVIANCE_RATIO_MAX = 0.999
DEVIANCE_RATIO_MIN_STEP = 1e-5
MIN_ALPHAS_BEFORE_SATURATION = 5


@dataclass(frozen=True)
class PathControl:
    """``max_features``: stop before the first solution that selects more features.

    ``column_features`` maps each solver column to its feature (one-hot levels share one);
    ``saturation`` turns on glmnet's deviance-ratio stop (for generated grids only: explicit alphas
    are all solved).
    """

    max_features: int | None = None
    column_features: IntArray | None = None
    saturation: bool = False

    def too_many(self, beta: FloatArray) -> bool:
        if self.max_features is None:
            return False
        return count_features(beta, self.column_features) > self.max_features

    def saturated(self, ratios: list[float]) -> bool:
        if not self.saturation or len(ratios) < MIN_ALPHAS_BEFORE_SATURATION:
            return False
        last, before = ratios[-1], ratios[-2]
        return last >= DEVIANCE_RATIO_MAX or (last - before) < DEVIANCE_RATIO_MIN_STEP * abs(last)


def count_features(beta: FloatArray, column_features: IntArray | None) -> int:
    """Selected features: a feature counts when any of its columns (or classes) is nonzero."""
    nonzero = beta != 0.0 if beta.ndim == 1 else np.any(beta != 0.0, axis=1)
    if column_features is None:
        return int(np.count_nonzero(nonzero))
    return int(np.unique(column_features[nonzero]).shape[0])


@dataclass(frozen=True)
class Step:
    """One alpha's solution as an engine reports it."""

    coef: FloatArray  # (p,) or (p, K')
    intercept: FloatArray  # (K',)
    n_iter: int
    gap: float
    converged: bool
    deviance_ratio: float


def walk_path(
    alphas: FloatArray,
    progress: PathProgress | None,
    control: PathControl,
    recorder: PathRecorder,
    solve_one: Callable[[float, float | None], Step],
) -> PathSolution:
    """Solve ``alphas`` in order with ``solve_one(alpha, previous alpha or None)``, recording each
    solution until ``control`` stops the path: a solution over the feature budget is dropped."""
    previous: float | None = None
    for block in alpha_blocks(alphas.shape[0], progress):
        for alpha in alphas[block]:
            step = solve_one(float(alpha), previous)
            if control.too_many(step.coef):
                return recorder.solution()
            recorder.add(
                step.coef, step.intercept, step.n_iter, step.gap, step.converged, step.deviance_ratio
            )
            previous = float(alpha)
            if control.saturated(recorder.deviance_ratios):
                return recorder.solution()
    return recorder.solution()
